"""The front desk in the browser's words: record a test or a session, hear what the patient earned.

Every enrollment here starts today (in the clinic's time zone), so today is week 1 day 1: a
scheduled test day, and the first negative of a Higgins protocol earns $2.50. The clinic here tests
on every weekday, so whatever day the suite runs on, the tests fall on day 0, 2 and 4 of each week.
"""

import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from patients.models import Attendance, Specimen
from tests.factories import EnrollmentFactory, PatientFactory
from vouchers import protocols
from vouchers.models import LedgerEntry, Protocol, Wallet

HTMX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def every_weekday_a_test_day(clinic):
    clinic.test_weekdays = list(range(7))
    clinic.save(update_fields=["test_weekdays"])


@pytest.fixture
def today(clinic):
    return clinic.local_date(timezone.now())


@pytest.fixture
def enrolled(patient, higgins, today):
    return EnrollmentFactory(patient=patient, protocol=higgins, start_date=today)


@pytest.fixture
def desk(client, counselor):
    client.force_login(counselor)
    return client


def specimen_url(patient):
    return reverse("specimen-record", args=[patient.pk])


def attendance_url(patient):
    return reverse("attendance-record", args=[patient.pk])


def local_now(clinic, minutes_ago=5):
    moment = timezone.localtime(timezone=clinic.tz) - timedelta(minutes=minutes_ago)
    return moment.strftime("%Y-%m-%dT%H:%M")


def specimen_post(clinic, **fields):
    data = {
        "collected_at": local_now(clinic),
        "kind": "urine",
        "status": "tested",
        "panel": ["cocaine"],
        "notes": "",
        "idempotency_key": str(uuid.uuid4()),
    }
    data.update(fields)
    return data


def text(response) -> str:
    return " ".join(response.content.decode().split())


# --- recording a specimen ------------------------------------------------------------------------


def test_the_form_prefills_the_panel_negative_with_the_next_reward(desk, patient, enrolled):
    response = desk.get(specimen_url(patient))

    assert response.status_code == 200
    page = text(response)
    assert "Record a test" in page
    assert 'name="panel" value="cocaine"' in page
    assert 'name="positive" value="cocaine"' in page
    assert "checked" not in page.split('name="positive"')[1].split(">")[0]
    assert 'name="idempotency_key"' in page
    assert "The next negative test earns $2.50." in page


def test_the_time_defaults_to_now_on_the_clinics_clock(desk, patient, enrolled, clinic):
    page = text(desk.get(specimen_url(patient)))

    shown = page.split('type="datetime-local" name="collected_at" value="')[1][:16]
    assert shown in {local_now(clinic, minutes_ago=0), local_now(clinic, minutes_ago=1)}


def test_a_negative_shows_what_was_earned_the_next_value_and_the_streak(desk, patient, enrolled):
    response = desk.post(specimen_url(patient), specimen_post(patient.clinic))

    assert response.status_code == 200
    page = text(response)
    assert "Negative: saved" in page
    assert "Earned $2.50" in page
    assert "1 negative in a row" in page
    assert "The next negative test earns $3.75." in page
    assert Wallet.objects.get(patient=patient).balance_cents == 250


def test_the_datetime_is_read_on_the_clinics_clock(desk, patient, enrolled, clinic):
    typed = local_now(clinic)

    desk.post(specimen_url(patient), specimen_post(clinic, collected_at=typed))

    saved = timezone.localtime(Specimen.objects.get().collected_at, clinic.tz)
    assert saved.strftime("%Y-%m-%dT%H:%M") == typed


def test_a_positive_shows_the_reset(desk, patient, enrolled):
    desk.post(specimen_url(patient), specimen_post(patient.clinic))
    response = desk.post(specimen_url(patient), specimen_post(patient.clinic, positive=["cocaine"]))

    page = text(response)
    assert "Positive: saved" in page
    assert "Nothing earned." in page
    assert "The streak starts again" in page
    assert "0 negatives in a row" in page
    assert "The next negative test earns $2.50." in page
    assert Specimen.objects.filter(outcome="P").count() == 1


def test_an_htmx_post_answers_only_the_award(desk, patient, enrolled):
    response = desk.post(specimen_url(patient), specimen_post(patient.clinic), headers=HTMX)

    assert response.status_code == 200
    body = response.content.decode()
    assert "<html" not in body
    assert "<form" not in body
    assert "Earned $2.50" in text(response)
    assert "The next negative test earns $3.75." in text(response)


