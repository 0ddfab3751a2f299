"""The outcome and fidelity measures on hand-built histories (docs/reports.md defines each one).

Histories are strings of outcome letters on a Monday/Wednesday/Friday schedule from a Monday
start, so the test at position i falls in enrollment week i // 3 + 1. Every date and instant is
fixed here: nothing reads the clock, and nothing touches the database.
"""

import ast
import re
from datetime import date, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import pytest

from vouchers.engine import ABSENT, ATTENDED, EXCUSED_SESSION
from vouchers.reports import measures
from vouchers.reports.measures import (
    Abstinence,
    Enrollment,
    MeasureError,
    Ratio,
    ScheduledTest,
    Session,
)

START = date(2026, 1, 5)  # a Monday
NOON = datetime(2026, 1, 5, 12, 0)
HOUR = timedelta(hours=1)


def mwf_day(position: int) -> date:
    """Monday, Wednesday, Friday of week position // 3 + 1."""
    return START + timedelta(days=7 * (position // 3) + (0, 2, 4)[position % 3])


def history(letters: str, *, weeks: int | None = 12, sessions=()) -> Enrollment:
    tests = tuple(ScheduledTest(mwf_day(i), letter) for i, letter in enumerate(letters))
    return Enrollment(start=START, weeks=weeks, tests=tests, sessions=tuple(sessions))


def value(numerator: int, denominator: int) -> Fraction:
    return Fraction(numerator, denominator)


# --- negative samples ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "histories, over_scheduled, over_submitted",
    [
        # N N P M: 2 negatives of 4 scheduled; of the 3 submitted (N N P), 2.
        (["NNPM"], value(2, 4), value(2, 3)),
        # N E N R: the excused test is in neither count: 2 of 3 scheduled, 2 of 2 submitted.
        (["NENR"], value(2, 3), value(2, 2)),
        # Adulterated and dilute are submitted and not negative: 1 of 3 both ways.
        (["ADN"], value(1, 3), value(1, 3)),
        # Only misses: 0 of 3 scheduled, and nothing submitted to count over.
        (["MMM"], value(0, 3), None),
        # Nothing counted at all is None, never 0.
        (["EEE"], None, None),
        ([""], None, None),
        ([], None, None),
        # A set adds counts, not rates: (2 + 1) / (4 + 2) and (2 + 1) / (3 + 1).
        (["NNPM", "NR"], value(3, 6), value(3, 4)),
    ],
)
def test_negative_samples_count_missing_as_positive_and_leave_excused_out(
    histories, over_scheduled, over_submitted
):
    enrollments = [history(h) for h in histories]
    assert measures.negative_samples(enrollments).value == over_scheduled
    assert measures.negative_submitted(enrollments).value == over_submitted


def test_a_rate_keeps_its_counts():
    # N N P M R: 2 negatives over 5 scheduled, shown as counts as well as a fraction.
    assert measures.negative_samples([history("NNPMR")]) == Ratio(2, 5)
    assert measures.negative_submitted([history("NNPMR")]) == Ratio(2, 3)


# --- longest duration of abstinence ------------------------------------------------------------


@pytest.mark.parametrize(
    "letters, expected",
    [
        ("", Abstinence(tests=0, weeks=0)),
        ("MPR", Abstinence(tests=0, weeks=0)),
        # One negative is a run of 1 test within 1 week.
        ("N", Abstinence(tests=1, weeks=1)),
        # Runs of 3 (positions 0-2, all week 1) and 2 (positions 4-5, week 2): 3 tests, 1 week.
        ("NNNPNN", Abstinence(tests=3, weeks=1)),
        # Positions 1-4: weeks 1 to 2 inclusive.
        ("PNNNN", Abstinence(tests=4, weeks=2)),
        # Excused tests neither break nor extend the run: 3 negatives, positions 0-4, weeks 1-2.
        ("NENEN", Abstinence(tests=3, weeks=2)),
        # Dilute and adulterated break a run like a positive.
        ("NNDNAN", Abstinence(tests=2, weeks=1)),
        # The longest runs in tests and in weeks may differ: N N N (week 1) is 3 tests in 1 week;
        # N at position 5 (week 2), excused week 3, N at position 9 (week 4) is 2 tests spanning
        # weeks 2 to 4, which is 3 weeks.
        ("NNNPMNEEEN", Abstinence(tests=3, weeks=3)),
    ],
)
def test_longest_abstinence(letters, expected):
    assert measures.longest_abstinence(history(letters)) == expected


def test_abstinence_over_a_set_has_an_exact_mean_and_a_nearest_rank_median():
    enrollments = [history(h) for h in ("NNNPNN", "PNNNN", "NENPN", "")]
    in_tests, in_weeks = measures.abstinence_summary(enrollments)
    # Tests: 3, 4, 2, 0 -> mean 9 / 4; sorted 0 2 3 4, rank ceil(0.5 * 4) = 2 -> 2.
    assert in_tests.mean == Ratio(9, 4)
    assert in_tests.median == 2
    # Weeks: 1, 2, 1 (N E N, positions 0-2), 0 -> mean 4 / 4 = 1; sorted 0 1 1 2, rank 2 -> 1.
    assert in_weeks.mean.value == 1
    assert in_weeks.median == 1


def test_abstinence_over_no_enrollments_is_none():
    in_tests, in_weeks = measures.abstinence_summary([])
    assert (in_tests.mean.value, in_tests.median, in_weeks.median) == (None, None, None)


# --- nearest-rank percentiles ------------------------------------------------------------------


@pytest.mark.parametrize(
    "values, p, expected",
    [
        ([], 50, None),
        ([5], 50, 5),
        ([5], 90, 5),
        # Even count: rank ceil(0.5 * 2) = 1, the lower middle value, never an average.
        ([2, 1], 50, 1),
        # 1..10: the 50th is rank 5, the 90th rank 9.
        (list(range(10, 0, -1)), 50, 5),
        (list(range(1, 11)), 90, 9),
        # 1..11: the 90th is rank ceil(9.9) = 10.
        (list(range(1, 12)), 90, 10),
        (list(range(1, 12)), 100, 11),
        (list(range(1, 12)), 0, 1),
    ],
)
def test_percentile_is_nearest_rank(values, p, expected):
    assert measures.percentile(values, p) == expected


# --- retention ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "letters, sessions, weeks",
    [
        ("", (), 0),
        # Nothing attended: misses, refusals and excused tests are not attendance.
        ("MMRE", (), 0),
        # The last submitted test is the P at position 2 (week 1); the miss after it is not.
        ("NNPM", (), 1),
        # Position 6 is Monday of week 3.
        ("MMMMMMN", (), 3),
        # An attended session on day 15 (week 3) counts; an absence on day 30 does not.
        ("NNPM", ((15, ATTENDED), (30, ABSENT)), 3),
        # Sessions only, in any order: the latest attended, day 7, is week 2.
        ("", ((7, ATTENDED), (1, ATTENDED), (20, EXCUSED_SESSION)), 2),
    ],
)
def test_retention_weeks_run_to_the_last_attended_test_or_session(letters, sessions, weeks):
    attended = [Session(START + timedelta(days=d), status) for d, status in sessions]
    assert measures.retention_weeks(history(letters, sessions=attended)) == weeks


