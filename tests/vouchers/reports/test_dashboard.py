"""/reports/: the program dashboard, for the clinic's administrators and supervisors only, over a
checked range of clinic days, broken down by protocol, caseload or cohort in a fixed number of
queries (docs/reports.md, "The dashboard").

Riverside (America/Chicago) tests Mondays, Wednesdays and Fridays; Higgins 1994 from Monday
2026-01-05. Today is pinned to Monday 2026-03-30 in the clinic.
"""

from datetime import date

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from cmtracker.models import AuditEvent
from tests.conftest import at
from tests.factories import (
    EnrollmentFactory,
    MembershipFactory,
    PatientFactory,
    UserFactory,
    preset_protocol,
)
from vouchers import adjustments, recording

pytestmark = pytest.mark.django_db

MON, WED, FRI = date(2026, 1, 5), date(2026, 1, 7), date(2026, 1, 9)
TODAY = date(2026, 3, 30)


@pytest.fixture(autouse=True)
def _today(clinic):
    with time_machine.travel(at(clinic, TODAY), tick=False):
        yield


def record(patient, day, outcome, counselor=None):
    with time_machine.travel(at(patient.clinic, day, 11), tick=False):
        recording.specimen_record(
            patient=patient,
            collected_at=at(patient.clinic, day),
            results={"cocaine": outcome},
            recorded_by=counselor,
        )


@pytest.fixture
def history(clinic, enrollment, counselor):
    """Negative Monday, negative Wednesday, positive Friday of the first Higgins week."""
    for day, outcome in ((MON, "negative"), (WED, "negative"), (FRI, "positive")):
        record(enrollment.patient, day, outcome, counselor)
    return enrollment


def dashboard(client, user, **params):
    client.force_login(user)
    return client.get(reverse("reports-dashboard"), params)


def test_an_administrator_reads_the_clinic_s_measures_as_rates_with_their_counts(
    client, clinic_admin, history
):
    response = dashboard(client, clinic_admin, first="2026-01-01", last="2026-03-29")

    assert response.status_code == 200
    page = response.content.decode()
    assert "Program dashboard · Riverside Recovery" in page
    assert "67% (2 of 3)" in page  # negative samples, and negative of submitted
    assert "1 enrollment in the clinic" in page
    patient = history.patient  # aggregates only: nobody named
    assert patient.last_name not in page and patient.record_number not in page


def test_a_supervisor_reads_it_too_and_lands_on_it(client, supervisor, history):
    assert dashboard(client, supervisor).status_code == 200
    assert client.get(reverse("home"))["Location"] == reverse("reports-dashboard")


def test_the_range_defaults_to_the_last_90_clinic_days(client, clinic_admin, history):
    response = dashboard(client, clinic_admin)

    assert response.context["first"] == date(2025, 12, 31)  # 90 days, today included
    assert response.context["last"] == TODAY
    assert response.context["measures"].negative_samples.denominator == 3


def test_quick_links_keep_the_breakdown(client, clinic_admin, history):
    page = dashboard(client, clinic_admin, by="cohort").content.decode()

    assert "?first=2026-03-01&amp;last=2026-03-30&amp;by=cohort" in page  # last 30 days
    assert "?first=2025-10-01&amp;last=2025-12-31&amp;by=cohort" in page  # last quarter
    assert "?first=2026-01-01&amp;last=2026-03-30&amp;by=cohort" in page  # this year


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"first": "2026-03-01", "last": "2026-02-01"}, "cannot be before its first day"),
        ({"first": "2020-01-01", "last": "2026-03-01"}, "at most five years"),
        ({"first": "2026-03-01", "last": "2026-03-31"}, "after the clinic&#x27;s today"),
        ({"first": "yesterday"}, "Enter a valid date"),
        ({"last": "2026-02-30"}, "Enter a valid date"),
        ({"by": "patient"}, "Select a valid choice"),
        ({"first": "9999999-01-01"}, "Enter a valid date"),
        ({"first": "0001-01-01", "last": "0001-01-01"}, "starts on 2000-01-01 or later"),
    ],
)
def test_bad_input_is_a_form_error_on_the_page(client, clinic_admin, history, params, message):
    response = dashboard(client, clinic_admin, **params)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert "report" not in response.context or response.context.get("report") is None


