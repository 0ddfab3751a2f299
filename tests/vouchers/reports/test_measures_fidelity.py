"""Weeks with the protocol's tests, the current streak, a long streak and slipping, on hand-built
histories (docs/reports.md, "Fidelity per counselor" and "Counselor view on Today").

Histories are strings of outcome letters on a Monday/Wednesday/Friday schedule from a Monday
start, so the test at position i falls in enrollment week i // 3 + 1. Nothing reads the clock.
"""

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vouchers.engine import NEGATIVE, OUTCOMES
from vouchers.reports import measures
from vouchers.reports.measures import Abstinence, Enrollment, MeasureError, Ratio, ScheduledTest

START = date(2026, 1, 5)  # a Monday
SUNDAY = START - timedelta(days=1)


def mwf_day(position: int) -> date:
    return START + timedelta(days=7 * (position // 3) + (0, 2, 4)[position % 3])


def history(letters: str, *, per_week=(3,), weeks: int | None = 12, end=None, days=None):
    days = days or [mwf_day(i) for i in range(len(letters))]
    tests = tuple(ScheduledTest(day, letter) for day, letter in zip(days, letters, strict=True))
    return Enrollment(
        start=START, weeks=weeks, tests=tests, tests_per_week=tuple(per_week), end=end
    )


def week_last(week: int) -> date:
    """The last day (a Sunday) of enrollment week `week`."""
    return START + timedelta(days=7 * week - 1)


# --- weeks with the protocol's tests ---------------------------------------------------------


@pytest.mark.parametrize(
    "enrollment, first, last, expected",
    [
        # Weeks 1 and 2 whole in the range: N N P then N M R, every day counted: 2 of 2.
        (history("NNPNMR"), START, week_last(2), Ratio(2, 2)),
        # An excused test is not counted: week 1 has 2 of its 3 tests, week 2 all 3: 1 of 2.
        (history("NENNNN"), START, week_last(2), Ratio(1, 2)),
        # Week 2 has only two tests in the record: 1 of 2.
        (history("NNNNN"), START, week_last(2), Ratio(1, 2)),
        # The range ends on Saturday of week 2: week 2 is not whole in it, only week 1 is judged.
        (history("NNNNNN"), START, week_last(2) - timedelta(days=1), Ratio(1, 1)),
        # The range starts on Tuesday of week 1: week 1 is not whole in it, week 2 is judged.
        (history("NNNNNN"), START + timedelta(days=1), week_last(2), Ratio(1, 1)),
        # A range before the start: the weeks before the enrollment are not its weeks.
        (history("NNN"), START - timedelta(days=30), week_last(1), Ratio(1, 1)),
        # A 1-week protocol: week 2 is past its weeks and not judged.
        (history("NNN", weeks=1), START, week_last(3), Ratio(1, 1)),
        # Ended on Wednesday of week 2: week 2 is not whole inside the enrollment.
        (history("NNNN", end=START + timedelta(days=9)), START, week_last(4), Ratio(1, 1)),
        # Open-ended: every whole week of the range counts; weeks 3 and 4 have nothing: 1 of 4.
        (history("NNNPP", weeks=None), START, week_last(4), Ratio(1, 4)),
        # Phases: 3 a week in week 1, then 2 a week: week 2's two tests keep it: 2 of 2.
        (
            history(
                "NNNNN", per_week=(3, 2), days=[*map(mwf_day, range(3)), mwf_day(3), mwf_day(5)]
            ),
            START,
            week_last(2),
            Ratio(2, 2),
        ),
        # Two tests on the same Monday are one test day: week 1 has 2 days, not 3.
        (
            history("NNN", days=[START, START, START + timedelta(days=2)]),
            START,
            week_last(1),
            Ratio(0, 1),
        ),
        # Tests per week unknown: no week is judged.
        (history("NNN", per_week=()), START, week_last(1), Ratio(0, 0)),
        # A range shorter than a week judges nothing.
        (history("NNN"), START, START + timedelta(days=5), Ratio(0, 0)),
    ],
)
def test_weeks_with_the_protocols_tests(enrollment, first, last, expected):
    assert measures.weeks_with_protocol_tests([enrollment], first, last) == expected


def test_weeks_over_a_set_add_up():
    one, other = history("NNNNNN"), history("NNNN")
    # 2 of 2 and 1 of 2.
    assert measures.weeks_with_protocol_tests([one, other], START, week_last(2)) == Ratio(3, 4)


def test_an_enrollment_refuses_negative_tests_per_week_and_an_end_before_its_start():
    with pytest.raises(MeasureError):
        history("N", per_week=(-1,))
    with pytest.raises(MeasureError):
        history("N", end=SUNDAY)


def test_within_keeps_the_new_fields():
    enrollment = history("NNNN", end=week_last(3))
    kept = measures.within(enrollment, START, week_last(1))
    assert (kept.tests_per_week, kept.end, len(kept.tests)) == ((3,), week_last(3), 3)


# --- current streak, long streak, slipping ----------------------------------------------------


@pytest.mark.parametrize(
    "letters, streak, long, slips",
    [
        ("", Abstinence(0, 0), False, False),
        # One negative: a streak of 1 in week 1.
        ("N", Abstinence(1, 1), False, False),
        # Three negatives in week 1: 3 tests, 1 week; not long (fewer than 4).
        ("NNN", Abstinence(3, 1), False, False),
        # After a positive, Wed and Fri of week 1 and Mon of week 2: 3 tests over 2 weeks.
        ("PNNN", Abstinence(3, 2), False, False),
        # Four negatives, Mon week 1 .. Mon week 2: 4 tests over 2 weeks: long.
        ("NNNN", Abstinence(4, 2), True, False),
        # The excused test neither breaks nor extends: N N E N N is 4 over weeks 1..2.
        ("NNENN", Abstinence(4, 2), True, False),
        # A positive at the end: no streak; one not negative is not slipping yet.
        ("NNNNNP", Abstinence(0, 0), False, False),
        # Two not negative in a row at the end: slipping (missing counts as positive).
        ("NNNPM", Abstinence(0, 0), False, True),
        # Excused between them does not separate them.
        ("NNNREA", Abstinence(0, 0), False, True),
        # Dilute then refused: slipping.
        ("DR", Abstinence(0, 0), False, True),
        # Two not negative, then a negative: recovered.
        ("PPN", Abstinence(1, 1), False, False),
        # Only excused: nothing counted.
        ("EE", Abstinence(0, 0), False, False),
    ],
)
def test_streak_long_streak_and_slipping(letters, streak, long, slips):
    enrollment = history(letters)
    assert measures.current_streak(enrollment) == streak
    assert measures.on_long_streak(enrollment) is long
    assert measures.slipping(enrollment) is slips


def test_four_negatives_in_one_week_are_not_a_long_streak():
    # A daily-testing protocol: Monday to Thursday of week 1.
    daily = history("NNNN", days=[START + timedelta(days=i) for i in range(4)])
    assert measures.current_streak(daily) == Abstinence(4, 1)
    assert not measures.on_long_streak(daily)


# --- properties -------------------------------------------------------------------------------

property_settings = settings(max_examples=200, deadline=None)


@st.composite
def records(draw) -> Enrollment:
    gaps = draw(st.lists(st.sampled_from([0, 1, 2, 3, 5, 9]), max_size=30))
    day, tests = START, []
    for gap in gaps:
        day += timedelta(days=gap)
        tests.append(ScheduledTest(day, draw(st.sampled_from([*"NNNN", *OUTCOMES]))))
    per_week = tuple(draw(st.lists(st.integers(0, 5), max_size=4)))
    weeks = draw(st.none() | st.integers(1, 20))
    end = draw(st.none() | st.integers(0, 200).map(lambda d: START + timedelta(days=d)))
    return Enrollment(
        start=START, weeks=weeks, tests=tuple(tests), tests_per_week=per_week, end=end
    )


ranges = st.tuples(st.integers(-20, 200), st.integers(0, 200)).map(
    lambda pair: (START + timedelta(days=pair[0]), START + timedelta(days=pair[0] + pair[1]))
)


@property_settings
@given(st.lists(records(), max_size=6), ranges)
def test_weeks_rate_is_a_share_and_adds_up_over_a_partition(group, range_):
    first, last = range_
    whole = measures.weeks_with_protocol_tests(group, first, last)
    assert 0 <= whole.numerator <= whole.denominator
    parts = [measures.weeks_with_protocol_tests([e], first, last) for e in group]
    assert sum(parts, Ratio(0, 0)) == whole
    # Only weeks whole inside the range are judged: cutting the tests to the range changes nothing.
    cut = [measures.within(e, first, last) for e in group]
    assert measures.weeks_with_protocol_tests(cut, first, last) == whole


@property_settings
@given(records())
def test_a_streak_is_made_of_negatives_and_never_slips(enrollment):
    streak = measures.current_streak(enrollment)
    counted = [t for t in enrollment.tests if t.outcome != "E"]
    assert streak.tests <= measures.longest_abstinence(enrollment).tests
    assert all(t.outcome == NEGATIVE for t in counted[len(counted) - streak.tests :])
    assert (streak.tests == 0) == (streak.weeks == 0)
    # A long streak ends on a negative; slipping ends on two that are not: never both.
    assert not (measures.on_long_streak(enrollment) and measures.slipping(enrollment))
