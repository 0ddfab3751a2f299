"""No browser or proxy keeps a copy of a page or an API answer about a patient: a counselor's
shared desk computer shows nothing from its cache after the automatic logoff."""

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from tests.conftest import api_token

pytestmark = pytest.mark.django_db


def staff_pages(patient) -> list[str]:
    return [
        reverse("today"),
        reverse("patient-list"),
        reverse("patient-detail", args=[patient.pk]),
        reverse("patient-access", args=[patient.pk]),
        reverse("notifications"),
        reverse("account"),
    ]


def api_answers(patient) -> list[str]:
    return [
        "/api/v1/patients/",
        f"/api/v1/patients/{patient.pk}/",
        f"/api/v1/patients/{patient.pk}/balance/",
        f"/api/v1/patients/{patient.pk}/ledger/",
        "/api/v1/specimens/",
    ]


def assert_not_stored(response, url):
    assert response.status_code == 200, url
    assert "no-store" in response.headers.get("Cache-Control", ""), url


def test_staff_pages_are_not_stored(client, counselor, enrollment):
    client.force_login(counselor)
    for url in staff_pages(enrollment.patient):
        assert_not_stored(client.get(url), url)


def test_the_audit_trail_and_its_csv_are_not_stored(client, clinic_admin, enrollment):
    client.force_login(clinic_admin)
    patient = enrollment.patient
    for url in [
        reverse("patient-audit", args=[patient.pk]),
        reverse("patient-audit-export", args=[patient.pk]),
    ]:
        assert_not_stored(client.get(url), url)


def test_the_patients_portal_is_not_stored(client, patient_user, enrollment):
    client.force_login(patient_user)
    for url in [reverse("portal"), reverse("portal-reminders")]:
        assert_not_stored(client.get(url), url)


def test_api_answers_are_not_stored(counselor, enrollment):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token(counselor)}")
    for url in api_answers(enrollment.patient):
        assert_not_stored(client.get(url), url)


def test_the_patients_own_api_answers_are_not_stored(patient_user, enrollment):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token(patient_user)}")
    url = f"/api/v1/patients/{enrollment.patient.pk}/balance/"
    assert_not_stored(client.get(url), url)


def test_an_api_refusal_is_not_stored_either():
    response = APIClient().get("/api/v1/patients/")

    assert response.status_code == 401
    assert "no-store" in response.headers["Cache-Control"]


def test_a_view_that_sets_its_own_cache_control_keeps_it():
    # The sign-in page is never_cache: Django's own header, which says no-store already.
    response = Client().get(reverse("login"))

    assert response.headers["Cache-Control"] == (
        "max-age=0, no-cache, no-store, must-revalidate, private"
    )


def test_static_files_keep_their_caching(settings):
    # WhiteNoise answers before the app: stylesheets and scripts are cached as before.
    settings.WHITENOISE_USE_FINDERS = True
    settings.WHITENOISE_AUTOREFRESH = True

    response = Client().get("/static/css/app.css")

    assert response.status_code == 200
    assert "no-store" not in response.headers.get("Cache-Control", "")
