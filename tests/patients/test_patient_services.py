"""patient_create and patient_update: a patient's record keeps the same rules whoever writes it
(the API, the Django admin)."""

import pytest
from django.core.exceptions import ValidationError

from cmtracker.models import AuditEvent
from patients.models import Patient
from patients.services import patient_create, patient_update

pytestmark = pytest.mark.django_db


def add(clinic, **details):
    return patient_create(
        **{"clinic": clinic, "record_number": "R-1", "first_name": "Rae", "last_name": "Lee"}
        | details
    )


def test_a_patient_is_added_with_the_phone_in_e164_and_the_write_is_logged(clinic, counselor):
    patient = add(clinic, primary_counselor=counselor, phone="(312) 555-0100")

    assert Patient.objects.get(pk=patient.pk).phone == "+13125550100"
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.CREATE, object_type="patient", object_id=str(patient.pk)
    ).exists()


def test_a_counselor_of_another_clinic_cannot_be_the_primary_counselor(clinic, other_counselor):
    with pytest.raises(ValidationError) as refused:
        add(clinic, primary_counselor=other_counselor)

    assert refused.value.message_dict == {
        "primary_counselor": ["This counselor does not work at the patient's clinic."]
    }
    assert not clinic.patients.exists()


def test_a_patient_moved_to_another_clinic_cannot_keep_a_counselor_who_does_not_work_there(
    patient, other_clinic
):
    with pytest.raises(ValidationError) as refused:
        patient_update(patient=patient, clinic=other_clinic)

    assert list(refused.value.message_dict) == ["primary_counselor"]
    patient.refresh_from_db()
    assert patient.clinic_id != other_clinic.pk


def test_a_record_number_is_one_patients_at_a_clinic_and_free_at_another(
    clinic, patient, other_clinic
):
    with pytest.raises(ValidationError) as refused:
        patient_create(
            clinic=clinic, record_number=patient.record_number, first_name="D", last_name="L"
        )

    assert list(refused.value.message_dict) == ["record_number"]
    elsewhere = patient_create(
        clinic=other_clinic, record_number=patient.record_number, first_name="D", last_name="L"
    )
    assert elsewhere.pk is not None


def test_a_patient_keeps_their_own_record_number_when_their_details_change(patient):
    patient_update(patient=patient, record_number=patient.record_number, first_name="Renamed")

    patient.refresh_from_db()
    assert patient.first_name == "Renamed"


def test_every_broken_rule_is_named_at_once(clinic, patient, other_counselor):
    with pytest.raises(ValidationError) as refused:
        add(
            clinic,
            record_number=patient.record_number,
            phone="555-0100",
            primary_counselor=other_counselor,
        )

    assert sorted(refused.value.message_dict) == ["phone", "primary_counselor", "record_number"]


def test_a_record_number_with_a_line_break_is_refused(clinic):
    with pytest.raises(ValidationError) as refused:
        add(clinic, record_number="R-1\nR-2")

    assert list(refused.value.message_dict) == ["record_number"]


def test_an_update_is_logged_with_old_and_new_values(patient):
    patient_update(patient=patient, phone="312 555 0199")

    change = AuditEvent.objects.get(
        action=AuditEvent.Action.CHANGE, object_type="patient", object_id=str(patient.pk)
    )
    assert change.changes["phone"][1] == "+13125550199"


def test_a_field_staff_do_not_set_is_a_programming_error(patient):
    with pytest.raises(TypeError):
        patient_update(patient=patient, created_at=None)


def test_a_counselor_who_left_the_clinic_does_not_stop_a_change_of_name(patient, counselor):
    counselor.memberships.all().delete()
    patient.primary_counselor = type(counselor).objects.get(pk=counselor.pk)

    patient_update(patient=patient, first_name="Renamed")

    patient.refresh_from_db()
    assert patient.first_name == "Renamed"
    with pytest.raises(ValidationError):
        patient_update(patient=patient, primary_counselor=patient.primary_counselor)
