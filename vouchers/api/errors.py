"""One shape for every API error, so a client never parses HTML and never sees a 500 for bad input.

- Django's ValidationError from a service → 400 ``{"field": ["message"]}`` (``__all__`` becomes
  ``non_field_errors``, as DRF's own serializers say it).
- ``Conflict`` (valid, but not now: overspend, out of stock, a stale transition) → 409 with the same
  field messages and a ``detail`` to show.
- A database constraint that a race got past the Python check → 409, never a 500.
- Http404 for any reason (missing, or another clinic's id) → the same bare 404: ids leak nothing.
- A body over Django's DATA_UPLOAD_MAX_MEMORY_SIZE → 413; too many fields, or any other
  SuspiciousOperation met while reading the body → 400.

Errors Django raises before a view runs (a bad Host header) and URLs no API view answers reach
Django's handler400/403/404/500 instead; under /api/ those answer the same JSON (``bad_request``
and its neighbours below, named in cmtracker/urls.py), elsewhere Django's pages.
"""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.http import Http404, JsonResponse
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from cmtracker.exceptions import Conflict


def field_errors(error: DjangoValidationError) -> dict[str, list[str]]:
    if hasattr(error, "error_dict"):
        errors = error.message_dict
    else:
        errors = {"__all__": error.messages}
    return {("non_field_errors" if k == "__all__" else k): v for k, v in errors.items()}


def too_big() -> str:
    return _(
        "The request is larger than %(limit)s. A lab file of up to 5 MB goes as a file upload "
        "(multipart/form-data), not as JSON text."
    ) % {"limit": filesizeformat(settings.DATA_UPLOAD_MAX_MEMORY_SIZE).replace("\xa0", " ")}


def exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig):
        return Response({"detail": too_big()}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, SuspiciousOperation):
        # Too many fields or files, a malformed multipart body: the request, not the server.
        return Response({"detail": _("Bad request.")}, status=status.HTTP_400_BAD_REQUEST)
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


def _api(request) -> bool:
    return request.path.startswith("/api/")


def bad_request(request, exception):
    if not _api(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        return JsonResponse({"detail": too_big()}, status=413)
    return JsonResponse({"detail": _("Bad request.")}, status=400)


def permission_denied(request, exception):
    if not _api(request):
        return defaults.permission_denied(request, exception)
    return JsonResponse({"detail": str(exceptions.PermissionDenied.default_detail)}, status=403)


def page_not_found(request, exception):
    if not _api(request):
        return defaults.page_not_found(request, exception)
    return JsonResponse({"detail": str(exceptions.NotFound.default_detail)}, status=404)


def server_error(request):
    if not _api(request):
        return defaults.server_error(request)
    return JsonResponse({"detail": str(exceptions.APIException.default_detail)}, status=500)
