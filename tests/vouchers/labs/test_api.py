import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from patients.models import Specimen
from vouchers.models import LedgerEntry

pytestmark = pytest.mark.django_db

URL = "/api/v1/imports/lab-results/"


def _csv(patient, *, bad=True) -> str:
    lines = [
        "record_number,collected_at,cocaine",
        f"{patient.record_number},2026-01-05 09:00,negative",
        f"{patient.record_number},2026-01-07 09:00,negative",
    ]
    if bad:
        lines.append("NOBODY-1,2026-01-07 09:00,negative")
    return "\n".join(lines) + "\n"


def test_a_preview_writes_nothing_and_reports_the_bad_row(api, counselor, enrollment):
    response = api(counselor).post(URL, {"csv": _csv(enrollment.patient)}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert (body["mode"], body["applied"]) == ("preview", False)
    assert body["totals"] == {
        "rows": 3,
        "ok": 2,
        "errors": 1,
        "written": 0,
        "skipped": 0,
        "settled": 0,
    }
    bad = body["rows"][2]
    assert (bad["number"], bad["record_number"], bad["status"]) == (4, "NOBODY-1", "error")
    assert "NOBODY-1" in bad["messages"][0]
    assert not Specimen.objects.exists()


def test_skip_bad_rows_writes_the_good_rows_and_settles(api, counselor, enrollment):
    payload = {"csv": _csv(enrollment.patient), "mode": "skip_bad_rows"}

    response = api(counselor).post(URL, payload, format="json")

    assert response.status_code == 200
    body = response.json()
    assert [row["status"] for row in body["rows"]] == ["written", "written", "error"]
    assert (body["totals"]["written"], body["totals"]["settled"]) == (2, 1)
    assert Specimen.objects.filter(enrollment=enrollment).count() == 2
    assert LedgerEntry.objects.filter(patient=enrollment.patient).exists()


def test_all_or_nothing_with_a_bad_row_writes_nothing(api, counselor, enrollment):
    payload = {"csv": _csv(enrollment.patient), "mode": "all_or_nothing"}

    body = api(counselor).post(URL, payload, format="json").json()

    assert [row["status"] for row in body["rows"]] == ["skipped", "skipped", "error"]
    assert not Specimen.objects.exists()


def test_a_file_upload_imports_like_the_text(api, counselor, enrollment):
    upload = SimpleUploadedFile("lab.csv", _csv(enrollment.patient, bad=False).encode())

    response = api(counselor).post(
        URL, {"file": upload, "mode": "all_or_nothing"}, format="multipart"
    )

    assert response.status_code == 200
    assert response.json()["totals"]["written"] == 2
    assert Specimen.objects.count() == 2


def test_a_file_that_is_not_csv_is_a_400_on_file(api, counselor, enrollment):
    upload = SimpleUploadedFile("lab.xlsx", b"PK\x03\x04")

    response = api(counselor).post(URL, {"file": upload}, format="multipart")

    assert response.status_code == 400
    assert "file" in response.json()


def test_a_bad_header_is_a_400_with_the_message(api, counselor, enrollment):
    response = api(counselor).post(URL, {"csv": "who,when\nx,y\n"}, format="json")

    assert response.status_code == 400
    assert "record_number" in " ".join(response.json()["csv"])
    assert not Specimen.objects.exists()


def test_nothing_sent_is_a_400(api, counselor):
    response = api(counselor).post(URL, {"mode": "preview"}, format="json")

    assert response.status_code == 400
    assert "csv" in response.json()


def test_an_unknown_mode_is_a_400(api, counselor, enrollment):
    payload = {"csv": _csv(enrollment.patient), "mode": "everything"}

    response = api(counselor).post(URL, payload, format="json")

    assert response.status_code == 400
    assert "mode" in response.json()


def test_another_clinic_is_a_400_as_if_it_did_not_exist(api, counselor, enrollment, other_clinic):
    payload = {"csv": _csv(enrollment.patient), "clinic": other_clinic.id}

    response = api(counselor).post(URL, payload, format="json")

    assert response.status_code == 400
    assert "clinic" in response.json()


def test_the_caller_may_name_their_clinic(api, counselor, enrollment, clinic):
    payload = {"csv": _csv(enrollment.patient), "clinic": clinic.id}

    response = api(counselor).post(URL, payload, format="json")

    assert response.status_code == 200
    assert response.json()["clinic"] == clinic.id


def test_a_patient_cannot_import(api, patient_user, enrollment):
    response = api(patient_user).post(URL, {"csv": _csv(enrollment.patient)}, format="json")

    assert response.status_code == 403
