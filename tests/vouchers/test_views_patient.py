"""The counselor's patient page, correcting a result, and managing the enrollment."""

from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from patients.enrollment import enrollment_set_status
from patients.models import Correction, Enrollment, Specimen
from tests.conftest import at
from tests.factories import EnrollmentFactory, PatientFactory
from vouchers import adjustments, recording
from vouchers.selectors import wallet_get

MON, WED, FRI = date(2026, 1, 5), date(2026, 1, 7), date(2026, 1, 9)
NEGATIVE = {"cocaine": "negative"}
POSITIVE = {"cocaine": "positive"}


def record(patient, day, results=NEGATIVE, by=None, hour=10):
    return recording.specimen_record(
        patient=patient, collected_at=at(patient.clinic, day, hour), results=results, recorded_by=by
    ).specimen


def page(client, user, patient):
    client.force_login(user)
    return client.get(reverse("patient-detail", args=[patient.pk]))


def correction_data(specimen, **changes):
    data = {
        "collected_at": "2026-01-07T10:00",
        "kind": "urine",
        "status": "tested",
        "panel": ["cocaine"],
        "notes": "",
        "reason": "The lab re-read the sample",
    }
    data.update(changes)
    return data


# --- the patient page --------------------------------------------------------------------------


@pytest.fixture
def recent(patient, higgins):
    """Higgins 1994 from the Monday four weeks back, so today is inside its 12 weeks."""
    today = patient.clinic.local_date(timezone.now())
    start = today - timedelta(days=today.weekday(), weeks=4)
    return EnrollmentFactory(patient=patient, protocol=higgins, start_date=start)


def test_the_page_shows_balance_streak_and_the_next_reward(client, counselor, patient, recent):
    for offset in (0, 2, 4):
        record(patient, recent.start_date + timedelta(days=offset), by=counselor)

    response = page(client, counselor, patient)

    assert response.status_code == 200
    html = response.content.decode()
    assert patient.full_name in html
    assert patient.record_number in html
    assert "Counselor: casey" in html
    assert "Higgins et al. 1994" in html
    assert "Week 5 of 12" in html
    assert "$21.25" in html  # $2.50 + $3.75 + $5.00 + the $10 bonus for 3 in a row
    assert "The next negative test earns $6.25." in html
    assert '<p class="stat">3</p>' in html


def test_past_the_protocols_weeks_the_page_promises_nothing(client, counselor, patient, enrollment):
    record(patient, MON, by=counselor)

    html = page(client, counselor, patient).content.decode()

    assert "past the protocol's 12 weeks" in html  # it started in January
    assert "The protocol's 12 weeks are over: further tests earn nothing." in html
    assert "The next negative test earns" not in html


def test_the_page_offers_recording_and_enrollment_actions(client, counselor, patient, enrollment):
    html = page(client, counselor, patient).content.decode()

    assert reverse("specimen-record", args=[patient.pk]) in html
    assert reverse("attendance-record", args=[patient.pk]) in html
    assert reverse("enrollment-manage", args=[patient.pk]) in html


def test_history_shows_each_result_in_the_clinic_time_zone_with_what_it_earned(
    client, counselor, patient, enrollment
):
    record(patient, MON, by=counselor)
    late = record(patient, WED, POSITIVE, by=counselor, hour=23)  # 05:xx UTC the next day

    html = page(client, counselor, patient).content.decode()

    assert "01/07/2026 11 p.m." in html
    assert '<span class="badge positive">Positive</span>' in html
    assert "Cocaine: positive" in html
    assert "$2.50" in html
    assert reverse("specimen-correct", args=[late.pk]) in html


def test_the_chart_marks_a_positive_and_has_an_accessible_name(
    client, counselor, patient, enrollment
):
    record(patient, MON, by=counselor)
    record(patient, WED, POSITIVE, by=counselor)

    html = page(client, counselor, patient).content.decode()

    assert 'role="img"' in html
    assert 'aria-label="Earnings over time. $2.50 earned from' in html
    assert "mark mark-positive" in html
    assert "mark mark-negative" in html


def test_the_ledger_lists_each_entry_with_its_source(client, counselor, patient, enrollment):
    for day in (MON, WED, FRI):
        record(patient, day, by=counselor)
    adjustments.ledger_adjust(
        patient=patient, amount_cents=-500, reason="Bus pass bought at the desk", actor=counselor
    )

    html = page(client, counselor, patient).content.decode()

    assert "Voucher earned" in html
    assert "Bonus" in html
    assert "Test of Jan. 9, 2026" in html
    assert "Bus pass bought at the desk" in html
    assert "-$5.00" in html


def test_a_patient_never_enrolled_has_a_page_saying_so(client, counselor, patient):
    html = page(client, counselor, patient).content.decode()

    assert "Not enrolled in a CM protocol." in html
    assert reverse("specimen-record", args=[patient.pk]) not in html


