"""Reads of spending: what the catalog offers, what runs low, the month's stock reconciliation, and
the prizes a patient won and the room the caps leave for more.

vouchers shows some of these on its own pages (the Today page's low stock, the caps in the reward
summary, the portal's draw days, the points a request holds) without importing rewards: rewards
registers them in vouchers.extensions (see RewardsConfig.ready).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time

from django.db.models import F, Q, Sum

from cmtracker.models import Clinic
from patients.models import Enrollment, Patient
from rewards.models import CatalogItem, PrizeDraw, Redemption, StockMovement
from vouchers.ledger import EARNING_COMPONENTS, cap_room
from vouchers.models import LedgerEntry, protocols_attach

# --- the catalog ---------------------------------------------------------------------------------


def offered_items(*, clinic: Clinic) -> list[CatalogItem]:
    """What a patient can buy: the clinic's active items that are not prizes."""
    return list(
        CatalogItem.objects.filter(clinic=clinic, is_active=True, prize_tier="").order_by(
            "category", "name", "pk"
        )
    )


def low_stock_items(*, clinic: Clinic) -> list[CatalogItem]:
    """Active items with a tracked stock at or below their warning level, emptiest first."""
    return list(
        CatalogItem.objects.filter(
            clinic=clinic, is_active=True, stock__isnull=False, stock__lte=F("low_stock_at")
        ).order_by("stock", "name")
    )


@dataclass(frozen=True)
class StockLine:
    """One item's month in the cabinet: closing == opening + received - issued + adjusted."""

    item: CatalogItem
    opening: int
    received: int
    issued: int  # to patients, net of returns: redemptions and prizes
    adjusted: int
    closing: int
    issued_value_cents: int
    issued_by: list[str]
    restocked_by: list[str]

    @property
    def balances(self) -> bool:
        return self.closing == self.opening + self.received - self.issued + self.adjusted


HANDED = Redemption.Status.HANDED_OVER


def _name(user) -> str:
    return user.get_full_name() or user.username


def month_bounds(clinic: Clinic, year: int, month: int) -> tuple[datetime, datetime]:
    """The month's first moment and the next month's, on the clinic's calendar."""
    start = datetime(year, month, 1, tzinfo=clinic.tz)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=clinic.tz)
    return start, end


def stock_reconciliation(*, clinic: Clinic, year: int, month: int) -> list[StockLine]:
    """The printable monthly reconciliation of the cabinet: per tracked item, opening stock,
    received, issued to patients (issued - returned), adjusted, closing stock, the value issued
    (price × quantity) and who issued and who restocked.

    Who issued is the person who handed a redemption over (or, for a prize, recorded the
    claim); while a redemption is still waiting, the person who requested it. A declined or
    cancelled redemption names nobody: its stock came back.
    """
    start, end = month_bounds(clinic, year, month)
    items = list(
        CatalogItem.objects.filter(clinic=clinic)
        .filter(Q(stock__isnull=False) | Q(movements__isnull=False))
        .distinct()
        .order_by("category", "name", "pk")
    )
    kinds = StockMovement.Kind
    sums = (
        StockMovement.objects.filter(item__in=items)
        .values("item_id")
        .annotate(
            opening=Sum("quantity", filter=Q(at__lt=start), default=0),
            received=Sum(
                "quantity", filter=Q(at__gte=start, at__lt=end, kind=kinds.RECEIVED), default=0
            ),
            out=Sum(
                "quantity",
                filter=Q(at__gte=start, at__lt=end, kind__in=[kinds.ISSUED, kinds.RETURNED]),
                default=0,
            ),
            adjusted=Sum(
                "quantity", filter=Q(at__gte=start, at__lt=end, kind=kinds.ADJUSTED), default=0
            ),
        )
    )
    by_item = {row["item_id"]: row for row in sums}
    people: dict[tuple[int, str], set[str]] = {}
    month_moves = StockMovement.objects.filter(
        item__in=items, at__gte=start, at__lt=end
    ).select_related("by", "redemption__handed_over_by", "redemption__requested_by")
    for move in month_moves:
        if move.kind == kinds.RECEIVED:
            who, role = move.by, "restocked"
        elif move.kind == kinds.ISSUED:
            redemption = move.redemption
            if redemption is not None and redemption.status not in (*Redemption.OPEN, HANDED):
                continue  # declined or cancelled: given back, nobody issued it
            who = (redemption and redemption.handed_over_by) or move.by
            role = "issued"
        else:
            continue
        if who is not None:
            people.setdefault((move.item_id, role), set()).add(_name(who))
    lines = []
    for item in items:
        row = by_item.get(item.pk, {"opening": 0, "received": 0, "out": 0, "adjusted": 0})
        issued = -row["out"]
        lines.append(
            StockLine(
                item=item,
                opening=row["opening"],
                received=row["received"],
                issued=issued,
                adjusted=row["adjusted"],
                closing=row["opening"] + row["received"] + row["out"] + row["adjusted"],
                issued_value_cents=issued * item.price_cents,
                issued_by=sorted(people.get((item.pk, "issued"), ())),
                restocked_by=sorted(people.get((item.pk, "restocked"), ())),
            )
        )
    return lines


