"""Real processes for the outbox fault tests: a Celery worker, a private Redis, a producer app.

Every helper stops only what it started (by its own Popen handle), in a finally block, so a
failing test leaves no worker or Redis behind and never touches the shared Redis on 6379.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from celery import Celery
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    """The test database, for a worker in another process."""
    s = connection.settings_dict
    if connection.vendor == "postgresql":
        host = s["HOST"] or "127.0.0.1"
        return f"postgres://{s['USER']}@{host}:{s['PORT'] or 5432}/{s['NAME']}"
    return f"sqlite:///{s['NAME']}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(
    condition: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    log: Path | None = None,
    process: subprocess.Popen | None = None,
    quiet: bool = False,
) -> bool:
    """Poll until `condition()`; fail with the log's tail on a timeout (or, `quiet`, return
    False) or when `process` (the worker that should make it true) has died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if process is not None and process.poll() is not None:
            raise AssertionError(
                f"the worker exited ({process.returncode}) before {what}\n{_tail(log)}"
            )
        time.sleep(0.05)
    if quiet:
        return False
    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{_tail(log)}")


def _tail(log: Path | None) -> str:
    return log.read_text(errors="replace")[-3000:] if log and log.exists() else ""


def stop(process: subprocess.Popen, *, sig=signal.SIGTERM, timeout: float = 20) -> None:
    if process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


@contextmanager
def celery_worker(
    *, broker_url: str, queue: str, log: Path, env: dict | None = None, pool: str = "solo"
):
    """A worker on its own queue, its stdout and stderr (console SMS and email) in `log`.

    The solo pool enforces no time limits; `pool="prefork"` (one child, as in production but
    smaller) does, by signalling the child."""
    full_env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": broker_url,
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    with log.open("ab") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "cmtracker", "worker", f"--pool={pool}",
             "--concurrency=1", "-Q", queue, "--without-gossip", "--without-mingle",
             "--without-heartbeat", "--loglevel=warning"],
            cwd=ROOT,
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        yield worker
    finally:
        stop(worker)


@contextmanager
def redis_server(port: int, folder: Path) -> Iterator[subprocess.Popen]:
    """A private, throw-away Redis: no snapshot, no append-only file."""
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(lambda: _answers(port), timeout=10, what=f"redis-server on port {port}")
        yield server
    finally:
        stop(server)


@contextmanager
def frozen(server: subprocess.Popen, *, thaw_after: float):
    """`server` stopped (SIGSTOP): it keeps its port and accepts connections, and answers nothing,
    as a hung Redis does. Thawed on leaving, or after `thaw_after` seconds, so a caller that
    waits on it forever is let go and the test fails instead of hanging."""
    server.send_signal(signal.SIGSTOP)
    thaw = threading.Timer(thaw_after, server.send_signal, args=[signal.SIGCONT])
    thaw.start()
    try:
        yield
    finally:
        thaw.cancel()
        if server.poll() is None:
            server.send_signal(signal.SIGCONT)


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def producer(broker_url: str, queue: str) -> Iterator[Celery]:
    """This process's Celery app for the test: the project's settings with the test's broker and
    queue, made current so `messaging.tasks.notifications_send.delay()` (after a commit) goes to
    it; the project's app is current again afterwards."""
    from cmtracker.celery import app as project_app

    app = Celery("cmtracker-test-producer", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.update(
        broker_url=broker_url,
        task_default_queue=queue,
        task_always_eager=False,
    )
    app.set_current()
    try:
        yield app
    finally:
        project_app.set_current()
        app.close()


def count(log: Path, text: str) -> int:
    return log.read_text(errors="replace").count(text) if log.exists() else 0


@contextmanager
def slow_updates(model, seconds: float) -> Iterator[None]:
    """Every UPDATE of `model`'s table takes `seconds` longer, however many rows it changes: a
    slow PostgreSQL (a trigger that sleeps before the statement). Dropped on leaving."""
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION test_slow_update() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN PERFORM pg_sleep({float(seconds)}); RETURN NEW; END $$"
        )
        cursor.execute(
            f"CREATE TRIGGER test_slow_update BEFORE UPDATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION test_slow_update()"
        )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TRIGGER IF EXISTS test_slow_update ON {table}")
            cursor.execute("DROP FUNCTION IF EXISTS test_slow_update()")
