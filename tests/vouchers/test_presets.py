"""The published protocols loaded by migration 0003 reproduce their papers through the engine."""

from datetime import date, timedelta

import pytest

from tests.calendar import MON_THU, MONDAY, collection_days
from vouchers import engine
from vouchers.engine import SPECIMEN, Event
from vouchers.models import Protocol

PRESETS = ["higgins-1994", "silverman-1996", "petry-fishbowl", "va-prize", "ca-rip"]


def specimens(letters: str, days: list[date]) -> list[Event]:
    return [
        Event(key=f"s{i + 1}", day=day, kind=SPECIMEN, outcome=letter)
        for i, (letter, day) in enumerate(zip(letters, days, strict=True))
    ]


def preset(slug: str) -> Protocol:
    return Protocol.objects.get(slug=slug, is_current=True)


def ca_rip_schedule() -> list[date]:
    """Twice a week (Mon/Thu) in weeks 1-12, then weekly (Mon) in weeks 13-24: 36 tests."""
    return collection_days(24, MONDAY, MON_THU) + collection_days(
        12, MONDAY + timedelta(weeks=12), (0,)
    )


@pytest.mark.parametrize("slug", PRESETS)
def test_each_preset_gives_the_engine_runnable_rules(db, slug):
    rules = preset(slug).rules()
    result = engine.run(rules, MONDAY, specimens("NPN", collection_days(3)))
    assert rules.phase_for(1) is not None
    assert len(result.awards) == 3
    assert result.total_cents + result.total_draws > 0


@pytest.mark.parametrize(
    ("slug", "total", "last_voucher"),
    [
        pytest.param("higgins-1994", 99750, 4625, id="higgins-1994-earns-997.50"),
        pytest.param("silverman-1996", 115500, 5500, id="silverman-1996-earns-1155.00"),
    ],
)
def test_the_voucher_presets_pay_the_published_total_for_36_negatives(
    db, slug, total, last_voucher
):
    result = engine.run(preset(slug).rules(), MONDAY, specimens("N" * 36, collection_days(36)))
    assert result.total_cents == total
    assert result.awards[-1].voucher_cents == last_voucher
    assert result.awards[-1].week == 12


def test_the_higgins_preset_restores_the_earlier_level_after_5_negatives(db):
    letters = "NNNNNN" + "P" + "NNNNN"
    result = engine.run(
        preset("higgins-1994").rules(), MONDAY, specimens(letters, collection_days(12))
    )
    assert result.awards[-1].voucher_cents == 1000


def test_the_silverman_preset_has_no_recovery_and_ignores_prescribed_methadone(db):
    protocol = preset("silverman-1996")
    outcome, _ = engine.specimen_outcome(
        "tested", {"cocaine": "negative", "methadone": "positive"}, protocol.target_substances
    )
    assert outcome == "N"
    letters = "NNNNNN" + "P" + "NNNNN"
    result = engine.run(protocol.rules(), MONDAY, specimens(letters, collection_days(12)))
    assert result.awards[-1].voucher_cents == 850


@pytest.mark.parametrize(
    ("slug", "draws"),
    [
        pytest.param("va-prize", [*range(1, 9), 8, 8, 8, 8, 8, 8], id="va-prize-up-to-8"),
    ],
)
def test_the_prize_presets_add_a_draw_per_consecutive_negative_up_to_their_maximum(db, slug, draws):
    days = collection_days(len(draws), weekdays=MON_THU)
    result = engine.run(preset(slug).rules(), MONDAY, specimens("N" * len(draws), days))
    assert [a.draws for a in result.awards] == draws
    assert result.total_cents == 0


@pytest.mark.parametrize(
    ("slug", "draws"),
    [
        pytest.param("petry-fishbowl", [1, 1, 2, 0, 1], id="petry-fishbowl-per-week"),
        pytest.param("va-prize", [1, 2, 3, 0, 1], id="va-prize-per-negative"),
    ],
)
def test_the_prize_presets_reset_to_one_draw_and_use_the_standard_bowl(db, slug, draws):
    rules = preset(slug).rules()
    result = engine.run(rules, MONDAY, specimens("NNNPN", collection_days(5, weekdays=MON_THU)))
    assert [a.draws for a in result.awards] == draws
    assert sum(t.slips for t in rules.bowl) == 500
    assert rules.expected_cents(1) == 222


def test_petry_fishbowl_adds_a_draw_per_week_of_continuous_abstinence_up_to_12(db):
    days = collection_days(24, weekdays=MON_THU)
    result = engine.run(preset("petry-fishbowl").rules(), MONDAY, specimens("N" * 24, days))

    assert [a.draws for a in result.awards] == [w for w in range(1, 13) for _ in (1, 2)]
    assert result.total_draws == 156


