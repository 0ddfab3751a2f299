"""Test-day reminders: at the patient's time, once, only with consent, in their language, saying
what a negative test earns today. The clinic is Riverside (America/Chicago); the Higgins enrollment
starts Monday 2026-01-05, so Mondays, Wednesdays and Fridays are test days."""

from datetime import date, time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from messaging import sms
from messaging.models import Notification
from patients.models import Enrollment
from tests.conftest import at, protocol
from tests.factories import EnrollmentFactory, PatientFactory
from vouchers import recording
from vouchers.reminders import reminders_queue
from vouchers.selectors import reward_summary
from vouchers.templatetags.money import dollars

MONDAY = date(2026, 1, 12)  # week 2
TUESDAY = MONDAY + timedelta(days=1)
SUNDAY = MONDAY - timedelta(days=1)


def moment(clinic, day, hour, minute=0):
    return at(clinic, day, hour).replace(minute=minute)


@pytest.fixture
def reachable(patient):
    patient.phone = "+1 312 555 0101"
    patient.email = "pat@example.com"
    patient.reminder_consent_sms = True
    patient.reminder_consent_email = True
    patient.save()
    return patient


def reminders(**filters):
    return list(Notification.objects.filter(kind="test_reminder", **filters).order_by("channel"))


def negative(patient, day, hour=10):
    return recording.specimen_record(
        patient=patient, collected_at=at(patient.clinic, day, hour), results={"cocaine": "negative"}
    )


# --- when --------------------------------------------------------------------------------------


def test_a_reminder_is_queued_at_the_patients_time_on_a_test_day_and_not_before(
    clinic, reachable, enrollment
):
    assert reminders_queue(now=moment(clinic, MONDAY, 8, 59)) == 0
    assert reminders() == []

    assert reminders_queue(now=moment(clinic, MONDAY, 9)) == 2

    sent = reminders()
    assert [(n.channel, n.to) for n in sent] == [
        ("email", "pat@example.com"),
        ("sms", "+1 312 555 0101"),
    ]
    assert {n.dedupe_key for n in sent} == {
        f"test_reminder:{enrollment.pk}:2026-01-12:email",
        f"test_reminder:{enrollment.pk}:2026-01-12:sms",
    }
    assert all(n.patient == reachable and n.clinic == clinic for n in sent)


def test_the_patients_own_time_counts(clinic, reachable, enrollment):
    reachable.reminder_time = time(13, 30)
    reachable.save()

    assert reminders_queue(now=moment(clinic, MONDAY, 13, 29)) == 0
    assert reminders_queue(now=moment(clinic, MONDAY, 13, 30)) == 2


def test_a_reminder_expires_when_the_clinic_closes(clinic, reachable, enrollment):
    reminders_queue(now=moment(clinic, MONDAY, 9))

    assert {n.expires_at for n in reminders()} == {at(clinic, MONDAY, 17)}


def test_none_is_queued_once_the_clinic_has_closed(clinic, reachable, enrollment):
    assert reminders_queue(now=moment(clinic, MONDAY, 17)) == 0
    assert reminders() == []


def test_none_is_queued_on_a_day_that_is_not_a_test_day(clinic, reachable, enrollment):
    assert reminders_queue(now=moment(clinic, TUESDAY, 9)) == 0


def test_the_enrollments_own_weekdays_decide(clinic, reachable, enrollment):
    enrollment.test_weekdays = [1, 3]  # Tuesday and Thursday
    enrollment.save()

    assert reminders_queue(now=moment(clinic, MONDAY, 10)) == 0
    assert reminders_queue(now=moment(clinic, TUESDAY, 10)) == 2


def test_a_session_day_gets_a_reminder_too(clinic, reachable, enrollment):
    enrollment.session_weekdays = [1]  # a Tuesday group
    enrollment.save()

    reminders_queue(now=moment(clinic, TUESDAY, 9))

    (email, _sms) = reminders()
    assert "You have a therapy session today." in email.body
    assert "test" not in email.body.lower().replace("therapy", "")


def test_a_test_and_a_session_on_one_day_make_one_reminder(clinic, reachable, enrollment):
    enrollment.session_weekdays = [0]
    enrollment.save()

    reminders_queue(now=moment(clinic, MONDAY, 9))

    (email, _sms) = reminders()
    assert "Today is a test day, and you have a therapy session." in email.body


