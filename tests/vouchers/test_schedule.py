import itertools
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vouchers import engine
from vouchers.schedule import is_test_day, scheduled_days, scheduled_days_between, week_days

MONDAY = date(2026, 1, 5)


def rules(*phases):
    return engine.Rules(kind=engine.VOUCHER, phases=phases)


@pytest.mark.parametrize(
    ("per_week", "weekdays"),
    [(3, ["Mon", "Wed", "Fri"]), (2, ["Mon", "Thu"]), (1, ["Mon"])],
    ids=["three-a-week", "twice-a-week", "weekly"],
)
def test_tests_are_spread_over_the_week_from_the_start_day(per_week, weekdays):
    schedule = rules(engine.Phase(1, 12, tests_per_week=per_week))
    first_week = list(itertools.islice(scheduled_days(schedule, MONDAY), per_week))
    assert [d.strftime("%a") for d in first_week] == weekdays


def test_the_rhythm_changes_with_the_phase():
    schedule = rules(engine.Phase(1, 1, tests_per_week=2), engine.Phase(2, 2, tests_per_week=1))
    days = scheduled_days_between(schedule, MONDAY, MONDAY, date(2026, 2, 1))
    assert days == [date(2026, 1, 5), date(2026, 1, 8), date(2026, 1, 12)]


def test_no_test_day_is_scheduled_after_the_protocols_last_week():
    schedule = rules(engine.Phase(1, 2, tests_per_week=3))
    days = scheduled_days_between(schedule, MONDAY, MONDAY, date(2026, 12, 31))
    assert len(days) == 6
    assert days[-1] == date(2026, 1, 16)


# --- the enrollment's test weekdays -------------------------------------------------------------

MON, TUE, WED, THU, FRI, SAT, SUN = range(7)
WEDNESDAY = date(2026, 1, 7)


def first_weeks(per_week, weekdays, start=MONDAY, weeks=2):
    schedule = rules(engine.Phase(1, 12, tests_per_week=per_week))
    last = start + timedelta(weeks=weeks, days=-1)
    return [
        d.strftime("%a %d") for d in scheduled_days_between(schedule, start, start, last, weekdays)
    ]


@pytest.mark.parametrize(
    ("per_week", "weekdays", "start", "expected"),
    [
        # The clinic's default Mon/Wed/Fri from a Monday: thrice weekly stays Mon/Wed/Fri.
        (3, [MON, WED, FRI], MONDAY, ["Mon 05", "Wed 07", "Fri 09", "Mon 12", "Wed 14", "Fri 16"]),
        # Fewer tests than offered days: spread out, the first offered day first.
        (2, [MON, WED, FRI], MONDAY, ["Mon 05", "Fri 09", "Mon 12", "Fri 16"]),
        (1, [MON, WED, FRI], MONDAY, ["Mon 05", "Mon 12"]),
        # More tests than offered days: every offered day, no more.
        (3, [TUE, THU], MONDAY, ["Tue 06", "Thu 08", "Tue 13", "Thu 15"]),
        # A week starting mid-week offers the days from the start day on, into the next week.
        (
            3,
            [MON, WED, FRI],
            WEDNESDAY,
            ["Wed 07", "Fri 09", "Mon 12", "Wed 14", "Fri 16", "Mon 19"],
        ),
        (2, [MON, WED, FRI], WEDNESDAY, ["Wed 07", "Fri 09", "Wed 14", "Fri 16"]),
        # Weekend clinics, the order of the list, and a start on a day that is not offered.
        (2, [SUN, SAT], MONDAY, ["Sat 10", "Sun 11", "Sat 17", "Sun 18"]),
        (1, [FRI, MON], date(2026, 1, 6), ["Fri 09", "Fri 16"]),
        # No weekday at all: no test day, and no endless search for one.
        (3, [], MONDAY, []),
    ],
    ids=[
        "mwf-3",
        "mwf-2",
        "mwf-1",
        "tue-thu-3",
        "mwf-3-from-wednesday",
        "mwf-2-from-wednesday",
        "weekend-2",
        "fri-mon-1-from-tuesday",
        "none",
    ],
)
def test_test_days_fall_on_the_chosen_weekdays(per_week, weekdays, start, expected):
    assert first_weeks(per_week, weekdays, start) == expected