def test_the_form_posts_to_the_live_region(desk, patient, enrolled):
    page = text(desk.get(specimen_url(patient)))

    assert 'hx-target="#record-result"' in page
    assert 'id="record-result" class="record-result" aria-live="polite"' in page


def test_a_double_submit_with_the_same_key_pays_once(desk, patient, enrolled):
    data = specimen_post(patient.clinic)

    desk.post(specimen_url(patient), data)
    again = desk.post(specimen_url(patient), data)

    assert Specimen.objects.count() == 1
    assert Wallet.objects.get(patient=patient).balance_cents == 250
    assert LedgerEntry.objects.filter(patient=patient).count() == 1
    assert "already saved; nothing was paid twice" in text(again)


def test_a_second_negative_the_same_day_says_it_earns_nothing(desk, patient, enrolled):
    desk.post(specimen_url(patient), specimen_post(patient.clinic))

    response = desk.post(specimen_url(patient), specimen_post(patient.clinic))

    page = text(response)
    assert "Nothing earned." in page
    assert "A negative already earned on this day" in page
    assert Wallet.objects.get(patient=patient).balance_cents == 250


def test_a_bonus_shows_voucher_and_bonus(desk, patient, higgins, today):
    EnrollmentFactory(patient=patient, protocol=higgins, start_date=today - timedelta(days=4))
    for days_ago in (4, 2):
        desk.post(
            specimen_url(patient),
            specimen_post(patient.clinic, collected_at=local_day(patient.clinic, days_ago)),
        )

    response = desk.post(specimen_url(patient), specimen_post(patient.clinic))

    page = text(response)
    # $2.50 + $3.75 before; the third negative pays $5.00 and the $10.00 bonus.
    assert "Earned $15.00" in page
    assert "Voucher $5.00 + bonus $10.00" in page
    assert "3 negatives in a row" in page


def local_day(clinic, days_ago):
    moment = timezone.localtime(timezone=clinic.tz) - timedelta(days=days_ago)
    return moment.replace(hour=9, minute=0).strftime("%Y-%m-%dT%H:%M")


# --- bad input: form errors, nothing saved -------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"collected_at": "2999-01-01T10:00"}, "This is in the future."),
        ({"panel": []}, "Mark each substance negative or positive."),
        ({"status": "excused"}, "An excused test needs a reason."),
        ({"status": "lost"}, "Select a valid choice."),
        ({"panel": ["kryptonite"]}, "Select a valid choice."),
        ({"collected_at": "yesterday-ish"}, "Enter a valid date/time."),
        ({"kind": "hair"}, "Select a valid choice."),
    ],
    ids=["future", "no-results", "excused-without-reason", "status", "substance", "time", "kind"],
)
def test_bad_input_is_a_form_error_and_saves_nothing(desk, patient, enrolled, fields, says):
    response = desk.post(specimen_url(patient), specimen_post(patient.clinic, **fields))

    assert response.status_code == 400
    assert says in text(response)
    assert Specimen.objects.count() == 0
    assert LedgerEntry.objects.count() == 0


def test_a_2_mb_note_is_a_form_error_and_saves_nothing(desk, patient, enrolled):
    response = desk.post(
        specimen_url(patient), specimen_post(patient.clinic, notes="x" * 2_000_000)
    )

    assert response.status_code == 400
    assert "Ensure this value has at most 1000 characters (it has 2000000)." in text(response)
    assert Specimen.objects.count() == 0


def test_a_test_before_the_enrollment_started_is_a_form_error(desk, patient, enrolled):
    response = desk.post(
        specimen_url(patient),
        specimen_post(patient.clinic, collected_at=local_day(patient.clinic, 3)),
    )

    assert response.status_code == 400
    assert "before this patient&#x27;s enrollment started on" in text(response)
    assert Specimen.objects.count() == 0


def test_an_htmx_error_answers_the_form_with_its_errors(desk, patient, enrolled):
    response = desk.post(
        specimen_url(patient), specimen_post(patient.clinic, status="excused"), headers=HTMX
    )

    assert response.status_code == 200
    assert response["HX-Retarget"] == "#record-form"
    assert response["HX-Reswap"] == "outerHTML"
    assert "An excused test needs a reason." in text(response)
    assert Specimen.objects.count() == 0


def test_an_excused_test_with_a_reason_keeps_the_streak(desk, patient, enrolled):
    response = desk.post(
        specimen_url(patient),
        specimen_post(patient.clinic, status="excused", notes="Hospitalised"),
    )

    page = text(response)
    assert "Excused: saved" in page
    assert "No reward, and the streak is kept." in page
    assert Specimen.objects.get().notes == "Hospitalised"


