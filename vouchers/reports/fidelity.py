"""Fidelity per counselor: how each counselor's caseload was served, and what each staff member
changed by hand (issue 14; docs/reports.md, "Fidelity per counselor").

Two kinds of columns, attributed two ways:
- the record's measures (enrollments, negative samples, immediacy, late results, schedule kept,
  weeks with the protocol's tests) go to the patient's primary counselor, because the caseload is
  theirs;
- consistency (corrections, excused tests, manual ledger adjustments, waivers) goes to the staff
  member who did it, whoever's patient it was.

Every enrollment and every action is in exactly one row, so the rows add up to the clinic's
total row. A fixed number of queries whatever the number of enrollments: the record's five
(`selectors.report_enrollments`), each enrollment's counselor, the corrections, the tests excused
when recorded, the ledger's staff entries, and the staff's names.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from cmtracker.models import Clinic, Membership, User
from patients.models import Correction, Specimen
from vouchers.models import LedgerEntry
from vouchers.recording import MISSED_MARK_WITHDRAWN
from vouchers.reports import measures
from vouchers.reports.selectors import clinic_enrollments, report_enrollments

CORRECTION = "correction"
EXCUSE = "excuse"
ADJUSTMENT = "adjustment"
WAIVER = "waiver"


@dataclass(frozen=True)
class StaffAction:
    """One thing a staff member changed by hand, with their reason. `amount_cents`: what an
    adjustment moved in the balance (signed), or the overpayment a waiver forgave; 0 otherwise."""

    kind: str  # CORRECTION, EXCUSE, ADJUSTMENT or WAIVER
    at: datetime
    patient_id: int
    reason: str
    amount_cents: int = 0


@dataclass(frozen=True)
class CounselorFidelity:
    """One row: a counselor (`counselor_id`, `name`), "no counselor" (`counselor_id` None), or the
    clinic's total (`is_total`)."""

    counselor_id: int | None
    name: str
    is_total: bool
    enrollments: int
    negative_samples: measures.Ratio
    immediacy: measures.Immediacy
    late_results: measures.Ratio
    schedule_kept: measures.Ratio
    protocol_weeks: measures.Ratio
    corrections: tuple[StaffAction, ...] = field(default=())
    excused: tuple[StaffAction, ...] = field(default=())
    adjustments: tuple[StaffAction, ...] = field(default=())
    waivers: tuple[StaffAction, ...] = field(default=())


def counselor_fidelity(*, clinic: Clinic, first: date, last: date) -> list[CounselorFidelity]:
    """The clinic's fidelity over first..last: a row per counselor by name, then "no counselor"
    when some patient has none or some action names nobody, then the total.

    1. Read the enrollments that overlap the range (`clinic_enrollments`, `report_enrollments`)
       and each one's primary counselor; measure their tests of first..last. Weeks with the
       protocol's tests judge only weeks already over: through the clinic's yesterday.
    2. Read the staff's actions of first..last (clinic days): corrections and excuses, the
       ledger's adjustments and waivers.
    3. One row per counselor of the clinic, per primary counselor, and per staff member who acted.
    """
    chosen = clinic_enrollments(clinic=clinic, first=first, last=last).order_by("pk")
    records = report_enrollments(enrollments=chosen, first=first, last=last)
    counselor_of = dict(chosen.values_list("pk", "patient__primary_counselor_id"))
    yesterday = clinic.local_date(timezone.now()) - timedelta(days=1)

    actions = _staff_actions(clinic=clinic, first=first, last=last)
    staff_ids = {counselor_of.get(r.key) for r in records} | set(actions)
    people = User.objects.filter(
        Q(pk__in=staff_ids - {None})
        | Q(memberships__clinic=clinic, memberships__role=Membership.Role.COUNSELOR)
    ).distinct()
    names = {user.pk: user.get_full_name() or user.username for user in people}
    return fidelity_rows(
        records=records,
        counselor_of=counselor_of,
        actions=actions,
        names=names,
        first=first,
        weeks_last=min(last, yesterday),
    )


