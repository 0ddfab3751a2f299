"""The outbox racing itself on PostgreSQL: every message claimed by exactly one send, and counted
and published by exactly one of two runs that queue it at once.

Real concurrent connections: each thread opens its own, and closes it at the end.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import date, datetime, timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from messaging import sms
from messaging.models import Notification
from messaging.notifications import (
    notification_queue,
    notifications_queue_many,
    notifications_send,
    notifications_send_due,
)
from tests.factories import ClinicFactory, EnrollmentFactory, PatientFactory, preset_protocol

Status = Notification.Status
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


class SlowLocmemSms(sms.LocmemSmsBackend):
    """A provider that takes a moment, so the racers' batches overlap."""

    def send(self, *, to, body):
        time.sleep(0.002)
        return super().send(to=to, body=body)


@pytest.fixture
def outbox(settings, monkeypatch):
    """250 messages due, none sent yet: the tasks after commit went nowhere (a broker outage)."""
    from messaging import tasks

    monkeypatch.setattr(tasks.notifications_send, "delay", lambda ids: None)
    settings.SMS_BACKEND = "tests.messaging.test_outbox_concurrency.SlowLocmemSms"
    clinic = ClinicFactory(slug="race", quiet_hours_start="00:00", quiet_hours_end="00:00")
    patient = PatientFactory(clinic=clinic, phone="+13125550100", reminder_consent_sms=True)
    now = timezone.now() - timedelta(minutes=1)
    rows = [
        dict(
            clinic=clinic,
            kind=Notification.Kind.TEST_REMINDER,
            channel=Notification.Channel.SMS,
            to=patient.phone,
            body=f"message {i}",
            dedupe_key=f"race:{i}",
            patient=patient,
        )
        for i in range(250)
    ]
    notifications_queue_many(rows, now=now)
    return list(Notification.objects.values_list("pk", flat=True))


def race(*jobs) -> list:
    """Run the jobs at once, each in its own thread with its own database connection."""
    start = threading.Barrier(len(jobs))
    results: list = [None] * len(jobs)
    errors: list = []

    def run(i, job):
        try:
            start.wait()
            results[i] = job()
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    return results


def test_two_sweeps_at_once_send_each_message_once(outbox):
    sent = race(notifications_send_due, notifications_send_due)

    bodies = Counter(body for _, body in sms.outbox)
    assert len(bodies) == 250 and set(bodies.values()) == {1}
    assert sum(sent) == 250
    assert set(Notification.objects.values_list("status", flat=True)) == {Status.SENT}
    assert set(Notification.objects.values_list("attempts", flat=True)) == {1}


def test_a_task_delivered_twice_and_a_sweep_send_each_message_once(outbox):
    def task():
        return notifications_send(ids=outbox)

    sent = race(task, task, notifications_send_due)

    assert sum(sent) == 250
    assert len(sms.outbox) == 250
    assert set(Notification.objects.values_list("status", flat=True)) == {Status.SENT}


def test_the_same_key_queued_by_two_transactions_at_once_is_one_message(db):
    clinic = ClinicFactory(slug="race-queue")

    def queue():
        return notification_queue(
            clinic=clinic,
            kind=Notification.Kind.MISSED_DIGEST,
            channel=Notification.Channel.EMAIL,
            to="casey@example.org",
            subject="Missed today",
            body="Nobody missed.",
            dedupe_key="missed_digest:race",
            now=timezone.now(),
        )

    queued = race(*[queue] * 4)

    assert sum(n is not None for n in queued) == 1
    assert Notification.objects.count() == 1


# --- two runs queueing the same messages at once (two beats) -----------------------------------


@pytest.fixture
def published(monkeypatch) -> list[int]:
    """The ids handed to send tasks after each commit."""
    from messaging import tasks

    ids: list[int] = []
    monkeypatch.setattr(tasks.notifications_send, "delay", ids.extend)
    return ids


def test_two_runs_queueing_one_batch_at_once_count_and_publish_each_message_once(published):
    clinic = ClinicFactory(slug="two-beats", quiet_hours_start="00:00", quiet_hours_end="00:00")
    patient = PatientFactory(clinic=clinic, phone="+13125550100", reminder_consent_sms=True)
    now = timezone.now()
    rows = [
        dict(
            clinic=clinic,
            kind=Notification.Kind.TEST_REMINDER,
            channel=Notification.Channel.SMS,
            to=patient.phone,
            body=f"message {i}",
            dedupe_key=f"two-beats:{i}",
            patient=patient,
        )
        for i in range(300)
    ]
    first_inserted = threading.Event()

    def first():
        with transaction.atomic():
            queued = notifications_queue_many(rows, now=now)
            first_inserted.set()
            time.sleep(0.5)  # uncommitted: the second run looks, finds none, and inserts
        return queued

    def second():
        assert first_inserted.wait(timeout=30)
        with transaction.atomic():
            return notifications_queue_many(rows, now=now)

    queued = race(first, second)

    assert queued == [300, 0]
    assert sorted(published) == sorted(Notification.objects.values_list("pk", flat=True))
    assert len(published) == 300


def test_two_reminder_runs_at_once_report_and_publish_only_what_they_queued(published):
    from vouchers.reminders import reminders_queue

    clinic = ClinicFactory(slug="two-beats", time_zone="America/Chicago")
    higgins = preset_protocol("higgins-1994")
    for i in range(150):
        patient = PatientFactory(clinic=clinic, phone=f"+1312555{i:04d}", reminder_consent_sms=True)
        EnrollmentFactory(patient=patient, protocol=higgins, start_date=date(2026, 1, 5))
    monday_nine = datetime(2026, 1, 12, 9, tzinfo=clinic.tz)  # a test day, at reminder time

    queued = race(*[lambda: reminders_queue(now=monday_nine)] * 2)

    rows = Notification.objects.count()
    assert rows == 150
    assert sum(queued) == rows
    assert sorted(published) == sorted(Notification.objects.values_list("pk", flat=True))
