"""Show what a protocol pays for a sequence of test outcomes, without touching any patient.

    python manage.py cm_simulate --protocol higgins-1994 --outcomes "NNNNNP NNNNN" [--json]

It runs the same engine settlement runs (vouchers.engine.run), so a clinic can check a protocol
version against its published figures before enrolling anyone. Nothing is written.
"""

from __future__ import annotations

import argparse
import json
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from patients.models import Specimen
from vouchers import engine
from vouchers.award_notes import award_note
from vouchers.models import Protocol
from vouchers.schedule import scheduled_days

# A fixed Monday, so the output never depends on today's date.
DEFAULT_START = date(2025, 1, 6)


def dollars(cents: int) -> str:
    """Integer cents as "$1,234.50" (no float ever touches the money)."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}${whole:,}.{part:02d}"


def draws_text(draws: int) -> str:
    return f"{draws} draw" if draws == 1 else f"{draws} draws"


def outcomes_parse(text: str) -> list[str]:
    """The outcome letters of `text`, upper-cased, whitespace ignored; a clear error otherwise."""
    letters = [c.upper() for c in text if not c.isspace()]
    for position, letter in enumerate(letters, start=1):
        if letter not in engine.OUTCOMES:
            raise CommandError(
                f"unknown outcome letter {letter!r} at position {position}; "
                f"use {' '.join(engine.OUTCOMES)}"
            )
    if not letters:
        raise CommandError(f"give at least one outcome letter ({' '.join(engine.OUTCOMES)})")
    return letters


def protocol_current(slug: str) -> Protocol:
    protocol = (
        Protocol.objects.filter(slug=slug, is_current=True).prefetch_related("phases").first()
    )
    if protocol is None:
        known = Protocol.objects.filter(is_current=True).order_by("slug")
        names = ", ".join(known.values_list("slug", flat=True)) or "none"
        raise CommandError(f"unknown protocol {slug!r}; known: {names}")
    return protocol


def simulate(protocol: Protocol, letters: list[str], start: date) -> engine.Result:
    rules = protocol.rules()
    events = [
        engine.Event(key=f"test:{n}", day=day, kind=engine.SPECIMEN, outcome=letter)
        for n, (letter, day) in enumerate(
            zip(letters, scheduled_days(rules, start), strict=False), start=1
        )
    ]
    return engine.run(rules, start, events)


def iso_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date like 2025-01-06") from None


class Command(BaseCommand):
    help = (
        "Run a protocol's current version over a sequence of test outcomes "
        "(N P M R A D E) and show what each test pays. Writes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--protocol", required=True, metavar="SLUG")
        parser.add_argument(
            "--outcomes",
            required=True,
            metavar="SEQ",
            help="N negative, P positive, M missed, R refused, A adulterated, D dilute, "
            "E excused; whitespace is ignored",
        )
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.add_argument(
            "--start",
            type=iso_date,
            default=DEFAULT_START,
            metavar="YYYY-MM-DD",
            help=f"enrollment start (default {DEFAULT_START.isoformat()}, a Monday)",
        )

    def handle(self, *args, **options):
        letters = outcomes_parse(options["outcomes"])
        protocol = protocol_current(options["protocol"])
        try:
            result = simulate(protocol, letters, options["start"])
        except engine.RuleError as error:
            raise CommandError(f"protocol {protocol.slug!r} cannot be run: {error}") from None
        if options["json"]:
            self.stdout.write(json.dumps(as_json(protocol, result)))
        else:
            self.stdout.write(as_table(protocol, result))


def as_json(protocol: Protocol, result: engine.Result) -> dict:
    data = {
        "protocol": protocol.slug,
        "awards": [
            {
                "n": n,
                "outcome": award.outcome,
                "voucher_cents": award.voucher_cents,
                "bonus_cents": award.bonus_cents,
                "draws": award.draws,
                "streak": award.streak,
                "next_cents": award.next_cents,
                "clipped_cents": award.clipped_cents,
            }
            for n, award in enumerate(result.awards, start=1)
        ],
        "total_cents": result.total_cents,
    }
    if protocol.kind == Protocol.Kind.PRIZE:
        data["expected_cents"] = protocol.rules().expected_cents(result.total_draws)
    return data


TABLE_COLUMNS = "n date week outcome voucher bonus draws streak next clipped".split()


def as_table(protocol: Protocol, result: engine.Result) -> str:
    prize = protocol.kind == Protocol.Kind.PRIZE
    rows = []
    for n, award in enumerate(result.awards, start=1):
        rows.append(
            [
                str(n),
                award.day.isoformat(),
                str(award.week),
                str(Specimen.Outcome(award.outcome).label),
                dollars(award.voucher_cents),
                dollars(award.bonus_cents),
                str(award.draws),
                str(award.streak),
                # A prize protocol's next reward is a number of draws, not money.
                draws_text(award.next_draws) if prize else dollars(award.next_cents),
                dollars(award.clipped_cents),
                award_note(award.note),
            ]
        )
    header = [*TABLE_COLUMNS, ""]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    left = {1, 3, len(header) - 1}  # date, outcome and note read left to right

    def line(cells):
        return "  ".join(
            c.ljust(w) if i in left else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    lines = [f"{protocol} — {len(rows)} tests", line(header), *map(line, rows)]
    if prize:
        draws = result.total_draws
        expected = protocol.rules().expected_cents(draws)
        lines.append(f"Total: {draws_text(draws)}, expected value {dollars(expected)}")
    else:
        clipped = sum(a.clipped_cents for a in result.awards)
        total = f"Total: {dollars(result.total_cents)}"
        lines.append(total + (f" ({dollars(clipped)} clipped by caps)" if clipped else ""))
    return "\n".join(lines)
