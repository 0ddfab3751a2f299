"""Every write that moves points: recording and correcting results, settlement, adjustments.

Lock order, everywhere: the patient's Wallet row first (select_for_update), then anything else.
Holding the wallet lock serialises every settlement and spend of one patient, so two requests can
never both read the same balance and both spend it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from cmtracker import audit
from cmtracker.inputs import NOTE_MAX_LENGTH, REASON_MAX_LENGTH, text_bounds_check
from cmtracker.models import validate_weekdays
from patients import services as clinical
from patients.models import Attendance, Enrollment, Patient, Specimen
from vouchers import engine, notices
from vouchers.ledger import earned_elsewhere_by_year, wallet_lock
from vouchers.models import LedgerEntry, Protocol, ProtocolPhase, Wallet
from vouchers.schedule import next_negative_award

CREDIT_KIND = {
    LedgerEntry.Component.VOUCHER: LedgerEntry.Kind.EARN,
    LedgerEntry.Component.BONUS: LedgerEntry.Kind.BONUS,
    LedgerEntry.Component.ATTENDANCE: LedgerEntry.Kind.ATTENDANCE,
    LedgerEntry.Component.DRAWS: LedgerEntry.Kind.DRAWS,
}


@dataclass(frozen=True)
class Settlement:
    enrollment: Enrollment
    result: engine.Result
    posted: list[LedgerEntry]
    wallet: Wallet
    events: tuple[engine.Event, ...]  # what `result` replayed, for what comes next
    earned_elsewhere: dict[int, int]

    def award_for(self, key: str) -> engine.Award | None:
        return next((a for a in self.result.awards if a.key == key), None)

    def next_award(self, today: date) -> engine.Award:
        """What the next negative test from `today` on earns (bonus, recovery, phase and caps
        included): vouchers.schedule.next_negative_award."""
        enrollment = self.enrollment
        return next_negative_award(
            enrollment.protocol.rules(),
            enrollment.start_date,
            list(self.events),
            today,
            enrollment.weekdays,
            self.earned_elsewhere,
        )


@dataclass(frozen=True)
class Recorded:
    """What the counselor tells the patient after a result is saved."""

    specimen: Specimen | None
    attendance: Attendance | None
    award: engine.Award
    settlement: Settlement
    replayed: bool = False


def specimen_key(specimen_id: int) -> str:
    return f"specimen:{specimen_id}"


def _attendance_key(attendance_id: int) -> str:
    return f"attendance:{attendance_id}"


# --- settlement ------------------------------------------------------------------------------


def enrollment_events(enrollment: Enrollment) -> list[engine.Event]:
    """The enrollment's history in the clinic's calendar, ordered by time, then id."""
    clinic = enrollment.patient.clinic
    timed = [
        (
            s.collected_at,
            0,
            s.id,
            engine.Event(
                key=specimen_key(s.id),
                day=clinic.local_date(s.collected_at),
                kind=engine.SPECIMEN,
                outcome=s.outcome,
                secondary_negative=s.secondary_negative,
            ),
        )
        for s in enrollment.specimens.all()
    ] + [
        (
            a.occurred_at,
            1,
            a.id,
            engine.Event(
                key=_attendance_key(a.id),
                day=clinic.local_date(a.occurred_at),
                kind=engine.ATTENDANCE,
                outcome=a.status,
            ),
        )
        for a in enrollment.attendance.all()
    ]
    timed.sort(key=lambda t: t[:3])
    return [t[3] for t in timed]


def _wanted(result: engine.Result) -> dict[tuple, int]:
    """What the engine says each (source, component, year) is worth: cents, or draws."""
    wanted: dict[tuple, int] = defaultdict(int)
    for award in result.awards:
        source, source_id = award.key.split(":")
        parts = {
            LedgerEntry.Component.VOUCHER: award.voucher_cents,
            LedgerEntry.Component.BONUS: award.bonus_cents,
            LedgerEntry.Component.ATTENDANCE: award.attendance_cents,
            LedgerEntry.Component.DRAWS: award.draws,
        }
        for component, value in parts.items():
            if value:
                wanted[(source, int(source_id), component, award.day.year)] += value
    return wanted


def _posted(enrollment: Enrollment) -> dict[tuple, int]:
    rows = (
        LedgerEntry.objects.filter(enrollment=enrollment)
        .exclude(component="")
        .values("specimen_id", "attendance_id", "component", "event_year")
        .annotate(
            cents=Sum(F("amount_cents") - F("overpayment_cents")),
            draws=Sum(F("draws") - F("draws_under_review")),
        )
    )
    posted = {}
    for r in rows:
        source = "specimen" if r["specimen_id"] else "attendance"
        source_id = r["specimen_id"] or r["attendance_id"]
        value = r["draws"] if r["component"] == LedgerEntry.Component.DRAWS else r["cents"]
        posted[(source, source_id, r["component"], r["event_year"])] = value
    return posted


def _settlement_entry(wallet: Wallet, enrollment: Enrollment, key: tuple, diff: int, actor):
    """One ledger entry that moves the entitlement of `key` by `diff`, updating the wallet.

    A credit first pays back any overpayment; a debit takes what the balance holds and leaves the
    rest as an overpayment (cents) or as draws for staff review (draws already made).
    """
    source, source_id, component, year = key
    entry = LedgerEntry(
        patient_id=wallet.patient_id,
        enrollment=enrollment,
        kind=CREDIT_KIND[component] if diff > 0 else LedgerEntry.Kind.REVERSAL,
        component=component,
        specimen_id=source_id if source == "specimen" else None,
        attendance_id=source_id if source == "attendance" else None,
        event_year=year,
        created_by=actor,
    )
    if component == LedgerEntry.Component.DRAWS:
        if diff > 0:
            entry.draws = diff
        else:
            entry.draws = -min(wallet.draws_available, -diff)
            entry.draws_under_review = -diff + entry.draws
        wallet.draws_available += entry.draws
        wallet.draws_under_review += entry.draws_under_review
    else:
        if diff > 0:
            recovered = min(wallet.overpayment_cents, diff)
            entry.amount_cents = diff - recovered
            entry.overpayment_cents = -recovered
        else:
            entry.amount_cents = -min(wallet.balance_cents, -diff)
            entry.overpayment_cents = -diff + entry.amount_cents
        wallet.balance_cents += entry.amount_cents
        wallet.overpayment_cents += entry.overpayment_cents
    return entry


def enrollment_settle(*, enrollment: Enrollment, actor=None) -> Settlement:
    """Make the ledger match the engine's replay of the enrollment's history.

    1. Lock the patient's wallet.
    2. Replay every specimen and attendance through the engine (with what other enrollments
       earned this year, for the year cap).
    3. Compare with what the ledger already holds per source, component and year.
    4. Post only the differences, credits before debits so a correction that moves value from one
       test to another never creates an overpayment in between; save the wallet.
    Settling again posts nothing.
    """
    with transaction.atomic():
        wallet = wallet_lock(patient=enrollment.patient)
        enrollment = (
            Enrollment.objects.select_related("protocol", "patient__clinic")
            .prefetch_related("protocol__phases")
            .get(pk=enrollment.pk)
        )
        events = enrollment_events(enrollment)
        elsewhere = earned_elsewhere_by_year(enrollment)
        result = engine.run(enrollment.protocol.rules(), enrollment.start_date, events, elsewhere)
        wanted = _wanted(result)
        posted = _posted(enrollment)
        diffs = {k: wanted.get(k, 0) - posted.get(k, 0) for k in set(wanted) | set(posted)}
        ordered = sorted((k for k, d in diffs.items() if d), key=lambda k: (diffs[k] < 0, k))
        entries = [_settlement_entry(wallet, enrollment, k, diffs[k], actor) for k in ordered]
        if entries:
            audit.created(LedgerEntry.objects.bulk_create(entries))
            wallet.save()
        return Settlement(
            enrollment=enrollment,
            result=result,
            posted=entries,
            wallet=wallet,
            events=tuple(events),
            earned_elsewhere=elsewhere,
        )


# --- recording results -----------------------------------------------------------------------


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
        enrollment.protocol, status, results, notes
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
        award=settlement.award_for(_attendance_key(attendance.id)),
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
        enrollment.protocol, status, results, notes
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
            attendance = Attendance.objects.create(
                enrollment=enrollment,
                occurred_at=occurred_at,
                session_kind=session_kind,
                status=status,
                notes=notes,
                recorded_by=recorded_by,
                idempotency_key=idempotency_key or None,
                key_clinic_id=patient.clinic_id if idempotency_key else None,
            )
            settlement = enrollment_settle(enrollment=enrollment, actor=recorded_by)
            notices.award_notice_queue(
                settlement=settlement,
                award=settlement.award_for(_attendance_key(attendance.id)),
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


# --- enrollments and staff adjustments -------------------------------------------------------


def enrollment_start(
    *, patient: Patient, protocol: Protocol, start_date: date, today: date | None = None
) -> Enrollment:
    """Enrol a patient; the database holds the one-open-enrollment rule behind this check."""
    if patient.enrollments.filter(status__in=Enrollment.OPEN_STATUSES).exists():
        raise ValidationError({"patient": _("This patient already has an open enrollment.")})
    enrollment = Enrollment(patient=patient, protocol=protocol, start_date=start_date)
    today = today or patient.clinic.local_date(timezone.now())
    if start_date <= today:
        enrollment.misses_start_after(today)  # no day up to today was theirs yet
    try:
        with transaction.atomic():
            enrollment.save(force_insert=True)
            return enrollment
    except IntegrityError:
        raise ValidationError(
            {"patient": _("This patient already has an open enrollment.")}
        ) from None


def enrollment_schedule_set(
    *,
    enrollment: Enrollment,
    test_weekdays: list[int],
    session_weekdays: list[int],
    actor,
    today: date | None = None,
) -> Enrollment:
    """Staff choose a patient's own test weekdays (the clinic's when they are the same) and the
    weekdays of a standing therapy session. From then on the schedule, the reminders and the
    missed-test marking follow them; tests already recorded or marked are not touched."""
    test_weekdays = sorted(set(test_weekdays))
    session_weekdays = sorted(set(session_weekdays))
    validate_weekdays(test_weekdays)
    validate_weekdays(session_weekdays)
    if not test_weekdays:
        raise ValidationError({"test_weekdays": _("Choose at least one test day.")})
    with transaction.atomic():
        enrollment = (
            Enrollment.objects.select_for_update()
            .select_related("patient__clinic")
            .get(pk=enrollment.pk)
        )
        clinic = enrollment.patient.clinic
        clinic_days = sorted(clinic.test_weekdays)
        new_test_days = None if test_weekdays == clinic_days else test_weekdays
        if new_test_days != enrollment.test_weekdays:
            # The new days count from tomorrow: today and the past were not test days under them.
            enrollment.misses_start_after(today or clinic.local_date(timezone.now()))
        enrollment.test_weekdays = new_test_days
        enrollment.session_weekdays = session_weekdays
        enrollment.save(update_fields=["test_weekdays", "session_weekdays", "misses_from"])
    return enrollment


def ledger_adjust(
    *, patient: Patient, amount_cents: int, reason: str, actor, idempotency_key: str | None = None
) -> LedgerEntry:
    """A staff credit or debit with a reason. A debit can never take the balance below zero."""
    if not (reason or "").strip():
        raise ValidationError({"reason": _("An adjustment needs a reason.")})
    text_bounds_check(reason=(reason, REASON_MAX_LENGTH))
    if not isinstance(amount_cents, int) or amount_cents == 0:
        raise ValidationError({"amount_cents": _("Give a whole, non-zero number of cents.")})
    with transaction.atomic():
        wallet = wallet_lock(patient=patient)
        if idempotency_key:
            existing = LedgerEntry.objects.filter(idempotency_key=idempotency_key).first()
            if existing is not None and existing.patient_id != patient.id:
                raise ValidationError(
                    {"idempotency_key": _("This key was used for another patient.")}
                )
            if existing is not None:
                return existing
        if wallet.balance_cents + amount_cents < 0:
            raise ValidationError(
                {
                    "amount_cents": _("The balance is %(b)s cents; it cannot go below zero.")
                    % {"b": wallet.balance_cents}
                }
            )
        entry = LedgerEntry.objects.create(
            patient=patient,
            kind=LedgerEntry.Kind.ADJUSTMENT,
            amount_cents=amount_cents,
            reason=reason.strip(),
            created_by=actor,
            idempotency_key=idempotency_key or None,
        )
        wallet.balance_cents += amount_cents
        wallet.save()
        return entry


def overpayment_waive(*, patient: Patient, reason: str, actor) -> LedgerEntry | None:
    """Forgive what a patient owes after a correction (staff, with a reason)."""
    if not (reason or "").strip():
        raise ValidationError({"reason": _("A waiver needs a reason.")})
    text_bounds_check(reason=(reason, REASON_MAX_LENGTH))
    with transaction.atomic():
        wallet = wallet_lock(patient=patient)
        if wallet.overpayment_cents == 0:
            return None
        entry = LedgerEntry.objects.create(
            patient=patient,
            kind=LedgerEntry.Kind.WAIVER,
            overpayment_cents=-wallet.overpayment_cents,
            reason=reason.strip(),
            created_by=actor,
        )
        wallet.overpayment_cents = 0
        wallet.save()
        return entry


# --- protocols ---------------------------------------------------------------------------------


def protocol_new_version(*, protocol: Protocol) -> Protocol:
    """Copy a protocol (and its phases) as the next version of its slug, made current.

    Existing enrollments keep the version they enrolled under; moving one is a staff action.
    """
    with transaction.atomic():
        latest = (
            Protocol.objects.select_for_update()
            .filter(slug=protocol.slug)
            .order_by("-version")
            .first()
        )
        phases = list(protocol.phases.all())
        Protocol.objects.filter(slug=protocol.slug, is_current=True).update(is_current=False)
        protocol.pk = None
        protocol._state.adding = True
        protocol.version = latest.version + 1
        protocol.is_current = True
        protocol.save()
        for phase in phases:
            phase.pk = None
            phase._state.adding = True
            phase.protocol = protocol
        ProtocolPhase.objects.bulk_create(phases)
        return protocol
