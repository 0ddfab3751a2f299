"""Recording and correcting what happened at the clinic: drug tests and therapy sessions.

Each service checks what a counselor (or a client of the API) sent against the patient's
enrollment and protocol, writes the clinical record through patients.services, settles the
enrollment (vouchers.settlement) in the same transaction, and says what the patient earned.
Lock order: the patient's Wallet row first, then the specimen or session.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from cmtracker.inputs import NOTE_MAX_LENGTH, REASON_MAX_LENGTH, text_bounds_check
from patients import services as clinical
from patients.models import Attendance, Patient, Specimen
from vouchers import engine, notices
from vouchers.ledger import wallet_lock
from vouchers.models import Protocol, protocol_attach
from vouchers.settlement import Settlement, attendance_key, enrollment_settle, specimen_key


@dataclass(frozen=True)
class Recorded:
    """What the counselor tells the patient after a result is saved."""

    specimen: Specimen | None
    attendance: Attendance | None
    award: engine.Award
    settlement: Settlement
    replayed: bool = False


def specimen_outcome_check(protocol: Protocol, status: str, results: dict, notes: str):
    """The outcome of a specimen under `protocol`, or field errors a counselor can act on."""
    if status not in Specimen.Status.values:
        raise ValidationError({"status": _("Unknown status: %(s)s.") % {"s": status}})
    if status == Specimen.Status.EXCUSED and not notes.strip():
        raise ValidationError({"notes": _("An excused test needs a reason.")})
    text_bounds_check(notes=(notes, NOTE_MAX_LENGTH))
    if status == Specimen.Status.TESTED and not results:
        raise ValidationError({"results": _("A tested specimen needs its results.")})
    try:
        return engine.specimen_outcome(
            status, results, protocol.target_substances, protocol.secondary_substances
        )
    except engine.RuleError as error:
        raise ValidationError({"results": str(error)}) from None


def _attendance_check(session_kind: str, status: str) -> None:
    if session_kind not in Attendance.SessionKind.values:
        raise ValidationError(
            {"session_kind": _("Unknown session kind: %(k)s.") % {"k": session_kind}}
        )
    if status not in Attendance.Status.values:
        raise ValidationError({"status": _("Unknown status: %(s)s.") % {"s": status}})


def specimen_kind_check(kind: str) -> None:
    if kind not in Specimen.Kind.values:
        raise ValidationError({"kind": _("Unknown kind: %(k)s.") % {"k": kind}})


def specimen_record(
    *,
    patient: Patient,
    collected_at: datetime,
    kind: str = Specimen.Kind.URINE,
    status: str = Specimen.Status.TESTED,
    results: dict[str, str] | None = None,
    notes: str = "",
    recorded_by=None,
    idempotency_key: str | None = None,
) -> Recorded:
    """Record a drug test and settle: what a counselor does at the front desk.

    1. A repeated idempotency key answers the first recording's result, paying nothing again.
    2. Validate: known substances and results, not in the future, the enrollment whose dates
       contain the collection day (whatever its status now: a late result is settled where it
       belongs), the protocol's targets on the panel, a reason for an excused test.
    3. In one transaction: write the specimen and its results, excuse the day's missed mark if
       the beat wrote one before this result was recorded, settle the enrollment, and queue the
       patient's notice of what it earned (when it earned something).
    """
    now = timezone.now()
    results = results or {}
    if idempotency_key:
        existing = _by_key(Specimen, patient, idempotency_key)
        if existing is not None:
            return _replay(existing, recorded_by)
    specimen_kind_check(kind)
    results = clinical.results_validate(results)
    clinical.moment_validate("collected_at", collected_at, now=now)
    enrollment = clinical.enrollment_for(
        patient=patient, day=patient.clinic.local_date(collected_at)
    )
    outcome, secondary_negative = specimen_outcome_check(
        protocol_attach(enrollment).protocol, status, results, notes
    )
    try:
        with transaction.atomic():
            wallet_lock(patient=patient)
            specimen = clinical.specimen_create(
                enrollment=enrollment,
                collected_at=collected_at,
                kind=kind,
                status=status,
                results=results,
                outcome=outcome,
                secondary_negative=secondary_negative,
                notes=notes,
                recorded_by=recorded_by,
                idempotency_key=idempotency_key,
            )
            missed_marks_withdraw([specimen], recorded_by)
            settlement = enrollment_settle(enrollment=enrollment, actor=recorded_by)
            award = settlement.award_for(specimen_key(specimen.id))
            notices.award_notice_queue(settlement=settlement, award=award, source=specimen, now=now)
    except IntegrityError:
        # Another request with the same key won the race; answer with its result.
        existing = idempotency_key and _by_key(Specimen, patient, idempotency_key)
        if not existing:
            raise
        return _replay(existing, recorded_by)
    return Recorded(specimen=specimen, attendance=None, award=award, settlement=settlement)


MISSED_MARK_WITHDRAWN = (
    "A test collected this day was recorded after the day had been marked missed."
)


def missed_marks_withdraw(specimens: list[Specimen], actor) -> int:
    """Results that arrive after closing time for days the beat already marked missed (a lab
    result, a late entry): the patient did test those days, so the marks no longer stand. Each
    is excused, with the reason kept in its corrections, never deleted; settling then pays the
    real results as if the marks had never been there. Call inside the recording transaction,
    before settling. Returns how many marks were withdrawn."""
    days = Q()
    for s in specimens:
        if s.status != Specimen.Status.MISSED:
            day = s.enrollment.patient.clinic.local_date(s.collected_at)
            days |= Q(enrollment_id=s.enrollment_id, missed_day=day)
    if not days:
        return 0
    marks = Specimen.objects.filter(days, status=Specimen.Status.MISSED).select_for_update()
    withdrawn = 0
    for mark in marks:
        clinical.specimen_change(
            specimen=mark,
            changed_by=actor,
            reason=MISSED_MARK_WITHDRAWN,
            collected_at=mark.collected_at,
            kind=mark.kind,
            status=Specimen.Status.EXCUSED,
            results={},
            outcome=Specimen.Outcome.EXCUSED,
            secondary_negative=False,
            notes=mark.notes,
        )
        withdrawn += 1
    return withdrawn


def _attendance_recorded(attendance: Attendance, settlement: Settlement, replayed=False):
    return Recorded(
        specimen=None,
        attendance=attendance,
        award=settlement.award_for(attendance_key(attendance.id)),
        settlement=settlement,
        replayed=replayed,
    )


def _by_key(model, patient: Patient, key: str):
    """The specimen or attendance recorded earlier with this idempotency key at the patient's
    clinic, if any. Keys are a clinic's own: one used at another clinic is a new key here."""
    record = (
        model.objects.select_related("enrollment")
        .filter(key_clinic_id=patient.clinic_id, idempotency_key=key)
        .first()
    )
    if record is not None and record.enrollment.patient_id != patient.id:
        raise ValidationError({"idempotency_key": _("This key was used for another patient.")})
    return record


