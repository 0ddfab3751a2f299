"""The dashboard's calendar (vouchers/reports/weeks.py): ranges, calendar weeks from Monday, the
weekly negative samples and the histogram. Pure: no database."""

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vouchers.engine import EXCUSED, MISSED, NEGATIVE, OUTCOMES, POSITIVE
from vouchers.reports.measures import (
    Enrollment,
    Ratio,
    ScheduledTest,
    negative_samples,
    within,
)
from vouchers.reports.weeks import (
    calendar_weeks,
    default_range,
    histogram,
    quick_ranges,
    week_start,
    weekly_negative_samples,
)

MON = date(2026, 1, 5)


@pytest.mark.parametrize(
    ("day", "monday"),
    [
        (date(2026, 1, 5), date(2026, 1, 5)),  # a Monday is its own week's start
        (date(2026, 1, 11), date(2026, 1, 5)),  # Sunday ends it
        (date(2026, 1, 12), date(2026, 1, 12)),
        (date(2026, 1, 1), date(2025, 12, 29)),  # a week across the new year
        (date(2024, 3, 1), date(2024, 2, 26)),  # across a leap day
    ],
)
def test_a_week_starts_on_monday(day, monday):
    assert week_start(day) == monday


@pytest.mark.parametrize(
    ("first", "last", "mondays"),
    [
        (MON, MON, [MON]),
        (date(2026, 1, 7), date(2026, 1, 13), [MON, date(2026, 1, 12)]),  # mid-week ends
        (date(2026, 1, 11), date(2026, 1, 12), [MON, date(2026, 1, 12)]),  # Sunday to Monday
        (MON, MON + timedelta(days=20), [MON, MON + timedelta(7), MON + timedelta(14)]),
        (date(2026, 1, 13), date(2026, 1, 12), []),  # reversed: none
    ],
)
def test_the_calendar_weeks_of_a_range(first, last, mondays):
    assert calendar_weeks(first, last) == mondays


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (
            date(2026, 3, 30),
            [
                ("last-30-days", date(2026, 3, 1), date(2026, 3, 30)),
                ("last-quarter", date(2025, 10, 1), date(2025, 12, 31)),
                ("this-year", date(2026, 1, 1), date(2026, 3, 30)),
            ],
        ),
        (
            date(2026, 8, 15),
            [
                ("last-30-days", date(2026, 7, 17), date(2026, 8, 15)),
                ("last-quarter", date(2026, 4, 1), date(2026, 6, 30)),
                ("this-year", date(2026, 1, 1), date(2026, 8, 15)),
            ],
        ),
        (
            date(2026, 1, 1),
            [
                ("last-30-days", date(2025, 12, 3), date(2026, 1, 1)),
                ("last-quarter", date(2025, 10, 1), date(2025, 12, 31)),
                ("this-year", date(2026, 1, 1), date(2026, 1, 1)),
            ],
        ),
    ],
)
def test_the_quick_ranges(today, expected):
    assert quick_ranges(today) == expected


def test_the_default_range_is_the_last_90_days_today_included():
    first, last = default_range(date(2026, 3, 30))
    assert (last - first).days + 1 == 90
    assert last == date(2026, 3, 30)


def enrollment(*tests, start=MON):
    return Enrollment(
        start=start, weeks=12, tests=tuple(ScheduledTest(day=d, outcome=o) for d, o in tests)
    )


def test_each_week_counts_its_own_tests_and_a_miss_is_not_negative():
    one = enrollment(
        (MON, NEGATIVE),
        (MON + timedelta(2), MISSED),
        (MON + timedelta(4), EXCUSED),  # in neither count
        (MON + timedelta(7), NEGATIVE),
        (MON + timedelta(9), POSITIVE),
    )
    two = enrollment((MON + timedelta(8), NEGATIVE), start=MON + timedelta(7))

    weeks = weekly_negative_samples([one, two], MON, MON + timedelta(20))

    assert [(w.monday, w.rate) for w in weeks] == [
        (MON, Ratio(1, 2)),
        (MON + timedelta(7), Ratio(2, 3)),
        (MON + timedelta(14), Ratio(0, 0)),  # nothing to count: no rate, not 0%
    ]


def test_a_range_that_starts_mid_week_counts_only_its_days():
    wed, fri = MON + timedelta(2), MON + timedelta(4)
    one = enrollment((MON, NEGATIVE), (wed, POSITIVE), (fri, NEGATIVE))

    (week,) = weekly_negative_samples([one], MON + timedelta(2), MON + timedelta(6))

    assert (week.monday, week.first, week.last) == (MON, MON + timedelta(2), MON + timedelta(6))
    assert week.rate == Ratio(1, 2)  # Monday's negative is before the range


@pytest.mark.parametrize(
    ("values", "bars"),
    [
        ([], []),
        ([0, 0], [(0, 2)]),
        ([3, 1, 3], [(0, 0), (1, 1), (2, 0), (3, 2)]),  # no gaps: 0 and 2 weeks shown as 0
    ],
)
def test_the_histogram_has_a_bar_for_every_value(values, bars):
    assert histogram(values) == bars


outcomes = st.sampled_from(OUTCOMES)
histories = st.lists(
    st.lists(st.tuples(st.integers(0, 60), outcomes), max_size=12).map(
        lambda tests: enrollment(*sorted((MON + timedelta(d), o) for d, o in tests))
    ),
    max_size=6,
)


@given(histories, st.integers(0, 60), st.integers(0, 60))
def test_the_weeks_add_up_to_the_range(enrollments, a, b):
    first, last = MON + timedelta(min(a, b)), MON + timedelta(max(a, b))

    weeks = weekly_negative_samples(enrollments, first, last)

    total = sum((w.rate for w in weeks), Ratio(0, 0))
    assert total == negative_samples([within(e, first, last) for e in enrollments])
    assert all(w.rate.numerator <= w.rate.denominator for w in weeks)
    assert [w.monday for w in weeks] == calendar_weeks(first, last)


@given(st.lists(st.integers(0, 30), max_size=40))
def test_the_histogram_counts_every_value_once(values):
    bars = histogram(values)
    assert sum(n for _v, n in bars) == len(values)
    assert all(n == values.count(v) for v, n in bars)
