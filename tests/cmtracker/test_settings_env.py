"""Settings come from the environment, strictly: a typo stops start-up with the variable's name."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from cmtracker.env import env_bool, env_int, env_list

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("true", True), ("YES", True), ("on", True), ("0", False), ("false", False)],
)
def test_booleans_accept_the_usual_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("CM_FLAG", raw)
    assert env_bool("CM_FLAG") is expected


def test_a_misspelt_boolean_names_the_variable(monkeypatch):
    monkeypatch.setenv("CM_FLAG", "ture")
    with pytest.raises(ImproperlyConfigured, match="CM_FLAG"):
        env_bool("CM_FLAG")


def test_a_non_numeric_integer_names_the_variable(monkeypatch):
    monkeypatch.setenv("CM_NUMBER", "ten")
    with pytest.raises(ImproperlyConfigured, match="CM_NUMBER"):
        env_int("CM_NUMBER", 1)


def test_lists_are_comma_separated_and_trimmed(monkeypatch):
    monkeypatch.setenv("CM_HOSTS", " a.example , b.example,, ")
    assert env_list("CM_HOSTS", []) == ["a.example", "b.example"]


def _settings_in_subprocess(**env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY"}}
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-c", "import cmtracker.settings"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_refuses_to_start_without_a_secret_key():
    done = _settings_in_subprocess(CMTRACKER_PRODUCTION="1")
    assert done.returncode != 0
    assert "SECRET_KEY" in done.stderr


def test_production_refuses_to_start_with_debug_on():
    done = _settings_in_subprocess(CMTRACKER_PRODUCTION="1", DEBUG="1", SECRET_KEY="x" * 60)
    assert done.returncode != 0
    assert "DEBUG" in done.stderr


def test_production_starts_with_a_secret_key_and_debug_off():
    done = _settings_in_subprocess(CMTRACKER_PRODUCTION="1", SECRET_KEY="k" * 60)
    assert done.returncode == 0, done.stderr


def test_without_redis_the_broker_needs_no_server():
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    done = subprocess.run(
        [sys.executable, "-c", "import cmtracker.settings as s; print(s.CELERY_BROKER_URL)"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.strip() == "filesystem://"
