"""The API stores patients' numbers in E.164, read in the clinic's country, or answers 400."""

from patients.models import Patient

INVALID = (
    "Enter a valid phone number: with its country code (+1 312 555 0100), or as dialled in the "
    "clinic's country (US)."
)


def test_the_api_stores_a_national_number_in_e164(api, counselor, clinic):
    response = api(counselor).post(
        "/api/v1/patients/",
        {
            "clinic": clinic.id,
            "record_number": "RR-2002",
            "first_name": "Dana",
            "last_name": "Reyes",
            "phone": "(312) 555-0100",
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    assert response.json()["phone"] == "+13125550100"
    assert Patient.objects.get(record_number="RR-2002").phone == "+13125550100"


def test_the_api_answers_an_invalid_number_with_a_field_error(api, counselor, patient):
    patient.phone = "+13125550100"
    patient.save()

    response = api(counselor).patch(
        f"/api/v1/patients/{patient.id}/", {"phone": "555-0100"}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"phone": [INVALID]}
    patient.refresh_from_db()
    assert patient.phone == "+13125550100"


def test_a_number_with_its_country_code_keeps_its_country(api, counselor, patient):
    response = api(counselor).patch(
        f"/api/v1/patients/{patient.id}/", {"phone": "+61 3 9555 0100"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["phone"] == "+61395550100"


def test_an_empty_number_is_allowed_and_stays_empty(api, counselor, patient):
    response = api(counselor).patch(f"/api/v1/patients/{patient.id}/", {"phone": ""}, format="json")

    assert response.status_code == 200
    patient.refresh_from_db()
    assert patient.phone == ""
