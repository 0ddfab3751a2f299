from datetime import date

import pytest

from rewards import redemptions
from rewards.models import CatalogItem, Redemption
from tests.conftest import at
from tests.factories import MembershipFactory, PatientFactory, UserFactory
from vouchers import recording

pytestmark = pytest.mark.django_db


def test_a_counselor_lists_only_their_clinics_patients(api, counselor, patient, other_clinic):
    PatientFactory(clinic=other_clinic)

    response = api(counselor).get("/api/v1/patients/")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    assert [p["id"] for p in body["results"]] == [patient.id]


def test_a_patient_sees_only_themself(api, patient, patient_user, other_patient):
    response = api(patient_user).get("/api/v1/patients/")

    assert [p["id"] for p in response.json()["results"]] == [patient.id]
    assert api(patient_user).get(f"/api/v1/patients/{other_patient.id}/").status_code == 404


def test_the_list_filters_and_orders(api, counselor, clinic):
    PatientFactory(clinic=clinic, last_name="Zeta", record_number="Z1")
    PatientFactory(clinic=clinic, last_name="Alpha", record_number="A1")

    client = api(counselor)
    by_name = client.get("/api/v1/patients/?ordering=-last_name").json()["results"]
    found = client.get("/api/v1/patients/?q=zet").json()["results"]

    assert [p["last_name"] for p in by_name] == ["Zeta", "Alpha"]
    assert [p["record_number"] for p in found] == ["Z1"]


