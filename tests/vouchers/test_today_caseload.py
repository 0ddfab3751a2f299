"""The counselor's own caseload on Today: the negative-sample rate and immediacy of the last 28
clinic days, who is on a long streak and who is slipping (docs/reports.md, "Counselor view on
Today"). Histories are written by the recording services at pinned instants; "now" is pinned.

Riverside (America/Chicago) tests Mondays, Wednesdays and Fridays. Higgins 1994, 3 a week.
"""

from datetime import date, datetime, time, timedelta

import pytest
import time_machine
from django.urls import reverse

from cmtracker.models import AuditEvent
from tests.factories import EnrollmentFactory, MembershipFactory, PatientFactory, UserFactory
from vouchers import recording
from vouchers.reports.caseload import counselor_caseloads
from vouchers.reports.measures import Abstinence, Immediacy, Ratio

MINUTE, HOUR = timedelta(minutes=1), timedelta(hours=1)
START = date(2026, 1, 5)  # a Monday
TODAY = date(2026, 2, 27)  # Friday of week 8; the window is Sat 31 Jan .. Fri 27 Feb
WINDOW_FIRST = date(2026, 1, 31)


def local(clinic, day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=clinic.tz)


def mwf(week: int, i: int) -> date:
    """Monday (0), Wednesday (1) or Friday (2) of enrollment week `week`."""
    return START + timedelta(days=7 * (week - 1) + 2 * i)


def record(patient, day, outcome="negative", recorded_after=5 * MINUTE):
    collected = local(patient.clinic, day, 10)
    with time_machine.travel(collected + recorded_after, tick=False):
        if outcome == "missed":
            return recording.specimen_record(
                patient=patient, collected_at=collected, status="missed"
            )
        return recording.specimen_record(
            patient=patient, collected_at=collected, results={"cocaine": outcome}
        )


@pytest.fixture
def caseload(clinic, counselor, higgins):
    """Casey's patients, from Monday 5 January:
    - Avery: negatives on every test day of weeks 6, 7 and Mon, Wed of week 8 (8 tests); the
      first 3 are before the window (Mon 9 Feb is the first in it... see below).
    - Blake: negative Mon of week 8, then positive Wed and missed Fri of week 8: slipping.
    - Cody: positive Mon of week 8, negative Wed and Fri: a streak of 2, not long.
    - Dana, completed and ended on 20 February: in the rate, not in the lists.
    And Robin's patient, not Casey's.
    """
    avery = PatientFactory(clinic=clinic, primary_counselor=counselor, first_name="Avery")
    blake = PatientFactory(clinic=clinic, primary_counselor=counselor, first_name="Blake")
    cody = PatientFactory(clinic=clinic, primary_counselor=counselor, first_name="Cody")
    dana = PatientFactory(clinic=clinic, primary_counselor=counselor, first_name="Dana")
    robin = UserFactory(username="robin")
    MembershipFactory(user=robin, clinic=clinic, role="counselor")
    theirs = PatientFactory(clinic=clinic, primary_counselor=robin, first_name="Eli")
    for patient in (avery, blake, cody, dana, theirs):
        EnrollmentFactory(patient=patient, protocol=higgins, start_date=START)

    # Avery, weeks 4 (before the window) to 8: the streak starts in week 6 after a positive.
    record(avery, mwf(4, 0))
    record(avery, mwf(5, 0), "positive")
    for week, i in [(6, 0), (6, 1), (6, 2), (7, 0), (7, 1), (7, 2), (8, 0), (8, 1)]:
        record(avery, mwf(week, i))
    # Blake's negative was recorded 2 hours after collection.
    record(blake, mwf(8, 0), recorded_after=2 * HOUR)
    record(blake, mwf(8, 1), "positive")
    record(blake, mwf(8, 2), "missed")
    record(cody, mwf(8, 0), "positive")
    record(cody, mwf(8, 1))
    record(cody, mwf(8, 2))
    record(dana, mwf(7, 0), "positive")
    enrollment = dana.enrollments.get()
    enrollment.status, enrollment.end_date = "completed", date(2026, 2, 20)
    enrollment.save()
    record(theirs, mwf(8, 0), "positive")
    return avery, blake, cody, dana


def read(clinic, counselor):
    return counselor_caseloads(counselor=counselor, clinics=[clinic], now=local(clinic, TODAY, 12))


def test_the_caseload_of_the_last_28_days(clinic, counselor, caseload):
    avery, blake, cody, dana = caseload
    (mine,) = read(clinic, counselor)

    assert (mine.first, mine.last, mine.patients) == (WINDOW_FIRST, TODAY, 3)
    # In the window (from Sat 31 Jan: weeks 5 to 8): Avery P + 8 N; Blake N P M; Cody P N N;
    # Dana P. Negatives 8 + 1 + 2 = 11 of 9 + 3 + 3 + 1 = 16. Robin's patient is not here.
    assert mine.negative_samples == Ratio(11, 16)
    # 11 rewards: 10 posted 5 minutes after collection, Blake's after 2 hours; all the same day.
    assert mine.immediacy == Immediacy(median=5 * MINUTE, p90=5 * MINUTE, same_day=Ratio(11, 11))
    # Avery: 8 negatives from Mon of week 6 to Wed of week 8: 3 weeks. Cody's 2 are too few.
    assert [(p.name, p.streak) for p in mine.long_streaks] == [
        (avery.full_name, Abstinence(tests=8, weeks=3))
    ]
    assert [p.patient_id for p in mine.slipping] == [blake.pk]


def test_a_counselor_with_no_caseload_has_no_panel(clinic, caseload):
    nobody = UserFactory(username="newcomer")
    MembershipFactory(user=nobody, clinic=clinic, role="counselor")

    assert read(clinic, nobody) == []


@pytest.fixture
def desk(client, counselor):
    client.force_login(counselor)
    return client


def today_page(desk, clinic, language="en"):
    with time_machine.travel(local(clinic, TODAY, 12), tick=False):
        response = desk.get(reverse("today"), HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    return response.content.decode()


def test_today_shows_the_counselor_their_caseload(desk, clinic, caseload):
    avery, blake, _cody, _dana = caseload
    page = today_page(desk, clinic)

    assert "Your caseload" in page
    assert "3 patients in treatment" in page
    assert "69%" in page and "(11 of 16 tests)" in page  # 11/16 = 68.75%
    assert "5 min" in page and "(11 of 11 rewards)" in page
    assert "8 negatives in a row (3 weeks)" in page
    assert f'href="{reverse("patient-detail", args=[avery.pk])}"' in page
    assert f'href="{reverse("patient-detail", args=[blake.pk])}"' in page


def test_the_patients_the_panel_names_are_in_the_audit_log(desk, clinic, counselor, caseload):
    avery, blake, _cody, _dana = caseload
    today_page(desk, clinic)

    read_ids = set(
        AuditEvent.objects.filter(action=AuditEvent.Action.READ, actor=counselor).values_list(
            "patient_id", flat=True
        )
    )
    assert {avery.pk, blake.pk} <= read_ids


def test_the_panel_reads_in_spanish(desk, clinic, counselor, caseload):
    counselor_page = today_page(desk, clinic, "es")

    assert "Tus pacientes" in counselor_page
    assert "8 negativas seguidas (3 semanas)" in counselor_page
    assert "Pierden terreno" in counselor_page


def test_an_administrator_without_patients_sees_no_panel(client, clinic, clinic_admin, caseload):
    client.force_login(clinic_admin)
    with time_machine.travel(local(clinic, TODAY, 12), tick=False):
        page = client.get(reverse("today")).content.decode()

    assert "Your caseload" not in page