def test_the_retention_curve_counts_every_enrollment_at_every_week():
    # Retention weeks 3, 1, 0 and 5 (positions 6, 0, none, 12).
    enrollments = [history(h) for h in ("MMMMMMN", "N", "MR", "MMMMMMMMMMMMP")]
    assert [measures.retention_weeks(e) for e in enrollments] == [3, 1, 0, 5]
    assert measures.retention_curve(enrollments, 4) == [
        (1, Ratio(3, 4)),  # 3, 1, 5
        (2, Ratio(2, 4)),  # 3, 5
        (3, Ratio(2, 4)),
        (4, Ratio(1, 4)),  # 5
    ]
    assert measures.retention_curve([], 2) == [(1, Ratio(0, 0)), (2, Ratio(0, 0))]


def test_completion_counts_enrollments_retained_through_their_protocols_weeks():
    enrollments = [
        history("MMMMMMN", weeks=3),  # retained through week 3 of 3: complete
        history("MMMMMMN", weeks=4),  # week 3 of 4: not
        history("MMMMMMMMMMMMP", weeks=4),  # week 5, past its 4: complete
        history("NNN", weeks=None),  # open-ended: left out of both counts
    ]
    assert measures.completion(enrollments) == Ratio(2, 3)
    assert measures.completion([history("N", weeks=None)]).value is None


# --- attendance --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "statuses, expected",
    [
        # Attended, absent, attended; the excused session is in neither count: 2 / 3.
        ((ATTENDED, ABSENT, EXCUSED_SESSION, ATTENDED), value(2, 3)),
        ((ABSENT,), value(0, 1)),
        ((EXCUSED_SESSION,), None),
        ((), None),
    ],
)
def test_attendance_is_sessions_attended_over_those_not_excused(statuses, expected):
    sessions = [Session(START + timedelta(days=i), s) for i, s in enumerate(statuses)]
    assert measures.attendance([history("", sessions=sessions)]).value == expected


# --- immediacy and late results ----------------------------------------------------------------


def rewarded(position: int, *, delay: timedelta, next_day: bool = False) -> ScheduledTest:
    day = mwf_day(position)
    collected = datetime.combine(day, NOON.time())
    return ScheduledTest(
        day,
        "N",
        collected_at=collected,
        recorded_at=collected,
        reward_posted_at=collected + delay,
        reward_posted_day=day + timedelta(days=1) if next_day else day,
    )


