"""engine.next_negative, table by table: what "the next negative test earns" promises, with every
rule that decides it — the bonus due, a recovered level, the phase of the day the test falls on,
a day that already earned, the protocol's last week, the enrollment cap, the year cap with what
other enrollments earned, and prize draws — and Award.next_draws / next_cents, which the
simulator and the counselor read as "what comes next", checked against that promise.

No database: protocols are engine.Rules, histories engine.Event.
"""

from dataclasses import replace
from datetime import date, timedelta

import pytest
from hypothesis import given

from tests.vouchers.test_engine_properties import histories, property_settings, protocols
from vouchers import engine
from vouchers.engine import (
    ALREADY_EARNED,
    ATTENDANCE,
    ATTENDED,
    NEGATIVE,
    OUTSIDE_WEEKS,
    PRIZE,
    PROBE,
    SPECIMEN,
    VOUCHER,
    Event,
    Phase,
    Rules,
    next_negative,
)
from vouchers.schedule import next_negative_award

START = date(2026, 1, 5)  # a Monday


def vouchers(**fields) -> Rules:
    """$2.50 rising by $1.25, no bonus, no recovery, no cap, one open-ended phase, unless told."""
    phase = {"start_cents": 250, "increment_cents": 125}
    protocol = {}
    for name, value in fields.items():
        (phase if name in Phase.__dataclass_fields__ else protocol)[name] = value
    return Rules(kind=VOUCHER, phases=(Phase(1, None, **phase),), **protocol)


def prizes(**fields) -> Rules:
    """One draw rising by one a negative up to three, one open-ended phase, unless told."""
    phase = {"draws_start": 1, "draws_increment": 1, "draws_max": 3}
    protocol = {}
    for name, value in fields.items():
        (phase if name in Phase.__dataclass_fields__ else protocol)[name] = value
    return Rules(kind=PRIZE, phases=(Phase(1, None, **phase),), **protocol)


TWO_PHASES = Rules(
    kind=VOUCHER,
    phases=(
        Phase(1, 1, start_cents=250, increment_cents=125),
        Phase(2, None, start_cents=1000, increment_cents=0, max_cents=1000),
    ),
)
# Week 1 climbs fast to $12.50; week 2 recovers the level after 2 negatives, at most $5.00.
RECOVERY_ACROSS_PHASES = Rules(
    kind=VOUCHER,
    phases=(
        Phase(1, 1, start_cents=250, increment_cents=500),
        Phase(2, None, start_cents=250, increment_cents=125, max_cents=500, recovery_after=2),
    ),
)
# Draws: week 1 from 1 up to 8, week 2 from 4, week 3 and on at most 5.
PRIZE_PHASES = Rules(
    kind=PRIZE,
    phases=(
        Phase(1, 1, draws_start=1, draws_increment=1, draws_max=8),
        Phase(2, 2, draws_start=4, draws_increment=1, draws_max=8),
        Phase(3, None, draws_start=1, draws_increment=1, draws_max=5),
    ),
)
ONE_WEEK = Rules(kind=VOUCHER, phases=(Phase(1, 1, start_cents=250, increment_cents=125),))


def history(letters: str, start: date = START) -> list[Event]:
    """One specimen a day from `start` ("NNP": negative, negative, positive)."""
    return [
        Event(f"s{i}", start + timedelta(days=i), SPECIMEN, letter)
        for i, letter in enumerate(letters)
    ]


def day(n: int) -> date:
    return START + timedelta(days=n)


