"""Reads of rewards state. Balance reads are one indexed row (the Wallet), never a ledger scan."""

from dataclasses import dataclass

from django.db.models import Count, F, Q, Sum

from patients.models import Patient
from vouchers.models import LedgerEntry, Wallet


def wallet_get(*, patient: Patient) -> Wallet:
    """The patient's wallet; a patient with no ledger yet has an unsaved, empty one."""
    return Wallet.objects.filter(patient=patient).first() or Wallet(patient=patient)


@dataclass(frozen=True)
class Drift:
    patient_id: int
    field: str
    wallet: int
    ledger: int


def ledger_verify() -> list[Drift]:
    """Every wallet total that differs from the sum of its ledger entries (none, when all is well).

    Patients with ledger entries but no wallet count too: their wallet reads as zero.
    """
    sums = LedgerEntry.objects.values("patient_id").annotate(
        balance_cents=Sum("amount_cents"),
        overpayment_cents=Sum("overpayment_cents"),
        draws_available=Sum("draws"),
        draws_under_review=Sum("draws_under_review"),
    )
    by_patient = {row.pop("patient_id"): row for row in sums}
    fields = ["balance_cents", "overpayment_cents", "draws_available", "draws_under_review"]
    drift = []
    for wallet in Wallet.objects.values("patient_id", *fields):
        ledger = by_patient.pop(wallet["patient_id"], dict.fromkeys(fields, 0))
        drift += [
            Drift(wallet["patient_id"], f, wallet[f], ledger[f])
            for f in fields
            if wallet[f] != ledger[f]
        ]
    for patient_id, ledger in by_patient.items():
        drift += [Drift(patient_id, f, 0, ledger[f]) for f in fields if ledger[f]]
    return drift


def ledger_summary() -> dict:
    return LedgerEntry.objects.aggregate(
        entries=Count("id"),
        earned_cents=Sum(F("amount_cents") - F("overpayment_cents"), filter=~Q(component="")),
    )
