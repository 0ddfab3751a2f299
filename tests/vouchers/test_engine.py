"""The earning engine, table by table (shared/DESIGN.md, "The earning rules").

No database: every protocol is built here with engine.Rules/Phase, every history with engine.Event.
Amounts are integer cents, as a clinic user sees them on the award.
"""

from datetime import date, timedelta

import pytest

from tests.calendar import MON_WED_FRI, MONDAY, collection_days
from vouchers import engine
from vouchers.engine import (
    ABSENT,
    ATTENDANCE,
    ATTENDED,
    EXCUSED_SESSION,
    PRIZE,
    SPECIMEN,
    VOUCHER,
    Event,
    Phase,
    RuleError,
    Rules,
    Tier,
)

HIGGINS_1994 = Rules(
    kind=VOUCHER,
    phases=(
        Phase(
            first_week=1,
            last_week=12,
            tests_per_week=3,
            start_cents=250,
            increment_cents=125,
            bonus_every=3,
            bonus_cents=1000,
            recovery_after=5,
        ),
    ),
)
SILVERMAN_1996 = Rules(
    kind=VOUCHER,
    phases=(
        Phase(
            first_week=1,
            last_week=12,
            tests_per_week=3,
            start_cents=250,
            increment_cents=150,
            bonus_every=3,
            bonus_cents=1000,
        ),
    ),
)
STANDARD_BOWL = (
    Tier("good job", 250, 0),
    Tier("small", 209, 100),
    Tier("large", 40, 2000),
    Tier("jumbo", 1, 10000),
)


def specimens(letters: str, start: date = MONDAY, weekdays=MON_WED_FRI) -> list[Event]:
    """One specimen per outcome letter ("NNN P N"; spaces are for the reader), one per test day."""
    letters = letters.replace(" ", "")
    days = collection_days(len(letters), start, weekdays)
    return [
        Event(key=f"s{i + 1}", day=day, kind=SPECIMEN, outcome=letter)
        for i, (letter, day) in enumerate(zip(letters, days, strict=True))
    ]


def specimen(key: str, day: date, outcome: str, secondary_negative: bool = False) -> Event:
    return Event(key, day, SPECIMEN, outcome, secondary_negative=secondary_negative)


def session(key: str, day: date, outcome: str = ATTENDED) -> Event:
    return Event(key, day, ATTENDANCE, outcome)


def vouchers(
    *, start=100, increment=100, max_cents=None, bonus_every=0, bonus=0, recovery=0, **rules
):
    """A one-phase, open-ended voucher protocol with easy numbers: $1.00, +$1.00 a negative."""
    phase = Phase(
        first_week=1,
        last_week=None,
        start_cents=start,
        increment_cents=increment,
        max_cents=max_cents,
        bonus_every=bonus_every,
        bonus_cents=bonus,
        recovery_after=recovery,
    )
    return Rules(kind=VOUCHER, phases=(phase,), **rules)


def prizes(*, start=1, increment=1, most=4, **rules):
    phase = Phase(
        first_week=1, last_week=None, draws_start=start, draws_increment=increment, draws_max=most
    )
    return Rules(kind=PRIZE, phases=(phase,), bowl=STANDARD_BOWL, **rules)


def run(rules, events, start=MONDAY, **kwargs):
    return engine.run(rules, start, events, **kwargs)


def paid(result) -> list[int]:
    return [a.total_cents for a in result.awards]


# --- The papers -------------------------------------------------------------------------------


