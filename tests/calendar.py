"""Test-day calendars shared by the engine, preset and settlement tests."""

from datetime import date, timedelta

MONDAY = date(2026, 1, 5)
MON_WED_FRI = (0, 2, 4)
MON_THU = (0, 3)


def collection_days(count: int, start: date = MONDAY, weekdays=MON_WED_FRI) -> list[date]:
    """`count` test days from a Monday start, spread Mon/Wed/Fri (or over the weekdays given)."""
    days = []
    week = 0
    while len(days) < count:
        days.extend(start + timedelta(weeks=week, days=d) for d in weekdays)
        week += 1
    return days[:count]
