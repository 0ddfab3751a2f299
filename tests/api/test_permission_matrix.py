"""Every endpoint × every persona: who gets in, who is told no, and who is told nothing exists.

The target is the fixed patient of clinic A (Higgins enrollment, one negative recorded).
Reads are scoped (a patient sees only themself; another clinic's ids answer 404); writes are
for staff of the patient's clinic (a patient gets 403; another clinic's counselor 404 on an id in
the path, 400 "does not exist" on an id in the body).
"""

from datetime import date

import pytest

from tests.conftest import at

PERSONAS = [
    "anonymous",
    "patient",
    "other patient",
    "counselor",
    "other clinic's counselor",
    "clinic admin",
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


# (method, path, body) → expected status for each persona, in PERSONAS order.
MATRIX = [
    ("get", "/api/schema/", None, [200, 200, 200, 200, 200, 200]),
    ("get", "/api/docs/", None, [200, 200, 200, 200, 200, 200]),
    ("delete", "/api/v1/auth/token/", None, [401, 204, 204, 204, 204, 204]),
    ("get", "/api/v1/patients/", None, [401, 200, 200, 200, 200, 200]),
    ("post", "/api/v1/patients/", _patient_body, [401, 403, 403, 201, 400, 201]),
    ("get", "/api/v1/patients/{patient}/", None, [401, 200, 404, 200, 404, 200]),
    ("patch", "/api/v1/patients/{patient}/", {"phone": "1"}, [401, 403, 403, 200, 404, 200]),
    ("get", "/api/v1/patients/{patient}/balance/", None, [401, 200, 404, 200, 404, 200]),
    ("get", "/api/v1/patients/{patient}/ledger/", None, [401, 200, 404, 200, 404, 200]),
    ("get", "/api/v1/specimens/", None, [401, 200, 200, 200, 200, 200]),
    ("post", "/api/v1/specimens/", _specimen_body, [401, 403, 403, 201, 400, 201]),
    ("get", "/api/v1/specimens/{specimen}/", None, [401, 200, 404, 200, 404, 200]),
    (
        "patch",
        "/api/v1/specimens/{specimen}/",
        {"results": {"cocaine": "positive"}, "reason": "Lab correction"},
        [401, 403, 403, 200, 404, 200],
    ),
    ("get", "/api/v1/attendance/", None, [401, 200, 200, 200, 200, 200]),
    ("post", "/api/v1/attendance/", _attendance_body, [401, 403, 403, 201, 400, 201]),
    ("get", "/api/v1/protocols/", None, [401, 200, 200, 200, 200, 200]),
]

CASES = [
    pytest.param(method, path, body, persona, expected, id=f"{method} {path} as {persona}")
    for method, path, body, statuses in MATRIX
    for persona, expected in zip(PERSONAS, statuses, strict=True)
]


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path", "body", "persona", "expected"), CASES)
def test_each_persona_gets_the_answer_it_should(
    api, personas, patient, clinic, negative, method, path, body, persona, expected
):
    ctx = {"patient": patient, "clinic": clinic}
    url = path.format(patient=patient.id, specimen=negative.id)
    data = body(ctx) if callable(body) else body
    client = api(personas[persona])

    response = getattr(client, method)(url, data, format="json")

    assert response.status_code == expected, response.content[:300]
