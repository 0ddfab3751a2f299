"""Writes to the clinical record: patients, specimens, therapy sessions and their corrections.

A patient's details are written by `patient_create` and `patient_update` alone, whoever asks (the
API, the Django admin), so their rules live in one place. Rewards are not decided here: the
vouchers recording services call the specimen and session writes inside their own transaction and
settle the ledger afterwards.
"""

from collections.abc import Iterable
from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from cmtracker import audit
from cmtracker.inputs import validate_record_number
from cmtracker.models import Clinic
from cmtracker.phones import phone_e164
from patients.models import (
    Attendance,
    Correction,
    Enrollment,
    Patient,
    Specimen,
    SpecimenResult,
    Substance,
)

RESULT_VALUES = set(SpecimenResult.Result.values)

# What staff may set on a patient's record, in the model's order. (The patient sets their own
# reminder choices on their settings page; a STOP reply sets sms_opted_out_at.)
PATIENT_FIELDS = (
    "clinic",
    "user",
    "record_number",
    "first_name",
    "last_name",
    "primary_counselor",
    "phone",
    "email",
    "preferred_language",
    "reminder_consent_sms",
    "reminder_consent_email",
    "reminder_time",
    "reminder_evening_before",
    "message_style",
    "sms_opted_out_at",
)


def patient_validate(*, patient: Patient, changed: Iterable[str] | None = None) -> None:
    """The rules of a patient's record, checked on the unsaved values of `patient`; field errors
    name every broken one. The phone number is rewritten in E.164 as it is checked.
    `changed`: the fields an update sets (None for a new patient). The phone number, the counselor
    and the record number's characters are judged when they or the clinic change: a counselor who
    has since left the clinic does not stop staff correcting a patient's name.

    1. The record has a clinic; its record number is printable and not another patient's there.
    2. The phone number is valid, read as dialled in the clinic's country unless it starts with
       + and a country code.
    3. The primary counselor works at the patient's clinic.
    """
    changed = None if changed is None else set(changed)

    def judged(field: str) -> bool:
        return changed is None or bool({field, "clinic"} & changed)

    clinic: Clinic | None = patient.clinic if patient.clinic_id is not None else None
    if clinic is None:
        raise ValidationError({"clinic": _("This field is required.")})
    errors: dict[str, list[str]] = {}
    try:
        if judged("record_number"):
            validate_record_number(patient.record_number or "")
    except ValidationError as error:
        errors["record_number"] = error.messages
    else:
        taken = Patient.objects.filter(clinic=clinic, record_number=patient.record_number)
        if patient.pk is not None:
            taken = taken.exclude(pk=patient.pk)
        if taken.exists():
            errors["record_number"] = [_("Another patient of this clinic has this record number.")]
    if patient.phone and judged("phone"):
        try:
            patient.phone = phone_e164(patient.phone, region=clinic.phone_region)
        except ValidationError as error:
            errors["phone"] = error.messages
    counselor = patient.primary_counselor if judged("primary_counselor") else None
    if counselor is not None and clinic.id not in counselor.clinic_ids:
        errors["primary_counselor"] = [_("This counselor does not work at the patient's clinic.")]
    if errors:
        raise ValidationError(errors)


def patient_create(
    *, clinic: Clinic, record_number: str, first_name: str, last_name: str, **details
) -> Patient:
    """Add a patient to `clinic`. `details`: any other of PATIENT_FIELDS. The save is in the
    audit log (the audit's save signal, as for every registered model)."""
    _patient_fields_check(details)
    patient = Patient(
        clinic=clinic,
        record_number=record_number,
        first_name=first_name,
        last_name=last_name,
        **details,
    )
    patient_validate(patient=patient)
    patient.save(force_insert=True)
    return patient


def patient_update(*, patient: Patient, **changes) -> Patient:
    """Change a patient's record: `changes` are any of PATIENT_FIELDS. The rules are checked on
    the record as it will be (a new clinic and the old counselor must still agree); the audit
    log keeps the old and new values of what changed."""
    _patient_fields_check(changes)
    for name, value in changes.items():
        setattr(patient, name, value)
    patient_validate(patient=patient, changed=changes)
    patient.save()
    return patient


