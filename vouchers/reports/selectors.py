"""The reports' reads: a clinic's record and ledger turned into the measures' inputs (issue 14).

docs/reports.md ("From the record") says how each input is read; vouchers/reports/measures.py
computes every measure from them. Whatever the number of enrollments, `report_enrollments` makes
five queries: the enrollments with their patients and clinics, their protocols with their phases
(`protocols_attach`, one more only if a protocol had no phase), the specimens, the first reward
posted for each specimen (one aggregate), and the sessions. It reads every enrollment whole;
for the measures of a range, `report_ranges` reads only the range's tests, in four queries, and
`range_measures` sums any set of what it read (a clinic, a protocol, a caseload, a cohort):
`clinic_measures` at 10,000 enrollments takes seconds where reading whole histories takes a
minute (docs/performance.md, "Reports at scale").

Choosing the enrollments is the caller's: start from `clinic_enrollments` and narrow it with an
ordinary filter,
- a protocol version: `.filter(protocol_id=protocol.pk)`;
- a counselor's caseload: `.filter(patient__primary_counselor=counselor)`;
- an enrollment-month cohort: `.filter(start_date__range=(month_first, month_last))`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from django.db.models import (
    BooleanField,
    Count,
    DateField,
    DurationField,
    ExpressionWrapper,
    F,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Cast, TruncDate

from cmtracker.models import Clinic
from patients.models import Attendance, Enrollment, Specimen
from vouchers import engine
from vouchers.engine import ATTENDED, EXCUSED, EXCUSED_SESSION, MISSED, NEGATIVE
from vouchers.models import LedgerEntry, protocols_attach
from vouchers.reports import measures
from vouchers.reports.measures import Ratio

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
    read = list(enrollments.select_related("patient__clinic"))
    protocols_attach(read)
    # The caller's queryset again, as a subquery: no list of ids to outgrow a database's limit.
    chosen = enrollments.values("pk")
    specimens = _specimens(chosen)
    posted = _rewards_posted(chosen)
    sessions = _sessions(chosen)
    protocols = {e.protocol_id: e.protocol for e in read}
    rules = {pk: protocol.rules() for pk, protocol in protocols.items()}
    weeks = {pk: r.weeks for pk, r in rules.items()}
    per_week = {pk: _tests_per_week(r) for pk, r in rules.items()}
    days = _ClinicDays()
    result = []
    for enrollment in read:
        local_date = days.of(enrollment.patient.clinic)
        record = measures.Enrollment(
            start=enrollment.start_date,
            weeks=weeks[enrollment.protocol_id],
            tests_per_week=per_week[enrollment.protocol_id],
            end=enrollment.end_date,
            key=enrollment.pk,
            tests=tuple(
                _scheduled_test(row, posted.get(row[0]), local_date)
                for row in specimens[enrollment.pk]
            ),
            sessions=tuple(
                measures.Session(day=local_date(occurred_at), status=status)
                for occurred_at, status in sessions[enrollment.pk]
            ),
        )
        if first is not None or last is not None:
            record = measures.within(record, first or date.min, last or date.max)
        result.append(record)
    return result


def _tests_per_week(rules: engine.Rules) -> tuple[int, ...]:
    """The protocol's tests per week for weeks 1, 2, ... up to its last phase's first week (the
    last value holds on). As the schedule reads them (vouchers.schedule.week_days): a week no
    phase covers takes the last phase's rhythm, and every week has at least one test."""
    through = max(p.first_week for p in rules.phases)
    return tuple(
        max(1, (rules.phase_for(week) or rules.phases[-1]).tests_per_week)
        for week in range(1, through + 1)
    )


class _ClinicDays:
    """Clinic days of instants, one ZoneInfo per clinic (not one lookup per row)."""

    def __init__(self):
        self._zones: dict[str, tzinfo] = {}

    def of(self, clinic: Clinic):
        zone = self._zones.setdefault(clinic.time_zone, clinic.tz)
        return lambda moment: moment.astimezone(zone).date()


# A specimen as the reads carry it: (id, collected_at, outcome, recorded_at, missed_day).
SpecimenRow = tuple[int, datetime, str, datetime, date | None]


