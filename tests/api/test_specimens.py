from datetime import date

import pytest

from patients.models import Correction, Specimen
from tests.conftest import at
from vouchers.models import LedgerEntry

pytestmark = pytest.mark.django_db

URL = "/api/v1/specimens/"


def _negative(patient, clinic, day=5, **extra):
    return {
        "patient": patient.id,
        "collected_at": at(clinic, date(2026, 1, day)).isoformat(),
        "kind": "urine",
        "results": {"cocaine": "negative"},
        **extra,
    }


def test_recording_a_negative_answers_201_with_the_award(api, counselor, enrollment, clinic):
    response = api(counselor).post(URL, _negative(enrollment.patient, clinic), format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["specimen"]["outcome"] == "N"
    assert body["specimen"]["results"] == {"cocaine": "negative"}
    assert body["voucher_cents"] == 250
    assert body["bonus_cents"] == 0
    assert body["draws"] == 0
    assert body["balance_cents"] == 250
    assert body["next_voucher_cents"] == 375


def test_the_same_idempotency_key_answers_the_same_and_pays_once(
    api, counselor, enrollment, clinic
):
    client = api(counselor)
    payload = _negative(enrollment.patient, clinic, idempotency_key="lab-123")

    first = client.post(URL, payload, format="json")
    again = client.post(URL, payload, format="json")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert Specimen.objects.count() == 1
    assert LedgerEntry.objects.filter(patient=enrollment.patient).count() == 1


def test_an_excused_test_needs_a_reason(api, counselor, enrollment, clinic):
    payload = _negative(enrollment.patient, clinic, status="excused", results={})

    response = api(counselor).post(URL, payload, format="json")

    assert response.status_code == 400
    assert "reason" in response.json()


def test_an_excused_test_with_a_reason_keeps_it_as_the_notes(api, counselor, enrollment, clinic):
    payload = _negative(enrollment.patient, clinic, status="excused", results={}, reason="Flu")

    response = api(counselor).post(URL, payload, format="json")

    assert response.status_code == 201
    assert response.json()["specimen"]["notes"] == "Flu"
    assert response.json()["voucher_cents"] == 0


def test_an_unknown_substance_is_a_400_on_results(api, counselor, enrollment, clinic):
    payload = _negative(enrollment.patient, clinic, results={"kryptonite": "negative"})

    response = api(counselor).post(URL, payload, format="json")

    assert response.status_code == 400
    assert "results" in response.json()


def test_another_clinics_patient_reads_as_no_such_patient(api, other_counselor, enrollment, clinic):
    response = api(other_counselor).post(URL, _negative(enrollment.patient, clinic), format="json")

    assert response.status_code == 400
    assert "patient" in response.json()
    assert not Specimen.objects.exists()


def test_a_correction_settles_the_difference(api, counselor, negative):
    response = api(counselor).patch(
        f"{URL}{negative.id}/",
        {"results": {"cocaine": "positive"}, "reason": "Lab sent a corrected report"},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["specimen"]["outcome"] == "P"
    assert response.json()["balance_cents"] == 0
    assert Correction.objects.filter(specimen=negative).count() == 1


def test_a_correction_without_a_reason_is_refused(api, counselor, negative):
    response = api(counselor).patch(
        f"{URL}{negative.id}/", {"results": {"cocaine": "positive"}}, format="json"
    )

    assert response.status_code == 400
    assert "reason" in response.json()
    assert not Correction.objects.exists()


def test_the_list_filters_by_patient_and_outcome(api, counselor, enrollment, clinic, negative):
    client = api(counselor)
    client.post(
        URL,
        _negative(enrollment.patient, clinic, day=7, results={"cocaine": "positive"}),
        format="json",
    )

    everything = client.get(f"{URL}?patient={enrollment.patient_id}").json()
    negatives = client.get(f"{URL}?outcome=N").json()
    oldest_first = client.get(f"{URL}?ordering=collected_at").json()["results"]

    assert everything["count"] == 2
    assert [s["id"] for s in negatives["results"]] == [negative.id]
    assert oldest_first[0]["id"] == negative.id


def test_a_patient_reads_their_own_tests_but_cannot_record(api, patient_user, negative, clinic):
    client = api(patient_user)

    assert [s["id"] for s in client.get(URL).json()["results"]] == [negative.id]
    response = client.post(
        URL, _negative(negative.enrollment.patient, clinic, day=7), format="json"
    )
    assert response.status_code == 403


def test_a_2_mb_excuse_reason_is_a_400_and_records_nothing(api, counselor, enrollment, clinic):
    payload = _negative(enrollment.patient, clinic, status="excused", results={})
    payload["reason"] = "x" * 2_000_000

    response = api(counselor).post(URL, payload, format="json")

    assert response.status_code == 400
    assert response.json() == {"reason": ["Ensure this field has no more than 1000 characters."]}
    assert not Specimen.objects.exists()


def test_a_correction_reason_over_500_characters_is_a_400(api, counselor, negative):
    response = api(counselor).patch(
        f"{URL}{negative.id}/", {"reason": "x" * 501, "status": "refused"}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()) == ["reason"]
    negative.refresh_from_db()
    assert negative.status == "tested"


def test_excusing_a_test_by_patch_takes_the_reason_as_recording_one_does(
    api, counselor, enrollment, clinic
):
    missed = api(counselor).post(
        URL, _negative(enrollment.patient, clinic, status="missed", results={}), format="json"
    )
    specimen_id = missed.json()["specimen"]["id"]

    response = api(counselor).patch(
        f"{URL}{specimen_id}/", {"status": "excused", "reason": "In hospital"}, format="json"
    )

    assert response.status_code == 200, response.json()
    assert response.json()["specimen"]["status"] == "excused"
    assert response.json()["specimen"]["notes"] == "In hospital"
    assert Correction.objects.get(specimen_id=specimen_id).reason == "In hospital"


def test_excusing_by_patch_with_notes_keeps_the_notes_given(api, counselor, negative):
    response = api(counselor).patch(
        f"{URL}{negative.id}/",
        {"status": "excused", "results": {}, "reason": "Wrong patient's cup", "notes": "Flu"},
        format="json",
    )

    assert response.status_code == 200, response.json()
    assert response.json()["specimen"]["notes"] == "Flu"
