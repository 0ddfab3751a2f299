"""The ledger's two primitives every points-moving write and cap read share.

Lock order, everywhere: the patient's Wallet row first (`wallet_lock`), then the record being
decided (a redemption, a draw), then a catalog item. One patient's writes queue on the wallet, so
settlement, spending and drawing never interleave.
"""

from __future__ import annotations

from collections import defaultdict

from django.db.models import F, Sum

from patients.models import Enrollment, Patient
from vouchers.models import LedgerEntry, Wallet

EARNING_COMPONENTS = (
    LedgerEntry.Component.VOUCHER,
    LedgerEntry.Component.BONUS,
    LedgerEntry.Component.ATTENDANCE,
)


def wallet_lock(*, patient: Patient) -> Wallet:
    """The patient's wallet, created on first use, locked until the transaction ends."""
    Wallet.objects.get_or_create(patient=patient)
    return Wallet.objects.select_for_update().get(patient=patient)


def earned_cents(**filters) -> int:
    """Cents earned (vouchers, bonuses, attendance) by the ledger entries matching `filters`."""
    total = LedgerEntry.objects.filter(component__in=EARNING_COMPONENTS, **filters).aggregate(
        total=Sum(F("amount_cents") - F("overpayment_cents"))
    )["total"]
    return total or 0


def earned_elsewhere_by_year(enrollment: Enrollment) -> dict[int, int]:
    """What the patient earned in their other enrollments, per calendar year: the engine's
    `earned_elsewhere_by_year`, so the year cap holds across enrollments."""
    return earned_elsewhere_by_year_many([enrollment])[enrollment.pk]


def earned_elsewhere_by_year_many(enrollments: list[Enrollment]) -> dict[int, dict[int, int]]:
    """`earned_elsewhere_by_year` of each enrollment, by enrollment id, in one query."""
    if not enrollments:
        return {}
    earned = (
        LedgerEntry.objects.filter(
            patient_id__in={e.patient_id for e in enrollments},
            component__in=EARNING_COMPONENTS,
            event_year__isnull=False,
        )
        .values("patient_id", "enrollment_id", "event_year")
        .annotate(total=Sum(F("amount_cents") - F("overpayment_cents")))
    )
    rows = defaultdict(list)
    for row in earned:
        rows[row["patient_id"]].append(row)
    elsewhere = {}
    for enrollment in enrollments:
        by_year: dict[int, int] = defaultdict(int)
        for row in rows[enrollment.patient_id]:
            if row["enrollment_id"] != enrollment.pk:
                by_year[row["event_year"]] += row["total"] or 0
        elsewhere[enrollment.pk] = dict(by_year)
    return elsewhere


def cap_room(protocol, *, year_used: int, enrollment_used: int) -> int | None:
    """Cents still under the protocol's caps (None: no cap applies), given what already counts
    toward the year cap (this calendar year, across enrollments) and the enrollment cap."""
    room = []
    if protocol.year_cap_cents is not None:
        room.append(protocol.year_cap_cents - year_used)
    if protocol.enrollment_cap_cents is not None:
        room.append(protocol.enrollment_cap_cents - enrollment_used)
    return max(0, min(room)) if room else None
