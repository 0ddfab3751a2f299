"""One row of every append-only record (and a wallet), made the way the app makes them."""

from datetime import date

from patients.models import Correction
from rewards import catalog
from rewards.models import CatalogItem, StockMovement
from tests.conftest import at
from vouchers import recording
from vouchers.models import LedgerEntry, Wallet


def append_only_rows(enrollment, counselor) -> dict:
    """A negative result (a ledger entry and a wallet), corrected (a correction), and a stock
    receipt (a stock movement). Keyed by model."""
    patient = enrollment.patient
    recorded = recording.specimen_record(
        patient=patient,
        collected_at=at(patient.clinic, date(2026, 1, 5)),
        results={"cocaine": "negative"},
        recorded_by=counselor,
    )
    recording.specimen_correct(
        specimen=recorded.specimen,
        changed_by=counselor,
        reason="The lab sent a corrected report.",
        notes="corrected",
    )
    item = CatalogItem.objects.create(
        clinic=patient.clinic, name="Bus pass", price_cents=500, stock=0
    )
    catalog.stock_receive(item=item, quantity=3, actor=counselor)
    return {
        LedgerEntry: LedgerEntry.objects.filter(patient=patient).first(),
        Correction: Correction.objects.get(),
        StockMovement: StockMovement.objects.get(),
        Wallet: Wallet.objects.get(patient=patient),
    }