def dollars(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def nth_negative(nth: int, voucher: int, bonus: int = 0):
    bonus_id = f"-plus-{dollars(bonus)}-bonus" if bonus else ""
    return pytest.param(nth, voucher, bonus, id=f"negative-{nth}-pays-{dollars(voucher)}{bonus_id}")


@pytest.mark.parametrize(
    ("nth", "voucher", "bonus"),
    [
        nth_negative(1, 250),
        nth_negative(2, 375),
        nth_negative(3, 500, 1000),
        nth_negative(4, 625),
        nth_negative(5, 750),
        nth_negative(6, 875, 1000),
        nth_negative(7, 1000),
        nth_negative(12, 1625, 1000),
        nth_negative(35, 4500),
        nth_negative(36, 4625, 1000),
    ],
)
def test_higgins_1994_pays_the_published_value_for_each_consecutive_negative(nth, voucher, bonus):
    award = run(HIGGINS_1994, specimens("N" * 36)).awards[nth - 1]
    assert (award.voucher_cents, award.bonus_cents) == (voucher, bonus)
    assert award.streak == nth


@pytest.mark.parametrize(
    ("rules", "total", "last_voucher"),
    [
        pytest.param(HIGGINS_1994, 99750, 4625, id="higgins-1994-earns-997.50"),
        pytest.param(SILVERMAN_1996, 115500, 5500, id="silverman-1996-earns-1155.00"),
    ],
)
def test_36_negatives_at_three_a_week_for_12_weeks_earn_the_published_total(
    rules, total, last_voucher
):
    result = run(rules, specimens("N" * 36))
    assert result.total_cents == total
    assert result.awards[-1].voucher_cents == last_voucher
    assert result.awards[-1].week == 12
    assert sum(a.bonus_cents for a in result.awards) == 12 * 1000


def test_silverman_1996_escalates_by_150_cents_with_a_bonus_every_third_negative():
    result = run(SILVERMAN_1996, specimens("NNNNNN"))
    assert [(a.voucher_cents, a.bonus_cents) for a in result.awards] == [
        (250, 0),
        (400, 0),
        (550, 1000),
        (700, 0),
        (850, 0),
        (1000, 1000),
    ]


# --- Resets, dilutes, excused -----------------------------------------------------------------


@pytest.mark.parametrize(
    "outcome",
    [
        pytest.param("P", id="positive"),
        pytest.param("M", id="missed"),
        pytest.param("R", id="refused"),
        pytest.param("A", id="adulterated"),
        pytest.param("D", id="dilute-counted-as-positive"),
    ],
)
def test_a_resetting_outcome_pays_nothing_and_returns_the_value_to_the_start(outcome):
    result = run(SILVERMAN_1996, specimens(f"NNNN {outcome} N"))
    reset, after = result.awards[4], result.awards[5]
    assert reset.total_cents == 0
    assert (reset.streak, reset.next_cents) == (0, 250)
    assert (after.voucher_cents, after.streak) == (250, 1)


def test_a_reset_restarts_the_bonus_count():
    result = run(SILVERMAN_1996, specimens("NN P NNN"))
    assert [a.bonus_cents for a in result.awards] == [0, 0, 0, 0, 0, 1000]


def test_a_dilute_not_counted_as_positive_neither_earns_nor_resets():
    rules = vouchers(bonus_every=3, bonus=1000, dilute_is_positive=False)
    result = run(rules, specimens("NN D N"))
    dilute, after = result.awards[2], result.awards[3]
    assert dilute.total_cents == 0
    assert (dilute.streak, dilute.next_cents) == (2, 300)
    assert (after.voucher_cents, after.bonus_cents, after.streak) == (300, 1000, 3)


def test_an_excused_specimen_pays_nothing_and_the_streak_survives():
    result = run(SILVERMAN_1996, specimens("NN E N"))
    excused, after = result.awards[2], result.awards[3]
    assert excused.total_cents == 0
    assert (excused.streak, excused.next_cents) == (2, 550)
    assert (after.voucher_cents, after.bonus_cents, after.streak) == (550, 1000, 3)


def test_an_unknown_outcome_letter_is_refused():
    with pytest.raises(RuleError):
        run(SILVERMAN_1996, [specimen("s1", MONDAY, "X")])


# --- Recovery after a reset (Higgins: 5 negatives restore the earlier level) ------------------


@pytest.mark.parametrize(
    ("letters", "last_voucher"),
    [
        # 6 negatives take the value to $10.00; after a positive the 5th negative pays it again.
        pytest.param("NNNNNN P NNNN", 625, id="the-4th-negative-after-a-reset-still-escalates"),
        pytest.param("NNNNNN P NNNNN", 1000, id="the-5th-negative-restores-the-pre-reset-level"),
        pytest.param("NNNNNN P NNNNNN", 1125, id="escalation-resumes-from-the-restored-level"),
        pytest.param("NNNNNN P NN E NNN", 1000, id="an-excused-test-does-not-break-recovery"),
        pytest.param("NNNNNN P P NNNNN", 750, id="two-positives-make-the-start-the-level"),
        pytest.param("NNNNNN P NN P NNNNN", 750, id="the-latest-reset-sets-the-level"),
        pytest.param("NN P NNNNN", 750, id="a-lower-earlier-level-is-not-restored"),
    ],
)
def test_recovery_after_a_reset_follows_higgins_1994(letters, last_voucher):
    result = run(HIGGINS_1994, specimens(letters))
    assert result.awards[-1].voucher_cents == last_voucher


def test_without_a_recovery_rule_a_reset_starts_again_from_the_start_value():
    result = run(SILVERMAN_1996, specimens("NNNNNN P NNNNN"))
    assert [a.voucher_cents for a in result.awards[7:]] == [250, 400, 550, 700, 850]


# --- Bonuses and the per-test maximum ---------------------------------------------------------


@pytest.mark.parametrize(
    ("every", "letters", "bonuses"),
    [
        pytest.param(4, "NNNNNNNN", [0, 0, 0, 500, 0, 0, 0, 500], id="every-4th"),
        pytest.param(1, "NNN", [500, 500, 500], id="every-negative"),
        pytest.param(0, "NNNNNN", [0] * 6, id="no-bonus"),
        pytest.param(2, "N E N P N", [0, 0, 500, 0, 0], id="excused-does-not-count"),
    ],
)
def test_a_bonus_is_paid_every_nth_consecutive_negative(every, letters, bonuses):
    result = run(vouchers(bonus_every=every, bonus=500), specimens(letters))
    assert [a.bonus_cents for a in result.awards] == bonuses


def test_the_voucher_value_stops_at_the_per_test_maximum():
    result = run(vouchers(max_cents=300), specimens("NNNNN"))
    assert [a.voucher_cents for a in result.awards] == [100, 200, 300, 300, 300]
    assert result.state.next_cents == 300


def test_the_bonus_is_paid_on_top_of_a_voucher_at_the_maximum():
    result = run(vouchers(max_cents=200, bonus_every=3, bonus=1000), specimens("NNN"))
    assert result.awards[2].total_cents == 200 + 1000


# --- One earning specimen a day ---------------------------------------------------------------


def test_a_second_negative_on_the_same_day_earns_nothing_and_does_not_advance_the_streak():
    tuesday = MONDAY + timedelta(days=1)
    events = [
        specimen("s1", MONDAY, "N"),
        specimen("s2", MONDAY, "N"),
        specimen("s3", tuesday, "N"),
    ]
    result = run(vouchers(), events)
    assert paid(result) == [100, 0, 200]
    assert result.awards[1].streak == 1
    assert result.awards[1].note


def test_a_positive_on_a_day_that_already_earned_still_resets():
    events = [specimen("s1", MONDAY, "N"), specimen("s2", MONDAY, "P")]
    result = run(vouchers(), events)
    assert paid(result) == [100, 0]
    assert (result.state.streak, result.state.next_cents) == (0, 100)


def test_a_negative_after_a_same_day_reset_still_earns_nothing_that_day():
    events = [
        specimen("s1", MONDAY, "N"),
        specimen("s2", MONDAY, "P"),
        specimen("s3", MONDAY, "N"),
    ]
    result = run(vouchers(), events)
    assert paid(result) == [100, 0, 0]
    assert result.state.streak == 0


def test_a_negative_after_a_positive_earlier_the_same_day_earns():
    events = [specimen("s1", MONDAY, "P"), specimen("s2", MONDAY, "N")]
    assert paid(run(vouchers(), events)) == [0, 100]


# --- The protocol's calendar ------------------------------------------------------------------


def test_an_event_before_the_enrollment_start_is_refused():
    with pytest.raises(RuleError):
        run(HIGGINS_1994, [specimen("s1", MONDAY - timedelta(days=1), "N")])


def test_a_negative_after_the_last_phase_earns_nothing():
    events = specimens("N" * 36) + [specimen("late", MONDAY + timedelta(weeks=12), "N")]
    result = run(HIGGINS_1994, events)
    late = result.awards[-1]
    assert late.week == 13
    assert late.total_cents == 0
    assert late.note
    assert result.total_cents == 99750


def test_enrollment_week_one_starts_on_the_enrollment_date():
    thursday = date(2026, 1, 8)
    assert engine.enrollment_week(thursday, thursday) == 1
    assert engine.enrollment_week(thursday, thursday + timedelta(days=6)) == 1
    assert engine.enrollment_week(thursday, thursday + timedelta(days=7)) == 2


def two_phases(first: Phase, second: Phase) -> Rules:
    return Rules(kind=VOUCHER, phases=(first, second))


def test_the_streak_carries_into_the_next_phase():
    rules = two_phases(
        Phase(1, 1, start_cents=100, increment_cents=100, bonus_every=3, bonus_cents=1000),
        Phase(2, None, start_cents=100, increment_cents=100, bonus_every=3, bonus_cents=2000),
    )
    result = run(rules, specimens("NNNNNN"))
    assert [a.week for a in result.awards] == [1, 1, 1, 2, 2, 2]
    assert [a.streak for a in result.awards] == [1, 2, 3, 4, 5, 6]
    assert [a.total_cents for a in result.awards] == [100, 200, 1300, 400, 500, 2600]


@pytest.mark.parametrize(
    ("second", "fourth_voucher"),
    [
        pytest.param(
            Phase(2, None, start_cents=1000, increment_cents=100, max_cents=1500),
            1000,
            id="raised-to-the-new-start",
        ),
        pytest.param(
            Phase(2, None, start_cents=100, increment_cents=100, max_cents=250),
            250,
            id="lowered-to-the-new-maximum",
        ),
        pytest.param(
            Phase(2, None, start_cents=100, increment_cents=100, max_cents=1500),
            400,
            id="kept-when-inside-the-range",
        ),
    ],
)
def test_the_next_value_is_clamped_into_the_new_phases_range(second, fourth_voucher):
    rules = two_phases(Phase(1, 1, start_cents=100, increment_cents=100), second)
    result = run(rules, specimens("NNN N"))
    assert result.awards[3].voucher_cents == fourth_voucher
    assert result.awards[3].streak == 4


def test_a_reset_in_a_later_phase_returns_to_that_phases_start():
    rules = two_phases(
        Phase(1, 1, start_cents=1000, increment_cents=100),
        Phase(2, None, start_cents=500, increment_cents=0, max_cents=500),
    )
    result = run(rules, specimens("NNN P N"))
    assert result.awards[3].next_cents == 500
    assert result.awards[4].voucher_cents == 500


def test_recovery_never_pays_more_than_the_current_phases_maximum():
    # Week 1: $10, $20, $30 then a positive saves the $30 level. Week 2 caps a test at $5 and
    # restores the earlier level after 2 negatives: the 2nd negative must still pay at most $5.
    rules = two_phases(
        Phase(1, 1, start_cents=1000, increment_cents=1000, max_cents=3000),
        Phase(2, None, start_cents=100, max_cents=500, recovery_after=2),
    )
    result = run(rules, specimens("NNN P NN", weekdays=(0, 1, 2, 3)))
    assert [a.week for a in result.awards][-2:] == [2, 2]
    assert result.awards[-1].voucher_cents <= 500


# --- Caps -------------------------------------------------------------------------------------


def test_an_award_that_crosses_the_enrollment_cap_is_clipped_and_the_clip_reported():
    result = run(vouchers(enrollment_cap_cents=250), specimens("NNNN"))
    assert paid(result) == [100, 150, 0, 0]
    assert [a.clipped_cents for a in result.awards] == [0, 50, 300, 400]
    assert result.state.earned_cents == 250


def test_the_voucher_is_paid_before_the_bonus_when_the_cap_clips():
    rules = vouchers(bonus_every=3, bonus=1000, enrollment_cap_cents=800)
    third = run(rules, specimens("NNN")).awards[2]
    assert (third.voucher_cents, third.bonus_cents, third.clipped_cents) == (300, 200, 800)


def test_the_value_keeps_escalating_while_the_cap_clips_it():
    result = run(vouchers(enrollment_cap_cents=0), specimens("NNN"))
    assert paid(result) == [0, 0, 0]
    assert (result.state.streak, result.state.next_cents) == (3, 400)


def test_the_calendar_year_cap_counts_what_the_patient_earned_in_other_enrollments():
    result = run(
        vouchers(year_cap_cents=500), specimens("NNN"), earned_elsewhere_by_year={2026: 300}
    )
    assert paid(result) == [100, 100, 0]
    assert [a.clipped_cents for a in result.awards] == [0, 100, 300]
    assert result.earned_by_year == {2026: 200}


def test_earnings_elsewhere_in_another_year_do_not_count_against_this_year():
    result = run(
        vouchers(year_cap_cents=500), specimens("NN"), earned_elsewhere_by_year={2025: 500}
    )
    assert paid(result) == [100, 200]


def test_a_new_calendar_year_gives_the_year_cap_back():
    # Mon 22 Dec 2025: tests on 22, 24, 26, 29, 31 Dec, then 2 and 5 Jan.
    start = date(2025, 12, 22)
    result = run(vouchers(year_cap_cents=600), specimens("NNNNNNN", start=start), start=start)
    assert [a.day for a in result.awards][5] == date(2026, 1, 2)
    assert paid(result) == [100, 200, 300, 0, 0, 600, 0]
    assert result.earned_by_year == {2025: 600, 2026: 600}


def test_the_lower_of_the_two_caps_binds():
    rules = vouchers(enrollment_cap_cents=1000, year_cap_cents=450)
    assert run(rules, specimens("NNN")).total_cents == 450
    rules = vouchers(enrollment_cap_cents=250, year_cap_cents=450)
    assert run(rules, specimens("NNN")).total_cents == 250


# --- Attendance -------------------------------------------------------------------------------


def test_an_attended_session_pays_cents_in_a_voucher_protocol():
    rules = vouchers(attendance_cents=500, attendance_draws=2)
    award = run(rules, [session("a1", MONDAY)]).awards[0]
    assert (award.attendance_cents, award.total_cents, award.draws) == (500, 500, 0)


def test_an_attended_session_earns_draws_in_a_prize_protocol():
    award = run(prizes(attendance_draws=2), [session("a1", MONDAY)]).awards[0]
    assert (award.draws, award.total_cents) == (2, 0)


@pytest.mark.parametrize(
    "outcome",
    [pytest.param(ABSENT, id="missed"), pytest.param(EXCUSED_SESSION, id="excused")],
)
def test_a_session_not_attended_pays_nothing_and_does_not_reset(outcome):
    rules = vouchers(attendance_cents=500)
    events = specimens("NN") + [session("a1", MONDAY + timedelta(days=3), outcome)]
    events += [specimen("s3", MONDAY + timedelta(days=4), "N")]
    result = run(rules, events)
    assert paid(result) == [100, 200, 0, 300]
    assert result.awards[2].streak == 2


def test_a_session_on_a_test_day_does_not_stop_the_negative_earning():
    rules = vouchers(attendance_cents=500)
    events = [session("a1", MONDAY), specimen("s1", MONDAY, "N")]
    assert paid(run(rules, events)) == [500, 100]


def test_attendance_counts_against_the_enrollment_cap():
    rules = vouchers(attendance_cents=500, enrollment_cap_cents=600)
    result = run(rules, [session("a1", MONDAY), session("a2", MONDAY + timedelta(days=2))])
    assert paid(result) == [500, 100]
    assert result.awards[1].clipped_cents == 400


# --- Prize draws ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("letters", "draws"),
    [
        pytest.param("NNNNNN", [1, 2, 3, 4, 4, 4], id="escalate-to-the-maximum"),
        pytest.param("NNN P NN", [1, 2, 3, 0, 1, 2], id="positive-resets-to-the-start"),
        pytest.param("NNN M N", [1, 2, 3, 0, 1], id="missed-resets-to-the-start"),
        pytest.param("NN E N", [1, 2, 0, 3], id="excused-keeps-the-count"),
        pytest.param("NNNNN P N", [1, 2, 3, 4, 4, 0, 1], id="reset-from-the-maximum"),
    ],
)
def test_prize_draws_escalate_per_negative_up_to_the_maximum(letters, draws):
    result = run(prizes(most=4), specimens(letters))
    assert [a.draws for a in result.awards] == draws
    assert result.total_cents == 0


