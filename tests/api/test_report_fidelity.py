"""GET /api/v1/reports/clinics/<id>/fidelity/: fidelity per counselor, for the clinic's
administrators and supervisors, over a checked range (docs/reports.md, "Fidelity per counselor").
"""

from datetime import date

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cmtracker.models import AuditEvent
from patients.models import Specimen
from tests.conftest import at
from tests.factories import EnrollmentFactory, PatientFactory
from vouchers import recording
from vouchers.adjustments import ledger_adjust

pytestmark = pytest.mark.django_db

MON, WED, THU, FRI = date(2026, 1, 5), date(2026, 1, 7), date(2026, 1, 8), date(2026, 1, 9)
TODAY = date(2026, 3, 30)


@pytest.fixture(autouse=True)
def _today(clinic):
    with time_machine.travel(at(clinic, TODAY), tick=False):
        yield


@pytest.fixture
def history(clinic, enrollment, counselor, clinic_admin):
    """Casey's patient: negative Monday, positive Wednesday recorded at 11:00, corrected to
    negative by Ada on Thursday at 09:00 ("Misread the cup"), and a $5 credit from Ada."""
    patient = enrollment.patient
    with time_machine.travel(at(clinic, MON, 11), tick=False):
        recording.specimen_record(
            patient=patient,
            collected_at=at(clinic, MON),
            results={"cocaine": "negative"},
            recorded_by=counselor,
        )
    with time_machine.travel(at(clinic, WED, 11), tick=False):
        wednesday = recording.specimen_record(
            patient=patient,
            collected_at=at(clinic, WED),
            results={"cocaine": "positive"},
            recorded_by=counselor,
        ).specimen
    with time_machine.travel(at(clinic, THU, 9), tick=False):
        recording.specimen_correct(
            specimen=wednesday,
            changed_by=clinic_admin,
            reason="Misread the cup",
            results={"cocaine": "negative"},
        )
    with time_machine.travel(at(clinic, FRI, 12), tick=False):
        ledger_adjust(patient=patient, amount_cents=500, reason="Birthday", actor=clinic_admin)
    return enrollment


def url(clinic_id) -> str:
    return reverse("api-report-clinic-fidelity", kwargs={"clinic_id": clinic_id})


def get(api, user, clinic_id, first="2026-01-01", last="2026-03-29"):
    params = {k: v for k, v in (("first", first), ("last", last)) if v is not None}
    return api(user).get(url(clinic_id), params)


@pytest.mark.parametrize("who", ["clinic_admin", "supervisor"])
def test_administrators_and_supervisors_get_the_rows(request, api, clinic, history, who):
    response = get(api, request.getfixturevalue(who), clinic.id)

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["clinic"], body["first"], body["last"]) == (clinic.id, "2026-01-01", "2026-03-29")
    ada, casey, total = body["rows"]
    assert (ada["name"], ada["total"], ada["enrollments"]) == ("ada", False, 0)
    assert (casey["name"], casey["enrollments"]) == ("casey", 1)
    assert total["total"] and total["counselor"] is None
    # Two negatives of two; the second's reward was posted at the correction, 23 hours after
    # collection and the next clinic day. Nearest-rank median of [1 h, 23 h]: 1 h; p90: 23 h.
    assert casey["negative_samples"] == {"numerator": 2, "denominator": 2}
    assert casey["immediacy"] == {
        "median_seconds": 3600,
        "p90_seconds": 23 * 3600,
        "same_day": {"numerator": 1, "denominator": 2},
    }
    # All 12 weeks of the protocol (week 12 is Mar 23..29) are whole in the range and over; only
    # week 1 had tests, 2 of its 3: 0 of 12.
    assert casey["protocol_weeks"] == {"numerator": 0, "denominator": 12}
    assert ada["corrections"] == [
        {
            "at": "2026-01-08T09:00:00-06:00",
            "patient": history.patient_id,
            "reason": "Misread the cup",
            "amount_cents": 0,
        }
    ]
    assert [(a["reason"], a["amount_cents"]) for a in ada["adjustments"]] == [("Birthday", 500)]
    assert casey["corrections"] == casey["excused"] == ada["waivers"] == []
    assert total["corrections"] == ada["corrections"]


def test_the_patients_named_by_the_actions_are_in_the_audit_log(api, clinic, history, supervisor):
    get(api, supervisor, clinic.id)

    reads = AuditEvent.objects.filter(action=AuditEvent.Action.READ, actor=supervisor)
    assert [e.patient_id for e in reads] == [history.patient_id]


@pytest.mark.parametrize("who", ["counselor", "patient_user", "other_counselor"])
def test_anyone_else_is_told_nothing_exists(request, api, clinic, history, who):
    assert get(api, request.getfixturevalue(who), clinic.id).status_code == 404


def test_another_clinic_answers_like_an_unknown_one(api, clinic_admin, other_clinic):
    unknown = get(api, clinic_admin, other_clinic.id + 1000)
    elsewhere = get(api, clinic_admin, other_clinic.id)

    assert unknown.status_code == elsewhere.status_code == 404
    assert unknown.json() == elsewhere.json()


@pytest.mark.parametrize(
    ("first", "last", "field"),
    [
        ("2026-03-01", "2026-02-28", "last"),  # reversed
        ("2021-03-28", "2026-03-29", "last"),  # over five years
        ("2026-03-01", "2026-03-31", "last"),  # after the clinic's today
        (None, "2026-03-29", "first"),
        ("2026-03-01", "yesterday", "last"),
    ],
)
def test_bad_input_answers_400_naming_the_field(api, clinic, clinic_admin, first, last, field):
    response = get(api, clinic_admin, clinic.id, first, last)

    assert response.status_code == 400, response.content
    assert list(response.json()) == [field]


def test_the_schema_describes_the_endpoint(api, clinic_admin):
    schema = api(clinic_admin).get(reverse("api-schema"), {"format": "json"}).json()

    operation = schema["paths"]["/api/v1/reports/clinics/{clinic_id}/fidelity/"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"first", "last", "clinic_id"}


def _enrollments(clinic, higgins, counselor, count):
    for i in range(count):
        patient = PatientFactory(clinic=clinic, primary_counselor=counselor if i % 2 else None)
        enrollment = EnrollmentFactory(patient=patient, protocol=higgins, start_date=MON)
        Specimen.objects.create(enrollment=enrollment, collected_at=at(clinic, WED), outcome="N")


def _queries(api, user, clinic) -> int:
    client = api(user)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url(clinic.id), {"first": "2026-01-01", "last": "2026-03-29"})
    assert response.status_code == 200
    return len(queries)


def test_the_same_queries_for_2_and_10_enrollments(api, clinic, clinic_admin, counselor, higgins):
    _enrollments(clinic, higgins, counselor, 2)
    few = _queries(api, clinic_admin, clinic)
    _enrollments(clinic, higgins, counselor, 8)
    many = _queries(api, clinic_admin, clinic)

    assert few == many