def test_nobody_else_reads_it(client, counselor, other_counselor, patient_user, history):
    assert client.get(reverse("reports-dashboard")).status_code == 302  # sign in first
    for user in (counselor, other_counselor, patient_user):
        assert dashboard(client, user).status_code == 404


def test_another_clinic_s_id_is_not_found(client, clinic_admin, other_clinic, history):
    assert dashboard(client, clinic_admin, clinic=other_clinic.pk).status_code == 404
    assert dashboard(client, clinic_admin, clinic="abc").status_code == 404


def test_a_reader_of_two_clinics_chooses_one(client, clinic_admin, other_clinic, history):
    MembershipFactory(user=clinic_admin, clinic=other_clinic, role="supervisor")

    response = dashboard(client, clinic_admin, clinic=other_clinic.pk)

    assert response.status_code == 200
    assert response.context["clinic"] == other_clinic
    assert response.context["measures"].enrollments == 0
    assert "—" in response.content.decode()  # nothing to count


def test_the_breakdown_by_protocol_counselor_and_cohort(client, clinic, clinic_admin, history):
    other = UserFactory(username="morgan", first_name="Morgan", last_name="Lee")
    MembershipFactory(user=other, clinic=clinic, role="counselor")
    patient = PatientFactory(clinic=clinic, primary_counselor=other)
    EnrollmentFactory(
        patient=patient, protocol=preset_protocol("silverman-1996"), start_date=date(2026, 2, 2)
    )
    record(patient, date(2026, 2, 2), "negative")
    PatientFactory(clinic=clinic)  # never enrolled: in no group
    orphan = EnrollmentFactory(patient=PatientFactory(clinic=clinic), start_date=date(2026, 2, 4))
    record(orphan.patient, date(2026, 2, 4), "positive")

    def groups(by):
        response = dashboard(client, clinic_admin, first="2026-01-01", last="2026-03-29", by=by)
        assert response.status_code == 200
        rows = [(g.label, g.measures.negative_samples) for g in response.context["report"].groups]
        return [(label, rate.numerator, rate.denominator) for label, rate in rows]

    higgins, silverman = preset_protocol("higgins-1994"), preset_protocol("silverman-1996")
    assert groups("protocol") == sorted(
        [
            (f"{higgins.name}, version {higgins.version}", 2, 4),
            (f"{silverman.name}, version {silverman.version}", 1, 1),
        ]
    )
    assert groups("counselor") == [
        (history.patient.primary_counselor.get_full_name() or "casey", 2, 3),
        ("Morgan Lee", 1, 1),
        ("No primary counselor", 0, 1),
    ]
    assert groups("cohort") == [("January 2026", 2, 3), ("February 2026", 1, 2)]
    assert groups("") == []


def enrolled(clinic, count, counselors):
    for i in range(count):
        patient = PatientFactory(clinic=clinic, primary_counselor=counselors[i % len(counselors)])
        start = date(2026, 1 + i % 3, 5)
        EnrollmentFactory(patient=patient, start_date=start)
        record(patient, start, "negative" if i % 2 else "positive")


BREAKDOWNS = ["", "protocol", "counselor", "cohort"]