# name, rules, events, the probe's day, earned elsewhere by year,
# expected (voucher, bonus, draws, clipped, day, week, note)
CASES = [
    ("the first negative pays the start value", vouchers(), [], day(0), None,
     (250, 0, 0, 0, day(0), 1, "")),
    ("each negative raises the next", vouchers(), history("NN"), day(2), None,
     (500, 0, 0, 0, day(2), 1, "")),
    ("a positive starts again from the start value", vouchers(), history("NNP"), day(3), None,
     (250, 0, 0, 0, day(3), 1, "")),
    ("the per-test maximum holds", vouchers(max_cents=400), history("NNN"), day(3), None,
     (400, 0, 0, 0, day(3), 1, "")),
    ("the bonus is due on the Nth negative in a row",
     vouchers(bonus_every=3, bonus_cents=1000), history("NN"), day(2), None,
     (500, 1000, 0, 0, day(2), 1, "")),
    ("no bonus one negative short of it",
     vouchers(bonus_every=3, bonus_cents=1000), history("N"), day(1), None,
     (375, 0, 0, 0, day(1), 1, "")),
    ("recovery restores the level before the reset",
     vouchers(recovery_after=2), history("NNNPN"), day(5), None,
     (625, 0, 0, 0, day(5), 1, "")),
    ("recovery is not due one negative early",
     vouchers(recovery_after=3), history("NNNPN"), day(5), None,
     (375, 0, 0, 0, day(5), 1, "")),
    ("recovery never restores above the phase's per-test maximum",
     RECOVERY_ACROSS_PHASES, [*history("NNP"), Event("s7", day(7), SPECIMEN, NEGATIVE)],
     day(8), None,
     (500, 0, 0, 0, day(8), 2, "")),
    ("the phase of the probe's day decides: week 1", TWO_PHASES, history("N"), day(2), None,
     (375, 0, 0, 0, day(2), 1, "")),
    ("the phase of the probe's day decides: week 2", TWO_PHASES, history("N"), day(7), None,
     (1000, 0, 0, 0, day(7), 2, "")),
    ("a day that already earned earns nothing more", vouchers(), history("N"), day(0), None,
     (0, 0, 0, 0, day(0), 1, ALREADY_EARNED)),
    ("a day that only had a positive still earns", vouchers(), history("NP"), day(1), None,
     (250, 0, 0, 0, day(1), 1, "")),
    ("after the protocol's last week nothing is earned", ONE_WEEK, history("N"), day(7), None,
     (0, 0, 0, 0, day(7), 2, OUTSIDE_WEEKS)),
    ("a day before the start is the start", vouchers(), [], START - timedelta(days=3), None,
     (250, 0, 0, 0, START, 1, "")),
    ("the enrollment cap clips the voucher", vouchers(enrollment_cap_cents=700),
     history("NN"), day(2), None,
     (75, 0, 0, 425, day(2), 1, "")),
    ("a spent enrollment cap leaves nothing", vouchers(enrollment_cap_cents=625),
     history("NN"), day(2), None,
     (0, 0, 0, 500, day(2), 1, "")),
    ("the cap clips the voucher first, then the bonus",
     vouchers(bonus_every=3, bonus_cents=1000, enrollment_cap_cents=1625),
     history("NN"), day(2), None,
     (500, 500, 0, 500, day(2), 1, "")),
    ("the year cap counts other enrollments' earnings that year",
     vouchers(year_cap_cents=1000), [], day(0), {2026: 800},
     (200, 0, 0, 50, day(0), 1, "")),
    ("other enrollments' earnings of another year do not count",
     vouchers(year_cap_cents=1000), [], day(0), {2025: 1000},
     (250, 0, 0, 0, day(0), 1, "")),
    ("the year cap counts this enrollment and the others together",
     vouchers(year_cap_cents=1000), history("NN"), day(2), {2026: 500},
     (0, 0, 0, 500, day(2), 1, "")),
    ("the smaller of the two caps wins",
     vouchers(enrollment_cap_cents=300, year_cap_cents=1000), [], day(0), {2026: 900},
     (100, 0, 0, 150, day(0), 1, "")),
    ("a prize protocol's first negative draws the start", prizes(), [], day(0), None,
     (0, 0, 1, 0, day(0), 1, "")),
    ("draws rise by the increment", prizes(), history("N"), day(1), None,
     (0, 0, 2, 0, day(1), 1, "")),
    ("draws stop at the maximum", prizes(), history("NNNN"), day(4), None,
     (0, 0, 3, 0, day(4), 1, "")),
    ("a positive resets the draws", prizes(), history("NNP"), day(3), None,
     (0, 0, 1, 0, day(3), 1, "")),
    ("the phase of the probe's day decides the draws: more", PRIZE_PHASES, history("N"), day(7),
     None, (0, 0, 4, 0, day(7), 2, "")),
    ("the phase of the probe's day decides the draws: fewer", PRIZE_PHASES, history("NNNNN"),
     day(14), None, (0, 0, 5, 0, day(14), 3, "")),
    ("the probe earns no secondary bonus draws", prizes(secondary_bonus_draws=2), [], day(0),
     None, (0, 0, 1, 0, day(0), 1, "")),
    ("prize caps do not touch draws", prizes(enrollment_cap_cents=0), history("N"), day(1),
     None, (0, 0, 2, 0, day(1), 1, "")),
]  # fmt: skip


