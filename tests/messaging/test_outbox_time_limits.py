"""Celery's soft time limit striking in the middle of a database call, on PostgreSQL.

In a prefork worker the limit is a SIGUSR1 to the task's process, whose handler raises
SoftTimeLimitExceeded wherever the code is: here inside the wait for PostgreSQL's answer, which
leaves that connection mid-reply. The database is made slow (each UPDATE of the outbox sleeps)
so the signal lands inside the call named.
"""

from __future__ import annotations

import signal
import threading
from collections import Counter
from datetime import timedelta

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.db import connection
from django.utils import timezone

from messaging import sms
from messaging.models import Notification
from messaging.notifications import notification_queue, notifications_send, notifications_send_due
from tests.cmtracker import workers
from tests.factories import ClinicFactory, PatientFactory

Status = Notification.Status
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]
SLOW_UPDATE = 0.5


@pytest.fixture
def soft_time_limit():
    """SIGUSR1 raises SoftTimeLimitExceeded in this process, as in a Celery prefork child."""

    def out_of_time(signum, frame):
        raise SoftTimeLimitExceeded()

    previous = signal.signal(signal.SIGUSR1, out_of_time)
    yield
    signal.signal(signal.SIGUSR1, previous)


@pytest.fixture
def three(db, monkeypatch):
    """Three texts due, unsent: only the send a test makes sends them."""
    from messaging import tasks

    monkeypatch.setattr(tasks.notifications_send, "delay", lambda ids: None)
    clinic = ClinicFactory(slug="time-limits", quiet_hours_start="00:00", quiet_hours_end="00:00")
    patient = PatientFactory(clinic=clinic, phone="+13125550100", reminder_consent_sms=True)
    queued = timezone.now() - timedelta(minutes=1)
    return [
        notification_queue(
            clinic=clinic,
            kind=Notification.Kind.TEST_REMINDER,
            channel=Notification.Channel.SMS,
            to=patient.phone,
            body=f"Test today {key}",
            dedupe_key=key,
            patient=patient,
            now=queued,
        ).pk
        for key in "abc"
    ]


def interrupt_inside(statement):
    """An execute wrapper: the first database call after the first message went out for which
    `statement(sql, params)` holds gets the soft time limit a moment after it starts, while
    PostgreSQL is still working on it."""
    main = threading.main_thread().ident
    fired = []

    def wrapper(execute, sql, params, many, context):
        if not fired and len(sms.outbox) == 1 and statement(sql, params or ()):
            fired.append(sql)
            threading.Timer(SLOW_UPDATE / 5, signal.pthread_kill, [main, signal.SIGUSR1]).start()
        return execute(sql, params, many, context)

    return wrapper, fired


def is_update(sql, params) -> bool:
    return sql.startswith("UPDATE")


def is_claim(sql, params) -> bool:
    return sql.startswith("UPDATE") and Status.SENDING in params


def sent_once_each() -> bool:
    bodies = Counter(body for _to, body in sms.outbox)
    return sorted(bodies) == [f"Test today {k}" for k in "abc"] and set(bodies.values()) == {1}


def test_out_of_time_while_its_row_is_marked_sent_a_message_stays_sent_and_the_rest_wait(
    three, soft_time_limit
):
    wrapper, fired = interrupt_inside(is_update)

    with workers.slow_updates(Notification, SLOW_UPDATE), connection.execute_wrapper(wrapper):
        with pytest.raises(SoftTimeLimitExceeded):
            notifications_send(ids=three, now=timezone.now())
    assert fired

    statuses = dict(Notification.objects.values_list("dedupe_key", "status"))
    # Not left `sending` for the lease: the two not reached wait for the next sweep.
    assert statuses == {"a": Status.SENT, "b": Status.PENDING, "c": Status.PENDING}
    assert notifications_send_due() == 2
    assert sent_once_each()


def test_out_of_time_while_claiming_a_message_releases_it_on_a_fresh_connection(
    three, soft_time_limit
):
    wrapper, fired = interrupt_inside(is_claim)

    with workers.slow_updates(Notification, SLOW_UPDATE), connection.execute_wrapper(wrapper):
        with pytest.raises(SoftTimeLimitExceeded):
            notifications_send(ids=three, now=timezone.now())
    assert fired

    statuses = dict(Notification.objects.values_list("dedupe_key", "status"))
    assert statuses == {"a": Status.SENT, "b": Status.PENDING, "c": Status.PENDING}
    assert notifications_send_due() == 2
    assert sent_once_each()
