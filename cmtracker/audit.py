"""The audit log: every read of a patient's record by staff and every write of a clinical, ledger,
redemption or catalog record, with who, when, from where, and old and new values.

- Requests: AuditMiddleware keeps the request in a context variable, so a write deep inside a
  service knows its actor and address without every service taking them as arguments. It also
  writes, after the response, one READ event per patient whose record the request disclosed to a
  staff member (views and API views say which, through `disclosed`).
- Writes: the apps register their models (`register` in their AppConfig.ready); a save writes a
  CREATE or CHANGE event with the changed fields' old and new values, in the same transaction as
  the write. Writes that send no signals call us themselves, in the same transaction: a
  bulk_create `created`, a delete `deleted` (old values), an `update()` (stock moved with `F()`)
  `changed` (old and new values).
- Sign-in: a failed password (any way in: the sign-in page, the API token, the admin) and a
  refused second-factor code are FAILED events with the username tried, the address and the time
  (never the password or the code): the throttle's counter is wiped by the next success, the log
  is not.
- Scheduled tasks write as 'system'.

cmtracker imports neither patients nor vouchers: they tell it how to find a record's clinic and
patient when they register, and the patients app how to find patients (`register_patients`).
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models.signals import post_save, pre_save
from django.utils import timezone

# The address the throttles count, never what a client writes into X-Forwarded-For.
from cmtracker.clients import client_ip
from cmtracker.inputs import PROTOCOL_DESCRIPTION_MAX_LENGTH
from cmtracker.models import AuditEvent

SYSTEM = "system"
# Values never written to the log.
SECRET_FIELDS = {"password", "key", "token", "secret"}
# The longest text the log keeps of one value: more than any field people type may hold
# (cmtracker.inputs), so it clips only what came in some other way, never a whole pasted file.
VALUE_MAX_LENGTH = PROTOCOL_DESCRIPTION_MAX_LENGTH


@dataclass
class _Context:
    request: object | None = None
    disclosed: set[int] = field(default_factory=set)


_context: contextvars.ContextVar[_Context | None] = contextvars.ContextVar(
    "cmtracker_audit", default=None
)


def _who(request) -> tuple[object | None, str]:
    user = getattr(request, "user", None) if request is not None else None
    if user is not None and user.is_authenticated:
        return user, user.get_username()
    if request is not None:
        return None, getattr(request, "audit_speaks_for", "anonymous")
    return None, SYSTEM


def speaks_for(request, label: str) -> None:
    """Name whom a request without a user but otherwise verified speaks for (a provider's signed
    webhook), so its writes are not logged as 'anonymous'."""
    request.audit_speaks_for = label[: AuditEvent._meta.get_field("actor_label").max_length]


def _event(*, action, object_type, object_id="", clinic_id=None, patient_id=None, changes=None):
    context = _context.get()
    request = context.request if context else None
    actor, label = _who(request)
    return AuditEvent(
        at=timezone.now(),
        actor=actor,
        actor_label=label,
        clinic_id=clinic_id,
        patient_id=patient_id,
        action=action,
        object_type=object_type,
        object_id=str(object_id or ""),
        changes=changes or {},
        ip=client_ip(request) if request is not None else None,
        method=request.method if request is not None else "",
        path=request.get_full_path()[:400] if request is not None else "",
    )


def record(**kwargs) -> AuditEvent:
    """Write one event now (an export, a read outside a request). An export stands for the
    request's read of that patient: the middleware does not log it a second time."""
    event = _event(**kwargs)
    event.save()
    context = _context.get()
    if context is not None and event.action == AuditEvent.Action.EXPORT:
        context.disclosed.discard(event.patient_id)
    return event


def disclosed(patient_ids: Iterable[int]) -> None:
    """This request showed these patients' records; the middleware logs the reads after the
    response, if the reader is staff. Outside a request it does nothing."""
    context = _context.get()
    if context is not None:
        context.disclosed.update(pk for pk in patient_ids if pk is not None)


