"""Every endpoint × every persona: who gets in, who is told no, and who is told nothing exists.

The target is the fixed patient of clinic A (Higgins enrollment, one negative recorded).
Reads are scoped (a patient sees only themself; another clinic's ids answer 404); writes are
for staff of the patient's clinic (a patient gets 403; another clinic's counselor 404 on an id in
the path, 400 "does not exist" on an id in the body). Two writes are the patient's too: asking
for catalog items for themself and withdrawing their own waiting request (another patient is
told nothing exists). The patient has a waiting and an approved request (50 points each).
A superuser who works at no clinic is no clinic's staff here: empty lists, 404 on ids, 403 on
writes; they use the (audited) Django admin. A supervisor is the same, except that they read
their clinic's reports.
"""

from datetime import date

import pytest

from rewards import redemptions
from rewards.models import CatalogItem
from tests.conftest import at
from vouchers import recording
from vouchers.models import LabImport

PERSONAS = [
    "anonymous",
    "patient",
    "other patient",
    "counselor",
    "other clinic's counselor",
    "clinic admin",
    "superuser",
    "supervisor",
]


def _specimen_body(ctx):
    return {
        "patient": ctx["patient"].id,
        "collected_at": at(ctx["clinic"], date(2026, 1, 7)).isoformat(),
        "results": {"cocaine": "negative"},
    }


def _attendance_body(ctx):
    return {
        "patient": ctx["patient"].id,
        "occurred_at": at(ctx["clinic"], date(2026, 1, 6)).isoformat(),
        "session_kind": "group",
    }


def _patient_body(ctx):
    return {
        "clinic": ctx["clinic"].id,
        "record_number": "NEW-1",
        "first_name": "New",
        "last_name": "Patient",
    }


def _redemption_body(ctx):
    return {"patient": ctx["patient"].id, "items": [{"item": ctx["item"].id, "quantity": 1}]}


def _import_body(ctx):
    row = f"{ctx['patient'].record_number},2026-01-07 09:00,negative"
    csv = f"record_number,collected_at,cocaine\n{row}\n"
    return {"csv": csv, "clinic": ctx["clinic"].id}


# (method, path, body) → expected status for each persona, in PERSONAS order.
MATRIX = [
    ("get", "/api/schema/", None, [200, 200, 200, 200, 200, 200, 200, 200]),
    ("get", "/api/docs/", None, [200, 200, 200, 200, 200, 200, 200, 200]),
    ("delete", "/api/v1/auth/token/", None, [401, 204, 204, 204, 204, 204, 204, 204]),
    ("get", "/api/v1/patients/", None, [401, 200, 200, 200, 200, 200, 200, 200]),
    ("post", "/api/v1/patients/", _patient_body, [401, 403, 403, 201, 400, 201, 403, 403]),
    ("get", "/api/v1/patients/{patient}/", None, [401, 200, 404, 200, 404, 200, 404, 404]),
    (
        "patch",
        "/api/v1/patients/{patient}/",
        {"phone": "+13125550100"},
        [401, 403, 403, 200, 404, 200, 403, 403],
    ),
    ("get", "/api/v1/patients/{patient}/balance/", None, [401, 200, 404, 200, 404, 200, 404, 404]),
    ("get", "/api/v1/patients/{patient}/ledger/", None, [401, 200, 404, 200, 404, 200, 404, 404]),
    ("get", "/api/v1/specimens/", None, [401, 200, 200, 200, 200, 200, 200, 200]),
    ("post", "/api/v1/specimens/", _specimen_body, [401, 403, 403, 201, 400, 201, 403, 403]),
    ("get", "/api/v1/specimens/{specimen}/", None, [401, 200, 404, 200, 404, 200, 404, 404]),
    (
        "patch",
        "/api/v1/specimens/{specimen}/",
        {"results": {"cocaine": "positive"}, "reason": "Lab correction"},
        [401, 403, 403, 200, 404, 200, 403, 403],
    ),
    ("get", "/api/v1/attendance/", None, [401, 200, 200, 200, 200, 200, 200, 200]),
    ("post", "/api/v1/attendance/", _attendance_body, [401, 403, 403, 201, 400, 201, 403, 403]),
    ("get", "/api/v1/attendance/{attendance}/", None, [401, 200, 404, 200, 404, 200, 404, 404]),
    ("get", "/api/v1/protocols/{protocol}/", None, [401, 200, 200, 200, 200, 200, 200, 200]),
    ("get", "/api/v1/protocols/", None, [401, 200, 200, 200, 200, 200, 200, 200]),
    ("get", "/api/v1/catalog/", None, [401, 200, 200, 200, 200, 200, 200, 200]),
    ("get", "/api/v1/redemptions/", None, [401, 200, 200, 200, 200, 200, 200, 200]),
    ("post", "/api/v1/redemptions/", _redemption_body, [401, 201, 400, 201, 400, 201, 400, 400]),
    ("get", "/api/v1/redemptions/{requested}/", None, [401, 200, 404, 200, 404, 200, 404, 404]),
    (
        "post",
        "/api/v1/redemptions/{requested}/approve/",
        None,
        [401, 403, 403, 200, 404, 200, 403, 403],
    ),
    (
        "post",
        "/api/v1/redemptions/{requested}/decline/",
        {"reason": "Not in the plan"},
        [401, 403, 403, 200, 404, 200, 403, 403],
    ),
    (
        "post",
        "/api/v1/redemptions/{requested}/cancel/",
        None,
        [401, 200, 404, 200, 404, 200, 404, 404],
    ),
    (
        "post",
        "/api/v1/redemptions/{approved}/handover/",
        None,
        [401, 403, 403, 200, 404, 200, 403, 403],
    ),
    (
        "get",
        "/api/v1/reports/clinics/{clinic}/measures/?first=2026-01-01&last=2026-01-31",
        None,
        [401, 404, 404, 404, 404, 200, 404, 200],
    ),
    (
        "get",
        "/api/v1/reports/clinics/{clinic}/payer/?quarter=2026-Q1",
        None,
        [401, 404, 404, 404, 404, 200, 404, 200],
    ),
    (
        "get",
        "/api/v1/reports/organization/measures/?first=2026-01-01&last=2026-01-31",
        None,
        [401, 404, 404, 404, 404, 200, 404, 200],
    ),
    (
        "get",
        "/api/v1/reports/clinics/{clinic}/costs/?first=2026-01-01&last=2026-01-31",
        None,
        [401, 404, 404, 404, 404, 200, 404, 200],
    ),
    (
        "get",
        "/api/v1/reports/clinics/{clinic}/exceptions/?first=2026-01-01&last=2026-01-31",
        None,
        [401, 404, 404, 404, 404, 200, 404, 200],
    ),
    (
        "get",
        "/api/v1/reports/clinics/{clinic}/fidelity/?first=2026-01-01&last=2026-01-31",
        None,
        [401, 404, 404, 404, 404, 200, 404, 200],
    ),
    (
        "post",
        "/api/v1/imports/lab-results/",
        _import_body,
        [401, 403, 403, 200, 400, 200, 403, 403],
    ),
    (
        "get",
        "/api/v1/imports/lab-results/{lab_import}/",
        None,
        [401, 403, 403, 200, 404, 200, 403, 403],
    ),
]

