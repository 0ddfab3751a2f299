"""Reminders on test and session days, and the patient's own reminder choices.

`reminders_queue` takes the clock (`now`) and runs from Celery beat every five minutes
(vouchers.tasks). Running it twice, or two at once, queues nothing the second time: every message
has a dedupe key in the outbox. The clinic's clock (vouchers.rounds) says whose reminder time has
come; the outbox's quiet hours say when a reminder may not be set.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Prefetch, Q, prefetch_related_objects
from django.utils import formats
from django.utils.translation import gettext as _

from cmtracker.models import Clinic
from messaging.models import Notification
from messaging.notifications import notifications_queue_many, quiet_hours_end_after
from patients.models import Attendance, Enrollment, Patient, Specimen
from vouchers import engine, ledger, notices
from vouchers.rounds import ClinicClock, ProtocolRules, clinic_clocks, enrollments_chunked
from vouchers.schedule import is_test_day
from vouchers.settlement import enrollment_events

log = logging.getLogger(__name__)


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
    rules = ProtocolRules()
    queued = 0
    for chunk in enrollments_chunked(enrollments):
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


def _promises(dues: list[_Due], rules: ProtocolRules) -> dict[tuple[int, date], notices.Promise]:
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