def test_a_patient_without_an_active_enrollment_gets_a_clear_message(desk, patient):
    page = desk.get(specimen_url(patient))

    assert page.status_code == 200
    assert "no active CM enrollment" in text(page)
    assert '<form id="record-form"' not in page.content.decode()

    response = desk.post(specimen_url(patient), specimen_post(patient.clinic))
    assert response.status_code == 400
    assert "not enrolled in a CM protocol" in text(response)
    assert Specimen.objects.count() == 0


# --- recording attendance ------------------------------------------------------------------------


def attendance_post(clinic, **fields):
    data = {
        "session_kind": "cbt",
        "occurred_at": local_now(clinic),
        "status": "attended",
        "notes": "",
        "idempotency_key": str(uuid.uuid4()),
    }
    data.update(fields)
    return data


def test_a_session_is_recorded_and_the_standing_shown(desk, patient, enrolled):
    assert "Record a session" in text(desk.get(attendance_url(patient)))

    response = desk.post(attendance_url(patient), attendance_post(patient.clinic))

    assert response.status_code == 200
    page = text(response)
    assert "Attended: saved" in page
    assert "The next negative test earns $2.50." in page
    assert Attendance.objects.get().status == "attended"


def test_a_session_that_pays_shows_the_amount(desk, patient, higgins, today):
    paying = protocols.protocol_new_version(protocol=higgins)
    paying.attendance_cents = 500
    paying.save()
    EnrollmentFactory(patient=patient, protocol=paying, start_date=today)

    response = desk.post(attendance_url(patient), attendance_post(patient.clinic), headers=HTMX)

    assert "Earned $5.00" in text(response)
    assert "<form" not in response.content.decode()


def test_a_prize_protocol_says_draws(desk, patient, today):
    fishbowl = Protocol.objects.get(slug="va-prize", is_current=True)
    EnrollmentFactory(patient=patient, protocol=fishbowl, start_date=today)
    page = text(desk.get(specimen_url(patient)))
    for substance in fishbowl.target_substances:
        assert f'name="panel" value="{substance}"' in page

    response = desk.post(
        specimen_url(patient), specimen_post(patient.clinic, panel=fishbowl.target_substances)
    )

    page = text(response)
    assert "Earned 1 prize draw" in page
    assert "The next negative test earns 2 prize draws." in page


def test_a_future_session_is_a_form_error(desk, patient, enrolled):
    response = desk.post(
        attendance_url(patient), attendance_post(patient.clinic, occurred_at="2999-01-01T10:00")
    )

    assert response.status_code == 400
    assert "This is in the future." in text(response)
    assert Attendance.objects.count() == 0


def test_a_double_submitted_session_is_recorded_once(desk, patient, enrolled):
    data = attendance_post(patient.clinic)

    desk.post(attendance_url(patient), data)
    desk.post(attendance_url(patient), data)

    assert Attendance.objects.count() == 1


# --- who may record ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["specimen-record", "attendance-record"])
def test_a_counselor_of_another_clinic_gets_404(client, other_counselor, patient, enrolled, name):
    client.force_login(other_counselor)

    assert client.get(reverse(name, args=[patient.pk])).status_code == 404
    assert client.post(reverse(name, args=[patient.pk]), {}).status_code == 404


@pytest.mark.parametrize("name", ["specimen-record", "attendance-record"])
def test_a_patient_gets_404_on_staff_pages(client, patient_user, patient, enrolled, name):
    client.force_login(patient_user)

    assert client.get(reverse(name, args=[patient.pk])).status_code == 404
    assert client.get(reverse("today")).status_code == 404


def test_a_patient_cannot_record_their_own_result(client, patient_user, patient, enrolled):
    client.force_login(patient_user)

    response = client.post(specimen_url(patient), specimen_post(patient.clinic))

    assert response.status_code == 404
    assert Specimen.objects.count() == 0


@pytest.mark.parametrize("name", ["specimen-record", "attendance-record"])
def test_anonymous_is_sent_to_sign_in(client, patient, name):
    url = reverse(name, args=[patient.pk])

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert client.get(reverse("today"))["Location"].startswith(reverse("login"))


def test_a_clinic_admin_can_record(client, clinic_admin, patient, enrolled):
    client.force_login(clinic_admin)

    response = client.post(specimen_url(patient), specimen_post(patient.clinic))

    assert "Earned $2.50" in text(response)


# --- the Today board -----------------------------------------------------------------------------


