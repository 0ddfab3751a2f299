"""Settlement: make a patient's ledger match what the engine says their history earned.

Recording, correcting, the missed-test beat and the lab import all end here. Lock order,
everywhere: the patient's Wallet row first (select_for_update), then anything else. Holding the
wallet lock serialises every settlement and spend of one patient, so two requests can never both
read the same balance and both spend it.

The keys (`specimen:<id>`, `attendance:<id>`) name an event to the engine and an award back to
its source: settlement reads them to post each award against its specimen or session.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from django.db import transaction
from django.db.models import F, Sum

from cmtracker import audit
from patients.models import Enrollment
from vouchers import engine
from vouchers.ledger import earned_elsewhere_by_year, wallet_lock
from vouchers.models import LedgerEntry, Wallet, protocol_attach
from vouchers.schedule import next_negative_award

CREDIT_KIND = {
    LedgerEntry.Component.VOUCHER: LedgerEntry.Kind.EARN,
    LedgerEntry.Component.BONUS: LedgerEntry.Kind.BONUS,
    LedgerEntry.Component.ATTENDANCE: LedgerEntry.Kind.ATTENDANCE,
    LedgerEntry.Component.DRAWS: LedgerEntry.Kind.DRAWS,
}


@dataclass(frozen=True)
class Settlement:
    enrollment: Enrollment
    result: engine.Result
    posted: list[LedgerEntry]
    wallet: Wallet
    events: tuple[engine.Event, ...]  # what `result` replayed, for what comes next
    earned_elsewhere: dict[int, int]

    def award_for(self, key: str) -> engine.Award | None:
        return next((a for a in self.result.awards if a.key == key), None)

    def next_award(self, today: date) -> engine.Award:
        """What the next negative test from `today` on earns (bonus, recovery, phase and caps
        included): vouchers.schedule.next_negative_award."""
        enrollment = self.enrollment
        return next_negative_award(
            enrollment.protocol.rules(),
            enrollment.start_date,
            list(self.events),
            today,
            enrollment.weekdays,
            self.earned_elsewhere,
        )


def specimen_key(specimen_id: int) -> str:
    return f"specimen:{specimen_id}"


def attendance_key(attendance_id: int) -> str:
    return f"attendance:{attendance_id}"


def enrollment_events(enrollment: Enrollment) -> list[engine.Event]:
    """The enrollment's history in the clinic's calendar, ordered by time, then id."""
    clinic = enrollment.patient.clinic
    timed = [
        (
            s.collected_at,
            0,
            s.id,
            engine.Event(
                key=specimen_key(s.id),
                day=clinic.local_date(s.collected_at),
                kind=engine.SPECIMEN,
                outcome=s.outcome,
                secondary_negative=s.secondary_negative,
            ),
        )
        for s in enrollment.specimens.all()
    ] + [
        (
            a.occurred_at,
            1,
            a.id,
            engine.Event(
                key=attendance_key(a.id),
                day=clinic.local_date(a.occurred_at),
                kind=engine.ATTENDANCE,
                outcome=a.status,
            ),
        )
        for a in enrollment.attendance.all()
    ]
    timed.sort(key=lambda t: t[:3])
    return [t[3] for t in timed]


def enrollment_replay(
    enrollment: Enrollment, earned_elsewhere: dict[int, int]
) -> tuple[list[engine.Event], engine.Result]:
    """The enrollment's history and what the engine pays for it: what settlement posts, and what
    the reports compare the ledger with. `enrollment` has its protocol attached (its specimens
    and sessions may be prefetched); `earned_elsewhere` is `earned_elsewhere_by_year`."""
    events = enrollment_events(enrollment)
    rules = enrollment.protocol.rules()
    return events, engine.run(rules, enrollment.start_date, events, earned_elsewhere)


def awards_wanted(result: engine.Result) -> dict[tuple, int]:
    """What the engine says each (source, component, year) is worth: cents, or draws."""
    wanted: dict[tuple, int] = defaultdict(int)
    for award in result.awards:
        source, source_id = award.key.split(":")
        parts = {
            LedgerEntry.Component.VOUCHER: award.voucher_cents,
            LedgerEntry.Component.BONUS: award.bonus_cents,
            LedgerEntry.Component.ATTENDANCE: award.attendance_cents,
            LedgerEntry.Component.DRAWS: award.draws,
        }
        for component, value in parts.items():
            if value:
                wanted[(source, int(source_id), component, award.day.year)] += value
    return wanted


def awards_posted(enrollments) -> dict[int, dict[tuple, int]]:
    """What the ledger holds for each (source, component, year) of each enrollment (an
    enrollment queryset, or a list of ids), by enrollment id, in one query: cents net of
    overpayment, or draws net of those under review. What `awards_wanted` is compared with."""
    rows = (
        LedgerEntry.objects.filter(enrollment__in=enrollments)
        .exclude(component="")
        .values("enrollment_id", "specimen_id", "attendance_id", "component", "event_year")
        .annotate(
            cents=Sum(F("amount_cents") - F("overpayment_cents")),
            draws=Sum(F("draws") - F("draws_under_review")),
        )
    )
    posted: dict[int, dict[tuple, int]] = defaultdict(dict)
    for r in rows:
        source = "specimen" if r["specimen_id"] else "attendance"
        source_id = r["specimen_id"] or r["attendance_id"]
        value = r["draws"] if r["component"] == LedgerEntry.Component.DRAWS else r["cents"]
        posted[r["enrollment_id"]][(source, source_id, r["component"], r["event_year"])] = value
    return posted


def award_differences(wanted: dict[tuple, int], posted: dict[tuple, int]) -> dict[tuple, int]:
    """What settlement would post for each key (wanted - posted), the keys that differ only."""
    diffs = {k: wanted.get(k, 0) - posted.get(k, 0) for k in set(wanted) | set(posted)}
    return {k: d for k, d in diffs.items() if d}


def _settlement_entry(wallet: Wallet, enrollment: Enrollment, key: tuple, diff: int, actor):
    """One ledger entry that moves the entitlement of `key` by `diff`, updating the wallet.

    A credit first pays back any overpayment; a debit takes what the balance holds and leaves the
    rest as an overpayment (cents) or as draws for staff review (draws already made).
    """
    source, source_id, component, year = key
    entry = LedgerEntry(
        patient_id=wallet.patient_id,
        enrollment=enrollment,
        kind=CREDIT_KIND[component] if diff > 0 else LedgerEntry.Kind.REVERSAL,
        component=component,
        specimen_id=source_id if source == "specimen" else None,
        attendance_id=source_id if source == "attendance" else None,
        event_year=year,
        created_by=actor,
    )
    if component == LedgerEntry.Component.DRAWS:
        if diff > 0:
            entry.draws = diff
        else:
            entry.draws = -min(wallet.draws_available, -diff)
            entry.draws_under_review = -diff + entry.draws
        wallet.draws_available += entry.draws
        wallet.draws_under_review += entry.draws_under_review
    else:
        if diff > 0:
            recovered = min(wallet.overpayment_cents, diff)
            entry.amount_cents = diff - recovered
            entry.overpayment_cents = -recovered
        else:
            entry.amount_cents = -min(wallet.balance_cents, -diff)
            entry.overpayment_cents = -diff + entry.amount_cents
        wallet.balance_cents += entry.amount_cents
        wallet.overpayment_cents += entry.overpayment_cents
    return entry


def enrollment_settle(*, enrollment: Enrollment, actor=None) -> Settlement:
    """Make the ledger match the engine's replay of the enrollment's history.

    1. Lock the patient's wallet.
    2. Replay every specimen and attendance through the engine (with what other enrollments
       earned this year, for the year cap).
    3. Compare with what the ledger already holds per source, component and year.
    4. Post only the differences, credits before debits so a correction that moves value from one
       test to another never creates an overpayment in between; save the wallet.
    Settling again posts nothing.
    """
    with transaction.atomic():
        wallet = wallet_lock(patient=enrollment.patient)
        enrollment = protocol_attach(
            Enrollment.objects.select_related("patient__clinic").get(pk=enrollment.pk)
        )
        elsewhere = earned_elsewhere_by_year(enrollment)
        events, result = enrollment_replay(enrollment, elsewhere)
        wanted = awards_wanted(result)
        posted = awards_posted([enrollment.pk]).get(enrollment.pk, {})
        diffs = award_differences(wanted, posted)
        ordered = sorted(diffs, key=lambda k: (diffs[k] < 0, k))
        entries = [_settlement_entry(wallet, enrollment, k, diffs[k], actor) for k in ordered]
        if entries:
            audit.created(LedgerEntry.objects.bulk_create(entries))
            wallet.save()
        return Settlement(
            enrollment=enrollment,
            result=result,
            posted=entries,
            wallet=wallet,
            events=tuple(events),
            earned_elsewhere=elsewhere,
        )
