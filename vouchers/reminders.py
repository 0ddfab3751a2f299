"""Reminders on test and session days, and marking the scheduled tests nobody came for.

Both services take the clock (`now`) and run from Celery beat every few minutes (vouchers.tasks).
Running one twice, or two at once, changes nothing the second time: every message has a dedupe
key in the outbox and every missed mark its day (`Specimen.missed_day`, unique per enrollment).
Days and times are each clinic's own, in its time zone, so a reminder at 09:00 is 09:00 on the
clinic's clock on both sides of a daylight-saving change.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Prefetch, Q, prefetch_related_objects
from django.utils import formats
from django.utils.translation import gettext as _

from cmtracker.models import Clinic, Membership, Notification
from cmtracker.notifications import notifications_queue_many, quiet_hours_end_after
from patients import services as clinical
from patients.models import Attendance, Enrollment, Patient, Specimen
from vouchers import engine, ledger, notices, recording
from vouchers.models import Protocol, Wallet
from vouchers.schedule import is_test_day, scheduled_days_between
from vouchers.settlement import enrollment_events, enrollment_settle

log = logging.getLogger(__name__)

# Enrollments read, and messages written, per round trip.
CHUNK = 1000
# How far back a scheduled test with no result is still marked missed (a beat that was down).
MISSED_LOOKBACK_DAYS = 7
# Enrollments marked per transaction: their wallets stay locked until it commits.
MARK_BATCH = 100


@dataclass(frozen=True)
class ClinicClock:
    """`now` on one clinic's clock."""

    clinic: Clinic
    local: datetime

    @property
    def today(self) -> date:
        return self.local.date()

    @property
    def tomorrow(self) -> date:
        return self.today + timedelta(days=1)

    @property
    def time(self) -> time:
        return self.local.time().replace(tzinfo=None)

    def at(self, day: date, wall: time) -> datetime:
        """`wall` o'clock on `day`, on the clinic's clock (zoneinfo picks the day's offset)."""
        return datetime.combine(day, wall, tzinfo=self.clinic.tz)

    @property
    def before_closing(self) -> bool:
        return self.time < self.clinic.closes_at

    @property
    def evening(self) -> bool:
        return self.time >= self.clinic.evening_reminder_at


def clinic_clocks(now: datetime) -> dict[int, ClinicClock]:
    return {c.pk: ClinicClock(c, now.astimezone(c.tz)) for c in Clinic.objects.order_by("pk")}


class _Rules:
    """Each protocol's engine rules, read once per run (a protocol in use is never edited)."""

    def __init__(self):
        self.by_protocol: dict[int, engine.Rules] = {}

    def load(self, protocol_ids) -> None:
        missing = set(protocol_ids) - set(self.by_protocol)
        if missing:
            for protocol in Protocol.objects.filter(pk__in=missing).prefetch_related("phases"):
                self.by_protocol[protocol.pk] = protocol.rules()

    def __getitem__(self, protocol_id: int) -> engine.Rules:
        return self.by_protocol[protocol_id]


def _chunks(queryset):
    """The queryset (ordered by pk) a chunk at a time, by key: no OFFSET, no long transaction."""
    last = 0
    while True:
        chunk = list(queryset.filter(pk__gt=last)[:CHUNK])
        if not chunk:
            return
        yield chunk
        last = chunk[-1].pk


def _covers(enrollment: Enrollment, day: date) -> bool:
    return enrollment.start_date <= day and (
        enrollment.end_date is None or day <= enrollment.end_date
    )


# --- reminders -----------------------------------------------------------------------------------


@dataclass
class _Due:
    enrollment: Enrollment
    clock: ClinicClock
    test_today: bool = False
    session_today: bool = False
    test_tomorrow: bool = False
    keys: tuple[str, ...] = ()


def _reachable() -> Q:
    sms = Q(patient__reminder_consent_sms=True, patient__sms_opted_out_at__isnull=True) & ~Q(
        patient__phone=""
    )
    email = Q(patient__reminder_consent_email=True) & ~Q(patient__email="")
    return sms | email


def _may_be_due(clocks: dict[int, ClinicClock]) -> Q | None:
    """Per clinic, the enrollments whose reminder time has come: the rest are never loaded."""
    windows = Q()
    any_window = False
    for clinic_id, clock in clocks.items():
        here = Q()
        if clock.before_closing:
            here |= Q(patient__reminder_time__lte=clock.time) & Q(start_date__lte=clock.today)
        if clock.evening:
            here |= Q(patient__reminder_evening_before=True) & Q(start_date__lte=clock.tomorrow)
        if not here:
            continue
        any_window = True
        windows |= Q(patient__clinic_id=clinic_id) & here
    return windows if any_window else None