def test_staff_add_a_patient_to_their_clinic(api, counselor, clinic):
    response = api(counselor).post(
        "/api/v1/patients/",
        {"clinic": clinic.id, "record_number": "R-1", "first_name": "Rae", "last_name": "Lee"},
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["record_number"] == "R-1"
    assert clinic.patients.filter(record_number="R-1").exists()


def test_a_record_number_is_unique_per_clinic(api, counselor, clinic, patient):
    response = api(counselor).post(
        "/api/v1/patients/",
        {
            "clinic": clinic.id,
            "record_number": patient.record_number,
            "first_name": "Dup",
            "last_name": "Licate",
        },
        format="json",
    )

    assert response.status_code == 400
    assert "record_number" in response.json()


def test_staff_cannot_add_a_patient_to_another_clinic(api, counselor, other_clinic):
    response = api(counselor).post(
        "/api/v1/patients/",
        {"clinic": other_clinic.id, "record_number": "X", "first_name": "X", "last_name": "Y"},
        format="json",
    )

    assert response.status_code == 400
    assert "clinic" in response.json()


def test_staff_correct_a_patients_details(api, counselor, patient):
    response = api(counselor).patch(
        f"/api/v1/patients/{patient.id}/", {"phone": "(312) 555-0100"}, format="json"
    )

    assert response.status_code == 200
    patient.refresh_from_db()
    assert patient.phone == "+13125550100"


def test_a_patient_cannot_edit_their_record(api, patient, patient_user):
    response = api(patient_user).patch(
        f"/api/v1/patients/{patient.id}/", {"phone": "1"}, format="json"
    )

    assert response.status_code == 403


def test_the_balance_shows_what_a_negative_earned_and_what_comes_next(
    api, patient_user, patient, negative, pinned_test_day
):
    response = api(patient_user).get(f"/api/v1/patients/{patient.id}/balance/")

    assert response.status_code == 200
    body = response.json()
    assert body["balance_cents"] == 250  # Higgins: $2.50 for the first negative
    assert body["streak"] == 1
    assert body["next_voucher_cents"] == 375
    assert body["held_cents"] == 0
    assert body["earned_this_year_cents"] == 250
    assert {"next_draws", "cap_remaining_cents"} <= set(body)


def test_the_balance_shows_what_open_redemptions_hold(api, counselor, patient, clinic, negative):
    item = CatalogItem.objects.create(clinic=clinic, name="Bus pass", price_cents=200, stock=3)
    redemptions.redemption_request(patient=patient, items=[(item, 1)], requested_by=counselor)

    body = api(counselor).get(f"/api/v1/patients/{patient.id}/balance/").json()

    assert body["held_cents"] == 200
    assert body["balance_cents"] == 50
    assert Redemption.objects.filter(patient=patient).count() == 1


def test_the_ledger_lists_every_entry_paginated(api, counselor, patient, enrollment, clinic):
    for day in (5, 7, 9):
        recording.specimen_record(
            patient=patient,
            collected_at=at(clinic, date(2026, 1, day)),
            results={"cocaine": "negative"},
            recorded_by=counselor,
        )

    body = api(counselor).get(f"/api/v1/patients/{patient.id}/ledger/").json()
    bonus = api(counselor).get(f"/api/v1/patients/{patient.id}/ledger/?kind=bonus").json()

    assert body["count"] == 4  # three vouchers and the bonus for three in a row
    assert sorted(e["amount_cents"] for e in body["results"]) == [250, 375, 500, 1000]
    assert bonus["count"] == 1


def test_the_list_leaves_out_contact_details_that_one_patients_record_shows(
    api, counselor, patient
):
    patient.phone, patient.email = "+13125550123", "pat@example.org"
    patient.save()
    client = api(counselor)

    [listed] = client.get("/api/v1/patients/").json()["results"]
    one = client.get(f"/api/v1/patients/{patient.id}/").json()

    assert not {"phone", "email", "reminder_consent_sms"} & set(listed)
    assert (one["phone"], one["email"]) == ("+13125550123", "pat@example.org")


@pytest.mark.parametrize(
    "record_number", ["R-1\nR-2", "R-\r1", "R\t1", "R-1\x00", "R\u20281", "R\u200b1", "R" * 41]
)
def test_a_record_number_with_a_line_break_or_control_character_is_a_400(
    api, counselor, clinic, record_number
):
    response = api(counselor).post(
        "/api/v1/patients/",
        {"clinic": clinic.id, "record_number": record_number, "first_name": "R", "last_name": "L"},
        format="json",
    )

    assert response.status_code == 400
    assert list(response.json()) == ["record_number"]
    assert not clinic.patients.exists()


def test_a_record_number_cannot_be_changed_to_one_with_a_line_break(api, counselor, patient):
    response = api(counselor).patch(
        f"/api/v1/patients/{patient.id}/", {"record_number": "A\nB"}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["record_number"] == [
        "Use letters, digits, spaces and punctuation only: no line breaks or tabs."
    ]


def test_record_numbers_in_any_alphabet_with_spaces_and_punctuation_are_accepted(
    api, counselor, clinic
):
    body = {"clinic": clinic.id, "record_number": 'MRN 12/3-ñ "B"', "first_name": "R"}

    response = api(counselor).post("/api/v1/patients/", {**body, "last_name": "L"}, format="json")

    assert response.status_code == 201
    assert response.json()["record_number"] == 'MRN 12/3-ñ "B"'


@pytest.mark.parametrize("field", ["first_name", "last_name"])
def test_a_name_longer_than_100_characters_is_a_400(api, counselor, clinic, field):
    body = {"clinic": clinic.id, "record_number": "R-1", "first_name": "R", "last_name": "L"}
    body[field] = "x" * 101

    response = api(counselor).post("/api/v1/patients/", body, format="json")

    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_a_primary_counselor_must_work_at_the_patients_clinic(
    api, counselor, clinic, other_clinic, other_counselor
):
    # Staff of both clinics may pick either clinic's counselors, but not across them.
    MembershipFactory(user=counselor, clinic=other_clinic, role="counselor")
    body = {"clinic": clinic.id, "record_number": "R-1", "first_name": "R", "last_name": "L"}

    response = api(counselor).post(
        "/api/v1/patients/", {**body, "primary_counselor": other_counselor.id}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {
        "primary_counselor": ["This counselor does not work at the patient's clinic."]
    }
    assert not clinic.patients.exists()


def test_a_patient_cannot_move_to_a_clinic_where_their_counselor_does_not_work(
    api, counselor, patient, other_clinic
):
    admin = UserFactory(username="both")
    MembershipFactory(user=admin, clinic=patient.clinic, role="admin")
    MembershipFactory(user=admin, clinic=other_clinic, role="admin")

    response = api(admin).patch(
        f"/api/v1/patients/{patient.id}/", {"clinic": other_clinic.id}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()) == ["primary_counselor"]
    patient.refresh_from_db()
    assert patient.clinic_id != other_clinic.id
