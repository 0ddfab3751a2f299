"""Tokens for lab systems and apps: get one with a username and password (and, for staff, the
code from their authenticator app), revoke it. Tokens end like web sessions
(cmtracker/api_tokens.py)."""

import django_otp
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from cmtracker import audit
from cmtracker.api_tokens import api_token_new
from cmtracker.models import ApiToken
from cmtracker.two_factor import needs_second_factor
from vouchers.api.authentication import NO_DEVICE


class TokenRequestSerializer(AuthTokenSerializer):
    otp = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=16,
        help_text="Staff: the 6-digit code from the authenticator app, or a backup code.",
    )

    def validate(self, attrs):
        attrs = super().validate(attrs)
        user = attrs["user"]
        if needs_second_factor(user):
            code = "".join(attrs.get("otp", "").split()).lower()
            if not django_otp.user_has_device(user, confirmed=True):
                raise serializers.ValidationError({"otp": [NO_DEVICE]})
            if not code:
                raise serializers.ValidationError(
                    {"otp": [_("Staff accounts need the code from their authenticator app.")]}
                )
            if django_otp.match_token(user, code) is None:
                audit.second_factor_refused(self.context.get("request"), user)
                raise serializers.ValidationError(
                    {"otp": [_("That code is not right (or was used already).")]}
                )
        return attrs


class TokenView(APIView):
    throttle_scope = "auth-token"

    def get_permissions(self):
        return [AllowAny()] if self.request.method == "POST" else [IsAuthenticated()]

    def get_throttles(self):
        # Only the password check is throttled: it is the one place to guess passwords.
        return [ScopedRateThrottle()] if self.request.method == "POST" else []

    def get_authenticators(self):
        # POST authenticates by its body; a stale session or token must not get in its way.
        request = getattr(self, "request", None)
        return [] if request and request.method == "POST" else super().get_authenticators()

    @extend_schema(
        request=TokenRequestSerializer,
        responses={
            200: inline_serializer(
                "Token",
                {
                    "token": serializers.CharField(),
                    "expiry": serializers.DateTimeField(
                        help_text="When it ends unless used before: each request moves it "
                        "forward, up to 12 hours after signing in."
                    ),
                },
            )
        },
        auth=[],
    )
    def post(self, request):
        serializer = TokenRequestSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        token, key = api_token_new(user=serializer.validated_data["user"])
        return Response({"token": key, "expiry": token.expiry})

    @extend_schema(request=None, responses={204: None})
    def delete(self, request):
        """Revoke the token this request carries: every client using it must sign in again. The
        user's other tokens go on working (the Account page revokes them all)."""
        if isinstance(request.auth, ApiToken):
            request.auth.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