def _due_today(due: _Due, rules: engine.Rules) -> None:
    enrollment, clock = due.enrollment, due.clock
    patient = enrollment.patient
    today = clock.today
    if clock.before_closing and patient.reminder_time <= clock.time and _covers(enrollment, today):
        due.test_today = is_test_day(rules, enrollment.start_date, today, enrollment.weekdays)
        due.session_today = today.weekday() in (enrollment.session_weekdays or [])
    tomorrow = clock.tomorrow
    if clock.evening and patient.reminder_evening_before and _covers(enrollment, tomorrow):
        due.test_tomorrow = is_test_day(rules, enrollment.start_date, tomorrow, enrollment.weekdays)
    keys = []
    for channel, _to in notices.patient_addresses(patient):
        if due.test_today or due.session_today:
            keys.append(f"test_reminder:{enrollment.pk}:{today.isoformat()}:{channel}")
        if due.test_tomorrow:
            keys.append(f"evening_reminder:{enrollment.pk}:{tomorrow.isoformat()}:{channel}")
    due.keys = tuple(keys)


def reminders_queue(*, now: datetime) -> int:
    """Queue every reminder due at `now`; returns how many messages were new.

    1. Each clinic's clock decides who may be due: a test-day (or session-day) reminder from the
       patient's reminder time until the clinic closes, an evening-before reminder from the
       clinic's evening time. The database leaves out everyone else (no consent or address, a
       reminder time still to come, a clinic closed).
    2. The rest, a chunk at a time, in a fixed number of queries per chunk: whose day it is (the
       schedule, the session weekdays, in Python), which of them have no reminder queued yet
       (the chunk's dedupe keys, one query), and their histories (two queries) to see who has
       already given a specimen (or come to the session) today.
    3. What a negative test earns, replayed from those histories with what each patient earned
       in other enrollments (as reward_summary and settlement do; one query), only for those
       still due; their messages, in the patient's language, queued in one transaction per chunk.
    """
    clocks = clinic_clocks(now)
    windows = _may_be_due(clocks)
    if windows is None:
        return 0
    enrollments = (
        Enrollment.objects.filter(status=Enrollment.Status.ACTIVE)
        .filter(_reachable())
        .filter(windows)
        .select_related("patient")
        .order_by("pk")
    )
    rules = _Rules()
    queued = 0
    for chunk in _chunks(enrollments):
        rules.load({e.protocol_id for e in chunk})
        candidates = []
        for enrollment in chunk:
            clock = clocks[enrollment.patient.clinic_id]
            enrollment.patient.clinic = clock.clinic  # no query for its weekdays or time zone
            due = _Due(enrollment, clock)
            _due_today(due, rules[enrollment.protocol_id])
            if due.keys:
                candidates.append(due)
        if not candidates:
            continue
        queued_keys = set(
            Notification.objects.filter(
                dedupe_key__in=[k for due in candidates for k in due.keys]
            ).values_list("dedupe_key", flat=True)
        )
        candidates = [due for due in candidates if not queued_keys.issuperset(due.keys)]
        if not candidates:
            continue
        _histories_load([due.enrollment for due in candidates])
        rows = []
        still_due = [due for due in candidates if _still_due(due)]
        # A discreet reminder names no amount: nothing to replay for it.
        promises = _promises(
            [due for due in still_due if not due.enrollment.patient.discreet_messages], rules
        )
        for due in still_due:
            rows += _reminder_rows(due, promises)
        if rows:
            with transaction.atomic():
                queued += notifications_queue_many(rows, now=now)
    return queued


def _histories_load(enrollments: list[Enrollment]) -> None:
    """Every specimen and session of these enrollments, in two queries (the replay needs all)."""
    prefetch_related_objects(
        enrollments,
        Prefetch("specimens", queryset=Specimen.objects.order_by("collected_at", "pk")),
        Prefetch("attendance", queryset=Attendance.objects.order_by("occurred_at", "pk")),
    )


def _still_due(due: _Due) -> bool:
    """Nobody is reminded of a test they have given today, or a session they have come to."""
    clinic, today = due.clock.clinic, due.clock.today
    if due.test_today and any(
        clinic.local_date(s.collected_at) == today for s in due.enrollment.specimens.all()
    ):
        due.test_today = False
    if due.session_today and any(
        clinic.local_date(a.occurred_at) == today for a in due.enrollment.attendance.all()
    ):
        due.session_today = False
    return due.test_today or due.session_today or due.test_tomorrow


