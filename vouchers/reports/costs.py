"""Rewards and cost, equal opportunity and redemption immediacy: the reads (issue 14).

docs/reports.md ("Rewards and cost", "Fidelity: equal opportunity", "Fidelity: redemption
immediacy") defines every figure; vouchers/reports/cost_measures.py holds the arithmetic.

Which range an entry belongs to: the clinic day it was **posted** (`LedgerEntry.created_at` in the
clinic's time zone), not the day of the test or session that earned it. The ledger is
append-only, so the figures of a range that has ended never change afterwards: a quarter's payer
report stays what was sent, and a correction made later shows in the range it was made, as the
reversal it is. Draws count on the day drawn, prizes claimed and redemptions handed over on the
day they were (the rewards app's facts, asked through vouchers.extensions). Cap clips have no
posting instant, so they count on the day of the event the engine clipped.

Which enrollments: the caller's queryset, by default `cost_enrollments` (the clinic's enrollments
that overlap the range, and those with anything posted in it: a late lab result settled after
an enrollment ended is still a cost of the range it was posted in). Narrow it with an ordinary
filter (`.filter(patient__primary_counselor=...)`). What the ledger holds per patient rather
than per enrollment (redemptions, staff adjustments, waivers) counts for the patients of the set.

Every read is a fixed number of queries whatever the number of enrollments: the engine replays
in Python.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from django.db.models import F, Q, QuerySet, Sum
from django.db.models.functions import TruncDate

from cmtracker.models import Clinic
from patients.models import Enrollment
from vouchers import engine, extensions
from vouchers.ledger import EARNING_COMPONENTS, earned_elsewhere_by_year_many
from vouchers.models import LedgerEntry, protocols_attach
from vouchers.reports import cost_measures, measures
from vouchers.reports.selectors import clinic_enrollments, report_enrollments
from vouchers.settlement import (
    award_differences,
    awards_posted,
    awards_wanted,
    enrollment_replay,
)

Component = LedgerEntry.Component
Kind = LedgerEntry.Kind
STAFF_KINDS = (Kind.ADJUSTMENT, Kind.WAIVER)


def cost_enrollments(*, clinic: Clinic, first: date, last: date) -> QuerySet[Enrollment]:
    """The clinic's enrollments that overlap first..last, and those with a ledger entry posted in
    it (a late result settled after the enrollment ended, a draw made after it)."""
    start, end = cost_measures.range_bounds(clinic.tz, first, last)
    overlapping = clinic_enrollments(clinic=clinic, first=first, last=last).values("pk")
    posted = LedgerEntry.objects.filter(
        enrollment__isnull=False, created_at__gte=start, created_at__lt=end
    ).values("enrollment_id")
    return Enrollment.objects.filter(patient__clinic=clinic).filter(
        Q(pk__in=overlapping) | Q(pk__in=posted)
    )


@dataclass(frozen=True)
class StaffEntry:
    """A reward outside the schedule: a staff adjustment (cents credited, or debited when
    negative) or a waiver (cents of overpayment forgiven), with its reason, who and when."""

    kind: str  # LedgerEntry.Kind.ADJUSTMENT or WAIVER
    patient_id: int
    amount_cents: int
    reason: str
    by_id: int | None
    by: str  # the staff member's name, "" when unknown
    at: datetime


@dataclass(frozen=True)
class ClinicCosts:
    """Rewards and cost of a set of enrollments over first..last (docs/reports.md)."""

    enrollments: int
    vouchers_cents: int
    bonuses_cents: int
    attendance_cents: int
    prizes_won_cents: int
    draws: int  # draws earned (net of draws taken back by corrections)
    redeemed_cents: int
    redemptions_handed_over_cents: int
    prizes_claimed_cents: int
    per_enrollment: measures.Summary  # earned cents per enrollment of the set
    negatives: int
    per_negative: measures.Ratio
    abstinent_weeks: int
    per_abstinent_week: measures.Ratio
    clipped_cents: int
    adjustments: tuple[StaffEntry, ...]
    waivers: tuple[StaffEntry, ...]
    redemption_immediacy: measures.Immediacy

    @property
    def earned_cents(self) -> int:
        return (
            self.vouchers_cents + self.bonuses_cents + self.attendance_cents + self.prizes_won_cents
        )

    @property
    def handed_over_cents(self) -> int:
        return self.redemptions_handed_over_cents + self.prizes_claimed_cents

    @property
    def adjustments_cents(self) -> int:
        return sum(a.amount_cents for a in self.adjustments)

    @property
    def waived_cents(self) -> int:
        return sum(w.amount_cents for w in self.waivers)


def _chosen(clinic, first, last, enrollments) -> QuerySet[Enrollment]:
    """The caller's enrollments, or `cost_enrollments`, in a fixed order (by id)."""
    if enrollments is None:
        enrollments = cost_enrollments(clinic=clinic, first=first, last=last)
    return enrollments.order_by("pk")