def test_none_before_the_enrollment_starts_or_after_the_protocol_ends(clinic, reachable, higgins):
    start = date(2026, 3, 2)  # Higgins runs 12 weeks: to 2026-05-24
    EnrollmentFactory(patient=reachable, protocol=higgins, start_date=start)

    assert reminders_queue(now=moment(clinic, start - timedelta(days=7), 9)) == 0
    assert reminders_queue(now=moment(clinic, start + timedelta(weeks=12), 9)) == 0
    assert reminders_queue(now=moment(clinic, start + timedelta(weeks=11), 9)) == 2


def test_none_for_a_paused_enrollment(clinic, reachable, enrollment):
    Enrollment.objects.filter(pk=enrollment.pk).update(status="paused")

    assert reminders_queue(now=moment(clinic, MONDAY, 9)) == 0


# --- once ---------------------------------------------------------------------------------------


def test_it_is_queued_once_however_often_the_task_runs(clinic, reachable, enrollment):
    assert reminders_queue(now=moment(clinic, MONDAY, 9)) == 2
    assert reminders_queue(now=moment(clinic, MONDAY, 9, 5)) == 0
    assert reminders_queue(now=moment(clinic, MONDAY, 16, 55)) == 0

    assert len(reminders()) == 2


def test_each_test_day_gets_its_own(clinic, reachable, enrollment):
    reminders_queue(now=moment(clinic, MONDAY, 9))
    reminders_queue(now=moment(clinic, MONDAY + timedelta(days=2), 9))

    assert len(reminders(channel="sms")) == 2


def test_a_reminder_due_now_is_delivered_once(
    clinic, reachable, higgins, django_capture_on_commit_callbacks
):
    """Through the outbox and the (eager) send task, to the in-memory SMS backend."""
    clinic.quiet_hours_start = clinic.quiet_hours_end = time(0, 0)  # none, whatever the hour
    clinic.closes_at = time(23, 59, 59)
    clinic.save()
    reachable.reminder_time = time(0, 0)
    reachable.save()
    now = timezone.now()
    EnrollmentFactory(
        patient=reachable,
        protocol=higgins,
        start_date=clinic.local_date(now),
        test_weekdays=list(range(7)),
    )

    with django_capture_on_commit_callbacks(execute=True):
        reminders_queue(now=now)
    with django_capture_on_commit_callbacks(execute=True):
        reminders_queue(now=now + timedelta(minutes=5))

    assert [to for to, _body in sms.outbox] == ["+1 312 555 0101"]
    assert Notification.objects.get(channel="sms").status == "sent"


# --- to whom -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "channels"),
    [
        ({"reminder_consent_sms": False, "reminder_consent_email": False}, []),
        ({"reminder_consent_sms": False}, ["email"]),
        ({"reminder_consent_email": False}, ["sms"]),
        ({"phone": ""}, ["email"]),
        ({"email": ""}, ["sms"]),
        ({"phone": "", "reminder_consent_email": False}, []),
    ],
    ids=["no-consent", "email-only", "sms-only", "no-phone", "no-email", "consent-without-phone"],
)
def test_only_consented_channels_with_an_address_get_one(
    clinic, reachable, enrollment, changes, channels
):
    for field, value in changes.items():
        setattr(reachable, field, value)
    reachable.save()

    reminders_queue(now=moment(clinic, MONDAY, 9))

    assert [n.channel for n in reminders()] == channels


def test_none_by_sms_after_the_patient_replied_stop(clinic, reachable, enrollment):
    reachable.sms_opted_out_at = moment(clinic, MONDAY - timedelta(days=3), 12)
    reachable.save()

    reminders_queue(now=moment(clinic, MONDAY, 9))

    assert [n.channel for n in reminders()] == ["email"]


def test_none_once_the_specimen_is_in(clinic, reachable, enrollment):
    negative(reachable, MONDAY, hour=8)

    assert reminders_queue(now=moment(clinic, MONDAY, 9)) == 0


def test_a_specimen_from_another_day_does_not_count(clinic, reachable, enrollment):
    negative(reachable, MONDAY - timedelta(days=3), hour=16)

    assert reminders_queue(now=moment(clinic, MONDAY, 9)) == 2


# --- what it says --------------------------------------------------------------------------------


def test_it_says_what_a_negative_test_earns_today(clinic, reachable, enrollment):
    negative(reachable, date(2026, 1, 7))
    negative(reachable, date(2026, 1, 9))
    summary = reward_summary(patient=reachable, today=MONDAY)

    reminders_queue(now=moment(clinic, MONDAY, 9))

    (email, sms_message) = reminders()
    expected = f"A negative test today earns {dollars(summary.next_cents)}."
    assert summary.next_cents == 1500  # the third negative in a row: $5.00 and the $10.00 bonus
    assert expected in sms_message.body
    assert expected in email.body
    assert email.body.startswith("Riverside Recovery: Today is a test day.")
    assert email.subject == "Test day today"


