"""Load a small, believable clinic so the app can be tried on a fresh machine (`make run`).

    python manage.py demo_data [--force]

Riverside Recovery, an administrator, two counselors and twelve patients on the five published
protocols, with weeks of drug tests and group sessions. Every result goes through the same
services a counselor's click does (specimen_record, specimen_correct, attendance_record), so the
ledger, the wallets and the corrections are exactly what real use would produce; nothing writes a
ledger row directly.

Running it again adds nothing: accounts and patients are looked up by name, and every test and
session carries an idempotency key (`demo:<record number>:<n>`, `demo:<record number>:group:<week>`)
that the services answer from the first recording. History is dated relative to today in the
clinic's time zone and stops at yesterday, so nothing is ever in the future.

Today's board is useful whatever day the demo is loaded: enrollments start on today's weekday some
weeks back, and each patient's test weekdays are counted from today's, so most are due today and
one has not come in on their last test day (overdue). Each result, session and correction is
recorded at the moment a counselor would have entered it, so the ledger's times follow the test
days instead of all being the moment the demo was loaded.

It lives in rewards, the app at the top (rewards -> vouchers -> patients), because it stocks the
reward catalog as well as recording the clinical history.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import partial
from unittest import mock

from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from cmtracker.models import Clinic, Membership, User
from patients.enrollment import enrollment_schedule_set, enrollment_start
from patients.models import Attendance, Enrollment, Patient, Specimen
from rewards.catalog import catalog_item_create
from rewards.models import CatalogItem
from vouchers import engine, recording
from vouchers.models import Protocol, protocol_attach
from vouchers.schedule import scheduled_days

DEMO_PASSWORD = "cmtracker-demo"  # noqa: S105 - a published demo login, never a real one
# The demo staff's authenticator key, published like the password ("cmtracker-demo-key!!").
DEMO_TOTP_KEY_HEX = b"cmtracker-demo-key!!".hex()
DEMO_TOTP_KEY_BASE32 = "MNWXI4TBMNVWK4RNMRSW23ZNNNSXSIJB"
SEED = 2026
# More than any demo enrollment can reach (9 weeks back + this one, 3 tests a week), so the planned
# outcomes of a patient do not depend on how many of them have happened by today.
PLAN_WEEKS = 12
PLAN_LENGTH = 3 * PLAN_WEEKS

# A cup is read and entered a few minutes after it is collected; a group is logged after it ends.
ENTERED_AFTER_COLLECTION = timedelta(minutes=12)
GROUP_AT = time(18, 0)
GROUP_ENTERED_AT = time(19, 40)
# Late corrections are entered when the lab's confirmation arrives, a few days after the cup.
CORRECTED_AFTER = timedelta(days=3, hours=2)
# Test weekdays counted from today's weekday (0 is today's), so someone is due whatever the day.
DUE_TODAY = (0, 2, 4)
NOT_TODAY = (1, 3, 5)

# Substances screened on every cup besides the protocol's targets. Cannabis turns up positive now
# and then: it is not a target of these protocols, so it neither earns nor resets anything.
PANEL = ("cocaine", "amphetamine", "methamphetamine", "opiates", "fentanyl", "cannabis")

STATUS_OF = {
    engine.MISSED: Specimen.Status.MISSED,
    engine.REFUSED: Specimen.Status.REFUSED,
    engine.ADULTERATED: Specimen.Status.ADULTERATED,
    engine.DILUTE: Specimen.Status.DILUTE,
    engine.EXCUSED: Specimen.Status.EXCUSED,
}


@dataclass(frozen=True)
class LateCorrection:
    """A result staff later found wrong: test `n` is corrected to a tested `outcome` (N or P)."""

    n: int
    outcome: str  # the corrected letter: N (tested negative) or P
    reason: str


@dataclass(frozen=True)
class PlannedTest:
    outcome: str  # a simulator letter
    at: time  # collection time of day, in the clinic
    positive_for: float  # picks which target substance a positive cup shows
    cannabis: bool  # a non-target positive, which must change nothing


@dataclass(frozen=True)
class Plan:
    tests: list[PlannedTest]
    groups_missed: list[bool]  # per enrollment week


@dataclass(frozen=True)
class DemoPatient:
    record_number: str
    first_name: str
    last_name: str
    language: str
    protocol: str
    weeks_ago: int  # enrollment starts on today's weekday this many weeks back (3..9)
    counselor: int  # 1 or 2
    test_days: tuple[int, ...] = DUE_TODAY  # weekdays counted from today's (0 is today's)
    overdue: bool = False  # did not come in on the last test day before today
    # The first outcomes, in the simulator's letters; "." leaves a test to chance (`lapse`).
    script: str = ""
    lapse: float = 0.1  # chance a test left to chance is positive
    notes: dict[int, str] = field(default_factory=dict)  # test n -> why (excused, dilute...)
    corrections: tuple[LateCorrection, ...] = ()
    sms: bool = False
    email: bool = False
    methadone: bool = False  # on methadone maintenance: methadone positive, as prescribed
    portal_login: str = ""


ROSTER = (
    DemoPatient(
        "RR-1001", "María", "González", "es",
        protocol="higgins-1994", weeks_ago=8, counselor=1,
        script="PNNNNNNNNNNNN", lapse=0.04, sms=True, email=True, portal_login="patient1",
    ),
    # A lapse after five negatives, then five negatives that restore the earlier level
    # (Higgins's recovery rule), and later a missed test.
    DemoPatient(
        "RR-1002", "James", "Carter", "en",
        protocol="higgins-1994", weeks_ago=7, counselor=1,
        script="NNNNN P NNNNN NNN M", lapse=0.1, email=True,
    ),
    DemoPatient(
        "RR-1003", "Rosa", "Hernández", "es",
        protocol="silverman-1996", weeks_ago=9, counselor=2, test_days=NOT_TODAY,
        script="PPNNNNNNNNN E", lapse=0.12, sms=True, methadone=True,
        notes={12: "Excused: hospitalized for an appendectomy; discharge papers on file."},
    ),
    # A screen read positive that the lab's confirmation later showed negative.
    DemoPatient(
        "RR-1004", "Michael", "Thompson", "en",
        protocol="silverman-1996", weeks_ago=5, counselor=2,
        script="NNN P NNNN", lapse=0.08, email=True, methadone=True,
        corrections=(
            LateCorrection(
                n=4,
                outcome=engine.NEGATIVE,
                reason="GC/MS confirmation negative for cocaine; the cup screen was a false "
                "positive.",
            ),
        ),
    ),
    DemoPatient(
        "RR-1005", "Luis", "Ramírez", "es",
        protocol="ca-rip", weeks_ago=9, counselor=1,
        script="NNNN P NN", lapse=0.08, sms=True,
    ),
    DemoPatient(
        "RR-1006", "Ashley", "Brooks", "en",
        protocol="ca-rip", weeks_ago=4, counselor=2, test_days=NOT_TODAY,
        script="NN D NNN", lapse=0.1, sms=True, email=True,
        notes={3: "Dilute: creatinine below 20 mg/dL; asked to come back for a retest."},
    ),
    DemoPatient(
        "RR-1007", "Carmen", "Flores", "es",
        protocol="petry-fishbowl", weeks_ago=7, counselor=1,
        script="NNNNNN P", lapse=0.1, sms=True,
    ),
    # Recorded as missed, but the evening nurse had collected it: corrected to the real result.
    DemoPatient(
        "RR-1008", "David", "Nguyen", "en",
        protocol="petry-fishbowl", weeks_ago=3, counselor=2,
        script="NNM NN", lapse=0.05, email=True,
        corrections=(
            LateCorrection(
                n=3,
                outcome=engine.NEGATIVE,
                reason="Collected by the evening nurse and logged late; the lab result is "
                "negative.",
            ),
        ),
    ),
    DemoPatient(
        "RR-1009", "José", "Morales", "es",
        protocol="va-prize", weeks_ago=6, counselor=1, test_days=NOT_TODAY,
        script="PNNNN", lapse=0.15,
    ),
    DemoPatient(
        "RR-1010", "Tanya", "Williams", "en",
        protocol="va-prize", weeks_ago=9, counselor=2,
        script="NNNNN R NNNNNNNN E", lapse=0.06, sms=True, email=True, portal_login="patient2",
        notes={
            6: "Refused to provide a specimen.",
            15: "Excused: court date; letter from the probation officer on file.",
        },
    ),
    # Did not come in on her last test day: Today lists her as overdue.
    DemoPatient(
        "RR-1011", "Ana", "Castillo", "es",
        protocol="higgins-1994", weeks_ago=3, counselor=1, test_days=NOT_TODAY, overdue=True,
        script="NNP", lapse=0.2,
    ),
    DemoPatient(
        "RR-1012", "Robert", "Mitchell", "en",
        protocol="silverman-1996", weeks_ago=6, counselor=2,
        script="NNNNNNNN", lapse=0.05, email=True, methadone=True,
    ),
)  # fmt: skip

STAFF = (
    # username, first name, last name, role
    ("admin", "Dana", "Whitfield", Membership.Role.ADMIN),
    ("counselor1", "Casey", "Morgan", Membership.Role.COUNSELOR),
    ("counselor2", "Alejandra", "Ortiz", Membership.Role.COUNSELOR),
)

# What a clinic administrator does in the Django admin, always within their own clinics
# (cmtracker/admin_scope.py): the clinic's settings, patients' details and enrollments; the rest
# is read only. Accounts, groups and the beat schedule are the platform operator's.
CLINIC_ADMINISTRATORS = "Clinic administrators"
CLINIC_ADMINISTRATOR_PERMISSIONS = (
    "change_clinic",
    "change_patient",
    "change_enrollment",
    *(
        f"view_{model}"
        for model in (
            "clinic user membership notification auditevent patient enrollment specimen "
            "attendance specimenresult correction protocol protocolphase wallet ledgerentry "
            "catalogitem stockmovement redemption redemptionline prizedraw labimport"
        ).split()
    ),
)
# The platform operator: a Django superuser who works at no clinic, for what is no clinic's.
OPERATOR = ("operator", "Sam", "Okafor")


class Command(BaseCommand):
    help = "Load the Riverside Recovery demo clinic (safe to run again: it adds nothing twice)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--force", action="store_true", help="load demo data even when PRODUCTION is on"
        )

    def handle(self, *args, **options):
        if getattr(settings, "PRODUCTION", False) and not options["force"]:
            raise CommandError(
                "refusing to load demo patients and known passwords into a production "
                "database (CMTRACKER_PRODUCTION is on); pass --force if you really mean it"
            )
        loader = DemoLoader(rng=random.Random(SEED))  # noqa: S311 - demo variety, not prizes
        with transaction.atomic():
            loader.load()
        self.stdout.write(loader.summary())
        self.stdout.write(loader.logins())


# name, category, price (cents), stock (None: unlimited), prize tier
CATALOG = (
    ("Grocery gift card $10", "groceries", 1000, 20, ""),
    ("Monthly bus pass", "transport", 2500, 5, ""),
    ("Phone minutes top-up $5", "phone", 500, None, ""),
    ("Winter hat and gloves", "clothing", 800, 2, ""),
    ("Toiletry kit", "hygiene", 100, 30, "small"),
    ("Coffee shop card $20", "groceries", 2000, 6, "large"),
    ("Portable speaker", "household", 10000, 1, "jumbo"),
)


class DemoLoader:
    """Creates what is missing and counts what it created, for the summary."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.created = dict.fromkeys(
            (
                "clinic",
                "staff",
                "patients",
                "enrollments",
                "specimens",
                "sessions",
                "corrections",
                "catalog items",
            ),
            0,
        )
        self.old_passwords: list[str] = []  # accounts that existed with another password

    def load(self) -> None:
        self.clinic, created = Clinic.objects.get_or_create(
            slug="riverside",
            defaults={"name": "Riverside Recovery", "time_zone": "America/Los_Angeles"},
        )
        self.created["clinic"] += created
        self.now = timezone.now()
        today = self.clinic.local_date(self.now)
        staff = {username: self.staff_member(username, *rest) for username, *rest in STAFF}
        self.platform_operator(*OPERATOR)
        counselors = {1: staff["counselor1"], 2: staff["counselor2"]}
        # Every patient draws from the one seeded generator in roster order, whatever exists
        # already, so the same day always gives the same data.
        for demo in ROSTER:
            plan = self.plan(demo)
            patient, created = self.patient(demo, counselors[demo.counselor])
            enrollment = self.enrollment(patient, demo, today)
            self.history(patient, enrollment, demo, plan, today)
            if created:
                # Consent comes after the weeks of history, so loading them tells nobody about
                # results from weeks ago; from now on reminders and award notices go out.
                self.reminders(patient, enrollment, demo)
        self.catalog(staff["admin"])

    def catalog(self, admin: User) -> None:
        """A small reward catalog and prize cabinet, stocked by the administrator."""
        for name, category, price_cents, stock, tier in CATALOG:
            if CatalogItem.objects.filter(clinic=self.clinic, name=name).exists():
                continue
            catalog_item_create(
                clinic=self.clinic,
                name=name,
                category=category,
                price_cents=price_cents,
                stock=stock,
                prize_tier=tier,
                actor=admin,
            )
            self.created["catalog items"] += 1

    # --- accounts --------------------------------------------------------------------------------

    def account(self, username: str, **defaults) -> User:
        user, created = User.objects.get_or_create(username=username, defaults=defaults)
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        elif not user.check_password(DEMO_PASSWORD):
            self.old_passwords.append(username)
        return user

    def staff_member(self, username, first_name, last_name, role) -> User:
        user = self.account(
            username,
            first_name=first_name,
            last_name=last_name,
            email=f"{username}@riverside.example.org",
            # Counselors use the Django admin until their own pages exist.
            is_staff=True,
        )
        if user.is_superuser:  # loaded by an older demo, when the administrator was one
            user.is_superuser = False
            user.save(update_fields=["is_superuser"])
        _, created = Membership.objects.get_or_create(
            user=user, clinic=self.clinic, defaults={"role": role}
        )
        self.created["staff"] += created
        if role == Membership.Role.ADMIN:
            user.groups.add(self.clinic_administrators())
        self.second_factor(user)
        return user

    def clinic_administrators(self) -> Group:
        group, _ = Group.objects.get_or_create(name=CLINIC_ADMINISTRATORS)
        group.permissions.add(
            *Permission.objects.filter(codename__in=CLINIC_ADMINISTRATOR_PERMISSIONS)
        )
        return group

    def platform_operator(self, username, first_name, last_name) -> User:
        user = self.account(
            username,
            first_name=first_name,
            last_name=last_name,
            email=f"{username}@cmtracker.example.org",
            is_staff=True,
            is_superuser=True,
        )
        self.second_factor(user)
        return user

    def second_factor(self, user: User) -> None:
        # Staff sign in with a second factor. The demo's authenticator key is published (README),
        # like its password: add it to an authenticator app, or ask `manage.py demo_code`.
        TOTPDevice.objects.get_or_create(
            user=user, defaults={"name": "demo authenticator", "key": DEMO_TOTP_KEY_HEX}
        )

    # --- patients --------------------------------------------------------------------------------

    def plan(self, demo: DemoPatient) -> Plan:
        """Everything the patient could have had by the end of the demo's longest enrollment.

        The generator is drawn the same number of times for every patient, whatever the script
        says, so changing one script does not reshuffle everyone after it.
        """
        scripted = [c.upper() for c in demo.script if not c.isspace()]
        unknown = set(scripted) - set(engine.OUTCOMES) - {"."}
        if unknown:
            raise CommandError(f"{demo.record_number}: bad script letters {sorted(unknown)}")
        tests = []
        for n in range(1, PLAN_LENGTH + 1):
            chance = self.rng.random()
            letter = scripted[n - 1] if n <= len(scripted) else "."
            if letter == ".":
                letter = engine.POSITIVE if chance < demo.lapse else engine.NEGATIVE
            tests.append(
                PlannedTest(
                    outcome=letter,
                    at=time(self.rng.randint(8, 15), self.rng.choice((0, 10, 20, 30, 40, 50))),
                    positive_for=self.rng.random(),
                    cannabis=self.rng.random() < 0.15,
                )
            )
        groups_missed = [self.rng.random() < 0.125 for _ in range(PLAN_WEEKS)]
        return Plan(tests=tests, groups_missed=groups_missed)

    def patient(self, demo: DemoPatient, counselor: User) -> tuple[Patient, bool]:
        slug = demo.first_name.lower().translate(str.maketrans("áéíóú", "aeiou"))
        patient, created = Patient.objects.get_or_create(
            clinic=self.clinic,
            record_number=demo.record_number,
            defaults={
                "first_name": demo.first_name,
                "last_name": demo.last_name,
                "primary_counselor": counselor,
                "preferred_language": demo.language,
                # 555-01xx numbers are reserved for fiction; stored in E.164, as every form does.
                "phone": f"+121355501{demo.record_number[-2:]}",
                "email": f"{slug}.{demo.record_number[-4:]}@example.com" if demo.email else "",
            },
        )
        self.created["patients"] += created
        if demo.portal_login and patient.user_id is None:
            patient.user = self.account(
                demo.portal_login, first_name=demo.first_name, last_name=demo.last_name
            )
            patient.save(update_fields=["user"])
        return patient, created

    def reminders(self, patient: Patient, enrollment: Enrollment, demo: DemoPatient) -> None:
        """The patient's reminder choices, and the weekly group (the day after each week's start)
        as their session day. The two portal patients also hear the evening before."""
        patient.reminder_consent_sms = demo.sms
        patient.reminder_consent_email = demo.email
        patient.reminder_evening_before = bool(demo.portal_login)
        patient.save(
            update_fields=[
                "reminder_consent_sms",
                "reminder_consent_email",
                "reminder_evening_before",
            ]
        )
        enrollment_schedule_set(
            enrollment=enrollment,
            test_weekdays=enrollment.weekdays,
            session_weekdays=[(enrollment.start_date.weekday() + 1) % 7],
            actor=None,
        )

    def enrollment(self, patient: Patient, demo: DemoPatient, today: date) -> Enrollment:
        """Enrolled on its start day, today's weekday some weeks back, with test weekdays counted
        from today's: the first test day of every week is the start's weekday."""
        enrollment = patient.enrollments.first()
        if enrollment is not None:
            return protocol_attach(enrollment)
        start = today - timedelta(weeks=demo.weeks_ago)
        self.created["enrollments"] += 1
        with self.entered_at(self.moment(start, time(8, 0))):
            enrollment = enrollment_start(
                patient=patient,
                protocol=Protocol.objects.get(slug=demo.protocol, is_current=True),
                start_date=start,
            )
            enrollment = enrollment_schedule_set(
                enrollment=enrollment,
                test_weekdays=[(today.weekday() + d) % 7 for d in demo.test_days],
                session_weekdays=[],
                actor=None,
                today=start,
            )
        return protocol_attach(enrollment)

    def history(
        self,
        patient: Patient,
        enrollment: Enrollment,
        demo: DemoPatient,
        plan: Plan,
        today: date,
    ) -> None:
        """Record the planned tests (through yesterday; an overdue patient's last one never
        happened), the weekly groups and the corrections in the order a counselor entered them,
        each at that moment, so every settlement sees only what had happened by then."""
        protocol = enrollment.protocol
        days = scheduled_days(protocol.rules(), enrollment.start_date, enrollment.weekdays)
        tested = [
            (n, test, day)
            for n, (test, day) in enumerate(zip(plan.tests, days, strict=False), start=1)
            if day < today
        ]
        if demo.overdue:
            tested = tested[:-1]
        self.specimens: dict[int, Specimen] = {}  # this patient's, by test number
        entries = []  # (entered at, order, what)
        for n, test, day in tested:
            collected_at = self.moment(day, test.at)
            record = partial(self.test_record, protocol, patient, demo, n, test, collected_at)
            entries.append((collected_at + ENTERED_AFTER_COLLECTION, len(entries), record))
        for week, missed in enumerate(plan.groups_missed, start=1):
            day = enrollment.start_date + timedelta(weeks=week - 1, days=1)
            if day < today:
                record = partial(self.group_record, patient, demo, week, day, missed)
                entries.append((self.moment(day, GROUP_ENTERED_AT), len(entries), record))
        for fix in demo.corrections:
            if fix.n <= len(tested):
                _, test, day = tested[fix.n - 1]
                correct = partial(self.test_correct, protocol, patient, demo, fix, test)
                entered = self.moment(day, test.at) + CORRECTED_AFTER
                entries.append((entered, len(entries), correct))
        for entered, _, what in sorted(entries, key=lambda e: e[:2]):
            with self.entered_at(entered):
                what()

    def test_record(self, protocol, patient, demo, n: int, test, collected_at) -> None:
        recorded = recording.specimen_record(
            patient=patient,
            collected_at=collected_at,
            status=STATUS_OF.get(test.outcome, Specimen.Status.TESTED),
            results=self.cup(protocol, demo, test, test.outcome),
            notes=demo.notes.get(n, ""),
            recorded_by=patient.primary_counselor,
            idempotency_key=f"demo:{demo.record_number}:{n}",
        )
        self.created["specimens"] += not recorded.replayed
        self.specimens[n] = recorded.specimen

    def test_correct(self, protocol, patient, demo, fix: LateCorrection, test) -> None:
        specimen = self.specimens[fix.n]
        if specimen.corrections.exists():
            return
        recording.specimen_correct(
            specimen=specimen,
            changed_by=patient.primary_counselor,
            reason=fix.reason,
            status=Specimen.Status.TESTED,
            results=self.cup(protocol, demo, test, fix.outcome),
        )
        self.created["corrections"] += 1

    def cup(self, protocol: Protocol, demo: DemoPatient, test: PlannedTest, outcome: str) -> dict:
        """The panel's readings for a tested outcome (N or P); no readings otherwise."""
        if outcome not in (engine.NEGATIVE, engine.POSITIVE):
            return {}
        targets = protocol.target_substances
        results = {s: "negative" for s in (*PANEL, *targets)}
        if outcome == engine.POSITIVE:
            culprit = targets[int(test.positive_for * len(targets))]
            results[culprit] = "positive"
        if test.cannabis and "cannabis" not in targets:
            results["cannabis"] = "positive"
        if demo.methadone:
            results["methadone"] = "positive"  # prescribed; not a target, so it does not count
        return results

    def group_record(self, patient, demo, week: int, day: date, missed: bool) -> None:
        """The evening group, the day after each week's start; about one in eight is missed."""
        recorded = recording.attendance_record(
            patient=patient,
            occurred_at=self.moment(day, GROUP_AT),
            session_kind=Attendance.SessionKind.GROUP,
            status=Attendance.Status.MISSED if missed else Attendance.Status.ATTENDED,
            recorded_by=patient.primary_counselor,
            idempotency_key=f"demo:{demo.record_number}:group:{week}",
        )
        self.created["sessions"] += not recorded.replayed

    def moment(self, day: date, at: time) -> datetime:
        return datetime.combine(day, at, tzinfo=self.clinic.tz)

    @contextmanager
    def entered_at(self, moment: datetime) -> Iterator[None]:
        """Run a service as if a counselor clicked at `moment` (never later than now): the
        services and every timestamp they stamp (the ledger entry's created_at, the specimen's
        recorded_at) read django.utils.timezone.now. Only this loader back-dates; real entries
        are stamped when they happen."""
        moment = min(moment, self.now)
        with mock.patch.object(timezone, "now", return_value=moment):
            yield

    # --- output ----------------------------------------------------------------------------------

    def summary(self) -> str:
        made = {k: v for k, v in self.created.items() if v}
        if not made:
            return "Demo data for Riverside Recovery is already loaded; nothing new to add."
        listed = ", ".join(f"{v} {k}" for k, v in made.items())
        return f"Demo data for Riverside Recovery: created {listed}."

    def logins(self) -> str:
        portal = ", ".join(
            f"{d.portal_login} ({d.first_name} {d.last_name})" for d in ROSTER if d.portal_login
        )
        lines = [
            f"Demo logins (password: {DEMO_PASSWORD}):",
            "  admin — clinic administrator (the Django admin at /admin/, this clinic only)",
            "  counselor1, counselor2 — counselors",
            "  operator — platform operator (Django superuser, every clinic; no patient pages)",
            f"  staff second factor: authenticator key {DEMO_TOTP_KEY_BASE32}, or the code from"
            " `.venv/bin/python manage.py demo_code`",
            f"  patient portal logins: {portal}",
        ]
        if self.old_passwords:
            lines.append(
                f"  ({', '.join(self.old_passwords)} existed before and kept their own password)"
            )
        return "\n".join(lines)
