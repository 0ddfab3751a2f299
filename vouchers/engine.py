"""The earning engine: ordered events in, awards and state out.

Pure Python on purpose: no Django, no clock, no database. Settlement, the simulator and the tests
all call `run()`, so there is exactly one statement of the earning rules (shared/DESIGN.md,
"The earning rules").

Money is integer cents throughout.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

# Specimen outcomes, by the letters staff and the simulator use.
NEGATIVE = "N"
POSITIVE = "P"
MISSED = "M"
REFUSED = "R"
ADULTERATED = "A"
DILUTE = "D"
EXCUSED = "E"
OUTCOMES = (NEGATIVE, POSITIVE, MISSED, REFUSED, ADULTERATED, DILUTE, EXCUSED)
RESETTING = frozenset({POSITIVE, MISSED, REFUSED, ADULTERATED})

# Attendance statuses.
ATTENDED = "attended"
ABSENT = "missed"
EXCUSED_SESSION = "excused"

SPECIMEN = "specimen"
ATTENDANCE = "attendance"

# Award.note: why an event earned nothing when that is not obvious. Codes, not words: the reader's
# language is chosen where a note is shown (vouchers/award_notes.py translates each one).
ALREADY_EARNED = "already_earned"  # a negative on a day that already had an earning negative
OUTSIDE_WEEKS = "outside_weeks"  # after the protocol's last week
NOTES = (ALREADY_EARNED, OUTSIDE_WEEKS)

VOUCHER = "voucher"
PRIZE = "prize"

# How a prize protocol's draws escalate (Rules.draws_escalation).
PER_NEGATIVE = "negative"  # each consecutive negative adds the phase's draws increment
PER_WEEK = "week"  # each enrollment week of continuous abstinence adds it
DRAWS_ESCALATIONS = (PER_NEGATIVE, PER_WEEK)


class RuleError(ValueError):
    """The protocol's parameters or an event cannot be run; the message says which."""


@dataclass(frozen=True)
class Phase:
    """Values in force from `first_week` to `last_week` of the enrollment (1-based, inclusive)."""

    first_week: int
    last_week: int | None  # None: open-ended
    tests_per_week: int = 3
    start_cents: int = 0
    increment_cents: int = 0
    max_cents: int | None = None  # per test; None: no maximum
    bonus_every: int = 0  # N consecutive negatives; 0: no bonus
    bonus_cents: int = 0
    recovery_after: int = 0  # R negatives after a reset restore the earlier level; 0: never
    draws_start: int = 0
    draws_increment: int = 0
    draws_max: int = 0

    def covers(self, week: int) -> bool:
        return self.first_week <= week and (self.last_week is None or week <= self.last_week)


@dataclass(frozen=True)
class Tier:
    name: str
    slips: int
    value_cents: int