def test_draws_start_and_step_come_from_the_protocol():
    result = run(prizes(start=2, increment=3, most=10), specimens("NNNNN"))
    assert [a.draws for a in result.awards] == [2, 5, 8, 10, 10]


def test_a_negative_secondary_substance_adds_bonus_draws_to_that_test_only():
    rules = prizes(secondary_bonus_draws=2)
    days = collection_days(3)
    events = [
        specimen("s1", days[0], "N", secondary_negative=True),
        specimen("s2", days[1], "N"),
        specimen("s3", days[2], "P", secondary_negative=True),
    ]
    assert [a.draws for a in run(rules, events).awards] == [3, 2, 0]


def test_a_voucher_protocol_never_awards_draws():
    rules = vouchers(secondary_bonus_draws=2)
    result = run(rules, [specimen("s1", MONDAY, "N", secondary_negative=True)])
    assert result.total_draws == 0


@pytest.mark.parametrize(
    ("draws", "cents"),
    [
        pytest.param(0, 0, id="no-draws"),
        pytest.param(1, 222, id="one-draw-221.8"),
        pytest.param(2, 444, id="two-draws-443.6"),
        pytest.param(3, 665, id="three-draws-665.4"),
        pytest.param(12, 2662, id="twelve-draws-2661.6"),
    ],
)
def test_the_expected_value_of_draws_from_the_standard_bowl(draws, cents):
    assert prizes().expected_cents(draws) == cents


