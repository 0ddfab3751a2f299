"""API tokens end like web sessions: after the role's idle limit (staff 15 minutes, patients 30)
and 12 hours after signing in; each sign-in gets a new key."""

import time
from datetime import timedelta

import pytest
import time_machine
from rest_framework.test import APIClient

from cmtracker.models import ApiToken
from tests.conftest import api_token

pytestmark = pytest.mark.django_db

URL = "/api/v1/auth/token/"
EXPIRED = "This token has expired; sign in again for a new one."


@pytest.fixture
def clock():
    with time_machine.travel(time.time(), tick=False) as traveller:
        yield traveller


def opens_the_api(key: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get("/api/v1/patients/")


def sign_in(username: str) -> str:
    response = APIClient().post(URL, {"username": username, "password": "a long test password"})
    assert response.status_code == 200
    return response.json()["token"]


def test_a_staff_token_works_after_14_idle_minutes_and_not_after_16(clock, counselor):
    key = api_token(counselor)

    clock.shift(timedelta(minutes=14))
    assert opens_the_api(key).status_code == 200

    clock.shift(timedelta(minutes=16))
    response = opens_the_api(key)
    assert response.status_code == 401
    assert response.json()["detail"] == EXPIRED


def test_a_patient_token_has_the_patients_30_idle_minutes(clock, patient_user):
    key = api_token(patient_user)

    clock.shift(timedelta(minutes=29))
    assert opens_the_api(key).status_code == 200

    clock.shift(timedelta(minutes=31))
    assert opens_the_api(key).json() == {"detail": EXPIRED}


def test_a_token_in_steady_use_ends_12_hours_after_signing_in(clock, patient_user):
    key = api_token(patient_user)
    for _ in range(24):  # a request every 29 minutes: 11 h 36 min
        clock.shift(timedelta(minutes=29))
        assert opens_the_api(key).status_code == 200

    clock.shift(timedelta(minutes=25))  # 12 h 1 min after signing in, 25 minutes idle

    response = opens_the_api(key)
    assert response.status_code == 401
    assert response.json()["detail"] == EXPIRED


def test_each_sign_in_gets_a_new_key_and_the_old_one_keeps_working(patient_user):
    first, second = sign_in("pat"), sign_in("pat")

    assert first != second
    assert opens_the_api(first).status_code == 200
    assert opens_the_api(second).status_code == 200


def test_the_database_keeps_no_key(patient_user):
    key = sign_in("pat")

    stored = ApiToken.objects.get(user=patient_user)
    assert key not in (stored.digest, stored.token_key)
    assert len(stored.token_key) < len(key)


def test_an_unknown_token_is_not_called_expired(patient_user):
    response = opens_the_api("0" * 64)

    assert response.status_code == 401
    assert response.json()["detail"] != EXPIRED


def test_revoking_a_token_ends_that_token_only(patient_user):
    first, second = sign_in("pat"), sign_in("pat")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {first}")

    assert client.delete(URL).status_code == 204

    assert opens_the_api(first).status_code == 401
    assert opens_the_api(second).status_code == 200


def test_the_sign_in_answer_says_when_the_token_ends(clock, patient_user):
    response = APIClient().post(URL, {"username": "pat", "password": "a long test password"})

    ends = ApiToken.objects.get(user=patient_user).expiry
    assert ends.timestamp() == pytest.approx(time.time() + 30 * 60)
    assert response.json()["expiry"].startswith(ends.strftime("%Y-%m-%dT%H:%M"))
