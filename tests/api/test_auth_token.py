import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

URL = "/api/v1/auth/token/"


def test_a_username_and_password_get_a_token_that_opens_the_api(counselor):
    client = APIClient()

    response = client.post(URL, {"username": "casey", "password": "a long test password"})

    assert response.status_code == 200
    token = response.json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/v1/patients/").status_code == 200


def test_a_wrong_password_gets_a_400_and_no_token(counselor):
    response = APIClient().post(URL, {"username": "casey", "password": "wrong"})

    assert response.status_code == 400
    assert "token" not in response.json()
    assert not Token.objects.exists()


def test_without_credentials_the_api_answers_401():
    response = APIClient().get("/api/v1/patients/")

    assert response.status_code == 401


def test_a_session_works_as_well_as_a_token(client, counselor):
    client.force_login(counselor)

    assert client.get("/api/v1/patients/").status_code == 200


def test_a_revoked_token_no_longer_opens_the_api(api, counselor):
    client = api(counselor)

    assert client.delete(URL).status_code == 204

    assert not Token.objects.filter(user=counselor).exists()
    assert client.get("/api/v1/patients/").status_code == 401


def test_guessing_passwords_is_throttled(counselor, settings):
    client = APIClient()
    answers = [
        client.post(URL, {"username": "casey", "password": f"guess {n}"}).status_code
        for n in range(12)
    ]

    assert answers[0] == 400
    assert answers[-1] == 429
