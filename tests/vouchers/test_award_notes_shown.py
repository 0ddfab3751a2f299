"""Where the engine's notes and errors reach people: the patient page's history, the record page
(in the counselor's language), cm_simulate, and the record form's error for a short panel.
The words themselves are pinned in test_engine_notes.py.
"""

from datetime import date, datetime, time
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone, translation

from patients.models import Specimen
from tests.factories import EnrollmentFactory
from tests.vouchers.test_engine_notes import (
    ALREADY_EARNED_EN,
    ALREADY_EARNED_ES,
    OUTSIDE_WEEKS_EN,
)
from vouchers import recording
from vouchers.engine import ALREADY_EARNED, OUTSIDE_WEEKS
from vouchers.models import LedgerEntry, Protocol, ProtocolPhase

START = date(2026, 1, 5)


# --- where notes are shown ------------------------------------------------------------------------


@pytest.fixture
def every_weekday_a_test_day(clinic):
    clinic.test_weekdays = list(range(7))
    clinic.save(update_fields=["test_weekdays"])


@pytest.fixture
def today(clinic, every_weekday_a_test_day):
    return clinic.local_date(timezone.now())


def _negative(patient, day, hour):
    return recording.specimen_record(
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
