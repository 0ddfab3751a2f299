"""Token authentication: knox's hashed tokens, ending like web sessions, honouring two-factor
sign-in. Its own module: DRF imports it while loading its settings, before rest_framework.views
exists."""

import binascii
from hmac import compare_digest

import django_otp
from django.utils.translation import gettext_lazy
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from knox.auth import TokenAuthentication
from knox.crypto import hash_token
from knox.settings import CONSTANTS
from rest_framework import exceptions

from cmtracker.api_tokens import api_token_use
from cmtracker.models import ApiToken
from cmtracker.two_factor import needs_second_factor

NO_DEVICE = gettext_lazy("Set up two-factor sign-in in the web app first.")
EXPIRED = gettext_lazy("This token has expired; sign in again for a new one.")
INVALID = gettext_lazy("Invalid token.")


class SecondFactorTokenAuthentication(TokenAuthentication):
    """A token stands for a sign-in with both factors: a staff member's token works only while
    they have an authenticator set up (removing it ends their tokens' use too). An expired token
    is told apart from an unknown one, so a client knows to sign in again."""

    def authenticate_credentials(self, token):
        key = token.decode("utf-8", errors="replace")
        try:
            digest = hash_token(key)
        except (TypeError, binascii.Error):
            raise exceptions.AuthenticationFailed(INVALID) from None
        candidates = ApiToken.objects.filter(
            token_key=key[: CONSTANTS.TOKEN_KEY_LENGTH]
        ).select_related("user")
        api_token = next((t for t in candidates if compare_digest(digest, t.digest)), None)
        if api_token is None:
            raise exceptions.AuthenticationFailed(INVALID)
        if not api_token_use(token=api_token):
            raise exceptions.AuthenticationFailed(EXPIRED)
        user, api_token = self.validate_user(api_token)
        if needs_second_factor(user) and not django_otp.user_has_device(user, confirmed=True):
            raise exceptions.AuthenticationFailed(NO_DEVICE)
        return user, api_token


class SecondFactorTokenScheme(KnoxTokenScheme):
    """The schema's security scheme, `Authorization: Token <key>`: knox's, for our subclass."""

    target_class = SecondFactorTokenAuthentication
    name = "tokenAuth"