def fidelity_rows(
    *,
    records: list[measures.Enrollment],
    counselor_of: dict[int, int | None],
    actions: dict[int | None, list[StaffAction]],
    names: dict[int, str],
    first: date,
    weeks_last: date,
) -> list[CounselorFidelity]:
    """The rows, from what was read (pure: no database). `counselor_of` maps an enrollment's key
    to its primary counselor, `actions` a staff member (None: nobody) to what they did, `names`
    the staff to show; a staff member without a name shown is counted under "no counselor", so
    every enrollment and action is in exactly one row and the rows add up to the total."""
    caseloads: dict[int | None, list[measures.Enrollment]] = defaultdict(list)
    for record in records:
        counselor = counselor_of.get(record.key)
        caseloads[counselor if counselor in names else None].append(record)
    done_by: dict[int | None, list[StaffAction]] = defaultdict(list)
    for staff, done in actions.items():
        done_by[staff if staff in names else None].extend(done)

    def row(counselor_id, name, group, done, is_total=False):
        done = sorted(done, key=lambda a: a.at)
        return CounselorFidelity(
            counselor_id=counselor_id,
            name=name,
            is_total=is_total,
            enrollments=len(group),
            negative_samples=measures.negative_samples(group),
            immediacy=measures.immediacy(group),
            late_results=measures.late_results(group),
            schedule_kept=measures.schedule_kept(group),
            protocol_weeks=measures.weeks_with_protocol_tests(group, first, weeks_last),
            corrections=tuple(a for a in done if a.kind == CORRECTION),
            excused=tuple(a for a in done if a.kind == EXCUSE),
            adjustments=tuple(a for a in done if a.kind == ADJUSTMENT),
            waivers=tuple(a for a in done if a.kind == WAIVER),
        )

    ordered = sorted(names, key=lambda pk: (names[pk].casefold(), pk))
    rows = [row(pk, names[pk], caseloads.get(pk, []), done_by.get(pk, [])) for pk in ordered]
    if caseloads.get(None) or done_by.get(None):
        rows.append(row(None, "", caseloads.get(None, []), done_by.get(None, [])))
    every_action = [a for done in done_by.values() for a in done]
    rows.append(row(None, "", records, every_action, is_total=True))
    return rows


def _day_start(clinic: Clinic, day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=clinic.tz)


def _staff_actions(*, clinic: Clinic, first: date, last: date) -> dict[int | None, list]:
    """Each staff member's actions on the clinic's patients during the clinic days first..last,
    in the order they happened; key None: the record names nobody (a system mark, or an account
    since deleted).

    - A correction is a Correction row that does not excuse a test. A missed mark withdrawn
      because that day's result arrived (recording.MISSED_MARK_WITHDRAWN) is bookkeeping, not a
      staff decision: it is in neither count (the late result is in late results).
    - An excuse is a Correction that turned a test into excused (by changed_by, its reason), or a
      test recorded as excused and still excused that no correction excused (by recorded_by, at
      recorded_at, its notes as the reason).
    - Adjustments and waivers are the ledger's staff entries (created_by, reason).
    """
    since, until = _day_start(clinic, first), _day_start(clinic, last + timedelta(days=1))
    by_staff: dict[int | None, list[StaffAction]] = defaultdict(list)

    corrections = (
        Correction.objects.filter(changed_at__gte=since, changed_at__lt=until)
        .filter(
            Q(specimen__enrollment__patient__clinic=clinic)
            | Q(attendance__enrollment__patient__clinic=clinic)
        )
        .exclude(reason=MISSED_MARK_WITHDRAWN)
        .values(
            "changed_by_id",
            "changed_at",
            "reason",
            "specimen_id",
            "before",
            "after",
            "specimen__enrollment__patient_id",
            "attendance__enrollment__patient_id",
        )
        .order_by("changed_at", "id")
    )
    for c in corrections:
        excused = Specimen.Status.EXCUSED
        excuses = (
            c["specimen_id"] is not None
            and c["after"].get("status") == excused
            and c["before"].get("status") != excused
        )
        patient_id = (
            c["specimen__enrollment__patient_id"] or c["attendance__enrollment__patient_id"]
        )
        by_staff[c["changed_by_id"]].append(
            StaffAction(
                kind=EXCUSE if excuses else CORRECTION,
                at=c["changed_at"],
                patient_id=patient_id,
                reason=c["reason"],
            )
        )

    excused_by_correction = Correction.objects.filter(
        specimen=OuterRef("pk"), after__status=Specimen.Status.EXCUSED
    )
    excused_when_recorded = (
        Specimen.objects.filter(
            enrollment__patient__clinic=clinic,
            status=Specimen.Status.EXCUSED,
            recorded_at__gte=since,
            recorded_at__lt=until,
        )
        .exclude(Exists(excused_by_correction))
        .values("recorded_by_id", "recorded_at", "notes", "enrollment__patient_id")
        .order_by("recorded_at", "id")
    )
    for s in excused_when_recorded:
        by_staff[s["recorded_by_id"]].append(
            StaffAction(
                kind=EXCUSE,
                at=s["recorded_at"],
                patient_id=s["enrollment__patient_id"],
                reason=s["notes"],
            )
        )

    entries = (
        LedgerEntry.objects.filter(
            patient__clinic=clinic,
            kind__in=[LedgerEntry.Kind.ADJUSTMENT, LedgerEntry.Kind.WAIVER],
            created_at__gte=since,
            created_at__lt=until,
        )
        .values(
            "created_by_id",
            "created_at",
            "kind",
            "patient_id",
            "reason",
            "amount_cents",
            "overpayment_cents",
        )
        .order_by("created_at", "id")
    )
    for e in entries:
        waiver = e["kind"] == LedgerEntry.Kind.WAIVER
        by_staff[e["created_by_id"]].append(
            StaffAction(
                kind=WAIVER if waiver else ADJUSTMENT,
                at=e["created_at"],
                patient_id=e["patient_id"],
                reason=e["reason"],
                amount_cents=-e["overpayment_cents"] if waiver else e["amount_cents"],
            )
        )
    for done in by_staff.values():
        done.sort(key=lambda a: a.at)
    return dict(by_staff)