def _promises(dues: list[_Due], rules: _Rules) -> dict[tuple[int, date], notices.Promise]:
    """What a negative test earns on the day each reminder is about, by (enrollment, day): today
    for the test-day reminder, tomorrow for the evening one.

    The engine's award for one more negative that day (engine.next_negative: bonus, recovery,
    phase and caps included), given what the patient's other enrollments earned each year as
    settlement gives it, so the reminder promises exactly what settlement will pay.
    """
    enrollments = [due.enrollment for due in dues]
    year_capped = [e for e in enrollments if rules[e.protocol_id].year_cap_cents is not None]
    elsewhere = ledger.earned_elsewhere_by_year_many(year_capped)
    promises = {}
    for due in dues:
        enrollment, clock = due.enrollment, due.clock
        protocol = rules[enrollment.protocol_id]
        events = enrollment_events(enrollment)
        days = [clock.today] if due.test_today else []
        days += [clock.tomorrow] if due.test_tomorrow else []
        for day in days:
            try:
                award = engine.next_negative(
                    protocol, enrollment.start_date, events, day, elsewhere.get(enrollment.pk)
                )
            except engine.RuleError:
                # The reminder still goes; only the amount is left out. Settlement reports it.
                log.exception("enrollment %s cannot be replayed for its reminder", enrollment.pk)
                continue
            promises[(enrollment.pk, day)] = notices.promise_from(
                is_prize=protocol.kind == engine.PRIZE, award=award
            )
    return promises


def _reminder_rows(due: _Due, promises: dict[tuple[int, date], notices.Promise]) -> list[dict]:
    enrollment, clock = due.enrollment, due.clock
    patient, clinic = enrollment.patient, clock.clinic
    rows = []
    if due.test_today or due.session_today:
        rows += notices.test_reminder_rows(
            patient=patient,
            clinic=clinic,
            enrollment_id=enrollment.pk,
            day=clock.today,
            test_due=due.test_today,
            session_due=due.session_today,
            promise=promises.get((enrollment.pk, clock.today)),
            expires_at=clock.at(clock.today, clinic.closes_at),
        )
    if due.test_tomorrow:
        rows += notices.evening_reminder_rows(
            patient=patient,
            clinic=clinic,
            enrollment_id=enrollment.pk,
            day=clock.tomorrow,
            promise=promises.get((enrollment.pk, clock.tomorrow)),
            # Not worth sending after midnight: by then the test-day reminder is the one to send.
            expires_at=clock.at(clock.tomorrow, time.min),
        )
    return rows


# --- missed tests --------------------------------------------------------------------------------


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
    rules = _Rules()
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


def _clinic_misses(clock: ClinicClock, rules: _Rules):
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
    for chunk in _chunks(enrollments):
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


# --- the patient's choices -----------------------------------------------------------------------


def in_quiet_hours(clinic: Clinic, wall: time) -> bool:
    """Whether `wall` o'clock falls in the clinic's quiet hours (the outbox's own rule)."""
    # Any day without a clock change will do: only the wall time matters.
    moment = datetime.combine(date(2001, 1, 3), wall, tzinfo=clinic.tz)
    return quiet_hours_end_after(clinic, moment) != moment


def reminder_settings_set(
    *,
    patient: Patient,
    reminder_time: time,
    evening_before: bool,
    sms: bool,
    email: bool,
    message_style: str,
    language: str,
) -> Patient:
    """A patient's own reminder choices. Refused, field by field: a reminder time in the clinic's
    quiet hours (it would never come then) or after closing (too late to test), and a channel the
    clinic has no address for."""
    clinic = patient.clinic
    errors = {}
    if in_quiet_hours(clinic, reminder_time):
        errors["reminder_time"] = _(
            "No messages are sent from %(start)s to %(end)s, the clinic's quiet hours: "
            "choose %(end)s or later."
        ) % {"start": _clock(clinic.quiet_hours_start), "end": _clock(clinic.quiet_hours_end)}
    elif reminder_time >= clinic.closes_at:
        errors["reminder_time"] = _(
            "Choose a time before the clinic closes at %(time)s, so there is still time to come in."
        ) % {"time": _clock(clinic.closes_at)}
    if sms and not patient.phone:
        errors["reminder_consent_sms"] = _(
            "The clinic has no phone number for you. Ask your counselor to add it."
        )
    if email and not patient.email:
        errors["reminder_consent_email"] = _(
            "The clinic has no email address for you. Ask your counselor to add it."
        )
    if message_style not in Patient.MessageStyle.values:
        errors["message_style"] = _("Choose how your messages read.")
    if language not in Patient.Language.values:
        errors["preferred_language"] = _("Choose English or Spanish.")
    if errors:
        raise ValidationError(errors)
    patient.reminder_time = reminder_time
    patient.reminder_evening_before = evening_before
    patient.reminder_consent_sms = sms
    patient.reminder_consent_email = email
    patient.message_style = message_style
    patient.preferred_language = language
    patient.save(
        update_fields=[
            "reminder_time",
            "reminder_evening_before",
            "reminder_consent_sms",
            "reminder_consent_email",
            "message_style",
            "preferred_language",
        ]
    )
    return patient


def _clock(wall: time) -> str:
    return formats.time_format(wall, "TIME_FORMAT")
