"""Errors every app raises and every view and the API answer the same way."""

from django.core.exceptions import ValidationError


class Conflict(ValidationError):
    """The request is valid but cannot be done now: not enough balance, out of stock, or the
    redemption has moved on (a double-click, an approve after a cancel). The API answers 409."""