class AuditMiddleware:
    """After AuthenticationMiddleware. DRF authenticates a token inside the view and then sets
    request.user, so the actor is read when an event is written, not when the request arrives."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        context = _Context(request=request)
        token = _context.set(context)
        try:
            response = self.get_response(request)
            if context.disclosed and _showed_the_record(response) and _is_staff(request):
                _log_reads(request, context.disclosed)
            return response
        finally:
            _context.reset(token)


def _showed_the_record(response) -> bool:
    """A page or answer that shows the record: a success, and a form re-shown with its errors
    (400) or a conflict (409), which show the patient too. Not a redirect (the page it leads to
    logs its own read), a refusal, a not-found or a crash."""
    return response.status_code < 300 or response.status_code in (400, 409)


def _is_staff(request) -> bool:
    user = getattr(request, "user", None)
    return bool(
        user is not None
        and user.is_authenticated
        and (user.is_staff or user.is_superuser or user.is_staff_member)
    )


@dataclass(frozen=True)
class _Patients:
    """How to find patients, told by the patients app (`register_patients`)."""

    clinics: Callable[[set[int]], dict[int, int]]
    of_user: Callable[[object], tuple[int, int] | None]


_patients = _Patients(clinics=lambda ids: {}, of_user=lambda user: None)


def register_patients(
    *,
    clinics: Callable[[set[int]], dict[int, int]],
    of_user: Callable[[object], tuple[int, int] | None],
) -> None:
    """`clinics(ids)`: each existing patient's clinic id, by patient id, in one query;
    `of_user(user)`: (clinic id, patient id) of the patient who signs in as `user`, or None."""
    global _patients
    _patients = _Patients(clinics=clinics, of_user=of_user)


def _log_reads(request, patient_ids: set[int]) -> None:
    clinics = _patients.clinics(patient_ids)
    AuditEvent.objects.bulk_create(
        [
            _event(
                action=AuditEvent.Action.READ,
                object_type="patient",
                object_id=pk,
                clinic_id=clinics.get(pk),
                patient_id=pk,
            )
            for pk in sorted(patient_ids)
            if pk in clinics
        ]
    )


# --- writes --------------------------------------------------------------------------------------

Locate = Callable[[models.Model], tuple[int | None, int | None]]
_registry: dict[type[models.Model], Locate] = {}


def _values(instance: models.Model) -> dict:
    values = {}
    for f in instance._meta.concrete_fields:
        if f.name in SECRET_FIELDS:
            continue
        value = getattr(instance, f.attname)
        values[f.name] = value.name if isinstance(f, models.FileField) else value
    # JSON-safe (dates, decimals, times) and comparable with what was read back.
    return json.loads(json.dumps(values, cls=DjangoJSONEncoder))


def _bounded(value):
    """The value as the log keeps it: a text longer than VALUE_MAX_LENGTH is cut, saying how long
    it was (in dicts and lists too)."""
    if isinstance(value, str) and len(value) > VALUE_MAX_LENGTH:
        return f"{value[:VALUE_MAX_LENGTH]}… [{len(value)} characters in all]"
    if isinstance(value, dict):
        return {k: _bounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_bounded(v) for v in value]
    return value


def _label(model: type[models.Model]) -> str:
    return model._meta.model_name


def _before_save(sender, instance, raw=False, **kwargs):
    if raw or instance.pk is None or instance._state.adding:
        instance._audit_before = None
        return
    old = sender._base_manager.filter(pk=instance.pk).first()
    instance._audit_before = _values(old) if old is not None else None


def _after_save(sender, instance, created, raw=False, **kwargs):
    if raw:
        return
    clinic_id, patient_id = _registry[sender](instance)
    after = _values(instance)
    before = getattr(instance, "_audit_before", None)
    if created or before is None:
        action, changes = AuditEvent.Action.CREATE, {k: [None, v] for k, v in after.items()}
    else:
        # Compared whole, kept bounded: a change past the cut is still a change.
        changes = {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}
        if not changes:
            return
        action = AuditEvent.Action.CHANGE
    _event(
        action=action,
        object_type=_label(sender),
        object_id=instance.pk,
        clinic_id=clinic_id,
        patient_id=patient_id,
        changes=_bounded(changes),
    ).save()


def _locate(instance: models.Model) -> tuple[int | None, int | None]:
    locate = _registry.get(type(instance))
    return locate(instance) if locate is not None else (None, None)


def register(model: type[models.Model], locate: Locate) -> None:
    """Log every save of `model`. `locate(instance)` returns (clinic_id, patient_id)."""
    _registry[model] = locate
    uid = f"cmtracker-audit-{model._meta.label_lower}"
    pre_save.connect(_before_save, sender=model, dispatch_uid=uid + "-pre")
    post_save.connect(_after_save, sender=model, dispatch_uid=uid + "-post")


def created(objects: Iterable[models.Model]) -> None:
    """Log records written by bulk_create (which sends no signals), in one query."""
    events = []
    for instance in objects:
        model = type(instance)
        clinic_id, patient_id = _registry[model](instance)
        events.append(
            _event(
                action=AuditEvent.Action.CREATE,
                object_type=_label(model),
                object_id=instance.pk,
                clinic_id=clinic_id,
                patient_id=patient_id,
                changes=_bounded({k: [None, v] for k, v in _values(instance).items()}),
            )
        )
    AuditEvent.objects.bulk_create(events)


def deleted(objects: Iterable[models.Model]) -> None:
    """Log records about to be deleted (by a service or the admin), with their values, in one
    query. Call it inside the delete's transaction, before the delete."""
    events = []
    for instance in objects:
        clinic_id, patient_id = _locate(instance)
        events.append(
            _event(
                action=AuditEvent.Action.DELETE,
                object_type=_label(type(instance)),
                object_id=instance.pk,
                clinic_id=clinic_id,
                patient_id=patient_id,
                changes=_bounded({k: [v, None] for k, v in _values(instance).items()}),
            )
        )
    AuditEvent.objects.bulk_create(events)