def test_expected_value_rounds_half_a_cent_up():
    rules = Rules(kind=PRIZE, phases=(Phase(1, None),), bowl=(Tier("a", 1, 0), Tier("b", 1, 1)))
    assert rules.expected_cents(1) == 1


def test_an_empty_bowl_is_worth_nothing():
    assert vouchers().expected_cents(5) == 0


# --- Protocol validation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "phases",
    [
        pytest.param((Phase(1, 4), Phase(4, 8)), id="sharing-a-week"),
        pytest.param((Phase(1, 6), Phase(3, 8)), id="overlapping-weeks"),
        pytest.param((Phase(1, None), Phase(13, 24)), id="open-ended-then-another"),
        pytest.param((Phase(5, 8), Phase(1, 6)), id="given-out-of-order"),
    ],
)
def test_overlapping_phases_are_refused(phases):
    with pytest.raises(RuleError, match="overlap"):
        Rules(kind=VOUCHER, phases=phases)


def test_phases_given_out_of_order_are_sorted_by_week():
    rules = Rules(kind=VOUCHER, phases=(Phase(13, 24, start_cents=500), Phase(1, 12)))
    assert [p.first_week for p in rules.phases] == [1, 13]
    assert rules.phase_for(13).start_cents == 500
    assert rules.weeks == 24