@pytest.mark.parametrize(
    "rules, events, probe_day, elsewhere, expected",
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_the_next_negative_earns(rules, events, probe_day, elsewhere, expected):
    award = next_negative(rules, START, events, probe_day, elsewhere)

    assert (
        award.voucher_cents,
        award.bonus_cents,
        award.draws,
        award.clipped_cents,
        award.day,
        award.week,
        award.note,
    ) == expected
    assert (award.key, award.kind, award.outcome) == (PROBE, SPECIMEN, NEGATIVE)


def test_the_probe_comes_after_the_history_and_changes_nothing_in_it():
    events = history("NNP")
    before = engine.run(vouchers(), START, events)

    next_negative(vouchers(), START, events, day(3))

    assert engine.run(vouchers(), START, events) == before
    assert len(events) == 3


def test_the_streak_after_the_probe_counts_it():
    award = next_negative(vouchers(), START, history("NN"), day(2))

    assert (award.streak, award.next_cents, award.next_draws) == (3, 625, 0)


def test_an_attended_session_before_the_probe_counts_toward_the_caps():
    rules = vouchers(attendance_cents=500, enrollment_cap_cents=600)
    events = [Event("a", day(0), ATTENDANCE, ATTENDED)]

    award = next_negative(rules, START, events, day(1))

    assert (award.voucher_cents, award.clipped_cents) == (100, 150)


# --- schedule.next_negative_award: the next scheduled day, with the caps passed through --------


def test_the_next_scheduled_day_is_the_one_promised():
    # Mon/Wed/Fri; on Tuesday the next negative falls on Wednesday.
    award = next_negative_award(vouchers(), START, history("N"), day(1), weekdays=(0, 2, 4))

    assert (award.day, award.voucher_cents) == (day(2), 375)


def test_a_test_day_that_already_earned_is_skipped_for_the_next():
    award = next_negative_award(vouchers(), START, history("N"), day(0), weekdays=(0, 2, 4))

    assert (award.day, award.voucher_cents, award.note) == (day(2), 375, "")


def test_without_a_test_day_in_two_weeks_today_is_promised():
    award = next_negative_award(vouchers(), START, [], day(3), weekdays=())

    assert (award.day, award.voucher_cents) == (day(3), 250)


def test_what_other_enrollments_earned_reaches_the_promise():
    award = next_negative_award(
        vouchers(year_cap_cents=1000), START, [], day(0), (0, 2, 4), {2026: 1000}
    )

    assert (award.voucher_cents, award.clipped_cents) == (0, 250)


def test_the_year_of_the_next_test_day_decides_which_year_cap():
    # Thursday 31 December 2026 with 2026 spent: the next test day is Friday 1 January 2027.
    start = date(2026, 12, 28)
    award = next_negative_award(
        vouchers(year_cap_cents=1000),
        start,
        [],
        date(2026, 12, 31),
        (0, 2, 4),
        {2026: 1000},
    )

    assert (award.day, award.voucher_cents) == (date(2027, 1, 1), 250)


# --- what comes next, as the award says it, is what the next negative earns --------------------


def _following(rules: Rules, start: date, events: list[Event]):
    """The last award of the history and what one more negative the day after it earns, or None
    when there is no history or that day falls in another phase (or none)."""
    if not events:
        return None
    award = engine.run(rules, start, events).awards[-1]
    following_day = award.day + timedelta(days=1)
    phase = rules.phase_for(engine.enrollment_week(start, award.day))
    if phase is None or phase is not rules.phase_for(engine.enrollment_week(start, following_day)):
        return None
    return award, phase, next_negative(rules, start, events, following_day)


@property_settings
@given(protocols(), histories())
def test_next_draws_is_what_the_next_negative_draws(rules, history_):
    """Award.next_draws (cm_simulate's "next" for a prize protocol) is what one more negative on
    the following day draws, whenever that day is in the same phase. (Hypothesis ends the
    histories anywhere, so "the last award" is any award.)"""
    found = _following(rules, *history_)
    if found:
        award, _phase, following = found
        assert award.next_draws == following.draws


@property_settings
@given(protocols(), histories())
def test_next_cents_is_what_the_next_negative_pays_before_caps_and_recovery(rules, history_):
    """Award.next_cents is the voucher one more negative the following day pays, unless that
    negative is the one that recovers the earlier level (or a cap cuts it)."""
    found = _following(replace(rules, enrollment_cap_cents=None, year_cap_cents=None), *history_)
    if found and rules.kind == VOUCHER:
        award, phase, following = found
        if not (phase.recovery_after and award.streak + 1 == phase.recovery_after):
            assert award.next_cents == following.voucher_cents


def test_next_draws_follows_the_escalation_table():
    result = engine.run(prizes(), START, history("NNNNPN"))

    assert [a.next_draws for a in result.awards] == [2, 3, 3, 3, 1, 2]
    assert [a.draws for a in result.awards] == [1, 2, 3, 3, 0, 1]
