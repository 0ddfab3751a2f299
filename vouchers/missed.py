"""Marking the scheduled tests nobody came for, the staff's digest of them, and excusing one.

`missed_tests_mark` takes the clock (`now`) and runs from Celery beat every fifteen minutes
(vouchers.tasks). Running it twice, or two at once, marks nothing the second time: every missed
mark has its day (`Specimen.missed_day`, unique per enrollment), and every digest a dedupe key in
the outbox. Days are each clinic's own (vouchers.rounds): a test is missed once its clinic closes.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from cmtracker.models import Membership
from messaging.notifications import notifications_queue_many
from patients import services as clinical
from patients.models import Enrollment, Specimen
from vouchers import notices, recording
from vouchers.models import Wallet
from vouchers.rounds import ClinicClock, ProtocolRules, clinic_clocks, enrollments_chunked
from vouchers.schedule import scheduled_days_between
from vouchers.settlement import enrollment_settle

# How far back a scheduled test with no result is still marked missed (a beat that was down).
MISSED_LOOKBACK_DAYS = 7
# Enrollments marked per transaction: their wallets stay locked until it commits.
MARK_BATCH = 100


def missed_tests_mark(*, now: datetime) -> int:
    """Mark as missed each scheduled test nobody came for; returns how many were marked.

    Per clinic, on its calendar: the scheduled days from a week ago to yesterday, and today once
    the clinic has closed.
    1. Active enrollments a chunk at a time; their schedules in Python, and the specimens of those
       days in one query per chunk.
    2. The enrollments with a scheduled day that has no specimen, a batch at a time, each batch in
       one transaction (see _missed_write): a `missed` specimen at that day's closing time, its
       `missed_day` set (unique per enrollment, and out of every client's reach) so a rerun or
       a second beat never marks a day twice, then
       settlement, so the streak resets as the protocol says.
    3. Each staff member of the clinic with an email gets, per day, the list of who missed.
    """
    marked = 0
    rules = ProtocolRules()
    for clock in clinic_clocks(now).values():
        missed_by_day: dict[date, list] = defaultdict(list)
        for misses in _clinic_misses(clock, rules):
            for i in range(0, len(misses), MARK_BATCH):
                for enrollment, day in _missed_write(misses[i : i + MARK_BATCH], clock):
                    missed_by_day[day].append(enrollment.patient)
                    marked += 1
        if missed_by_day:
            _digests_queue(clock, missed_by_day, now)
    return marked


def _clinic_misses(clock: ClinicClock, rules: ProtocolRules):
    """Per chunk of the clinic's active enrollments, [(enrollment, scheduled days with no
    specimen)] for those that have any."""
    clinic = clock.clinic
    last = clock.today if not clock.before_closing else clock.today - timedelta(days=1)
    first = clock.today - timedelta(days=MISSED_LOOKBACK_DAYS)
    enrollments = (
        Enrollment.objects.filter(
            status=Enrollment.Status.ACTIVE, patient__clinic=clinic, start_date__lte=last
        )
        .filter(Q(end_date__isnull=True) | Q(end_date__gte=first))
        .select_related("patient")
        .order_by("pk")
    )
    for chunk in enrollments_chunked(enrollments):
        rules.load({e.protocol_id for e in chunk})
        seen = _specimen_days(chunk, clock, first, last)
        misses = []
        for enrollment in chunk:
            enrollment.patient.clinic = clinic
            until = min(last, enrollment.end_date or last)
            days = scheduled_days_between(
                rules[enrollment.protocol_id],
                enrollment.start_date,
                max(first, enrollment.first_markable_day),
                until,
                enrollment.weekdays,
            )
            missing = [d for d in days if (enrollment.pk, d) not in seen]
            if missing:
                misses.append((enrollment, missing))
        if misses:
            yield misses


def _specimen_days(enrollments, clock: ClinicClock, first: date, last: date) -> set:
    """(enrollment id, clinic day) of every specimen collected from `first` to `last`."""
    rows = Specimen.objects.filter(
        enrollment__in=enrollments,
        collected_at__gte=clock.at(first, time.min),
        collected_at__lt=clock.at(last + timedelta(days=1), time.min),
    ).values_list("enrollment_id", "collected_at")
    return {(pk, clock.clinic.local_date(moment)) for pk, moment in rows}


def _wallets_lock(patient_ids) -> None:
    """Lock these patients' wallets (made on first use) in patient-id order: the lock order of
    every write that moves points, so a batch never deadlocks with the front desk."""
    patient_ids = sorted(set(patient_ids))
    Wallet.objects.bulk_create([Wallet(patient_id=pk) for pk in patient_ids], ignore_conflicts=True)
    list(
        Wallet.objects.select_for_update()
        .filter(patient_id__in=patient_ids)
        .order_by("patient_id")
        .values_list("pk", flat=True)
    )


def _missed_write(misses: list, clock: ClinicClock) -> list[tuple[Enrollment, date]]:
    """Mark a batch of enrollments' days missed and settle each; returns what was marked now.

    1. Lock the patients' wallets, so no result is being recorded for them meanwhile.
    2. Look again under the locks: a result recorded since the chunk was read counts, and so does
       a mark another run made (its `missed_day`; it may since have been corrected to another day).
    3. Write the marks, then settle each enrollment that got one.
    """
    enrollments = [enrollment for enrollment, _days in misses]
    first = min(days[0] for _enrollment, days in misses)
    last = max(days[-1] for _enrollment, days in misses)
    marked = []
    with transaction.atomic():
        _wallets_lock(e.patient_id for e in enrollments)
        taken = _specimen_days(enrollments, clock, first, last)
        wanted = [
            (enrollment, day)
            for enrollment, days in misses
            for day in days
            if (enrollment.pk, day) not in taken
        ]
        used = set(
            Specimen.objects.filter(
                enrollment__in=enrollments, missed_day__gte=first, missed_day__lte=last
            ).values_list("enrollment_id", "missed_day")
        )
        for enrollment, day in wanted:
            if (enrollment.pk, day) in used:
                continue
            clinical.specimen_create(
                enrollment=enrollment,
                collected_at=clock.at(day, clock.clinic.closes_at),
                kind=Specimen.Kind.URINE,
                status=Specimen.Status.MISSED,
                results={},
                outcome=Specimen.Outcome.MISSED,
                secondary_negative=False,
                notes="",
                recorded_by=None,
                idempotency_key=None,
                missed_day=day,
            )
            marked.append((enrollment, day))
        for enrollment in {e.pk: e for e, _day in marked}.values():
            enrollment_settle(enrollment=enrollment)
    return marked


def _digests_queue(clock: ClinicClock, missed_by_day: dict[date, list], now: datetime) -> None:
    staff = [
        m.user
        for m in Membership.objects.filter(clinic=clock.clinic)
        .select_related("user")
        .order_by("user_id")
    ]
    rows = []
    for day, patients in sorted(missed_by_day.items()):
        rows += notices.missed_digest_rows(
            clinic=clock.clinic, day=day, missed=patients, staff=staff
        )
    if rows:
        with transaction.atomic():
            notifications_queue_many(rows, now=now)


def missed_test_excuse(*, specimen: Specimen, reason: str, actor) -> recording.Recorded:
    """Staff excuse a missed test, with a reason: it then neither earns nor resets, so settling
    again restores the streak and whatever the later tests earned on it."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Say why this missed test is excused.")})
    if specimen.status != Specimen.Status.MISSED:
        raise ValidationError(
            {"reason": _("Only a missed test can be excused; correct other results instead.")}
        )
    return recording.specimen_correct(
        specimen=specimen,
        changed_by=actor,
        reason=reason,
        status=Specimen.Status.EXCUSED,
        results={},
        notes=specimen.notes or reason,
    )