def _specimens(chosen: QuerySet) -> dict[int, list[SpecimenRow]]:
    rows = Specimen.objects.filter(enrollment__in=chosen).order_by("collected_at", "id")
    fields = ("enrollment_id", "id", "collected_at", "outcome", "recorded_at", "missed_day")
    by_enrollment = defaultdict(list)
    for enrollment_id, *row in rows.values_list(*fields):
        by_enrollment[enrollment_id].append(tuple(row))
    return by_enrollment


def _rewards_posted(chosen: QuerySet) -> dict[int, datetime]:
    """When each specimen's reward was first posted: its earliest ledger entry that added to what
    the patient is entitled to (cents net of overpayment, or draws). Only settlement names a
    specimen on the ledger, so these are the protocol's own awards; a later reversal (a correction)
    does not move the instant the reward reached the patient."""
    rows = _credits().filter(specimen__enrollment__in=chosen)
    rows = rows.order_by().values("specimen_id").annotate(first=Min("created_at"))
    return {row["specimen_id"]: row["first"] for row in rows}


def _credits() -> QuerySet[LedgerEntry]:
    return LedgerEntry.objects.filter(Q(amount_cents__gt=F("overpayment_cents")) | Q(draws__gt=0))


def _sessions(chosen: QuerySet) -> dict[int, list[tuple[datetime, str]]]:
    rows = Attendance.objects.filter(enrollment__in=chosen).order_by("occurred_at", "id")
    by_enrollment = defaultdict(list)
    for enrollment_id, occurred_at, status in rows.values_list(
        "enrollment_id", "occurred_at", "status"
    ):
        by_enrollment[enrollment_id].append((occurred_at, status))
    return by_enrollment


