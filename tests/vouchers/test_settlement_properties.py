"""Settlement over random histories of an enrollment: results on successive Mon/Wed/Fri test days,
recorded in order or late, corrected, spent from.

Whatever happens, a clinic must be able to rely on: settling again posts nothing, the order in
which results arrive does not change what the patient ends up with, a correction undone is undone
to the cent, the wallet equals its ledger, and no award crosses a cap.

Each hypothesis example runs in its own rolled-back transaction (hypothesis.extra.django.TestCase).
"""

from datetime import date, timedelta

from django.db.models import F, Sum
from django.db.models.functions import Coalesce
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from cmtracker.models import User
from patients import services as clinical
from patients.enrollment import enrollment_start
from patients.models import Enrollment, Specimen
from tests.conftest import at
from tests.factories import ClinicFactory, EnrollmentFactory, PatientFactory
from vouchers import adjustments, recording
from vouchers.models import LedgerEntry, Protocol, ProtocolPhase, Wallet
from vouchers.settlement import enrollment_settle

MONDAY = date(2026, 1, 5)
LETTERS = "NPMRAE"
# What a counselor enters for each outcome letter.
ENTRY = {
    "N": {"status": "tested", "results": {"cocaine": "negative"}, "notes": ""},
    "P": {"status": "tested", "results": {"cocaine": "positive"}, "notes": ""},
    "M": {"status": "missed", "results": {}, "notes": ""},
    "R": {"status": "refused", "results": {}, "notes": ""},
    "A": {"status": "adulterated", "results": {}, "notes": ""},
    "E": {"status": "excused", "results": {}, "notes": "in hospital, letter on file"},
}

property_settings = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

outcomes = st.text(alphabet=LETTERS, min_size=1, max_size=18)
# Mostly new results, now and then a correction of an earlier one or the patient spending.
operations = st.lists(
    st.tuples(
        st.sampled_from(["record"] * 5 + ["correct", "spend"]),
        st.sampled_from(LETTERS),
        st.integers(0, 99),
    ),
    min_size=1,
    max_size=18,
)