def _replay(specimen: Specimen, actor) -> Recorded:
    settlement = enrollment_settle(enrollment=specimen.enrollment, actor=actor)
    return Recorded(
        specimen=specimen,
        attendance=None,
        award=settlement.award_for(specimen_key(specimen.id)),
        settlement=settlement,
        replayed=True,
    )


def specimen_correct(
    *,
    specimen: Specimen,
    changed_by,
    reason: str,
    collected_at: datetime | None = None,
    kind: str | None = None,
    status: str | None = None,
    results: dict[str, str] | None = None,
    notes: str | None = None,
) -> Recorded:
    """Correct or back-date a recorded specimen (a reason is required) and settle.

    Fields left as None keep their value. Excusing a test needs a reason in its notes, as
    recording one does; when the notes are left out and hold none, the correction's reason is
    that reason too, so one `reason` excuses a test here as it does when recording it. The
    Correction row keeps who, when, why, before and after; settlement posts only the difference
    the correction makes.
    """
    if not (reason or "").strip():
        raise ValidationError({"reason": _("Say why this result is being corrected.")})
    text_bounds_check(reason=(reason, REASON_MAX_LENGTH))
    enrollment = specimen.enrollment
    collected_at = collected_at or specimen.collected_at
    kind = kind or specimen.kind
    status = status or specimen.status
    if notes is None:
        notes = specimen.notes
        if status == Specimen.Status.EXCUSED and not notes.strip():
            notes = reason.strip()
    if results is None:
        results = {r.substance: r.result for r in specimen.results.all()}
    specimen_kind_check(kind)
    results = clinical.results_validate(results)
    clinical.moment_validate("collected_at", collected_at, now=timezone.now())
    clinical.enrollment_covers(
        enrollment=enrollment, day=enrollment.patient.clinic.local_date(collected_at)
    )
    outcome, secondary_negative = specimen_outcome_check(
        protocol_attach(enrollment).protocol, status, results, notes
    )
    with transaction.atomic():
        wallet_lock(patient=enrollment.patient)
        specimen = Specimen.objects.select_for_update().get(pk=specimen.pk)
        clinical.specimen_change(
            specimen=specimen,
            changed_by=changed_by,
            reason=reason.strip(),
            collected_at=collected_at,
            kind=kind,
            status=status,
            results=results,
            outcome=outcome,
            secondary_negative=secondary_negative,
            notes=notes,
        )
        # Moved onto a day the beat marked missed: the patient did test that day.
        missed_marks_withdraw([specimen], changed_by)
        settlement = enrollment_settle(enrollment=enrollment, actor=changed_by)
    return Recorded(
        specimen=specimen,
        attendance=None,
        award=settlement.award_for(specimen_key(specimen.id)),
        settlement=settlement,
    )