def test_an_ended_enrollment_still_shows_its_history_but_promises_nothing(
    client, counselor, patient, enrollment
):
    record(patient, MON, by=counselor)
    enrollment_set_status(enrollment=enrollment, status="completed", actor=counselor)

    html = page(client, counselor, patient).content.decode()

    assert '<span class="badge completed">Completed</span>' in html
    assert "Cocaine: negative" in html
    assert "mark mark-negative" in html
    assert "The next negative test earns" not in html
    assert reverse("specimen-record", args=[patient.pk]) not in html


def test_queries_do_not_grow_with_the_history(client, counselor, patient, enrollment):
    client.force_login(counselor)
    url = reverse("patient-detail", args=[patient.pk])
    days = [date(2026, 1, d) for d in range(5, 31)] + [date(2026, 2, d) for d in range(1, 28)]

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    record(patient, days[0], by=counselor)
    first = record(patient, days[1], POSITIVE, by=counselor)
    recording.specimen_correct(
        specimen=first, changed_by=counselor, reason="re-read", results=NEGATIVE
    )
    few = count()
    for day in days[2:40]:
        specimen = record(patient, day, by=counselor)
    recording.specimen_correct(
        specimen=specimen, changed_by=counselor, reason="re-read", results=POSITIVE
    )
    many = count()

    assert many == few


# --- correcting a result -------------------------------------------------------------------------


def test_a_correction_with_a_reason_changes_the_balance_and_shows_who_and_why(
    client, counselor, patient, enrollment
):
    record(patient, MON, by=counselor)
    positive = record(patient, WED, POSITIVE, by=counselor)
    client.force_login(counselor)
    url = reverse("specimen-correct", args=[positive.pk])

    form = client.get(url)
    assert form.status_code == 200
    assert 'value="2026-01-07T10:00"' in form.content.decode()

    response = client.post(url, correction_data(positive), follow=True)

    assert response.redirect_chain == [(reverse("patient-detail", args=[patient.pk]), 302)]
    html = response.content.decode()
    assert "Balance changed from $2.50 to $6.25." in html
    assert "Corrected by casey on" in html
    assert "The lab re-read the sample" in html
    assert "Outcome: Positive → Negative" in html
    assert "Collected at:" not in html  # unchanged, so not listed
    assert wallet_get(patient=patient).balance_cents == 625


def test_a_correction_without_a_reason_is_refused_and_changes_nothing(
    client, counselor, patient, enrollment
):
    record(patient, MON, by=counselor)
    positive = record(patient, WED, POSITIVE, by=counselor)
    client.force_login(counselor)

    response = client.post(
        reverse("specimen-correct", args=[positive.pk]), correction_data(positive, reason="  ")
    )

    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    positive.refresh_from_db()
    assert positive.outcome == Specimen.Outcome.POSITIVE
    assert not Correction.objects.exists()
    assert wallet_get(patient=patient).balance_cents == 250


def test_a_correction_the_service_refuses_shows_its_error_and_changes_nothing(
    client, counselor, patient, enrollment
):
    positive = record(patient, WED, POSITIVE, by=counselor)
    client.force_login(counselor)

    response = client.post(
        reverse("specimen-correct", args=[positive.pk]),
        correction_data(positive, collected_at="2025-12-01T10:00"),  # before the enrollment
    )

    assert response.status_code == 200
    assert (
        "This test was collected on Dec. 1, 2025, before this patient&#x27;s enrollment started "
        "on Jan. 5, 2026." in response.content.decode()
    )
    assert not Correction.objects.exists()


def test_an_unchanged_balance_is_said_so(client, counselor, patient, enrollment):
    negative = record(patient, MON, by=counselor)
    client.force_login(counselor)

    response = client.post(
        reverse("specimen-correct", args=[negative.pk]),
        correction_data(negative, collected_at="2026-01-05T09:00", reason="Wrong hour"),
        follow=True,
    )

    assert "The balance stays at $2.50." in response.content.decode()


# --- who may see what ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["patient-detail", "enrollment-manage"])
def test_another_clinics_counselor_gets_404_on_patient_pages(
    client, other_counselor, patient, enrollment, name
):
    client.force_login(other_counselor)

    assert client.get(reverse(name, args=[patient.pk])).status_code == 404
    assert client.post(reverse(name, args=[patient.pk]), {"status": "paused"}).status_code == 404
    enrollment.refresh_from_db()
    assert enrollment.status == Enrollment.Status.ACTIVE


def test_another_clinics_counselor_gets_404_on_correcting_a_result(
    client, counselor, other_counselor, patient, enrollment
):
    specimen = record(patient, MON, POSITIVE, by=counselor)
    client.force_login(other_counselor)
    url = reverse("specimen-correct", args=[specimen.pk])

    assert client.get(url).status_code == 404
    assert client.post(url, correction_data(specimen)).status_code == 404
    assert not Correction.objects.exists()


@pytest.mark.parametrize("name", ["patient-detail", "enrollment-manage", "specimen-correct"])
def test_a_patient_gets_404_even_on_their_own_staff_pages(
    client, counselor, patient_user, patient, enrollment, name
):
    specimen = record(patient, MON, by=counselor)
    pk = specimen.pk if name == "specimen-correct" else patient.pk
    client.force_login(patient_user)

    assert client.get(reverse(name, args=[pk])).status_code == 404


