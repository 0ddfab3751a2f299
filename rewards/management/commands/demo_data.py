"""Load a small, believable clinic so the app can be tried on a fresh machine (`make run`).

    python manage.py demo_data [--force]

Riverside Recovery, an administrator, two counselors, a supervisor and twelve current patients on
the five published protocols, with weeks of drug tests and group sessions; and the program's past
(PAST): twenty enrollments of the last six months that ended, completed or withdrawn, for the
program dashboard. Every result goes through the same services a counselor's click does
(specimen_record, specimen_correct, attendance_record; draws_run and prize_claim, the redemption
services, ledger_adjust, enrollment_set_status for the past), so the ledger, the wallets and the
corrections are exactly what real use would produce; nothing writes a ledger row directly.

Running it again adds nothing: accounts and patients are looked up by name, and every test and
session carries an idempotency key (`demo:<record number>:<n>`, `demo:<record number>:group:<week>`)
that the services answer from the first recording. An enrollment of the past that has ended is
not gone through again at all (its draws, redemptions and adjustments carry keys too). History
is dated relative to today in the clinic's time zone and stops at yesterday, so nothing is ever in
the future.

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
from patients.enrollment import (
    ENDING,
    enrollment_schedule_set,
    enrollment_set_status,
    enrollment_start,
)
from patients.models import Attendance, Enrollment, Patient, Specimen
from rewards.catalog import catalog_item_create, stock_receive
from rewards.models import CatalogItem, Redemption
from rewards.prizes import draws_run, prize_claim
from rewards.redemptions import (
    redemption_approve,
    redemption_handover,
    redemption_request_or_replay,
)
from vouchers import engine, recording
from vouchers.adjustments import ledger_adjust
from vouchers.models import PrizeTier, Protocol, Wallet, protocol_attach
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

    @property
    def phone_suffix(self) -> str:
        return self.record_number[-2:]


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


# --- the program's past ---------------------------------------------------------------------------
#
# Six months of enrollments that have ended, so the program dashboard shows a course like the CM
# trials': negative samples rising from about 40% in the first weeks to 70-80% among those still
# coming by weeks 9-12, a third leaving in the first month, most of the rest completing their
# protocol. Each starts on a Monday, tested on the clinic's days (Monday, Wednesday, Friday), with
# the weekly group on Tuesday evening. Everything goes through the services, at the moment staff
# would have entered it; an ended enrollment is skipped on a second run, so reloading is cheap.

# The chance of a negative in week 1; it rises week by week to the patient's `plateau` by week 6.
EARLY_NEGATIVE = 0.2
SETTLED_BY_WEEK = 6
# Most cups are entered minutes after collection; some the next morning (the reward is posted the
# day after), a few days later (a late result).
ENTERED_NEXT_MORNING = 0.06
ENTERED_DAYS_LATER = 0.015
NEXT_MORNING = time(9, 20)
DAYS_LATER = timedelta(days=3)
# Staff close the file three days after the last scheduled test; the balance left is spent first.
CLOSED_AFTER = timedelta(days=3)
CLOSED_AT = time(12, 0)
SPENT_AT = time(11, 30)
# Every third week, after the group, the counselor orders what the patient asks for.
REDEEM_EVERY = 3
REQUESTED_AT = time(19, 50)
REDEEM_FROM_CENTS = 1000
# What a delivery brings when the cupboard runs short of an item.
DELIVERY = 10


@dataclass(frozen=True)
class PastEnrollment:
    record_number: str
    first_name: str
    last_name: str
    language: str
    protocol: str
    counselor: int
    weeks_ago: int  # starts on the Monday this many weeks before this week's
    left_after: int | None = None  # the last week they came in (then withdrawn); None: completed
    plateau: float = 0.8  # chance of a negative once settled in
    # test n -> (outcome letter, staff note), instead of chance
    special: dict[int, tuple[str, str]] = field(default_factory=dict)
    corrections: tuple[LateCorrection, ...] = ()
    adjustment: tuple[int, int, str] | None = None  # (week, cents, reason)
    email: bool = True
    portal_login: str = ""  # none: their reminders and portal were for their enrollment

    @property
    def phone_suffix(self) -> str:
        return str(50 + int(self.record_number[-2:]))  # after the current patients' numbers

    @property
    def methadone(self) -> bool:
        return self.protocol == "silverman-1996"  # a methadone clinic's protocol

    @property
    def notes(self) -> dict[int, str]:
        return {n: note for n, (_, note) in self.special.items()}


FALSE_POSITIVE = "GC/MS confirmation negative for cocaine; the cup screen was a false positive."

PAST = (
    PastEnrollment("RR-0902", "Karen", "Mills", "en", "silverman-1996", 2, 26, left_after=2,
                   plateau=0.5),
    PastEnrollment("RR-0904", "Lisa", "Chen", "en", "petry-fishbowl", 2, 25, plateau=0.9,
                   special={14: ("E", "Excused: family funeral out of state; notice on file.")}),
    PastEnrollment("RR-0905", "Tyrone", "Jackson", "en", "va-prize", 1, 25, left_after=1,
                   plateau=0.4),
    PastEnrollment("RR-0906", "Guadalupe", "Torres", "es", "higgins-1994", 2, 24, plateau=0.75,
                   special={9: ("P", "")},
                   corrections=(LateCorrection(9, engine.NEGATIVE, FALSE_POSITIVE),)),
    PastEnrollment("RR-0907", "Kevin", "O'Brien", "en", "silverman-1996", 1, 24, left_after=7,
                   plateau=0.7),
    PastEnrollment("RR-0908", "Sofía", "Mendoza", "es", "petry-fishbowl", 1, 23, left_after=3,
                   plateau=0.55),
    PastEnrollment("RR-0910", "Patricia", "Ruiz", "es", "va-prize", 2, 22, plateau=0.8,
                   special={5: ("R", "Refused to provide a specimen.")},
                   adjustment=(4, 500, "The clinic closed for a staff training on a test day; "
                               "the director approved that day's voucher.")),
    PastEnrollment("RR-0912", "Elena", "Navarro", "es", "silverman-1996", 2, 21, plateau=0.85,
                   special={8: ("D", "Dilute: creatinine below 20 mg/dL; asked to come back "
                                     "for a retest.")}),
    PastEnrollment("RR-0913", "Steven", "Park", "en", "petry-fishbowl", 1, 20, left_after=2,
                   plateau=0.45),
    PastEnrollment("RR-0914", "Rachel", "Adams", "en", "higgins-1994", 1, 19, plateau=0.8,
                   special={11: ("M", "")},
                   corrections=(LateCorrection(11, engine.NEGATIVE, "Collected by the evening "
                                "nurse and logged late; the lab result is negative."),)),
    PastEnrollment("RR-0915", "Miguel", "Herrera", "es", "va-prize", 2, 19, left_after=5,
                   plateau=0.6),
    PastEnrollment("RR-0917", "Antonio", "Delgado", "es", "petry-fishbowl", 2, 18, plateau=0.85,
                   adjustment=(7, 1000, "A grocery card handed over was found deactivated by "
                               "the store; replaced with the director's approval.")),
    PastEnrollment("RR-0918", "Heather", "Scott", "en", "higgins-1994", 1, 17, left_after=4,
                   plateau=0.5),
    PastEnrollment("RR-0919", "Ricardo", "Silva", "es", "ca-rip", 2, 16, left_after=3,
                   plateau=0.45),
    PastEnrollment("RR-0921", "Francisco", "Ortega", "es", "higgins-1994", 2, 15, plateau=0.7,
                   special={16: ("N", "")},
                   corrections=(LateCorrection(16, engine.POSITIVE, "Lab confirmation positive "
                                "for benzoylecgonine; the cup read negative."),)),
    PastEnrollment("RR-0922", "Amanda", "Price", "en", "petry-fishbowl", 1, 14, plateau=0.85,
                   special={12: ("E", "Excused: jury duty; the summons is on file.")}),
    PastEnrollment("RR-0923", "Javier", "Castro", "es", "silverman-1996", 1, 12, left_after=6,
                   plateau=0.65),
    PastEnrollment("RR-0924", "Derek", "Wallace", "en", "va-prize", 2, 9, left_after=2,
                   plateau=0.4),
    PastEnrollment("RR-0925", "Lucía", "Romero", "es", "ca-rip", 1, 8, left_after=4,
                   plateau=0.5),
    PastEnrollment("RR-0926", "Shawn", "Murphy", "en", "petry-fishbowl", 2, 7, left_after=1,
                   plateau=0.35),
)  # fmt: skip

STAFF = (
    # username, first name, last name, role
    ("admin", "Dana", "Whitfield", Membership.Role.ADMIN),
    ("counselor1", "Casey", "Morgan", Membership.Role.COUNSELOR),
    ("counselor2", "Alejandra", "Ortiz", Membership.Role.COUNSELOR),
    # Reads the program's reports and changes nothing; no Django admin.
    ("supervisor", "Priya", "Raman", Membership.Role.SUPERVISOR),
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


CATALOG_CENTS = {name: price for name, _, price, _, _ in CATALOG}


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
                "ended enrollments",
                "prize draws",
                "redemptions",
                "adjustments",
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
        self.admin = staff["admin"]
        # The catalog was stocked before the oldest enrollment of the program's past.
        opened = self.monday(today) - timedelta(weeks=max(p.weeks_ago for p in PAST), days=7)
        with self.entered_at(self.moment(opened, time(9, 0))):
            self.catalog(self.admin)
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
        for past in PAST:
            self.past(past, counselors[past.counselor], today)

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
            # Counselors use the Django admin until their own pages exist; a supervisor only reads
            # reports.
            is_staff=role != Membership.Role.SUPERVISOR,
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
                "phone": f"+121355501{demo.phone_suffix}",
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

    # --- the program's past ----------------------------------------------------------------------

    def past(self, past: PastEnrollment, counselor: User, today: date) -> None:
        """An enrollment that ended before today, recorded as it happened; skipped once ended."""
        rng = random.Random(f"{SEED}:{past.record_number}")  # noqa: S311 - demo variety
        patient, _ = self.patient(past, counselor)
        enrollment = patient.enrollments.first()
        if enrollment is not None and enrollment.status in ENDING:
            return
        protocol = Protocol.objects.get(slug=past.protocol, is_current=True)
        start = self.monday(today) - timedelta(weeks=past.weeks_ago)
        if enrollment is None:
            with self.entered_at(self.moment(start, time(8, 0))):
                enrollment = enrollment_start(patient=patient, protocol=protocol, start_date=start)
            self.created["enrollments"] += 1
        enrollment = protocol_attach(enrollment)
        rules = protocol.rules()
        last_week = rules.weeks if past.left_after is None else past.left_after + 1
        days = []
        for day in scheduled_days(rules, start, enrollment.weekdays):
            if engine.enrollment_week(start, day) > last_week:
                break
            days.append(day)
        entries = []  # (entered at, order, what)

        def at(moment: datetime, what) -> None:
            entries.append((moment, len(entries), what))

        self.specimens = {}
        for n, day in enumerate(days, start=1):
            week = engine.enrollment_week(start, day)
            test, late = self.past_test(past, rng, n, week, last_week)
            collected_at = self.moment(day, test.at)
            entered = collected_at + ENTERED_AFTER_COLLECTION
            if late < ENTERED_DAYS_LATER:
                entered = self.moment(day + DAYS_LATER, NEXT_MORNING)
            elif late < ENTERED_NEXT_MORNING:
                entered = self.moment(day + timedelta(days=1), NEXT_MORNING)
            at(entered, partial(self.past_test_record, protocol, patient, past, n, test, day))
            for fix in (c for c in past.corrections if c.n == n):
                at(
                    collected_at + CORRECTED_AFTER,
                    partial(self.test_correct, protocol, patient, past, fix, test),
                )
        for week in range(1, last_week + 1):
            day = start + timedelta(weeks=week - 1, days=1)
            gone = past.left_after is not None and week > past.left_after
            missed = gone or rng.random() < (0.35 if week == past.left_after else 0.12)
            at(
                self.moment(day, GROUP_ENTERED_AT),
                partial(self.group_record, patient, past, week, day, missed),
            )
            if week % REDEEM_EVERY == 0 and not gone:
                requested = self.moment(day, REQUESTED_AT)
                delays = (rng.choice((14, 16, 40)), rng.choice((1, 2, 3)), rng.random())
                at(requested, partial(self.redeem, patient, counselor, f"w{week}", *delays))
        if past.adjustment is not None:
            week, cents, reason = past.adjustment
            day = start + timedelta(weeks=week - 1, days=1)
            at(self.moment(day, time(11, 0)), partial(self.adjust, patient, past, cents, reason))
        closed = days[-1] + CLOSED_AFTER
        if past.left_after is None:
            at(self.moment(closed, SPENT_AT), partial(self.redeem, patient, counselor, "end"))
        status = (
            Enrollment.Status.COMPLETED if past.left_after is None else Enrollment.Status.WITHDRAWN
        )
        at(
            self.moment(closed, CLOSED_AT),
            partial(self.close, enrollment, status, counselor, closed),
        )
        for entered, _, what in sorted(entries, key=lambda e: e[:2]):
            with self.entered_at(entered):
                what()

    def past_test(
        self, past: PastEnrollment, rng, n: int, week: int, last_week: int
    ) -> tuple[PlannedTest, float]:
        """Test n's outcome by chance, likelier negative week by week; and when it is entered.
        A completer comes to every test of the last week. The generator is drawn the same number
        of times for every test."""
        chance, lateness = rng.random(), rng.random()
        settled = min(1.0, (week - 1) / (SETTLED_BY_WEEK - 1))
        negative = EARLY_NEGATIVE + (past.plateau - EARLY_NEGATIVE) * settled
        if past.left_after is not None and week > past.left_after:
            missing = 1.0  # stopped coming
        elif week == past.left_after:
            missing = 0.35  # drifting away
        elif past.left_after is None and week == last_week:
            missing = 0.0
        else:
            missing = 0.03 + 0.15 * (1 - settled)
        if n in past.special:
            letter = past.special[n][0]
        elif chance < missing:
            letter = engine.MISSED
        elif (chance - missing) / (1 - missing) < negative:
            letter = engine.NEGATIVE
        else:
            letter = engine.POSITIVE
        test = PlannedTest(
            outcome=letter,
            at=time(rng.randint(8, 15), rng.choice((0, 10, 20, 30, 40, 50))),
            positive_for=rng.random(),
            cannabis=rng.random() < 0.15,
        )
        if letter not in (engine.NEGATIVE, engine.POSITIVE):
            lateness = 1.0  # a missed or excused mark is made on the day
        return test, lateness

    def past_test_record(self, protocol, patient, past, n: int, test, day: date) -> None:
        self.test_record(protocol, patient, past, n, test, self.moment(day, test.at))
        if protocol.bowl:
            self.draws(patient, past, n)

    def draws(self, patient: Patient, past: PastEnrollment, n: int) -> None:
        """The draws a result earned, made at the desk; each prize won is handed over from the
        cabinet (restocked when it runs out)."""
        wallet = Wallet.objects.filter(patient=patient).first()
        if wallet is None or wallet.draws_available < 1:
            return
        made = draws_run(
            patient=patient,
            drawn_by=patient.primary_counselor,
            rng=random.Random(f"{SEED}:{past.record_number}:bowl:{n}"),  # noqa: S311
            idempotency_key=f"demo:{past.record_number}:draws:{n}",
        )
        self.created["prize draws"] += len(made)
        for draw in made:
            if draw.tier not in PrizeTier.values:
                continue
            item = CatalogItem.objects.filter(clinic=self.clinic, prize_tier=draw.tier).first()
            if item is None:
                continue
            self.stocked(item, 1)
            prize_claim(draw=draw, item=item, claimed_by=patient.primary_counselor)

    def stocked(self, item: CatalogItem, quantity: int) -> None:
        item.refresh_from_db(fields=["stock"])
        if item.stock is not None and item.stock < quantity:
            stock_receive(
                item=item,
                quantity=max(quantity, DELIVERY if item.price_cents < 5000 else 1),
                actor=self.admin,
                reason="Delivery",
            )

    def redeem(
        self,
        patient: Patient,
        counselor: User,
        label: str,
        approved_after_hours: int = 0,
        handed_over_after_days: int = 0,
        pick: float = 0.0,
    ) -> None:
        """The patient spends their balance: every third week some of it (approved the next day
        or two, handed over at a later visit); at the end, all of it, handed over at once."""
        wallet = Wallet.objects.filter(patient=patient).first()
        balance = wallet.balance_cents if wallet else 0
        at_end = label == "end"
        if balance < (CATALOG_CENTS["Phone minutes top-up $5"] if at_end else REDEEM_FROM_CENTS):
            return
        basket = self.basket(balance, pick, everything=at_end)
        items = {i.name: i for i in CatalogItem.objects.filter(clinic=self.clinic)}
        for name, quantity in basket:
            self.stocked(items[name], quantity)
        requested = redemption_request_or_replay(
            patient=patient,
            items=[(items[name], quantity) for name, quantity in basket],
            requested_by=counselor,
            idempotency_key=f"demo:{patient.record_number}:redeem:{label}",
        )
        if requested.replayed:
            return
        self.created["redemptions"] += 1
        redemption = requested.redemption
        approved = timezone.now() + timedelta(hours=approved_after_hours, minutes=5)
        with self.entered_at(approved):
            redemption = redemption_approve(redemption=redemption, actor=counselor)
        with self.entered_at(approved + timedelta(days=handed_over_after_days, minutes=5)):
            if redemption.status == Redemption.Status.APPROVED:
                redemption_handover(redemption=redemption, actor=counselor)

    @staticmethod
    def basket(balance: int, pick: float, everything: bool) -> list[tuple[str, int]]:
        """What a patient asks for: a bus pass or grocery cards, phone minutes with the change;
        everything they can buy when they leave."""
        prices = CATALOG_CENTS
        basket = {}
        if balance >= prices["Monthly bus pass"] and (everything or pick < 0.4):
            basket["Monthly bus pass"] = 1
            balance -= prices["Monthly bus pass"]
        cards = balance // prices["Grocery gift card $10"]
        if cards:
            basket["Grocery gift card $10"] = cards if everything else min(cards, 2)
            balance -= basket["Grocery gift card $10"] * prices["Grocery gift card $10"]
        if everything and balance >= prices["Phone minutes top-up $5"]:
            basket["Phone minutes top-up $5"] = balance // prices["Phone minutes top-up $5"]
        return list(basket.items())

    def adjust(self, patient: Patient, past: PastEnrollment, cents: int, reason: str) -> None:
        ledger_adjust(
            patient=patient,
            amount_cents=cents,
            reason=reason,
            actor=self.admin,
            idempotency_key=f"demo:{past.record_number}:adjust",
        )
        self.created["adjustments"] += 1

    def close(self, enrollment: Enrollment, status: str, counselor: User, day: date) -> None:
        enrollment_set_status(enrollment=enrollment, status=status, actor=counselor, today=day)
        self.created["ended enrollments"] += 1

    @staticmethod
    def monday(day: date) -> date:
        return day - timedelta(days=day.weekday())

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
            "  supervisor — reads the clinic's reports and the program dashboard; changes nothing",
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
