"""The outbox: queued once, sent once when due, never at night, retried with backoff, then shown.

Times are explicit: the Riverside clinic is in America/Chicago with quiet hours 21:00-08:00.
"""

import signal
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.core import mail
from django.db import transaction

from cmtracker.models import Clinic
from messaging import notifications, sms
from messaging.models import Notification
from messaging.notifications import (
    backoff,
    notification_queue,
    notifications_queue_many,
    notifications_send,
    notifications_send_due,
    quiet_hours_end_after,
)
from tests.conftest import at

Status = Notification.Status
CHICAGO = ZoneInfo("America/Chicago")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
TUESDAY = date(2026, 3, 3)


def local(day: date, hh: int, mm: int = 0, tz=CHICAGO) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=tz)


# --- quiet hours (pure) --------------------------------------------------------------------------


def _clinic(start, end, tz="America/Chicago") -> Clinic:
    return Clinic(time_zone=tz, quiet_hours_start=start, quiet_hours_end=end)


NIGHT = (time(21), time(8))  # across midnight
SIESTA = (time(13), time(15))  # within one day


@pytest.mark.parametrize(
    ("hours", "moment", "expected"),
    [
        (NIGHT, local(TUESDAY, 9), local(TUESDAY, 9)),
        (NIGHT, local(TUESDAY, 20, 59), local(TUESDAY, 20, 59)),
        (NIGHT, local(TUESDAY, 21), local(TUESDAY + timedelta(1), 8)),
        (NIGHT, local(TUESDAY, 23, 30), local(TUESDAY + timedelta(1), 8)),
        (NIGHT, local(TUESDAY, 0, 10), local(TUESDAY, 8)),
        (NIGHT, local(TUESDAY, 7, 59), local(TUESDAY, 8)),
        (NIGHT, local(TUESDAY, 8), local(TUESDAY, 8)),
        (SIESTA, local(TUESDAY, 12, 59), local(TUESDAY, 12, 59)),
        (SIESTA, local(TUESDAY, 14), local(TUESDAY, 15)),
        (SIESTA, local(TUESDAY, 15), local(TUESDAY, 15)),
        (SIESTA, local(TUESDAY, 23), local(TUESDAY, 23)),
        ((time(8), time(8)), local(TUESDAY, 3), local(TUESDAY, 3)),
    ],
)
def test_a_moment_in_quiet_hours_moves_to_their_end(hours, moment, expected):
    assert quiet_hours_end_after(_clinic(*hours), moment) == expected


@pytest.mark.parametrize(
    ("moment", "expected_utc"),
    [
        # Spring forward, Sunday 2026-03-08: 08:00 local is 13:00 UTC (CDT), the night before
        # began in CST (UTC-6); the night of the change is 7 hours long on the wall, 6 in UTC.
        (local(date(2026, 3, 7), 22), datetime(2026, 3, 8, 13, tzinfo=ZoneInfo("UTC"))),
        # Fall back, Sunday 2026-11-01: 08:00 local is 14:00 UTC (CST again).
        (local(date(2026, 10, 31), 22), datetime(2026, 11, 1, 14, tzinfo=ZoneInfo("UTC"))),
    ],
)
def test_quiet_hours_end_at_8_local_across_daylight_saving_changes(moment, expected_utc):
    end = quiet_hours_end_after(_clinic(*NIGHT), moment)
    assert end == expected_utc
    assert end.astimezone(CHICAGO).time() == time(8)


def test_quiet_hours_are_the_clinics_own_wall_clock():
    """22:30 in Chicago is 20:30 in Los Angeles: quiet for the one clinic, not for the other."""
    moment = local(TUESDAY, 22, 30)
    assert quiet_hours_end_after(_clinic(*NIGHT, tz="America/Los_Angeles"), moment) == moment
    assert quiet_hours_end_after(_clinic(*NIGHT), moment) == local(TUESDAY + timedelta(1), 8)