# --- redemptions ---------------------------------------------------------------------------------


def points_held_cents(*, patient: Patient) -> int:
    """The points the patient's open requests hold (debited at request, not yet handed over)."""
    held = Redemption.objects.filter(patient=patient, status__in=Redemption.OPEN).aggregate(
        total=Sum("total_cents")
    )
    return held["total"] or 0


# --- prizes and the caps -------------------------------------------------------------------------


def _year_bounds(clinic: Clinic, year: int) -> tuple[datetime, datetime]:
    tz = clinic.tz
    return (
        datetime.combine(date(year, 1, 1), time(), tzinfo=tz),
        datetime.combine(date(year + 1, 1, 1), time(), tzinfo=tz),
    )


def prizes_this_year_cents(*, patient: Patient, year: int) -> int:
    """What the patient's prizes drawn in `year` (the clinic's calendar) are worth."""
    start, end = _year_bounds(patient.clinic, year)
    return (
        PrizeDraw.objects.filter(patient=patient, drawn_at__gte=start, drawn_at__lt=end).aggregate(
            total=Sum("value_cents")
        )["total"]
        or 0
    )


def prize_draws_newest_first(*, patient: Patient):
    """(drawn at, value in cents) of each of the patient's draws, newest first (lazy)."""
    return (
        PrizeDraw.objects.filter(patient=patient)
        .order_by("-drawn_at", "-id")
        .values_list("drawn_at", "value_cents")
    )


def prize_cap_room(*, patient: Patient, enrollment: Enrollment, today: date) -> int | None:
    """How many cents of prizes still fit under the enrollment's protocol caps (None: no cap
    applies). The enrollment cap counts this enrollment's prizes and earnings; the year cap counts
    the patient's prizes drawn in today's calendar year (on their clinic's calendar) plus the
    cents earned that year, across enrollments."""
    return _cap_rooms([(patient, enrollment)], today)[enrollment.pk]


def prize_cap_room_many(*, enrollments: list[Enrollment], today: date) -> dict[int, int | None]:
    """prize_cap_room of each enrollment, by enrollment id, in at most four queries however many
    (select_related "patient__clinic" on the enrollments given)."""
    return _cap_rooms([(e.patient, e) for e in enrollments], today)


def _cap_rooms(pairs: list[tuple[Patient, Enrollment]], today: date) -> dict[int, int | None]:
    protocols_attach([e for _p, e in pairs])
    year = today.year
    year_capped = [(p, e) for p, e in pairs if e.protocol.year_cap_cents is not None]
    enrollment_capped = [e for _p, e in pairs if e.protocol.enrollment_cap_cents is not None]
    won_in_year: dict[int, int] = defaultdict(int)
    earned_in_year: dict[int, int] = defaultdict(int)
    won_in_enrollment: dict[int, int] = defaultdict(int)
    earned_in_enrollment: dict[int, int] = defaultdict(int)
    if year_capped:
        patients = {p.pk: p for p, _e in year_capped}
        # The year is each clinic's calendar year: one window per clinic, one query.
        in_year = Q(pk__in=[])
        for clinic in {p.clinic_id: p.clinic for p in patients.values()}.values():
            start, end = _year_bounds(clinic, year)
            in_year |= Q(
                patient_id__in=[pk for pk, p in patients.items() if p.clinic_id == clinic.pk],
                drawn_at__gte=start,
                drawn_at__lt=end,
            )
        for row in (
            PrizeDraw.objects.filter(in_year)
            .values("patient_id")
            .annotate(total=Sum("value_cents"))
        ):
            won_in_year[row["patient_id"]] = row["total"] or 0
        for row in (
            LedgerEntry.objects.filter(
                patient_id__in=list(patients), component__in=EARNING_COMPONENTS, event_year=year
            )
            .values("patient_id")
            .annotate(total=Sum(F("amount_cents") - F("overpayment_cents")))
        ):
            earned_in_year[row["patient_id"]] = row["total"] or 0
    if enrollment_capped:
        ids = [e.pk for e in enrollment_capped]
        for row in (
            PrizeDraw.objects.filter(enrollment_id__in=ids)
            .values("enrollment_id")
            .annotate(total=Sum("value_cents"))
        ):
            won_in_enrollment[row["enrollment_id"]] = row["total"] or 0
        for row in (
            LedgerEntry.objects.filter(enrollment_id__in=ids, component__in=EARNING_COMPONENTS)
            .values("enrollment_id")
            .annotate(total=Sum(F("amount_cents") - F("overpayment_cents")))
        ):
            earned_in_enrollment[row["enrollment_id"]] = row["total"] or 0
    return {
        e.pk: cap_room(
            e.protocol,
            year_used=won_in_year[p.pk] + earned_in_year[p.pk],
            enrollment_used=won_in_enrollment[e.pk] + earned_in_enrollment[e.pk],
        )
        for p, e in pairs
    }