def changed(rows: Iterable[tuple[models.Model, dict[str, list]]]) -> None:
    """Log changes made with `update()` (no signals), in one query: each row is the record (as
    read under its lock) and {field: [old, new]}."""
    events = []
    for instance, changes in rows:
        clinic_id, patient_id = _locate(instance)
        events.append(
            _event(
                action=AuditEvent.Action.CHANGE,
                object_type=_label(type(instance)),
                object_id=instance.pk,
                clinic_id=clinic_id,
                patient_id=patient_id,
                changes=_bounded(changes),
            )
        )
    if events:
        AuditEvent.objects.bulk_create(events)


# --- sign-in ------------------------------------------------------------------------------------

SIGN_IN = "sign-in"
SECOND_FACTOR = "two-factor code"


def _refused(*, object_type: str, username: str, user, request) -> None:
    context = _context.get()
    token = None
    if context is None or context.request is None:
        token = _context.set(_Context(request=request))
    try:
        clinic_id, patient_id = (user is not None and _patients.of_user(user)) or (None, None)
        _event(
            action=AuditEvent.Action.FAILED,
            object_type=object_type,
            object_id=user.pk if user is not None else "",
            clinic_id=clinic_id,
            patient_id=patient_id,
            changes={"username": [None, _bounded(username)]},
        ).save()
    finally:
        if token is not None:
            _context.reset(token)


def sign_in_failed(sender, credentials, request=None, **kwargs):
    """django.contrib.auth's user_login_failed: a wrong password or a locked-out attempt, on any
    way in (the sign-in page, the admin's, the API token). The username tried, never the
    password; the account it names, if there is one."""
    model = get_user_model()
    username = str(credentials.get(model.USERNAME_FIELD) or "")[:150]
    user = model._default_manager.filter(**{model.USERNAME_FIELD: username}).first()
    _refused(object_type=SIGN_IN, username=username, user=user, request=request)


def second_factor_refused(request, user) -> None:
    """A two-factor code that did not match (never the code itself)."""
    _refused(object_type=SECOND_FACTOR, username=user.get_username(), user=user, request=request)