def _higgins(patient, days, result="negative"):
    for day in days:
        recording.specimen_record(
            patient=patient, collected_at=at(patient.clinic, day), results={"cocaine": result}
        )


def _recovery_history(patient):
    """Six negatives, a positive (back to $2.50), four negatives: the fifth restores $10.00."""
    _higgins(patient, [date(2026, 1, d) for d in (5, 7, 9, 12, 14, 16)])
    _higgins(patient, [date(2026, 1, 19)], "positive")
    _higgins(patient, [date(2026, 1, d) for d in (21, 23, 26, 28)])
    return date(2026, 1, 30)


def _bonus_history(patient):
    """Two negatives: the third earns the $10.00 bonus too."""
    _higgins(patient, [date(2026, 1, 5), date(2026, 1, 7)])
    return date(2026, 1, 9)


def _first_negative(patient):
    return date(2026, 1, 5)


@pytest.mark.parametrize(
    "history",
    [_first_negative, _bonus_history, _recovery_history],
    ids=["first", "bonus", "recovery"],
)
def test_the_promise_is_what_the_negative_then_earns(clinic, reachable, enrollment, history):
    """Today's reminder, the portal and the award notice all promise the engine's own award:
    the bonus and the recovered level included, not just the voucher's next step."""
    day = history(reachable)
    promised = reward_summary(patient=reachable, today=day).next_cents
    reminders_queue(now=moment(clinic, day, 9))
    (email, _sms) = reminders()

    earned = negative(reachable, day).award.total_cents

    assert promised == earned
    assert f"A negative test today earns {dollars(earned)}." in email.body


def test_the_first_test_of_a_cheaper_phase_promises_that_phases_value(clinic, reachable):
    """CA-RIP pays $5.00 a negative from week 13, whatever the streak reached before."""
    EnrollmentFactory(patient=reachable, protocol=protocol("ca-rip"), start_date=date(2026, 1, 5))
    stimulants = dict.fromkeys(("cocaine", "amphetamine", "methamphetamine"), "negative")
    for week in range(12):
        day = date(2026, 1, 5) + timedelta(weeks=week)
        recording.specimen_record(
            patient=reachable, collected_at=at(clinic, day), results=stimulants
        )
    week13 = date(2026, 1, 5) + timedelta(weeks=12)
    reminders_queue(now=moment(clinic, week13, 9))
    (email, _sms) = reminders()

    earned = recording.specimen_record(
        patient=reachable, collected_at=at(clinic, week13, 10), results=stimulants
    ).award.total_cents

    assert earned == 500
    assert "A negative test today earns $5.00." in email.body


def test_no_sentence_ends_twice_after_a_time(clinic, reachable, enrollment):
    """English times end in a full stop ("5 p.m."): no "5 p.m.." in what the patient reads."""
    reminders_queue(now=moment(clinic, MONDAY, 9))

    for message in reminders():
        assert ".." not in message.body
        assert "open until 5 p.m. today." in message.body


def test_a_prize_protocol_says_draws(clinic, reachable):
    EnrollmentFactory(
        patient=reachable, protocol=protocol("petry-fishbowl"), start_date=date(2026, 1, 5)
    )

    reminders_queue(now=moment(clinic, MONDAY, 9))

    (email, _sms) = reminders()
    assert "A negative test today earns 1 prize draw." in email.body


def test_a_capped_protocol_promises_what_the_portal_promises(clinic, reachable):
    EnrollmentFactory(patient=reachable, protocol=protocol("ca-rip"), start_date=date(2026, 1, 5))
    results = dict.fromkeys(("cocaine", "amphetamine", "methamphetamine"), "negative")
    for day in (date(2026, 1, 5), date(2026, 1, 7), date(2026, 1, 9)):
        recording.specimen_record(patient=reachable, collected_at=at(clinic, day), results=results)
    summary = reward_summary(patient=reachable, today=MONDAY)
    promise = min(summary.next_cents, summary.cap_remaining_cents)

    reminders_queue(now=moment(clinic, MONDAY, 9))

    (email, _sms) = reminders()
    assert summary.cap_remaining_cents is not None
    assert f"A negative test today earns {dollars(promise)}." in email.body


def test_it_is_written_in_the_patients_language(clinic, reachable, enrollment):
    reachable.preferred_language = "es"
    reachable.save()

    reminders_queue(now=moment(clinic, MONDAY, 9))

    (email, _sms) = reminders()
    assert email.body.startswith("Riverside Recovery: Hoy es día de prueba.")
    assert "Una prueba negativa hoy gana $2.50." in email.body
    assert email.subject == "Hoy es día de prueba"


