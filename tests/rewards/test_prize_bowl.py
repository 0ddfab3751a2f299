"""The bowl: over many draws each tier comes up as often as its slips say, and production draws
with a CSPRNG. A fixed seed makes the frequency test repeatable."""

import random
import secrets
from collections import Counter
from datetime import date

import pytest

from rewards import prizes
from tests.conftest import at
from tests.factories import EnrollmentFactory, preset_protocol
from vouchers import recording

STANDARD_BOWL = [
    {"name": "good job", "slips": 250, "value_cents": 0},
    {"name": "small", "slips": 209, "value_cents": 100},
    {"name": "large", "slips": 40, "value_cents": 2000},
    {"name": "jumbo", "slips": 1, "value_cents": 10000},
]
DRAWS = 50_000
# Chi-square critical value, 3 degrees of freedom (4 tiers), p = 0.001.
CRITICAL_3DF_P001 = 16.27


def chi_square(counts: Counter, bowl: list[dict], draws: int) -> float:
    total = sum(t["slips"] for t in bowl)
    return sum(
        (counts[t["name"]] - draws * t["slips"] / total) ** 2 / (draws * t["slips"] / total)
        for t in bowl
    )


def tally(bowl: list[dict], seed: int = 2026) -> Counter:
    rng = random.Random(seed)
    return Counter(prizes.bowl_draw(bowl, rng)["name"] for _ in range(DRAWS))


def test_tier_frequencies_match_the_bowl():
    counts = tally(STANDARD_BOWL)

    assert sum(counts.values()) == DRAWS
    assert chi_square(counts, STANDARD_BOWL, DRAWS) < CRITICAL_3DF_P001
    assert counts["jumbo"] > 0  # 1 slip in 500: ~100 in 50,000


def test_the_same_statistic_rejects_a_bowl_with_small_and_large_swapped():
    swapped = [
        {"name": "good job", "slips": 250, "value_cents": 0},
        {"name": "small", "slips": 40, "value_cents": 100},
        {"name": "large", "slips": 209, "value_cents": 2000},
        {"name": "jumbo", "slips": 1, "value_cents": 10000},
    ]
    counts = tally(swapped)

    assert chi_square(counts, STANDARD_BOWL, DRAWS) > CRITICAL_3DF_P001


def test_the_same_statistic_rejects_a_slightly_wrong_bowl():
    # One slip moved from large to jumbo: 2 jumbo in 500 instead of 1.
    wrong = [dict(t) for t in STANDARD_BOWL]
    wrong[2]["slips"], wrong[3]["slips"] = 39, 2
    counts = tally(wrong)

    assert chi_square(counts, STANDARD_BOWL, DRAWS) > CRITICAL_3DF_P001


class Slip:
    """An rng that returns the given slip numbers in turn."""

    def __init__(self, *slips):
        self.slips = list(slips)

    def randrange(self, n):
        return self.slips.pop(0)


@pytest.mark.parametrize(
    ("slip", "tier"),
    [(0, "good job"), (249, "good job"), (250, "small"), (458, "small"), (459, "large"),
     (498, "large"), (499, "jumbo")],
)  # fmt: skip
def test_each_slip_number_belongs_to_one_tier(slip, tier):
    assert prizes.bowl_draw(STANDARD_BOWL, Slip(slip))["name"] == tier


def test_an_empty_bowl_cannot_be_drawn_from():
    with pytest.raises(ValueError):
        prizes.bowl_draw([{"name": "good job", "slips": 0, "value_cents": 0}], random.Random(1))


def test_a_real_draw_uses_the_operating_systems_csprng(monkeypatch, patient, counselor):
    used = []

    class Spy(secrets.SystemRandom):
        def randrange(self, *args):
            used.append(self)
            return super().randrange(*args)

    monkeypatch.setattr(prizes.secrets, "SystemRandom", Spy)
    enrollment = EnrollmentFactory(
        patient=patient, protocol=preset_protocol("va-prize"), start_date=date(2026, 1, 5)
    )
    recording.specimen_record(
        patient=patient,
        collected_at=at(patient.clinic, enrollment.start_date),
        results=dict.fromkeys(["cocaine", "amphetamine", "methamphetamine"], "negative"),
        recorded_by=counselor,
    )

    [draw] = prizes.draws_run(patient=patient, drawn_by=counselor)

    assert len(used) == 1 and isinstance(used[0], secrets.SystemRandom)
    assert draw.tier in {t["name"] for t in STANDARD_BOWL}