def test_no_weekday_means_an_empty_schedule_not_an_endless_one():
    schedule = rules(engine.Phase(1, None, tests_per_week=3))
    assert list(scheduled_days(schedule, MONDAY, [])) == []


def test_a_test_day_is_known_without_replaying_the_weeks_before_it():
    schedule = rules(engine.Phase(1, None, tests_per_week=3))
    far = MONDAY + timedelta(weeks=500)
    assert is_test_day(schedule, MONDAY, far, [MON, WED, FRI])
    assert not is_test_day(schedule, MONDAY, far + timedelta(days=1), [MON, WED, FRI])
    assert not is_test_day(schedule, MONDAY, MONDAY - timedelta(days=7), [MON, WED, FRI])


# --- properties ----------------------------------------------------------------------------------

weekday_sets = st.lists(st.integers(0, 6), min_size=1, max_size=7, unique=True)
starts = st.dates(min_value=date(2024, 1, 1), max_value=date(2028, 12, 31))


@settings(max_examples=300, deadline=None)
@given(per_week=st.integers(1, 7), weekdays=weekday_sets, start=starts, week=st.integers(1, 30))
def test_each_week_has_its_tests_on_chosen_days_and_the_first_offered_day_first(
    per_week, weekdays, start, week
):
    schedule = rules(engine.Phase(1, None, tests_per_week=per_week))
    week_start = start + timedelta(weeks=week - 1)
    offered = [week_start + timedelta(days=i) for i in range(7)]
    offered = [d for d in offered if d.weekday() in weekdays]

    days = week_days(schedule, start, week, weekdays)

    assert days == sorted(set(days))
    assert all(d.weekday() in weekdays for d in days)
    assert len(days) == min(per_week, len(offered))
    assert days[0] == offered[0]
    if per_week >= len(offered):
        assert days == offered


def longest_wait(days: list[date]) -> int:
    """The longest wait between two tests of one week, counting on to the next week's first."""
    gaps = [(b - a).days for a, b in itertools.pairwise(days)]
    return max([*gaps, 7 - (days[-1] - days[0]).days])


@settings(max_examples=300, deadline=None)
@given(per_week=st.integers(1, 7), weekdays=weekday_sets, start=starts)
def test_the_spread_waits_no_longer_than_taking_every_nth_offered_day(per_week, weekdays, start):
    schedule = rules(engine.Phase(1, None, tests_per_week=per_week))
    offered = [start + timedelta(days=i) for i in range(7)]
    offered = [d for d in offered if d.weekday() in weekdays]
    naive = [offered[i * len(offered) // per_week] for i in range(min(per_week, len(offered)))]

    days = week_days(schedule, start, 1, weekdays)

    assert longest_wait(days) <= longest_wait(naive)


@settings(max_examples=200, deadline=None)
@given(
    per_week=st.integers(1, 4),
    weekdays=weekday_sets,
    start=starts,
    offset=st.integers(0, 60),
    length=st.integers(0, 30),
)
def test_a_range_of_days_agrees_with_the_whole_schedule(per_week, weekdays, start, offset, length):
    schedule = rules(engine.Phase(1, 8, tests_per_week=per_week))
    first = start + timedelta(days=offset - 7)
    last = first + timedelta(days=length)
    whole = itertools.takewhile(lambda d: d <= last, scheduled_days(schedule, start, weekdays))
    expected = [
        d for d in whole if d >= first and engine.enrollment_week(start, d) <= schedule.weeks
    ]

    assert scheduled_days_between(schedule, start, first, last, weekdays) == expected
    assert [d for d in expected if is_test_day(schedule, start, d, weekdays)] == expected


@settings(max_examples=100, deadline=None)
@given(per_week=st.integers(1, 3), start=starts)
def test_every_weekday_offered_keeps_the_old_spread_from_the_start_day(per_week, start):
    # The rule before weekdays existed: day i * 7 // n of each week, counted from the start day.
    schedule = rules(engine.Phase(1, None, tests_per_week=per_week))
    old = [
        start + timedelta(weeks=w, days=i * 7 // per_week)
        for w in range(3)
        for i in range(per_week)
    ]

    assert list(itertools.islice(scheduled_days(schedule, start), 3 * per_week)) == old
