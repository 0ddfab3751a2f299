"""The Today board costs the same number of queries for 10 patients as for 200."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from patients.models import Attendance, Specimen
from tests.factories import EnrollmentFactory, PatientFactory


def clinic_with(clinic, higgins, count: int, counselor=None):
    """`count` more patients in their second week: a third due today, a third overdue, a third
    seen today (a test and a session), each with a test a week ago too; `counselor`'s caseload
    (their panel on Today reads every one)."""
    today = clinic.local_date(timezone.now())
    now = timezone.now() - timedelta(minutes=1)
    for i in range(count):
        patient = PatientFactory(clinic=clinic, primary_counselor=counselor)
        kind = i % 3
        start = today if kind != 1 else today - timedelta(days=3)
        enrollment = EnrollmentFactory(
            patient=patient, protocol=higgins, start_date=start - timedelta(days=7)
        )
        Specimen.objects.create(
            enrollment=enrollment, collected_at=now - timedelta(days=7), outcome="N"
        )
        if kind == 2:
            Specimen.objects.create(enrollment=enrollment, collected_at=now, outcome="N")
            Attendance.objects.create(
                enrollment=enrollment, occurred_at=now, session_kind="cbt", status="attended"
            )


def queries_for_today(client) -> tuple[int, str]:
    """The page's queries. The audit log's one insert of a read per patient listed is left out:
    SQLite splits a bulk insert into batches of its variable limit (PostgreSQL does not)."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("today"))
    assert response.status_code == 200
    audit_inserts = [
        q for q in queries if q["sql"].startswith('INSERT INTO "cmtracker_auditevent"')
    ]
    assert audit_inserts  # the reads are logged
    return len(queries) - len(audit_inserts) + 1, response.content.decode()


@pytest.fixture
def desk(client, counselor):
    client.force_login(counselor)
    return client


def test_today_costs_the_same_queries_for_10_and_200_patients(desk, clinic, higgins, counselor):
    clinic_with(clinic, higgins, 10, counselor)
    few, page = queries_for_today(desk)
    assert page.count("Record result") == 10
    assert "10 patients in treatment" in page

    clinic_with(clinic, higgins, 190, counselor)
    many, page = queries_for_today(desk)
    assert page.count("Record result") == 200
    assert "200 patients in treatment" in page

    assert few == many


def test_today_stays_within_a_small_budget(
    desk, clinic, higgins, counselor, django_assert_max_num_queries
):
    clinic_with(clinic, higgins, 30, counselor)

    # Sign-in, session and role checks take about ten; the board itself five: clinics,
    # enrollments with patients, their protocols with their phases (vouchers.models.
    # protocols_attach), last week's tests, last week's sessions; the counselor's caseload six:
    # its enrollments' patients and statuses, and the record's five (vouchers.reports.selectors.
    # report_enrollments); the audit log two, whatever the number of patients listed (their
    # clinics, one insert).
    with django_assert_max_num_queries(23):
        desk.get(reverse("today"))
