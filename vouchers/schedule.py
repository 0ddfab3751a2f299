"""An enrollment's scheduled test days, from its protocol's tests per week.

Pure: no Django, no clock. The simulator, the demo data and the counselor's Today board share it.
"""

from collections.abc import Iterator
from datetime import date, timedelta

from vouchers import engine


def scheduled_days(rules: engine.Rules, start: date) -> Iterator[date]:
    """The scheduled test days of an enrollment starting on `start`, without end.

    Each enrollment week takes its phase's tests per week, spread evenly over the week and counted
    from the start day: from a Monday, 3 a week is Mon/Wed/Fri, 2 is Mon/Thu, 1 is Mon. Past the
    protocol's last week the last phase's rhythm continues, so extra tests still get a day (the
    engine then says they are outside the protocol's weeks).
    """
    week = 1
    while True:
        phase = rules.phase_for(week) or rules.phases[-1]
        per_week = max(1, phase.tests_per_week)
        week_start = start + timedelta(weeks=week - 1)
        for i in range(per_week):
            yield week_start + timedelta(days=i * 7 // per_week)
        week += 1


def scheduled_days_between(rules: engine.Rules, start: date, first: date, last: date) -> list[date]:
    """Scheduled test days from `first` to `last` (inclusive), within the protocol's weeks."""
    days = []
    for day in scheduled_days(rules, start):
        if day > last or (rules.weeks and engine.enrollment_week(start, day) > rules.weeks):
            break
        if day >= first:
            days.append(day)
    return days
