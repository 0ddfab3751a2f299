"""The pages of the schedule: staff set a patient's test and session days and excuse a missed
test; a patient chooses their reminders; the portal and the Today board follow the weekdays."""

from datetime import date, datetime, time, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import strip_tags

from patients.models import Enrollment, Specimen
from tests.factories import EnrollmentFactory
from vouchers import recording
from vouchers.missed import missed_tests_mark


def text(response) -> str:
    """The page as a reader sees it: no tags, single spaces."""
    return " ".join(strip_tags(response.content.decode()).split())


@pytest.fixture
def desk(client, counselor):
    client.force_login(counselor)
    return client


def manage_url(patient):
    return reverse("enrollment-manage", args=[patient.pk])


# --- test and session days ----------------------------------------------------------------------


def test_the_enrollment_page_ticks_the_clinics_days_and_saves_the_patients_own(
    desk, patient, enrollment
):
    page = desk.get(manage_url(patient)).content.decode()
    assert [d for d in range(7) if _checked(page, "test_weekdays", d)] == [0, 2, 4]
    assert [d for d in range(7) if _checked(page, "session_weekdays", d)] == []
    assert "The clinic's test days: Monday, Wednesday, Friday." in text(
        desk.get(manage_url(patient))
    )

    response = desk.post(
        manage_url(patient),
        {"schedule": "1", "test_weekdays": ["1", "3"], "session_weekdays": ["2"]},
    )

    assert response.status_code == 302
    enrollment.refresh_from_db()
    assert (enrollment.test_weekdays, enrollment.session_weekdays) == ([1, 3], [2])
    detail = text(desk.get(response.url))
    assert "Test days Tuesday, Thursday" in detail
    assert "Session days Wednesday" in detail


def test_seven_days_a_week_reads_every_day(desk, patient, enrollment):
    Enrollment.objects.filter(pk=enrollment.pk).update(test_weekdays=list(range(7)))

    detail = text(desk.get(reverse("patient-detail", args=[patient.pk])))

    assert "Test days Every day" in detail
    assert "Monday" not in detail


def _checked(page: str, name: str, value: int) -> bool:
    """Whether the checkbox `name` with `value` is ticked in the rendered page."""
    for tag in page.split("<input")[1:]:
        tag = tag.split(">")[0]
        if f'name="{name}"' in tag and f'value="{value}"' in tag:
            return "checked" in tag
    raise AssertionError(f"no {name} checkbox for {value}")


def test_the_form_shows_what_is_saved(desk, patient, enrollment):
    Enrollment.objects.filter(pk=enrollment.pk).update(test_weekdays=[1], session_weekdays=[5])

    page = desk.get(manage_url(patient)).content.decode()

    assert [d for d in range(7) if _checked(page, "test_weekdays", d)] == [1]
    assert [d for d in range(7) if _checked(page, "session_weekdays", d)] == [5]


def test_choosing_the_clinics_own_days_follows_the_clinic(desk, patient, enrollment):
    Enrollment.objects.filter(pk=enrollment.pk).update(test_weekdays=[1, 3])

    desk.post(manage_url(patient), {"schedule": "1", "test_weekdays": ["4", "0", "2"]})

    enrollment.refresh_from_db()
    assert enrollment.test_weekdays is None
    assert "(the clinic's)" in text(desk.get(reverse("patient-detail", args=[patient.pk])))


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"schedule": "1"}, "Choose at least one test day."),
        ({"schedule": "1", "test_weekdays": ["9"]}, "Select a valid choice."),
        ({"schedule": "1", "test_weekdays": ["monday"]}, "Select a valid choice."),
        ({"schedule": "1", "test_weekdays": ["1"], "session_weekdays": ["-1"]}, "valid choice"),
    ],
    ids=["none", "out-of-range", "not-a-number", "bad-session-day"],
)
def test_bad_days_are_a_form_error_and_change_nothing(desk, patient, enrollment, data, says):
    response = desk.post(manage_url(patient), data)

    assert response.status_code == 400
    assert says in text(response)
    enrollment.refresh_from_db()
    assert (enrollment.test_weekdays, enrollment.session_weekdays) == (None, [])


def test_another_clinics_counselor_and_the_patient_get_404(
    client, other_counselor, patient_user, patient, enrollment
):
    for user in (other_counselor, patient_user):
        client.force_login(user)
        response = client.post(manage_url(patient), {"schedule": "1", "test_weekdays": ["1"]})
        assert response.status_code == 404
    enrollment.refresh_from_db()
    assert enrollment.test_weekdays is None


