"""The engine's notes are codes, with their words in one place (vouchers/award_notes.py), in English
and Spanish; and the engine's errors, word for word, as people read them. No database: where
these reach the pages and the simulator is test_award_notes_shown.py.
"""

import re
from datetime import date, timedelta

import pytest
from django.utils import translation

from vouchers import engine
from vouchers.award_notes import AWARD_NOTES, award_note
from vouchers.engine import (
    ALREADY_EARNED,
    OUTSIDE_WEEKS,
    PRIZE,
    SPECIMEN,
    VOUCHER,
    Event,
    Phase,
    RuleError,
    Rules,
)

START = date(2026, 1, 5)
ALREADY_EARNED_EN = "A negative already earned on this day; this one is recorded and earns nothing."
ALREADY_EARNED_ES = "Ya se ganó con una prueba negativa este día; esta se registra y no gana nada."
OUTSIDE_WEEKS_EN = "This is after the protocol's last week; it is recorded and earns nothing."


# --- codes, not words ----------------------------------------------------------------------------


def test_every_note_the_engine_writes_is_a_code_with_words():
    rules = Rules(kind=VOUCHER, phases=(Phase(1, 1, start_cents=250),))
    events = [
        Event("a", START, SPECIMEN, "N"),
        Event("b", START, SPECIMEN, "N"),  # the same day
        Event("c", START + timedelta(days=7), SPECIMEN, "N"),  # week 2, after the last
    ]

    notes = [a.note for a in engine.run(rules, START, events).awards]

    assert notes == ["", ALREADY_EARNED, OUTSIDE_WEEKS]
    assert set(AWARD_NOTES) == set(engine.NOTES)
    assert all(re.fullmatch(r"[a-z_]+", code) for code in engine.NOTES)


@pytest.mark.parametrize(
    "code, english, spanish",
    [
        (ALREADY_EARNED, ALREADY_EARNED_EN, ALREADY_EARNED_ES),
        (
            OUTSIDE_WEEKS,
            OUTSIDE_WEEKS_EN,
            "Esto es después de la última semana del protocolo; se registra y no gana nada.",
        ),
    ],
)
def test_each_note_is_said_in_the_readers_language(code, english, spanish):
    with translation.override("en"):
        assert award_note(code) == english
    with translation.override("es"):
        assert award_note(code) == spanish


def test_no_note_says_nothing_and_a_note_without_words_fails_loudly():
    assert award_note("") == ""
    with pytest.raises(KeyError):
        award_note("a note nobody translated")


# --- the errors people read --------------------------------------------------------------------


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: Rules(kind="points", phases=(Phase(1, None),)), "unknown protocol kind 'points'"),
        (lambda: Rules(kind=VOUCHER, phases=()), "a protocol needs at least one phase"),
        (
            lambda: Rules(kind=VOUCHER, phases=(Phase(1, 4), Phase(4, None))),
            "phases overlap at week 4",
        ),
        (
            lambda: Rules(kind=VOUCHER, phases=(Phase(1, None), Phase(5, None))),
            "phases overlap at week 5",
        ),
        (
            lambda: Rules(kind=VOUCHER, phases=(Phase(1, None, increment_cents=-1),)),
            "protocol values cannot be negative",
        ),
        (
            lambda: Rules(kind=VOUCHER, phases=(Phase(1, None, max_cents=-1),)),
            "protocol values cannot be negative",
        ),
        (
            lambda: Rules(kind=VOUCHER, phases=(Phase(1, None),), year_cap_cents=-1),
            "protocol values cannot be negative",
        ),
        (lambda: Rules(kind=VOUCHER, phases=(Phase(0, None),)), "weeks start at 1"),
        (
            lambda: Rules(kind=VOUCHER, phases=(Phase(3, 2),)),
            "the phase from week 3 ends before it starts",
        ),
        (
            lambda: Rules(kind=VOUCHER, phases=(Phase(1, None, start_cents=500, max_cents=400),)),
            "week 1: the start value is above the maximum",
        ),
        (
            lambda: Rules(kind=PRIZE, phases=(Phase(1, None, draws_start=4, draws_max=3),)),
            "week 1: the start draws are above the maximum",
        ),
        (
            lambda: engine.run(
                Rules(kind=VOUCHER, phases=(Phase(1, None),)),
                START,
                [Event("s", date(2026, 1, 2), SPECIMEN, "N")],
            ),
            "2026-01-02 is before the enrollment start 2026-01-05",
        ),
        (
            lambda: engine.run(
                Rules(kind=VOUCHER, phases=(Phase(1, None),)),
                START,
                [Event("s", START, SPECIMEN, "X")],
            ),
            "unknown outcome 'X'",
        ),
        (
            lambda: engine.specimen_outcome("lost", {}, ["cocaine"]),
            "unknown specimen status 'lost'",
        ),
        (
            lambda: engine.specimen_outcome("tested", {}, ["cocaine", "heroin"]),
            "the panel has no result for cocaine, heroin",
        ),
    ],
)
def test_each_rule_error_says_what_is_wrong(build, message):
    with pytest.raises(RuleError) as error:
        build()

    assert str(error.value) == message
