"""The quarterly payer report: the counts a state program asks a clinic for each quarter
(California's Recovery Incentives Program style), read with database aggregates
(docs/reports.md, "Quarterly payer report").

A quarter is the clinic's: its days run from midnight of its first day to midnight after its last
in the clinic's time zone, so a test collected at 23:30 on 30 September in Chicago counts in the
third quarter whatever the UTC date. A quarter in progress is counted "so far", to the clinic's
today.

Whatever the number of enrollments, tests and sessions, a report costs a fixed number of queries:
the participants (3), the tests by outcome (1), the completions (the enrollments and their
protocols, then the last attended contacts: 4 or 5), the vouchers earned (1) and what rewards gave
out (vouchers.extensions.rewards_given).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.core.exceptions import ValidationError
from django.db.models import Count, F, Max, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from cmtracker.models import Clinic
from patients.models import Attendance, Enrollment, Specimen
from vouchers import extensions
from vouchers.engine import (
    ADULTERATED,
    ATTENDED,
    DILUTE,
    EXCUSED,
    MISSED,
    NEGATIVE,
    POSITIVE,
    REFUSED,
    enrollment_week,
)
from vouchers.ledger import EARNING_COMPONENTS
from vouchers.models import LedgerEntry, protocols_attach
from vouchers.reports.measures import SUBMITTED
from vouchers.reports.selectors import clinic_enrollments

QUARTER_PATTERN = re.compile(r"^(\d{4})-Q([1-4])$")
FIRST_YEAR = 2000


@dataclass(frozen=True, order=True)
class Quarter:
    year: int
    number: int

    @classmethod
    def of(cls, day: date) -> Quarter:
        return cls(day.year, (day.month - 1) // 3 + 1)

    @classmethod
    def parse(cls, text: str) -> Quarter | None:
        """The Quarter that "2026-Q3" names; None for anything else."""
        match = QUARTER_PATTERN.match(text.strip().upper()) if isinstance(text, str) else None
        return cls(int(match[1]), int(match[2])) if match else None

    def __str__(self) -> str:
        return f"{self.year}-Q{self.number}"

    @property
    def first(self) -> date:
        return date(self.year, 3 * self.number - 2, 1)

    @property
    def last(self) -> date:
        return self.next().first - timedelta(days=1)

    def next(self) -> Quarter:
        return Quarter(self.year + self.number // 4, self.number % 4 + 1)

    def previous(self) -> Quarter:
        return Quarter(self.year - (self.number == 1), (self.number - 2) % 4 + 1)


def quarter_check(text, *, today) -> Quarter:
    """The quarter "YYYY-Qn" names, if it has begun by `today`; else a ValidationError saying
    what is wrong (the page's form and the API share it)."""
    quarter = Quarter.parse(text)
    if quarter is None:
        raise ValidationError(
            _("Give a quarter as a year and a quarter number, e.g. %(example)s.")
            % {"example": f"{Quarter.of(today)}"}
        )
    if quarter.year < FIRST_YEAR:
        raise ValidationError(_("Choose a quarter from %(year)s on.") % {"year": FIRST_YEAR})
    if quarter.first > today:
        raise ValidationError(
            _("%(quarter)s has not begun: the clinic's today is %(today)s.")
            % {"quarter": quarter, "today": today.isoformat()}
        )
    return quarter


@dataclass(frozen=True)
class SpecimenCounts:
    """The quarter's scheduled tests by outcome (the engine's letters)."""

    negative: int = 0
    positive: int = 0
    adulterated: int = 0
    dilute: int = 0
    missed: int = 0
    refused: int = 0
    excused: int = 0

    @property
    def submitted(self) -> int:
        """Tests performed: a specimen with a result (negative, positive, adulterated, dilute)."""
        return self.negative + self.positive + self.adulterated + self.dilute

    @property
    def scheduled(self) -> int:
        """Scheduled tests not excused: the negative-samples measure's denominator."""
        return self.submitted + self.missed + self.refused


@dataclass(frozen=True)
class PayerReport:
    clinic: Clinic
    quarter: Quarter
    first: date
    last: date  # the quarter's last day, or the clinic's today while it runs
    in_progress: bool
    participants_in_treatment: int
    participants_enrolled: int
    participants_active: int
    tests: SpecimenCounts
    vouchers_earned_cents: int
    prizes_won_cents: int
    redemptions_handed_over_cents: int
    prizes_claimed_cents: int
    completions: int

    @property
    def earned_cents(self) -> int:
        return self.vouchers_earned_cents + self.prizes_won_cents

    @property
    def dispensed_cents(self) -> int:
        return self.redemptions_handed_over_cents + self.prizes_claimed_cents

    def figures(self) -> list[tuple[str, int]]:
        """(name, value) of every count, in the report's order: the CSV's columns, the API's
        fields."""
        return [
            ("participants_in_treatment", self.participants_in_treatment),
            ("participants_enrolled", self.participants_enrolled),
            ("participants_active", self.participants_active),
            ("tests_scheduled", self.tests.scheduled),
            ("tests_submitted", self.tests.submitted),
            ("tests_negative", self.tests.negative),
            ("tests_positive", self.tests.positive),
            ("tests_adulterated", self.tests.adulterated),
            ("tests_dilute", self.tests.dilute),
            ("tests_missed", self.tests.missed),
            ("tests_refused", self.tests.refused),
            ("tests_excused", self.tests.excused),
            ("incentives_earned_cents", self.earned_cents),
            ("vouchers_earned_cents", self.vouchers_earned_cents),
            ("prizes_won_cents", self.prizes_won_cents),
            ("incentives_dispensed_cents", self.dispensed_cents),
            ("redemptions_handed_over_cents", self.redemptions_handed_over_cents),
            ("prizes_claimed_cents", self.prizes_claimed_cents),
            ("completions", self.completions),
        ]


def clinic_today(clinic: Clinic) -> date:
    return clinic.local_date(timezone.now())


def payer_report(
    *, clinic: Clinic, year: int, quarter: int, today: date | None = None
) -> PayerReport:
    """The clinic's counts for the quarter (docs/reports.md gives each formula).

    1. The days: the quarter's, to the clinic's today when it is in progress. A quarter that has
       not begun is refused (ValueError): the forms say so before asking.
    2. Participants: with an enrollment open on some day of it, enrolled in it, active in it.
    3. The scheduled tests of its days by outcome.
    4. Completions: enrollments whose protocol's last week was first reached in it.
    5. Incentives: vouchers posted to the ledger and prizes won in it (earned); redemptions
       handed over and prizes claimed in it (dispensed, as rewards reports them).
    """
    wanted = Quarter(year, quarter)
    today = today or clinic_today(clinic)
    if wanted.first > today:
        raise ValueError(f"{wanted} has not begun")
    first, last = wanted.first, min(wanted.last, today)
    start = datetime.combine(first, time(), tzinfo=clinic.tz)
    end = datetime.combine(last + timedelta(days=1), time(), tzinfo=clinic.tz)
    given = extensions.rewards_given(clinic=clinic, first=first, last=last)
    return PayerReport(
        clinic=clinic,
        quarter=wanted,
        first=first,
        last=last,
        in_progress=last < wanted.last,
        participants_in_treatment=_patients(
            clinic_enrollments(clinic=clinic, first=first, last=last)
        ),
        participants_enrolled=_patients(
            Enrollment.objects.filter(patient__clinic=clinic, start_date__range=(first, last))
        ),
        participants_active=_active(clinic, start, end),
        tests=_tests(clinic, start, end),
        vouchers_earned_cents=_vouchers_earned(clinic, start, end),
        prizes_won_cents=given.prizes_won_cents,
        redemptions_handed_over_cents=given.redemptions_handed_over_cents,
        prizes_claimed_cents=given.prizes_claimed_cents,
        completions=_completions(clinic, first, last, start, end),
    )


def _patients(enrollments) -> int:
    return enrollments.order_by().values("patient_id").distinct().count()


def _active(clinic: Clinic, start: datetime, end: datetime) -> int:
    """Patients with a submitted test or an attended session on a day of the range."""
    tested = Specimen.objects.filter(
        enrollment__patient__clinic=clinic,
        collected_at__gte=start,
        collected_at__lt=end,
        outcome__in=SUBMITTED,
    ).values_list("enrollment__patient_id")
    attended = Attendance.objects.filter(
        enrollment__patient__clinic=clinic,
        occurred_at__gte=start,
        occurred_at__lt=end,
        status=ATTENDED,
    ).values_list("enrollment__patient_id")
    return tested.order_by().union(attended.order_by()).count()  # UNION: each patient once


LETTERS = {
    NEGATIVE: "negative",
    POSITIVE: "positive",
    ADULTERATED: "adulterated",
    DILUTE: "dilute",
    MISSED: "missed",
    REFUSED: "refused",
    EXCUSED: "excused",
}


def _tests(clinic: Clinic, start: datetime, end: datetime) -> SpecimenCounts:
    rows = (
        Specimen.objects.filter(
            enrollment__patient__clinic=clinic, collected_at__gte=start, collected_at__lt=end
        )
        .order_by()
        .values("outcome")
        .annotate(n=Count("id"))
    )
    return SpecimenCounts(**{LETTERS[row["outcome"]]: row["n"] for row in rows})


def _vouchers_earned(clinic: Clinic, start: datetime, end: datetime) -> int:
    """What the ledger posted in the range for vouchers, bonuses and attendance, net of
    reversals and of overpayment moves (vouchers.ledger.earned_cents' sum)."""
    total = LedgerEntry.objects.filter(
        patient__clinic=clinic,
        component__in=EARNING_COMPONENTS,
        created_at__gte=start,
        created_at__lt=end,
    ).aggregate(total=Sum(F("amount_cents") - F("overpayment_cents")))["total"]
    return total or 0


def _completions(clinic: Clinic, first: date, last: date, start: datetime, end: datetime) -> int:
    """Enrollments that completed their protocol (measures.completion: an attended contact in the
    protocol's last week or later) on a day of the range: completed by its end, not before its
    start. A protocol of open-ended weeks has no completion."""
    chosen = clinic_enrollments(clinic=clinic, first=first, last=last)
    enrollments = protocols_attach(chosen.only("id", "start_date", "protocol_id"))
    weeks = {e.pk: e.protocol.rules().weeks for e in enrollments}
    latest: dict[int, dict[str, datetime | None]] = {}
    contacts = (
        (
            Specimen.objects.filter(enrollment__in=chosen.values("pk"), outcome__in=SUBMITTED),
            "collected_at",
        ),
        (
            Attendance.objects.filter(enrollment__in=chosen.values("pk"), status=ATTENDED),
            "occurred_at",
        ),
    )
    for rows, moment in contacts:
        by_enrollment = (
            rows.order_by()
            .values("enrollment_id")
            .annotate(
                before=Max(moment, filter=Q(**{f"{moment}__lt": start})),
                by_end=Max(moment, filter=Q(**{f"{moment}__lt": end})),
            )
        )
        for row in by_enrollment:
            mine = latest.setdefault(row["enrollment_id"], {"before": None, "by_end": None})
            for key in ("before", "by_end"):
                if row[key] is not None and (mine[key] is None or row[key] > mine[key]):
                    mine[key] = row[key]

    def reached(enrollment: Enrollment, moment: datetime | None) -> bool:
        week = weeks[enrollment.pk]
        return (
            week is not None
            and moment is not None
            and enrollment_week(enrollment.start_date, clinic.local_date(moment)) >= week
        )

    return sum(
        reached(e, latest.get(e.pk, {}).get("by_end"))
        and not reached(e, latest.get(e.pk, {}).get("before"))
        for e in enrollments
    )