# --- the portal and the Today board follow the weekdays -------------------------------------------


def test_the_portal_lists_the_next_test_days_on_the_patients_weekdays(
    client, patient_user, patient, higgins
):
    today = patient.clinic.local_date(timezone.now())
    EnrollmentFactory(
        patient=patient,
        protocol=higgins,
        start_date=today - timedelta(days=14),
        test_weekdays=[1, 3],
    )
    client.force_login(patient_user)

    upcoming = client.get(reverse("portal")).content.decode().split("Your next test days")[1]
    upcoming = upcoming.split("</ul>")[0]
    days = [date.fromisoformat(part[:10]) for part in upcoming.split('datetime="')[1:]]

    assert len(days) == 5
    assert {d.weekday() for d in days} == {1, 3}
    assert days == sorted(days) and days[0] >= today


def test_the_today_board_shows_who_is_scheduled_today_by_their_weekdays(
    desk, patient, other_patient, higgins
):
    today = patient.clinic.local_date(timezone.now())
    EnrollmentFactory(
        patient=patient, protocol=higgins, start_date=today, test_weekdays=[today.weekday()]
    )
    tomorrow_only = [(today.weekday() + 1) % 7]
    EnrollmentFactory(
        patient=other_patient, protocol=higgins, start_date=today, test_weekdays=tomorrow_only
    )

    page = desk.get(reverse("today")).content.decode()
    due = page.split("Due today <span")[1].split("</section>")[0]

    assert patient.full_name in due
    assert other_patient.full_name not in page


# --- excusing a missed test ---------------------------------------------------------------------


@pytest.fixture
def missed(patient, enrollment):
    """Monday 2026-01-05, the first test day, marked missed after closing."""
    missed_tests_mark(now=datetime(2026, 1, 5, 17, tzinfo=patient.clinic.tz))
    return Specimen.objects.get(enrollment=enrollment, status="missed")


def excuse_url(specimen):
    return reverse("specimen-excuse", args=[specimen.pk])


def test_the_patient_page_offers_to_excuse_a_missed_test_only(desk, patient, missed):
    recording.specimen_record(
        patient=patient,
        collected_at=datetime(2026, 1, 7, 10, tzinfo=patient.clinic.tz),
        results={"cocaine": "negative"},
    )

    page = desk.get(reverse("patient-detail", args=[patient.pk])).content.decode()

    assert page.count(excuse_url(missed)) == 1
    assert page.count("/excuse/") == 1


def test_a_counselor_excuses_a_missed_test_with_a_reason(desk, patient, missed):
    assert desk.get(excuse_url(missed)).status_code == 200

    response = desk.post(
        excuse_url(missed), {"reason": "In hospital; papers on file."}, follow=True
    )

    missed.refresh_from_db()
    assert (missed.status, missed.outcome) == ("excused", "E")
    assert response.redirect_chain[-1][0] == reverse("patient-detail", args=[patient.pk])
    page = text(response)
    assert "is excused and the streak is kept" in page
    assert "The next negative test earns $2.50." in page
    assert "In hospital; papers on file." in page  # the correction's reason, in the history


def test_an_empty_reason_is_a_form_error_not_a_500(desk, missed):
    response = desk.post(excuse_url(missed), {"reason": "   "})

    assert response.status_code == 400
    assert "Say why this missed test is excused." in text(response)
    missed.refresh_from_db()
    assert missed.status == "missed"


def test_a_second_click_says_it_is_already_excused(desk, patient, missed):
    desk.post(excuse_url(missed), {"reason": "Court date"})

    response = desk.post(excuse_url(missed), {"reason": "Court date"}, follow=True)

    assert "This test is already excused." in text(response)
    assert missed.corrections.count() == 1


def test_a_result_that_was_not_missed_cannot_be_excused_here(desk, patient, enrollment):
    recorded = recording.specimen_record(
        patient=patient,
        collected_at=datetime(2026, 1, 5, 10, tzinfo=patient.clinic.tz),
        results={"cocaine": "positive"},
    )

    response = desk.post(excuse_url(recorded.specimen), {"reason": "Because"}, follow=True)

    assert "Only a missed test can be excused" in text(response)
    recorded.specimen.refresh_from_db()
    assert recorded.specimen.status == "tested"