def section(page: str, heading: str) -> str:
    """The part of the Today page under `heading`, up to the next section."""
    return page.split(f"{heading} <span")[1].split("</section>")[0]


def test_a_due_patient_is_under_due_today_and_once_recorded_under_seen(desk, patient, enrolled):
    before = text(desk.get(reverse("today")))
    assert patient.full_name in section(before, "Due today")
    assert patient.full_name not in section(before, "Seen today")
    assert specimen_url(patient) in section(before, "Due today")

    desk.post(specimen_url(patient), specimen_post(patient.clinic))

    after = text(desk.get(reverse("today")))
    assert patient.full_name not in section(after, "Due today")
    assert patient.full_name in section(after, "Seen today")
    assert "Negative" in section(after, "Seen today")


def test_the_form_says_what_was_already_recorded_today(desk, patient, enrolled):
    """A lab import at 11:00 and the same cup typed in by hand later would both count."""
    assert "Already recorded today" not in text(desk.get(specimen_url(patient)))
    desk.post(specimen_url(patient), specimen_post(patient.clinic))

    page = text(desk.get(specimen_url(patient)))

    notice = page.split("Already recorded today:")[1].split("</p>")[0]
    assert '<span class="badge negative">Negative</span>' in notice


def test_a_miss_the_counselor_records_shows_under_seen_today(desk, patient, enrolled):
    desk.post(specimen_url(patient), specimen_post(patient.clinic, status="missed", panel=[]))

    page = text(desk.get(reverse("today")))

    assert patient.full_name not in section(page, "Due today")
    assert patient.full_name in section(page, "Seen today")
    assert "Missed" in section(page, "Seen today")


def test_a_missed_test_day_is_overdue(desk, patient, higgins, today):
    # Three tests a week from the start: day 0, 2 and 4. Three days in, day 2 was missed.
    EnrollmentFactory(patient=patient, protocol=higgins, start_date=today - timedelta(days=3))

    page = text(desk.get(reverse("today")))

    assert patient.full_name in section(page, "Overdue")
    assert patient.full_name not in section(page, "Due today")


def test_a_patient_due_today_who_missed_a_day_is_marked_and_counted(desk, patient, higgins, today):
    # Day 0 was missed; day 2 is today.
    EnrollmentFactory(patient=patient, protocol=higgins, start_date=today - timedelta(days=2))

    page = text(desk.get(reverse("today")))

    due = section(page, "Due today")
    assert patient.full_name in due
    assert "Not tested" in due
    assert "1 due · 0 overdue · 0 seen · 1 of those due today missed a test day" in page
    assert "No missed test days" not in page
    assert "Nobody else: the patients due today who missed a test day are marked." in page


def test_a_patient_not_due_and_not_overdue_is_not_listed(desk, patient, higgins, today):
    EnrollmentFactory(patient=patient, protocol=higgins, start_date=today - timedelta(days=1))
    desk_post = specimen_post(patient.clinic, collected_at=local_day(patient.clinic, 1))
    desk.post(specimen_url(patient), desk_post)

    page = text(desk.get(reverse("today")))

    assert patient.full_name not in page


def test_today_lists_only_the_counselors_clinic(desk, patient, enrolled, other_clinic, today):
    stranger = PatientFactory(clinic=other_clinic, first_name="Zed", last_name="Stranger")
    EnrollmentFactory(patient=stranger, start_date=today)

    page = text(desk.get(reverse("today")))

    assert patient.full_name in page
    assert "Zed Stranger" not in page


# --- the correction form, shared with the patient page ------------------------------------------


def test_the_correction_form_prefills_the_specimen_and_needs_a_reason(
    desk, patient, enrolled, clinic
):
    from vouchers.forms import SpecimenCorrectionForm

    desk.post(specimen_url(patient), specimen_post(clinic, positive=["cocaine"]))
    specimen = Specimen.objects.get()

    shown = SpecimenCorrectionForm(specimen=specimen)
    assert shown["positive"].value() == ["cocaine"]
    assert shown["status"].value() == "tested"

    data = specimen_post(
        clinic, collected_at=shown["collected_at"].value().strftime("%Y-%m-%dT%H:%M")
    )
    unexplained = SpecimenCorrectionForm(data, specimen=specimen)
    assert not unexplained.is_valid()
    assert "reason" in unexplained.errors

    explained = SpecimenCorrectionForm({**data, "reason": "Lab re-read"}, specimen=specimen)
    assert explained.is_valid(), explained.errors
    assert explained.results() == {"cocaine": "negative"}
    assert explained.cleaned_data["collected_at"] == specimen.collected_at.replace(second=0)
