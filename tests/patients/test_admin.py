"""The clinical record in the Django admin: a patient is saved through the patients services, and
an enrollment is shown, never edited (its lifecycle is patients.enrollment's)."""

from datetime import date

import pytest
from django.urls import reverse

from patients.models import Enrollment, Patient
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_staff=True, is_superuser=True)


def patient_form(patient: Patient, **changes) -> dict:
    form = {
        "clinic": patient.clinic_id,
        "record_number": patient.record_number,
        "first_name": patient.first_name,
        "last_name": patient.last_name,
        "primary_counselor": patient.primary_counselor_id or "",
        "phone": patient.phone,
        "email": patient.email,
        "preferred_language": "en",
        "reminder_time": "09:00",
        "message_style": "clinic",
        "enrollments-TOTAL_FORMS": "0",
        "enrollments-INITIAL_FORMS": "0",
        "enrollments-MIN_NUM_FORMS": "0",
        "enrollments-MAX_NUM_FORMS": "1000",
    }
    return form | changes


def test_the_admin_refuses_a_primary_counselor_of_another_clinic(
    client, superuser, clinic, counselor, other_counselor
):
    client.force_login(superuser)
    new = Patient(clinic=clinic, record_number="R-9", first_name="Rae", last_name="Lee")

    response = client.post(
        reverse("admin:patients_patient_add"),
        patient_form(new, primary_counselor=other_counselor.pk),
    )

    assert response.status_code == 200  # the form again, with its error
    assert response.context["adminform"].form.errors["primary_counselor"] == [
        "This counselor does not work at the patient's clinic."
    ]
    assert not clinic.patients.exists()


def test_the_admin_refuses_to_move_a_patient_away_from_their_counselors_clinic(
    client, superuser, patient, other_clinic
):
    client.force_login(superuser)
    url = reverse("admin:patients_patient_change", args=[patient.pk])

    response = client.post(url, patient_form(patient, clinic=other_clinic.pk))

    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == ["primary_counselor"]
    patient.refresh_from_db()
    assert patient.clinic_id != other_clinic.pk


def test_a_patient_changed_in_the_admin_is_saved_by_the_service(client, superuser, patient):
    client.force_login(superuser)
    url = reverse("admin:patients_patient_change", args=[patient.pk])

    response = client.post(url, patient_form(patient, phone="(312) 555-0142"))

    assert response.status_code == 302, response.content
    patient.refresh_from_db()
    assert patient.phone == "+13125550142"


def test_an_enrollment_cannot_be_added_in_the_admin(client, superuser, patient):
    client.force_login(superuser)

    assert client.get(reverse("admin:patients_enrollment_add")).status_code == 403


def test_an_enrollments_status_end_date_and_missed_test_start_are_read_only_in_the_admin(
    client, superuser, enrollment
):
    client.force_login(superuser)
    url = reverse("admin:patients_enrollment_change", args=[enrollment.pk])

    page = client.get(url)
    response = client.post(
        url,
        {
            "patient": enrollment.patient_id,
            "protocol": enrollment.protocol_id,
            "start_date": "2026-01-05",
            "status": "completed",
            "end_date": "2026-01-20",
            "misses_from": "2025-12-01",
            "session_weekdays": "[]",
        },
    )

    assert page.status_code == 200
    for field in ("status", "end_date", "misses_from", "test_weekdays", "start_date"):
        assert f'name="{field}"'.encode() not in page.content, field
    assert response.status_code == 403
    fresh = Enrollment.objects.get(pk=enrollment.pk)
    assert (fresh.status, fresh.end_date, fresh.misses_from) == (
        enrollment.status,
        enrollment.end_date,
        enrollment.misses_from,
    )


def test_the_patient_page_shows_enrollments_without_editing_them(client, superuser, enrollment):
    patient = enrollment.patient
    client.force_login(superuser)
    url = reverse("admin:patients_patient_change", args=[patient.pk])

    page = client.get(url)
    response = client.post(
        url,
        patient_form(
            patient,
            **{
                "enrollments-TOTAL_FORMS": "1",
                "enrollments-INITIAL_FORMS": "1",
                "enrollments-0-id": enrollment.pk,
                "enrollments-0-patient": patient.pk,
                "enrollments-0-status": "withdrawn",
                "enrollments-0-end_date": "2026-01-06",
                "enrollments-0-misses_from": "2025-12-01",
            },
        ),
    )

    assert page.status_code == 200
    assert b"Higgins" in page.content  # shown
    assert b'name="enrollments-0-status"' not in page.content
    assert b'name="enrollments-0-end_date"' not in page.content
    assert response.status_code == 302
    fresh = Enrollment.objects.get(pk=enrollment.pk)
    assert (fresh.status, fresh.end_date, fresh.misses_from) == (
        Enrollment.Status.ACTIVE,
        None,
        enrollment.misses_from,
    )


def test_the_enrollment_page_still_starts_and_ends_an_enrollment(
    client, counselor, patient, higgins
):
    client.force_login(counselor)
    url = reverse("enrollment-manage", args=[patient.pk])

    started = client.post(url, {"protocol": higgins.pk, "start_date": date(2026, 1, 5)})
    ended = client.post(url, {"status": "completed"})

    assert (started.status_code, ended.status_code) == (302, 302)
    enrollment = patient.enrollments.get()
    assert enrollment.status == Enrollment.Status.COMPLETED
    assert enrollment.end_date is not None