@pytest.mark.parametrize(
    "field",
    [
        "tests_per_week",
        "start_cents",
        "increment_cents",
        "max_cents",
        "bonus_every",
        "bonus_cents",
        "recovery_after",
        "draws_start",
        "draws_increment",
        "draws_max",
    ],
)
def test_a_negative_phase_value_is_refused(field):
    with pytest.raises(RuleError, match="negative"):
        Rules(kind=VOUCHER, phases=(Phase(1, None, **{field: -1}),))


@pytest.mark.parametrize(
    "values",
    [
        pytest.param({"attendance_cents": -100}, id="attendance-cents"),
        pytest.param({"attendance_draws": -1}, id="attendance-draws"),
        pytest.param({"secondary_bonus_draws": -1}, id="secondary-draws"),
        pytest.param({"enrollment_cap_cents": -1}, id="enrollment-cap"),
        pytest.param({"year_cap_cents": -1}, id="year-cap"),
        pytest.param({"bowl": (Tier("small", -5, 100),)}, id="bowl-slips"),
    ],
)
def test_a_negative_protocol_value_is_refused(values):
    with pytest.raises(RuleError):
        Rules(kind=PRIZE, phases=(Phase(1, None, draws_start=1),), **values)


@pytest.mark.parametrize(
    "phase",
    [
        pytest.param(
            Phase(5, 3),
            id="ends-before-it-starts",
        ),
        pytest.param(
            Phase(1, None, start_cents=1000, max_cents=500),
            id="start-above-the-per-test-maximum",
        ),
        pytest.param(
            Phase(1, None, draws_start=5, draws_max=3),
            id="draws-start-above-the-maximum",
        ),
        pytest.param(Phase(0, 4), id="week-zero"),
    ],
)
def test_a_phase_that_cannot_be_run_is_refused(phase):
    with pytest.raises(RuleError):
        Rules(kind=VOUCHER, phases=(phase,))


