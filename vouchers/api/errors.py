"""One shape for every API error, so a client never parses HTML and never sees a 500 for bad input.

- Django's ValidationError from a service → 400 ``{"field": ["message"]}`` (``__all__`` becomes
  ``non_field_errors``, as DRF's own serializers say it).
- ``Conflict`` (valid, but not now: overspend, out of stock, a stale transition) → 409 with the same
  field messages and a ``detail`` to show.
- A database constraint that a race got past the Python check → 409, never a 500.
- Http404 for any reason (missing, or another clinic's id) → the same bare 404: ids leak nothing.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from vouchers.redemptions import Conflict


def field_errors(error: DjangoValidationError) -> dict[str, list[str]]:
    if hasattr(error, "error_dict"):
        errors = error.message_dict
    else:
        errors = {"__all__": error.messages}
    return {("non_field_errors" if k == "__all__" else k): v for k, v in errors.items()}


def exception_handler(exc, context):
    if isinstance(exc, Conflict):
        errors = field_errors(exc)
        detail = " ".join(m for messages in errors.values() for m in messages)
        return Response({"detail": detail, **errors}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, DjangoValidationError):
        return Response(field_errors(exc), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, IntegrityError):
        detail = _("This conflicts with a change made at the same time. Reload and try again.")
        return Response({"detail": detail}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, Http404):
        # The same words whether the record is missing or belongs to another clinic.
        exc = exceptions.NotFound()
    return drf_exception_handler(exc, context)
