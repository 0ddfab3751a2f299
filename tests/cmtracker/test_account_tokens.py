"""The Account page lists your API tokens (never a key) and revokes one or all of them."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from cmtracker.models import ApiToken
from tests.conftest import api_token

pytestmark = pytest.mark.django_db


def status_with(key: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get("/api/v1/patients/").status_code


def digest_of(key: str) -> str:
    return next(t.digest for t in ApiToken.objects.all() if key.startswith(t.token_key))


def test_the_account_page_lists_active_tokens_without_their_keys(client, counselor):
    keys = [api_token(counselor), api_token(counselor)]
    assert status_with(keys[0]) == 200  # used once: it has a "last used"
    client.force_login(counselor)

    page = client.get(reverse("account")).content.decode()

    assert "API tokens" in page
    assert page.count(">Revoke<span") == 2
    assert "Revoke all" in page
    assert "Not yet" in page  # the second was never used
    for key in keys:
        assert key[:8] not in page


def test_the_account_page_leaves_out_ended_tokens(client, patient_user):
    api_token(patient_user)
    ApiToken.objects.update(expiry="2000-01-01T00:00Z")
    client.force_login(patient_user)

    page = client.get(reverse("account")).content.decode()

    assert "No active tokens." in page


def test_revoke_on_the_account_page_ends_that_token_only(client, counselor):
    revoked, kept = api_token(counselor), api_token(counselor)
    client.force_login(counselor)

    response = client.post(reverse("api-token-revoke", args=[digest_of(revoked)]))

    assert response.status_code == 302 and response.url == reverse("account")
    assert status_with(revoked) == 401
    assert status_with(kept) == 200


def test_revoke_all_ends_every_token_of_yours_only(client, counselor, patient_user):
    mine = [api_token(counselor), api_token(counselor)]
    theirs = api_token(patient_user)
    client.force_login(counselor)

    client.post(reverse("api-tokens-revoke-all"))

    assert [status_with(key) for key in mine] == [401, 401]
    assert status_with(theirs) == 200


def test_another_users_token_cannot_be_revoked(client, counselor, patient_user):
    theirs = api_token(patient_user)
    client.force_login(counselor)

    response = client.post(reverse("api-token-revoke", args=[digest_of(theirs)]))

    assert response.status_code == 404
    assert status_with(theirs) == 200


def test_revoking_needs_a_post_with_the_csrf_token(counselor):
    from django.test import Client

    key = api_token(counselor)
    client = Client(enforce_csrf_checks=True)
    client.force_login(counselor)
    url = reverse("api-token-revoke", args=[digest_of(key)])

    assert client.get(url).status_code == 405
    assert client.post(url).status_code == 403
    assert status_with(key) == 200
