"""The dashboard's reads: one clinic's measures split into groups, and an organization's clinics
with their sum (issue 14; docs/reports.md, "The dashboard").

A clinic's page reads its enrollments once (`report_ranges`, four queries, and one more for what
each enrollment is grouped by) and splits them in Python, so a breakdown into 3 or 300 groups
costs the same queries. Every group is measured by `range_measures`, the computation of
`clinic_measures`, so a group is measured exactly as a clinic is.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import date

from django.contrib.auth import get_user_model
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from cmtracker.models import Clinic
from vouchers.models import Protocol
from vouchers.presenters import person
from vouchers.reports import measures
from vouchers.reports.selectors import (
    ClinicMeasures,
    EnrollmentRange,
    clinic_enrollments,
    range_measures,
    report_ranges,
)
from vouchers.reports.weeks import WeekRate, histogram, weekly_negative_samples

BY_NONE = ""
BY_PROTOCOL = "protocol"
BY_COUNSELOR = "counselor"
BY_COHORT = "cohort"
BREAKDOWNS = (BY_NONE, BY_PROTOCOL, BY_COUNSELOR, BY_COHORT)


@dataclass(frozen=True)
class _Facts:
    """What an enrollment is grouped by."""

    counselor_id: int | None
    start_date: date


Rows = list[tuple[_Facts, EnrollmentRange]]


def _read(chosen, clinic: Clinic, first: date, last: date) -> Rows:
    """Each enrollment as the range's measures read it (`report_ranges`) beside what it is
    grouped by, read in one more query and matched on its id (an enrollment gone between the two
    reads is left out)."""
    parts = report_ranges(enrollments=chosen, clinic=clinic, first=first, last=last)
    facts = {
        pk: _Facts(*rest)
        for pk, *rest in chosen.order_by().values_list(
            "pk",
            "patient__primary_counselor_id",
            "start_date",
        )
    }
    return [(facts[p.pk], p) for p in parts if p.pk in facts]


@dataclass(frozen=True)
class Group:
    label: str
    measures: ClinicMeasures


@dataclass(frozen=True)
class ClinicReport:
    total: ClinicMeasures
    groups: tuple[Group, ...]  # empty without a breakdown
    weekly: list[WeekRate]  # negative samples per calendar week of the range
    abstinence_weeks: list[tuple[int, int]]  # (LDA in weeks, enrollments with it), from 0


def clinic_report(*, clinic: Clinic, first: date, last: date, by: str = BY_NONE) -> ClinicReport:
    """The clinic's measures over first..last, split by `by` (one of BREAKDOWNS), with the
    weekly negative samples and the histogram of LDA in weeks of the whole clinic."""
    chosen = clinic_enrollments(clinic=clinic, first=first, last=last).order_by("pk")
    rows = _read(chosen, clinic, first, last)
    parts = [part for _facts, part in rows]
    # `ranged` holds the range's counted tests in order: what negative samples and the LDA read
    # (excused tests are in neither count).
    ranged = [part.ranged for part in parts]
    return ClinicReport(
        total=range_measures(parts),
        groups=_groups(rows, by),
        weekly=weekly_negative_samples(ranged, first, last),
        abstinence_weeks=histogram(measures.longest_abstinence(e).weeks for e in ranged),
    )


def _split(rows: Rows, key: Callable[[_Facts, EnrollmentRange], Hashable]) -> dict:
    parts = defaultdict(list)
    for facts, part in rows:
        parts[key(facts, part)].append(part)
    return parts


def _groups(rows: Rows, by: str) -> tuple[Group, ...]:
    if by == BY_PROTOCOL:
        parts = _split(rows, lambda facts, part: part.protocol_id)
        protocols = Protocol.objects.in_bulk(list(parts))
        order = sorted(parts, key=lambda pk: (protocols[pk].name, protocols[pk].version, pk))
        labels = {
            pk: _("%(name)s, version %(version)s")
            % {"name": protocols[pk].name, "version": protocols[pk].version}
            for pk in order
        }
    elif by == BY_COUNSELOR:
        parts = _split(rows, lambda facts, part: facts.counselor_id)
        counselors = get_user_model().objects.filter(pk__in=[pk for pk in parts if pk])
        labels = {user.pk: person(user) for user in counselors}
        labels[None] = _("No primary counselor")
        order = sorted(parts, key=lambda pk: (pk is None, labels[pk].casefold(), pk or 0))
    elif by == BY_COHORT:
        parts = _split(rows, lambda facts, part: facts.start_date.replace(day=1))
        order = sorted(parts)
        labels = {month: date_format(month, "YEAR_MONTH_FORMAT") for month in order}
    else:
        return ()
    return tuple(Group(labels[key], range_measures(parts[key])) for key in order)


@dataclass(frozen=True)
class OrganizationReport:
    clinics: tuple[tuple[Clinic, ClinicMeasures], ...]
    total: ClinicMeasures  # all their enrollments together: every count is the clinics' sum


def organization_report(*, clinics: list[Clinic], first: date, last: date) -> OrganizationReport:
    """Each clinic's measures over first..last (in its own days) and the organization's: the
    measures of all their enrollments at once. An enrollment is one clinic's (its patient's), so
    every rate's numerator and denominator is the sum of the clinics' (`Ratio` +), never an
    average of rates. Four queries a clinic (`report_ranges` works in one clinic's days). The
    caller passes only the clinics the reader may see (patients.permissions.report_clinics)."""
    each = [
        (
            clinic,
            report_ranges(
                enrollments=clinic_enrollments(clinic=clinic, first=first, last=last),
                clinic=clinic,
                first=first,
                last=last,
            ),
        )
        for clinic in clinics
    ]
    return OrganizationReport(
        clinics=tuple((clinic, range_measures(parts)) for clinic, parts in each),
        total=range_measures([part for _clinic, parts in each for part in parts]),
    )
