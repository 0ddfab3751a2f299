"""GET /api/v1/reports/clinics/<id>/payer/?quarter=YYYY-Qn: the quarterly payer report as JSON,
for the clinic's report readers, the same figures as the page and the CSV (docs/reports.md,
"Quarterly payer report")."""

from datetime import date, datetime, time

import pytest
import time_machine
from django.urls import reverse

from tests.conftest import at
from tests.factories import EnrollmentFactory, MembershipFactory, PatientFactory, UserFactory
from vouchers import recording
from vouchers.reports.payer import payer_report

pytestmark = pytest.mark.django_db

TODAY = date(2026, 11, 16)


@pytest.fixture(autouse=True)
def _today(clinic):
    with time_machine.travel(at(clinic, TODAY), tick=False):
        yield


def record(patient, moment, outcome="negative"):
    with time_machine.travel(moment, tick=False):
        recording.specimen_record(
            patient=patient, collected_at=moment, results={"cocaine": outcome}
        )


@pytest.fixture
def history(clinic, higgins):
    """Higgins from Monday 14 September: N on the 14th ($2.50), P on the 16th, N at 23:30 on
    Wednesday 30 September in Chicago ($2.50: 05:30 UTC on 1 October, still the third quarter),
    N on Friday 2 October ($3.75, the fourth)."""
    patient = PatientFactory(clinic=clinic)
    EnrollmentFactory(patient=patient, protocol=higgins, start_date=date(2026, 9, 14))
    record(patient, at(clinic, date(2026, 9, 14)))
    record(patient, at(clinic, date(2026, 9, 16)), outcome="positive")
    record(patient, datetime.combine(date(2026, 9, 30), time(23, 30), tzinfo=clinic.tz))
    record(patient, at(clinic, date(2026, 10, 2)))
    return patient


def url(clinic_id) -> str:
    return reverse("api-report-clinic-payer", kwargs={"clinic_id": clinic_id})


def test_a_supervisor_gets_the_quarter_s_figures(api, clinic, supervisor, history):
    response = api(supervisor).get(url(clinic.id), {"quarter": "2026-Q3"})

    assert response.status_code == 200, response.content
    assert response.json() == {
        "clinic": clinic.id,
        "quarter": "2026-Q3",
        "first": "2026-07-01",
        "last": "2026-09-30",
        "so_far": False,
        "participants_in_treatment": 1,
        "participants_enrolled": 1,
        "participants_active": 1,
        "completions": 0,
        "tests": {
            "scheduled": 3,
            "submitted": 3,
            "negative": 2,
            "positive": 1,
            "adulterated": 0,
            "dilute": 0,
            "missed": 0,
            "refused": 0,
            "excused": 0,
        },
        "incentives": {
            "earned_cents": 500,
            "vouchers_earned_cents": 500,
            "prizes_won_cents": 0,
            "dispensed_cents": 0,
            "redemptions_handed_over_cents": 0,
            "prizes_claimed_cents": 0,
        },
    }


def test_a_quarter_in_progress_is_so_far(api, clinic, clinic_admin, history):
    body = api(clinic_admin).get(url(clinic.id), {"quarter": "2026-q4"}).json()

    assert (body["quarter"], body["first"], body["last"], body["so_far"]) == (
        "2026-Q4",
        "2026-10-01",
        "2026-11-16",
        True,
    )
    assert body["tests"]["negative"] == 1
    assert body["incentives"]["vouchers_earned_cents"] == 375


def test_the_json_has_the_numbers_of_the_report(api, clinic, clinic_admin, history):
    body = api(clinic_admin).get(url(clinic.id), {"quarter": "2026-Q3"}).json()

    report = payer_report(clinic=clinic, year=2026, quarter=3)
    flat = {**body, **{f"tests_{k}": v for k, v in body["tests"].items()}}
    flat.update(
        incentives_earned_cents=body["incentives"]["earned_cents"],
        incentives_dispensed_cents=body["incentives"]["dispensed_cents"],
        **{k: v for k, v in body["incentives"].items() if k.endswith("_cents")},
    )
    for name, value in report.figures():
        assert flat[name] == value, name


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"quarter": "2027-Q1"}, "2027-Q1 has not begun"),
        ({"quarter": "2026-Q0"}, "Give a quarter"),
        ({"quarter": "x" * 30}, "Ensure this field has no more than 20 characters."),
        ({"quarter": "1999-Q4"}, "Choose a quarter from 2000 on."),
        ({}, "This field is required."),
    ],
)
def test_a_bad_quarter_is_a_400_naming_the_field(api, clinic, clinic_admin, params, message):
    response = api(clinic_admin).get(url(clinic.id), params)

    assert response.status_code == 400
    assert message in " ".join(response.json()["quarter"])


def test_another_clinic_s_id_is_not_found(api, clinic_admin, other_clinic):
    assert api(clinic_admin).get(url(other_clinic.id), {"quarter": "2026-Q3"}).status_code == 404
    assert api(clinic_admin).get(url(999999), {"quarter": "2026-Q3"}).status_code == 404


def test_an_administrator_of_two_clinics_reads_each(api, clinic, other_clinic, history):
    both = UserFactory(username="both")
    MembershipFactory(user=both, clinic=clinic, role="admin")
    MembershipFactory(user=both, clinic=other_clinic, role="supervisor")

    here = api(both).get(url(clinic.id), {"quarter": "2026-Q3"}).json()
    there = api(both).get(url(other_clinic.id), {"quarter": "2026-Q3"}).json()

    assert here["tests"]["submitted"] == 3
    assert there["tests"]["submitted"] == 0


def test_the_endpoint_is_in_the_schema(api, clinic_admin):
    schema = api(clinic_admin).get("/api/schema/?format=json").json()

    operation = schema["paths"]["/api/v1/reports/clinics/{clinic_id}/payer/"]["get"]
    assert [p["name"] for p in operation["parameters"] if p["in"] == "query"] == ["quarter"]
