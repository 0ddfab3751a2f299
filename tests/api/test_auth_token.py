import pytest
from rest_framework.test import APIClient

from cmtracker.models import ApiToken
from tests.conftest import api_token, second_factor_code, second_factor_device

pytestmark = pytest.mark.django_db

URL = "/api/v1/auth/token/"


def test_a_username_password_and_code_get_a_token_that_opens_the_api(counselor):
    client = APIClient()
    code = second_factor_code(counselor)

    response = client.post(
        URL, {"username": "casey", "password": "a long test password", "otp": code}
    )

    assert response.status_code == 200
    token = response.json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/v1/patients/").status_code == 200


def test_a_wrong_password_gets_a_400_and_no_token(counselor):
    response = APIClient().post(URL, {"username": "casey", "password": "wrong"})

    assert response.status_code == 400
    assert "token" not in response.json()
    assert not ApiToken.objects.exists()


def test_without_credentials_the_api_answers_401():
    response = APIClient().get("/api/v1/patients/")

    assert response.status_code == 401


def test_a_session_works_as_well_as_a_token(client, counselor):
    client.force_login(counselor)

    assert client.get("/api/v1/patients/").status_code == 200


def test_a_revoked_token_no_longer_opens_the_api(api, counselor):
    client = api(counselor)

    assert client.delete(URL).status_code == 204

    assert not ApiToken.objects.filter(user=counselor).exists()
    assert client.get("/api/v1/patients/").status_code == 401


def test_guessing_passwords_is_throttled(counselor, settings):
    client = APIClient()
    answers = [
        client.post(URL, {"username": "casey", "password": f"guess {n}"}).status_code
        for n in range(12)
    ]

    assert answers[0] == 400
    assert answers[-1] == 429


def test_staff_without_the_code_get_a_400_on_otp_and_no_token(counselor):
    second_factor_device(counselor)

    response = APIClient().post(URL, {"username": "casey", "password": "a long test password"})

    assert response.status_code == 400
    assert "authenticator" in response.json()["otp"][0]
    assert not ApiToken.objects.exists()


def test_a_wrong_code_gets_a_400_on_otp_and_no_token(counselor):
    second_factor_device(counselor)
    wrong = f"{(int(second_factor_code(counselor)) + 1) % 1_000_000:06d}"

    response = APIClient().post(
        URL, {"username": "casey", "password": "a long test password", "otp": wrong}
    )

    assert response.status_code == 400
    assert "not right" in response.json()["otp"][0]
    assert not ApiToken.objects.exists()


def test_staff_who_never_set_up_two_factor_get_no_token(counselor):
    response = APIClient().post(
        URL, {"username": "casey", "password": "a long test password", "otp": "123456"}
    )

    assert response.status_code == 400
    assert "Set up two-factor" in response.json()["otp"][0]


def test_a_staff_token_stops_working_when_their_authenticator_is_removed(counselor):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token(counselor)}")
    assert client.get("/api/v1/patients/").status_code == 200

    TOTPDevice.objects.filter(user=counselor).delete()

    assert client.get("/api/v1/patients/").status_code == 401


def test_a_patient_gets_a_token_with_a_password_alone(patient_user):
    response = APIClient().post(URL, {"username": "pat", "password": "a long test password"})

    assert response.status_code == 200