@dataclass(frozen=True)
class Rules:
    kind: str  # VOUCHER or PRIZE
    phases: tuple[Phase, ...]
    dilute_is_positive: bool = True
    attendance_cents: int = 0
    attendance_draws: int = 0
    secondary_bonus_draws: int = 0
    enrollment_cap_cents: int | None = None
    year_cap_cents: int | None = None
    bowl: tuple[Tier, ...] = ()
    draws_escalation: str = PER_NEGATIVE

    def __post_init__(self):
        if self.kind not in (VOUCHER, PRIZE):
            raise RuleError(f"unknown protocol kind {self.kind!r}")
        if self.draws_escalation not in DRAWS_ESCALATIONS:
            raise RuleError(f"unknown draw escalation {self.draws_escalation!r}")
        if not self.phases:
            raise RuleError("a protocol needs at least one phase")
        ordered = sorted(self.phases, key=lambda p: p.first_week)
        for before, after in zip(ordered, ordered[1:], strict=False):
            if before.last_week is None or before.last_week >= after.first_week:
                raise RuleError(f"phases overlap at week {after.first_week}")
        for phase in ordered:
            numbers = [
                phase.tests_per_week,
                phase.start_cents,
                phase.increment_cents,
                phase.bonus_every,
                phase.bonus_cents,
                phase.recovery_after,
                phase.draws_start,
                phase.draws_increment,
                phase.draws_max,
            ]
            if any(n < 0 for n in numbers) or (phase.max_cents or 0) < 0:
                raise RuleError("protocol values cannot be negative")
            if phase.first_week < 1:
                raise RuleError("weeks start at 1")
            if phase.last_week is not None and phase.last_week < phase.first_week:
                raise RuleError(f"the phase from week {phase.first_week} ends before it starts")
            if phase.max_cents is not None and phase.start_cents > phase.max_cents:
                raise RuleError(f"week {phase.first_week}: the start value is above the maximum")
            if phase.draws_max and phase.draws_start > phase.draws_max:
                raise RuleError(f"week {phase.first_week}: the start draws are above the maximum")
        protocol_numbers = [
            self.attendance_cents,
            self.attendance_draws,
            self.secondary_bonus_draws,
            self.enrollment_cap_cents or 0,
            self.year_cap_cents or 0,
            *(t.slips for t in self.bowl),
            *(t.value_cents for t in self.bowl),
        ]
        if any(n < 0 for n in protocol_numbers):
            raise RuleError("protocol values cannot be negative")
        object.__setattr__(self, "phases", tuple(ordered))

    def phase_for(self, week: int) -> Phase | None:
        for phase in self.phases:
            if phase.covers(week):
                return phase
        return None

    @property
    def weeks(self) -> int | None:
        """The protocol's length in weeks, or None when the last phase is open-ended."""
        return self.phases[-1].last_week

    def expected_cents(self, draws: int) -> int:
        """The expected value of `draws` draws from the bowl, rounded half up to a cent."""
        slips = sum(t.slips for t in self.bowl)
        if not slips:
            return 0
        numerator = draws * sum(t.slips * t.value_cents for t in self.bowl)
        return (2 * numerator + slips) // (2 * slips)


@dataclass(frozen=True)
class Event:
    """One thing that happened, already in the clinic's calendar.

    `key` identifies the source (a specimen or attendance id) so awards can be matched back.
    """

    key: str
    day: date
    kind: str  # SPECIMEN or ATTENDANCE
    outcome: str  # an outcome letter for a specimen, ATTENDED/ABSENT/EXCUSED_SESSION otherwise
    secondary_negative: bool = False


@dataclass(frozen=True)
class State:
    next_cents: int
    next_draws: int
    streak: int = 0
    pre_reset_cents: int = 0
    earned_cents: int = 0  # this enrollment, after clipping


@dataclass(frozen=True)
class Award:
    key: str
    day: date
    kind: str
    outcome: str
    week: int
    voucher_cents: int = 0
    bonus_cents: int = 0
    attendance_cents: int = 0
    draws: int = 0
    clipped_cents: int = 0
    streak: int = 0
    next_cents: int = 0
    next_draws: int = 0
    note: str = ""  # one of NOTES (why an event earned nothing when that is not obvious), or ""

    @property
    def total_cents(self) -> int:
        return self.voucher_cents + self.bonus_cents + self.attendance_cents


@dataclass(frozen=True)
class Result:
    awards: tuple[Award, ...]
    state: State
    earned_by_year: Mapping[int, int] = field(default_factory=dict)

    @property
    def total_cents(self) -> int:
        return sum(a.total_cents for a in self.awards)

    @property
    def total_draws(self) -> int:
        return sum(a.draws for a in self.awards)


def enrollment_week(start: date, day: date) -> int:
    """Week 1 starts on the enrollment date."""
    return (day - start).days // 7 + 1


def initial_state(rules: Rules) -> State:
    first = rules.phases[0]
    return State(next_cents=first.start_cents, next_draws=first.draws_start)


def _enter_phase(state: State, phase: Phase) -> State:
    """Carry the streak into a phase, bringing the next value inside the phase's range."""
    next_cents = max(state.next_cents, phase.start_cents)
    if phase.max_cents is not None:
        next_cents = min(next_cents, phase.max_cents)
    next_draws = max(state.next_draws, phase.draws_start)
    if phase.draws_max:
        next_draws = min(next_draws, phase.draws_max)
    return replace(state, next_cents=next_cents, next_draws=next_draws)


def _reset(state: State, phase: Phase) -> State:
    return replace(
        state,
        pre_reset_cents=state.next_cents,
        next_cents=phase.start_cents,
        next_draws=phase.draws_start,
        streak=0,
    )


