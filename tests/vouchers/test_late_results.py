"""A result belongs to the enrollment whose dates contain its collection day, whatever that
enrollment's status is now: a result that arrives after the enrollment was paused, completed or
withdrawn is recorded and settled there; only a day before the start or after the end is refused,
and the refusal says which.

The clock is pinned to Friday 10 April 2026 (clinic time, America/Chicago), after every day used.
"""

from datetime import date, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse

from messaging.models import Notification
from patients.enrollment import enrollment_set_status, enrollment_start
from patients.models import Enrollment, Specimen
from rewards import prizes
from tests.api.conftest import client_for
from tests.conftest import at, protocol
from tests.factories import EnrollmentFactory
from vouchers import recording
from vouchers.labs.importer import lab_import_apply
from vouchers.selectors import wallet_get

NOW = datetime(2026, 4, 10, 12, 0)
HIGGINS_START = date(2026, 1, 12)  # so that test #32 falls on Wednesday 25 March
SPECIMENS_URL = "/api/v1/specimens/"


@pytest.fixture(autouse=True)
def _pinned_clock(clinic):
    with time_machine.travel(NOW.replace(tzinfo=clinic.tz), tick=False):
        yield


def higgins_days(count: int) -> list[date]:
    """Mon/Wed/Fri test days from the Higgins enrollment's first Monday."""
    days = []
    week = 0
    while len(days) < count:
        days.extend(HIGGINS_START + timedelta(weeks=week, days=d) for d in (0, 2, 4))
        week += 1
    return days[:count]


def negative(patient, day: date, counselor, **extra):
    return recording.specimen_record(
        patient=patient,
        collected_at=at(patient.clinic, day),
        results={"cocaine": "negative"},
        recorded_by=counselor,
        **extra,
    )


@pytest.fixture
def completed_higgins(patient, counselor):
    """Higgins from Monday 12 January: tests #1-#29 negative, #30 positive, #31 negative, then
    completed as of Saturday 28 March before #32 and #33 (25 and 27 March) were entered."""
    enrollment = EnrollmentFactory(
        patient=patient, protocol=protocol("higgins-1994"), start_date=HIGGINS_START
    )
    days = higgins_days(33)
    assert (days[31], days[32]) == (date(2026, 3, 25), date(2026, 3, 27))
    for number, day in enumerate(days[:31], start=1):
        if number == 30:
            recording.specimen_record(
                patient=patient,
                collected_at=at(patient.clinic, day),
                results={"cocaine": "positive"},
                recorded_by=counselor,
            )
        else:
            negative(patient, day, counselor)
    enrollment_set_status(
        enrollment=enrollment, status="completed", actor=counselor, today=date(2026, 3, 28)
    )
    enrollment.refresh_from_db()
    return enrollment


def test_tests_32_and_33_posted_after_the_enrollment_completed_are_recorded_and_paid(
    counselor, completed_higgins
):
    patient = completed_higgins.patient
    before = wallet_get(patient=patient).balance_cents
    client = client_for(counselor)

    n32 = client.post(
        SPECIMENS_URL,
        {
            "patient": patient.id,
            "collected_at": at(patient.clinic, date(2026, 3, 25)).isoformat(),
            "results": {"cocaine": "negative"},
        },
        format="json",
    )
    m33 = client.post(
        SPECIMENS_URL,
        {
            "patient": patient.id,
            "collected_at": at(patient.clinic, date(2026, 3, 27)).isoformat(),
            "status": "missed",
        },
        format="json",
    )

    assert (n32.status_code, m33.status_code) == (201, 201), (n32.json(), m33.json())
    assert n32.json()["voucher_cents"] == 375  # the second negative since the reset at #30
    assert m33.json()["voucher_cents"] == 0
    assert wallet_get(patient=patient).balance_cents - before == 375
    assert Specimen.objects.filter(enrollment=completed_higgins).count() == 33
    completed_higgins.refresh_from_db()
    assert completed_higgins.status == Enrollment.Status.COMPLETED


