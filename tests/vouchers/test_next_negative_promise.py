""" "The next negative test earns $X" is one promise, computed once with every cap: what the
patient's other enrollments earned that year included, the year of the day the test falls on,
and shown alike by the API, the portal, the patient page, the record page, the notices and the
reminders. Each scenario ends by recording that negative: settlement pays exactly the promise.

The protocols here carry their caps explicitly (not a preset's), flat vouchers so the numbers
read at a glance. The clinic tests Mon/Wed/Fri.
"""

from datetime import date, datetime, time

import pytest
import time_machine
from django.urls import reverse

from messaging.models import Notification
from patients.enrollment import enrollment_start
from patients.models import Enrollment
from tests.conftest import api_token, at
from tests.factories import EnrollmentFactory
from vouchers import recording
from vouchers.models import Protocol, ProtocolPhase
from vouchers.reminders import reminders_queue
from vouchers.selectors import reward_summary

# 2026: the first enrollment from Monday 5 January, the second from Monday 2 February.
FIRST_START, SECOND_START = date(2026, 1, 5), date(2026, 2, 2)
WEDNESDAY_AFTER = date(2026, 2, 4)


def capped_protocol(slug, *, flat_cents, enrollment_cap_cents=None, year_cap_cents=None):
    """A flat voucher (no escalation, no bonus) with the caps given, one open-ended phase."""
    protocol = Protocol.objects.create(
        slug=slug,
        name=f"Test protocol {slug}",
        kind=Protocol.Kind.VOUCHER,
        target_substances=["cocaine"],
        enrollment_cap_cents=enrollment_cap_cents,
        year_cap_cents=year_cap_cents,
    )
    ProtocolPhase.objects.create(
        protocol=protocol, first_week=1, last_week=None, start_cents=flat_cents
    )
    return protocol


def negative(patient, day, hour=10):
    """A negative collected at `hour` and recorded at 15:00 that day, the clock pinned there."""
    with _pinned(patient.clinic, day, hour=15):
        return recording.specimen_record(
            patient=patient,
            collected_at=at(patient.clinic, day, hour),
            results={"cocaine": "negative"},
        )


def clinic_moment(clinic, day, hour):
    return datetime.combine(day, time(hour), tzinfo=clinic.tz)


@pytest.fixture
def reachable(patient):
    patient.email = "pat@example.com"
    patient.reminder_consent_email = True
    patient.save()
    return patient


@pytest.fixture
def year_spent(reachable):
    """$5.00 a negative, $8.00 an enrollment, $12.00 a year. The first enrollment earned its $8.00
    (5.00 + 3.00), the second's first negative brought the year to $12.00 (4.00 of 5.00)."""
    protocol = capped_protocol(
        "episode-and-year", flat_cents=500, enrollment_cap_cents=800, year_cap_cents=1200
    )
    first = EnrollmentFactory(patient=reachable, protocol=protocol, start_date=FIRST_START)
    negative(reachable, FIRST_START)
    negative(reachable, date(2026, 1, 7))
    first.status = Enrollment.Status.COMPLETED
    first.end_date = date(2026, 1, 9)
    first.save()
    with _pinned(reachable.clinic, SECOND_START, hour=8):
        enrollment_start(patient=reachable, protocol=protocol, start_date=SECOND_START)
    brought_to_cap = negative(reachable, SECOND_START)
    assert (brought_to_cap.award.voucher_cents, brought_to_cap.award.clipped_cents) == (400, 100)
    return reachable


def _pinned(clinic, day, hour=12):
    return time_machine.travel(clinic_moment(clinic, day, hour), tick=False)


def test_the_api_balance_promises_nothing_once_other_enrollments_used_up_the_year(
    client, year_spent
):
    with _pinned(year_spent.clinic, date(2026, 2, 3)):
        response = client.get(
            f"/api/v1/patients/{year_spent.pk}/balance/",
            HTTP_AUTHORIZATION=f"Token {api_token(year_spent.primary_counselor)}",
        )
        body = response.json()
        assert response.status_code == 200
        assert (body["cap_remaining_cents"], body["next_negative_cents"]) == (0, 0)
    # ... and that is what the next negative pays.
    assert negative(year_spent, WEDNESDAY_AFTER).award.total_cents == 0


