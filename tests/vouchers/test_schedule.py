import itertools
from datetime import date

import pytest

from vouchers import engine
from vouchers.schedule import scheduled_days, scheduled_days_between

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