CASES = [
    pytest.param(method, path, body, persona, expected, id=f"{method} {path} as {persona}")
    for method, path, body, statuses in MATRIX
    for persona, expected in zip(PERSONAS, statuses, strict=True)
]


@pytest.fixture
def item(clinic):
    return CatalogItem.objects.create(clinic=clinic, name="Bus pass", price_cents=50, stock=5)


@pytest.fixture
def requested(patient, item, counselor, negative):
    """A request of the patient's, waiting for a decision."""
    return redemptions.redemption_request(
        patient=patient, items=[(item, 1)], requested_by=counselor
    )


@pytest.fixture
def approved(patient, item, counselor, negative):
    """A request of the patient's, approved and waiting to be handed over."""
    redemption = redemptions.redemption_request(
        patient=patient, items=[(item, 1)], requested_by=counselor
    )
    return redemptions.redemption_approve(redemption=redemption, actor=counselor)


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path", "body", "persona", "expected"), CASES)
def test_each_persona_gets_the_answer_it_should(
    api,
    personas,
    patient,
    clinic,
    negative,
    item,
    requested,
    approved,
    method,
    path,
    body,
    persona,
    expected,
):
    ctx = {"patient": patient, "clinic": clinic, "item": item}
    session = recording.attendance_record(
        patient=patient, occurred_at=at(clinic, date(2026, 1, 6)), session_kind="group"
    ).attendance
    url = path.format(
        patient=patient.id,
        clinic=clinic.id,
        specimen=negative.id,
        requested=requested.id,
        approved=approved.id,
        attendance=session.id,
        protocol=patient.enrollments.get().protocol_id,
        lab_import=LabImport.objects.create(
            clinic=clinic, status=LabImport.Status.DONE, expires_at=at(clinic, date(2026, 1, 7))
        ).id,
    )
    data = body(ctx) if callable(body) else body
    client = api(personas[persona])

    response = getattr(client, method)(url, data, format="json")

    assert response.status_code == expected, response.content[:300]


@pytest.mark.django_db
def test_a_superuser_who_works_at_no_clinic_lists_no_patients(api, personas, patient, negative):
    client = api(personas["superuser"])

    for path in ("/api/v1/patients/", "/api/v1/specimens/", "/api/v1/redemptions/"):
        assert client.get(path).json()["count"] == 0, path
