"""Two-factor sign-in (django-otp): an authenticator app's 6-digit code (TOTP), or a one-time
backup code.

Required for staff (counselors, clinic administrators, Django admin users): until a staff member
has entered a code in this session, SecondFactorMiddleware lets them reach only these pages and
sign out. Optional for patients: one who has set up an authenticator is asked for a code too.

The flow: sign in with the password -> (first time) scan the QR code and confirm one code ->
note the ten backup codes, shown once -> in. Later sign-ins: password, then a code.
"""

from __future__ import annotations

import io
import secrets
from base64 import b32encode
from urllib.parse import quote

import django_otp
from django import forms
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.contrib.auth.views import redirect_to_login
from django.db import transaction
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django_htmx.http import HttpResponseClientRedirect
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from cmtracker import audit
from cmtracker.api_tokens import api_token_revoke, api_tokens_active, api_tokens_revoke_all

BACKUP_CODES = 10


def needs_second_factor(user) -> bool:
    """Staff always; anyone else once they have set up an authenticator."""
    if not user.is_authenticated:
        return False
    if user.is_staff or user.is_superuser or user.is_staff_member:
        return True
    return django_otp.user_has_device(user, confirmed=True)


def _next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("home")


class SecondFactorMiddleware:
    """After OTPMiddleware. A signed-in user who needs a second factor and has not given one in
    this session reaches only the two-factor pages, sign-out, static files and the language
    switch; anything else (patient data included) sends them to enter a code, or to set one up."""

    ALLOWED = (
        "/static/",
        "/i18n/",
        "/healthz",
        "/accounts/login/",
        "/accounts/logout/",
        "/accounts/two-factor/",
    )

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if (
            not user.is_authenticated
            or request.path.startswith(self.ALLOWED)
            or user.is_verified()
            or not needs_second_factor(user)
        ):
            return self.get_response(request)
        if request.path.startswith("/api/"):
            message = _("Enter your two-factor code in the web app first.")
            return JsonResponse({"detail": message}, status=403)
        target = reverse("two-factor")
        if getattr(request, "htmx", False):
            return HttpResponseClientRedirect(f"{target}?next={quote(request.get_full_path())}")
        return redirect_to_login(request.get_full_path(), target, "next")


class CodeForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Code"),
        max_length=16,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )

    def __init__(self, *args, check, **kwargs):
        super().__init__(*args, **kwargs)
        self.check = check
        self.device = None

    def clean_code(self):
        code = "".join(self.cleaned_data["code"].split()).lower()
        self.device = self.check(code)
        if self.device is None:
            raise forms.ValidationError(
                _("That code is not right (or was used already). Try the newest code.")
            )
        return code


