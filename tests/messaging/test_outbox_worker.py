"""The outbox with real Celery workers on real Redis: once, and never lost.

Each test starts its own worker process (console SMS and email backends, stdout to a file in
tmp_path) on a private queue, and, where Redis has to go down, its own redis-server on a free
port. Every message body carries a unique token; a token printed twice would be a message sent
twice, a token never printed a message lost.
"""

from __future__ import annotations

import os
import re
import signal
import time as time_
import uuid
from collections import Counter
from datetime import date, time, timedelta

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from messaging import sms
from messaging.models import Notification
from messaging.notifications import (
    notification_queue,
    notifications_queue_many,
    notifications_send_due,
)
from patients.models import Specimen
from tests.cmtracker import workers
from tests.conftest import api_token, at
from tests.factories import ClinicFactory, EnrollmentFactory, PatientFactory

Status = Notification.Status
pytestmark = [
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def token() -> str:
    return f"T{uuid.uuid4().hex[:12]}"  # one length: no token is a prefix of another


@pytest.fixture
def riverside(db):
    # No quiet hours: these tests run at whatever time it is, and the messages are due now.
    return ClinicFactory(
        slug="riverside-workers",
        time_zone="America/Chicago",
        quiet_hours_start="00:00",
        quiet_hours_end="00:00",
    )


@pytest.fixture
def texter(riverside):
    return PatientFactory(
        clinic=riverside,
        phone="+13125550100",
        email="pat@example.org",
        reminder_consent_sms=True,
        reminder_consent_email=True,
    )


def queue_reminder(patient, channel, tok, **extra) -> Notification:
    """As a service does: inside its transaction; the send task is enqueued after commit."""
    with transaction.atomic():
        return notification_queue(
            clinic=patient.clinic,
            kind=Notification.Kind.TEST_REMINDER,
            channel=channel,
            to=patient.phone if channel == Notification.Channel.SMS else patient.email,
            subject="Test day",
            body=f"{tok} Your test is today.",
            dedupe_key=f"test_reminder:{tok}:{channel}",
            patient=patient,
            now=timezone.now(),
            **extra,
        )


def all_sent(ids) -> bool:
    return Notification.objects.filter(pk__in=ids).exclude(status=Status.SENT).count() == 0


def test_a_reminder_due_now_is_delivered_once_by_a_worker_on_redis(texter, tmp_path):
    queue = f"test-outbox-{uuid.uuid4().hex}"
    log = tmp_path / "worker.log"
    sms_token, email_token = token(), token()

    with (
        workers.producer(os.environ["REDIS_URL"], queue) as app,
        workers.celery_worker(broker_url=os.environ["REDIS_URL"], queue=queue, log=log) as worker,
    ):
        by_sms = queue_reminder(texter, Notification.Channel.SMS, sms_token)
        by_email = queue_reminder(texter, Notification.Channel.EMAIL, email_token)
        ids = [by_sms.pk, by_email.pk]
        # A retried task and a sweep on top of the task sent after commit: still once.
        app.send_task("messaging.tasks.notifications_send", args=[ids], queue=queue)
        app.send_task("messaging.tasks.notifications_sweep", queue=queue)
        # The solo worker runs its queue in order: once this last one is sent, all ran.
        last = queue_reminder(texter, Notification.Channel.SMS, token())
        workers.wait_for(
            lambda: all_sent([*ids, last.pk]), timeout=60, what="sent", log=log, process=worker
        )

    assert workers.count(log, sms_token) == 1
    assert workers.count(log, f"SMS to {texter.phone}") == 2  # this one and the last
    assert workers.count(log, email_token) == 1
    assert workers.count(log, "To: pat@example.org") == 1


def test_redis_down_while_a_counselor_records_a_result_delays_the_notice_and_loses_nothing(
    client, clinic, counselor, patient, higgins, tmp_path
):
    clinic.quiet_hours_start = clinic.quiet_hours_end = time(0)
    clinic.save()
    patient.phone = "+1312" + str(uuid.uuid4().int)[:7]  # this test's own number in the log
    patient.reminder_consent_sms = True
    patient.save()
    today = clinic.local_date(timezone.now())
    EnrollmentFactory(patient=patient, protocol=higgins, start_date=today)
    client.force_login(counselor)
    port = workers.free_port()
    broker = f"redis://127.0.0.1:{port}/0"
    queue = f"test-outbox-{uuid.uuid4().hex}"
    log = tmp_path / "worker.log"

    with workers.producer(broker, queue) as app:
        with workers.redis_server(port, tmp_path):
            app.connection_for_write().ensure_connection(max_retries=1)
        # The producer had its broker; now it is gone. The counselor records a negative.
        response = client.post(
            reverse("specimen-record", args=[patient.pk]),
            {
                "collected_at": timezone.localtime(timezone=clinic.tz).strftime("%Y-%m-%dT%H:%M"),
                "kind": "urine",
                "status": "tested",
                "panel": ["cocaine"],
                "notes": "",
                "idempotency_key": str(uuid.uuid4()),
            },
        )

        assert response.status_code == 200
        assert "Earned $2.50" in " ".join(response.content.decode().split())
        assert Specimen.objects.filter(enrollment__patient=patient, outcome="N").count() == 1
        # Committed with the specimen; its send task could not be enqueued: it waits.
        notice = Notification.objects.get(patient=patient, kind=Notification.Kind.AWARD)
        assert notice.status == Status.PENDING

        with (
            workers.redis_server(port, tmp_path),
            workers.celery_worker(broker_url=broker, queue=queue, log=log) as worker,
        ):
            app.send_task("messaging.tasks.notifications_sweep", queue=queue)
            workers.wait_for(
                lambda: all_sent([notice.pk]), timeout=60, what="sent", log=log, process=worker
            )

    assert workers.count(log, f"SMS to {patient.phone}") == 1
    assert workers.count(log, "You earned $2.50") == 1


def test_a_frozen_redis_does_not_hold_up_a_result_recorded_through_the_api(
    clinic, counselor, patient, enrollment, tmp_path
):
    """A Redis that hangs (stopped, not down: it accepts connections and answers nothing) costs
    the request about a second; the result and its notice are committed, and the sweep sends
    the notice later."""
    clinic.quiet_hours_start = clinic.quiet_hours_end = time(0)
    clinic.save()
    patient.phone = "+13125550100"
    patient.reminder_consent_sms = True
    patient.save()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {api_token(counselor)}")
    port = workers.free_port()
    queue = f"test-outbox-{uuid.uuid4().hex}"

    with (
        workers.redis_server(port, tmp_path) as redis,
        workers.producer(f"redis://127.0.0.1:{port}/0", queue) as app,
    ):
        app.connection_for_write().ensure_connection(max_retries=1)
        with workers.frozen(redis, thaw_after=15):
            started = time_.monotonic()
            response = api.post(
                "/api/v1/specimens/",
                {
                    "patient": patient.pk,
                    "collected_at": at(clinic, date(2026, 1, 5)).isoformat(),
                    "kind": "urine",
                    "results": {"cocaine": "negative"},
                },
                format="json",
            )
            took = time_.monotonic() - started

    assert response.status_code == 201, response.content
    assert took < 5
    notice = Notification.objects.get(patient=patient, kind=Notification.Kind.AWARD)
    assert notice.status == Status.PENDING
    assert notifications_send_due() == 1
    assert [body for _to, body in sms.outbox] == [notice.body]


def test_a_worker_killed_mid_batch_loses_nothing_and_sends_nothing_twice(
    riverside, tmp_path, settings
):
    settings.NOTIFICATION_CLAIM_LEASE = timedelta(seconds=1)
    queue = f"test-outbox-{uuid.uuid4().hex}"
    # A private Redis: the killed worker's unacknowledged task dies with it, not left behind.
    port = workers.free_port()
    redis_url = f"redis://127.0.0.1:{port}/0"
    slow = {"SMS_BACKEND": "tests.messaging.slow_sms.SlowSmsBackend"}
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    patients = [
        PatientFactory(clinic=riverside, phone=f"+1312555{i:04d}", reminder_consent_sms=True)
        for i in range(30)
    ]
    tokens = [token() for _ in patients]

    with workers.redis_server(port, tmp_path), workers.producer(redis_url, queue) as app:
        with transaction.atomic():
            ids = [
                notification_queue(
                    clinic=riverside,
                    kind=Notification.Kind.TEST_REMINDER,
                    channel=Notification.Channel.SMS,
                    to=p.phone,
                    body=f"{tok} Your test is today.",
                    dedupe_key=f"kill:{tok}",
                    patient=p,
                    now=timezone.now(),
                ).pk
                for p, tok in zip(patients, tokens, strict=True)
            ]
        # The commit enqueued one task with all 30 ids: one batch.

        with workers.celery_worker(
            broker_url=redis_url, queue=queue, log=first_log, env=slow
        ) as first:

            def mid_send_after_a_few() -> bool:
                sent = workers.count(first_log, "SENT ")
                return sent >= 4 and workers.count(first_log, "SENDING ") == sent + 1

            workers.wait_for(
                mid_send_after_a_few, timeout=60, what="a send", log=first_log, process=first
            )
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)

        sent_by_first = Notification.objects.filter(pk__in=ids, status=Status.SENT).count()
        assert 4 <= sent_by_first < 30
        # The killed worker's claim lapses after the (short) lease; a second worker's sweep
        # takes the rest.
        with workers.celery_worker(
            broker_url=redis_url,
            queue=queue,
            log=second_log,
            env={**slow, "NOTIFICATION_CLAIM_LEASE_SECONDS": "1"},
        ) as second:
            app.send_task("messaging.tasks.notifications_sweep", queue=queue)
            workers.wait_for(
                lambda: all_sent(ids), timeout=90, what="all sent", log=second_log, process=second
            )

    both = first_log.read_text() + second_log.read_text()
    twice = [t for t in tokens if both.count(f"SENT {t}") != 1]
    assert twice == []
    assert workers.count(second_log, "SENT ") == 30 - sent_by_first


