"""An enrollment's scheduled test days, from its protocol's tests per week and its test weekdays.

Pure: no Django, no clock. The reminders, the missed-test marking, the simulator, the demo data,
the portal and the counselor's Today board share it.

The rule: enrollment week w is the seven days from the start day + 7 * (w - 1). It offers the days
whose weekday is chosen (Monday 0 ... Sunday 6). When the week's phase asks for as many tests as
there are offered days, or more, every offered day is a test day; otherwise the tests are spread
as evenly as the offered days allow: the first offered day, then the choice whose longest wait
between two tests (counting on into the next week) is shortest; among those the one with the most
even waits (the smallest sum of squared waits); the earliest such choice on a tie.
From a Monday with every weekday offered, 3 a week is Mon/Wed/Fri, 2 is Mon/Thu, 1 is Mon; with
Mon/Wed/Fri offered, 2 a week is Mon/Fri.
"""

from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from functools import lru_cache
from itertools import combinations, count, pairwise

from vouchers import engine

EVERY_WEEKDAY = (0, 1, 2, 3, 4, 5, 6)


@lru_cache(maxsize=1024)
def _spread(offsets: tuple[int, ...], per_week: int) -> tuple[int, ...]:
    """`per_week` of the week's offered day offsets (0..6, ascending), spread evenly."""
    if per_week >= len(offsets):
        return offsets
    first, rest = offsets[0], offsets[1:]
    best, best_key = offsets, None
    for others in combinations(rest, per_week - 1):  # in lexicographic order: earliest first
        chosen = (first, *others)
        gaps = [b - a for a, b in pairwise(chosen)] + [first + 7 - chosen[-1]]
        key = (max(gaps), sum(g * g for g in gaps))
        if best_key is None or key < best_key:
            best, best_key = chosen, key
    return best


def week_days(
    rules: engine.Rules, start: date, week: int, weekdays: Iterable[int] = EVERY_WEEKDAY
) -> list[date]:
    """The test days of enrollment week `week` (1-based). Past the protocol's last week the last
    phase's rhythm continues, so a later test still has a day (the engine says it earns nothing)."""
    phase = rules.phase_for(week) or rules.phases[-1]
    per_week = max(1, phase.tests_per_week)
    week_start = start + timedelta(weeks=week - 1)
    chosen = set(weekdays)
    offsets = tuple(i for i in range(7) if (week_start.weekday() + i) % 7 in chosen)
    if not offsets:
        return []
    return [week_start + timedelta(days=i) for i in _spread(offsets, per_week)]


def scheduled_days(
    rules: engine.Rules, start: date, weekdays: Iterable[int] = EVERY_WEEKDAY
) -> Iterator[date]:
    """The scheduled test days of an enrollment starting on `start`, without end (none at all
    when no weekday is chosen)."""
    weekdays = tuple(weekdays)
    if not weekdays:
        return
    for week in count(1):
        yield from week_days(rules, start, week, weekdays)


def scheduled_days_between(
    rules: engine.Rules,
    start: date,
    first: date,
    last: date,
    weekdays: Iterable[int] = EVERY_WEEKDAY,
) -> list[date]:
    """Scheduled test days from `first` to `last` (inclusive), within the protocol's weeks.

    Only the weeks that overlap the range are computed, so asking about one day of week 50 costs
    what asking about week 1 does.
    """
    weekdays = tuple(weekdays)
    first = max(first, start)
    if last < first:
        return []
    last_week = engine.enrollment_week(start, last)
    if rules.weeks:
        last_week = min(last_week, rules.weeks)
    days = []
    for week in range(engine.enrollment_week(start, first), last_week + 1):
        days += [d for d in week_days(rules, start, week, weekdays) if first <= d <= last]
    return days


def is_test_day(
    rules: engine.Rules, start: date, day: date, weekdays: Iterable[int] = EVERY_WEEKDAY
) -> bool:
    """Whether `day` is one of the enrollment's scheduled test days."""
    return day in scheduled_days_between(rules, start, day, day, weekdays)


def next_negative_award(
    rules: engine.Rules,
    start: date,
    events: list[engine.Event],
    today: date,
    weekdays: Iterable[int] = EVERY_WEEKDAY,
    earned_elsewhere_by_year: dict[int, int] | None = None,
) -> engine.Award:
    """What "the next negative test" earns: one on the next scheduled test day from `today` on
    that can still earn (not a day that already earned), or today when no test day is planned
    in the next two weeks. The engine's own award, so bonuses, recovery and phases all count.
    """
    for day in scheduled_days_between(rules, start, today, today + timedelta(days=14), weekdays):
        award = engine.next_negative(rules, start, events, day, earned_elsewhere_by_year)
        if award.note != engine.ALREADY_EARNED:
            return award
    return engine.next_negative(rules, start, events, today, earned_elsewhere_by_year)
