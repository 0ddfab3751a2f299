"""Properties of the earning engine over random histories and random (valid) protocols.

Whatever the sequence of results, a clinic must be able to rely on: caps hold, nothing negative is
ever paid, every clip is accounted for, the streak shown is the streak earned, and the same
history always pays the same.
"""

from dataclasses import replace
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from vouchers import engine
from vouchers.engine import (
    ABSENT,
    ATTENDANCE,
    ATTENDED,
    EXCUSED,
    EXCUSED_SESSION,
    NEGATIVE,
    OUTCOMES,
    PRIZE,
    SPECIMEN,
    VOUCHER,
    Event,
    Phase,
    Rules,
    Tier,
)

STANDARD_BOWL = (
    Tier("good job", 250, 0),
    Tier("small", 209, 100),
    Tier("large", 40, 2000),
    Tier("jumbo", 1, 10000),
)

property_settings = settings(max_examples=200, deadline=None)

caps = st.none() | st.integers(min_value=0, max_value=20000)
# Strategies are built once, here: building them inside a composite on every example is slow.
voucher_values = st.tuples(
    st.integers(0, 2000),  # start
    st.integers(0, 500),  # increment
    st.none() | st.integers(0, 3000),  # how far above the start the per-test maximum is
    st.integers(0, 5),  # bonus every N
    st.integers(0, 2000),  # bonus
    st.integers(0, 6),  # recovery after R
)
prize_values = st.tuples(
    st.integers(0, 3),  # draws start
    st.integers(0, 2),  # draws increment
    st.integers(0, 15),  # draws maximum (0: none), raised to the start when set
)
protocol_values = st.tuples(
    st.booleans(),  # dilute counts as positive
    st.integers(0, 1000),  # attendance cents
    st.integers(0, 3),  # attendance draws
    st.integers(0, 2),  # secondary bonus draws
    caps,  # enrollment cap
    caps,  # year cap
)


def phase(kind: str, first_week: int, last_week: int | None, values: tuple) -> Phase:
    """A valid phase of `kind`; a voucher protocol never draws and a prize protocol never pays
    vouchers, so the other kind's values stay at zero."""
    if kind == VOUCHER:
        start, increment, above, every, bonus, recovery = values
        return Phase(
            first_week,
            last_week,
            start_cents=start,
            increment_cents=increment,
            max_cents=None if above is None else start + above,
            bonus_every=every,
            bonus_cents=bonus,
            recovery_after=recovery,
        )
    start, increment, most = values
    return Phase(
        first_week,
        last_week,
        draws_start=start,
        draws_increment=increment,
        draws_max=max(most, start) if most else 0,
    )


@st.composite
def protocols(draw, max_phases: int = 3) -> Rules:
    """A valid protocol: 1-3 back-to-back phases of 1-8 weeks, the last maybe open-ended."""
    kind = draw(st.sampled_from([VOUCHER, PRIZE]))
    values = voucher_values if kind == VOUCHER else prize_values
    lengths = draw(st.lists(st.integers(1, 8), min_size=1, max_size=max_phases))
    open_ended = draw(st.booleans())
    built, week = [], 1
    for i, length in enumerate(lengths):
        last = None if open_ended and i == len(lengths) - 1 else week + length - 1
        built.append(phase(kind, week, last, draw(values)))
        week += length
    dilute, attendance_cents, attendance_draws, secondary, enrollment_cap, year_cap = draw(
        protocol_values
    )
    return Rules(
        kind=kind,
        phases=tuple(built),
        dilute_is_positive=dilute,
        attendance_cents=attendance_cents,
        attendance_draws=attendance_draws,
        secondary_bonus_draws=secondary,
        enrollment_cap_cents=enrollment_cap,
        year_cap_cents=year_cap,
        bowl=STANDARD_BOWL,
    )


# A step of a history: days since the previous event (0 makes a same-day event), what happened
# (a specimen letter, or an attended / missed / excused therapy session) and whether the
# secondary substance was negative. Negatives are weighted up, as in a working CM programme,
# so that long streaks, bonuses, recoveries and same-day duplicates all come up.
steps = st.sampled_from(
    [
        (gap, what, secondary)
        for what in [*"NNNNNN", *OUTCOMES, ATTENDED, ABSENT, EXCUSED_SESSION]
        for gap in (1, 0, 2, 3)
        for secondary in (False, True)
    ]
)
sizes = st.integers(0, 40)
start_offsets = st.integers(0, 90)


@st.composite
def histories(draw) -> tuple[date, list[Event]]:
    """An enrollment start late in 2025 and events in collection order, 0-3 days apart, so
    same-day duplicates happen and many histories cross into 2026."""
    start = date(2025, 10, 6) + timedelta(days=draw(start_offsets))
    events, day = [], start
    # Left to itself hypothesis draws mostly short lists; a drawn length gives long streaks too.
    size = draw(sizes)
    history = draw(st.lists(steps, min_size=size, max_size=size))
    for i, (gap, what, secondary) in enumerate(history):
        day += timedelta(days=gap)
        if what in OUTCOMES:
            events.append(Event(f"s{i}", day, SPECIMEN, what, secondary_negative=secondary))
        else:
            events.append(Event(f"a{i}", day, ATTENDANCE, what))
    return start, events


# What the patient earned in other enrollments, per calendar year.
elsewhere = st.tuples(st.integers(0, 20000), st.integers(0, 20000)).map(
    lambda cents: {2025: cents[0], 2026: cents[1]}
)


def uncapped(rules: Rules) -> Rules:
    return replace(rules, enrollment_cap_cents=None, year_cap_cents=None)


