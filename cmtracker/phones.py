"""Phone numbers: stored in E.164 ("+13125550100"), so one number has one spelling and two numbers
are the same only when they are equal.

A number typed without its country code is read as dialled in the clinic's country
(`Clinic.phone_region`); "+1 312 555 0100" and "+61 312 555 0100" are different numbers, however
many digits they share. Every entry point (the admin's patient form, the API) goes through
`phone_e164`; matching (the STOP webhook, the outbox's "did the number change?") through
`phone_canonical`.
"""

from __future__ import annotations

import phonenumbers
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

DEFAULT_REGION = "US"


def validate_phone_region(value: str) -> None:
    if value not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError(
            _("%(region)s is not a two-letter country code such as US, MX or CA."),
            params={"region": value},
        )


def phone_e164(raw: str, *, region: str) -> str:
    """`raw` as E.164, read as dialled in `region` unless it starts with + and a country code;
    "" for a blank one. ValidationError (a message for the person who typed it) when it is not a
    valid number of the country it names."""
    raw = raw.strip()
    if not raw:
        return ""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise ValidationError(
            _(
                "Enter a valid phone number: with its country code (+1 312 555 0100), or as "
                "dialled in the clinic's country (%(region)s)."
            ),
            code="invalid_phone",
            params={"region": region},
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_canonical(raw: str) -> str | None:
    """E.164 of a number written with its country code (as Twilio sends them, as we store them);
    None for anything else. Lenient on purpose: it matches numbers, it does not vet them."""
    try:
        number = phonenumbers.parse(raw.strip(), None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
