"""What people may type: how long free text may be, which digits a number is written in, and what
a record number may contain. One place for the limits, so the web forms, the API, the admin and
the services agree (docs/security.md lists them).

The limits are what a clinic writes by hand: a note or a reason is a few sentences, a
description a short paragraph. Nobody types more at the front desk; a longer text is pasted by
mistake or sent to fill the database and the audit log, which keeps a copy of every change.
"""

from __future__ import annotations

import re

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.utils.translation import gettext_lazy as _

NOTE_MAX_LENGTH = 1000  # specimen and session notes
REASON_MAX_LENGTH = 500  # why: a correction, an excuse, an adjustment, a waiver, a decline, stock
DESCRIPTION_MAX_LENGTH = 1000  # a catalog item's description
PROTOCOL_DESCRIPTION_MAX_LENGTH = 4000  # a protocol's description, with its sources
RECORD_NUMBER_MAX_LENGTH = 40


def text_bounds_errors(**fields: tuple[str | None, int]) -> dict[str, ValidationError]:
    """`field=(text, limit)` → {field: error} for each text longer than its limit, in Django's
    own (translated) words: "Ensure this value has at most 500 characters (it has 2000)." """
    errors = {}
    for field, (text, limit) in fields.items():
        try:
            MaxLengthValidator(limit)(text or "")
        except ValidationError as error:
            errors[field] = error
    return errors


def text_bounds_check(**fields: tuple[str | None, int]) -> None:
    """The same, raised as one ValidationError naming every field that is too long."""
    errors = text_bounds_errors(**fields)
    if errors:
        raise ValidationError(errors)


def validate_record_number(value: str) -> None:
    """A record number is printed on labels, shown in lists and put in file names: printable
    characters only, no line breaks, tabs or other control characters, nothing invisible."""
    if not value.isprintable():
        raise ValidationError(
            _("Use letters, digits, spaces and punctuation only: no line breaks or tabs."),
            code="unprintable",
        )


# The digits the forms show: "١٢" or "１２" are numbers to Python's int(), not to a reader of
# the form, so a number typed in them is refused rather than silently read.
ASCII_INTEGER = re.compile(r"^[+-]?[0-9]+$")


class AsciiIntegerField(forms.IntegerField):
    """An IntegerField that takes only the digits 0-9 (Django's takes any script's digits)."""

    def to_python(self, value):
        if value not in self.empty_values and not isinstance(value, int):
            if not ASCII_INTEGER.match(str(value).strip()):
                raise ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)