@property_settings
@given(protocols(), histories(), elsewhere)
def test_total_paid_never_exceeds_the_enrollment_cap(rules, history, earned_elsewhere):
    start, events = history
    result = engine.run(rules, start, events, earned_elsewhere)
    if rules.enrollment_cap_cents is not None:
        assert result.total_cents <= rules.enrollment_cap_cents
    assert result.state.earned_cents == result.total_cents


@property_settings
@given(protocols(), histories(), elsewhere)
def test_each_years_earnings_stay_within_what_the_year_cap_leaves(rules, history, earned_elsewhere):
    start, events = history
    result = engine.run(rules, start, events, earned_elsewhere)
    by_year: dict[int, int] = {}
    for award in result.awards:
        by_year[award.day.year] = by_year.get(award.day.year, 0) + award.total_cents
    assert {y: c for y, c in result.earned_by_year.items() if c} == {
        y: c for y, c in by_year.items() if c
    }
    if rules.year_cap_cents is not None:
        for year, cents in by_year.items():
            assert cents <= max(0, rules.year_cap_cents - earned_elsewhere.get(year, 0))


@property_settings
@given(protocols(), histories(), elsewhere)
def test_every_award_is_zero_or_more(rules, history, earned_elsewhere):
    start, events = history
    for award in engine.run(rules, start, events, earned_elsewhere).awards:
        amounts = (
            award.voucher_cents,
            award.bonus_cents,
            award.attendance_cents,
            award.draws,
            award.clipped_cents,
        )
        assert min(amounts) >= 0, award


@property_settings
@given(protocols(), histories(), elsewhere)
def test_what_is_clipped_plus_what_is_paid_is_what_the_rules_wanted(
    rules, history, earned_elsewhere
):
    start, events = history
    capped = engine.run(rules, start, events, earned_elsewhere)
    wanted = engine.run(uncapped(rules), start, events)
    for got, want in zip(capped.awards, wanted.awards, strict=True):
        assert got.total_cents + got.clipped_cents == want.total_cents
        assert got.draws == want.draws
        assert (got.streak, got.next_cents) == (want.streak, want.next_cents)


def expected_streak(rules: Rules, start: date, events: list[Event]) -> int:
    """The trailing run of earning negatives, counted independently of the engine."""
    streak, earning_days = 0, set()
    for event in events:
        if event.kind != SPECIMEN:
            continue
        if rules.phase_for(engine.enrollment_week(start, event.day)) is None:
            continue
        outcome = event.outcome
        if outcome == EXCUSED or (outcome == "D" and not rules.dilute_is_positive):
            continue
        if outcome != NEGATIVE:
            streak = 0
        elif event.day not in earning_days:
            earning_days.add(event.day)
            streak += 1
    return streak


@property_settings
@given(protocols(), histories())
def test_the_streak_is_the_trailing_run_of_earning_negatives(rules, history):
    start, events = history
    result = engine.run(rules, start, events)
    for n in range(len(events) + 1):
        shown = result.awards[n - 1].streak if n else 0
        assert shown == expected_streak(rules, start, events[:n])
    assert result.state.streak == expected_streak(rules, start, events)


@property_settings
@given(protocols(), histories())
def test_the_next_value_never_exceeds_the_phases_per_test_maximum(rules, history):
    start, events = history
    for award in engine.run(rules, start, events).awards:
        phase = rules.phase_for(award.week)
        if phase is None:
            continue
        if phase.max_cents is not None:
            assert award.next_cents <= phase.max_cents
        if phase.draws_max:
            assert award.next_draws <= phase.draws_max


@property_settings
@given(protocols(), histories())
def test_no_voucher_pays_more_than_the_per_test_maximum(rules, history):
    start, events = history
    for award in engine.run(rules, start, events).awards:
        phase = rules.phase_for(award.week)
        if phase is not None and phase.max_cents is not None:
            assert award.voucher_cents <= phase.max_cents


@property_settings
@given(protocols(), histories(), elsewhere)
def test_excused_specimens_change_nothing(rules, history, earned_elsewhere):
    start, events = history
    with_excused = engine.run(rules, start, events, earned_elsewhere)
    kept = [e for e in events if not (e.kind == SPECIMEN and e.outcome == EXCUSED)]
    without = engine.run(rules, start, kept, earned_elsewhere)
    others = [a for a in with_excused.awards if not (a.kind == SPECIMEN and a.outcome == EXCUSED)]
    assert others == list(without.awards)
    streak = 0
    for award in with_excused.awards:
        if award.kind == SPECIMEN and award.outcome == EXCUSED:
            assert (award.total_cents, award.draws, award.streak) == (0, 0, streak)
        streak = award.streak
    assert with_excused.state.streak == without.state.streak
    assert with_excused.state.earned_cents == without.state.earned_cents


@property_settings
@given(protocols(), histories(), elsewhere)
def test_replaying_the_same_history_pays_the_same(rules, history, earned_elsewhere):
    start, events = history
    first = engine.run(rules, start, events, earned_elsewhere)
    again = engine.run(rules, start, iter(list(events)), dict(earned_elsewhere))
    assert first == again


@property_settings
@given(protocols(), histories(), elsewhere, st.data())
def test_settling_part_of_a_history_pays_what_the_whole_history_paid_for_that_part(
    rules, history, earned_elsewhere, data
):
    start, events = history
    cut = data.draw(st.integers(0, len(events)), label="cut")
    whole = engine.run(rules, start, events, earned_elsewhere)
    prefix = engine.run(rules, start, events[:cut], earned_elsewhere)
    assert prefix.awards == whole.awards[:cut]
