"""The de-identified research export: one row per scheduled test, no name, contact detail, record
number or date (docs/reports.md, "Exports").

- **participant**: a pseudonym of the enrollment, HMAC-SHA256 keyed by the installation's secret
  (`pseudonym`). The same enrollment gets the same id in every export of one installation; another
  installation (another key) gives unrelated ids, and without the key an id cannot be traced back.
- **protocol**, **protocol_version**: the protocol's slug and version number.
- **week**, **weekday**: the enrollment week of the test's clinic day (week 1 starts on the
  enrollment date, engine.enrollment_week) and that day's weekday. No calendar date is written.
- **outcome**: the engine's outcome as a word (negative, positive, missed, refused, adulterated,
  dilute, excused).
- **reward_cents**, **reward_draws**: what the test earns now, from the ledger: the voucher and
  bonus entries naming the specimen, net of reversals and of overpayment moves (cents), and the
  draws entries' draws. The value of a prize drawn is not here: a draw's slip is random and made
  later, not the test's reward.

Rows come grouped by enrollment, in the order of collection. Two queries whatever the number of
rows: the protocols' slugs and versions, and the tests themselves (streamed, each with its reward
summed by a subquery).
"""

from __future__ import annotations

from collections.abc import Iterator

from django.conf import settings
from django.db.models import F, IntegerField, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils.crypto import salted_hmac

from cmtracker.models import Clinic
from patients.models import Enrollment, Specimen
from vouchers.engine import enrollment_week
from vouchers.models import LedgerEntry, Protocol
from vouchers.reports.exports import CHUNK

# The HMAC key is SHA-256(SALT + secret) (Django's salted_hmac), so the same secret used for
# anything else (SECRET_KEY, when RESEARCH_EXPORT_KEY is unset) gives unrelated values here.
SALT = "cmtracker.reports.research.participant"

HEADER = [
    "participant",
    "protocol",
    "protocol_version",
    "week",
    "weekday",
    "outcome",
    "reward_cents",
    "reward_draws",
]

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
OUTCOMES = {outcome.value: outcome.name.lower() for outcome in Specimen.Outcome}


def research_secret() -> str:
    """RESEARCH_EXPORT_KEY, or when it is unset, SECRET_KEY (through the salt above)."""
    return settings.RESEARCH_EXPORT_KEY or settings.SECRET_KEY


def pseudonym(enrollment_id: int, *, secret: str | None = None) -> str:
    """The enrollment's participant id: 64 hex digits of HMAC-SHA256."""
    return salted_hmac(
        SALT, f"enrollment:{enrollment_id}", secret=secret or research_secret(), algorithm="sha256"
    ).hexdigest()


def _reward(component_filter: dict, total) -> Coalesce:
    entries = (
        LedgerEntry.objects.filter(specimen=OuterRef("pk"), **component_filter)
        .order_by()
        .values("specimen")
        .annotate(total=total)
        .values("total")
    )
    return Coalesce(Subquery(entries, output_field=IntegerField()), Value(0))


def research_rows(*, clinic: Clinic) -> Iterator[list]:
    """The clinic's scheduled tests as research rows (HEADER), streamed."""
    secret = research_secret()
    protocols = dict(
        (pk, (slug, version))
        for pk, slug, version in Protocol.objects.filter(
            pk__in=Enrollment.objects.filter(patient__clinic=clinic).values("protocol_id")
        ).values_list("pk", "slug", "version")
    )
    tests = (
        Specimen.objects.filter(enrollment__patient__clinic=clinic)
        .annotate(
            reward_cents=_reward(
                {
                    "component__in": (
                        LedgerEntry.Component.VOUCHER,
                        LedgerEntry.Component.BONUS,
                    )
                },
                Sum(F("amount_cents") - F("overpayment_cents")),
            ),
            reward_draws=_reward({"component": LedgerEntry.Component.DRAWS}, Sum("draws")),
        )
        .order_by("enrollment_id", "collected_at", "id")
        .values_list(
            "enrollment_id",
            "enrollment__start_date",
            "enrollment__protocol_id",
            "collected_at",
            "outcome",
            "reward_cents",
            "reward_draws",
        )
    )
    ids: dict[int, str] = {}
    for enrollment_id, start, protocol_id, collected_at, outcome, cents, draws in tests.iterator(
        chunk_size=CHUNK
    ):
        if enrollment_id not in ids:
            ids = {enrollment_id: pseudonym(enrollment_id, secret=secret)}  # rows come grouped
        day = clinic.local_date(collected_at)
        slug, version = protocols[protocol_id]
        yield [
            ids[enrollment_id],
            slug,
            version,
            enrollment_week(start, day),
            WEEKDAYS[day.weekday()],
            OUTCOMES[outcome],
            cents,
            draws,
        ]
