"""GET /api/v1/reports/clinics/<id>/measures/: a clinic's headline measures, for its
administrators only, over a checked range of clinic days (docs/reports.md, "API")."""

from dataclasses import asdict
from datetime import date

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from patients.models import Attendance, Specimen
from tests.conftest import at
from tests.factories import EnrollmentFactory, MembershipFactory, PatientFactory, UserFactory
from vouchers import recording
from vouchers.reports.selectors import clinic_measures

pytestmark = pytest.mark.django_db

MON, WED, FRI = date(2026, 1, 5), date(2026, 1, 7), date(2026, 1, 9)
TODAY = date(2026, 3, 30)


@pytest.fixture(autouse=True)
def _today(clinic):
    with time_machine.travel(at(clinic, TODAY), tick=False):
        yield


@pytest.fixture
def history(clinic, enrollment, counselor):
    """Negative Monday, negative Wednesday, positive Friday of the first Higgins week."""
    for day, outcome in ((MON, "negative"), (WED, "negative"), (FRI, "positive")):
        with time_machine.travel(at(clinic, day, 11), tick=False):
            recording.specimen_record(
                patient=enrollment.patient,
                collected_at=at(clinic, day),
                results={"cocaine": outcome},
                recorded_by=counselor,
            )
    return enrollment


def url(clinic_id) -> str:
    return reverse("api-report-clinic-measures", kwargs={"clinic_id": clinic_id})


def get(api, user, clinic_id, first="2026-01-01", last="2026-03-29"):
    params = {k: v for k, v in (("first", first), ("last", last)) if v is not None}
    return api(user).get(url(clinic_id), params)


def as_json(ratio) -> dict:
    return {"numerator": ratio.numerator, "denominator": ratio.denominator}


def test_an_administrator_gets_the_clinic_measures(api, clinic, clinic_admin, history):
    response = get(api, clinic_admin, clinic.id)

    assert response.status_code == 200, response.content
    body = response.json()
    expected = clinic_measures(clinic=clinic, first=date(2026, 1, 1), last=date(2026, 3, 29))
    assert (body["clinic"], body["first"], body["last"]) == (clinic.id, "2026-01-01", "2026-03-29")
    assert body["enrollments"] == expected.enrollments == 1
    # N N P: two negatives of three scheduled tests, exact, never a float.
    assert body["negative_samples"] == {"numerator": 2, "denominator": 3}
    for name in (
        "negative_samples",
        "negative_submitted",
        "completion",
        "attendance",
        "late_results",
        "schedule_kept",
    ):
        assert body[name] == as_json(getattr(expected, name)), name
    for name in ("abstinence_tests", "abstinence_weeks", "retention"):
        summary = getattr(expected, name)
        assert body[name] == {"mean": as_json(summary.mean), "median": summary.median}, name
    assert body["retention_curve"] == [
        {"week": week, **as_json(ratio)} for week, ratio in expected.retention_curve
    ]
    assert len(body["retention_curve"]) == 12
    immediacy = expected.immediacy
    assert body["immediacy"] == {
        "median_seconds": int(immediacy.median.total_seconds()),
        "p90_seconds": int(immediacy.p90.total_seconds()),
        "same_day": as_json(immediacy.same_day),
    }
    assert body["immediacy"]["median_seconds"] == 3600  # recorded an hour after collection
    # No session at all: a ratio over nothing stays 0/0 for the client to show "nothing to count".
    assert body["attendance"] == {"numerator": 0, "denominator": 0}
    assert set(body) == {"clinic", "first", "last", *asdict(expected)}


def test_no_enrollment_answers_empty_measures(api, clinic, clinic_admin):
    body = get(api, clinic_admin, clinic.id).json()

    assert body["enrollments"] == 0
    assert body["negative_samples"] == {"numerator": 0, "denominator": 0}
    assert body["immediacy"]["median_seconds"] is None
    assert body["retention_curve"] == []


@pytest.fixture
def other_admin(other_clinic):
    user = UserFactory(username="otis")
    MembershipFactory(user=user, clinic=other_clinic, role="admin")
    return user


@pytest.mark.parametrize("who", ["counselor", "patient_user", "other_admin"])
def test_anyone_but_its_administrators_is_told_nothing_exists(request, api, clinic, history, who):
    user = request.getfixturevalue(who)

    assert get(api, user, clinic.id).status_code == 404


def test_an_unknown_clinic_and_another_clinic_answer_alike(api, clinic_admin, other_clinic):
    unknown = get(api, clinic_admin, other_clinic.id + 1000)
    elsewhere = get(api, clinic_admin, other_clinic.id)

    assert unknown.status_code == elsewhere.status_code == 404
    assert unknown.json() == elsewhere.json()


def test_anonymous_is_asked_to_sign_in(api, clinic):
    assert get(api, None, clinic.id).status_code == 401


@pytest.mark.parametrize(
    ("first", "last", "field"),
    [
        ("2026-03-01", "2026-02-28", "last"),  # reversed
        ("2021-03-28", "2026-03-29", "last"),  # 1,828 days counted inclusively
        ("2026-03-01", "2026-03-31", "last"),  # after the clinic's today
        (None, "2026-03-29", "first"),
        ("2026-03-01", None, "last"),
        ("2026-13-01", "2026-03-29", "first"),
        ("2026-03-01", "yesterday", "last"),
        ("", "2026-03-29", "first"),
        ("0001-01-01", "0001-01-01", "first"),  # before any record (found by the API fuzz)
        ("1999-12-31", "2000-01-01", "first"),
    ],
)
def test_bad_input_answers_400_naming_the_field(api, clinic, clinic_admin, first, last, field):
    response = get(api, clinic_admin, clinic.id, first, last)

    assert response.status_code == 400, response.content
    assert list(response.json()) == [field]


def test_five_years_and_today_are_allowed(api, clinic, clinic_admin):
    # 2021-03-30..2026-03-30, both counted: 1,827 days, the most a range covers.
    response = get(api, clinic_admin, clinic.id, "2021-03-30", TODAY.isoformat())

    assert response.status_code == 200, response.content


def _enrollments(clinic, higgins, count):
    for _ in range(count):
        enrollment = EnrollmentFactory(
            patient=PatientFactory(clinic=clinic), protocol=higgins, start_date=MON
        )
        Specimen.objects.create(enrollment=enrollment, collected_at=at(clinic, WED), outcome="N")
        Attendance.objects.create(
            enrollment=enrollment,
            occurred_at=at(clinic, WED, 14),
            session_kind="cbt",
            status="attended",
        )


def _queries(api, user, clinic) -> int:
    client = api(user)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url(clinic.id), {"first": "2026-01-01", "last": "2026-03-29"})
    assert response.status_code == 200
    return len(queries)


def test_the_same_queries_for_2_and_10_enrollments(api, clinic, clinic_admin, higgins):
    _enrollments(clinic, higgins, 2)
    few = _queries(api, clinic_admin, clinic)
    _enrollments(clinic, higgins, 8)
    many = _queries(api, clinic_admin, clinic)

    assert few == many
