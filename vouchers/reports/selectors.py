"""The reports' reads: a clinic's record and ledger turned into the measures' inputs (issue 14).

docs/reports.md ("From the record") says how each input is read; vouchers/reports/measures.py
computes every measure from them. Whatever the number of enrollments, `report_enrollments` makes
five queries: the enrollments with their patients and clinics, their protocols with their phases
(`protocols_attach`, one more only if a protocol had no phase), the specimens, the first reward
posted for each specimen (one aggregate), and the sessions.

Choosing the enrollments is the caller's: start from `clinic_enrollments` and narrow it with an
ordinary filter,
- a protocol version: `.filter(protocol_id=protocol.pk)`;
- a counselor's caseload: `.filter(patient__primary_counselor=counselor)`;
- an enrollment-month cohort: `.filter(start_date__range=(month_first, month_last))`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from django.db.models import F, Min, Q, QuerySet

from cmtracker.models import Clinic
from patients.models import Attendance, Enrollment, Specimen
from vouchers.engine import EXCUSED, MISSED
from vouchers.models import LedgerEntry, protocols_attach
from vouchers.reports import measures

AUTO_MISSED_OUTCOMES = (MISSED, EXCUSED)


def clinic_enrollments(
    *, clinic: Clinic, first: date | None = None, last: date | None = None
) -> QuerySet[Enrollment]:
    """The clinic's enrollments whose dates overlap first..last (inclusive; either end open when
    None): started by `last`, and open or ended on or after `first`."""
    enrollments = Enrollment.objects.filter(patient__clinic=clinic)
    if last is not None:
        enrollments = enrollments.filter(start_date__lte=last)
    if first is not None:
        enrollments = enrollments.filter(Q(end_date__isnull=True) | Q(end_date__gte=first))
    return enrollments


def report_enrollments(
    *, enrollments: QuerySet[Enrollment], first: date | None = None, last: date | None = None
) -> list[measures.Enrollment]:
    """Each enrollment of the queryset as the measures read it, in the queryset's order.

    With `first` or `last`, only the tests and sessions of those clinic days are kept
    (`measures.within`, in Python: the queries are the same with or without a range, and retention
    needs the whole enrollment anyway; docs/reports.md).
    """
    return [
        record
        for _row, record in report_enrollment_rows(enrollments=enrollments, first=first, last=last)
    ]


def report_enrollment_rows(
    *, enrollments: QuerySet[Enrollment], first: date | None = None, last: date | None = None
) -> list[tuple[Enrollment, measures.Enrollment]]:
    """`report_enrollments`, each beside the row it was read from (with its patient, clinic and
    protocol), in the same five queries: for a caller that splits the set by protocol, caseload,
    cohort or clinic without reading it again."""
    read = list(enrollments.select_related("patient__clinic"))
    protocols_attach(read)
    # The caller's queryset again, as a subquery: no list of ids to outgrow a database's limit.
    chosen = enrollments.values("pk")
    specimens = _specimens(chosen)
    posted = _rewards_posted(chosen)
    sessions = _sessions(chosen)
    protocols = {e.protocol_id: e.protocol for e in read}
    weeks = {pk: protocol.rules().weeks for pk, protocol in protocols.items()}
    result = []
    for enrollment in read:
        clinic = enrollment.patient.clinic
        record = measures.Enrollment(
            start=enrollment.start_date,
            weeks=weeks[enrollment.protocol_id],
            tests=tuple(
                _scheduled_test(s, posted.get(s.pk), clinic) for s in specimens[enrollment.pk]
            ),
            sessions=tuple(
                measures.Session(day=clinic.local_date(a.occurred_at), status=a.status)
                for a in sessions[enrollment.pk]
            ),
        )
        if first is not None or last is not None:
            record = measures.within(record, first or date.min, last or date.max)
        result.append((enrollment, record))
    return result


def _specimens(chosen: QuerySet) -> dict[int, list[Specimen]]:
    rows = Specimen.objects.filter(enrollment__in=chosen).order_by("collected_at", "id")
    fields = ("id", "enrollment_id", "collected_at", "outcome", "recorded_at", "missed_day")
    by_enrollment = defaultdict(list)
    for specimen in rows.only(*fields):
        by_enrollment[specimen.enrollment_id].append(specimen)
    return by_enrollment


def _rewards_posted(chosen: QuerySet) -> dict[int, datetime]:
    """When each specimen's reward was first posted: its earliest ledger entry that added to what
    the patient is entitled to (cents net of overpayment, or draws). Only settlement names a
    specimen on the ledger, so these are the protocol's own awards; a later reversal (a correction)
    does not move the instant the reward reached the patient."""
    credits = LedgerEntry.objects.filter(specimen__enrollment__in=chosen).filter(
        Q(amount_cents__gt=F("overpayment_cents")) | Q(draws__gt=0)
    )
    rows = credits.order_by().values("specimen_id").annotate(first=Min("created_at"))
    return {row["specimen_id"]: row["first"] for row in rows}


def _sessions(chosen: QuerySet) -> dict[int, list[Attendance]]:
    rows = Attendance.objects.filter(enrollment__in=chosen).order_by("occurred_at", "id")
    by_enrollment = defaultdict(list)
    for attendance in rows.only("id", "enrollment_id", "occurred_at", "status"):
        by_enrollment[attendance.enrollment_id].append(attendance)
    return by_enrollment


def _scheduled_test(
    specimen: Specimen, reward_posted_at: datetime | None, clinic: Clinic
) -> measures.ScheduledTest:
    # Specimen.outcome is already the engine's letter (settlement's enrollment_events reads it
    # the same way). missed_day is written by the missed-test round only and kept when staff
    # excuse the mark, so it says "auto-marked" of an excused test too; a mark staff corrected
    # into a result (a sample keyed in late) is a result staff recorded.
    return measures.ScheduledTest(
        day=clinic.local_date(specimen.collected_at),
        outcome=specimen.outcome,
        auto_missed=specimen.missed_day is not None and specimen.outcome in AUTO_MISSED_OUTCOMES,
        collected_at=specimen.collected_at,
        recorded_at=specimen.recorded_at,
        reward_posted_at=reward_posted_at,
        reward_posted_day=clinic.local_date(reward_posted_at) if reward_posted_at else None,
    )


@dataclass(frozen=True)
class ClinicMeasures:
    """A clinic's headline measures over first..last (docs/reports.md defines each)."""

    enrollments: int
    negative_samples: measures.Ratio
    negative_submitted: measures.Ratio
    abstinence_tests: measures.Summary
    abstinence_weeks: measures.Summary
    retention: measures.Summary
    retention_curve: list[tuple[int, measures.Ratio]]
    completion: measures.Ratio
    attendance: measures.Ratio
    immediacy: measures.Immediacy
    late_results: measures.Ratio
    schedule_kept: measures.Ratio


