"""Production settings as an operator starts them: `check --deploy` is clean, and a missing or weak
secret or DEBUG left on stops the start with a message that says what to fix.

Each runs manage.py in a subprocess with a production environment, because the settings module
reads the environment once, at import.
"""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    """manage.py with CMTRACKER_PRODUCTION=1, an allowed host, SQLite and no DEBUG or secret
    from the calling shell unless given here. DJANGO_ALLOW_ASYNC_UNSAFE is the browser tests'
    (set in this process when they are collected), never a deployment's."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DEBUG", "SECRET_KEY", "DATABASE_URL", "ALLOWED_HOSTS"}
        and not k.startswith(("SECURE_", "DJANGO_ALLOW_ASYNC_UNSAFE"))
    }
    clean.update(CMTRACKER_PRODUCTION="1", ALLOWED_HOSTS="example.org", **env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


def a_secret() -> str:
    return secrets.token_urlsafe(45)[:60]


@pytest.mark.slow
def test_check_deploy_passes_with_no_warnings_in_production_settings():
    done = manage("check", "--deploy", "--fail-level", "WARNING", SECRET_KEY=a_secret())

    assert done.returncode == 0, done.stderr
    assert "System check identified no issues" in done.stdout
    assert "WARNINGS" not in done.stderr + done.stdout


@pytest.mark.slow
def test_check_deploy_would_catch_a_weakened_setting():
    # The same check, with HSTS turned off by the environment: it must fail, or the test above
    # proves nothing.
    done = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        SECRET_KEY=a_secret(),
        SECURE_HSTS_SECONDS="0",
    )

    assert done.returncode != 0
    assert "security.W004" in done.stderr


@pytest.mark.slow
def test_production_settings_turn_on_secure_cookies_hsts_and_https():
    done = manage(
        "shell",
        "--verbosity=0",
        "-c",
        "from django.conf import settings as s; print(s.SESSION_COOKIE_SECURE,"
        " s.CSRF_COOKIE_SECURE, s.LANGUAGE_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY,"
        " s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS >= 31536000, s.X_FRAME_OPTIONS)",
        SECRET_KEY=a_secret(),
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True", "True", "True", "True", "True", "DENY"]


def last_line(done: subprocess.CompletedProcess) -> str:
    return done.stderr.strip().splitlines()[-1]


@pytest.mark.slow
def test_production_refuses_to_start_with_debug_on():
    done = manage("check", DEBUG="1", SECRET_KEY=a_secret())

    assert done.returncode != 0
    assert last_line(done).endswith("DEBUG must be off when CMTRACKER_PRODUCTION=1")


@pytest.mark.slow
@pytest.mark.parametrize(
    "secret",
    [
        pytest.param(None, id="missing"),
        pytest.param("", id="empty"),
        pytest.param("s3cr3t-but-only-thirty-chars!!", id="short"),
        pytest.param("dev-only-insecure-key-do-not-use-in-production", id="the development key"),
    ],
)
def test_production_refuses_to_start_without_a_long_random_secret(secret):
    env = {} if secret is None else {"SECRET_KEY": secret}

    done = manage("check", **env)

    assert done.returncode != 0
    assert last_line(done).endswith("SECRET_KEY must be set to a random value of 50+ characters")
