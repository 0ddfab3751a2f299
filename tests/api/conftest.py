"""API personas: a client signed in as each fixed persona, by token as a lab system would."""

from datetime import date

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from tests.conftest import api_token, at
from tests.factories import UserFactory
from vouchers import recording


@pytest.fixture(autouse=True)
def _fresh_throttle():
    # The token endpoint's throttle counts in the cache; each test starts with none used.
    cache.clear()
    yield
    cache.clear()


def client_for(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {api_token(user)}")
    return client


@pytest.fixture
def api():
    return client_for


@pytest.fixture
def personas(patient_user, other_patient, counselor, other_counselor, clinic_admin, supervisor):
    superuser = UserFactory(username="root", is_staff=True, is_superuser=True)
    return {
        "anonymous": None,
        "patient": patient_user,
        "other patient": other_patient.user,
        "counselor": counselor,
        "other clinic's counselor": other_counselor,
        "clinic admin": clinic_admin,
        "superuser": superuser,
        "supervisor": supervisor,
    }


@pytest.fixture
def negative(enrollment, clinic, counselor):
    """A negative test recorded on the first day of the Higgins enrollment."""
    return recording.specimen_record(
        patient=enrollment.patient,
        collected_at=at(clinic, date(2026, 1, 5)),
        results={"cocaine": "negative"},
        recorded_by=counselor,
    ).specimen
