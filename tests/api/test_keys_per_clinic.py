"""Through the API, a counselor at Hillside (clinic B) cannot reach Riverside's (clinic A) records
with an idempotency key, nor learn whether a key was used there: a key used at another clinic
answers exactly like a new one (201, a new record), and a key shaped like a missed-test mark is
just a key."""

from datetime import date, datetime, time

import pytest

from patients.models import Correction, Specimen
from rewards.models import CatalogItem, Redemption
from tests.conftest import at
from tests.factories import EnrollmentFactory, PatientFactory
from vouchers import recording
from vouchers.missed import missed_tests_mark

pytestmark = pytest.mark.django_db

FRI = date(2026, 1, 16)


@pytest.fixture
def theirs(other_clinic, other_counselor, higgins):
    patient = PatientFactory(clinic=other_clinic, primary_counselor=other_counselor)
    EnrollmentFactory(patient=patient, protocol=higgins, start_date=date(2026, 1, 5))
    return patient


def _specimen(patient, day, **extra):
    return {
        "patient": patient.id,
        "collected_at": at(patient.clinic, day).isoformat(),
        "kind": "urine",
        "results": {"cocaine": "negative"},
        **extra,
    }


def test_a_key_used_at_another_clinic_answers_201_like_a_new_key(
    api, counselor, other_counselor, enrollment, theirs
):
    ours = api(counselor).post(
        "/api/v1/specimens/",
        _specimen(enrollment.patient, date(2026, 1, 5), idempotency_key="lab-1"),
        format="json",
    )
    used = api(other_counselor).post(
        "/api/v1/specimens/",
        _specimen(theirs, date(2026, 1, 5), idempotency_key="lab-1"),
        format="json",
    )
    fresh = api(other_counselor).post(
        "/api/v1/specimens/",
        _specimen(theirs, date(2026, 1, 7), idempotency_key="lab-2"),
        format="json",
    )

    assert (ours.status_code, used.status_code, fresh.status_code) == (201, 201, 201)
    assert used.json()["specimen"]["id"] != ours.json()["specimen"]["id"]
    assert Specimen.objects.filter(enrollment__patient=theirs).count() == 2


def test_a_key_shaped_like_a_missed_mark_leaves_the_other_clinics_mark_alone(
    api, clinic, counselor, other_counselor, enrollment, theirs
):
    for day in (date(2026, 1, 12), date(2026, 1, 14)):
        recording.specimen_record(
            patient=enrollment.patient,
            collected_at=at(clinic, day),
            results={"cocaine": "negative"},
        )
    planted = api(other_counselor).post(
        "/api/v1/specimens/",
        _specimen(
            theirs,
            FRI,
            status="missed",
            results={},
            idempotency_key=f"missed:{enrollment.pk}:{FRI}",
        ),
        format="json",
    )
    assert planted.status_code == 201

    closing = datetime.combine(FRI, time(17), tzinfo=clinic.tz)
    missed_tests_mark(now=closing)
    (mark,) = Specimen.objects.filter(enrollment=enrollment, collected_at=closing)
    assert mark.status == "missed"

    late = api(counselor).post(
        "/api/v1/specimens/",
        _specimen(enrollment.patient, FRI),
        format="json",
    )
    assert late.status_code == 201
    theirs_planted = Specimen.objects.get(pk=planted.json()["specimen"]["id"])
    assert theirs_planted.status == "missed"
    assert not Correction.objects.filter(specimen=theirs_planted).exists()
    mark.refresh_from_db()
    assert mark.status == "excused"  # Riverside's own mark gives way to Riverside's result


def test_an_attendance_key_used_at_another_clinic_answers_201(
    api, clinic, counselor, other_counselor, enrollment, theirs
):
    def session(patient):
        return {
            "patient": patient.id,
            "occurred_at": at(patient.clinic, date(2026, 1, 5)).isoformat(),
            "session_kind": "cbt",
            "idempotency_key": "group-1",
        }

    ours = api(counselor).post("/api/v1/attendance/", session(enrollment.patient), format="json")
    used = api(other_counselor).post("/api/v1/attendance/", session(theirs), format="json")

    assert (ours.status_code, used.status_code) == (201, 201)


def test_a_redemption_key_used_at_another_clinic_answers_201(
    api, clinic, other_clinic, counselor, other_counselor, enrollment, theirs
):
    for patient in (enrollment.patient, theirs):
        recording.specimen_record(
            patient=patient,
            collected_at=at(patient.clinic, date(2026, 1, 5)),
            results={"cocaine": "negative"},
        )
    ours = CatalogItem.objects.create(clinic=clinic, name="Bus pass", price_cents=100)
    their_item = CatalogItem.objects.create(clinic=other_clinic, name="Bus pass", price_cents=100)

    def ask(patient, item):
        return {
            "patient": patient.id,
            "items": [{"item": item.id, "quantity": 1}],
            "idempotency_key": "kiosk-1",
        }

    first = api(counselor).post(
        "/api/v1/redemptions/", ask(enrollment.patient, ours), format="json"
    )
    used = api(other_counselor).post("/api/v1/redemptions/", ask(theirs, their_item), format="json")

    assert (first.status_code, used.status_code) == (201, 201)
    assert used.json()["patient"] == theirs.id
    assert Redemption.objects.filter(idempotency_key="kiosk-1").count() == 2