@pytest.mark.parametrize(
    ("attempts", "minutes"),
    [(1, 1), (2, 2), (3, 4), (4, 8), (6, 32), (7, 60), (8, 60), (500, 60)],
)
def test_backoff_doubles_from_a_minute_up_to_an_hour(attempts, minutes):
    assert backoff(attempts) == timedelta(minutes=minutes)


# --- queueing ------------------------------------------------------------------------------------


def _sms(clinic, patient, key="k1", **extra):
    fields = dict(
        clinic=clinic,
        kind=Notification.Kind.TEST_REMINDER,
        channel=Notification.Channel.SMS,
        to="+13125550100",
        body=f"Test today {key}",
        dedupe_key=key,
        patient=patient,
    )
    fields.update(extra)
    return fields


@pytest.fixture
def texting(patient):
    """Takes texts, and email at pat@example.org."""
    patient.phone = "+1 (312) 555-0100"
    patient.reminder_consent_sms = True
    patient.email = "pat@example.org"
    patient.reminder_consent_email = True
    patient.save()
    return patient


def test_a_message_is_queued_once_per_dedupe_key(clinic, texting):
    now = local(TUESDAY, 9)
    first = notification_queue(**_sms(clinic, texting), now=now)
    again = notification_queue(**_sms(clinic, texting, body="changed"), now=now)

    assert first is not None and again is None
    assert Notification.objects.get().body == "Test today k1"


def test_a_duplicate_does_not_break_the_callers_transaction(clinic, texting, counselor):
    now = local(TUESDAY, 9)
    notification_queue(**_sms(clinic, texting), now=now)
    with transaction.atomic():
        assert notification_queue(**_sms(clinic, texting), now=now) is None
        # The caller's own writes after the duplicate still work and commit.
        counselor.first_name = "Casey"
        counselor.save()
    counselor.refresh_from_db()
    assert counselor.first_name == "Casey"


def test_a_patient_message_in_quiet_hours_waits_for_the_morning(clinic, texting):
    queued = notification_queue(**_sms(clinic, texting), now=local(TUESDAY, 22))

    assert queued.not_before == local(TUESDAY + timedelta(1), 8)
    assert notifications_send_due(now=local(TUESDAY, 23)) == 0
    assert sms.outbox == []
    assert notifications_send_due(now=local(TUESDAY + timedelta(1), 8)) == 1
    assert sms.outbox == [("+13125550100", "Test today k1")]


def test_a_staff_digest_is_not_held_back_by_quiet_hours(clinic, counselor):
    queued = notification_queue(
        clinic=clinic,
        kind=Notification.Kind.MISSED_DIGEST,
        channel=Notification.Channel.EMAIL,
        to="casey@example.org",
        subject="Missed today",
        body="Nobody missed.",
        dedupe_key="digest",
        user=counselor,
        now=local(TUESDAY, 22),
    )
    assert queued.not_before == local(TUESDAY, 22)


def test_many_are_queued_in_bulk_skipping_known_keys(clinic, texting):
    now = local(TUESDAY, 9)
    notification_queue(**_sms(clinic, texting, key="a"), now=now)
    rows = [_sms(clinic, texting, key=k) for k in ("a", "b", "c", "c")]

    assert notifications_queue_many(rows, now=now) == 2
    assert notifications_queue_many(rows, now=now) == 0
    assert sorted(Notification.objects.values_list("dedupe_key", flat=True)) == ["a", "b", "c"]


def test_many_in_quiet_hours_wait_too(clinic, texting):
    notifications_queue_many([_sms(clinic, texting)], now=local(TUESDAY, 6))
    assert Notification.objects.get().not_before == local(TUESDAY, 8)