def _posted_in(clinic: Clinic, first: date, last: date) -> Q:
    start, end = cost_measures.range_bounds(clinic.tz, first, last)
    return Q(created_at__gte=start, created_at__lt=end)


def _patients(chosen: QuerySet[Enrollment]) -> QuerySet:
    return chosen.values("patient_id")


def _staff_entries(clinic, first, last, chosen) -> list[StaffEntry]:
    rows = (
        LedgerEntry.objects.filter(_posted_in(clinic, first, last))
        .filter(kind__in=STAFF_KINDS, patient__in=_patients(chosen))
        .select_related("created_by")
        .order_by("created_at", "id")
    )
    return [
        StaffEntry(
            kind=entry.kind,
            patient_id=entry.patient_id,
            # A waiver moves only the overpayment owed, down: the cents forgiven.
            amount_cents=entry.amount_cents
            if entry.kind == Kind.ADJUSTMENT
            else -entry.overpayment_cents,
            reason=entry.reason,
            by_id=entry.created_by_id,
            by=(entry.created_by.get_full_name() or entry.created_by.username)
            if entry.created_by
            else "",
            at=entry.created_at,
        )
        for entry in rows
    ]


def _staff_cents(entry: LedgerEntry) -> int:
    if entry.kind == Kind.ADJUSTMENT:
        return entry.amount_cents
    return -entry.overpayment_cents  # a waiver lowers only the overpayment owed: cents forgiven


@dataclass(frozen=True)
class _Replayed:
    enrollment: Enrollment
    events: list[engine.Event]
    result: engine.Result


def _replays(chosen: QuerySet[Enrollment]) -> list[_Replayed]:
    """Each enrollment replayed as settlement replays it (settlement.enrollment_replay), in four
    or five queries: the enrollments, their protocols (and phases), specimens, sessions, and
    what each patient earned in their other enrollments."""
    read = list(
        chosen.select_related("patient__clinic").prefetch_related("specimens", "attendance")
    )
    protocols_attach(read)
    elsewhere = earned_elsewhere_by_year_many(read)
    replayed = []
    for enrollment in read:
        events, result = enrollment_replay(enrollment, elsewhere[enrollment.pk])
        replayed.append(_Replayed(enrollment, events, result))
    return replayed


def clinic_costs(
    *,
    clinic: Clinic,
    first: date,
    last: date,
    enrollments: QuerySet[Enrollment] | None = None,
) -> ClinicCosts:
    """Rewards and cost of `enrollments` (by default `cost_enrollments`) over first..last.

    1. The settlement entries posted in the range, per enrollment and component: vouchers,
       bonuses, attendance rewards (cents the patient is entitled to) and draws.
    2. Redeemed (redeem less refund) and the staff adjustments and waivers posted in the range,
       for the patients of the set.
    3. From rewards: prize values won, prizes claimed, redemptions handed over and their delays.
    4. Negatives and weeks of abstinence from the record (report_enrollments, cut to the range).
    5. Cap clips from the engine's replay, over the events of the range.
    """
    chosen = _chosen(clinic, first, last, enrollments)
    return _costs(
        clinic, first, last, chosen, _replays(chosen), _staff_entries(clinic, first, last, chosen)
    )