def test_petry_fishbowl_follows_ctn_0007_targets_and_opiate_bonus(db):
    protocol = preset("petry-fishbowl")
    targets = protocol.target_substances
    panel = {s: "negative" for s in [*targets, "opiates", "methadone"]}

    assert set(targets) == {"cocaine", "amphetamine", "methamphetamine", "alcohol"}
    assert engine.specimen_outcome("tested", panel | {"alcohol": "positive"}, targets)[0] == "P"
    assert engine.specimen_outcome("tested", panel | {"methadone": "positive"}, targets)[0] == "N"
    outcome, opiate_negative = engine.specimen_outcome(
        "tested", panel, targets, protocol.secondary_substances
    )
    events = [Event("s1", MONDAY, SPECIMEN, outcome, secondary_negative=opiate_negative)]
    assert engine.run(protocol.rules(), MONDAY, events).awards[0].draws == 1 + 2


def test_petry_fishbowl_names_its_trial_and_what_is_inferred(db):
    protocol = preset("petry-fishbowl")

    assert "CTN-0007" in protocol.name
    assert "Peirce JM, Petry NM, Stitzer ML" in protocol.description
    assert "per week of continuous abstinence" in protocol.description
    assert "INFERRED" in protocol.description
    assert protocol.draws_escalation == "week"


def test_ca_rip_escalates_from_10_dollars_to_26_50_at_the_12th_negative(db):
    result = engine.run(preset("ca-rip").rules(), MONDAY, specimens("N" * 36, ca_rip_schedule()))
    vouchers = [a.voucher_cents for a in result.awards]
    assert vouchers[0] == 1000
    assert vouchers[10] < 2650
    assert vouchers[11] == 2650
    assert max(vouchers) == 2650


def test_ca_rip_tests_weekly_in_weeks_13_to_24(db):
    rules = preset("ca-rip").rules()
    assert [rules.phase_for(w).tests_per_week for w in (1, 12, 13, 24)] == [2, 2, 1, 1]
    assert rules.phase_for(25) is None
    result = engine.run(rules, MONDAY, specimens("N" * 36, ca_rip_schedule()))
    weekly = [a for a in result.awards if a.week >= 13]
    assert [a.week for a in weekly] == list(range(13, 25))
    assert {a.voucher_cents for a in weekly} == {500}


def ca_rip_histories():
    """36 tests on the protocol's schedule: all negative, then one or two resets anywhere."""
    yield "N" * 36
    for first in range(36):
        yield "N" * first + "P" + "N" * (35 - first)
        for second in range(first + 1, 36, 5):
            letters = list("N" * 36)
            letters[first], letters[second] = "P", "M"
            yield "".join(letters)


def test_ca_rip_never_pays_more_than_26_50_a_test_nor_599_an_episode(db):
    rules = preset("ca-rip").rules()
    for letters in ca_rip_histories():
        result = engine.run(rules, MONDAY, specimens(letters, ca_rip_schedule()))
        assert max(a.voucher_cents for a in result.awards) <= 2650, letters
        assert result.total_cents <= 59900, letters
    all_negative = engine.run(rules, MONDAY, specimens("N" * 36, ca_rip_schedule()))
    assert all_negative.total_cents == 59700


def test_ca_rip_clips_at_the_episode_cap_however_often_the_patient_tests(db):
    days = [MONDAY + timedelta(days=d) for d in range(24 * 7)]
    result = engine.run(preset("ca-rip").rules(), MONDAY, specimens("N" * len(days), days))
    assert result.total_cents == 59900
    assert sum(a.clipped_cents for a in result.awards) > 0


def test_ca_rip_returns_to_the_earlier_level_after_2_negatives(db):
    letters = "N" * 12 + "P" + "NN"
    result = engine.run(
        preset("ca-rip").rules(), MONDAY, specimens(letters, ca_rip_schedule()[:15])
    )
    assert [a.voucher_cents for a in result.awards[-2:]] == [1000, 2650]


def test_ca_rip_says_which_of_its_figures_are_inferred(db):
    protocol = preset("ca-rip")
    assert "INFERRED" in protocol.description
    assert "$750" not in protocol.description
    assert "Medi-Cal" in protocol.description


def test_ca_rip_caps_the_episode_at_599_and_sets_no_calendar_year_cap(db):
    protocol = preset("ca-rip")

    assert (protocol.enrollment_cap_cents, protocol.year_cap_cents) == (59900, None)