def _patient_fields_check(fields: dict) -> None:
    unknown = set(fields) - set(PATIENT_FIELDS)
    if unknown:
        raise TypeError(f"Not a patient field staff may set: {', '.join(sorted(unknown))}")


def results_validate(results: dict) -> dict[str, str]:
    """Each key a known substance, each value negative/positive; raise field errors otherwise."""
    if not isinstance(results, dict):
        raise ValidationError({"results": _("Give one result per substance.")})
    errors = []
    for substance, value in results.items():
        if substance not in Substance.values:
            errors.append(_("Unknown substance: %(name)s.") % {"name": substance})
        elif value not in RESULT_VALUES:
            errors.append(
                _("%(name)s: the result must be negative or positive, not %(value)s.")
                % {"name": substance, "value": value}
            )
    if errors:
        raise ValidationError({"results": errors})
    return dict(results)


def moment_validate(field: str, moment: datetime, *, now: datetime) -> None:
    if timezone.is_naive(moment):
        raise ValidationError({field: _("Give a date and time with a time zone.")})
    # A few minutes of clock skew between a lab system and the server is not an error.
    if moment > now + timezone.timedelta(minutes=5):
        raise ValidationError({field: _("This is in the future.")})


def enrollment_for(*, patient: Patient, day: date, field: str = "collected_at") -> Enrollment:
    """The patient's enrollment whose dates contain `day`, whatever its status now, or a clear
    error. A result collected during an enrollment belongs to it even when it arrives after the
    enrollment was paused, completed or withdrawn: it is recorded and settled there."""
    enrollments = list(patient.enrollments.select_related("patient__clinic"))
    return enrollment_at(enrollments=enrollments, day=day, field=field)


def enrollment_at(
    *, enrollments: list[Enrollment], day: date, field: str = "collected_at"
) -> Enrollment:
    """Of one patient's `enrollments`, the one whose dates contain `day`: the rule of
    `enrollment_for` for callers that fetched the enrollments themselves (the lab import fetches
    a whole file's at once).

    A day is contained from the start date to the end date (or without end while the enrollment
    is open), a pause included. When two enrollments contain the day (a new one started the day
    the old one ended), the later one takes it. A day no enrollment contains is refused with the
    nearest reason: before the first start, or after the end of the enrollment that ended last
    before it.
    """
    if not enrollments:
        raise ValidationError({"patient": _("This patient is not enrolled in a CM protocol.")})
    latest_first = sorted(enrollments, key=lambda e: (e.start_date, e.id), reverse=True)
    for enrollment in latest_first:
        if _contains(enrollment, day):
            return enrollment
    ended_before = [e for e in latest_first if e.end_date and e.end_date < day]
    if ended_before:
        last = max(ended_before, key=lambda e: (e.end_date, e.start_date, e.id))
        raise ValidationError({field: _after_end(day, last.end_date, field)})
    first = min(enrollments, key=lambda e: (e.start_date, e.id))
    raise ValidationError({field: _before_start(day, first.start_date, field)})


def enrollment_covers(*, enrollment: Enrollment, day: date, field: str = "collected_at") -> None:
    """Raise a field error unless `day` falls within the enrollment."""
    if day < enrollment.start_date:
        raise ValidationError({field: _before_start(day, enrollment.start_date, field)})
    if enrollment.end_date and day > enrollment.end_date:
        raise ValidationError({field: _after_end(day, enrollment.end_date, field)})


def _contains(enrollment: Enrollment, day: date) -> bool:
    return enrollment.start_date <= day and (
        enrollment.end_date is None or day <= enrollment.end_date
    )


def _before_start(day: date, start: date, field: str) -> str:
    words = {"day": _long_date(day), "start": _long_date(start)}
    if field == "occurred_at":
        return (
            _(
                "This session took place on %(day)s, before this patient's enrollment started on "
                "%(start)s."
            )
            % words
        )
    return (
        _(
            "This test was collected on %(day)s, before this patient's enrollment started on "
            "%(start)s."
        )
        % words
    )


def _after_end(day: date, end: date, field: str) -> str:
    words = {"day": _long_date(day), "end": _long_date(end)}
    if field == "occurred_at":
        return (
            _(
                "This session took place on %(day)s, after this patient's enrollment ended on "
                "%(end)s."
            )
            % words
        )
    return (
        _("This test was collected on %(day)s, after this patient's enrollment ended on %(end)s.")
        % words
    )