def _scheduled_test(
    row: SpecimenRow, reward_posted_at: datetime | None, local_date, day: date | None = None
) -> measures.ScheduledTest:
    # Specimen.outcome is already the engine's letter (settlement's enrollment_events reads it
    # the same way). missed_day is written by the missed-test round only and kept when staff
    # excuse the mark, so it says "auto-marked" of an excused test too; a mark staff corrected
    # into a result (a sample keyed in late) is a result staff recorded.
    _, collected_at, outcome, recorded_at, missed_day = row
    return measures.ScheduledTest(
        day=day or local_date(collected_at),
        outcome=outcome,
        auto_missed=missed_day is not None and outcome in AUTO_MISSED_OUTCOMES,
        collected_at=collected_at,
        recorded_at=recorded_at,
        reward_posted_at=reward_posted_at,
        reward_posted_day=local_date(reward_posted_at) if reward_posted_at else None,
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
    """The headline measures of the clinic's enrollments that overlap first..last: the sum of
    their `report_ranges` (four queries, whatever the number of enrollments and the range)."""
    chosen = clinic_enrollments(clinic=clinic, first=first, last=last)
    return range_measures(report_ranges(enrollments=chosen, clinic=clinic, first=first, last=last))


@dataclass(frozen=True)
class EnrollmentRange:
    """One enrollment as the measures of a range read it (`range_measures` sums a set of them).

    `whole` is the enrollment as retention reads it: its last attended contact alone. `ranged`
    holds the day and outcome of its counted (not excused) tests of the range, in order: what the
    LDA reads. The rest are its counts over the range, as measures.py counts them.
    """

    pk: int
    protocol_id: int
    whole: measures.Enrollment
    ranged: measures.Enrollment
    counted: int = 0  # tests not excused
    negatives: int = 0
    submitted: int = 0
    late: int = 0  # submitted tests recorded more than LATE_AFTER after collection
    kept: int = 0  # counted tests not auto-marked missed
    delays: tuple[timedelta, ...] = ()  # collection to first reward posted, per test rewarded
    same_day: int = 0  # rewards posted on the clinic day of collection
    attended: int = 0  # sessions attended
    held: int = 0  # sessions not excused


def report_ranges(
    *, enrollments: QuerySet[Enrollment], clinic: Clinic, first: date, last: date
) -> list[EnrollmentRange]:
    """Each enrollment of the queryset (the clinic's, in the queryset's order) as the measures of
    first..last read it, in the clinic's days. Four queries whatever the number of enrollments
    and the range (five when a protocol has no phase). Only the range's tests are read, a few small
    columns each, and the database works out their clinic days, so years of history cost nothing
    and a range costs what its tests do:
    1. The enrollments, each with the clinic day of its last submitted test and of its last
       attended session. Retention, its curve and completion describe the whole enrollment, and
       its last attended contact is all they read (rule 7 of measures.py), so each enrollment is
       given to them as that one contact.
    2. Their protocols' weeks (`protocols_attach`).
    3. The range's tests, each with the first reward posted for it, in one pass: negatives over
       scheduled and over submitted tests, late results and schedule kept counted as
       measures.py counts them, the LDA runs, and the delays of immediacy.
    4. The range's sessions, counted per enrollment (COUNT ... FILTER).
    Split the result as you like (by protocol, counselor, cohort) and give each part to
    `range_measures`: a group is measured exactly as the clinic is.
    tests/vouchers/reports/test_clinic_measures_scale.py holds `clinic_measures` equal to
    `report_enrollments` + `measures.within` + measures.py's functions on generated clinics.
    """
    rows = list(
        enrollments.annotate(
            last_test=_clinic_day(_last_submitted_test(), clinic),
            last_session=_clinic_day(_last_attended_session(), clinic),
        ).values_list("pk", "start_date", "protocol_id", "last_test", "last_session")
    )
    weeks = _protocol_weeks({protocol_id for _, _, protocol_id, _, _ in rows})
    chosen = enrollments.values("pk")
    tests = _days_within(
        Specimen.objects.filter(enrollment__in=chosen), "collected_at", clinic, first, last
    )
    read = _tests_read(tests, clinic)
    sessions = _sessions_counted(
        _days_within(
            Attendance.objects.filter(enrollment__in=chosen), "occurred_at", clinic, first, last
        )
    )
    result = []
    for pk, start, protocol_id, *contacts in rows:
        contacts = [day for day in contacts if day is not None]
        contact = (measures.ScheduledTest(day=max(contacts), outcome=NEGATIVE),) if contacts else ()
        own = read.get(pk, {})
        result.append(
            EnrollmentRange(
                pk=pk,
                protocol_id=protocol_id,
                whole=measures.Enrollment(start=start, weeks=weeks[protocol_id], tests=contact),
                ranged=measures.Enrollment(
                    start=start, weeks=weeks[protocol_id], tests=tuple(own.pop("tests", ()))
                ),
                delays=tuple(own.pop("delays", ())),
                **own,
                **sessions.get(pk, {}),
            )
        )
    return result


def range_measures(parts: list[EnrollmentRange]) -> ClinicMeasures:
    """The headline measures of a set of enrollments over the range they were read for.

    Counts add up (rule 4 of measures.py); every other measure is measures.py's function over
    the set: retention, its curve and completion over the whole enrollments (the curve runs to
    the longest fixed protocol of the set or, when every protocol is open-ended, to the furthest
    week reached), the LDA over the range's runs, immediacy's nearest-rank median and 90th
    percentile over every delay of the set.
    """
    whole = [p.whole for p in parts]
    fixed = [e.weeks for e in whole if e.weeks is not None]
    retained = [measures.retention_weeks(e) for e in whole]
    curve_weeks = max(fixed) if fixed else max(retained, default=0)
    abstinence_tests, abstinence_weeks = measures.abstinence_summary(p.ranged for p in parts)
    delays = [delay for p in parts for delay in p.delays]

    def total(field: str) -> int:
        return sum(getattr(p, field) for p in parts)

    counted, submitted = total("counted"), total("submitted")
    return ClinicMeasures(
        enrollments=len(parts),
        negative_samples=Ratio(total("negatives"), counted),
        negative_submitted=Ratio(total("negatives"), submitted),
        abstinence_tests=abstinence_tests,
        abstinence_weeks=abstinence_weeks,
        retention=measures.summary(retained),
        retention_curve=measures.retention_curve(whole, curve_weeks),
        completion=measures.completion(whole),
        attendance=Ratio(total("attended"), total("held")),
        immediacy=measures.Immediacy(
            median=measures.median(delays),
            p90=measures.percentile(delays, 90),
            same_day=Ratio(total("same_day"), len(delays)),
        ),
        late_results=Ratio(total("late"), submitted),
        schedule_kept=Ratio(total("kept"), counted),
    )


def _last_submitted_test() -> Subquery:
    tests = Specimen.objects.filter(enrollment=OuterRef("pk"), outcome__in=measures.SUBMITTED)
    return Subquery(tests.order_by("-collected_at").values("collected_at")[:1])


def _last_attended_session() -> Subquery:
    sessions = Attendance.objects.filter(enrollment=OuterRef("pk"), status=ATTENDED)
    return Subquery(sessions.order_by("-occurred_at").values("occurred_at")[:1])


def _protocol_weeks(protocol_ids: set[int]) -> dict[int, int | None]:
    """Each protocol's weeks (its rules' `weeks`), its phases read with `protocols_attach`."""
    carriers = protocols_attach(Enrollment(protocol_id=pk) for pk in protocol_ids)
    return {e.protocol_id: e.protocol.rules().weeks for e in carriers}


def _clinic_day(instant, clinic: Clinic) -> Cast:
    """The clinic day of an instant, worked out by the database (TruncDate in the clinic's time
    zone). The Cast makes it a plain date column: TruncDate's own per-row converter cost more
    than the query at 100,000 rows."""
    return Cast(TruncDate(instant, tzinfo=clinic.tz), output_field=DateField())


def _days_within(rows: QuerySet, field: str, clinic: Clinic, first: date, last: date) -> QuerySet:
    """`rows` whose `field` instant falls on a clinic day of first..last, with that day as `day`.
    The UTC bounds (wider than any time zone's offset) let the database use the (enrollment,
    instant) index before it works out each instant's clinic day."""
    lower = datetime.combine(first - timedelta(days=2), time.min, tzinfo=UTC)
    upper = datetime.combine(last + timedelta(days=2), time.min, tzinfo=UTC)
    return (
        rows.filter(**{f"{field}__gte": lower, f"{field}__lt": upper})
        .annotate(day=_clinic_day(F(field), clinic))
        .filter(day__gte=first, day__lte=last)
    )


def _tests_read(tests: QuerySet, clinic: Clinic) -> dict[int, dict]:
    """One pass over the range's tests, a few small columns each, per enrollment:
    - measures.py's counts (rules 1-3, 11 and 12). Excused tests are in no count. A test is kept
      unless the missed-test round marked it (`missed_day` set and still missed); a late result
      is a submitted test recorded more than LATE_AFTER after collection (both instants are
      required columns, so always known);
    - the day and outcome of its counted tests in order, for measures.longest_abstinence;
    - for immediacy, over the tests with a reward posted (`_rewards_posted`'s first credit,
      joined here): the delays, and how many were posted on the clinic day of collection.
    """
    auto_missed = ExpressionWrapper(
        Q(missed_day__isnull=False, outcome=MISSED), output_field=BooleanField()
    )
    late = ExpressionWrapper(
        Q(recorded_at__gt=F("collected_at") + measures.LATE_AFTER), output_field=BooleanField()
    )
    credit = Q(ledger__amount_cents__gt=F("ledger__overpayment_cents")) | Q(ledger__draws__gt=0)
    rows = tests.annotate(posted=Min("ledger__created_at", filter=credit)).values_list(
        "enrollment_id",
        "day",
        "outcome",
        auto_missed,
        late,
        ExpressionWrapper(F("posted") - F("collected_at"), output_field=DurationField()),
        _clinic_day(F("posted"), clinic),
    )
    fields = ("counted", "negatives", "submitted", "late", "kept", "same_day")
    read: dict[int, dict] = {}
    for enrollment_id, day, outcome, marked, recorded_late, delay, posted_day in rows.order_by(
        "enrollment_id", "collected_at", "id"
    ):
        own = read.get(enrollment_id)
        if own is None:
            own = read[enrollment_id] = dict.fromkeys(fields, 0) | {"tests": [], "delays": []}
        if delay is not None:
            own["delays"].append(delay)
            own["same_day"] += posted_day == day
        if outcome == EXCUSED:
            continue
        own["tests"].append(measures.ScheduledTest(day=day, outcome=outcome))
        own["counted"] += 1
        own["kept"] += not marked
        if outcome in measures.SUBMITTED:
            own["submitted"] += 1
            own["negatives"] += outcome == NEGATIVE
            own["late"] += recorded_late
    return read


def _sessions_counted(sessions: QuerySet) -> dict[int, dict[str, int]]:
    """measures.attendance's counts per enrollment: attended, and not excused (held)."""
    rows = (
        sessions.order_by()
        .values("enrollment_id")
        .annotate(
            attended=Count("pk", filter=Q(status=ATTENDED)),
            held=Count("pk", filter=~Q(status=EXCUSED_SESSION)),
        )
    )
    return {row.pop("enrollment_id"): row for row in rows}
