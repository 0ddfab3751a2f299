"""What the beat's rounds share: each clinic's clock, each protocol's rules, enrollments in chunks.

The reminders (vouchers.reminders) and the missed-test marks (vouchers.missed) both run every few
minutes over every active enrollment. Days and times are each clinic's own, in its time zone, so
a reminder at 09:00 is 09:00 on the clinic's clock on both sides of a daylight-saving change, and
a clinic's day ends when it closes, wherever the server is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from cmtracker.models import Clinic
from vouchers import engine
from vouchers.models import Protocol

# Enrollments read, and messages written, per round trip.
CHUNK = 1000


@dataclass(frozen=True)
class ClinicClock:
    """`now` on one clinic's clock."""

    clinic: Clinic
    local: datetime

    @property
    def today(self) -> date:
        return self.local.date()

    @property
    def tomorrow(self) -> date:
        return self.today + timedelta(days=1)

    @property
    def time(self) -> time:
        return self.local.time().replace(tzinfo=None)

    def at(self, day: date, wall: time) -> datetime:
        """`wall` o'clock on `day`, on the clinic's clock (zoneinfo picks the day's offset)."""
        return datetime.combine(day, wall, tzinfo=self.clinic.tz)

    @property
    def before_closing(self) -> bool:
        return self.time < self.clinic.closes_at

    @property
    def evening(self) -> bool:
        return self.time >= self.clinic.evening_reminder_at


def clinic_clocks(now: datetime) -> dict[int, ClinicClock]:
    return {c.pk: ClinicClock(c, now.astimezone(c.tz)) for c in Clinic.objects.order_by("pk")}


class ProtocolRules:
    """Each protocol's engine rules, read once per run (a protocol in use is never edited)."""

    def __init__(self):
        self.by_protocol: dict[int, engine.Rules] = {}

    def load(self, protocol_ids) -> None:
        missing = set(protocol_ids) - set(self.by_protocol)
        if missing:
            for protocol in Protocol.objects.filter(pk__in=missing).prefetch_related("phases"):
                self.by_protocol[protocol.pk] = protocol.rules()

    def __getitem__(self, protocol_id: int) -> engine.Rules:
        return self.by_protocol[protocol_id]


def enrollments_chunked(queryset):
    """The queryset (ordered by pk) a chunk at a time, by key: no OFFSET, no long transaction."""
    last = 0
    while True:
        chunk = list(queryset.filter(pk__gt=last)[:CHUNK])
        if not chunk:
            return
        yield chunk
        last = chunk[-1].pk
