"""Prize draws that escalate per week of continuous abstinence (Rules.draws_escalation = PER_WEEK),
table-driven: a history of Monday/Thursday tests in, the draws of each test out.

Each row's letters are the tests in order, two a week from Monday 5 January 2026 (" " separates
the weeks for the reader); the draws start at 1, rise by 1 a week, up to 4.
"""

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.calendar import MON_THU, MONDAY, collection_days
from vouchers import engine
from vouchers.engine import PER_NEGATIVE, PER_WEEK, PRIZE, SPECIMEN, Event, Phase, Rules

PHASE = Phase(
    first_week=1, last_week=12, tests_per_week=2, draws_start=1, draws_increment=1, draws_max=4
)


def rules(escalation=PER_WEEK, **extra) -> Rules:
    return Rules(kind=PRIZE, phases=(PHASE,), draws_escalation=escalation, **extra)


def history(letters: str, days=None, secondary=False) -> list[Event]:
    letters = letters.replace(" ", "")
    days = days or collection_days(len(letters), weekdays=MON_THU)
    return [
        Event(key=f"s{i}", day=day, kind=SPECIMEN, outcome=letter, secondary_negative=secondary)
        for i, (letter, day) in enumerate(zip(letters, days, strict=True))
    ]


def draws(letters: str, **kwargs) -> list[int]:
    return [a.draws for a in engine.run(rules(**kwargs), MONDAY, history(letters)).awards]


@pytest.mark.parametrize(
    ("letters", "expected"),
    [
        pytest.param("NN NN NN", [1, 1, 2, 2, 3, 3], id="one-more-draw-each-abstinent-week"),
        pytest.param("NN NN NN NN NN NN", [1, 1, 2, 2, 3, 3, 4, 4, 4, 4, 4, 4], id="up-to-the-max"),
        pytest.param("NN PN NN NN", [1, 1, 0, 1, 1, 1, 2, 2], id="a-positive-week-does-not-count"),
        pytest.param("NN NP NN NN", [1, 1, 2, 0, 1, 1, 2, 2], id="reset-late-in-the-week"),
        pytest.param("NN NM NN", [1, 1, 2, 0, 1, 1], id="a-missed-test-resets-like-a-positive"),
        pytest.param("NN EN NN", [1, 1, 0, 2, 3, 3], id="an-excused-test-keeps-the-run"),
        pytest.param("NN EE NN", [1, 1, 0, 0, 2, 2], id="an-all-excused-week-adds-no-step"),
        pytest.param("PP NN NN", [0, 0, 1, 1, 2, 2], id="a-start-with-positives"),
    ],
)
def test_draws_rise_once_a_week_of_continuous_abstinence(letters, expected):
    assert draws(letters) == expected


def test_per_negative_escalation_is_unchanged():
    assert draws("NN NN NN", escalation=PER_NEGATIVE) == [1, 2, 3, 4, 4, 4]


def test_secondary_bonus_draws_add_to_the_week_level_without_escalating_it():
    result = engine.run(rules(secondary_bonus_draws=2), MONDAY, history("NN NN", secondary=True))

    assert [a.draws for a in result.awards] == [3, 3, 4, 4]
    assert result.state.next_draws == 2


def test_a_second_negative_the_same_day_earns_nothing_and_changes_nothing():
    days = [MONDAY, MONDAY, MONDAY + timedelta(days=3), MONDAY + timedelta(weeks=1)]
    result = engine.run(rules(), MONDAY, history("NNNN", days=days))

    assert [a.draws for a in result.awards] == [1, 0, 1, 2]


def test_the_next_negative_is_promised_at_the_level_of_its_week():
    events = history("NN")
    same_week = engine.next_negative(rules(), MONDAY, events, MONDAY + timedelta(days=4))
    next_week = engine.next_negative(rules(), MONDAY, events, MONDAY + timedelta(weeks=1))

    assert (same_week.draws, next_week.draws) == (1, 2)


def test_a_new_phase_clamps_the_weekly_level_into_its_range():
    later = Phase(
        first_week=3,
        last_week=None,
        tests_per_week=1,
        draws_start=2,
        draws_increment=1,
        draws_max=2,
    )
    first = Phase(first_week=1, last_week=2, draws_start=1, draws_increment=1, draws_max=4)
    phased = Rules(kind=PRIZE, phases=(first, later), draws_escalation=PER_WEEK)
    days = collection_days(4, weekdays=MON_THU) + [MONDAY + timedelta(weeks=w) for w in (2, 3)]

    result = engine.run(phased, MONDAY, history("NNNNNN", days=days))

    assert [a.draws for a in result.awards] == [1, 1, 2, 2, 2, 2]


def test_an_unknown_escalation_is_a_rule_error():
    with pytest.raises(engine.RuleError, match="unknown draw escalation 'month'"):
        rules(escalation="month")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="NNNNPME", min_size=1, max_size=24))
def test_weekly_draws_stay_level_within_a_week_and_never_pass_the_per_negative_ones(letters):
    weekly = engine.run(rules(), MONDAY, history(letters)).awards
    per_negative = engine.run(rules(PER_NEGATIVE), MONDAY, history(letters)).awards

    for week_award, negative_award in zip(weekly, per_negative, strict=True):
        assert week_award.draws <= negative_award.draws
        assert week_award.draws <= PHASE.draws_max
    by_week: dict[int, set[int]] = {}
    for award, letter in zip(weekly, letters, strict=True):
        if letter == "N":
            by_week.setdefault(award.week, set()).add(award.draws)
    resets = {a.week for a in weekly if a.outcome in "PM"}
    assert all(len(levels) == 1 for week, levels in by_week.items() if week not in resets)