def test_signed_out_visitors_are_sent_to_sign_in(client, patient):
    response = client.get(reverse("patient-detail", args=[patient.pk]))

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_a_clinic_administrator_sees_the_page(client, clinic_admin, patient, enrollment):
    assert page(client, clinic_admin, patient).status_code == 200


# --- managing the enrollment --------------------------------------------------------------------


def manage(client, user, patient, data):
    client.force_login(user)
    return client.post(reverse("enrollment-manage", args=[patient.pk]), data, follow=True)


def test_a_counselor_enrols_a_patient(client, counselor, patient, higgins):
    client.force_login(counselor)
    form = client.get(reverse("enrollment-manage", args=[patient.pk]))
    assert "Enrol in a protocol" in form.content.decode()

    response = manage(
        client, counselor, patient, {"protocol": higgins.pk, "start_date": "2026-11-02"}
    )

    enrollment = patient.enrollments.get()
    assert (enrollment.protocol_id, enrollment.start_date) == (higgins.pk, date(2026, 11, 2))
    assert enrollment.status == Enrollment.Status.ACTIVE
    assert "Enrolled in Higgins et al. 1994" in response.content.decode()


def test_a_second_open_enrollment_is_refused_with_a_message(
    client, counselor, patient, enrollment, higgins
):
    response = manage(
        client, counselor, patient, {"protocol": higgins.pk, "start_date": "2026-11-02"}
    )

    assert response.status_code == 400
    assert "This patient already has an open enrollment." in response.content.decode()
    assert patient.enrollments.count() == 1


def test_an_enrollment_without_a_start_date_is_a_form_error(client, counselor, patient, higgins):
    response = manage(client, counselor, patient, {"protocol": higgins.pk, "start_date": ""})

    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert not patient.enrollments.exists()


@pytest.mark.parametrize(
    ("steps", "status", "message"),
    [
        (["paused"], "paused", "Enrollment paused."),
        (["paused", "active"], "active", "Enrollment resumed."),
        (["completed"], "completed", "Enrollment completed on"),
        (["paused", "withdrawn"], "withdrawn", "Enrollment withdrawn on"),
    ],
)
def test_a_counselor_pauses_resumes_completes_and_withdraws(
    client, counselor, patient, enrollment, steps, status, message
):
    for step in steps:
        response = manage(client, counselor, patient, {"status": step})

    enrollment.refresh_from_db()
    assert enrollment.status == status
    assert message in response.content.decode()
    if status in ("completed", "withdrawn"):
        assert enrollment.end_date == patient.clinic.local_date(timezone.now())
    else:
        assert enrollment.end_date is None


def test_an_ended_enrollment_cannot_be_paused_and_a_new_one_can_start(
    client, counselor, patient, enrollment, higgins
):
    manage(client, counselor, patient, {"status": "completed"})

    response = manage(client, counselor, patient, {"status": "paused"})
    assert "This patient has no open enrollment." in response.content.decode()

    manage(client, counselor, patient, {"protocol": higgins.pk, "start_date": "2026-11-16"})
    assert patient.enrollments.filter(status="active").count() == 1
    assert patient.enrollments.count() == 2


def test_a_paused_enrollment_records_nothing_and_hides_the_record_buttons(
    client, counselor, patient, enrollment
):
    manage(client, counselor, patient, {"status": "paused"})

    html = page(client, counselor, patient).content.decode()
    assert '<span class="badge paused">Paused</span>' in html
    assert reverse("specimen-record", args=[patient.pk]) not in html


# --- the status service -------------------------------------------------------------------------


def test_completing_sets_the_end_date_to_the_clinics_today(counselor, enrollment):
    done = enrollment_set_status(
        enrollment=enrollment, status="completed", actor=counselor, today=date(2026, 4, 1)
    )

    assert (done.status, done.end_date) == ("completed", date(2026, 4, 1))


def test_withdrawing_before_the_start_ends_on_the_start_date(
    counselor, patient, higgins, pinned_test_day
):
    future = EnrollmentFactory(patient=patient, protocol=higgins, start_date=date(2027, 1, 4))

    done = enrollment_set_status(enrollment=future, status="withdrawn", actor=counselor)

    assert done.end_date == date(2027, 1, 4)


@pytest.mark.parametrize(
    ("first", "then"),
    [("completed", "active"), ("withdrawn", "paused"), ("completed", "withdrawn")],
)
def test_an_ended_enrollment_is_final(counselor, enrollment, first, then):
    enrollment_set_status(enrollment=enrollment, status=first, actor=counselor)

    with pytest.raises(ValidationError, match="has ended"):
        enrollment_set_status(enrollment=enrollment, status=then, actor=counselor)
    enrollment.refresh_from_db()
    assert enrollment.status == first


def test_other_patients_enrollments_are_untouched(counselor, patient, enrollment, clinic):
    other = EnrollmentFactory(patient=PatientFactory(clinic=clinic))

    enrollment_set_status(enrollment=enrollment, status="paused", actor=counselor)

    other.refresh_from_db()
    assert other.status == "active"
