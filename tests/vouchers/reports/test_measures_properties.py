"""Properties of the measures over random sets of enrollments (docs/reports.md).

Whatever the record, a report must be able to rely on: every rate is a share or nothing, a run of
negatives is made of negatives, leaving out the misses can only raise the negative rate, a
caseload's counts add up to its clinic's, and the retention curve never rises. Every date and
instant is built from fixed dates: nothing reads the clock.
"""

from dataclasses import replace
from datetime import date, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from vouchers.engine import (
    ABSENT,
    ATTENDED,
    EXCUSED,
    EXCUSED_SESSION,
    MISSED,
    NEGATIVE,
    OUTCOMES,
    enrollment_week,
)
from vouchers.reports import measures
from vouchers.reports.measures import Enrollment, Ratio, ScheduledTest, Session

property_settings = settings(max_examples=200, deadline=None)

CURVE_WEEKS = 16

# A step of a test schedule: days since the previous test, the outcome (negatives weighted up so
# long runs come up), whether the missed-test round marked it, hours to recording and to the
# reward. Built once here: building strategies inside a composite on every example is slow.
test_steps = st.tuples(
    st.sampled_from([2, 0, 1, 3, 5, 9]),
    st.sampled_from([*"NNNNNN", *OUTCOMES]),
    st.booleans(),
    st.integers(0, 72),
    st.integers(0, 48),
)
session_steps = st.tuples(st.integers(0, 120), st.sampled_from([ATTENDED, ABSENT, EXCUSED_SESSION]))
sizes = st.integers(0, 30)


@st.composite
def enrollments(draw) -> Enrollment:
    start = date(2025, 10, 6) + timedelta(days=draw(st.integers(0, 90)))
    tests, day = [], start
    size = draw(sizes)
    for gap, outcome, auto, record_hours, reward_hours in draw(
        st.lists(test_steps, min_size=size, max_size=size)
    ):
        day += timedelta(days=gap)
        collected = datetime.combine(day, time(9)) if outcome in measures.SUBMITTED else None
        posted = collected + timedelta(hours=reward_hours) if outcome == NEGATIVE else None
        tests.append(
            ScheduledTest(
                day,
                outcome,
                auto_missed=auto and outcome in (MISSED, EXCUSED),
                collected_at=collected,
                recorded_at=collected and collected + timedelta(hours=record_hours),
                reward_posted_at=posted,
                reward_posted_day=posted and posted.date(),
            )
        )
    sessions = tuple(
        Session(start + timedelta(days=offset), status)
        for offset, status in draw(st.lists(session_steps, max_size=12))
    )
    weeks = draw(st.none() | st.integers(1, CURVE_WEEKS))
    return Enrollment(start=start, weeks=weeks, tests=tuple(tests), sessions=sessions)


enrollment_sets = st.lists(enrollments(), max_size=6)


def ratios(group: list[Enrollment]) -> dict[str, Ratio]:
    """Every measure over `group` that is a Ratio, means included, by name."""
    in_tests, in_weeks = measures.abstinence_summary(group)
    retention = measures.summary(measures.retention_weeks(e) for e in group)
    found = {
        "negative samples": measures.negative_samples(group),
        "negative submitted": measures.negative_submitted(group),
        "completion": measures.completion(group),
        "attendance": measures.attendance(group),
        "same day": measures.immediacy(group).same_day,
        "late results": measures.late_results(group),
        "schedule kept": measures.schedule_kept(group),
        "LDA tests mean": in_tests.mean,
        "LDA weeks mean": in_weeks.mean,
        "retention mean": retention.mean,
    }
    for week, share in measures.retention_curve(group, CURVE_WEEKS):
        found[f"in treatment at week {week}"] = share
    return found


def shares(group: list[Enrollment]) -> dict[str, Ratio]:
    """The ratios that are shares of something (the means are not)."""
    return {name: r for name, r in ratios(group).items() if "mean" not in name}


@property_settings
@given(enrollments())
def test_the_longest_run_is_made_of_negatives(enrollment):
    lda = measures.longest_abstinence(enrollment)
    negatives = [t for t in enrollment.tests if t.outcome == NEGATIVE]
    assert lda.tests <= len(negatives)
    assert (lda.tests == 0) == (lda.weeks == 0) == (not negatives)
    if negatives:
        spanned = enrollment_week(enrollment.start, negatives[-1].day) - enrollment_week(
            enrollment.start, negatives[0].day
        )
        assert 1 <= lda.weeks <= spanned + 1


@property_settings
@given(enrollments())
def test_excused_tests_change_no_outcome(enrollment):
    without = replace(enrollment, tests=tuple(t for t in enrollment.tests if t.outcome != EXCUSED))
    for measure in (measures.negative_samples, measures.negative_submitted, measures.schedule_kept):
        assert measure([without]) == measure([enrollment])
    assert measures.longest_abstinence(without) == measures.longest_abstinence(enrollment)


@property_settings
@given(enrollment_sets)
def test_every_rate_is_a_share_or_none(group):
    for name, share in shares(group).items():
        assert share.value is None or 0 <= share.value <= 1, name
        assert (share.value is None) == (share.denominator == 0), name


@property_settings
@given(enrollment_sets)
def test_leaving_out_the_misses_can_only_raise_the_negative_rate(group):
    scheduled = measures.negative_samples(group).value
    submitted = measures.negative_submitted(group).value
    if scheduled is not None and submitted is not None:
        assert scheduled <= submitted
    if submitted is None and scheduled is not None:
        assert scheduled == 0


@property_settings
@given(enrollment_sets, st.lists(st.integers(0, 2), min_size=6, max_size=6))
def test_the_parts_of_a_set_add_up_to_the_whole(group, labels):
    # Each enrollment goes to one of three caseloads; their counts add up to the clinic's.
    parts = [[e for e, label in zip(group, labels, strict=False) if label == p] for p in range(3)]
    whole = ratios(group)
    by_part = [ratios(part) for part in parts]
    for name, total in whole.items():
        assert sum((part[name] for part in by_part), Ratio(0, 0)) == total, name


@property_settings
@given(enrollment_sets)
def test_the_retention_curve_never_rises(group):
    curve = [share.value for _, share in measures.retention_curve(group, CURVE_WEEKS)]
    if not group:
        assert curve == [None] * CURVE_WEEKS
        return
    assert all(later <= earlier for earlier, later in zip(curve, curve[1:], strict=False))


@property_settings
@given(enrollment_sets)
def test_the_median_delay_is_never_above_the_90th_percentile(group):
    result = measures.immediacy(group)
    assert (result.median is None) == (result.p90 is None) == (result.same_day.denominator == 0)
    if result.median is not None:
        assert timedelta(0) <= result.median <= result.p90
