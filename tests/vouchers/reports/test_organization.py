"""/reports/organization/: each clinic whose reports the reader reads, and their sum — counts
added, never rates averaged; nobody sees a clinic they do not belong to."""

from datetime import date

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.conftest import at
from tests.factories import ClinicFactory, EnrollmentFactory, MembershipFactory, PatientFactory
from vouchers import recording
from vouchers.reports.dashboard import organization_report
from vouchers.reports.measures import Ratio
from vouchers.reports.selectors import clinic_measures

pytestmark = pytest.mark.django_db

MON = date(2026, 1, 5)
TODAY = date(2026, 3, 30)
RANGE = {"first": "2026-01-01", "last": "2026-03-29"}


@pytest.fixture(autouse=True)
def _today(clinic):
    with time_machine.travel(at(clinic, TODAY), tick=False):
        yield


def enrolled(clinic, outcomes):
    """One patient per list of outcomes, tested Monday, Wednesday, Friday... from MON."""
    for tests in outcomes:
        patient = PatientFactory(clinic=clinic)
        EnrollmentFactory(patient=patient, start_date=MON)
        for i, outcome in enumerate(tests):
            day = date(2026, 1, 5 + 2 * i)
            with time_machine.travel(at(clinic, day, 11), tick=False):
                recording.specimen_record(
                    patient=patient, collected_at=at(clinic, day), results={"cocaine": outcome}
                )


@pytest.fixture
def clinics(clinic, other_clinic, clinic_admin):
    """The administrator reads Riverside (2 of 3 negative) and, as a supervisor, Hillside (1 of
    4); a third clinic (all negative) is not theirs."""
    MembershipFactory(user=clinic_admin, clinic=other_clinic, role="supervisor")
    third = ClinicFactory(name="Lakeside", slug="lakeside")
    enrolled(clinic, [["negative", "negative", "positive"]])
    enrolled(other_clinic, [["negative", "positive"], ["positive", "positive"]])
    enrolled(third, [["negative"] * 5])
    return clinic, other_clinic, third


def test_each_clinic_and_the_sum_of_their_counts(client, clinic_admin, clinics):
    client.force_login(clinic_admin)

    response = client.get(reverse("reports-organization"), RANGE)

    assert response.status_code == 200
    report = response.context["report"]
    assert [c.name for c, _m in report.clinics] == ["Hillside Health", "Riverside Recovery"]
    assert [m.negative_samples for _c, m in report.clinics] == [Ratio(1, 4), Ratio(2, 3)]
    # 3 of 7 (43%), not the mean of 25% and 67% (46%).
    assert report.total.negative_samples == Ratio(3, 7)
    page = response.content.decode()
    assert "43% (3 of 7)" in page
    assert "Lakeside" not in page and "100% (5 of 5)" not in page


def test_the_sum_adds_every_ratio_of_the_clinics(clinic_admin, clinics):
    clinic, other, _third = clinics
    first, last = date(2026, 1, 1), date(2026, 3, 29)

    report = organization_report(clinics=[other, clinic], first=first, last=last)

    one, two = (clinic_measures(clinic=c, first=first, last=last) for c in (other, clinic))
    assert [m for _c, m in report.clinics] == [one, two]
    for name in (
        "negative_samples",
        "negative_submitted",
        "completion",
        "attendance",
        "late_results",
        "schedule_kept",
    ):
        assert getattr(report.total, name) == getattr(one, name) + getattr(two, name), name
    assert (
        report.total.abstinence_tests.mean == one.abstinence_tests.mean + two.abstinence_tests.mean
    )
    assert report.total.enrollments == one.enrollments + two.enrollments


def test_a_reader_of_one_clinic_sees_only_it(client, supervisor, clinics):
    client.force_login(supervisor)

    report = client.get(reverse("reports-organization"), RANGE).context["report"]

    assert [c.name for c, _m in report.clinics] == ["Riverside Recovery"]
    assert report.total.negative_samples == Ratio(2, 3)


def test_nobody_else_reads_it(client, counselor, other_counselor, patient_user):
    for user in (counselor, other_counselor, patient_user):
        client.force_login(user)
        assert client.get(reverse("reports-organization")).status_code == 404


@pytest.mark.parametrize(
    "params",
    [
        {"first": "2026-03-01", "last": "2026-02-01"},
        {"first": "2026-03-01", "last": "2026-03-31"},
        {"first": "soon"},
        {"first": "2020-01-01", "last": "2026-03-01"},
    ],
)
def test_bad_input_is_a_form_error(client, clinic_admin, clinics, params):
    client.force_login(clinic_admin)
    response = client.get(reverse("reports-organization"), params)
    assert response.status_code == 400
    assert 'class="errorlist' in response.content.decode()


def test_the_page_costs_a_fixed_number_of_queries_per_clinic(client, clinic_admin, clinics):
    client.force_login(clinic_admin)

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("reports-organization"), RANGE).status_code == 200
        return len(captured)

    few = queries()
    for n in range(3):
        more = ClinicFactory(name=f"Clinic {n}", slug=f"clinic-{n}")
        MembershipFactory(user=clinic_admin, clinic=more, role="admin")
        enrolled(more, [["negative"]] * 3)
    # report_ranges works in one clinic's days: four queries a clinic, whatever its enrollments.
    assert queries() <= few + 3 * 4
