"""The arithmetic of rewards and cost and of redemption immediacy (vouchers/reports/
cost_measures.py): pure, table-driven, and hypothesis properties."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vouchers.engine import EXCUSED, MISSED, NEGATIVE, POSITIVE
from vouchers.reports import cost_measures
from vouchers.reports.measures import Enrollment, Immediacy, Ratio, ScheduledTest

START = date(2026, 1, 5)  # a Monday
CHICAGO = ZoneInfo("America/Chicago")


def enrollment(*tests: tuple[int, str]) -> Enrollment:
    return Enrollment(
        start=START,
        weeks=12,
        tests=tuple(ScheduledTest(day=START + timedelta(days=d), outcome=o) for d, o in tests),
    )


@pytest.mark.parametrize(
    ("tests", "weeks"),
    [
        ((), 0),
        (((0, NEGATIVE),), 1),
        (((0, NEGATIVE), (2, NEGATIVE), (4, NEGATIVE)), 1),
        (((0, NEGATIVE), (2, POSITIVE)), 0),  # one positive spoils the week
        (((0, NEGATIVE), (2, MISSED)), 0),  # a miss too
        (((0, NEGATIVE), (2, EXCUSED)), 1),  # excused tests are left out
        (((0, EXCUSED),), 0),  # a week with only excused tests has no counted test
        (((0, NEGATIVE), (7, POSITIVE), (14, NEGATIVE)), 2),  # weeks 1 and 3
        (((6, NEGATIVE), (7, NEGATIVE)), 2),  # Sunday ends week 1, Monday starts week 2
    ],
)
def test_weeks_of_abstinence(tests, weeks):
    assert cost_measures.abstinent_weeks(enrollment(*tests)) == weeks


def test_negatives_are_the_negative_letter_only():
    record = enrollment((0, NEGATIVE), (2, POSITIVE), (4, EXCUSED), (7, NEGATIVE), (9, MISSED))

    assert cost_measures.negatives(record) == 2


def test_a_range_runs_from_midnight_to_midnight_on_the_clinics_calendar():
    start, end = cost_measures.range_bounds(CHICAGO, date(2026, 1, 5), date(2026, 1, 11))

    assert start == datetime(2026, 1, 5, 6, tzinfo=UTC)  # UTC-6 in January
    assert end == datetime(2026, 1, 12, 6, tzinfo=UTC)


def test_a_range_over_the_spring_change_is_an_hour_short():
    start, end = cost_measures.range_bounds(CHICAGO, date(2026, 3, 8), date(2026, 3, 8))

    # (Aware datetimes of one zone subtract as wall times: compare the instants.)
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=23)


def test_the_weekly_series_has_every_week_zeros_included_and_only_the_ranges_days():
    by_day = {
        date(2026, 1, 1): 100,  # Thursday, in the range: the week of Monday 2025-12-29
        date(2025, 12, 30): 999,  # before the range, though its week overlaps it
        date(2026, 1, 14): 50,
        date(2026, 1, 18): 25,  # Sunday: the same week as the 14th
    }

    got = cost_measures.weekly(by_day, date(2026, 1, 1), date(2026, 1, 26))

    assert got == [
        (date(2025, 12, 29), 100),
        (date(2026, 1, 5), 0),
        (date(2026, 1, 12), 75),
        (date(2026, 1, 19), 0),
        (date(2026, 1, 26), 0),  # the range's last day is a Monday
    ]


def instant(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 1, day, hour, minute, tzinfo=CHICAGO)


@pytest.mark.parametrize(
    ("handovers", "expected"),
    [
        ([], Immediacy(None, None, Ratio(0, 0))),
        (
            [(instant(5, 9), instant(5, 9, 30))],
            Immediacy(timedelta(minutes=30), timedelta(minutes=30), Ratio(1, 1)),
        ),
        (
            # 30 min, 2 h (overnight: 23:00 to 01:00 is the next clinic day), 3 days.
            [
                (instant(5, 9), instant(5, 9, 30)),
                (instant(5, 23), instant(6, 1)),
                (instant(5, 10), instant(8, 10)),
            ],
            Immediacy(timedelta(hours=2), timedelta(days=3), Ratio(1, 3)),
        ),
        (
            # Even n: the median is the lower middle (rank ceil(0.5 * 4) = 2); p90 rank 4.
            [(instant(5, 9), instant(5, 9, m)) for m in (10, 20, 30, 40)],
            Immediacy(timedelta(minutes=20), timedelta(minutes=40), Ratio(4, 4)),
        ),
    ],
)
def test_redemption_immediacy(handovers, expected):
    rows = [(r, r.date(), h, h.date()) for r, h in handovers]

    assert cost_measures.redemption_immediacy(rows) == expected


DELAYS = st.lists(st.integers(0, 10 * 24 * 60), max_size=30)


@given(DELAYS)
def test_immediacy_stays_in_bounds(minutes):
    requested = instant(5, 8)
    rows = [
        (
            requested,
            requested.date(),
            requested + timedelta(minutes=m),
            (requested + timedelta(minutes=m)).date(),
        )
        for m in minutes
    ]

    got = cost_measures.redemption_immediacy(rows)

    assert got.same_day.denominator == len(minutes)
    assert 0 <= got.same_day.numerator <= got.same_day.denominator
    if minutes:
        assert timedelta(minutes=min(minutes)) <= got.median <= got.p90
        assert got.p90 <= timedelta(minutes=max(minutes))


@given(
    st.dictionaries(
        st.dates(date(2025, 12, 1), date(2026, 3, 1)), st.integers(-5000, 5000), max_size=40
    ),
    st.dates(date(2025, 12, 1), date(2026, 3, 1)),
    st.integers(0, 60),
)
def test_the_weeks_add_up_to_the_days_of_the_range(by_day, first, span):
    last = first + timedelta(days=span)

    got = cost_measures.weekly(by_day, first, last)

    assert sum(cents for _week, cents in got) == sum(
        cents for day, cents in by_day.items() if first <= day <= last
    )
    weeks = [week for week, _cents in got]
    assert all(w.weekday() == 0 for w in weeks)
    assert weeks == [weeks[0] + timedelta(days=7 * i) for i in range(len(weeks))]
    assert weeks[0] <= first < weeks[0] + timedelta(days=7)
    assert weeks[-1] <= last < weeks[-1] + timedelta(days=7)


@given(st.lists(st.tuples(st.integers(0, 83), st.sampled_from([NEGATIVE, POSITIVE, EXCUSED]))))
def test_weeks_of_abstinence_never_exceed_the_negatives_or_the_weeks_tested(tests):
    record = enrollment(*sorted(tests))

    weeks = cost_measures.abstinent_weeks(record)

    assert weeks <= cost_measures.negatives(record)
    assert weeks <= len({d // 7 for d, o in tests if o != EXCUSED})