def test_immediacy_runs_from_collection_to_the_reward_posted():
    tests = (
        rewarded(0, delay=2 * HOUR),
        ScheduledTest(mwf_day(1), "P"),  # earned nothing: not in immediacy
        rewarded(2, delay=HOUR),
        rewarded(3, delay=30 * HOUR, next_day=True),
        rewarded(4, delay=3 * HOUR),
    )
    result = measures.immediacy([Enrollment(START, 12, tests)])
    # Delays sorted 1 h, 2 h, 3 h, 30 h: median rank ceil(2) = 2 -> 2 h; 90th rank ceil(3.6) = 4.
    assert result.median == 2 * HOUR
    assert result.p90 == 30 * HOUR
    # 3 of the 4 rewards were posted on the clinic day of collection.
    assert result.same_day == Ratio(3, 4)


def test_immediacy_without_rewards_is_none():
    result = measures.immediacy([history("NPM")])
    assert (result.median, result.p90, result.same_day.value) == (None, None, None)


def test_a_result_is_late_only_more_than_24_hours_after_collection():
    def timed(position, outcome, after):
        day = mwf_day(position)
        collected = datetime.combine(day, NOON.time())
        return ScheduledTest(day, outcome, collected_at=collected, recorded_at=collected + after)

    tests = (
        timed(0, "N", timedelta(hours=24)),  # exactly a day: on time
        timed(1, "P", timedelta(hours=24, seconds=1)),  # late
        timed(2, "D", 2 * HOUR),  # on time
        timed(3, "R", 48 * HOUR),  # refused: no result, not counted
        ScheduledTest(mwf_day(4), "N"),  # times unknown: not counted
        ScheduledTest(mwf_day(5), "M", auto_missed=True),
    )
    # 1 late of the 3 submitted tests with both times.
    assert measures.late_results([Enrollment(START, 12, tests)]) == Ratio(1, 3)


def test_schedule_kept_counts_tests_not_auto_marked_missed():
    tests = (
        ScheduledTest(mwf_day(0), "N"),
        ScheduledTest(mwf_day(1), "M", auto_missed=True),  # the round marked it: not kept
        ScheduledTest(mwf_day(2), "M"),  # staff recorded the miss: kept
        ScheduledTest(mwf_day(3), "E", auto_missed=True),  # excused: in neither count
        ScheduledTest(mwf_day(4), "R"),
    )
    # N, staff M, R of the 4 not excused.
    assert measures.schedule_kept([Enrollment(START, 12, tests)]) == Ratio(3, 4)
    assert measures.schedule_kept([]).value is None


# --- a date range and bad records --------------------------------------------------------------


def test_within_keeps_the_tests_and_sessions_of_a_range():
    enrollment = history("NPNNPN", sessions=[Session(START, ATTENDED), Session(mwf_day(4), ABSENT)])
    # Week 2 only: positions 3-5 (N P N) and the absence on position 4's day.
    week_two = measures.within(enrollment, START + timedelta(days=7), START + timedelta(days=13))
    assert [t.outcome for t in week_two.tests] == ["N", "P", "N"]
    assert week_two.sessions == (Session(mwf_day(4), ABSENT),)
    assert (week_two.start, week_two.weeks) == (START, 12)


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: ScheduledTest(START, "X"), "unknown outcome 'X'"),
        (lambda: ScheduledTest(START, "N", auto_missed=True), "only a missed"),
        (
            lambda: ScheduledTest(START, "N", collected_at=NOON, reward_posted_at=NOON),
            "both its instant and its clinic day",
        ),
        (
            lambda: ScheduledTest(START, "N", reward_posted_at=NOON, reward_posted_day=START),
            "the collection it was earned by",
        ),
        (lambda: Session(START, "late"), "unknown session status 'late'"),
        (lambda: Enrollment(START, 0), "at least one week"),
        (lambda: measures.percentile([1], 101), "between 0 and 100, not 101"),
        (
            lambda: Enrollment(START, 12, tuple(reversed(history("NN").tests))),
            "scheduled order",
        ),
        (
            lambda: Enrollment(START, 12, (ScheduledTest(START - timedelta(days=1), "N"),)),
            "before the enrollment start 2026-01-05",
        ),
        (
            lambda: Enrollment(START, 12, sessions=(Session(START - timedelta(days=1), ATTENDED),)),
            "before the enrollment start",
        ),
    ],
)
def test_a_record_that_cannot_be_measured_is_refused(build, message):
    with pytest.raises(MeasureError, match=message):
        build()


def test_the_measures_module_imports_no_django_and_reads_no_clock():
    source = Path(measures.__file__).read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module)
    allowed = {"__future__", "collections.abc", "dataclasses", "datetime", "fractions", "math"}
    assert imported <= allowed | {"typing", "vouchers.engine"}
    assert not re.search(r"\.(now|today|utcnow)\(|\btime\.time\(", source)