@pytest.mark.parametrize(
    ("kind", "phases"),
    [
        pytest.param("cash", (Phase(1, None),), id="unknown-kind"),
        pytest.param(VOUCHER, (), id="no-phases"),
    ],
)
def test_a_protocol_without_a_known_kind_or_phases_is_refused(kind, phases):
    with pytest.raises(RuleError):
        Rules(kind=kind, phases=phases)


# --- Specimen outcome -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("results", "targets", "outcome"),
    [
        pytest.param({"cocaine": "negative"}, ["cocaine"], "N", id="target-negative"),
        pytest.param({"cocaine": "positive"}, ["cocaine"], "P", id="target-positive"),
        pytest.param(
            {"cocaine": "negative", "methadone": "positive"},
            ["cocaine"],
            "N",
            id="prescribed-methadone-does-not-count",
        ),
        pytest.param(
            {"cocaine": "negative", "buprenorphine": "positive", "opiates": "positive"},
            ["cocaine"],
            "N",
            id="non-target-positives-do-not-count",
        ),
        pytest.param(
            {"cocaine": "negative", "amphetamine": "negative", "methamphetamine": "positive"},
            ["cocaine", "amphetamine", "methamphetamine"],
            "P",
            id="any-target-positive",
        ),
        pytest.param(
            {"cocaine": "negative", "amphetamine": "negative", "methamphetamine": "negative"},
            ["cocaine", "amphetamine", "methamphetamine"],
            "N",
            id="every-target-negative",
        ),
    ],
)
def test_only_target_substances_decide_a_tested_specimen(results, targets, outcome):
    assert engine.specimen_outcome("tested", results, targets) == (outcome, False)


