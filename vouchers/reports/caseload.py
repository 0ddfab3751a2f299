"""A counselor's own caseload on Today: how their patients are doing, and whom to praise or call
(issue 14; docs/reports.md, "Counselor view on Today").

The caseload is the patients whose primary counselor they are. Over the last 28 clinic days
(today and the 27 before): their negative-sample rate and immediacy. From each patient's whole
enrollment: who is on a long streak and who is slipping (`measures.on_long_streak`,
`measures.slipping`). Read with `selectors.report_enrollments` in a fixed number of queries,
whatever the number of patients or clinics.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import ClassVar

from django.db.models import QuerySet

from cmtracker.models import Clinic
from patients.models import Enrollment
from vouchers.reports import measures
from vouchers.reports.selectors import clinic_enrollments, report_enrollments

WINDOW_DAYS = 28


@dataclass(frozen=True)
class CaseloadPatient:
    patient_id: int
    name: str
    streak: measures.Abstinence  # the run of negatives that ends the record


@dataclass(frozen=True)
class Caseload:
    """One clinic's part of a counselor's caseload."""

    clinic: Clinic
    first: date  # the window's first clinic day
    last: date  # the clinic's today
    patients: int  # with an active enrollment
    negative_samples: measures.Ratio
    immediacy: measures.Immediacy
    long_streaks: tuple[CaseloadPatient, ...]  # longest streak first
    slipping: tuple[CaseloadPatient, ...]  # by name

    long_streak_tests: ClassVar[int] = measures.LONG_STREAK_TESTS
    long_streak_weeks: ClassVar[int] = measures.LONG_STREAK_WEEKS


def counselor_caseloads(*, counselor, clinics: list[Clinic], now: datetime) -> list[Caseload]:
    """The counselor's caseload at each of `clinics` where they have one, in the clinics' order.

    1. The enrollments of their patients that overlap each clinic's last 28 days
       (`clinic_enrollments`, one queryset for every clinic), read whole once
       (`report_enrollments`), with each one's patient and status (one query).
    2. The rate and immediacy over the tests of the window (`measures.within`); the streak lists
       from the whole record of the active enrollments.
    """
    windows = {c.pk: _window(c, now) for c in clinics}
    chosen: QuerySet[Enrollment] | None = None
    for clinic in clinics:
        first, last = windows[clinic.pk]
        mine = clinic_enrollments(clinic=clinic, first=first, last=last).filter(
            patient__primary_counselor=counselor
        )
        chosen = mine if chosen is None else chosen | mine
    if chosen is None:
        return []
    about = {
        pk: (clinic_id, status, patient_id, f"{first_name} {last_name}")
        for pk, clinic_id, status, patient_id, first_name, last_name in chosen.values_list(
            "pk",
            "patient__clinic_id",
            "status",
            "patient_id",
            "patient__first_name",
            "patient__last_name",
        )
    }
    if not about:
        return []
    by_clinic: dict[int, list[measures.Enrollment]] = {c.pk: [] for c in clinics}
    for record in report_enrollments(enrollments=chosen):
        if record.key in about:  # enrolled since the list was read: next time
            by_clinic[about[record.key][0]].append(record)

    caseloads = []
    for clinic in clinics:
        records = by_clinic[clinic.pk]
        if not records:
            continue
        first, last = windows[clinic.pk]
        window = [measures.within(r, first, last) for r in records]
        active = []
        for record in records:
            _clinic, status, patient_id, name = about[record.key]
            if status == Enrollment.Status.ACTIVE:
                active.append(
                    (record, CaseloadPatient(patient_id, name, measures.current_streak(record)))
                )
        caseloads.append(
            Caseload(
                clinic=clinic,
                first=first,
                last=last,
                patients=len(active),
                negative_samples=measures.negative_samples(window),
                immediacy=measures.immediacy(window),
                long_streaks=tuple(
                    sorted(
                        (p for r, p in active if measures.on_long_streak(r)),
                        key=lambda p: (-p.streak.tests, p.name.casefold(), p.patient_id),
                    )
                ),
                slipping=tuple(
                    sorted(
                        (p for r, p in active if measures.slipping(r)),
                        key=lambda p: (p.name.casefold(), p.patient_id),
                    )
                ),
            )
        )
    return caseloads


def _window(clinic: Clinic, now: datetime) -> tuple[date, date]:
    today = clinic.local_date(now)
    return today - timedelta(days=WINDOW_DAYS - 1), today
