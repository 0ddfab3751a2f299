import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.http import Http404
from rest_framework.test import APIRequestFactory

from vouchers.api.errors import exception_handler
from vouchers.redemptions import Conflict

pytestmark = pytest.mark.django_db


def test_the_schema_is_an_openapi_3_document(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "cmtracker API"
    assert schema["info"]["version"] == "v1"
    for path in [
        "/api/v1/auth/token/",
        "/api/v1/patients/",
        "/api/v1/patients/{id}/",
        "/api/v1/patients/{id}/balance/",
        "/api/v1/patients/{id}/ledger/",
        "/api/v1/specimens/",
        "/api/v1/specimens/{id}/",
        "/api/v1/attendance/",
        "/api/v1/protocols/",
        "/api/v1/catalog/",
        "/api/v1/redemptions/",
        "/api/v1/redemptions/{id}/",
        "/api/v1/redemptions/{id}/approve/",
        "/api/v1/redemptions/{id}/decline/",
        "/api/v1/redemptions/{id}/cancel/",
        "/api/v1/redemptions/{id}/handover/",
        "/api/v1/imports/lab-results/",
    ]:
        assert path in schema["paths"]


def test_the_docs_load_their_scripts_from_our_static_files_not_a_cdn(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "http://" not in html and "https://" not in html
    assert "<script>" not in html  # the start-up script is a file too (CSP)


def _context():
    return {"request": APIRequestFactory().get("/"), "view": None}


def test_a_service_validation_error_is_a_400_with_field_messages():
    response = exception_handler(ValidationError({"results": "Unknown substance: x."}), _context())

    assert response.status_code == 400
    assert response.data == {"results": ["Unknown substance: x."]}


def test_an_error_without_a_field_is_a_non_field_error():
    response = exception_handler(ValidationError("Nope."), _context())

    assert response.status_code == 400
    assert response.data == {"non_field_errors": ["Nope."]}


def test_a_conflict_is_a_409_with_its_message():
    response = exception_handler(Conflict({"items": "Only 1 left."}), _context())

    assert response.status_code == 409
    assert response.data == {"detail": "Only 1 left.", "items": ["Only 1 left."]}


def test_a_constraint_a_race_got_past_is_a_409_not_a_500():
    response = exception_handler(IntegrityError("unique"), _context())

    assert response.status_code == 409


def test_a_404_says_nothing_about_why():
    response = exception_handler(Http404("No such patient"), _context())

    assert response.status_code == 404
    assert "patient" not in str(response.data).lower()


def test_another_clinics_patient_and_a_missing_one_answer_alike(api, counselor, other_clinic):
    from tests.factories import PatientFactory

    elsewhere = PatientFactory(clinic=other_clinic)
    client = api(counselor)

    theirs = client.get(f"/api/v1/patients/{elsewhere.pk}/")
    missing = client.get("/api/v1/patients/999999/")

    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json()


def test_bad_input_is_json_never_a_500(api, counselor, enrollment):
    client = api(counselor)

    response = client.post(
        "/api/v1/specimens/",
        {"patient": enrollment.patient_id, "collected_at": "yesterday", "results": "x"},
        format="json",
    )

    assert response.status_code == 400
    assert set(response.json()) >= {"collected_at", "results"}
