"""The engine's notes are codes, said in the reader's language in one place
(vouchers/award_notes.py): on the record page, in the patient page's history and in cm_simulate.
And the errors the engine raises read as a person can act on them, word for word, where people
see them: the simulator and the record form.
"""

import re
from datetime import date, datetime, time, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone, translation

from patients.models import Specimen
from tests.factories import EnrollmentFactory
from vouchers import engine, services
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
from vouchers.models import LedgerEntry, Protocol, ProtocolPhase

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


# --- where notes are shown ------------------------------------------------------------------------


@pytest.fixture
def every_weekday_a_test_day(clinic):
    clinic.test_weekdays = list(range(7))
    clinic.save(update_fields=["test_weekdays"])


@pytest.fixture
def today(clinic, every_weekday_a_test_day):
    return clinic.local_date(timezone.now())


def _negative(patient, day, hour):
    return services.specimen_record(
        patient=patient,
        collected_at=datetime.combine(day, time(hour), tzinfo=patient.clinic.tz),
        results={"cocaine": "negative"},
    )


def test_the_patient_pages_history_says_the_note_in_words(client, counselor, patient, higgins):
    EnrollmentFactory(patient=patient, protocol=higgins, start_date=START)
    _negative(patient, START, 9)
    _negative(patient, START, 11)
    client.force_login(counselor)

    page = client.get(reverse("patient-detail", args=[patient.pk])).content.decode()

    assert ALREADY_EARNED_EN in page.replace("&#x27;", "'")
    assert ALREADY_EARNED not in page


def test_the_record_page_says_the_note_in_the_counselors_language(
    client, counselor, patient, higgins, today
):
    EnrollmentFactory(patient=patient, protocol=higgins, start_date=today)
    now = timezone.localtime(timezone=patient.clinic.tz)
    _negative(patient, today, 0)
    client.force_login(counselor)
    form = {
        "collected_at": now.strftime("%Y-%m-%dT%H:%M"),
        "kind": "urine",
        "status": "tested",
        "panel": ["cocaine"],
        "notes": "",
        "idempotency_key": "6f1c4c52-0d7e-4f8a-9b1e-2a7f3c9d0e11",
    }

    response = client.post(
        reverse("specimen-record", args=[patient.pk]), form, HTTP_ACCEPT_LANGUAGE="es"
    )

    assert response.status_code == 200
    assert ALREADY_EARNED_ES in response.content.decode()


def test_cm_simulate_says_the_note_in_words(db):
    out = StringIO()
    with translation.override("en"):
        call_command(
            "cm_simulate", "--protocol", "higgins-1994", "--outcomes", "N" * 37, stdout=out
        )

    last_row = out.getvalue().splitlines()[-2]
    assert last_row.endswith(OUTSIDE_WEEKS_EN)
    assert OUTSIDE_WEEKS not in out.getvalue()


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


def _broken_protocol():
    """A protocol version saved with a start value above its maximum (the admin refuses it; an
    old row or a hand-edited database may still hold one)."""
    protocol = Protocol.objects.create(
        slug="broken",
        name="Broken",
        kind=Protocol.Kind.VOUCHER,
        target_substances=["cocaine"],
        is_current=True,
    )
    ProtocolPhase.objects.create(
        protocol=protocol, first_week=1, last_week=None, start_cents=500, max_cents=400
    )
    return protocol


def test_cm_simulate_names_the_protocol_and_what_is_wrong_with_it(db):
    _broken_protocol()

    with pytest.raises(CommandError) as error:
        call_command("cm_simulate", "--protocol", "broken", "--outcomes", "NN")

    assert str(error.value) == (
        "protocol 'broken' cannot be run: week 1: the start value is above the maximum"
    )


def test_the_record_form_says_which_target_has_no_result(client, counselor, patient, today):
    EnrollmentFactory(patient=patient, protocol=_ca_rip_like(), start_date=today)
    now = timezone.localtime(timezone=patient.clinic.tz)
    client.force_login(counselor)
    # The panel posted without two of the protocol's targets (a stale or hand-made form).
    form = {
        "collected_at": now.strftime("%Y-%m-%dT%H:%M"),
        "kind": "urine",
        "status": "tested",
        "panel": ["cocaine"],
        "notes": "",
        "idempotency_key": "0b8e2d7a-5c1f-4e3b-8a6d-9f2c1e4b7a30",
    }

    response = client.post(reverse("specimen-record", args=[patient.pk]), form)

    assert response.status_code == 400
    page = " ".join(response.content.decode().split())
    assert "the panel has no result for amphetamine, methamphetamine" in page
    assert not Specimen.objects.exists()
    assert not LedgerEntry.objects.exists()


def _ca_rip_like():
    protocol = Protocol.objects.create(
        slug="stimulants",
        name="Stimulants",
        kind=Protocol.Kind.VOUCHER,
        target_substances=["cocaine", "amphetamine", "methamphetamine"],
    )
    ProtocolPhase.objects.create(protocol=protocol, first_week=1, last_week=None, start_cents=250)
    return protocol
