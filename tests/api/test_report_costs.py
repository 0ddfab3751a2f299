"""GET /api/v1/reports/clinics/<id>/costs/ and .../exceptions/: a clinic's rewards and cost and its
equal-opportunity exceptions, for its administrators and supervisors only (docs/reports.md).

The history is tests/vouchers/reports/test_costs.py's (Ana, Ben and Cleo, week of 2026-01-05).
"""

from datetime import date, datetime, time

import pytest
import time_machine
from django.urls import reverse

from patients.models import Specimen
from tests.conftest import at
from tests.factories import MembershipFactory, UserFactory
from tests.vouchers.reports.test_costs import MON, SUN, THU, history  # noqa: F401 (a fixture)
from vouchers.models import LedgerEntry
from vouchers.reports.costs import clinic_costs

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _today(clinic):
    with time_machine.travel(datetime.combine(date(2026, 2, 2), time(12), clinic.tz), tick=False):
        yield


def get(api, user, name, clinic_id, first="2026-01-05", last="2026-01-11"):
    params = {k: v for k, v in (("first", first), ("last", last)) if v is not None}
    return api(user).get(reverse(name, kwargs={"clinic_id": clinic_id}), params)


COSTS, EXCEPTIONS = "api-report-clinic-costs", "api-report-clinic-exceptions"


@pytest.mark.parametrize("who", ["clinic_admin", "supervisor"])
def test_administrators_and_supervisors_get_the_costs(request, api, clinic, history, who):  # noqa: F811
    ana, _ben, _cleo = history

    response = get(api, request.getfixturevalue(who), COSTS, clinic.id)

    assert response.status_code == 200, response.content
    body = response.json()
    expected = clinic_costs(clinic=clinic, first=MON, last=SUN)
    assert (body["clinic"], body["first"], body["last"]) == (clinic.id, "2026-01-05", "2026-01-11")
    assert body["earned_cents"] == expected.earned_cents == 4250
    assert (body["vouchers_cents"], body["bonuses_cents"], body["attendance_cents"]) == (
        1450,
        500,
        200,
    )
    assert (body["prizes_won_cents"], body["draws"], body["redeemed_cents"]) == (2100, 3, 500)
    assert (body["handed_over_cents"], body["prizes_claimed_cents"]) == (2000, 2000)
    # Exact, never a float.
    assert body["per_enrollment"] == {
        "mean": {"numerator": 4250, "denominator": 3},
        "median": 1900,
    }
    assert body["per_negative"] == {"numerator": 4250, "denominator": 6}
    assert body["per_abstinent_week"] == {"numerator": 4250, "denominator": 2}
    assert body["clipped_cents"] == 0
    (credit,) = body["adjustments"]
    assert credit == {
        "kind": "adjustment",
        "patient": ana.patient_id,
        "amount_cents": 1000,
        "reason": "Bus fare to court",
        "by": credit["by"],
        "by_name": "ada",
        "at": credit["at"],
    }
    assert datetime.fromisoformat(credit["at"]) == datetime.combine(THU, time(15), clinic.tz)
    assert [(w["amount_cents"], w["reason"]) for w in body["waivers"]] == [(250, "Hardship")]
    assert (body["adjustments_cents"], body["waived_cents"]) == (1000, 250)
    assert body["redemption_immediacy"] == {
        "median_seconds": None,
        "p90_seconds": None,
        "same_day": {"numerator": 0, "denominator": 0},
    }
    assert body["weekly"] == [{"week": "2026-01-05", "earned_cents": 4250}]


def test_the_hand_over_delay_is_in_seconds(api, clinic, clinic_admin, history):  # noqa: F811
    body = get(api, clinic_admin, COSTS, clinic.id, last="2026-01-18").json()

    # Ben's phone card: asked Friday 12:00, handed over Monday 2 09:00.
    assert body["redemption_immediacy"] == {
        "median_seconds": 69 * 3600,
        "p90_seconds": 69 * 3600,
        "same_day": {"numerator": 0, "denominator": 1},
    }
    assert [w["week"] for w in body["weekly"]] == ["2026-01-05", "2026-01-12"]


