"""List endpoints cost the same number of queries for 10 rows as for 200."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from patients.models import Attendance, Specimen, SpecimenResult
from rewards.models import CatalogItem, Redemption, RedemptionLine
from tests.factories import PatientFactory
from vouchers.models import LedgerEntry

pytestmark = pytest.mark.django_db


def _patients(clinic, n):
    PatientFactory.create_batch(n, clinic=clinic)


def _specimens(enrollment, n):
    start = timezone.now() - timedelta(days=400)
    specimens = Specimen.objects.bulk_create(
        Specimen(enrollment=enrollment, collected_at=start + timedelta(hours=i), outcome="N")
        for i in range(n)
    )
    SpecimenResult.objects.bulk_create(
        SpecimenResult(specimen=s, substance=sub, result="negative")
        for s in specimens
        for sub in ("cocaine", "opiates")
    )


def _attendance(enrollment, n):
    start = timezone.now() - timedelta(days=400)
    Attendance.objects.bulk_create(
        Attendance(
            enrollment=enrollment,
            occurred_at=start + timedelta(hours=i),
            session_kind="cbt",
            status="attended",
        )
        for i in range(n)
    )


def _ledger(enrollment, n):
    LedgerEntry.objects.bulk_create(
        LedgerEntry(patient=enrollment.patient, kind="adjustment", amount_cents=1, reason="test")
        for _ in range(n)
    )


def _catalog(clinic, n):
    CatalogItem.objects.bulk_create(
        CatalogItem(clinic=clinic, name=f"Item {i}", price_cents=100 + i, stock=i) for i in range(n)
    )


def _redemptions(enrollment, n):
    item = CatalogItem.objects.create(clinic=enrollment.patient.clinic, name="Pass", price_cents=1)
    made = Redemption.objects.bulk_create(
        Redemption(patient=enrollment.patient, total_cents=2) for _ in range(n)
    )
    RedemptionLine.objects.bulk_create(
        RedemptionLine(redemption=r, item=item, quantity=q, price_cents=1)
        for r in made
        for q in (1, 1)
    )


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize(
    ("url", "make"),
    [
        ("/api/v1/patients/", lambda ctx, n: _patients(ctx["clinic"], n)),
        ("/api/v1/specimens/", lambda ctx, n: _specimens(ctx["enrollment"], n)),
        ("/api/v1/patients/{patient}/ledger/", lambda ctx, n: _ledger(ctx["enrollment"], n)),
        ("/api/v1/attendance/", lambda ctx, n: _attendance(ctx["enrollment"], n)),
        ("/api/v1/protocols/", lambda ctx, n: None),
        ("/api/v1/catalog/", lambda ctx, n: _catalog(ctx["clinic"], n)),
        ("/api/v1/redemptions/", lambda ctx, n: _redemptions(ctx["enrollment"], n)),
    ],
)
def test_a_list_makes_as_many_queries_for_200_rows_as_for_10(
    api, counselor, clinic, enrollment, url, make
):
    ctx = {"clinic": clinic, "enrollment": enrollment}
    client = api(counselor)
    url = url.format(patient=enrollment.patient_id)

    make(ctx, 10)
    few = _queries(client, url)
    make(ctx, 190)
    many = _queries(client, url)

    assert few == many
