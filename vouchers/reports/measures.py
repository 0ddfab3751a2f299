"""Outcome and fidelity measures: enrollments' records in, exact numbers out (issue 14).

Pure Python on purpose, like the engine: no Django, no clock, no database. The reports read the
record and the ledger into the dataclasses below and call these functions, so docs/reports.md
and this module are the one statement of what each measure means.

Rules:
1. A scheduled test counts once, in its enrollment's order. Excused tests are left out of every
   count: they are neither negative nor not, and they neither break nor extend a run.
2. Negative means the negative letter only. Over scheduled tests, missed and refused count as not
   negative (the trials' "missing = positive"); positive, adulterated and dilute never count.
3. A submitted test is one with a result: negative, positive, adulterated or dilute (not missed,
   refused or excused).
4. A rate or a mean is a `Ratio` of two ints. Its value is an exact Fraction, None when nothing
   was counted (never 0). Ratios over a set are sums of the members' numerators and denominators,
   so the parts of a partition add up to the whole.
5. Week k of an enrollment starts 7 * (k - 1) days after its start (engine.enrollment_week).
6. Longest duration of abstinence (LDA): the longest run of consecutive negatives, in tests; in
   weeks, the most enrollment weeks any run spans, from its first test's week to its last test's
   week inclusive. No negative: 0 tests and 0 weeks.
7. Retention: the enrollment week of the last submitted test or attended session, 0 when there is
   none. An enrollment is in treatment at week w when its retention is at least w, and completes
   the protocol when its retention reaches the protocol's weeks (open-ended protocols are left
   out of completion).
8. Attendance: attended sessions / sessions not excused.
9. Median and 90th percentile are nearest-rank: the value at rank ceil(p / 100 * n) of the n
   values sorted, so always a value some record had (for an even n the median is the lower of the
   two middle values). None for no values.
10. Immediacy: over tests with a reward posted, the time from collection to posting, and the share
    posted on the clinic day of collection.
11. Late results: submitted tests with both times known, recorded more than 24 hours after
    collection (exactly 24 hours is on time).
12. Schedule kept: tests not excused and not auto-marked missed / tests not excused.
13. Weeks with the protocol's tests: enrollment weeks wholly inside the range (and the protocol's
    weeks, and the enrollment's dates) whose clinic days with a counted test are at least the
    protocol's tests per week that week / such weeks.
14. The current streak is the run of negatives at the end of the record (excused skipped), in
    tests and in the weeks it spans. A long streak is at least 4 negatives over at least 2 weeks;
    slipping is the last two counted tests both not negative.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from fractions import Fraction
from math import ceil
from typing import TypeVar

from vouchers.engine import (
    ABSENT,
    ADULTERATED,
    ATTENDED,
    DILUTE,
    EXCUSED,
    EXCUSED_SESSION,
    MISSED,
    NEGATIVE,
    OUTCOMES,
    POSITIVE,
    enrollment_week,
)

SUBMITTED = frozenset({NEGATIVE, POSITIVE, ADULTERATED, DILUTE})
SESSION_STATUSES = (ATTENDED, ABSENT, EXCUSED_SESSION)
LATE_AFTER = timedelta(hours=24)

T = TypeVar("T")


class MeasureError(ValueError):
    """A record cannot be measured; the message says why."""


@dataclass(frozen=True)
class ScheduledTest:
    """One scheduled test. `day` is the clinic day it was scheduled for (collected on, when it was).

    `reward_posted_at` / `reward_posted_day`: when the reward it earned was posted (the instant
    and its clinic day), None when it earned nothing.
    """

    day: date
    outcome: str  # an engine outcome letter
    auto_missed: bool = False  # marked missed by the missed-test round, not by staff
    collected_at: datetime | None = None
    recorded_at: datetime | None = None
    reward_posted_at: datetime | None = None
    reward_posted_day: date | None = None

    def __post_init__(self):
        if self.outcome not in OUTCOMES:
            raise MeasureError(f"unknown outcome {self.outcome!r}")
        if self.auto_missed and self.outcome not in (MISSED, EXCUSED):
            raise MeasureError("only a missed (or later excused) test can be auto-marked missed")
        if (self.reward_posted_at is None) != (self.reward_posted_day is None):
            raise MeasureError("a posted reward needs both its instant and its clinic day")
        if self.reward_posted_at is not None and self.collected_at is None:
            raise MeasureError("a posted reward needs the collection it was earned by")

    @property
    def submitted(self) -> bool:
        return self.outcome in SUBMITTED


@dataclass(frozen=True)
class Session:
    day: date
    status: str  # ATTENDED, ABSENT or EXCUSED_SESSION

    def __post_init__(self):
        if self.status not in SESSION_STATUSES:
            raise MeasureError(f"unknown session status {self.status!r}")


@dataclass(frozen=True)
class Enrollment:
    """One enrollment's record: tests in scheduled order, sessions in any order.

    `tests_per_week[k - 1]` is the protocol's tests per week in enrollment week k, the last value
    holding for every later week (empty: not known, so no week is measured); `end` is the
    enrollment's last day (None: still open); `key` is the caller's name for it (the row's id),
    which no measure reads.
    """

    start: date
    weeks: int | None  # the protocol's weeks; None: open-ended
    tests: tuple[ScheduledTest, ...] = ()
    sessions: tuple[Session, ...] = ()
    tests_per_week: tuple[int, ...] = ()
    end: date | None = None
    key: int | None = None

    def __post_init__(self):
        if self.weeks is not None and self.weeks < 1:
            raise MeasureError("a protocol lasts at least one week")
        if any(n < 0 for n in self.tests_per_week):
            raise MeasureError("tests per week cannot be negative")
        if self.end is not None and self.end < self.start:
            raise MeasureError("an enrollment cannot end before it starts")
        days = [t.day for t in self.tests]
        if days != sorted(days):
            raise MeasureError("tests must be in scheduled order")
        if any(day < self.start for day in days + [s.day for s in self.sessions]):
            raise MeasureError(f"a test or session is before the enrollment start {self.start}")


@dataclass(frozen=True)
class Ratio:
    numerator: int
    denominator: int

    @property
    def value(self) -> Fraction | None:
        return Fraction(self.numerator, self.denominator) if self.denominator else None

    def __add__(self, other: Ratio) -> Ratio:
        return Ratio(self.numerator + other.numerator, self.denominator + other.denominator)


@dataclass(frozen=True)
class Summary:
    """Per-enrollment numbers over a set: their exact mean and nearest-rank median."""

    mean: Ratio
    median: int | None


@dataclass(frozen=True)
class Abstinence:
    tests: int
    weeks: int


@dataclass(frozen=True)
class Immediacy:
    median: timedelta | None
    p90: timedelta | None
    same_day: Ratio  # rewards posted on the clinic day of collection / rewards posted


def percentile(values: Iterable[T], p: int) -> T | None:
    """Nearest rank: the value at rank ceil(p / 100 * n), 1-based, of the sorted values."""
    if not 0 <= p <= 100:
        raise MeasureError(f"a percentile is between 0 and 100, not {p}")
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, ceil(Fraction(p, 100) * len(ordered)))
    return ordered[rank - 1]


def median(values: Iterable[T]) -> T | None:
    return percentile(values, 50)


def summary(values: Iterable[int]) -> Summary:
    values = list(values)
    return Summary(mean=Ratio(sum(values), len(values)), median=median(values))


def _counted(enrollments: Iterable[Enrollment]) -> list[ScheduledTest]:
    return [t for e in enrollments for t in e.tests if t.outcome != EXCUSED]


def negative_samples(enrollments: Iterable[Enrollment]) -> Ratio:
    """Negatives / scheduled tests; missed and refused count as not negative."""
    tests = _counted(enrollments)
    return Ratio(sum(t.outcome == NEGATIVE for t in tests), len(tests))


def negative_submitted(enrollments: Iterable[Enrollment]) -> Ratio:
    """Negatives / submitted tests (missed and refused left out)."""
    tests = [t for t in _counted(enrollments) if t.submitted]
    return Ratio(sum(t.outcome == NEGATIVE for t in tests), len(tests))


def longest_abstinence(enrollment: Enrollment) -> Abstinence:
    best_tests = best_weeks = run = first_week = 0
    for test in enrollment.tests:
        if test.outcome == EXCUSED:
            continue
        if test.outcome != NEGATIVE:
            run = 0
            continue
        week = enrollment_week(enrollment.start, test.day)
        if run == 0:
            first_week = week
        run += 1
        best_tests = max(best_tests, run)
        best_weeks = max(best_weeks, week - first_week + 1)
    return Abstinence(tests=best_tests, weeks=best_weeks)


def abstinence_summary(enrollments: Iterable[Enrollment]) -> tuple[Summary, Summary]:
    """LDA over a set: (in tests, in weeks)."""
    runs = [longest_abstinence(e) for e in enrollments]
    return summary(r.tests for r in runs), summary(r.weeks for r in runs)


def retention_weeks(enrollment: Enrollment) -> int:
    attended = [t.day for t in enrollment.tests if t.submitted]
    attended += [s.day for s in enrollment.sessions if s.status == ATTENDED]
    return enrollment_week(enrollment.start, max(attended)) if attended else 0


def retention_curve(enrollments: Iterable[Enrollment], weeks: int) -> list[tuple[int, Ratio]]:
    """For weeks 1..`weeks`: enrollments in treatment at that week / every enrollment of the set."""
    retained = [retention_weeks(e) for e in enrollments]
    return [(w, Ratio(sum(r >= w for r in retained), len(retained))) for w in range(1, weeks + 1)]


def completion(enrollments: Iterable[Enrollment]) -> Ratio:
    """Enrollments retained through their protocol's last week / enrollments with a fixed length."""
    fixed = [e for e in enrollments if e.weeks is not None]
    return Ratio(sum(retention_weeks(e) >= e.weeks for e in fixed), len(fixed))


def attendance(enrollments: Iterable[Enrollment]) -> Ratio:
    sessions = [s for e in enrollments for s in e.sessions if s.status != EXCUSED_SESSION]
    return Ratio(sum(s.status == ATTENDED for s in sessions), len(sessions))


def immediacy(enrollments: Iterable[Enrollment]) -> Immediacy:
    posted = [t for e in enrollments for t in e.tests if t.reward_posted_at is not None]
    delays = [t.reward_posted_at - t.collected_at for t in posted]
    same_day = Ratio(sum(t.reward_posted_day == t.day for t in posted), len(posted))
    return Immediacy(median=median(delays), p90=percentile(delays, 90), same_day=same_day)


def late_results(enrollments: Iterable[Enrollment]) -> Ratio:
    """Submitted tests recorded more than 24 hours after collection / submitted tests timed."""
    timed = [
        t
        for e in enrollments
        for t in e.tests
        if t.submitted and t.collected_at is not None and t.recorded_at is not None
    ]
    return Ratio(sum(t.recorded_at - t.collected_at > LATE_AFTER for t in timed), len(timed))


def schedule_kept(enrollments: Iterable[Enrollment]) -> Ratio:
    """Tests recorded by staff (not auto-marked missed) / scheduled tests, excused left out."""
    tests = _counted(enrollments)
    return Ratio(sum(not t.auto_missed for t in tests), len(tests))


def within(enrollment: Enrollment, first: date, last: date) -> Enrollment:
    """The enrollment with only the tests and sessions whose day is in first..last (inclusive)."""
    return replace(
        enrollment,
        tests=tuple(t for t in enrollment.tests if first <= t.day <= last),
        sessions=tuple(s for s in enrollment.sessions if first <= s.day <= last),
    )


# --- schedule by week and streaks (fidelity per counselor, the counselor's Today panel) ---------

# A long streak: at least this many negatives in a row, spanning at least this many enrollment
# weeks. Four is one past the first bonus of the Higgins and Silverman schedules (every 3), so the
# praise is for more than the bonus the patient was just paid; at the trials' 2 or 3 tests a week it
# is about two weeks clean, and the weeks keep a daily-testing protocol from calling 4 days long.
LONG_STREAK_TESTS = 4
LONG_STREAK_WEEKS = 2
# Slipping: this many counted tests in a row at the end of the record, none negative.
SLIPPING_TESTS = 2


def week_tests_required(enrollment: Enrollment, week: int) -> int | None:
    """The protocol's tests per week in enrollment week `week`; None when not known."""
    if not enrollment.tests_per_week:
        return None
    return enrollment.tests_per_week[min(week, len(enrollment.tests_per_week)) - 1]


def measured_weeks(enrollment: Enrollment, first: date, last: date) -> list[int]:
    """The enrollment weeks that lie wholly inside first..last, inside the enrollment's dates and
    inside the protocol's weeks, and whose tests per week are known."""
    if not enrollment.tests_per_week:
        return []
    end = min(last, enrollment.end) if enrollment.end is not None else last
    weeks = []
    week = max(1, enrollment_week(enrollment.start, max(first, enrollment.start)))
    while True:
        week_first = enrollment.start + timedelta(weeks=week - 1)
        week_last = week_first + timedelta(days=6)
        if week_last > end or (enrollment.weeks is not None and week > enrollment.weeks):
            return weeks
        if week_first >= first:
            weeks.append(week)
        week += 1


def weeks_with_protocol_tests(enrollments: Iterable[Enrollment], first: date, last: date) -> Ratio:
    """Measured weeks with at least the protocol's tests / measured weeks (`measured_weeks`).

    A week's tests are its clinic days with a counted (not excused) test: a missed or refused
    test day was offered and counts; a second test the same day does not make a second one.
    The caller passes `last` no later than the clinic's yesterday, so only weeks already over
    are judged.
    """
    kept = total = 0
    for enrollment in enrollments:
        days_by_week: dict[int, set[date]] = {}
        for t in enrollment.tests:
            if t.outcome != EXCUSED:
                days_by_week.setdefault(enrollment_week(enrollment.start, t.day), set()).add(t.day)
        for week in measured_weeks(enrollment, first, last):
            total += 1
            kept += len(days_by_week.get(week, ())) >= week_tests_required(enrollment, week)
    return Ratio(kept, total)


def current_streak(enrollment: Enrollment) -> Abstinence:
    """The run of negatives that ends the record (excused tests skipped): its tests, and the
    enrollment weeks from its first test's week to its last test's week. 0 and 0 when the last
    counted test is not negative, or there is none."""
    run = [t for t in enrollment.tests if t.outcome != EXCUSED]
    count = 0
    for test in reversed(run):
        if test.outcome != NEGATIVE:
            break
        count += 1
    if not count:
        return Abstinence(tests=0, weeks=0)
    first_week = enrollment_week(enrollment.start, run[-count].day)
    last_week = enrollment_week(enrollment.start, run[-1].day)
    return Abstinence(tests=count, weeks=last_week - first_week + 1)


def on_long_streak(enrollment: Enrollment) -> bool:
    streak = current_streak(enrollment)
    return streak.tests >= LONG_STREAK_TESTS and streak.weeks >= LONG_STREAK_WEEKS


def slipping(enrollment: Enrollment) -> bool:
    """The last two counted tests (excused skipped) are both not negative: positive, missed,
    refused, adulterated or dilute (missing counts as positive)."""
    counted = [t for t in enrollment.tests if t.outcome != EXCUSED]
    last = counted[-SLIPPING_TESTS:]
    return len(last) == SLIPPING_TESTS and all(t.outcome != NEGATIVE for t in last)