def test_a_clinic_paid_exactly_lists_only_the_rewards_outside_the_schedule(
    api,
    clinic,
    clinic_admin,
    history,  # noqa: F811
):
    body = get(api, clinic_admin, EXCEPTIONS, clinic.id).json()

    assert body["enrollments"] == 3
    assert body["mismatches"] == []
    assert [(s["kind"], s["amount_cents"], s["reason"]) for s in body["outside_schedule"]] == [
        ("adjustment", 1000, "Bus fare to court"),
        ("waiver", 250, "Hardship"),
    ]


def test_an_award_posted_by_hand_is_an_exception(api, clinic, clinic_admin, history):  # noqa: F811
    ana, _ben, _cleo = history
    monday = Specimen.objects.get(enrollment=ana, collected_at=at(clinic, MON))
    LedgerEntry.objects.create(
        patient=ana.patient,
        enrollment=ana,
        kind=LedgerEntry.Kind.EARN,
        component=LedgerEntry.Component.VOUCHER,
        amount_cents=50,
        specimen=monday,
        event_year=2026,
    )

    body = get(api, clinic_admin, EXCEPTIONS, clinic.id).json()

    assert body["mismatches"] == [
        {
            "enrollment": ana.pk,
            "patient": ana.patient_id,
            "protocol": ana.protocol_id,
            "awards": [
                {
                    "source": "specimen",
                    "source_id": monday.pk,
                    "day": "2026-01-05",
                    "component": "voucher",
                    "event_year": 2026,
                    "expected": 300,
                    "posted": 350,
                }
            ],
        }
    ]


@pytest.fixture
def other_admin(other_clinic):
    user = UserFactory(username="otis")
    MembershipFactory(user=user, clinic=other_clinic, role="admin")
    return user


@pytest.mark.parametrize("name", [COSTS, EXCEPTIONS])
@pytest.mark.parametrize("who", ["counselor", "patient_user", "other_admin"])
def test_anyone_else_is_told_nothing_exists(request, api, clinic, name, who):
    assert get(api, request.getfixturevalue(who), name, clinic.id).status_code == 404


@pytest.mark.parametrize("name", [COSTS, EXCEPTIONS])
def test_another_clinic_and_an_unknown_one_answer_alike(api, clinic_admin, other_clinic, name):
    unknown = get(api, clinic_admin, name, other_clinic.id + 1000)
    elsewhere = get(api, clinic_admin, name, other_clinic.id)

    assert unknown.status_code == elsewhere.status_code == 404
    assert unknown.json() == elsewhere.json()


@pytest.mark.parametrize("name", [COSTS, EXCEPTIONS])
def test_anonymous_is_asked_to_sign_in(api, clinic, name):
    assert get(api, None, name, clinic.id).status_code == 401


@pytest.mark.parametrize("name", [COSTS, EXCEPTIONS])
@pytest.mark.parametrize(
    ("first", "last", "field"),
    [
        ("2026-01-11", "2026-01-05", "last"),  # reversed
        ("2021-02-01", "2026-02-02", "last"),  # 1,828 days counted inclusively
        ("2026-01-05", "2026-02-03", "last"),  # after the clinic's today
        (None, "2026-01-11", "first"),
        ("2026-01-05", None, "last"),
        ("2026-13-01", "2026-01-11", "first"),
        ("2026-01-05", "last week", "last"),
    ],
)
def test_bad_input_answers_400_naming_the_field(
    api, clinic, clinic_admin, name, first, last, field
):
    response = get(api, clinic_admin, name, clinic.id, first, last)

    assert response.status_code == 400, response.content
    assert list(response.json()) == [field]


def test_both_are_in_the_openapi_schema(api, clinic_admin):
    schema = api(clinic_admin).get(reverse("api-schema"), {"format": "json"}).json()

    for route in ("costs", "exceptions"):
        operation = schema["paths"][f"/api/v1/reports/clinics/{{clinic_id}}/{route}/"]["get"]
        assert {p["name"] for p in operation["parameters"]} >= {"clinic_id", "first", "last"}
