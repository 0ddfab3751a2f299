"""The dashboard's reads: one clinic's measures split into groups, and an organization's clinics
with their sum (issue 14; docs/reports.md, "The dashboard").

Each page reads its enrollments once (`report_enrollment_rows`, five queries) and splits them in
Python, so a breakdown into 3 or 300 groups, or an organization of 2 or 20 clinics, costs the
same queries. Every group's figures come from `measures_of`, the computation of
`clinic_measures`, so a group is measured exactly as a clinic is.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import date
from functools import reduce
from operator import or_

from django.contrib.auth import get_user_model
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from cmtracker.models import Clinic
from patients.models import Enrollment
from vouchers.presenters import person
from vouchers.reports import measures
from vouchers.reports.selectors import (
    ClinicMeasures,
    clinic_enrollments,
    measures_of,
    report_enrollment_rows,
)
from vouchers.reports.weeks import WeekRate, histogram, weekly_negative_samples

BY_NONE = ""
BY_PROTOCOL = "protocol"
BY_COUNSELOR = "counselor"
BY_COHORT = "cohort"
BREAKDOWNS = (BY_NONE, BY_PROTOCOL, BY_COUNSELOR, BY_COHORT)

Rows = list[tuple[Enrollment, measures.Enrollment]]


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
    rows = report_enrollment_rows(enrollments=chosen)
    whole = [record for _row, record in rows]
    ranged = [measures.within(record, first, last) for record in whole]
    return ClinicReport(
        total=measures_of(whole, first, last),
        groups=_groups(rows, first, last, by),
        weekly=weekly_negative_samples(ranged, first, last),
        abstinence_weeks=histogram(measures.longest_abstinence(e).weeks for e in ranged),
    )


def _split(rows: Rows, key: Callable[[Enrollment], Hashable]) -> dict:
    parts = defaultdict(list)
    for row, record in rows:
        parts[key(row)].append(record)
    return parts


def _groups(rows: Rows, first: date, last: date, by: str) -> tuple[Group, ...]:
    if by == BY_PROTOCOL:
        protocols = {row.protocol_id: row.protocol for row, _record in rows}
        parts = _split(rows, lambda row: row.protocol_id)
        order = sorted(parts, key=lambda pk: (protocols[pk].name, protocols[pk].version, pk))
        labels = {
            pk: _("%(name)s, version %(version)s")
            % {"name": protocols[pk].name, "version": protocols[pk].version}
            for pk in order
        }
    elif by == BY_COUNSELOR:
        parts = _split(rows, lambda row: row.patient.primary_counselor_id)
        counselors = get_user_model().objects.filter(pk__in=[pk for pk in parts if pk])
        labels = {user.pk: person(user) for user in counselors}
        labels[None] = _("No primary counselor")
        order = sorted(parts, key=lambda pk: (pk is None, labels[pk].casefold(), pk or 0))
    elif by == BY_COHORT:
        parts = _split(rows, lambda row: row.start_date.replace(day=1))
        order = sorted(parts)
        labels = {month: date_format(month, "YEAR_MONTH_FORMAT") for month in order}
    else:
        return ()
    return tuple(Group(labels[key], measures_of(parts[key], first, last)) for key in order)


@dataclass(frozen=True)
class OrganizationReport:
    clinics: tuple[tuple[Clinic, ClinicMeasures], ...]
    total: ClinicMeasures  # all their enrollments together: every count is the clinics' sum


def organization_report(*, clinics: list[Clinic], first: date, last: date) -> OrganizationReport:
    """Each clinic's measures over first..last and the organization's: the measures of all
    their enrollments at once. An enrollment is one clinic's (its patient's), so every rate's
    numerator and denominator is the sum of the clinics' (`Ratio` +), never an average of rates.
    The caller passes only the clinics the reader may see (patients.permissions.report_clinics)."""
    if not clinics:
        return OrganizationReport(clinics=(), total=measures_of([], first, last))
    chosen = reduce(
        or_, (clinic_enrollments(clinic=clinic, first=first, last=last) for clinic in clinics)
    ).order_by("pk")
    rows = report_enrollment_rows(enrollments=chosen)
    parts = _split(rows, lambda row: row.patient.clinic_id)
    return OrganizationReport(
        clinics=tuple(
            (clinic, measures_of(parts.get(clinic.pk, []), first, last)) for clinic in clinics
        ),
        total=measures_of([record for _row, record in rows], first, last),
    )