def clinic_measures(*, clinic: Clinic, first: date, last: date) -> ClinicMeasures:
    """The headline measures of the clinic's enrollments that overlap first..last.

    1. Read each enrollment whole, once (`report_enrollments`).
    2. Retention, its curve and completion over the whole enrollments: they describe an
       enrollment's course, not a range. The curve runs to the longest fixed protocol of the set
       (or, when every protocol is open-ended, to the furthest week reached).
    3. Every other measure over the tests and sessions of first..last (`measures.within`).
    """
    chosen = clinic_enrollments(clinic=clinic, first=first, last=last)
    return measures_of(report_enrollments(enrollments=chosen), first, last)


def measures_of(whole: list[measures.Enrollment], first: date, last: date) -> ClinicMeasures:
    """The headline measures of whole enrollments already read (`clinic_measures` steps 2 and 3),
    so a page that splits one read into groups (a breakdown, the organization's clinics) computes
    each group exactly as `clinic_measures` computes a clinic. No query."""
    ranged = [measures.within(e, first, last) for e in whole]
    fixed = [e.weeks for e in whole if e.weeks is not None]
    retained = [measures.retention_weeks(e) for e in whole]
    weeks = max(fixed) if fixed else max(retained, default=0)
    abstinence_tests, abstinence_weeks = measures.abstinence_summary(ranged)
    return ClinicMeasures(
        enrollments=len(whole),
        negative_samples=measures.negative_samples(ranged),
        negative_submitted=measures.negative_submitted(ranged),
        abstinence_tests=abstinence_tests,
        abstinence_weeks=abstinence_weeks,
        retention=measures.summary(retained),
        retention_curve=measures.retention_curve(whole, weeks),
        completion=measures.completion(whole),
        attendance=measures.attendance(ranged),
        immediacy=measures.immediacy(ranged),
        late_results=measures.late_results(ranged),
        schedule_kept=measures.schedule_kept(ranged),
    )
