"""What other apps tell vouchers.

vouchers is about earning. Spending (the catalog, redemptions, the prize cabinet) is the rewards
app's, and rewards points at vouchers, never the other way round (DESIGN.md, "Direction of
dependencies"). A few vouchers pages still show one fact only rewards holds. Each such fact is
declared here, in one place, with the default vouchers uses on its own (rewards not installed);
the app that holds it registers its provider from its AppConfig.ready(), the way apps register
their models with cmtracker.audit.register, and vouchers asks through the functions below.

The facts, their arguments (keyword-only), and their defaults:

- prizes_won_cents(patient, year) -> int: what the prizes the patient won in that calendar year
  (the clinic's) are worth; they count toward the year cap like cents earned. Default 0.
- cap_room(patient, enrollment, today) -> int | None: how many cents still fit under the
  enrollment's protocol caps, prizes won included (None: no cap applies). Default: the caps less
  the cents earned (vouchers.ledger), as with no prizes.
- prize_draws(patient) -> iterable of (drawn_at, value_cents): the patient's draws, newest
  first, for the portal's history. Default: none.
- points_held_cents(patient) -> int: the points the patient's open requests to spend hold.
  Default 0.
- low_stock(clinic) -> list of objects with `name` and `stock`: what runs low in the clinic's
  reward cabinet, for the Today page. Default: nothing.
- rewards_given(clinic, first, last, enrollments) -> RewardsGiven: what the clinic's prize cabinet
  and redemptions gave out over the clinic days first..last (prize values won, prizes claimed,
  redemptions handed over and how long each took from request), for the reports
  (docs/reports.md, "Rewards and cost"). `enrollments` (a queryset, or None for the whole clinic)
  narrows it: draws of those enrollments, redemptions of their patients. Default: nothing given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from django.db.models import QuerySet

from cmtracker.models import Clinic
from patients.models import Enrollment, Patient
from vouchers.ledger import cap_room as _cap_room
from vouchers.ledger import earned_cents
from vouchers.models import protocol_attach


def _earnings_cap_room(*, patient: Patient, enrollment: Enrollment, today: date) -> int | None:
    protocol = protocol_attach(enrollment).protocol
    return _cap_room(
        protocol,
        year_used=earned_cents(patient=patient, event_year=today.year)
        if protocol.year_cap_cents is not None
        else 0,
        enrollment_used=earned_cents(enrollment=enrollment)
        if protocol.enrollment_cap_cents is not None
        else 0,
    )


@dataclass(frozen=True)
class Handover:
    """One redemption handed over: when it was requested and handed over, and on which clinic
    days."""

    requested_at: datetime
    requested_day: date
    handed_over_at: datetime
    handed_over_day: date
    cents: int


@dataclass(frozen=True)
class RewardsGiven:
    """What the rewards app gave out over a range of clinic days, all in cents.

    - prizes_won_cents: the value of the prizes drawn in the range (a draw's tier value, capped
      draws at the tier recorded), by enrollment and by clinic day in the mappings.
    - prizes_claimed_cents / prizes_claimed: prizes exchanged for an item in the range.
    - handovers: the redemptions handed over in the range, oldest first.
    """

    prizes_won_by_enrollment: Mapping[int, int] = field(default_factory=dict)
    prizes_won_by_day: Mapping[date, int] = field(default_factory=dict)
    prizes_claimed_cents: int = 0
    prizes_claimed: int = 0
    handovers: tuple[Handover, ...] = ()

    @property
    def prizes_won_cents(self) -> int:
        return sum(self.prizes_won_by_enrollment.values())

    @property
    def redemptions_handed_over_cents(self) -> int:
        return sum(h.cents for h in self.handovers)

    @property
    def handed_over_cents(self) -> int:
        """Redemptions handed over plus prizes claimed: what reached patients' hands."""
        return self.redemptions_handed_over_cents + self.prizes_claimed_cents


_DEFAULTS: dict[str, Callable] = {
    "prizes_won_cents": lambda *, patient, year: 0,
    "cap_room": _earnings_cap_room,
    "prize_draws": lambda *, patient: (),
    "points_held_cents": lambda *, patient: 0,
    "low_stock": lambda *, clinic: [],
    "rewards_given": lambda *, clinic, first, last, enrollments: RewardsGiven(),
}
_providers: dict[str, Callable] = {}


def register(fact: str, provider: Callable) -> None:
    """Answer `fact` (one of those above) with `provider`, called with the fact's arguments."""
    if fact not in _DEFAULTS:
        raise ValueError(f"vouchers asks no fact named {fact!r}")
    _providers[fact] = provider


def _ask(fact: str, **arguments):
    return _providers.get(fact, _DEFAULTS[fact])(**arguments)


def prizes_won_cents(*, patient: Patient, year: int) -> int:
    return _ask("prizes_won_cents", patient=patient, year=year)


def cap_room(*, patient: Patient, enrollment: Enrollment, today: date) -> int | None:
    return _ask("cap_room", patient=patient, enrollment=enrollment, today=today)


def prize_draws(*, patient: Patient) -> Iterable[tuple[datetime, int]]:
    return _ask("prize_draws", patient=patient)


def points_held_cents(*, patient: Patient) -> int:
    return _ask("points_held_cents", patient=patient)


def low_stock(*, clinic: Clinic) -> list:
    return _ask("low_stock", clinic=clinic)


def rewards_given(
    *, clinic: Clinic, first: date, last: date, enrollments: QuerySet[Enrollment] | None = None
) -> RewardsGiven:
    return _ask("rewards_given", clinic=clinic, first=first, last=last, enrollments=enrollments)
