"""A patient's own sign-in, created by staff: there is no open sign-up.

Staff create the account with an unusable password and hand the patient a one-time link to
choose one. The link is Django's password-reset link: its token is derived from the password
hash and the last login, so it stops working once used, and setting a new unusable password
(which is random) voids every link handed out before.
"""

from dataclasses import dataclass

from axes.utils import reset as axes_reset
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.db import transaction
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.text import slugify

from cmtracker.two_factor import devices_remove
from patients.models import Patient


@dataclass(frozen=True)
class Invitation:
    """A one-time link for the patient to choose a password: a path, made absolute by the view."""

    user: object
    path: str
    created: bool  # a new sign-in was made


def _username_for(patient: Patient) -> str:
    """A slug of the record number, unique among all users (record numbers are per clinic)."""
    User = get_user_model()
    base = slugify(patient.record_number) or "patient"
    candidate, n = base, 1
    while User.objects.filter(username__iexact=candidate).exists():
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def _invitation_path(user) -> str:
    return reverse(
        "password_reset_confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )


def patient_signin_invite(*, patient: Patient) -> Invitation:
    """Create the patient's sign-in if there is none, and a new link to set a password.

    1. Lock the patient row, so two staff clicking at once make one account.
    2. No account yet: make one (username from the record number, email from the record,
       unusable password) and link it to the patient.
    3. An account that never got a password: a fresh unusable password, so only the newest link
       works. An account with a password keeps it until the link is used.
    """
    User = get_user_model()
    with transaction.atomic():
        patient = Patient.objects.select_for_update().get(pk=patient.pk)
        user = patient.user
        created = user is None
        if created:
            user = User(username=_username_for(patient), email=patient.email)
            user.set_unusable_password()
            user.save()
            patient.user = user
            patient.save(update_fields=["user"])
        elif not user.has_usable_password():
            user.set_unusable_password()
            user.save(update_fields=["password"])
    return Invitation(user=user, path=_invitation_path(user), created=created)


def patient_signin_reset(*, patient: Patient) -> Invitation:
    """Take away the patient's password (and so every session and earlier link), forget any
    authenticator they set up, lift any sign-in lockout, and make a new link. For a lost phone
    or a shared password."""
    with transaction.atomic():
        patient = Patient.objects.select_for_update().get(pk=patient.pk)
        user = patient.user
        if user is None:
            return patient_signin_invite(patient=patient)
        # A new password hash changes the session auth hash: every open session is signed out.
        user.set_unusable_password()
        user.save(update_fields=["password"])
        devices_remove(user=user)
    axes_reset(username=user.get_username())
    return Invitation(user=user, path=_invitation_path(user), created=False)
