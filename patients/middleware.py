from django.conf import settings
from django.utils import translation

from patients.models import Patient


class PatientLanguageMiddleware:
    """A signed-in patient sees pages in their preferred language, unless they chose one with
    the language switch (its cookie wins, as LocaleMiddleware already applied it). Everyone else
    gets LocaleMiddleware's choice: the cookie, then the browser's Accept-Language."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        supported = dict(settings.LANGUAGES)
        if user is not None and user.is_authenticated and chosen not in supported:
            language = (
                Patient.objects.filter(user=user)
                .values_list("preferred_language", flat=True)
                .first()
            )
            if language in supported:
                translation.activate(language)
                request.LANGUAGE_CODE = language
        return self.get_response(request)
