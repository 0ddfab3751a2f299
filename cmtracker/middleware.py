"""Automatic logoff (HIPAA 164.312(a)(2)(iii)): an idle limit and an absolute session limit.

Staff get the shorter idle limit: they leave shared front-desk computers. Whoever signs in, the
session ends SESSION_ABSOLUTE_SECONDS after signing in, however active it is.
"""

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout, user_logged_in
from django.contrib.auth.views import redirect_to_login
from django.dispatch import receiver
from django.utils.translation import gettext as _
from django_htmx.http import HttpResponseClientRedirect

from cmtracker.api_tokens import idle_limit

LAST_SEEN = "cm_last_seen"
SIGNED_IN = "cm_signed_in"


@receiver(user_logged_in, dispatch_uid="cmtracker-session-clock")
def _start_session_clock(sender, request, user, **kwargs):
    # Signing in again restarts both clocks; the session data itself survives login().
    if request is not None and hasattr(request, "session"):
        now = int(time.time())
        request.session[SIGNED_IN] = now
        request.session[LAST_SEEN] = now


class SessionTimeoutMiddleware:
    """Signs out a session that was idle too long or is too old, then lets the request go on
    as anonymous: protected pages send it to the login page (with ?next=), public pages such as
    the login page itself just work. An htmx request gets a full-page redirect instead of a login
    form swapped into a fragment."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return self.get_response(request)
        now = int(time.time())
        session = request.session
        signed_in = session.setdefault(SIGNED_IN, now)
        last_seen = session.get(LAST_SEEN, now)
        if (
            now - last_seen > idle_limit(user).total_seconds()
            or now - signed_in > settings.SESSION_ABSOLUTE_SECONDS
        ):
            logout(request)
            messages.info(
                request, _("For your security you were signed out. Please sign in again.")
            )
            htmx = getattr(request, "htmx", None)
            if htmx:
                return HttpResponseClientRedirect(
                    redirect_to_login(htmx.current_url_abs_path or "/").url
                )
            return self.get_response(request)
        session[LAST_SEEN] = now
        return self.get_response(request)
