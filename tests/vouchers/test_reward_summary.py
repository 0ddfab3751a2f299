"""The summary a counselor reads out and a patient sees: balance, streak, next reward, caps."""

from datetime import timedelta

from tests.conftest import at, protocol
from tests.factories import EnrollmentFactory
from vouchers import recording
from vouchers.selectors import reward_summary


def _record(enrollment, counselor, letters):
    clinic = enrollment.patient.clinic
    for n, letter in enumerate(letters):
        recording.specimen_record(
            patient=enrollment.patient,
            collected_at=at(clinic, enrollment.start_date + timedelta(days=2 * n)),
            results={"cocaine": "positive" if letter == "P" else "negative"},
            recorded_by=counselor,
        )


def test_the_summary_shows_the_balance_streak_and_next_value(enrollment, counselor):
    _record(enrollment, counselor, "NNN")
    summary = reward_summary(patient=enrollment.patient, today=enrollment.start_date)
    assert summary.wallet.balance_cents == 250 + 375 + 500 + 1000
    assert (summary.streak, summary.next_cents) == (3, 625)
    assert summary.cap_remaining_cents is None  # Higgins as published has no cap


def test_after_a_positive_the_next_negative_earns_the_start_value(enrollment, counselor):
    _record(enrollment, counselor, "NNP")
    summary = reward_summary(patient=enrollment.patient, today=enrollment.start_date)
    assert (summary.streak, summary.next_cents) == (0, 250)


def test_the_summary_says_how_much_can_still_be_earned_under_the_caps(patient, counselor):
    enrollment = EnrollmentFactory(patient=patient, protocol=protocol("ca-rip"))
    clinic = patient.clinic
    recording.specimen_record(
        patient=patient,
        collected_at=at(clinic, enrollment.start_date),
        results={"cocaine": "negative", "amphetamine": "negative", "methamphetamine": "negative"},
        recorded_by=counselor,
    )
    summary = reward_summary(patient=patient, today=enrollment.start_date)
    assert summary.earned_this_year_cents == 1000
    assert summary.cap_remaining_cents == 59900 - 1000


def test_a_prize_protocol_promises_draws(patient, counselor):
    enrollment = EnrollmentFactory(patient=patient, protocol=protocol("petry-fishbowl"))
    summary = reward_summary(patient=patient, today=enrollment.start_date)
    assert summary.is_prize
    assert summary.next_draws == 1


def test_a_patient_without_an_enrollment_has_an_empty_summary(patient):
    summary = reward_summary(patient=patient, today=patient.created_at.date())
    assert summary.enrollment is None
    assert (summary.wallet.balance_cents, summary.streak) == (0, 0)