def day_of(n: int) -> date:
    """The n-th test day (from 0): Mon, Wed, Fri of successive weeks."""
    return MONDAY + timedelta(days=7 * (n // 3) + (0, 2, 4)[n % 3])


def wallet_of(patient) -> Wallet:
    return Wallet.objects.get_or_create(patient=patient)[0]


def ledger_sums(patient) -> tuple[int, int]:
    sums = LedgerEntry.objects.filter(patient=patient).aggregate(
        balance=Coalesce(Sum("amount_cents"), 0), owed=Coalesce(Sum("overpayment_cents"), 0)
    )
    return sums["balance"], sums["owed"]


def earned_by_day(enrollment) -> dict[date, int]:
    """Each test day's entitlement in the ledger (what it is worth to the patient now)."""
    rows = (
        LedgerEntry.objects.filter(enrollment=enrollment, specimen__isnull=False)
        .values("specimen__collected_at")
        .annotate(cents=Sum(F("amount_cents") - F("overpayment_cents")))
    )
    clinic = enrollment.patient.clinic
    earned: dict[date, int] = {}
    for row in rows:
        day = clinic.local_date(row["specimen__collected_at"])
        earned[day] = earned.get(day, 0) + row["cents"]
    return {day: cents for day, cents in earned.items() if cents}


class History:
    """One patient's enrollment, driven through the services as a counselor would."""

    def __init__(self, test: TestCase, protocol: Protocol | None = None):
        self.test = test
        clinic = ClinicFactory(slug="riverside", time_zone="America/Chicago")
        # No password: hashing one per example would be most of the run time.
        self.counselor = User.objects.get_or_create(username="casey")[0]
        self.patient = PatientFactory(clinic=clinic)
        protocol = protocol or Protocol.objects.get(slug="higgins-1994", is_current=True)
        self.enrollment = EnrollmentFactory(
            patient=self.patient, protocol=protocol, start_date=MONDAY
        )
        self.specimens: list[int] = []
        self.days_used = 0

    def record(self, letter: str, day_index: int | None = None):
        if day_index is None:
            day_index = self.days_used
        self.days_used = max(self.days_used, day_index + 1)
        recorded = recording.specimen_record(
            patient=self.patient,
            collected_at=at(self.patient.clinic, day_of(day_index)),
            recorded_by=self.counselor,
            **ENTRY[letter],
        )
        self.specimens.append(recorded.specimen.id)
        self.check()
        return recorded

    def correct(self, index: int, letter: str):
        specimen = Specimen.objects.get(pk=self.specimens[index % len(self.specimens)])
        recorded = recording.specimen_correct(
            specimen=specimen,
            changed_by=self.counselor,
            reason="lab amended the report",
            **ENTRY[letter],
        )
        self.check()
        return recorded

    def spend(self, percent: int):
        cents = wallet_of(self.patient).balance_cents * percent // 100
        if cents:
            adjustments.ledger_adjust(
                patient=self.patient,
                amount_cents=-cents,
                reason="catalog redemption",
                actor=self.counselor,
            )
        self.check()

    def run(self, ops):
        for op, letter, number in ops:
            if op == "record" or (op == "correct" and not self.specimens):
                self.record(letter)
            elif op == "correct":
                self.correct(number, letter)
            else:
                self.spend(number)

    def balance(self) -> tuple[int, int]:
        wallet = wallet_of(self.patient)
        return wallet.balance_cents, wallet.overpayment_cents

    def check(self):
        """The wallet equals its ledger and nothing is negative."""
        balance, owed = self.balance()
        self.test.assertEqual((balance, owed), ledger_sums(self.patient))
        self.test.assertGreaterEqual(balance, 0)
        self.test.assertGreaterEqual(owed, 0)


def small_caps_protocol(enrollment_cap, year_cap) -> Protocol:
    protocol = Protocol.objects.create(
        slug="small-caps",
        name="Higgins values with small caps",
        kind=Protocol.Kind.VOUCHER,
        target_substances=["cocaine"],
        attendance_cents=300,
        enrollment_cap_cents=enrollment_cap,
        year_cap_cents=year_cap,
    )
    ProtocolPhase.objects.create(
        protocol=protocol,
        first_week=1,
        last_week=None,
        start_cents=250,
        increment_cents=125,
        max_cents=1000,
        bonus_every=3,
        bonus_cents=1000,
        recovery_after=5,
    )
    return protocol


class SettlementProperties(TestCase):
    @property_settings
    @given(ops=operations)
    def test_settling_any_history_twice_posts_nothing(self, ops):
        history = History(self)
        history.run(ops)
        rows = LedgerEntry.objects.count()
        before = history.balance()

        first = enrollment_settle(enrollment=history.enrollment)
        second = enrollment_settle(enrollment=history.enrollment)

        self.assertEqual((first.posted, second.posted), ([], []))
        self.assertEqual(LedgerEntry.objects.count(), rows)
        self.assertEqual(history.balance(), before)

    @property_settings
    @given(letters=outcomes, data=st.data())
    def test_results_recorded_one_by_one_in_any_order_pay_what_one_settlement_of_all_pays(
        self, letters, data
    ):
        order = data.draw(st.permutations(range(len(letters))), label="arrival order")
        one_by_one = History(self)
        for n in order:
            one_by_one.record(letters[n], day_index=n)

        all_at_once = History(self)
        for n, letter in enumerate(letters):
            entry = ENTRY[letter]
            clinical.specimen_create(
                enrollment=all_at_once.enrollment,
                collected_at=at(all_at_once.patient.clinic, day_of(n)),
                kind=Specimen.Kind.URINE,
                status=entry["status"],
                results=entry["results"],
                outcome=letter,
                secondary_negative=False,
                notes=entry["notes"],
                recorded_by=all_at_once.counselor,
                idempotency_key=None,
            )
        enrollment_settle(enrollment=all_at_once.enrollment)
        all_at_once.check()

        self.assertEqual(one_by_one.balance(), all_at_once.balance())
        self.assertEqual(
            earned_by_day(one_by_one.enrollment), earned_by_day(all_at_once.enrollment)
        )

    @property_settings
    @given(
        letters=outcomes,
        index=st.integers(0, 99),
        new=st.sampled_from(LETTERS),
        spent=st.integers(0, 100),
    )
    def test_correcting_a_result_and_correcting_it_back_restores_the_balance(
        self, letters, index, new, spent
    ):
        history = History(self)
        for letter in letters:
            history.record(letter)
        history.spend(spent)
        before = history.balance()
        earned_before = earned_by_day(history.enrollment)
        index %= len(letters)

        history.correct(index, new)
        history.correct(index, letters[index])

        self.assertEqual(history.balance(), before)
        self.assertEqual(earned_by_day(history.enrollment), earned_before)

    @property_settings
    @given(ops=operations)
    def test_the_wallet_always_equals_the_sums_of_the_ledger(self, ops):
        history = History(self)
        history.run(ops)  # checks after every step

        balance, owed = history.balance()
        earned = LedgerEntry.objects.filter(enrollment=history.enrollment).aggregate(
            cents=Coalesce(Sum(F("amount_cents") - F("overpayment_cents")), 0)
        )["cents"]
        spent = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.ADJUSTMENT).aggregate(
            cents=Coalesce(Sum("amount_cents"), 0)
        )["cents"]
        self.assertEqual(balance - owed, earned + spent)

    @property_settings
    @given(
        enrollment_cap=st.none() | st.integers(0, 4000),
        year_cap=st.none() | st.integers(0, 6000),
        first=outcomes,
        second=st.text(alphabet=LETTERS, max_size=12),
        sessions=st.lists(st.booleans(), max_size=12),
    )
    def test_no_award_crosses_the_protocols_caps(
        self, enrollment_cap, year_cap, first, second, sessions
    ):
        history = History(self, small_caps_protocol(enrollment_cap, year_cap))
        for n, attended in enumerate(sessions):
            recording.attendance_record(
                patient=history.patient,
                occurred_at=at(history.patient.clinic, day_of(n), 15),
                session_kind="group",
                status="attended" if attended else "missed",
                recorded_by=history.counselor,
            )
        for letter in first:
            history.record(letter)
        # The same patient, enrolled again later the same year under the same protocol.
        history.enrollment.status = Enrollment.Status.COMPLETED
        history.enrollment.save()
        earlier = history.enrollment
        history.enrollment = enrollment_start(
            patient=history.patient,
            protocol=earlier.protocol,
            start_date=day_of(history.days_used),
        )
        for letter in second:
            history.record(letter)

        no_cap = 10**9
        totals = []
        for enrollment in (earlier, history.enrollment):
            settled = enrollment_settle(enrollment=enrollment)
            self.assertEqual(settled.posted, [])
            awards = settled.result.awards
            total = sum(a.total_cents for a in awards)
            totals.append(total)
            self.assertLessEqual(total, enrollment_cap if enrollment_cap is not None else no_cap)
            for award in awards:
                self.assertGreaterEqual(award.clipped_cents, 0)
                self.assertLessEqual(award.voucher_cents, 1000)
            if any(a.clipped_cents for a in awards):
                # A clip means the patient reached a cap: it is paid up to the cap, not short.
                room = min(
                    enrollment_cap if enrollment_cap is not None else no_cap,
                    (year_cap if year_cap is not None else no_cap) - sum(totals[:-1]),
                )
                self.assertEqual(total, room)
        self.assertLessEqual(sum(totals), year_cap if year_cap is not None else no_cap)
        self.assertEqual(history.balance(), (sum(totals), 0))
