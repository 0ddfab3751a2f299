"""Shared fixtures: the fixed personas, the test clock, and the rules for skips.

Tests marked `postgres` or `redis` need that server. Without it they skip, saying why, unless
CI=true: CI has both services, so a missing one there is a failure, never a silent skip. Under
CI=true any skipped test fails the run (tests/ci_skips.py).

The clock: a test that depends on the date pins it (the `time_machine` fixture or
`time_machine.travel(..., tick=False)`), or builds its dates from the clinic's today. To prove
nothing else reads the wall clock, CMTRACKER_TEST_NOW=<ISO instant with offset> moves the clock
of the whole run to that instant (`make test-dates` runs the suite at several).
"""

import os
from datetime import date, datetime, time

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection

from tests import ci_skips
from tests.factories import (
    ClinicFactory,
    EnrollmentFactory,
    MembershipFactory,
    PatientFactory,
    UserFactory,
    preset_protocol,
)

IN_CI = ci_skips.in_ci()
TEST_NOW = "CMTRACKER_TEST_NOW"


def moved_clock() -> datetime | None:
    """The instant CMTRACKER_TEST_NOW moves the run to (ISO 8601 with its UTC offset), or None."""
    value = os.environ.get(TEST_NOW, "").strip()
    if not value:
        return None
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        instant = None
    if instant is None or instant.tzinfo is None:
        raise pytest.UsageError(
            f"{TEST_NOW}={value!r}: expected an ISO instant with its offset, "
            "e.g. 2026-12-31T23:30:00-06:00"
        )
    return instant


def pytest_configure(config):
    """Under CMTRACKER_TEST_NOW every process of the run (each xdist worker too) starts at that
    instant and ticks on from there, from collection on. A test that pins its own time still
    does: time-machine nests."""
    instant = moved_clock()
    if instant is not None:
        config._cmtracker_clock = time_machine.travel(instant, tick=True)
        config._cmtracker_clock.start()
    ci_skips.pytest_configure(config)


def pytest_unconfigure(config):
    clock = getattr(config, "_cmtracker_clock", None)
    if clock is not None:
        clock.stop()


def pytest_report_header(config):
    instant = moved_clock()
    if instant is not None:
        return f"clock moved by {TEST_NOW} to {instant.isoformat()} ({instant:%A})"
    return None


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
def _cache_in_memory(request, settings):
    """Each test's cache in its own memory: with REDIS_URL set the settings put it in Redis, which
    parallel runs share (one run's throttle counts would reach another's) and which `cache.clear()`
    would empty for all of them. Tests marked `redis` keep the configured cache."""
    if not request.node.get_closest_marker("redis"):
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
        cache.clear()  # what an earlier test in this process counted


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    # Real hashing costs ~0.3 s a user; what is tested here is never the hash itself.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _notifications_in_memory(settings):
    """SMS to an in-memory outbox (Django's test runner does the same for email), and Celery tasks
    run inline where a test commits: a real worker and broker are the point of only a few tests,
    which start their own."""
    from cmtracker.celery import app
    from messaging import sms

    settings.SMS_BACKEND = "messaging.sms.LocmemSmsBackend"
    sms.outbox.clear()
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = eager


def second_factor_device(user):
    """A confirmed authenticator for `user` (created once), as if they had set one up."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    return device or TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)


def api_token(user) -> str:
    """A new API token for the user, as the token endpoint gives it: staff have an authenticator."""
    from cmtracker.api_tokens import api_token_new
    from cmtracker.two_factor import needs_second_factor

    if needs_second_factor(user):
        second_factor_device(user)
    return api_token_new(user=user)[1]


def second_factor_code(user) -> str:
    """The code `user`'s authenticator app shows now."""
    from django_otp.oath import totp

    device = second_factor_device(user)
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}"


def give_second_factor(client, user):
    """After a password sign-in: enter the authenticator's code, as the person would."""
    from django.urls import reverse

    response = client.post(reverse("two-factor"), {"code": second_factor_code(user)})
    assert response.status_code == 302, response.content.decode()[:500]
    return response


@pytest.fixture(autouse=True)
def _force_login_gives_the_second_factor(monkeypatch):
    """`client.force_login(staff)` stands for a full sign-in, code included, as it always has in
    these tests. The tests of two-factor itself sign in with `client.login` or the login form."""
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY

    from cmtracker.two_factor import needs_second_factor

    force_login = Client.force_login

    def force_login_verified(self, user, backend=None):
        force_login(self, user, backend)
        if needs_second_factor(user):
            session = self.session
            session[DEVICE_ID_SESSION_KEY] = second_factor_device(user).persistent_id
            session.save()

    monkeypatch.setattr(Client, "force_login", force_login_verified)


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


# A Monday, so a test day on the clinic's Mon/Wed/Fri, late in a year and long after `enrollment`
# started: what "today" is in tests that need the clinic to be testing today.
TEST_DAY = date(2026, 12, 7)


@pytest.fixture
def pinned_test_day(clinic):
    """Pins the clock at 10:00 in the clinic on TEST_DAY for the test, and gives that day. For
    tests that need today to be a test day; without it, a board of who is due would be empty on a
    Tuesday."""
    with time_machine.travel(at(clinic, TEST_DAY), tick=False):
        yield TEST_DAY


# --- personas for pages: who can and cannot see what -------------------------------------------


@pytest.fixture
def clinic_admin(clinic):
    user = UserFactory(username="ada")
    MembershipFactory(user=user, clinic=clinic, role="admin")
    return user


@pytest.fixture
def supervisor(clinic):
    """Reads the clinic's reports and nothing else."""
    user = UserFactory(username="sam")
    MembershipFactory(user=user, clinic=clinic, role="supervisor")
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
