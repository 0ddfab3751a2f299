"""vouchers.extensions: the facts vouchers shows of another app, and its defaults without it."""

import pytest

from tests.conftest import at, protocol
from tests.factories import EnrollmentFactory
from vouchers import extensions, recording
from vouchers.selectors import reward_summary


@pytest.fixture
def vouchers_alone(monkeypatch):
    """As if rewards were not installed: nothing registered."""
    monkeypatch.setattr(extensions, "_providers", {})


def test_rewards_answers_every_fact_vouchers_asks():
    assert set(extensions._providers) == set(extensions._DEFAULTS)


def test_an_unknown_fact_is_refused():
    with pytest.raises(ValueError, match="no fact named"):
        extensions.register("prize_colour", lambda **kwargs: "gold")


def test_alone_vouchers_counts_earnings_under_the_caps_and_nothing_else(
    vouchers_alone, patient, counselor, clinic
):
    enrollment = EnrollmentFactory(patient=patient, protocol=protocol("ca-rip"))
    recording.specimen_record(
        patient=patient,
        collected_at=at(clinic, enrollment.start_date),
        results={"cocaine": "negative", "amphetamine": "negative", "methamphetamine": "negative"},
        recorded_by=counselor,
    )

    summary = reward_summary(patient=patient, today=enrollment.start_date)

    assert summary.earned_this_year_cents == 1000
    assert summary.cap_remaining_cents == 59900 - 1000
    assert extensions.points_held_cents(patient=patient) == 0
    assert list(extensions.prize_draws(patient=patient)) == []
    assert extensions.low_stock(clinic=clinic) == []