def _clip(wanted: Sequence[int], room: int) -> tuple[list[int], int]:
    """Pay `wanted` amounts in order until `room` runs out; return what is paid and what was cut."""
    paid = []
    for amount in wanted:
        part = max(0, min(amount, room))
        paid.append(part)
        room -= part
    return paid, sum(wanted) - sum(paid)


def run(
    rules: Rules,
    start: date,
    events: Iterable[Event],
    earned_elsewhere_by_year: Mapping[int, int] | None = None,
) -> Result:
    """Replay `events` (already ordered by collection time, then id) from enrollment `start`.

    `earned_elsewhere_by_year` is what the same patient earned in other enrollments, per calendar
    year, so the per-patient year cap holds across enrollments.

    Rules, per specimen, in order:
    1. Events before `start` are an error; events after the protocol's last week earn nothing.
    2. Entering a new phase carries the streak and clamps the next value into the phase's range.
    3. Excused (and dilute when the protocol does not count it as positive): nothing changes.
    4. A resetting outcome saves the level, returns to the phase's start, clears the streak.
    5. A negative on a day that already had an earning negative is recorded and earns nothing.
    6. Otherwise the streak grows, recovery may restore the pre-reset level, the voucher (and every
       Nth negative the bonus) is paid, clipped to the caps, and the next value escalates.
    7. Draws escalate per negative, or with `draws_escalation == PER_WEEK` per week of continuous
       abstinence: every negative in a week earns the same draws, and the first negative of a
       week earns one increment more when the last week tested before it had no resetting
       outcome. A reset saves nothing for its own week, so after a positive the count starts
       again from the next week; a week in which nothing counted (all excused) neither adds a
       step nor breaks the run.
    """
    elsewhere = dict(earned_elsewhere_by_year or {})
    earned_by_year: dict[int, int] = {}
    state = initial_state(rules)
    current_phase = rules.phases[0]
    earning_days: set[date] = set()
    awards: list[Award] = []
    per_week = rules.draws_escalation == PER_WEEK
    # Per-week escalation: the last enrollment week tested, and whether all of it was negative.
    tested_week, week_abstinent = 0, False

    for event in events:
        if event.day < start:
            raise RuleError(f"{event.day.isoformat()} is before the enrollment start {start}")
        week = enrollment_week(start, event.day)
        phase = rules.phase_for(week)
        base = {"key": event.key, "day": event.day, "kind": event.kind, "outcome": event.outcome}
        if phase is None:
            awards.append(_award(base, week, state, note=OUTSIDE_WEEKS))
            continue
        if phase is not current_phase:
            current_phase = phase
            state = _enter_phase(state, phase)

        year = event.day.year

        room = _room(rules, state, elsewhere.get(year, 0) + earned_by_year.get(year, 0))

        if event.kind == ATTENDANCE:
            if event.outcome != ATTENDED:
                awards.append(_award(base, week, state))
                continue
            (paid,), clipped = _clip([rules.attendance_cents], room)
            state = replace(state, earned_cents=state.earned_cents + paid)
            earned_by_year[year] = earned_by_year.get(year, 0) + paid
            awards.append(
                _award(
                    base,
                    week,
                    state,
                    attendance_cents=paid,
                    draws=rules.attendance_draws if rules.kind == PRIZE else 0,
                    clipped_cents=clipped,
                )
            )
            continue

        outcome = event.outcome
        if outcome not in OUTCOMES:
            raise RuleError(f"unknown outcome {outcome!r}")
        if outcome == EXCUSED or (outcome == DILUTE and not rules.dilute_is_positive):
            awards.append(_award(base, week, state))
            continue
        if outcome in RESETTING or outcome == DILUTE:
            state = _reset(state, phase)
            tested_week, week_abstinent = week, False
            awards.append(_award(base, week, state))
            continue

        # A negative.
        if event.day in earning_days:
            awards.append(_award(base, week, state, note=ALREADY_EARNED))
            continue
        earning_days.add(event.day)
        streak = state.streak + 1
        next_cents = state.next_cents
        if phase.recovery_after and streak == phase.recovery_after:
            # The earlier level, but never above what this phase allows a test to pay.
            next_cents = max(next_cents, state.pre_reset_cents)
            if phase.max_cents is not None:
                next_cents = min(next_cents, phase.max_cents)
        wanted_bonus = (
            phase.bonus_cents if phase.bonus_every and streak % phase.bonus_every == 0 else 0
        )
        level = state.next_draws
        if per_week and week != tested_week:
            if week_abstinent:
                level = _draws_step(level, phase)
            tested_week, week_abstinent = week, True
        draws = level
        if event.secondary_negative:
            draws += rules.secondary_bonus_draws
        if rules.kind == VOUCHER:
            (voucher, bonus), clipped = _clip([next_cents, wanted_bonus], room)
        else:
            voucher, bonus, clipped = 0, 0, 0
        escalated = next_cents + phase.increment_cents
        if phase.max_cents is not None:
            escalated = min(escalated, phase.max_cents)
        next_draws = level if per_week else _draws_step(level, phase)
        state = State(
            next_cents=escalated,
            next_draws=next_draws,
            streak=streak,
            pre_reset_cents=state.pre_reset_cents,
            earned_cents=state.earned_cents + voucher + bonus,
        )
        earned_by_year[year] = earned_by_year.get(year, 0) + voucher + bonus
        awards.append(
            _award(
                base,
                week,
                state,
                voucher_cents=voucher,
                bonus_cents=bonus,
                draws=draws if rules.kind == PRIZE else 0,
                clipped_cents=clipped,
            )
        )

    return Result(awards=tuple(awards), state=state, earned_by_year=earned_by_year)