def test_the_record_page_says_the_next_negative_earns_nothing(client, year_spent, counselor):
    with _pinned(year_spent.clinic, date(2026, 2, 3)):
        client.force_login(counselor)
        page = client.get(reverse("specimen-record", args=[year_spent.pk])).content.decode()

    assert "The next negative test earns $0.00." in page
    assert "The next negative test earns $5.00." not in page


def test_the_patient_page_says_the_cap_is_reached(client, year_spent, counselor):
    with _pinned(year_spent.clinic, date(2026, 2, 3)):
        client.force_login(counselor)
        page = client.get(reverse("patient-detail", args=[year_spent.pk])).content.decode()

    assert "The cap is reached: further negative tests earn nothing." in page


def test_the_summary_replays_the_enrollment_as_settlement_does(year_spent):
    summary = reward_summary(patient=year_spent, today=date(2026, 2, 3))

    assert (summary.next_cents, summary.next_capped) == (0, True)
    # The second enrollment's own history shows what settlement paid: 4.00, 1.00 clipped.
    [award] = summary.result.awards
    assert (award.voucher_cents, award.clipped_cents) == (400, 100)


def test_the_award_notice_says_the_most_has_been_reached(year_spent):
    [notice] = Notification.objects.filter(kind=Notification.Kind.AWARD).order_by("-id")[:1]

    assert "You earned $4.00." in notice.body
    assert "You have reached the most you can earn." in notice.body


def test_the_test_day_reminder_promises_no_amount(year_spent):
    reminders_queue(now=clinic_moment(year_spent.clinic, WEDNESDAY_AFTER, 9))

    [reminder] = Notification.objects.filter(kind=Notification.Kind.TEST_REMINDER)
    assert "earns" not in reminder.body


# --- a new calendar year: the cap of the year the next test falls in ------------------------------


@pytest.fixture
def december_spent(reachable):
    """$6.00 a negative and $10.00 a year, from Monday 28 December 2026: Monday paid 6.00,
    Wednesday the 30th the last 4.00 of 2026. The next test day is Friday 1 January 2027."""
    protocol = capped_protocol("year-only", flat_cents=600, year_cap_cents=1000)
    EnrollmentFactory(patient=reachable, protocol=protocol, start_date=date(2026, 12, 28))
    negative(reachable, date(2026, 12, 28))
    last_of_the_year = negative(reachable, date(2026, 12, 30))
    assert (last_of_the_year.award.voucher_cents, last_of_the_year.award.clipped_cents) == (
        400,
        200,
    )
    return reachable


def test_the_award_notice_on_the_year_s_last_test_day_promises_next_year_s_value(december_spent):
    [notice] = Notification.objects.filter(kind=Notification.Kind.AWARD).order_by("-id")[:1]

    assert "You earned $4.00." in notice.body
    assert "Your next negative test earns $6.00." in notice.body
    assert "reached the most" not in notice.body


def test_the_portal_on_new_year_s_eve_promises_what_new_year_s_day_pays(
    client, december_spent, patient_user
):
    with _pinned(december_spent.clinic, date(2026, 12, 31)):
        client.force_login(patient_user)
        portal = client.get(reverse("portal")).content.decode()
        promised = reward_summary(patient=december_spent, today=date(2026, 12, 31)).next_cents

    assert "Your next negative test earns $6.00." in portal
    assert "That is all that is left under the maximum you can earn." not in portal
    assert negative(december_spent, date(2027, 1, 1)).award.total_cents == promised == 600


def test_the_patient_page_on_new_year_s_eve_promises_what_new_year_s_day_pays(
    client, december_spent, counselor
):
    with _pinned(december_spent.clinic, date(2026, 12, 31)):
        client.force_login(counselor)
        page = client.get(reverse("patient-detail", args=[december_spent.pk])).content.decode()

    assert "The next negative test earns $6.00." in page
    assert "The cap is reached" not in page


def test_the_portal_says_when_the_cap_cuts_the_next_reward(client, reachable, patient_user):
    protocol = capped_protocol("cut", flat_cents=600, enrollment_cap_cents=1000)
    EnrollmentFactory(patient=reachable, protocol=protocol, start_date=date(2026, 3, 2))
    negative(reachable, date(2026, 3, 2))
    with _pinned(reachable.clinic, date(2026, 3, 3)):
        client.force_login(patient_user)
        portal = client.get(reverse("portal")).content.decode()

    assert "Your next negative test earns $4.00." in portal
    assert "That is all that is left under the maximum you can earn." in portal
