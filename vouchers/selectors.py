"""Reads of rewards state. Balance reads are one indexed row (the Wallet), never a ledger scan."""

from dataclasses import dataclass
from datetime import date

from django.db.models import Case, Count, F, IntegerField, Prefetch, Q, Sum, Value, When

from patients.models import Attendance, Correction, Enrollment, Patient, Specimen
from vouchers import engine, extensions
from vouchers.ledger import earned_cents, earned_elsewhere_by_year
from vouchers.models import LedgerEntry, Wallet, protocol_attach
from vouchers.schedule import next_negative_award
from vouchers.settlement import enrollment_events


def wallet_get(*, patient: Patient) -> Wallet:
    """The patient's wallet; a patient with no ledger yet has an unsaved, empty one."""
    return Wallet.objects.filter(patient=patient).first() or Wallet(patient=patient)


@dataclass(frozen=True)
class Drift:
    patient_id: int
    field: str
    wallet: int
    ledger: int


def ledger_verify() -> list[Drift]:
    """Every wallet total that differs from the sum of its ledger entries (none, when all is well).

    Patients with ledger entries but no wallet count too: their wallet reads as zero.
    """
    sums = LedgerEntry.objects.values("patient_id").annotate(
        balance_cents=Sum("amount_cents"),
        overpayment_cents=Sum("overpayment_cents"),
        draws_available=Sum("draws"),
        draws_under_review=Sum("draws_under_review"),
    )
    by_patient = {row.pop("patient_id"): row for row in sums}
    fields = ["balance_cents", "overpayment_cents", "draws_available", "draws_under_review"]
    drift = []
    for wallet in Wallet.objects.values("patient_id", *fields):
        ledger = by_patient.pop(wallet["patient_id"], dict.fromkeys(fields, 0))
        drift += [
            Drift(wallet["patient_id"], f, wallet[f], ledger[f])
            for f in fields
            if wallet[f] != ledger[f]
        ]
    for patient_id, ledger in by_patient.items():
        drift += [Drift(patient_id, f, 0, ledger[f]) for f in fields if ledger[f]]
    return drift


def ledger_summary() -> dict:
    return LedgerEntry.objects.aggregate(
        entries=Count("id"),
        earned_cents=Sum(F("amount_cents") - F("overpayment_cents"), filter=~Q(component="")),
    )


@dataclass(frozen=True)
class RewardSummary:
    """What a counselor says to a patient, and what the patient sees on their phone."""

    enrollment: Enrollment | None
    wallet: Wallet
    result: engine.Result | None
    earned_this_year_cents: int
    cap_remaining_cents: int | None  # None: no cap applies
    protocol_over: bool = False  # past the protocol's last week: tests earn nothing more
    # What the next negative test earns: bonus, recovery, phase and every cap included, counting
    # what the patient's other enrollments earned that year (exactly what settlement will pay).
    next_award: engine.Award | None = None

    @property
    def streak(self) -> int:
        return self.result.state.streak if self.result else 0

    @property
    def next_cents(self) -> int:
        return self.next_award.total_cents if self.next_award else 0

    @property
    def next_draws(self) -> int:
        return self.next_award.draws if self.next_award else 0

    @property
    def next_capped(self) -> bool:
        """The caps cut what the next negative test would otherwise earn."""
        return bool(self.next_award and self.next_award.clipped_cents)

    @property
    def next_voucher_cents(self) -> int:
        """The voucher's next value in the escalation, bonus not included (the API's field)."""
        return self.result.state.next_cents if self.result else 0

    @property
    def is_prize(self) -> bool:
        return bool(self.enrollment) and self.enrollment.protocol.kind == engine.PRIZE


def reward_summary(*, patient: Patient, today: date) -> RewardSummary:
    """Balance, streak, next reward and what is left under the caps, for `today` in the clinic.

    The streak and next value come from replaying the open enrollment (read-only, no lock) with
    what the patient's other enrollments earned each year, as settlement replays it, so they are
    exactly what settlement would compute, caps included.
    """
    wallet = wallet_get(patient=patient)
    enrollment = (
        patient.enrollments.filter(status__in=Enrollment.OPEN_STATUSES)
        .select_related("patient__clinic")
        .prefetch_related("specimens", "attendance")
        .first()
    )
    earned_this_year = earned_cents(patient=patient, event_year=today.year)
    if enrollment is None:
        return RewardSummary(None, wallet, None, earned_this_year, None)
    rules = protocol_attach(enrollment).protocol.rules()
    events = enrollment_events(enrollment)
    # Only the year cap counts other enrollments; without one, save the query.
    elsewhere = earned_elsewhere_by_year(enrollment) if rules.year_cap_cents is not None else {}
    result = engine.run(rules, enrollment.start_date, events, elsewhere)
    following = next_negative_award(
        rules, enrollment.start_date, events, today, enrollment.weekdays, elsewhere
    )
    # Prizes won count toward the same caps as vouchers earned.
    earned_this_year += extensions.prizes_won_cents(patient=patient, year=today.year)
    remaining = extensions.cap_room(patient=patient, enrollment=enrollment, today=today)
    over = bool(rules.weeks) and engine.enrollment_week(enrollment.start_date, today) > rules.weeks
    return RewardSummary(enrollment, wallet, result, earned_this_year, remaining, over, following)


def enrollment_with_history(patient: Patient) -> Enrollment | None:
    """The open enrollment, or else the latest, with everything its history table shows."""
    corrections = Correction.objects.select_related("changed_by")
    enrollment = (
        Enrollment.objects.filter(patient=patient)
        .select_related("patient__clinic")
        .prefetch_related(
            Prefetch(
                "specimens",
                queryset=Specimen.objects.select_related("recorded_by").prefetch_related(
                    "results", Prefetch("corrections", queryset=corrections)
                ),
            ),
            Prefetch(
                "attendance",
                queryset=Attendance.objects.select_related("recorded_by").prefetch_related(
                    Prefetch("corrections", queryset=corrections)
                ),
            ),
        )
        .order_by(
            Case(
                When(status__in=Enrollment.OPEN_STATUSES, then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            ),
            "-start_date",
            "-id",
        )
        .first()
    )
    return enrollment and protocol_attach(enrollment)
