"""Patient data is never kept by a browser or a proxy: `Cache-Control: no-store` on everything the
app itself answers.

no-store, not `private, no-cache`: no-cache still lets the browser write the page to its disk
cache (and show it again from Back) and only asks it to check before reuse. On a shared front-desk
computer, after the automatic logoff, the next person must not find a patient's page there. Every
page and API answer here is either about a patient or costs nothing to fetch again, so there is no
list of exceptions to keep up to date. Static files are answered earlier, by WhiteNoise, and keep
their long caching.
"""

from django.utils.cache import patch_cache_control


class NoStoreMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        # A view that chose its own (Django's never_cache, the admin's) keeps it.
        if "Cache-Control" not in response:
            patch_cache_control(response, no_store=True)
        return response
