"""Shared fixtures: the fixed personas, and the rule for tests that need a real server.

Tests marked `postgres` or `redis` need that server. Without it they skip, saying why, unless
CI=true: CI has both services, so a missing one there is a failure, never a silent skip.
"""

import os
from datetime import date, datetime, time

import pytest
from django.db import connection

from tests.factories import (
    ClinicFactory,
    EnrollmentFactory,
    MembershipFactory,
    PatientFactory,
    UserFactory,
    preset_protocol,
)

IN_CI = os.environ.get("CI", "").lower() == "true"


def _need(item, marker: str, available: bool, why: str) -> None:
    if item.get_closest_marker(marker) and not available:
        if IN_CI:
            pytest.fail(f"CI=true but {why}", pytrace=False)
        pytest.skip(why)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """Each test run gets test databases of its own (test_cmtracker_gw0_<run>), so two runs on
    one PostgreSQL server - a developer's and CI's - never drop each other's database."""
    from django.conf import settings

    run = os.environ.get("PYTEST_XDIST_TESTRUNUID", str(os.getpid()))[:8]
    for db in settings.DATABASES.values():
        test = db.setdefault("TEST", {})
        test["NAME"] = f"{test.get('NAME') or 'test_' + db['NAME']}_{run}"


@pytest.fixture(autouse=True)
def _real_services(request):
    _need(
        request.node,
        "postgres",
        connection.vendor == "postgresql",
        "needs PostgreSQL (set DATABASE_URL=postgres://...; `make test` does when it answers)",
    )
    _need(
        request.node,
        "redis",
        bool(os.environ.get("REDIS_URL")),
        "needs Redis (set REDIS_URL; `make test` does when one answers on 127.0.0.1:6379)",
    )


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    # Real hashing costs ~0.3 s a user; what is tested here is never the hash itself.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _notifications_in_memory(settings):
    """SMS to an in-memory outbox (Django's test runner does the same for email), and Celery tasks
    run inline where a test commits: a real worker and broker are the point of only a few tests,
    which start their own."""
    from cmtracker import sms
    from cmtracker.celery import app

    settings.SMS_BACKEND = "cmtracker.sms.LocmemSmsBackend"
    sms.outbox.clear()
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = eager


@pytest.fixture
def clinic(db):
    return ClinicFactory(name="Riverside Recovery", slug="riverside", time_zone="America/Chicago")


@pytest.fixture
def counselor(clinic):
    user = UserFactory(username="casey")
    MembershipFactory(user=user, clinic=clinic, role="counselor")
    return user


@pytest.fixture
def patient(clinic, counselor):
    return PatientFactory(clinic=clinic, primary_counselor=counselor)


def protocol(slug: str):
    return preset_protocol(slug)


@pytest.fixture
def higgins(db):
    return protocol("higgins-1994")


@pytest.fixture
def enrollment(patient, higgins):
    """Higgins 1994, starting on a Monday well in the past."""
    return EnrollmentFactory(patient=patient, protocol=higgins, start_date=date(2026, 1, 5))


def at(clinic, day: date, hour: int = 10) -> datetime:
    """An aware datetime on the clinic's calendar day."""
    return datetime.combine(day, time(hour), tzinfo=clinic.tz)


# --- personas for pages: who can and cannot see what -------------------------------------------


@pytest.fixture
def clinic_admin(clinic):
    user = UserFactory(username="ada")
    MembershipFactory(user=user, clinic=clinic, role="admin")
    return user


@pytest.fixture
def other_clinic(db):
    return ClinicFactory(name="Hillside Health", slug="hillside", time_zone="America/New_York")


@pytest.fixture
def other_counselor(other_clinic):
    user = UserFactory(username="olive")
    MembershipFactory(user=user, clinic=other_clinic, role="counselor")
    return user


@pytest.fixture
def patient_user(patient):
    """The patient's own sign-in."""
    user = UserFactory(username="pat")
    patient.user = user
    patient.save()
    return user


@pytest.fixture
def other_patient(clinic, counselor):
    """Another patient of the same clinic, with a sign-in of their own."""
    return PatientFactory(
        clinic=clinic, primary_counselor=counselor, user=UserFactory(username="otto")
    )