@pytest.mark.postgres
def test_soft_time_limits_striking_again_and_again_send_no_message_twice(
    riverside, tmp_path, monkeypatch
):
    """500 texts, a slow provider and a slow database, sent by sweeps that a prefork worker's soft
    time limit cuts short after a second, one after another: every text goes exactly once."""
    from messaging import tasks

    monkeypatch.setattr(tasks.notifications_send, "delay", lambda ids: None)  # sweeps only
    patient = PatientFactory(clinic=riverside, phone="+13125550100", reminder_consent_sms=True)
    tokens = [token() for _ in range(500)]
    notifications_queue_many(
        [
            dict(
                clinic=riverside,
                kind=Notification.Kind.TEST_REMINDER,
                channel=Notification.Channel.SMS,
                to=patient.phone,
                body=f"{tok} Your test is today.",
                dedupe_key=f"soft:{tok}",
                patient=patient,
            )
            for tok in tokens
        ],
        now=timezone.now(),
    )
    ids = list(Notification.objects.values_list("pk", flat=True))
    queue = f"test-outbox-{uuid.uuid4().hex}"
    port = workers.free_port()
    redis_url = f"redis://127.0.0.1:{port}/0"
    log = tmp_path / "worker.log"
    env = {
        "SMS_BACKEND": "tests.messaging.slow_sms.SlowSmsBackend",
        "SLOW_SMS_SECONDS": "0.01",
        # Short, so a row left `sending` is taken again within the test, as it would be after
        # the real lease: a message sent but not marked would then be sent twice.
        "NOTIFICATION_CLAIM_LEASE_SECONDS": "5",
    }

    with (
        workers.slow_updates(Notification, 0.01),
        workers.redis_server(port, tmp_path),
        workers.producer(redis_url, queue) as app,
        workers.celery_worker(
            broker_url=redis_url, queue=queue, log=log, env=env, pool="prefork"
        ) as worker,
    ):
        deadline = time_.monotonic() + 240
        while not all_sent(ids):
            assert time_.monotonic() < deadline, "not all sent in time"
            # A few at a time, so the worker goes from one to the next without waiting for us.
            for _ in range(4):
                app.send_task(
                    "messaging.tasks.notifications_sweep",
                    queue=queue,
                    soft_time_limit=1,
                    time_limit=10,
                )
            workers.wait_for(lambda: all_sent(ids), timeout=4, what="-", process=worker, quiet=True)

    sent = Counter(re.findall(r"SENT (T\w{12})", log.read_text()))
    twice = [t for t in tokens if sent[t] > 1]
    cut_short = workers.count(log, "Soft time limit (1s) exceeded")
    print(f"{len(twice)} of {len(tokens)} sent twice, {cut_short} soft time limits")
    assert cut_short >= 5
    assert [t for t in tokens if sent[t] == 0] == []
    assert twice == []
