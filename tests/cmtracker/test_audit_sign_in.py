"""Failed sign-ins and refused second-factor codes are in the audit log for good: the username
tried, the address and the time, never the password or the code. (django-axes' counter of
failures is wiped at the next success; the log is not.)"""

from datetime import UTC, datetime

import pytest
import time_machine
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from cmtracker.models import AuditEvent
from tests.conftest import second_factor_code, second_factor_device

PASSWORD = "a long test password"
NOW = datetime(2026, 3, 4, 15, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_throttle():
    cache.clear()  # the token endpoint's throttle counts in the cache
    yield
    cache.clear()


def failures():
    return list(AuditEvent.objects.filter(action="failed").order_by("id"))


def test_a_wrong_password_is_logged_and_stays_logged_after_the_next_success(counselor):
    client = Client()

    with time_machine.travel(NOW, tick=False):
        response = client.post(
            reverse("login"),
            {"username": "casey", "password": "guess-number-one"},
            REMOTE_ADDR="203.0.113.9",
        )
    assert response.status_code == 200  # the form again, with its error
    client.post(reverse("login"), {"username": "casey", "password": PASSWORD})

    [failed] = failures()
    assert (failed.object_type, failed.object_id) == ("sign-in", str(counselor.pk))
    assert failed.changes == {"username": [None, "casey"]}
    assert (failed.ip, failed.at, failed.actor) == ("203.0.113.9", NOW, None)
    assert failed.path == reverse("login")
    assert "guess-number-one" not in str(failed.changes) + failed.path


def test_a_username_that_names_no_account_is_logged_as_typed(db):
    Client().post(reverse("login"), {"username": "nobody-here", "password": "x" * 12})

    [failed] = failures()
    assert (failed.object_id, failed.changes) == ("", {"username": [None, "nobody-here"]})


def test_a_patients_failed_sign_in_is_in_their_own_trail(patient_user, patient):
    Client().post(reverse("login"), {"username": "pat", "password": "not my password"})

    [failed] = failures()
    assert (failed.patient_id, failed.clinic) == (patient.pk, patient.clinic)


def test_a_wrong_password_for_an_api_token_is_logged(counselor):
    APIClient().post("/api/v1/auth/token/", {"username": "casey", "password": "wrong"})

    [failed] = failures()
    assert (failed.object_type, failed.changes) == ("sign-in", {"username": [None, "casey"]})


def _wrong_code(user) -> str:
    return f"{(int(second_factor_code(user)) + 1) % 1_000_000:06d}"


def test_a_wrong_second_factor_code_is_logged_with_who_gave_it(counselor):
    second_factor_device(counselor)
    client = Client()
    client.post(reverse("login"), {"username": "casey", "password": PASSWORD})
    wrong = _wrong_code(counselor)

    response = client.post(reverse("two-factor"), {"code": wrong}, REMOTE_ADDR="198.51.100.4")

    assert response.status_code == 400
    [failed] = failures()
    assert (failed.object_type, failed.actor, failed.ip) == (
        "two-factor code",
        counselor,
        "198.51.100.4",
    )
    assert wrong not in str(failed.changes) + failed.path


def test_a_wrong_second_factor_code_for_an_api_token_is_logged(counselor):
    second_factor_device(counselor)

    APIClient().post(
        "/api/v1/auth/token/",
        {"username": "casey", "password": PASSWORD, "otp": _wrong_code(counselor)},
    )

    [failed] = failures()
    assert (failed.object_type, failed.object_id) == ("two-factor code", str(counselor.pk))


def test_attempts_after_the_lockout_are_logged_too(counselor, settings):
    client = Client()
    for n in range(settings.AXES_FAILURE_LIMIT + 2):
        client.post(reverse("login"), {"username": "casey", "password": f"guess {n:02d} words"})

    assert len(failures()) == settings.AXES_FAILURE_LIMIT + 2