def test_a_target_missing_from_the_panel_is_an_error():
    with pytest.raises(RuleError, match="amphetamine"):
        engine.specimen_outcome("tested", {"cocaine": "negative"}, ["cocaine", "amphetamine"])


@pytest.mark.parametrize(
    ("status", "letter"),
    [
        ("refused", "R"),
        ("adulterated", "A"),
        ("dilute", "D"),
        ("missed", "M"),
        ("excused", "E"),
    ],
)
def test_a_specimen_status_maps_to_its_outcome_letter(status, letter):
    assert engine.specimen_outcome(status, {}, ["cocaine"]) == (letter, False)


def test_an_unknown_specimen_status_is_an_error():
    with pytest.raises(RuleError):
        engine.specimen_outcome("lost", {}, ["cocaine"])


@pytest.mark.parametrize(
    ("results", "secondary", "flag"),
    [
        pytest.param({"alcohol": "negative"}, ["alcohol"], True, id="secondary-negative"),
        pytest.param({"alcohol": "positive"}, ["alcohol"], False, id="secondary-positive"),
        pytest.param({}, ["alcohol"], False, id="secondary-not-tested"),
        pytest.param(
            {"alcohol": "negative", "opiates": "positive"},
            ["alcohol", "opiates"],
            False,
            id="one-secondary-positive",
        ),
        pytest.param({"alcohol": "negative"}, [], False, id="no-secondary-substances"),
    ],
)
def test_the_secondary_negative_flag_needs_every_secondary_substance_negative(
    results, secondary, flag
):
    results = {"cocaine": "negative", **results}
    assert engine.specimen_outcome("tested", results, ["cocaine"], secondary) == ("N", flag)
