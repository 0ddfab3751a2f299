"""GET /api/v1/reports/organization/measures/: each clinic the caller reads reports of, and the
organization's sum, for a checked range (docs/reports.md, "The dashboard")."""

from datetime import date

import pytest
import time_machine
from django.urls import reverse

from tests.conftest import at
from tests.factories import ClinicFactory, EnrollmentFactory, MembershipFactory, PatientFactory
from vouchers import recording

pytestmark = pytest.mark.django_db

MON, WED = date(2026, 1, 5), date(2026, 1, 7)
URL = "/api/v1/reports/organization/measures/"


@pytest.fixture(autouse=True)
def _today(clinic):
    with time_machine.travel(at(clinic, date(2026, 3, 30)), tick=False):
        yield


def tested(clinic, *outcomes):
    patient = PatientFactory(clinic=clinic)
    EnrollmentFactory(patient=patient, start_date=MON)
    for day, outcome in zip((MON, WED), outcomes, strict=False):
        with time_machine.travel(at(clinic, day, 11), tick=False):
            recording.specimen_record(
                patient=patient, collected_at=at(clinic, day), results={"cocaine": outcome}
            )


def test_the_route_is_named():
    assert reverse("api-report-organization-measures") == URL


def test_each_clinic_and_the_sum(api, clinic, other_clinic, clinic_admin):
    MembershipFactory(user=clinic_admin, clinic=other_clinic, role="supervisor")
    tested(clinic, "negative", "negative")
    tested(other_clinic, "positive", "negative")
    tested(ClinicFactory(slug="not-theirs"), "negative")

    response = api(clinic_admin).get(URL, {"first": "2026-01-01", "last": "2026-03-29"})

    assert response.status_code == 200
    body = response.json()
    assert [(c["name"], c["negative_samples"]) for c in body["clinics"]] == [
        ("Hillside Health", {"numerator": 1, "denominator": 2}),
        ("Riverside Recovery", {"numerator": 2, "denominator": 2}),
    ]
    assert body["total"]["negative_samples"] == {"numerator": 3, "denominator": 4}
    assert body["total"]["enrollments"] == 2
    assert "clinic" not in body["total"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"first": "2026-01-01"}, "last"),
        ({"first": "2026-02-01", "last": "2026-01-01"}, "last"),
        ({"first": "2026-01-01", "last": "2026-03-31"}, "last"),  # after the clinic's today
        ({"first": "2020-01-01", "last": "2026-03-01"}, "last"),
        ({"first": "abc", "last": "2026-03-01"}, "first"),
        # Year 1: a one-day range, but before any record; its day arithmetic would overflow.
        ({"first": "0001-01-01", "last": "0001-01-01"}, "first"),
    ],
)
def test_bad_input_answers_400_naming_the_field(api, clinic_admin, params, field):
    response = api(clinic_admin).get(URL, params)
    assert response.status_code == 400
    assert field in str(response.json())


def test_it_is_in_the_schema(api, clinic_admin):
    schema = api(clinic_admin).get("/api/schema/", HTTP_ACCEPT="application/json").content
    assert b"/api/v1/reports/organization/measures/" in schema
