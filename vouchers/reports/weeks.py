"""The dashboard's calendar: its default and quick ranges, and the weekly negative-sample trend.

Pure Python like measures.py: no Django, no clock, no database. "Today" is the clinic's calendar
day, given by the caller; a calendar week runs Monday to Sunday in the clinic's time zone (the
tests' days are already clinic days, see docs/reports.md).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from vouchers.reports import measures

DEFAULT_DAYS = 90
WEEK = timedelta(days=7)

LAST_30_DAYS = "last-30-days"
LAST_QUARTER = "last-quarter"
THIS_YEAR = "this-year"


def default_range(today: date) -> tuple[date, date]:
    """The last 90 clinic days, today included."""
    return today - timedelta(days=DEFAULT_DAYS - 1), today


def quarter_first(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def quick_ranges(today: date) -> list[tuple[str, date, date]]:
    """(key, first, last) of the quick links: the last 30 clinic days (today included), the last
    whole calendar quarter before today's, and this calendar year up to today."""
    this_quarter = quarter_first(today)
    last_quarter = quarter_first(this_quarter - timedelta(days=1))
    return [
        (LAST_30_DAYS, today - timedelta(days=29), today),
        (LAST_QUARTER, last_quarter, this_quarter - timedelta(days=1)),
        (THIS_YEAR, date(today.year, 1, 1), today),
    ]


def week_start(day: date) -> date:
    """The Monday of the calendar week holding `day`."""
    return day - timedelta(days=day.weekday())


def calendar_weeks(first: date, last: date) -> list[date]:
    """The Mondays of every calendar week that overlaps first..last, in order (none when the
    range is reversed)."""
    if last < first:
        return []
    mondays, monday = [], week_start(first)
    while monday <= last:
        mondays.append(monday)
        monday += WEEK
    return mondays


@dataclass(frozen=True)
class WeekRate:
    """A calendar week's negative samples. `first`..`last` are its days inside the range: a
    range that starts or ends mid-week has a shorter first or last week."""

    monday: date
    first: date
    last: date
    rate: measures.Ratio


def weekly_negative_samples(
    enrollments: Iterable[measures.Enrollment], first: date, last: date
) -> list[WeekRate]:
    """`measures.negative_samples` of each calendar week overlapping first..last, over the tests
    of that week's days in the range. A week with nothing to count has a ratio of 0 / 0. The weeks'
    numerators and denominators add up to negative_samples over the whole range."""
    mondays = calendar_weeks(first, last)
    parts: dict[date, list[measures.Enrollment]] = {monday: [] for monday in mondays}
    for enrollment in enrollments:
        by_week: dict[date, list[measures.ScheduledTest]] = defaultdict(list)
        for test in enrollment.tests:
            if first <= test.day <= last:
                by_week[week_start(test.day)].append(test)
        for monday, tests in by_week.items():
            # The same enrollment cut to one week, so the one definition counts it.
            parts[monday].append(
                measures.Enrollment(
                    start=enrollment.start, weeks=enrollment.weeks, tests=tuple(tests)
                )
            )
    return [
        WeekRate(
            monday=monday,
            first=max(monday, first),
            last=min(monday + timedelta(days=6), last),
            rate=measures.negative_samples(parts[monday]),
        )
        for monday in mondays
    ]


def histogram(values: Iterable[int]) -> list[tuple[int, int]]:
    """(value, how many) for every value from 0 to the largest, those nobody had included with 0:
    a histogram without gaps. No values: no bars."""
    counts: dict[int, int] = defaultdict(int)
    for value in values:
        counts[value] += 1
    if not counts:
        return []
    return [(value, counts[value]) for value in range(max(counts) + 1)]
