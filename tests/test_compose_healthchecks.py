"""The worker's and beat's health checks, run for real: docker-compose.yml's own commands and
checks, against a private Redis and the test database, without Docker.

A check runs as Docker runs a CMD-SHELL test: `/bin/sh -c` with HOSTNAME set to the container's
host name (here, this machine's, which is also what Celery names its nodes after).
"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from tests.cmtracker import workers

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture(scope="module")
def services():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


@pytest.fixture
def stack_env(tmp_path):
    """The environment a service container has: the test database, a private Redis."""
    port = workers.free_port()
    with workers.redis_server(port, tmp_path):
        yield {
            **os.environ,
            "DATABASE_URL": workers.database_url(),
            "REDIS_URL": f"redis://127.0.0.1:{port}/0",
            "HOSTNAME": socket.gethostname(),
            "PYTHONUNBUFFERED": "1",
            # The venv's celery and python first, as the image's are.
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }


@contextmanager
def service(command: str, env: dict, log: Path):
    """The service's command as compose runs it (split, no shell), until the block ends."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            shlex.split(command), cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield process
    finally:
        workers.stop(process)


def healthcheck(service_definition: dict, env: dict) -> int:
    kind, script = service_definition["healthcheck"]["test"]
    assert kind == "CMD-SHELL"
    done = subprocess.run(
        ["/bin/sh", "-c", script.replace("$$", "$")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    return done.returncode


def healthy_within(service_definition: dict, env: dict, *, seconds: float, process, log) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the service exited\n{log.read_text()[-3000:]}"
        if healthcheck(service_definition, env) == 0:
            return
        time.sleep(1)
    raise AssertionError(f"never healthy in {seconds} s\n{log.read_text()[-3000:]}")


def test_the_worker_is_healthy_while_it_runs_and_not_once_it_stops(services, stack_env, tmp_path):
    worker = services["worker"]
    log = tmp_path / "worker.log"
    with service(worker["command"], stack_env, log) as process:
        healthy_within(worker, stack_env, seconds=90, process=process, log=log)
    assert healthcheck(worker, stack_env) != 0


def test_beat_is_healthy_while_it_runs_and_not_once_it_stops(services, stack_env, tmp_path):
    beat = services["beat"]
    log = tmp_path / "beat.log"
    with service(beat["command"], stack_env, log) as process:
        healthy_within(beat, stack_env, seconds=90, process=process, log=log)
    assert healthcheck(beat, stack_env) != 0