def test_the_page_costs_the_same_queries_for_10_and_100_enrollments(client, clinic, clinic_admin):
    counselors = []
    for n in range(4):
        counselors.append(UserFactory(username=f"counselor{n}"))
        MembershipFactory(user=counselors[-1], clinic=clinic, role="counselor")
    client.force_login(clinic_admin)

    def queries(by):
        params = {"first": "2026-01-01", "last": "2026-03-29", "by": by}
        with CaptureQueriesContext(connection) as captured:
            response = client.get(reverse("reports-dashboard"), params)
        assert response.status_code == 200
        return len(captured), response.context["measures"].enrollments

    enrolled(clinic, 10, counselors)
    few = {by: queries(by) for by in BREAKDOWNS}
    enrolled(clinic, 90, counselors)
    many = {by: queries(by) for by in BREAKDOWNS}

    for by in BREAKDOWNS:
        assert (few[by][1], many[by][1]) == (10, 100)
        # Session, user, memberships, clinics; the five reads (one more names the counselors of
        # a breakdown by caseload); then rewards and cost, the weekly cost and the exceptions
        # (vouchers.reports.costs) and fidelity per counselor, each a fixed number of queries.
        assert few[by][0] == many[by][0], by
    assert max(count for count, _n in many.values()) <= 55


def test_the_page_reads_in_spanish(client, clinic_admin, history):
    client.force_login(clinic_admin)
    with translation.override("es"):
        response = client.get(
            reverse("reports-dashboard"),
            {"first": "2026-01-01", "last": "2026-03-29"},
            HTTP_ACCEPT_LANGUAGE="es",
        )
    page = response.content.decode()
    assert "Panel del programa" in page
    assert "67 % (2 de 3)" in page


@pytest.fixture
def adjusted(history, clinic_admin):
    """A $10.00 credit staff gave outside the schedule, on Thursday of the first week."""
    with time_machine.travel(at(history.patient.clinic, date(2026, 1, 8), 15), tick=False):
        adjustments.ledger_adjust(
            patient=history.patient,
            amount_cents=1000,
            reason="Bus fare to court",
            actor=clinic_admin,
        )
    return history


def test_rewards_and_cost_with_the_weekly_cost_chart(client, clinic_admin, history):
    response = dashboard(client, clinic_admin, first="2026-01-01", last="2026-03-29")

    costs = response.context["costs"]
    assert (costs.vouchers_cents, costs.negatives) == (250 + 375, 2)
    page = response.content.decode()
    assert "$6.25" in page  # earned: $2.50 then $3.75
    assert "$3.13 per negative test" in page  # 625 / 2 = 312.5 cents, rounded half up
    weekly = next(c for c in response.context["charts"] if c.id == "chart-cost")
    assert weekly.rows[0].label == "12/29/2025" and weekly.rows[1].value == "$6.25"


def test_an_administrator_sees_who_the_exceptions_are_and_it_is_logged(
    client, clinic_admin, adjusted
):
    since = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0

    page = dashboard(client, clinic_admin, first="2026-01-01", last="2026-03-29").content.decode()

    patient = adjusted.patient
    assert patient.full_name in page and "Bus fare to court" in page
    reads = AuditEvent.objects.filter(id__gt=since, action=AuditEvent.Action.READ)
    assert list(reads.values_list("patient_id", "actor_label")) == [(patient.pk, "ada")]


def test_a_supervisor_sees_how_many_exceptions_but_nobody_named(client, supervisor, adjusted):
    since = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0

    response = dashboard(client, supervisor, first="2026-01-01", last="2026-03-29")

    assert len(response.context["exceptions"].outside_schedule) == 1
    assert adjusted.patient.full_name not in response.content.decode()
    assert not AuditEvent.objects.filter(id__gt=since, action=AuditEvent.Action.READ).exists()


def test_the_fidelity_table_has_a_row_per_counselor_and_the_clinic(client, clinic_admin, history):
    response = dashboard(client, clinic_admin, first="2026-01-01", last="2026-03-29")

    rows = response.context["fidelity"]
    assert rows[-1].is_total and rows[-1].negative_samples.denominator == 3
    assert "Fidelity by counselor" in response.content.decode()