def _totp_device(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def backup_codes_new(user) -> list[str]:
    """Replace the user's backup codes with new ones; each works once."""
    device, _created = StaticDevice.objects.get_or_create(
        user=user, name="backup", defaults={"confirmed": True}
    )
    device.token_set.all().delete()
    codes = [secrets.token_hex(4) for _ in range(BACKUP_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


class VerifyView(View):
    """Enter a code from the authenticator app, or a backup code."""

    template_name = "registration/two_factor_verify.html"

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if _totp_device(request.user) is None:
            return redirect(f"{reverse('two-factor-setup')}?next={quote(_next(request))}")
        return super().dispatch(request, *args, **kwargs)

    def get(self, request):
        return self._render(request, CodeForm(check=None))

    def post(self, request):
        form = CodeForm(request.POST, check=lambda code: django_otp.match_token(request.user, code))
        if not form.is_valid():
            audit.second_factor_refused(request, request.user)
            return self._render(request, form, status=400)
        django_otp.login(request, form.device)
        return redirect(_next(request))

    def _render(self, request, form, status=200):
        context = {"form": form, "next": _next(request), "hide_nav": _pending(request.user)}
        return render(request, self.template_name, context, status=status)


def _pending(user) -> bool:
    """Signed in with the password, and the second factor still to give: the app's pages would
    only send them back here, so the page shows no navigation to them."""
    return not user.is_verified() and needs_second_factor(user)


def _grouped(secret: str) -> str:
    """ "4HMV UCWZ E5NK ...": easier to read and type; authenticator apps ignore the spaces."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def _qr_svg_data_uri(uri: str) -> str:
    import segno

    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", xmldecl=False, scale=5, border=2)
    return "data:image/svg+xml;charset=utf-8," + quote(out.getvalue().decode())


class SetupView(View):
    """Scan the QR code (or type the key), confirm with one code, then see the backup codes once."""

    template_name = "registration/two_factor_setup.html"

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if _totp_device(request.user) is not None and not request.user.is_verified():
            # Replacing an authenticator needs the current one (or a backup code) first.
            return redirect(f"{reverse('two-factor')}?next={quote(request.get_full_path())}")
        return super().dispatch(request, *args, **kwargs)

    def _pending(self, request) -> TOTPDevice:
        device = TOTPDevice.objects.filter(user=request.user, confirmed=False).first()
        return device or TOTPDevice.objects.create(
            user=request.user, name="authenticator", confirmed=False
        )

    def get(self, request):
        return self._render(request, self._pending(request), CodeForm(check=None))

    def post(self, request):
        device = self._pending(request)

        form = CodeForm(
            request.POST, check=lambda code: device if device.verify_token(code) else None
        )
        if not form.is_valid():
            return self._render(request, device, form, status=400)
        with transaction.atomic():
            TOTPDevice.objects.filter(user=request.user, confirmed=True).delete()
            device.confirmed = True
            device.save()
            codes = backup_codes_new(request.user)
        django_otp.login(request, device)
        return render(
            request,
            "registration/two_factor_backup_codes.html",
            {"codes": codes, "next": _next(request)},
        )

    def _render(self, request, device, form, status=200):
        context = {
            "form": form,
            "qr": _qr_svg_data_uri(device.config_url),  # otpauth://, issuer OTP_TOTP_ISSUER
            "secret": _grouped(b32encode(device.bin_key).decode().rstrip("=")),
            "next": _next(request),
            "hide_nav": _pending(request.user),
            "required": needs_second_factor(request.user)
            and not django_otp.user_has_device(request.user, confirmed=True),
        }
        return render(request, self.template_name, context, status=status)


class AccountView(LoginRequiredMixin, View):
    """Your account: change the password, the state of two-factor sign-in, new backup codes,
    your API tokens."""

    template_name = "registration/account.html"

    def get(self, request):
        user = request.user
        static = StaticDevice.objects.filter(user=user).first()
        context = {
            "has_authenticator": _totp_device(user) is not None,
            "required": needs_second_factor(user) and (user.is_staff or user.is_staff_member),
            "backup_codes_left": static.token_set.count() if static else 0,
            "api_tokens": api_tokens_active(user=user),
        }
        return render(request, self.template_name, context)


class ApiTokenRevokeView(LoginRequiredMixin, View):
    """Revoke one of your API tokens (a button on the account page); another's answers 404."""

    def post(self, request, digest):
        if not api_token_revoke(user=request.user, digest=digest):
            raise Http404
        messages.success(request, _("The token was revoked."))
        return redirect("account")


class ApiTokensRevokeAllView(LoginRequiredMixin, View):
    """Revoke all of your API tokens: every app or lab system must sign in again."""

    def post(self, request):
        api_tokens_revoke_all(user=request.user)
        messages.success(request, _("All your tokens were revoked."))
        return redirect("account")


class BackupCodesView(View):
    """New backup codes (the old ones stop working), for a user who has signed in with a code."""

    def get(self, request):
        # Made by a button (a POST) on the account page; an address typed in lands there.
        return redirect("account")

    def post(self, request):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not request.user.is_verified():
            return redirect(f"{reverse('two-factor')}?next={quote(request.get_full_path())}")
        codes = backup_codes_new(request.user)
        return render(
            request,
            "registration/two_factor_backup_codes.html",
            {"codes": codes, "next": reverse("home")},
        )


def devices_remove(*, user) -> None:
    """Forget a user's authenticator and backup codes (staff resetting a patient's access, or an
    administrator resetting a colleague who lost their phone): they set one up again."""
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