def test_a_completed_enrollment_pays_what_its_whole_history_earned(counselor, completed_higgins):
    patient = completed_higgins.patient
    negative(patient, date(2026, 3, 25), counselor)

    # 29 negatives (2.50 rising by 1.25, 9 bonuses of 10.00), a positive, then 2.50 and 3.75.
    assert wallet_get(patient=patient).balance_cents == 58000 + 9000 + 250 + 375


def test_a_result_after_the_end_date_is_refused_saying_so(counselor, completed_higgins):
    patient = completed_higgins.patient

    response = client_for(counselor).post(
        SPECIMENS_URL,
        {
            "patient": patient.id,
            "collected_at": at(patient.clinic, date(2026, 3, 29)).isoformat(),
            "results": {"cocaine": "negative"},
        },
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["collected_at"] == [
        "This test was collected on March 29, 2026, after this patient's enrollment ended on "
        "March 28, 2026."
    ]
    assert Specimen.objects.filter(collected_at__date=date(2026, 3, 29)).count() == 0


def test_a_result_before_the_start_is_refused_saying_so(counselor, enrollment):
    with pytest.raises(ValidationError) as caught:
        negative(enrollment.patient, date(2026, 1, 2), counselor)

    assert caught.value.message_dict["collected_at"] == [
        "This test was collected on Jan. 2, 2026, before this patient's enrollment started on "
        "Jan. 5, 2026."
    ]


def test_with_a_new_enrollment_started_an_old_date_belongs_to_the_old_one(
    counselor, completed_higgins
):
    patient = completed_higgins.patient
    new = enrollment_start(
        patient=patient,
        protocol=protocol("silverman-1996"),
        start_date=date(2026, 4, 6),
        today=date(2026, 4, 6),
    )

    late = negative(patient, date(2026, 3, 25), counselor).specimen
    current = negative(patient, date(2026, 4, 8), counselor).specimen

    assert late.enrollment == completed_higgins
    assert current.enrollment == new
    with pytest.raises(ValidationError) as caught:
        negative(patient, date(2026, 4, 1), counselor)
    assert "after this patient's enrollment ended on March 28, 2026" in str(
        caught.value.message_dict["collected_at"]
    )


@pytest.fixture
def silverman(patient, counselor):
    """Silverman from Monday 5 January 2026, negatives on the 5th and 7th, paused on Wednesday
    14 January; the negative collected the day before the pause is entered after it."""
    enrollment = EnrollmentFactory(
        patient=patient, protocol=protocol("silverman-1996"), start_date=date(2026, 1, 5)
    )
    negative(patient, date(2026, 1, 5), counselor)
    negative(patient, date(2026, 1, 7), counselor)
    enrollment_set_status(
        enrollment=enrollment, status="paused", actor=counselor, today=date(2026, 1, 14)
    )
    return enrollment


def test_a_negative_collected_the_day_before_a_pause_is_recorded_and_paid(counselor, silverman):
    patient = silverman.patient

    recorded = negative(patient, date(2026, 1, 13), counselor)

    assert recorded.specimen.enrollment == silverman
    assert recorded.award.voucher_cents == 250 + 150 + 150
    assert recorded.award.bonus_cents == 1000
    assert wallet_get(patient=patient).balance_cents == 250 + 400 + 550 + 1000


def test_a_result_collected_during_a_pause_belongs_to_the_paused_enrollment(counselor, silverman):
    # A pause stops reminders and missed-test marks, not the record: the dates contain the day.
    recorded = negative(silverman.patient, date(2026, 1, 16), counselor)

    assert recorded.specimen.enrollment == silverman
    assert recorded.award.voucher_cents == 550


def test_a_withdrawn_enrollment_still_takes_a_result_from_its_dates(counselor, enrollment):
    negative(enrollment.patient, date(2026, 1, 5), counselor)
    enrollment_set_status(
        enrollment=enrollment, status="withdrawn", actor=counselor, today=date(2026, 1, 9)
    )

    recorded = negative(enrollment.patient, date(2026, 1, 7), counselor)

    assert recorded.specimen.enrollment == enrollment
    assert recorded.award.voucher_cents == 375


def test_a_late_session_is_recorded_on_the_completed_enrollment(counselor, completed_higgins):
    patient = completed_higgins.patient
    recorded = recording.attendance_record(
        patient=patient,
        occurred_at=at(patient.clinic, date(2026, 3, 26)),
        session_kind="group",
        recorded_by=counselor,
    )

    assert recorded.attendance.enrollment == completed_higgins
    with pytest.raises(ValidationError) as caught:
        recording.attendance_record(
            patient=patient,
            occurred_at=at(patient.clinic, date(2026, 3, 30)),
            session_kind="group",
            recorded_by=counselor,
        )
    assert caught.value.message_dict["occurred_at"] == [
        "This session took place on March 30, 2026, after this patient's enrollment ended on "
        "March 28, 2026."
    ]


IMPORT_HEADER = "record_number,collected_at,kind,cocaine,status,notes,idempotency_key\n"


def test_the_lab_import_records_a_late_row_and_refuses_one_after_the_end(
    clinic, counselor, completed_higgins
):
    patient = completed_higgins.patient
    number = patient.record_number
    text = (
        IMPORT_HEADER
        + f"{number},2026-03-25 09:00,urine,negative,,,\n"
        + f"{number},2026-03-29 09:00,urine,negative,,,\n"
    )
    before = wallet_get(patient=patient).balance_cents

    report = lab_import_apply(clinic=clinic, text=text, actor=counselor, mode="skip_bad_rows")

    good, late = report.rows
    assert good.status == "written", good.messages
    assert late.status == "error"
    assert late.messages == [
        "collected_at: This test was collected on March 29, 2026, after this patient's "
        "enrollment ended on March 28, 2026."
    ]
    assert wallet_get(patient=patient).balance_cents - before == 375
    assert Specimen.objects.get(collected_at__date=date(2026, 3, 25)).enrollment == (
        completed_higgins
    )


def test_draws_a_late_result_earned_on_a_completed_prize_enrollment_can_still_be_drawn(
    patient, counselor
):
    stimulants = dict.fromkeys(["cocaine", "amphetamine", "methamphetamine"], "negative")
    enrollment = EnrollmentFactory(
        patient=patient, protocol=protocol("va-prize"), start_date=date(2026, 1, 5)
    )
    enrollment_set_status(
        enrollment=enrollment, status="completed", actor=counselor, today=date(2026, 1, 9)
    )
    recording.specimen_record(
        patient=patient,
        collected_at=at(patient.clinic, date(2026, 1, 8)),
        results=stimulants,
        recorded_by=counselor,
    )
    assert wallet_get(patient=patient).draws_available == 1

    drawn = prizes.draws_run(patient=patient, drawn_by=counselor)

    assert len(drawn) == 1
    assert wallet_get(patient=patient).draws_available == 0


def test_the_record_page_takes_a_late_result_for_a_completed_enrollment(
    client, counselor, completed_higgins
):
    patient = completed_higgins.patient
    client.force_login(counselor)
    url = reverse("specimen-record", args=[patient.pk])

    page = client.get(url).content.decode()
    assert "This enrollment is completed; it ended on March 28, 2026." in page
    assert '<form id="record-form"' in page

    response = client.post(
        url,
        {
            "collected_at": "2026-03-25T10:00",
            "kind": "urine",
            "status": "tested",
            "panel": ["cocaine"],
            "notes": "",
            "idempotency_key": "5f0c1d2e-3a4b-4c5d-8e9f-0a1b2c3d4e5f",
        },
    )

    assert response.status_code == 200, response.content.decode()[-2000:]
    assert Specimen.objects.filter(enrollment=completed_higgins).count() == 32


def test_the_notice_of_a_late_result_promises_no_next_test(counselor, completed_higgins):
    patient = completed_higgins.patient
    patient.email = "pat@example.com"
    patient.reminder_consent_email = True
    patient.save()

    negative(patient, date(2026, 3, 25), counselor)

    (notice,) = Notification.objects.filter(kind="award")
    assert "You earned $3.75." in notice.body
    assert "next negative test" not in notice.body
