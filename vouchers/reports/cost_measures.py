"""The arithmetic of the rewards-and-cost measures and of redemption immediacy (issue 14).

Pure Python, like vouchers/reports/measures.py (whose Ratio, percentile and Immediacy these
reuse): no Django, no clock, no database. docs/reports.md ("Rewards and cost", "Fidelity:
redemption immediacy") states each formula; vouchers/reports/costs.py reads the ledger and the
record into these inputs.

Rules:
1. A range is the clinic days first..last inclusive: from midnight of `first` to midnight after
   `last` in the clinic's time zone.
2. A week of abstinence is an enrollment week with at least one counted (not excused) test in
   the range, every one of them negative.
3. Clinic weeks start on Monday; the weekly series covers every week that overlaps the range,
   weeks with nothing in them included (as 0).
4. Redemption immediacy: over the redemptions handed over, the delay from request to hand-over
   (nearest-rank median and 90th percentile) and the share handed over on the clinic day they
   were requested.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta, tzinfo

from vouchers.engine import EXCUSED, NEGATIVE, enrollment_week
from vouchers.reports.measures import Enrollment, Immediacy, Ratio, median, percentile


def range_bounds(tz: tzinfo, first: date, last: date) -> tuple[datetime, datetime]:
    """The instants [start, end) of the clinic days first..last in time zone `tz`."""
    start = datetime.combine(first, time(), tzinfo=tz)
    end = datetime.combine(last + timedelta(days=1), time(), tzinfo=tz)
    return start, end


def abstinent_weeks(enrollment: Enrollment) -> int:
    """The enrollment weeks whose counted tests (excused left out) are all negative, at least
    one. Pass the enrollment cut to the range (measures.within) to count the range's weeks."""
    weeks: dict[int, bool] = {}
    for test in enrollment.tests:
        if test.outcome == EXCUSED:
            continue
        week = enrollment_week(enrollment.start, test.day)
        weeks[week] = weeks.get(week, True) and test.outcome == NEGATIVE
    return sum(weeks.values())


def negatives(enrollment: Enrollment) -> int:
    return sum(t.outcome == NEGATIVE for t in enrollment.tests)


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def weekly(by_day: Mapping[date, int], first: date, last: date) -> list[tuple[date, int]]:
    """(Monday, total) for each clinic week overlapping first..last, in order, 0 for a week with
    nothing. Days outside first..last are not counted, even in a week that overlaps it."""
    totals = {}
    week = monday(first)
    while week <= last:
        totals[week] = 0
        week += timedelta(days=7)
    for day, amount in by_day.items():
        if first <= day <= last:
            totals[monday(day)] += amount
    return list(totals.items())


def redemption_immediacy(
    handovers: Iterable[tuple[datetime, date, datetime, date]],
) -> Immediacy:
    """From (requested at, requested day, handed over at, handed over day) of each redemption
    handed over: the median and 90th percentile of the delays, nearest-rank, and the share handed
    over on the clinic day requested."""
    handovers = list(handovers)
    delays = [handed - requested for requested, _day, handed, _handed_day in handovers]
    same_day = sum(day == handed_day for _r, day, _h, handed_day in handovers)
    return Immediacy(
        median=median(delays), p90=percentile(delays, 90), same_day=Ratio(same_day, len(delays))
    )


def per(cents: int, count: int) -> Ratio:
    """Cents per unit as an exact ratio (no unit: no value)."""
    return Ratio(cents, count)