def _costs(clinic, first, last, chosen, replayed, staff) -> ClinicCosts:
    posted_in = _posted_in(clinic, first, last)

    earned = (
        LedgerEntry.objects.filter(posted_in, enrollment__in=chosen.values("pk"))
        .exclude(component="")
        .order_by()
        .values("enrollment_id", "component")
        .annotate(cents=Sum(F("amount_cents") - F("overpayment_cents")), draws=Sum("draws"))
    )
    by_component: dict[str, int] = defaultdict(int)
    by_enrollment: dict[int, int] = defaultdict(int)
    draws = 0
    for row in earned:
        if row["component"] == Component.DRAWS:
            draws += row["draws"]
            continue
        by_component[row["component"]] += row["cents"]
        by_enrollment[row["enrollment_id"]] += row["cents"]

    spent = LedgerEntry.objects.filter(
        posted_in, kind__in=(Kind.REDEEM, Kind.REFUND), patient__in=_patients(chosen)
    ).aggregate(cents=Sum("amount_cents"))["cents"]
    given = extensions.rewards_given(clinic=clinic, first=first, last=last, enrollments=chosen)
    for enrollment_id, cents in given.prizes_won_by_enrollment.items():
        by_enrollment[enrollment_id] += cents

    records = report_enrollments(enrollments=chosen, first=first, last=last)
    ids = [r.enrollment.pk for r in replayed]
    negatives = sum(cost_measures.negatives(e) for e in records)
    weeks = sum(cost_measures.abstinent_weeks(e) for e in records)
    clipped = sum(
        award.clipped_cents
        for r in replayed
        for award in r.result.awards
        if first <= award.day <= last
    )
    earned_total = sum(by_component.values()) + given.prizes_won_cents
    return ClinicCosts(
        enrollments=len(ids),
        vouchers_cents=by_component[Component.VOUCHER],
        bonuses_cents=by_component[Component.BONUS],
        attendance_cents=by_component[Component.ATTENDANCE],
        prizes_won_cents=given.prizes_won_cents,
        draws=draws,
        redeemed_cents=-(spent or 0),
        redemptions_handed_over_cents=given.redemptions_handed_over_cents,
        prizes_claimed_cents=given.prizes_claimed_cents,
        per_enrollment=measures.summary(by_enrollment.get(pk, 0) for pk in ids),
        negatives=negatives,
        per_negative=cost_measures.per(earned_total, negatives),
        abstinent_weeks=weeks,
        per_abstinent_week=cost_measures.per(earned_total, weeks),
        clipped_cents=clipped,
        adjustments=tuple(s for s in staff if s.kind == Kind.ADJUSTMENT),
        waivers=tuple(s for s in staff if s.kind == Kind.WAIVER),
        redemption_immediacy=_immediacy(given),
    )


def _immediacy(given: extensions.RewardsGiven) -> measures.Immediacy:
    return cost_measures.redemption_immediacy(
        (h.requested_at, h.requested_day, h.handed_over_at, h.handed_over_day)
        for h in given.handovers
    )


def redemption_immediacy(
    *,
    clinic: Clinic,
    first: date,
    last: date,
    enrollments: QuerySet[Enrollment] | None = None,
) -> measures.Immediacy:
    """From request to hand-over, over the redemptions handed over in first..last (of the
    patients of `enrollments`; by default every patient of the clinic): nearest-rank median and
    90th percentile, and the share handed over on the clinic day requested."""
    given = extensions.rewards_given(clinic=clinic, first=first, last=last, enrollments=enrollments)
    return _immediacy(given)


def weekly_cost(
    *,
    clinic: Clinic,
    first: date,
    last: date,
    enrollments: QuerySet[Enrollment] | None = None,
) -> list[tuple[date, int]]:
    """(Monday, cents earned) for each clinic week that overlaps first..last, weeks with nothing
    included: vouchers, bonuses and attendance rewards by the day posted, and prize values by the
    day drawn (only the days of the range count). Four queries."""
    chosen = _chosen(clinic, first, last, enrollments)
    rows = (
        LedgerEntry.objects.filter(
            _posted_in(clinic, first, last),
            enrollment__in=chosen.values("pk"),
            component__in=EARNING_COMPONENTS,
        )
        .annotate(day=TruncDate("created_at", tzinfo=clinic.tz))
        .order_by()
        .values("day")
        .annotate(cents=Sum(F("amount_cents") - F("overpayment_cents")))
    )
    by_day: dict[date, int] = defaultdict(int)
    for row in rows:
        by_day[row["day"]] += row["cents"]
    given = extensions.rewards_given(clinic=clinic, first=first, last=last, enrollments=chosen)
    for day, cents in given.prizes_won_by_day.items():
        by_day[day] += cents
    return cost_measures.weekly(by_day, first, last)


