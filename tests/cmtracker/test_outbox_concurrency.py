"""Sends racing each other on PostgreSQL: every message claimed by exactly one of them.

Real concurrent connections: each thread opens its own, and closes it at the end.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from cmtracker import sms
from cmtracker.models import Notification
from cmtracker.notifications import (
    notification_queue,
    notifications_queue_many,
    notifications_send,
    notifications_send_due,
)
from tests.factories import ClinicFactory, PatientFactory

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
    from cmtracker import tasks

    monkeypatch.setattr(tasks.notifications_send, "delay", lambda ids: None)
    settings.SMS_BACKEND = "tests.cmtracker.test_outbox_concurrency.SlowLocmemSms"
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