PROBE = "next negative"


def next_negative(
    rules: Rules,
    start: date,
    events: Iterable[Event],
    day: date,
    earned_elsewhere_by_year: Mapping[int, int] | None = None,
) -> Award:
    """What one more negative test on `day`, after `events`, would earn: the award `run` gives it,
    so every rule counts (a bonus due, the recovered level, the phase `day` falls in, the caps, a
    negative already earned that day). This is what "the next negative earns" promises; the
    state's `next_cents` is only the voucher's escalation.
    """
    probe = Event(key=PROBE, day=max(day, start), kind=SPECIMEN, outcome=NEGATIVE)
    return run(rules, start, [*events, probe], earned_elsewhere_by_year).awards[-1]


def _draws_step(draws: int, phase: Phase) -> int:
    """One escalation step of the draws, never above the phase's maximum."""
    draws += phase.draws_increment
    return min(draws, phase.draws_max) if phase.draws_max else draws


def _room(rules: Rules, state: State, earned_this_year: int) -> int:
    """How many cents may still be paid under the enrollment and calendar-year caps."""
    left = [2**62]
    if rules.enrollment_cap_cents is not None:
        left.append(rules.enrollment_cap_cents - state.earned_cents)
    if rules.year_cap_cents is not None:
        left.append(rules.year_cap_cents - earned_this_year)
    return max(0, min(left))


def _award(base: dict, week: int, state: State, **amounts) -> Award:
    return Award(
        **base,
        week=week,
        streak=state.streak,
        next_cents=state.next_cents,
        next_draws=state.next_draws,
        **amounts,
    )


# Specimen status (as staff record it) -> outcome letter, for everything but a tested specimen.
STATUS_OUTCOMES = {
    "refused": REFUSED,
    "adulterated": ADULTERATED,
    "dilute": DILUTE,
    "missed": MISSED,
    "excused": EXCUSED,
}


def specimen_outcome(
    status: str,
    results: Mapping[str, str],
    targets: Iterable[str],
    secondary: Iterable[str] = (),
) -> tuple[str, bool]:
    """The outcome letter of a specimen and whether every secondary substance was negative.

    Only target substances decide a tested specimen: a positive for a non-target substance (say
    methadone taken as prescribed) does not count. A target missing from the panel is an error,
    because nobody can tell whether it was negative.
    """
    if status != "tested":
        try:
            return STATUS_OUTCOMES[status], False
        except KeyError:
            raise RuleError(f"unknown specimen status {status!r}") from None
    targets = list(targets)
    missing = [t for t in targets if t not in results]
    if missing:
        raise RuleError(f"the panel has no result for {', '.join(missing)}")
    outcome = POSITIVE if any(results[t] == "positive" for t in targets) else NEGATIVE
    secondary = list(secondary)
    secondary_negative = bool(secondary) and all(results.get(s) == "negative" for s in secondary)
    return outcome, secondary_negative