def _long_date(day: date) -> str:
    return formats.date_format(day, "DATE_FORMAT")


def specimen_create(
    *,
    enrollment: Enrollment,
    collected_at: datetime,
    kind: str,
    status: str,
    results: dict[str, str],
    outcome: str,
    secondary_negative: bool,
    notes: str,
    recorded_by,
    idempotency_key: str | None,
    missed_day: date | None = None,
) -> Specimen:
    """Write a specimen and its results. `idempotency_key` is a client's key, unique at the
    patient's clinic; `missed_day` is the missed-test beat's own mark, which no client sets."""
    specimen = Specimen.objects.create(
        enrollment=enrollment,
        collected_at=collected_at,
        kind=kind,
        status=status,
        outcome=outcome,
        secondary_negative=secondary_negative,
        notes=notes,
        recorded_by=recorded_by,
        idempotency_key=idempotency_key or None,
        key_clinic_id=enrollment.patient.clinic_id if idempotency_key else None,
        missed_day=missed_day,
    )
    audit.created(
        SpecimenResult.objects.bulk_create(
            SpecimenResult(specimen=specimen, substance=s, result=r) for s, r in results.items()
        )
    )
    return specimen


def specimen_snapshot(specimen: Specimen) -> dict:
    return {
        "collected_at": specimen.collected_at.isoformat(),
        "kind": specimen.kind,
        "status": specimen.status,
        "outcome": specimen.outcome,
        "results": {r.substance: r.result for r in specimen.results.all()},
        "notes": specimen.notes,
    }


def specimen_change(
    *,
    specimen: Specimen,
    changed_by,
    reason: str,
    collected_at: datetime,
    kind: str,
    status: str,
    results: dict[str, str],
    outcome: str,
    secondary_negative: bool,
    notes: str,
) -> Correction:
    """Apply a correction and keep the history: a Correction row with before and after."""
    before = specimen_snapshot(specimen)
    specimen.collected_at = collected_at
    specimen.kind = kind
    specimen.status = status
    specimen.outcome = outcome
    specimen.secondary_negative = secondary_negative
    specimen.notes = notes
    specimen.save()
    # The old results are replaced whole: each one's deletion is in the log with its values.
    audit.deleted(specimen.results.all())
    specimen.results.all().delete()
    audit.created(
        SpecimenResult.objects.bulk_create(
            SpecimenResult(specimen=specimen, substance=s, result=r) for s, r in results.items()
        )
    )
    return Correction.objects.create(
        specimen=specimen,
        changed_by=changed_by,
        reason=reason,
        before=before,
        after=specimen_snapshot(specimen),
    )


def attendance_create(
    *,
    enrollment: Enrollment,
    occurred_at: datetime,
    session_kind: str,
    status: str,
    notes: str,
    recorded_by,
    idempotency_key: str | None,
) -> Attendance:
    """Write a therapy session. `idempotency_key` is a client's key, unique at the patient's
    clinic."""
    return Attendance.objects.create(
        enrollment=enrollment,
        occurred_at=occurred_at,
        session_kind=session_kind,
        status=status,
        notes=notes,
        recorded_by=recorded_by,
        idempotency_key=idempotency_key or None,
        key_clinic_id=enrollment.patient.clinic_id if idempotency_key else None,
    )


def attendance_snapshot(attendance: Attendance) -> dict:
    return {
        "occurred_at": attendance.occurred_at.isoformat(),
        "session_kind": attendance.session_kind,
        "status": attendance.status,
        "notes": attendance.notes,
    }


def attendance_change(
    *,
    attendance: Attendance,
    changed_by,
    reason: str,
    occurred_at: datetime,
    session_kind: str,
    status: str,
    notes: str,
) -> Correction:
    before = attendance_snapshot(attendance)
    attendance.occurred_at = occurred_at
    attendance.session_kind = session_kind
    attendance.status = status
    attendance.notes = notes
    attendance.save()
    return Correction.objects.create(
        attendance=attendance,
        changed_by=changed_by,
        reason=reason,
        before=before,
        after=attendance_snapshot(attendance),
    )
