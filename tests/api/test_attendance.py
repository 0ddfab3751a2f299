from datetime import date

import pytest

from patients.models import Attendance
from tests.conftest import at

pytestmark = pytest.mark.django_db

URL = "/api/v1/attendance/"


def _session(patient, clinic, **extra):
    return {
        "patient": patient.id,
        "occurred_at": at(clinic, date(2026, 1, 6)).isoformat(),
        "session_kind": "cbt",
        **extra,
    }


def test_staff_record_a_session_and_get_the_award(api, counselor, enrollment, clinic):
    response = api(counselor).post(URL, _session(enrollment.patient, clinic), format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["attendance"]["status"] == "attended"
    assert body["attendance"]["patient"] == enrollment.patient_id
    assert {"attendance_cents", "balance_cents", "next_voucher_cents"} <= set(body)


def test_the_same_idempotency_key_records_the_session_once(api, counselor, enrollment, clinic):
    client = api(counselor)
    payload = _session(enrollment.patient, clinic, idempotency_key="ehr-9")

    first = client.post(URL, payload, format="json")
    again = client.post(URL, payload, format="json")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert Attendance.objects.count() == 1


def test_an_unknown_session_kind_is_a_400(api, counselor, enrollment, clinic):
    payload = _session(enrollment.patient, clinic, session_kind="yoga")

    response = api(counselor).post(URL, payload, format="json")

    assert response.status_code == 400
    assert "session_kind" in response.json()


def test_the_list_is_scoped_and_filtered(api, counselor, other_counselor, enrollment, clinic):
    api(counselor).post(URL, _session(enrollment.patient, clinic), format="json")

    mine = api(counselor).get(f"{URL}?session_kind=cbt").json()
    theirs = api(other_counselor).get(URL).json()

    assert mine["count"] == 1
    assert theirs["count"] == 0


def test_session_notes_over_1000_characters_are_a_400(api, counselor, enrollment, clinic):
    payload = _session(enrollment.patient, clinic, notes="x" * 1001)

    response = api(counselor).post(URL, payload, format="json")

    assert response.status_code == 400
    assert response.json() == {"notes": ["Ensure this field has no more than 1000 characters."]}
    assert not Attendance.objects.exists()
