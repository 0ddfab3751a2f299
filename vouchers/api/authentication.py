"""Token authentication that honours two-factor sign-in. Its own module: DRF imports it while
loading its settings, before rest_framework.views exists."""

import django_otp
from django.utils.translation import gettext_lazy
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from cmtracker.two_factor import needs_second_factor

NO_DEVICE = gettext_lazy("Set up two-factor sign-in in the web app first.")


class SecondFactorTokenAuthentication(TokenAuthentication):
    """A token stands for a sign-in with both factors: a staff member's token works only while
    they have an authenticator set up (removing it ends their tokens' use too)."""

    def authenticate_credentials(self, key):
        user, token = super().authenticate_credentials(key)
        if needs_second_factor(user) and not django_otp.user_has_device(user, confirmed=True):
            raise exceptions.AuthenticationFailed(NO_DEVICE)
        return user, token