def test_another_clinic_and_the_patient_cannot_excuse(
    client, other_counselor, patient_user, missed
):
    for user in (other_counselor, patient_user):
        client.force_login(user)
        assert client.post(excuse_url(missed), {"reason": "x"}).status_code == 404
    missed.refresh_from_db()
    assert missed.status == "missed"


# --- the patient's reminder settings --------------------------------------------------------------

SETTINGS = "/me/reminders/"


@pytest.fixture
def signed_in(client, patient_user, patient):
    patient.phone = "+1 312 555 0101"
    patient.save()
    client.force_login(patient_user)
    return client


def settings_post(**fields):
    data = {
        "reminder_time": "10:30",
        "preferred_language": "en",
        "reminder_consent_sms": "on",
        "message_style": "clinic",
    }
    data.update(fields)
    return {k: v for k, v in data.items() if v is not None}


def test_the_settings_page_says_the_quiet_hours_without_a_double_full_stop(signed_in, patient):
    page = text(signed_in.get(SETTINGS))

    assert (
        "No messages are sent from 9 p.m. to 8 a.m., and the clinic closes at 5 p.m. each day."
        in page
    )
    assert ".." not in page


def test_a_patient_sees_and_saves_their_reminder_settings(signed_in, patient):
    page = signed_in.get(SETTINGS).content.decode()
    assert 'value="09:00"' in page
    assert "+1 312 555 0101" in page

    response = signed_in.post(
        SETTINGS, settings_post(reminder_evening_before="on", preferred_language="es")
    )

    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.reminder_time == time(10, 30)
    assert patient.reminder_evening_before
    assert (patient.reminder_consent_sms, patient.reminder_consent_email) == (True, False)
    assert patient.preferred_language == "es"


def test_the_portal_links_to_the_settings(signed_in):
    assert SETTINGS in signed_in.get(reverse("portal")).content.decode()


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"reminder_time": "22:00"}, "No messages are sent from 9 p.m. to 8 a.m."),
        ({"reminder_time": "07:30"}, "choose 8 a.m. or later."),
        ({"reminder_time": "17:00"}, "Choose a time before the clinic closes at 5 p.m., so"),
        ({"reminder_time": "25:99"}, "Enter a valid time."),
        ({"reminder_time": None}, "This field is required."),
        ({"reminder_consent_email": "on"}, "The clinic has no email address for you."),
        ({"preferred_language": "fr"}, "Select a valid choice."),
    ],
    ids=[
        "quiet-evening",
        "quiet-morning",
        "after-closing",
        "not-a-time",
        "empty",
        "no-email",
        "fr",
    ],
)
def test_bad_settings_are_a_form_error_and_nothing_changes(signed_in, patient, fields, says):
    response = signed_in.post(SETTINGS, settings_post(**fields))

    assert response.status_code == 400
    assert says in text(response)
    patient.refresh_from_db()
    assert (patient.reminder_time, patient.reminder_consent_sms) == (time(9), False)


def test_the_quiet_hours_are_the_clinics(signed_in, patient):
    clinic = patient.clinic
    clinic.quiet_hours_start, clinic.quiet_hours_end = time(20), time(10)
    clinic.save()

    assert signed_in.post(SETTINGS, settings_post(reminder_time="09:30")).status_code == 400
    assert signed_in.post(SETTINGS, settings_post(reminder_time="10:00")).status_code == 302


def test_staff_get_404_and_anyone_signed_out_is_sent_to_sign_in(client, counselor, db):
    assert client.get(SETTINGS).status_code == 302
    client.force_login(counselor)
    assert client.get(SETTINGS).status_code == 404


def test_a_test_marked_missed_stays_overdue_on_the_today_board_not_seen(desk, patient, higgins):
    today = patient.clinic.local_date(timezone.now())
    yesterday = today - timedelta(days=1)
    EnrollmentFactory(
        patient=patient, protocol=higgins, start_date=yesterday, test_weekdays=[yesterday.weekday()]
    )
    missed_tests_mark(now=timezone.now())
    assert Specimen.objects.filter(status="missed").count() == 1

    page = desk.get(reverse("today")).content.decode()

    overdue = page.split("Overdue <span")[1].split("</section>")[0]
    seen = page.split("Seen today <span")[1].split("</section>")[0]
    assert patient.full_name in overdue
    assert patient.full_name not in seen
