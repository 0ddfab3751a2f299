"""Load a large synthetic clinic to measure the reports at scale (issue 14, docs/performance.md).

    python manage.py report_scale_data [--enrollments 10000] [--results 50] [--seed 14]
                                       [--slug scale] [--today YYYY-MM-DD] [--if-missing]

One new clinic (America/Chicago, tests Monday, Wednesday and Friday) with an administrator, 20
counselors and one patient per enrollment. Each enrollment has exactly `--results` scheduled
tests on its protocol's test days, a weekly group session through the protocol's weeks, and the
ledger entries settlement posts for them; every wallet equals its ledger (`ledger_verify`).

Deterministic for a seed and a `--today` (default: the clinic's today). A second load into the
same slug is refused (`--if-missing`: does nothing instead); load another `--slug`, or use a
fresh database.

The history, per enrollment:
1. Start on a day spread over the two years before the last test could still fall before today,
   on one of the five protocol presets (more on the two published voucher schedules).
2. Each test: excused 2%, missed 6% (four in five marked by the missed-test round at closing,
   `missed_day` set; a third of the excused were such marks), refused, dilute, adulterated 1% /
   1% / 0.5%; otherwise negative with a chance that starts at the patient's own 20-60% and grows
   4 points a week (at most 95%), else positive. A third of the patients disengage at a week of
   their own: from then on 85% of their tests are auto-marked misses and the rest positive.
3. Results are entered 5-30 minutes after collection; 4% are entered 25-30 hours late, unless
   another test or session of the enrollment happens in between (then on time). So results reach
   settlement in the order they were collected, and replaying the whole history once gives what
   settling after each entry gave: one credit per award component, posted when its test or
   session was entered (`created_at`), with its year. `enrollment_settle` afterwards posts
   nothing (tests/vouchers/reports/test_scale_data.py checks it).

Simplified, as no report reads them: no per-substance results (`SpecimenResult`), no
corrections, redemptions or prize draws (so the wallets hold every credit), and no audit events
for the generated rows.
"""

from __future__ import annotations

import random
import time as stopwatch
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import date, datetime, time, timedelta
from itertools import islice
from unittest import mock

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from cmtracker.models import Clinic, Membership, User
from patients.models import Attendance, Enrollment, Patient, Specimen
from vouchers import engine
from vouchers.models import LedgerEntry, Protocol, Wallet, protocols_attach
from vouchers.schedule import scheduled_days
from vouchers.settlement import CREDIT_KIND

# preset slug, weight: the two published voucher schedules are the most common.
PROTOCOLS = (
    ("higgins-1994", 3),
    ("silverman-1996", 2),
    ("petry-fishbowl", 2),
    ("va-prize", 2),
    ("ca-rip", 1),
)
COUNSELORS = 20
SPREAD = timedelta(weeks=104)
CHUNK = 500  # enrollments whose history is built and written together
BATCH = 5000  # rows per INSERT
GROUP_AT, GROUP_ENTERED_AT = time(18, 0), time(19, 40)
STATUS_OF = {
    engine.NEGATIVE: Specimen.Status.TESTED,
    engine.POSITIVE: Specimen.Status.TESTED,
    engine.MISSED: Specimen.Status.MISSED,
    engine.REFUSED: Specimen.Status.REFUSED,
    engine.ADULTERATED: Specimen.Status.ADULTERATED,
    engine.DILUTE: Specimen.Status.DILUTE,
    engine.EXCUSED: Specimen.Status.EXCUSED,
}


@contextmanager
def stamped_as_given() -> Iterator[None]:
    """Keep the recorded_at / created_at the loader sets instead of the insert's now: the history
    is back-dated, as demo_data's entries are (there by patching the clock per entry, which a bulk
    insert cannot do)."""
    fields = [
        Specimen._meta.get_field("recorded_at"),
        Attendance._meta.get_field("recorded_at"),
        LedgerEntry._meta.get_field("created_at"),
        Enrollment._meta.get_field("created_at"),
    ]
    with ExitStack() as stack:
        for field in fields:
            stack.enter_context(mock.patch.object(field, "auto_now_add", False))
        yield


def batched(rows: list, size: int = BATCH) -> Iterator[list]:
    it = iter(rows)
    while chunk := list(islice(it, size)):
        yield chunk


