"""Reminders and missed tests on each clinic's own clock, across the 2026 daylight-saving changes
(United States: clocks go forward on Sunday 8 March and back on Sunday 1 November).

A clinic in America/Los_Angeles and one in America/New_York; a patient reminded at 09:00, clinics
closing at 17:00. The UTC instants are computed with zoneinfo, and the table says what they are,
so an hour's drift on either side of a change shows as a failure here.
"""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from messaging.models import Notification
from patients.models import Specimen
from tests.factories import ClinicFactory, EnrollmentFactory, PatientFactory
from vouchers import recording
from vouchers.missed import missed_tests_mark
from vouchers.reminders import reminders_queue

LA = "America/Los_Angeles"
NY = "America/New_York"

# (zone, a Friday or Monday test day, 09:00 local in UTC, 17:00 local in UTC)
CASES = [
    (LA, date(2026, 3, 6), "17:00", "01:00+1"),  # PST, UTC-8, before spring forward
    (LA, date(2026, 3, 9), "16:00", "00:00+1"),  # PDT, UTC-7, after
    (LA, date(2026, 10, 30), "16:00", "00:00+1"),  # PDT, before fall back
    (LA, date(2026, 11, 2), "17:00", "01:00+1"),  # PST, after
    (NY, date(2026, 3, 6), "14:00", "22:00"),  # EST, UTC-5
    (NY, date(2026, 3, 9), "13:00", "21:00"),  # EDT, UTC-4
    (NY, date(2026, 10, 30), "13:00", "21:00"),  # EDT
    (NY, date(2026, 11, 2), "14:00", "22:00"),  # EST
]
IDS = [f"{zone.split('/')[1]}-{day}" for zone, day, _r, _c in CASES]


def utc_text(moment: datetime, day: date) -> str:
    moment = moment.astimezone(UTC)
    return f"{moment:%H:%M}" + ("+1" if moment.date() > day else "")


def local(zone: str, day: date, wall: time) -> datetime:
    return datetime.combine(day, wall, tzinfo=ZoneInfo(zone))


def monday_before(day: date, weeks: int = 3) -> date:
    return day - timedelta(days=day.weekday(), weeks=weeks)


def clinic_in(zone: str):
    slug = zone.split("/")[1].lower().replace("_", "-")
    return ClinicFactory(name=f"Clinic in {zone}", slug=slug, time_zone=zone)


def reachable_patient(clinic):
    return PatientFactory(
        clinic=clinic,
        first_name="Dana",
        last_name="Reyes",
        phone="+1 555 0100",
        reminder_consent_sms=True,
        reminder_time=time(9),
    )


@pytest.fixture
def enrolled(db, higgins):
    def make(zone: str, day: date):
        clinic = clinic_in(zone)
        patient = reachable_patient(clinic)
        EnrollmentFactory(patient=patient, protocol=higgins, start_date=monday_before(day))
        return clinic, patient

    return make


@pytest.mark.parametrize(("zone", "day", "reminder_utc", "closing_utc"), CASES, ids=IDS)
def test_the_reminder_comes_at_nine_on_the_clinics_clock(
    enrolled, zone, day, reminder_utc, closing_utc
):
    clinic, patient = enrolled(zone, day)
    nine = local(zone, day, time(9))
    assert utc_text(nine, day) == reminder_utc  # the table is what zoneinfo says

    assert reminders_queue(now=(nine - timedelta(minutes=1)).astimezone(UTC)) == 0
    assert reminders_queue(now=nine.astimezone(UTC)) == 1

    reminder = Notification.objects.get(kind="test_reminder")
    assert reminder.dedupe_key.endswith(f":{day.isoformat()}:sms")
    assert reminder.not_before == nine
    assert reminder.expires_at == local(zone, day, time(17))
    assert utc_text(reminder.expires_at, day) == closing_utc


@pytest.mark.parametrize(("zone", "day", "reminder_utc", "closing_utc"), CASES, ids=IDS)
def test_a_missed_test_is_marked_after_closing_on_the_clinics_clock(
    enrolled, zone, day, reminder_utc, closing_utc
):
    clinic, patient = enrolled(zone, day)
    closing = local(zone, day, time(17))
    assert utc_text(closing, day) == closing_utc

    today = Specimen.objects.filter(enrollment__patient=patient, collected_at=closing)

    missed_tests_mark(now=(closing - timedelta(minutes=1)).astimezone(UTC))
    assert not today.exists()

    missed_tests_mark(now=closing.astimezone(UTC))
    assert [(s.status, s.outcome) for s in today] == [("missed", "M")]


def test_one_run_reminds_each_clinic_at_its_own_nine(higgins):
    day = date(2026, 3, 9)  # the Monday after spring forward: both clinics on daylight time
    la, ny = clinic_in(LA), clinic_in(NY)
    for clinic in (la, ny):
        EnrollmentFactory(
            patient=reachable_patient(clinic), protocol=higgins, start_date=monday_before(day)
        )

    reminders_queue(now=datetime(2026, 3, 9, 13, 0, tzinfo=UTC))  # 09:00 EDT, 06:00 PDT
    assert [n.clinic for n in Notification.objects.all()] == [ny]

    reminders_queue(now=datetime(2026, 3, 9, 16, 0, tzinfo=UTC))  # 12:00 EDT, 09:00 PDT
    assert sorted(n.clinic.time_zone for n in Notification.objects.all()) == [LA, NY]


def test_the_evening_before_comes_at_six_on_the_night_the_clocks_go_back(higgins):
    clinic = clinic_in(LA)
    patient = reachable_patient(clinic)
    patient.reminder_evening_before = True
    patient.save()
    EnrollmentFactory(patient=patient, protocol=higgins, start_date=date(2026, 10, 12))
    six = local(LA, date(2026, 11, 1), time(18))  # Sunday, PST since 02:00
    assert utc_text(six, date(2026, 11, 1)) == "02:00+1"

    assert reminders_queue(now=(six - timedelta(minutes=1)).astimezone(UTC)) == 0
    assert reminders_queue(now=six.astimezone(UTC)) == 1

    reminder = Notification.objects.get(kind="evening_reminder")
    assert reminder.dedupe_key.endswith(":2026-11-02:sms")
    assert reminder.expires_at == local(LA, date(2026, 11, 2), time(0))


def test_a_result_given_late_on_a_test_day_counts_for_the_clinics_day_not_utcs(higgins):
    clinic = clinic_in(LA)
    patient = reachable_patient(clinic)
    day = date(2026, 11, 2)
    EnrollmentFactory(patient=patient, protocol=higgins, start_date=monday_before(day))
    half_past_four = local(LA, day, time(16, 30))  # already 3 November in UTC
    assert half_past_four.astimezone(UTC).date() == date(2026, 11, 3)
    after_closing = local(LA, day, time(17, 30))
    with time_machine.travel(after_closing, tick=False):  # recorded that day, not in the future
        recording.specimen_record(
            patient=patient, collected_at=half_past_four, results={"cocaine": "negative"}
        )

    missed_tests_mark(now=after_closing.astimezone(UTC))

    missed = {clinic.local_date(s.collected_at) for s in Specimen.objects.filter(status="missed")}
    assert day not in missed
    assert date(2026, 10, 30) in missed  # the earlier test days with nothing given are marked