# --- equal opportunity ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AwardDifference:
    """One award the ledger holds differently from what the engine pays for the history: cents
    (or draws, for the draws component) expected and posted."""

    source: str  # "specimen" or "attendance"
    source_id: int
    day: date | None  # the event's clinic day (None: no longer in the enrollment's history)
    component: str  # voucher, bonus, attendance or draws
    event_year: int | None
    expected: int
    posted: int


@dataclass(frozen=True)
class EnrollmentException:
    enrollment_id: int
    patient_id: int
    protocol_id: int
    awards: tuple[AwardDifference, ...]


@dataclass(frozen=True)
class EqualOpportunity:
    """The exceptions among `enrollments` checked: enrollments paid other than the schedule, and
    the rewards given outside it (staff adjustments and waivers posted in the range)."""

    enrollments: int
    mismatches: tuple[EnrollmentException, ...]
    outside_schedule: tuple[StaffEntry, ...]


def equal_opportunity_exceptions(
    *,
    clinic: Clinic,
    first: date,
    last: date,
    enrollments: QuerySet[Enrollment] | None = None,
) -> EqualOpportunity:
    """Every enrollment of the set whose ledger awards differ from what the engine pays for its
    whole history now, and every adjustment or waiver posted in first..last for the set's
    patients.

    1. Replay each enrollment as settlement does (settlement.enrollment_replay) and take what it
       wants per source, component and year (settlement.awards_wanted).
    2. Compare with what the ledger holds (settlement.awards_posted, one query for all) with
       settlement's own comparison (settlement.award_differences): what a settlement would post.
    3. List the staff entries of the range.
    """
    chosen = _chosen(clinic, first, last, enrollments)
    return _exceptions(chosen, _replays(chosen), _staff_entries(clinic, first, last, chosen))


def _exceptions(chosen, replayed, staff) -> EqualOpportunity:
    posted = awards_posted(chosen.values("pk"))
    mismatches = []
    for r in replayed:
        held = posted.get(r.enrollment.pk, {})
        wanted = awards_wanted(r.result)
        differences = award_differences(wanted, held)
        if not differences:
            continue
        days = {event.key: event.day for event in r.events}
        mismatches.append(
            EnrollmentException(
                enrollment_id=r.enrollment.pk,
                patient_id=r.enrollment.patient_id,
                protocol_id=r.enrollment.protocol_id,
                awards=tuple(
                    _difference(key, wanted, held, days)
                    for key in sorted(differences, key=_key_order)
                ),
            )
        )
    return EqualOpportunity(
        enrollments=len(replayed),
        mismatches=tuple(mismatches),
        outside_schedule=tuple(staff),
    )


def costs_and_exceptions(
    *, clinic: Clinic, first: date, last: date
) -> tuple[ClinicCosts, EqualOpportunity]:
    """`clinic_costs` and `equal_opportunity_exceptions` of the clinic over first..last, for a
    page that shows both: each enrollment is replayed, and the staff entries read, once."""
    chosen = _chosen(clinic, first, last, None)
    replayed = _replays(chosen)
    staff = _staff_entries(clinic, first, last, chosen)
    return (
        _costs(clinic, first, last, chosen, replayed, staff),
        _exceptions(chosen, replayed, staff),
    )


def _difference(key: tuple, wanted: dict, held: dict, days: dict) -> AwardDifference:
    source, source_id, component, year = key
    return AwardDifference(
        source=source,
        source_id=source_id,
        day=days.get(f"{source}:{source_id}"),
        component=component,
        event_year=year,
        expected=wanted.get(key, 0),
        posted=held.get(key, 0),
    )


def _key_order(key: tuple) -> tuple:
    source, source_id, component, year = key
    return (source, source_id, component, year or 0)