class ScaleLoader:
    def __init__(self, *, enrollments: int, results: int, seed: int, slug: str, today: date | None):
        self.count = enrollments
        self.results = results
        self.rng = random.Random(seed)  # noqa: S311 - synthetic data, not prizes
        self.slug = slug
        self.today = today
        self.written = dict.fromkeys(("specimens", "sessions", "ledger entries"), 0)

    def load(self) -> Clinic:
        if Clinic.objects.filter(slug=self.slug).exists():
            raise CommandError(
                f"clinic {self.slug!r} is already loaded; use another --slug or a fresh database"
            )
        self.clinic = Clinic.objects.create(
            slug=self.slug, name=f"Scale clinic ({self.slug})", time_zone="America/Chicago"
        )
        self.today = self.today or self.clinic.local_date(timezone.now())
        self.staff()
        protocols = {
            p.slug: p
            for p in Protocol.objects.filter(
                slug__in=[s for s, _ in PROTOCOLS], is_current=True
            ).prefetch_related("phases")
        }
        missing = {s for s, _ in PROTOCOLS} - protocols.keys()
        if missing:
            raise CommandError(f"protocol presets missing: {sorted(missing)}; run migrate")
        self.rules = {slug: p.rules() for slug, p in protocols.items()}
        with stamped_as_given():
            enrollments = self.enrollments(protocols)
            for chunk in batched(enrollments, CHUNK):
                self.history(chunk)
        return self.clinic

    def staff(self) -> None:
        self.admin = User.objects.create_user(username=f"{self.slug}-admin", password=None)
        Membership.objects.create(user=self.admin, clinic=self.clinic, role=Membership.Role.ADMIN)
        self.counselors = User.objects.bulk_create(
            User(username=f"{self.slug}-counselor{i}") for i in range(1, COUNSELORS + 1)
        )
        Membership.objects.bulk_create(
            Membership(user=u, clinic=self.clinic, role=Membership.Role.COUNSELOR)
            for u in self.counselors
        )

    def enrollments(self, protocols: dict[str, Protocol]) -> list[tuple[Enrollment, dict]]:
        """Patients and enrollments, each with its plan: days of its tests, and its outcomes."""
        rng = self.rng
        slugs = [s for s, _ in PROTOCOLS]
        weights = [w for _, w in PROTOCOLS]
        planned = []
        for n in range(1, self.count + 1):
            slug = rng.choices(slugs, weights)[0]
            rules = self.rules[slug]
            # Starts spread over two years, the last of them late enough for every test to be
            # before yesterday (moved back by whole weeks, which keeps the test weekdays).
            weekdays = self.clinic.test_weekdays
            start = self.today - timedelta(days=rng.randrange(SPREAD.days))
            days = list(islice(scheduled_days(rules, start, weekdays), self.results))
            overshoot = (days[-1] - (self.today - timedelta(days=2))).days
            if overshoot > 0:
                back = timedelta(weeks=-(-overshoot // 7))
                start, days = start - back, [d - back for d in days]
            plan = {
                "slug": slug,
                "days": days,
                "propensity": rng.uniform(0.2, 0.6),
                "disengage": rng.randint(2, 20) if rng.random() < 1 / 3 else None,
                "counselor": self.counselors[n % COUNSELORS],
            }
            planned.append((n, start, plan))
        patients = Patient.objects.bulk_create(
            [
                Patient(
                    clinic=self.clinic,
                    record_number=f"S{n:06d}",
                    first_name=f"Patient{n}",
                    last_name="Scale",
                    primary_counselor=plan["counselor"],
                )
                for n, _, plan in planned
            ],
            batch_size=BATCH,
        )
        rows = []
        for patient, (_, start, plan) in zip(patients, planned, strict=True):
            last_day = plan["days"][-1] if plan["days"] else start
            open_ = (self.today - last_day).days <= 7
            weeks = self.rules[plan["slug"]].weeks
            retained = engine.enrollment_week(start, last_day) >= (weeks or 0)
            rows.append(
                Enrollment(
                    patient=patient,
                    protocol=protocols[plan["slug"]],
                    start_date=start,
                    end_date=None if open_ else last_day,
                    status=Enrollment.Status.ACTIVE
                    if open_
                    else Enrollment.Status.COMPLETED
                    if retained and plan["disengage"] is None
                    else Enrollment.Status.WITHDRAWN,
                    misses_from=start,
                    created_at=self.at(start, time(8, 0)),
                )
            )
        made = Enrollment.objects.bulk_create(rows, batch_size=BATCH)
        protocols_attach(made)
        return list(zip(made, (plan for _, _, plan in planned), strict=True))

    def at(self, day: date, moment: time) -> datetime:
        return datetime.combine(day, moment, tzinfo=self.clinic.tz)

    def outcome(self, plan: dict, week: int) -> tuple[str, bool]:
        """(outcome letter, auto-marked missed) of one test in enrollment week `week`."""
        rng = self.rng
        if plan["disengage"] is not None and week >= plan["disengage"]:
            return (engine.MISSED, True) if rng.random() < 0.85 else (engine.POSITIVE, False)
        roll = rng.random()
        if roll < 0.02:
            return engine.EXCUSED, rng.random() < 1 / 3
        if roll < 0.08:
            return engine.MISSED, rng.random() < 0.8
        if roll < 0.09:
            return engine.REFUSED, False
        if roll < 0.10:
            return engine.DILUTE, False
        if roll < 0.105:
            return engine.ADULTERATED, False
        chance = min(0.95, plan["propensity"] + 0.04 * (week - 1))
        return (engine.NEGATIVE if rng.random() < chance else engine.POSITIVE), False

    def history(self, chunk: list[tuple[Enrollment, dict]]) -> None:
        rng = self.rng
        specimens, sessions = [], []
        for enrollment, plan in chunk:
            weeks = self.rules[plan["slug"]].weeks or 0
            last_day = plan["days"][-1]
            occurred = []
            for week in range(1, weeks + 1):
                day = enrollment.start_date + timedelta(weeks=week - 1, days=1)
                if day > last_day:
                    break
                gone = plan["disengage"] is not None and week >= plan["disengage"]
                roll = rng.random()
                status = (
                    Attendance.Status.EXCUSED
                    if roll < 0.05
                    else Attendance.Status.MISSED
                    if roll < (0.9 if gone else 0.2)
                    else Attendance.Status.ATTENDED
                )
                occurred.append(self.at(day, GROUP_AT))
                sessions.append(
                    Attendance(
                        enrollment=enrollment,
                        session_kind=Attendance.SessionKind.GROUP,
                        occurred_at=occurred[-1],
                        status=status,
                        recorded_by=plan["counselor"],
                        recorded_at=self.at(day, GROUP_ENTERED_AT),
                    )
                )
            following = dict(zip(plan["days"], plan["days"][1:], strict=False))
            for day in plan["days"]:
                week = engine.enrollment_week(enrollment.start_date, day)
                letter, auto = self.outcome(plan, week)
                if auto:
                    collected = self.at(day, self.clinic.closes_at)
                    recorded = collected + timedelta(minutes=2)
                else:
                    collected = self.at(day, time(rng.randint(8, 15), rng.choice(range(0, 60, 10))))
                    recorded = collected + timedelta(minutes=rng.randint(5, 30))
                    if rng.random() < 0.04:
                        late = collected + timedelta(minutes=rng.randint(25 * 60 + 1, 30 * 60))
                        # Late only when nothing else of the enrollment happens meanwhile (the
                        # late entry is the next day's; the next test is not before the day
                        # after), so results reach settlement in the order they were collected.
                        next_day = following.get(day, date.max)
                        if next_day > day + timedelta(days=1) and not any(
                            collected < o <= late for o in occurred
                        ):
                            recorded = late
                specimens.append(
                    Specimen(
                        enrollment=enrollment,
                        collected_at=collected,
                        status=STATUS_OF[letter],
                        outcome=letter,
                        recorded_by=None if auto else plan["counselor"],
                        recorded_at=recorded,
                        missed_day=day if auto else None,
                    )
                )
        Specimen.objects.bulk_create(specimens, batch_size=BATCH)
        Attendance.objects.bulk_create(sessions, batch_size=BATCH)
        self.written["specimens"] += len(specimens)
        self.written["sessions"] += len(sessions)
        self.settle(chunk, specimens, sessions)

    def settle(self, chunk, specimens: list[Specimen], sessions: list[Attendance]) -> None:
        """What settlement posts: one credit per award component (never a debit: there is no
        correction), at the instant its test or session was entered."""
        by_enrollment: dict[int, list] = {e.pk: [] for e, _ in chunk}
        for s in specimens:
            event = engine.Event(
                key=f"specimen:{s.pk}",
                day=self.clinic.local_date(s.collected_at),
                kind=engine.SPECIMEN,
                outcome=s.outcome,
            )
            by_enrollment[s.enrollment_id].append((s.collected_at, 0, s.pk, event, s))
        for a in sessions:
            event = engine.Event(
                key=f"attendance:{a.pk}",
                day=self.clinic.local_date(a.occurred_at),
                kind=engine.ATTENDANCE,
                outcome=a.status,
            )
            by_enrollment[a.enrollment_id].append((a.occurred_at, 1, a.pk, event, a))
        entries, wallets = [], []
        for enrollment, plan in chunk:
            timed = sorted(by_enrollment[enrollment.pk], key=lambda t: t[:3])
            sources = {t[3].key: t[4] for t in timed}
            result = engine.run(
                self.rules[plan["slug"]], enrollment.start_date, [t[3] for t in timed]
            )
            wallet = Wallet(patient_id=enrollment.patient_id)
            for award in result.awards:
                source = sources[award.key]
                parts = {
                    LedgerEntry.Component.VOUCHER: award.voucher_cents,
                    LedgerEntry.Component.BONUS: award.bonus_cents,
                    LedgerEntry.Component.ATTENDANCE: award.attendance_cents,
                    LedgerEntry.Component.DRAWS: award.draws,
                }
                for component, value in parts.items():
                    if not value:
                        continue
                    draws = component == LedgerEntry.Component.DRAWS
                    entries.append(
                        LedgerEntry(
                            patient_id=enrollment.patient_id,
                            enrollment=enrollment,
                            kind=CREDIT_KIND[component],
                            component=component,
                            specimen=source if isinstance(source, Specimen) else None,
                            attendance=source if isinstance(source, Attendance) else None,
                            event_year=award.day.year,
                            amount_cents=0 if draws else value,
                            draws=value if draws else 0,
                            created_by=source.recorded_by,
                            created_at=source.recorded_at,
                        )
                    )
                    if draws:
                        wallet.draws_available += value
                    else:
                        wallet.balance_cents += value
            wallets.append(wallet)
        LedgerEntry.objects.bulk_create(entries, batch_size=BATCH)
        Wallet.objects.bulk_create(wallets, batch_size=BATCH)
        self.written["ledger entries"] += len(entries)


def iso_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{value!r} is not a date like 2026-12-01") from None


class Command(BaseCommand):
    help = "Load a large synthetic clinic (enrollments x results) to measure the reports."

    def add_arguments(self, parser):
        parser.add_argument("--enrollments", type=int, default=10_000)
        parser.add_argument("--results", type=int, default=50, help="tests per enrollment")
        parser.add_argument("--seed", type=int, default=14)
        parser.add_argument("--slug", default="scale", help="the new clinic's slug")
        parser.add_argument("--today", type=iso_date, help="the last day of history + 1")
        parser.add_argument(
            "--if-missing", action="store_true", help="do nothing when the clinic is loaded"
        )

    def handle(self, *args, **options):
        if options["enrollments"] < 1 or options["results"] < 1:
            raise CommandError("--enrollments and --results are at least 1")
        if options["if_missing"] and Clinic.objects.filter(slug=options["slug"]).exists():
            self.stdout.write(f"Clinic {options['slug']!r} is already loaded; nothing to do.")
            return
        started = stopwatch.perf_counter()
        loader = ScaleLoader(
            enrollments=options["enrollments"],
            results=options["results"],
            seed=options["seed"],
            slug=options["slug"],
            today=options["today"],
        )
        with transaction.atomic():
            clinic = loader.load()
        took = stopwatch.perf_counter() - started
        written = ", ".join(f"{n:,} {what}" for what, n in loader.written.items())
        self.stdout.write(
            f"Loaded clinic {clinic.slug!r} (id {clinic.pk}): {options['enrollments']:,} "
            f"enrollments, {written}, in {took:.1f} s."
        )