def attendance_record(
    *,
    patient: Patient,
    occurred_at: datetime,
    session_kind: str,
    status: str = Attendance.Status.ATTENDED,
    notes: str = "",
    recorded_by=None,
    idempotency_key: str | None = None,
) -> Recorded:
    """Record a therapy session (attended, missed or excused), settle, and tell the patient what
    it earned (when it earned something)."""
    now = timezone.now()
    if idempotency_key:
        existing = _by_key(Attendance, patient, idempotency_key)
        if existing is not None:
            settlement = enrollment_settle(enrollment=existing.enrollment, actor=recorded_by)
            return _attendance_recorded(existing, settlement, replayed=True)
    _attendance_check(session_kind, status)
    text_bounds_check(notes=(notes, NOTE_MAX_LENGTH))
    clinical.moment_validate("occurred_at", occurred_at, now=now)
    enrollment = clinical.enrollment_for(
        patient=patient, day=patient.clinic.local_date(occurred_at), field="occurred_at"
    )
    try:
        with transaction.atomic():
            wallet_lock(patient=patient)
            attendance = clinical.attendance_create(
                enrollment=enrollment,
                occurred_at=occurred_at,
                session_kind=session_kind,
                status=status,
                notes=notes,
                recorded_by=recorded_by,
                idempotency_key=idempotency_key,
            )
            settlement = enrollment_settle(enrollment=enrollment, actor=recorded_by)
            notices.award_notice_queue(
                settlement=settlement,
                award=settlement.award_for(attendance_key(attendance.id)),
                source=attendance,
                now=now,
            )
    except IntegrityError:
        # Another request with the same key won the race; answer with its result.
        existing = idempotency_key and _by_key(Attendance, patient, idempotency_key)
        if not existing:
            raise
        settlement = enrollment_settle(enrollment=existing.enrollment, actor=recorded_by)
        return _attendance_recorded(existing, settlement, replayed=True)
    return _attendance_recorded(attendance, settlement)


def attendance_correct(
    *,
    attendance: Attendance,
    changed_by,
    reason: str,
    occurred_at: datetime | None = None,
    session_kind: str | None = None,
    status: str | None = None,
    notes: str | None = None,
) -> Recorded:
    if not (reason or "").strip():
        raise ValidationError({"reason": _("Say why this record is being corrected.")})
    occurred_at = occurred_at or attendance.occurred_at
    session_kind = session_kind or attendance.session_kind
    status = status or attendance.status
    notes = attendance.notes if notes is None else notes
    _attendance_check(session_kind, status)
    text_bounds_check(reason=(reason, REASON_MAX_LENGTH), notes=(notes, NOTE_MAX_LENGTH))
    clinical.moment_validate("occurred_at", occurred_at, now=timezone.now())
    enrollment = attendance.enrollment
    clinical.enrollment_covers(
        enrollment=enrollment,
        day=enrollment.patient.clinic.local_date(occurred_at),
        field="occurred_at",
    )
    with transaction.atomic():
        wallet_lock(patient=enrollment.patient)
        attendance = Attendance.objects.select_for_update().get(pk=attendance.pk)
        clinical.attendance_change(
            attendance=attendance,
            changed_by=changed_by,
            reason=reason.strip(),
            occurred_at=occurred_at,
            session_kind=session_kind,
            status=status,
            notes=notes,
        )
        settlement = enrollment_settle(enrollment=enrollment, actor=changed_by)
    return _attendance_recorded(attendance, settlement)
