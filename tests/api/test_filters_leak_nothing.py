"""Filtering by an id answers the same for a missing id and for another clinic's: nothing."""

import pytest
from rest_framework.test import APIClient

from tests.factories import EnrollmentFactory, PatientFactory


@pytest.mark.parametrize("path", ["/api/v1/specimens/", "/api/v1/attendance/"])
def test_an_enrollment_filter_for_another_clinic_looks_like_a_missing_one(
    path, counselor, other_clinic, enrollment
):
    theirs = EnrollmentFactory(patient=PatientFactory(clinic=other_clinic))
    client = APIClient()
    client.force_authenticate(counselor)
    missing = client.get(path, {"enrollment": 999_999})
    other = client.get(path, {"enrollment": theirs.pk})
    assert (missing.status_code, other.status_code) == (200, 200)
    assert missing.json()["results"] == other.json()["results"] == []


@pytest.mark.parametrize("field", ["clinic", "primary_counselor"])
def test_a_patient_filter_for_another_clinics_id_looks_like_a_missing_one(
    field, counselor, other_clinic, other_counselor, patient
):
    theirs = {"clinic": other_clinic.pk, "primary_counselor": other_counselor.pk}[field]
    client = APIClient()
    client.force_authenticate(counselor)

    missing = client.get("/api/v1/patients/", {field: 999_999})
    other = client.get("/api/v1/patients/", {field: theirs})

    assert (missing.status_code, other.status_code) == (200, 200)
    assert missing.json()["results"] == other.json()["results"] == []


def test_a_patient_filter_that_is_not_a_number_is_a_400_naming_the_field(counselor):
    client = APIClient()
    client.force_authenticate(counselor)

    response = client.get("/api/v1/patients/", {"primary_counselor": "casey"})

    assert response.status_code == 400
    assert "primary_counselor" in response.json()