def test_after_commit_one_task_sends_what_the_transaction_queued(
    clinic, texting, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with transaction.atomic():
            notification_queue(**_sms(clinic, texting, key="a"), now=at(clinic, TUESDAY, 9))
            notifications_queue_many(
                [_sms(clinic, texting, key=k) for k in "bc"], now=at(clinic, TUESDAY, 9)
            )

    assert len(callbacks) == 1
    assert sorted(body for _, body in sms.outbox) == [f"Test today {k}" for k in "abc"]
    assert set(Notification.objects.values_list("status", flat=True)) == {Status.SENT}


def test_a_rolled_back_transaction_queues_and_sends_nothing(
    clinic, texting, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            notification_queue(**_sms(clinic, texting, key="lost"), now=at(clinic, TUESDAY, 9))
            raise RuntimeError("the cause failed")
        with transaction.atomic():
            notification_queue(**_sms(clinic, texting, key="kept"), now=at(clinic, TUESDAY, 9))

    assert [body for _, body in sms.outbox] == ["Test today kept"]


def test_a_broker_outage_after_commit_does_not_fail_the_caller(
    clinic, texting, django_capture_on_commit_callbacks, monkeypatch
):
    from messaging import tasks

    def broker_down(*args, **kwargs):
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(tasks.notifications_send, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            notification_queue(**_sms(clinic, texting), now=local(TUESDAY, 9))

    assert Notification.objects.get().status == Status.PENDING
    assert notifications_send_due(now=local(TUESDAY, 9, 1)) == 1


# --- sending -------------------------------------------------------------------------------------


def test_a_message_is_sent_once_however_often_it_is_asked_for(clinic, texting):
    queued = notification_queue(**_sms(clinic, texting), now=local(TUESDAY, 9))
    now = local(TUESDAY, 9, 1)

    assert notifications_send(ids=[queued.pk], now=now) == 1
    assert notifications_send(ids=[queued.pk], now=now) == 0
    assert notifications_send_due(now=now) == 0
    assert len(sms.outbox) == 1
    queued.refresh_from_db()
    assert (queued.status, queued.sent_at, queued.attempts) == (Status.SENT, now, 1)
    assert queued.provider_id == "locmem-1"


def test_a_message_is_not_sent_before_its_time(clinic, texting):
    queued = notification_queue(
        **_sms(clinic, texting), now=local(TUESDAY, 9), not_before=local(TUESDAY, 10)
    )
    assert notifications_send(ids=[queued.pk], now=local(TUESDAY, 9, 59)) == 0
    assert notifications_send(ids=[queued.pk], now=local(TUESDAY, 10)) == 1


def test_email_goes_through_djangos_email_backend(clinic, counselor):
    notification_queue(
        clinic=clinic,
        kind=Notification.Kind.MISSED_DIGEST,
        channel=Notification.Channel.EMAIL,
        to="casey@example.org",
        subject="Missed tests today",
        body="Two patients missed.",
        dedupe_key="digest",
        user=counselor,
        now=local(TUESDAY, 17),
    )
    assert notifications_send_due(now=local(TUESDAY, 17, 1)) == 1
    [message] = mail.outbox
    assert (message.to, message.subject, message.body) == (
        ["casey@example.org"],
        "Missed tests today",
        "Two patients missed.",
    )


def test_an_expired_reminder_is_not_sent(clinic, texting):
    queued = notification_queue(
        **_sms(clinic, texting), now=local(TUESDAY, 9), expires_at=local(TUESDAY, 17)
    )
    assert notifications_send(ids=[queued.pk], now=local(TUESDAY, 17)) == 0
    queued.refresh_from_db()
    assert queued.status == Status.EXPIRED
    assert notifications_send_due(now=local(TUESDAY, 18)) == 0
    assert sms.outbox == []


def test_the_sweep_expires_what_is_past_its_time(clinic, texting):
    notification_queue(
        **_sms(clinic, texting), now=local(TUESDAY, 9), expires_at=local(TUESDAY, 17)
    )
    assert notifications_send_due(now=local(TUESDAY, 18)) == 0
    assert Notification.objects.get().status == Status.EXPIRED
    assert sms.outbox == []


def test_a_claim_held_by_a_live_worker_is_left_alone_and_a_lapsed_one_is_taken(
    clinic, texting, settings
):
    settings.NOTIFICATION_CLAIM_LEASE = timedelta(minutes=10)
    queued = notification_queue(**_sms(clinic, texting), now=local(TUESDAY, 9))
    Notification.objects.filter(pk=queued.pk).update(
        status=Status.SENDING, claim_token="dead-worker", claimed_at=local(TUESDAY, 9), attempts=1
    )

    assert notifications_send_due(now=local(TUESDAY, 9, 9)) == 0
    assert notifications_send_due(now=local(TUESDAY, 9, 11)) == 1
    queued.refresh_from_db()
    assert (queued.status, queued.attempts) == (Status.SENT, 2)
    assert len(sms.outbox) == 1


# --- what was true when it was queued may not be when it goes ----------------------------------


def test_a_text_waiting_for_the_morning_is_not_sent_once_the_patient_turned_texts_off(
    clinic, texting
):
    queued = notification_queue(**_sms(clinic, texting), now=local(TUESDAY, 22))  # waits for 08:00
    texting.reminder_consent_sms = False
    texting.save()

    assert notifications_send_due(now=local(TUESDAY + timedelta(1), 8)) == 0
    queued.refresh_from_db()
    assert queued.status == Status.CANCELLED
    assert queued.last_error == notifications.NO_CONSENT
    assert sms.outbox == []


def test_a_waiting_text_goes_to_the_number_the_patient_has_now(clinic, texting):
    notification_queue(**_sms(clinic, texting), now=local(TUESDAY, 22))
    texting.phone = "+1 773 555 0199"
    texting.save()

    assert notifications_send_due(now=local(TUESDAY + timedelta(1), 8)) == 1
    assert [to for to, _body in sms.outbox] == ["+1 773 555 0199"]


class FailingOnceSms(sms.BaseSmsBackend):
    failed = False

    def send(self, *, to, body):
        if not FailingOnceSms.failed:
            FailingOnceSms.failed = True
            raise ConnectionError("provider unreachable")
        return sms.LocmemSmsBackend().send(to=to, body=body)


def test_a_text_that_failed_just_before_quiet_hours_is_retried_in_the_morning(
    clinic, texting, settings
):
    settings.SMS_BACKEND = "tests.messaging.test_notifications.FailingOnceSms"
    FailingOnceSms.failed = False
    queued = notification_queue(**_sms(clinic, texting), now=local(TUESDAY, 20, 59))

    notifications_send_due(now=local(TUESDAY, 20, 59))

    queued.refresh_from_db()
    assert queued.not_before == local(TUESDAY + timedelta(1), 8)
    assert notifications_send_due(now=local(TUESDAY, 21, 1)) == 0
    assert notifications_send_due(now=local(TUESDAY + timedelta(1), 8)) == 1


class FailingSms(sms.BaseSmsBackend):
    def send(self, *, to, body):
        raise ConnectionError("provider unreachable")


def test_a_failing_send_retries_with_growing_backoff_then_fails(clinic, texting, settings):
    settings.SMS_BACKEND = "tests.messaging.test_notifications.FailingSms"
    settings.NOTIFICATION_MAX_ATTEMPTS = 4
    queued = notification_queue(**_sms(clinic, texting), now=local(TUESDAY, 9))

    now = local(TUESDAY, 9)
    waits = []
    for _ in range(3):
        assert notifications_send_due(now=now) == 0
        queued.refresh_from_db()
        assert queued.status == Status.PENDING
        waits.append(queued.not_before - now)
        assert notifications_send_due(now=queued.not_before - timedelta(seconds=1)) == 0
        now = queued.not_before
    notifications_send_due(now=now)

    queued.refresh_from_db()
    assert waits == [timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=4)]
    assert (queued.status, queued.attempts) == (Status.FAILED, 4)
    assert queued.last_error == "ConnectionError: provider unreachable"
    assert notifications_send_due(now=now + timedelta(days=1)) == 0


def test_a_failure_in_one_message_does_not_hold_up_the_others(clinic, texting, settings):
    settings.SMS_BACKEND = "tests.messaging.test_notifications.FailingSms"
    notification_queue(**_sms(clinic, texting), now=local(TUESDAY, 9))
    notification_queue(
        clinic=clinic,
        kind=Notification.Kind.AWARD,
        channel=Notification.Channel.EMAIL,
        to="pat@example.org",
        subject="You earned $2.50",
        body="Well done.",
        dedupe_key="award-email",
        patient=texting,
        now=local(TUESDAY, 9),
    )
    assert notifications_send_due(now=local(TUESDAY, 9)) == 1
    assert len(mail.outbox) == 1


# --- opting out ----------------------------------------------------------------------------------


def test_an_opted_out_patients_sms_is_cancelled_not_sent(clinic, texting):
    queued = notification_queue(**_sms(clinic, texting), now=local(TUESDAY, 9))
    texting.sms_opted_out_at = local(TUESDAY, 8)
    texting.save()

    assert notifications_send_due(now=local(TUESDAY, 9)) == 0
    queued.refresh_from_db()
    assert queued.status == Status.CANCELLED
    assert sms.outbox == []


class OptedOutSms(sms.BaseSmsBackend):
    def send(self, *, to, body):
        raise sms.SmsOptedOut("Attempt to send to unsubscribed recipient")


def test_a_provider_stop_cancels_the_message_and_opts_the_patient_out(clinic, texting, settings):
    settings.SMS_BACKEND = "tests.messaging.test_notifications.OptedOutSms"
    queued = notification_queue(**_sms(clinic, texting), now=local(TUESDAY, 9))
    later = notification_queue(**_sms(clinic, texting, key="k2"), now=local(TUESDAY, 9))

    notifications_send(ids=[queued.pk], now=local(TUESDAY, 9, 5))

    queued.refresh_from_db()
    texting.refresh_from_db()
    assert queued.status == Status.CANCELLED
    assert queued.attempts == 1
    assert texting.sms_opted_out_at == local(TUESDAY, 9, 5)
    settings.SMS_BACKEND = "messaging.sms.LocmemSmsBackend"
    notifications_send(ids=[later.pk], now=local(TUESDAY, 9, 6))
    later.refresh_from_db()
    assert later.status == Status.CANCELLED
    assert sms.outbox == []


def test_an_opted_out_patient_still_gets_email(clinic, texting):
    texting.sms_opted_out_at = local(TUESDAY, 8)
    texting.save()
    notification_queue(
        clinic=clinic,
        kind=Notification.Kind.TEST_REMINDER,
        channel=Notification.Channel.EMAIL,
        to="pat@example.org",
        subject="Test day",
        body="Test today.",
        dedupe_key="email",
        patient=texting,
        now=local(TUESDAY, 9),
    )
    assert notifications_send_due(now=local(TUESDAY, 9)) == 1


# --- staff: send again ---------------------------------------------------------------------------


def test_send_again_late_at_night_waits_for_the_morning(clinic, texting, counselor):
    queued = notification_queue(**_sms(clinic, texting), now=local(TUESDAY, 9))
    Notification.objects.filter(pk=queued.pk).update(status=Status.FAILED, attempts=8)

    notifications.notification_retry(notification=queued, actor=counselor, now=local(TUESDAY, 23))

    queued.refresh_from_db()
    assert queued.not_before == local(TUESDAY + timedelta(1), 8)
    assert notifications_send_due(now=local(TUESDAY, 23, 30)) == 0
    assert sms.outbox == []


def test_staff_send_a_failed_message_again_keeping_its_attempts(clinic, texting, counselor):
    queued = notification_queue(**_sms(clinic, texting), now=local(TUESDAY, 9))
    Notification.objects.filter(pk=queued.pk).update(
        status=Status.FAILED, attempts=8, last_error="ConnectionError: provider unreachable"
    )
    queued.refresh_from_db()

    assert notifications.notification_retry(
        notification=queued, actor=counselor, now=local(TUESDAY, 12)
    )
    assert not notifications.notification_retry(notification=queued, actor=counselor)
    queued.refresh_from_db()
    assert (queued.status, queued.attempts, queued.not_before) == (
        Status.PENDING,
        8,
        local(TUESDAY, 12),
    )
    assert queued.last_error == "ConnectionError: provider unreachable"
    assert notifications_send_due(now=local(TUESDAY, 12)) == 1
    queued.refresh_from_db()
    assert (queued.status, queued.attempts) == (Status.SENT, 9)


class OutOfTimeSms(sms.LocmemSmsBackend):
    """Celery's soft time limit strikes during the second send."""

    def send(self, *, to, body):
        if len(sms.outbox) == 1:
            raise SoftTimeLimitExceeded()
        return super().send(to=to, body=body)


def test_a_batch_out_of_time_leaves_what_it_did_not_reach_for_the_next_send(
    clinic, texting, settings
):
    settings.SMS_BACKEND = "tests.messaging.test_notifications.OutOfTimeSms"
    ids = [
        notification_queue(**_sms(clinic, texting, key=k), now=local(TUESDAY, 9)).pk for k in "abc"
    ]

    with pytest.raises(SoftTimeLimitExceeded):
        notifications_send(ids=ids, now=local(TUESDAY, 9))

    statuses = dict(Notification.objects.values_list("dedupe_key", "status"))
    assert statuses == {"a": Status.SENT, "b": Status.PENDING, "c": Status.PENDING}
    settings.SMS_BACKEND = "messaging.sms.LocmemSmsBackend"
    assert notifications_send_due(now=local(TUESDAY, 9)) == 2
    assert sorted(body for _, body in sms.outbox) == [f"Test today {k}" for k in "abc"]


@pytest.fixture
def soft_time_limit():
    """SIGUSR1 raises SoftTimeLimitExceeded in this process, as in a Celery prefork child."""

    def out_of_time(signum, frame):
        raise SoftTimeLimitExceeded()

    previous = signal.signal(signal.SIGUSR1, out_of_time)
    yield
    signal.signal(signal.SIGUSR1, previous)


class TakenThenOutOfTimeSms(sms.LocmemSmsBackend):
    """The provider takes the first message; the soft time limit strikes before its answer."""

    def send(self, *, to, body):
        provider_id = super().send(to=to, body=body)
        if len(sms.outbox) == 1:
            signal.raise_signal(signal.SIGUSR1)
        return provider_id


def test_a_soft_time_limit_while_the_provider_has_a_message_does_not_send_it_twice(
    clinic, texting, settings, soft_time_limit
):
    settings.SMS_BACKEND = "tests.messaging.test_notifications.TakenThenOutOfTimeSms"
    ids = [
        notification_queue(**_sms(clinic, texting, key=k), now=local(TUESDAY, 9)).pk for k in "abc"
    ]

    with pytest.raises(SoftTimeLimitExceeded):
        notifications_send(ids=ids, now=local(TUESDAY, 9))

    statuses = dict(Notification.objects.values_list("dedupe_key", "status"))
    assert statuses == {"a": Status.SENT, "b": Status.PENDING, "c": Status.PENDING}
    settings.SMS_BACKEND = "messaging.sms.LocmemSmsBackend"
    assert notifications_send_due(now=local(TUESDAY, 9)) == 2
    assert sorted(body for _, body in sms.outbox) == [f"Test today {k}" for k in "abc"]
