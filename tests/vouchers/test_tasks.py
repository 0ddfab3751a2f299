"""Celery: the tasks do their work, and a real worker runs them on either broker.

The worker tests start their own worker process on a private queue and stop only it. The
filesystem broker is the embedded default of `make run`; Redis is the production broker (CI has
it; elsewhere that test skips, saying why).
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from celery import Celery
from django.db import connection

from patients import services as clinical
from tests.conftest import at
from vouchers import tasks
from vouchers.models import LedgerEntry, Wallet

ROOT = Path(__file__).resolve().parents[2]


def _unsettled_negative(enrollment):
    """A negative written to the clinical record without settling, as after a bulk change."""
    return clinical.specimen_create(
        enrollment=enrollment,
        collected_at=at(enrollment.patient.clinic, enrollment.start_date),
        kind="urine",
        status="tested",
        results={"cocaine": "negative"},
        outcome="N",
        secondary_negative=False,
        notes="",
        recorded_by=None,
        idempotency_key=None,
    )


def test_the_settle_task_pays_what_the_record_earns(enrollment):
    _unsettled_negative(enrollment)
    tasks.enrollment_settle.apply(args=[enrollment.id])
    assert Wallet.objects.get(patient=enrollment.patient).balance_cents == 250


def test_the_nightly_check_counts_no_drift_after_settlement(enrollment):
    _unsettled_negative(enrollment)
    tasks.enrollment_settle.apply(args=[enrollment.id])
    assert tasks.ledger_verify.apply().get() == 0


def _database_url() -> str:
    """The test database, for a worker in another process."""
    s = connection.settings_dict
    if connection.vendor == "postgresql":
        host = s["HOST"] or "127.0.0.1"
        return f"postgres://{s['USER']}@{host}:{s['PORT'] or 5432}/{s['NAME']}"
    return f"sqlite:///{s['NAME']}"


def _run_worker_until_settled(enrollment, broker_env: dict, producer: Celery, queue: str):
    env = {**os.environ, **broker_env, "DATABASE_URL": _database_url()}
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "cmtracker", "worker", "--pool=solo",
         "-Q", queue, "--without-gossip", "--without-mingle", "--loglevel=warning"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        producer.send_task("vouchers.tasks.enrollment_settle", args=[enrollment.id], queue=queue)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if LedgerEntry.objects.filter(enrollment=enrollment).exists():
                break
            assert worker.poll() is None, worker.stdout.read().decode()
            time.sleep(0.2)
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
    assert Wallet.objects.get(patient=enrollment.patient).balance_cents == 250


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_worker_on_the_embedded_filesystem_broker_settles_an_enrollment(enrollment, tmp_path):
    _unsettled_negative(enrollment)
    folders = {
        "data_folder_in": str(tmp_path / "out"),
        "data_folder_out": str(tmp_path / "out"),
        "processed_folder": str(tmp_path / "processed"),
        "control_folder": str(tmp_path / "control"),
        "store_processed": False,
    }
    for folder in ("out", "processed", "control"):
        (tmp_path / folder).mkdir()
    producer = Celery(broker="filesystem://", broker_transport_options=folders)
    env = {"CELERY_FILESYSTEM_DIR": str(tmp_path)}
    env_without_redis = {"REDIS_URL": ""}
    _run_worker_until_settled(enrollment, {**env, **env_without_redis}, producer, "default")


@pytest.mark.redis
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_worker_on_redis_settles_an_enrollment(enrollment):
    _unsettled_negative(enrollment)
    redis_url = os.environ["REDIS_URL"]
    producer = Celery(broker=redis_url)
    queue = f"test-{uuid.uuid4().hex}"
    _run_worker_until_settled(enrollment, {"REDIS_URL": redis_url}, producer, queue)