# --- the evening before ---------------------------------------------------------------------------


def evening(**filters):
    return list(Notification.objects.filter(kind="evening_reminder", **filters))


def test_the_evening_before_a_test_day_when_the_patient_asked(clinic, reachable, enrollment):
    reachable.reminder_evening_before = True
    reachable.save()

    assert reminders_queue(now=moment(clinic, SUNDAY, 17, 59)) == 0
    assert reminders_queue(now=moment(clinic, SUNDAY, 18)) == 2

    (email, _sms) = sorted(evening(), key=lambda n: n.channel)
    assert email.dedupe_key == f"evening_reminder:{enrollment.pk}:2026-01-12:email"
    assert "Tomorrow, Monday, January 12, is a test day." in email.body
    assert "A negative test tomorrow earns $2.50." in email.body
    assert email.expires_at == at(clinic, MONDAY, 0)


def test_the_evening_before_in_spanish_names_the_day_as_spanish_does(clinic, reachable, enrollment):
    reachable.reminder_evening_before = True
    reachable.preferred_language = "es"
    reachable.save()

    reminders_queue(now=moment(clinic, SUNDAY, 18))

    (email, _sms) = sorted(evening(), key=lambda n: n.channel)
    assert "Mañana, lunes 12 de enero, es día de prueba." in email.body


def test_no_evening_reminder_without_asking_or_before_a_day_without_a_test(
    clinic, reachable, enrollment
):
    assert reminders_queue(now=moment(clinic, SUNDAY, 19)) == 0

    reachable.reminder_evening_before = True
    reachable.save()
    assert reminders_queue(now=moment(clinic, MONDAY, 19)) == 0  # Tuesday is no test day
    assert evening() == []


# --- cost ---------------------------------------------------------------------------------------


def enrol(clinic, higgins, count, *, due: bool):
    """`count` reachable patients on Higgins; due at 09:00 on MONDAY, or not (a later time)."""
    for _ in range(count):
        patient = PatientFactory(
            clinic=clinic,
            phone="+1 312 555 0199",
            reminder_consent_sms=True,
            reminder_time=time(9) if due else time(15),
        )
        enrollment = EnrollmentFactory(
            patient=patient, protocol=higgins, start_date=date(2026, 1, 5)
        )
        recording.specimen_record(
            patient=patient,
            collected_at=at(clinic, date(2026, 1, 9)),
            results={"cocaine": "negative"},
        )
        assert enrollment.pk


def queries_for(now) -> int:
    with CaptureQueriesContext(connection) as captured:
        reminders_queue(now=now)
    return len(captured)


def test_enrollments_not_yet_due_cost_no_queries_each(clinic, higgins):
    enrol(clinic, higgins, 5, due=False)
    few = queries_for(moment(clinic, MONDAY, 10))
    enrol(clinic, higgins, 40, due=False)
    many = queries_for(moment(clinic, MONDAY, 10))

    assert few == many
    assert Notification.objects.filter(kind="test_reminder").count() == 0


def test_due_enrollments_cost_a_fixed_number_of_queries_per_chunk(clinic, higgins):
    enrol(clinic, higgins, 5, due=True)
    few = queries_for(moment(clinic, MONDAY, 10))
    enrol(clinic, higgins, 40, due=True)
    many = queries_for(moment(clinic, MONDAY, 10, 5))  # the first 5 are already reminded

    assert Notification.objects.filter(kind="test_reminder").count() == 45
    assert few == many
    # Clinics; the chunk; its protocols and phases; queued keys; specimens and sessions; the
    # outbox's keys, insert and ids (in a savepoint); the empty chunk that ends the run.
    assert many <= 13


def test_a_run_with_nobody_due_is_a_couple_of_queries(clinic, higgins):
    enrol(clinic, higgins, 10, due=True)

    assert queries_for(moment(clinic, MONDAY, 18)) <= 2  # closed: nobody's window is open


def test_the_beat_task_reads_the_clock_and_queues_what_is_due(clinic, reachable, higgins):
    from vouchers import tasks

    clinic.closes_at = time(23, 59, 59)
    clinic.save()
    reachable.reminder_time = time(0, 0)
    reachable.save()
    today = clinic.local_date(timezone.now())
    EnrollmentFactory(
        patient=reachable, protocol=higgins, start_date=today, test_weekdays=list(range(7))
    )

    assert tasks.reminders_queue.delay().get() == 2
    assert tasks.reminders_queue.delay().get() == 0
    assert {n.dedupe_key.split(":")[2] for n in reminders()} == {today.isoformat()}
