"""The exports (docs/reports.md, "Exports"): every table of a clinic as CSV for its
administrators, the de-identified research export for its report readers, each download written
to the audit log, streamed in a fixed number of queries, and safe to open in a spreadsheet.

Riverside (America/Chicago) tests Mondays, Wednesdays and Fridays. Higgins 1994 from Monday
2026-01-05: $2.50 for a first negative, +$1.25 for each negative in a row, a positive resets.
"""

import csv
import hashlib
import hmac
import io
import os
import re
import subprocess
import sys
import uuid
from datetime import date, datetime, time
from pathlib import Path

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cmtracker.models import AuditEvent
from messaging.models import Notification
from rewards import redemptions
from rewards.models import CatalogItem, PrizeDraw
from tests.conftest import at
from tests.factories import (
    EnrollmentFactory,
    MembershipFactory,
    PatientFactory,
    UserFactory,
    preset_protocol,
)
from vouchers import recording
from vouchers.reports import exports, research
from vouchers.reports.exports import csv_cell

pytestmark = pytest.mark.django_db

MON, WED, FRI = date(2026, 1, 5), date(2026, 1, 7), date(2026, 1, 9)
SUN, MON2 = date(2026, 1, 11), date(2026, 1, 12)
TODAY = date(2026, 3, 2)
KEY = "k" * 40


@pytest.fixture(autouse=True)
def _today(clinic, settings):
    settings.RESEARCH_EXPORT_KEY = KEY
    with time_machine.travel(at(clinic, TODAY), tick=False):
        yield


def local(clinic, day, hour, minute=0):
    return datetime.combine(day, time(hour, minute), tzinfo=clinic.tz)


def record(patient, collected_at, outcome="negative", notes=""):
    with time_machine.travel(collected_at, tick=False):
        return recording.specimen_record(
            patient=patient, collected_at=collected_at, results={"cocaine": outcome}, notes=notes
        )


@pytest.fixture
def history(clinic, patient, enrollment, counselor):
    """N Mon, N Wed, P Fri of week 1, then N on Sunday at 23:30 in Chicago (05:30 UTC on Monday
    the 12th: still the clinic's Sunday, so week 1)."""
    patient.first_name, patient.last_name = "Rosalind", "Quimby"
    patient.phone, patient.record_number = "+13125550199", "RQ-4471"
    patient.save()
    record(patient, at(clinic, MON))
    record(patient, at(clinic, WED))
    record(patient, at(clinic, FRI), outcome="positive")
    record(patient, local(clinic, SUN, 23, 30))
    return enrollment


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def download(client, url, **params):
    response = client.get(url, params)
    assert response.status_code == 200, response.status_code
    assert response.streaming
    return b"".join(response.streaming_content)


def rows(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode())))


def table_url(slug):
    return reverse("reports-export-table", args=[slug])


RESEARCH = reverse("reports-export-research")


# --- cells ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1 555", "'+1 555"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("plain = text", "plain = text"),
        ("", ""),
        (None, ""),
        (-500, -500),  # an amount is a number, not a formula
        (True, "true"),
        (date(2026, 1, 5), "2026-01-05"),
        ({"b": 1, "a": "=x"}, '{"a": "=x", "b": 1}'),
        (["-x"], '["-x"]'),
    ],
)
def test_a_cell_a_spreadsheet_would_run_as_a_formula_is_quoted(value, cell, clinic):
    assert csv_cell(value, clinic.tz) == cell


def test_a_time_is_written_in_the_clinic_s_zone_with_its_offset(clinic):
    assert csv_cell(local(clinic, MON, 23, 30), clinic.tz) == "2026-01-05T23:30:00-06:00"


def test_text_typed_by_staff_is_quoted_in_the_file(clinic, clinic_admin, patient, enrollment):
    patient.first_name = "=cmd|' /C calc'!A0"
    patient.save()
    record(patient, at(clinic, MON), notes="@SUM(1+1)")

    people = rows(download(client_for(clinic_admin), table_url("patients")))
    specimens = rows(download(client_for(clinic_admin), table_url("specimens")))

    first_name = people[0].index("first_name")
    assert people[1][first_name] == "'=cmd|' /C calc'!A0"
    assert specimens[1][specimens[0].index("notes")] == "'@SUM(1+1)"


# --- the clinic's tables -------------------------------------------------------------------------


def test_an_administrator_downloads_the_patients_with_their_details(clinic, clinic_admin, history):
    body = download(client_for(clinic_admin), table_url("patients"))

    header, patient = rows(body)
    assert dict(zip(header, patient, strict=True)) | {"created_at": ""} == {
        "id": str(history.patient_id),
        "record_number": "RQ-4471",
        "first_name": "Rosalind",
        "last_name": "Quimby",
        "phone": "'+13125550199",  # a leading + is quoted like any other
        "email": "",
        "preferred_language": "en",
        "primary_counselor": "casey",
        "has_sign_in": "false",
        "reminder_consent_sms": "false",
        "reminder_consent_email": "false",
        "reminder_time": "09:00:00",
        "reminder_evening_before": "false",
        "message_style": "detailed",
        "sms_opted_out_at": "",
        "created_at": "",
    }


def test_the_ledger_holds_what_the_history_earned(clinic, clinic_admin, history):
    table = rows(download(client_for(clinic_admin), table_url("ledger")))

    header, entries = table[0], [dict(zip(table[0], r, strict=True)) for r in table[1:]]
    assert "amount_cents" in header
    # N $2.50, N $3.75, P nothing, N $2.50 after the reset.
    assert [int(e["amount_cents"]) for e in entries] == [250, 375, 250]
    assert {e["kind"] for e in entries} == {"earn"}


def test_notifications_are_exported_without_their_address_or_text(
    clinic, clinic_admin, patient, enrollment
):
    Notification.objects.create(
        clinic=clinic,
        patient=patient,
        kind=Notification.Kind.AWARD,
        channel=Notification.Channel.SMS,
        to="+13125550123",
        subject="Your reward",
        body="Negative cocaine test: you earned $2.50 at Riverside",
        dedupe_key=f"export-{uuid.uuid4()}",
        not_before=at(clinic, MON),
    )

    body = download(client_for(clinic_admin), table_url("notifications"))

    assert b"5550123" not in body
    assert b"cocaine" not in body and b"Riverside" not in body and b"reward" not in body
    header, row = rows(body)
    assert dict(zip(header, row, strict=True))["kind"] == "award"


def test_every_table_downloads_and_the_rewards_tables_are_there(
    clinic, clinic_admin, patient, enrollment, counselor, history
):
    item = CatalogItem.objects.create(clinic=clinic, name="Bus pass", price_cents=50, stock=5)
    redemptions.redemption_request(patient=patient, items=[(item, 1)], requested_by=counselor)
    PrizeDraw.objects.create(patient=patient, enrollment=enrollment, tier="small")
    slugs = [t.slug for t in exports.tables()]
    assert {"redemptions", "redemption-lines", "prize-draws", "catalog"} <= set(slugs)

    client = client_for(clinic_admin)
    for slug in slugs:
        table = rows(download(client, table_url(slug)))
        assert table[0] == exports.table_get(slug).header, slug
    lines = rows(download(client, table_url("redemption-lines")))
    assert dict(zip(lines[0], lines[1], strict=True))["item"] == "Bus pass"


def test_another_clinic_s_rows_are_not_in_its_tables(clinic, clinic_admin, history, other_clinic):
    stranger = PatientFactory(clinic=other_clinic, first_name="Zebediah")
    EnrollmentFactory(patient=stranger)
    record(stranger, at(other_clinic, MON))

    client = client_for(clinic_admin)
    for slug in ("patients", "enrollments", "specimens", "ledger"):
        assert (
            len(rows(download(client, table_url(slug)))) - 1
            == {
                "patients": 1,
                "enrollments": 1,
                "specimens": 4,
                "ledger": 3,
            }[slug]
        ), slug
    assert b"Zebediah" not in download(client, table_url("patients"))


# --- who may download what ----------------------------------------------------------------------


def test_a_supervisor_gets_the_research_export_and_no_identifiable_table(
    clinic, supervisor, history
):
    client = client_for(supervisor)

    page = client.get(reverse("reports-exports"))
    assert page.status_code == 200
    assert table_url("patients").encode() not in page.content
    assert RESEARCH.encode() in page.content
    assert client.get(RESEARCH).status_code == 200
    for slug in ("patients", "ledger", "redemptions", "no-such-table"):
        assert client.get(table_url(slug)).status_code == 404, slug


def test_an_administrator_s_page_links_every_table(clinic, clinic_admin):
    page = client_for(clinic_admin).get(reverse("reports-exports"))

    assert page.status_code == 200
    for table in exports.tables():
        assert table_url(table.slug).encode() in page.content


def test_counselors_and_other_clinics_get_nothing(clinic, counselor, other_clinic, history):
    stranger = UserFactory(username="otheradmin")
    MembershipFactory(user=stranger, clinic=other_clinic, role="admin")

    for user in (counselor, stranger):
        client = client_for(user)
        params = {"clinic": clinic.pk}
        for url in (reverse("reports-exports"), RESEARCH, table_url("patients")):
            assert client.get(url, params).status_code == 404, (user, url)


def test_an_unknown_table_is_not_found(clinic_admin):
    assert client_for(clinic_admin).get(table_url("passwords")).status_code == 404


# --- the audit log -------------------------------------------------------------------------------


def test_each_download_is_written_to_the_audit_log(clinic, clinic_admin, supervisor, history):
    download(client_for(clinic_admin), table_url("specimens"))
    download(client_for(supervisor), RESEARCH)

    events = AuditEvent.objects.filter(action=AuditEvent.Action.EXPORT).order_by("id")
    assert [(e.actor, e.actor_label, e.clinic_id, e.object_type, e.object_id) for e in events] == [
        (clinic_admin, "ada", clinic.pk, "table export", "specimens"),
        (supervisor, "sam", clinic.pk, "research export", "scheduled tests"),
    ]
    assert events[0].path.startswith(table_url("specimens"))


def test_the_patients_file_is_a_read_of_each_patient_it_names(
    clinic, clinic_admin, history, other_patient, other_clinic
):
    PatientFactory(clinic=other_clinic)

    download(client_for(clinic_admin), table_url("patients"))

    reads = AuditEvent.objects.filter(action=AuditEvent.Action.READ, actor=clinic_admin)
    assert sorted(reads.values_list("patient_id", flat=True)) == sorted(
        [history.patient_id, other_patient.pk]
    )
    assert set(reads.values_list("clinic_id", flat=True)) == {clinic.pk}
    # A table of ids only (specimens) is the clinic's one event, no read of each patient.
    download(client_for(clinic_admin), table_url("specimens"))
    assert reads.count() == 2


# --- the research export -------------------------------------------------------------------------


def expected_id(enrollment_id: int, secret: str) -> str:
    """HMAC-SHA256 of "enrollment:<id>" keyed by SHA-256(salt + secret), written out here."""
    key = hashlib.sha256((research.SALT + secret).encode()).digest()
    return hmac.new(key, f"enrollment:{enrollment_id}".encode(), hashlib.sha256).hexdigest()


def test_the_research_export_is_one_row_per_scheduled_test(clinic, supervisor, history):
    table = rows(download(client_for(supervisor), RESEARCH))

    assert table[0] == research.HEADER
    participant = expected_id(history.pk, KEY)
    assert table[1:] == [
        # participant, protocol, version, week, weekday, outcome, cents, draws
        [participant, "higgins-1994", "1", "1", "monday", "negative", "250", "0"],
        [participant, "higgins-1994", "1", "1", "wednesday", "negative", "375", "0"],
        [participant, "higgins-1994", "1", "1", "friday", "positive", "0", "0"],
        # 23:30 on Sunday in Chicago is 05:30 UTC on Monday: the clinic's Sunday, week 1.
        [participant, "higgins-1994", "1", "1", "sunday", "negative", "250", "0"],
    ]


def test_the_research_export_holds_no_name_contact_record_number_or_date(
    clinic, supervisor, history
):
    patient = history.patient
    patient.email = "rosalind@example.org"
    patient.save()

    body = download(client_for(supervisor), RESEARCH)

    for secret in (b"Rosalind", b"Quimby", b"5550199", b"RQ-4471", b"rosalind@", b"Riverside"):
        assert secret not in body, secret
    assert not re.search(rb"\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{2,4}|2026", body)
    assert str(history.pk).encode() + b"," not in body


def test_the_participant_id_is_stable_and_keyed(clinic, supervisor, history, settings):
    client = client_for(supervisor)
    first = rows(download(client, RESEARCH))[1][0]
    again = rows(download(client, RESEARCH))[1][0]
    settings.RESEARCH_EXPORT_KEY = "another installation's key, 32+ chars"
    elsewhere = rows(download(client, RESEARCH))[1][0]

    assert first == again == expected_id(history.pk, KEY)
    assert elsewhere == expected_id(history.pk, "another installation's key, 32+ chars")
    assert elsewhere != first


def test_without_a_research_key_the_ids_are_keyed_by_the_secret_key(history, settings):
    settings.RESEARCH_EXPORT_KEY = ""
    settings.SECRET_KEY = "s" * 50

    assert research.pseudonym(history.pk) == expected_id(history.pk, "s" * 50)
    # Salted: the id is not Django's plain HMAC of the secret, nor a plain hash of the id.
    assert research.pseudonym(history.pk) != hashlib.sha256(str(history.pk).encode()).hexdigest()


def test_two_enrollments_get_two_ids(clinic, supervisor, history, higgins):
    other = EnrollmentFactory(patient=PatientFactory(clinic=clinic), protocol=higgins)
    record(other.patient, at(clinic, MON2))

    table = rows(download(client_for(supervisor), RESEARCH))

    ids = [r[0] for r in table[1:]]
    assert set(ids) == {expected_id(history.pk, KEY), expected_id(other.pk, KEY)}
    assert table[-1][3:6] == ["2", "monday", "negative"]  # started Monday the 5th: week 2


def test_a_corrected_result_shows_what_the_history_earns_now(
    clinic, supervisor, clinic_admin, counselor, history
):
    """Monday corrected to positive: Monday earns nothing, Wednesday becomes a first negative
    ($2.50, its $3.75 partly reversed), Sunday stays $2.50."""
    monday = history.specimens.order_by("collected_at").first()
    with time_machine.travel(at(clinic, MON2), tick=False):
        recording.specimen_correct(
            specimen=monday,
            changed_by=counselor,
            reason="Lab called: =cocaine positive",
            results={"cocaine": "positive"},
        )

    table = rows(download(client_for(supervisor), RESEARCH))
    corrections = rows(download(client_for(clinic_admin), table_url("corrections")))

    assert [r[5:] for r in table[1:]] == [
        ["positive", "0", "0"],
        ["negative", "250", "0"],
        ["positive", "0", "0"],
        ["negative", "250", "0"],
    ]
    correction = dict(zip(corrections[0], corrections[1], strict=True))
    assert correction["reason"] == "Lab called: =cocaine positive"
    assert correction["changed_by"] == "casey"


def test_a_prize_protocol_s_tests_earn_draws(clinic, supervisor, patient):
    fishbowl = preset_protocol("petry-fishbowl")
    EnrollmentFactory(patient=patient, protocol=fishbowl, start_date=MON)
    negative = {substance: "negative" for substance in fishbowl.target_substances}
    for day in (MON, WED, MON2):
        with time_machine.travel(at(clinic, day), tick=False):
            recording.specimen_record(
                patient=patient, collected_at=at(clinic, day), results=negative
            )

    table = rows(download(client_for(supervisor), RESEARCH))

    # Draws escalate per week of continuous abstinence: 1 a negative in week 1, 2 in week 2.
    assert [r[1:] for r in table[1:]] == [
        ["petry-fishbowl", "1", "1", "monday", "negative", "0", "1"],
        ["petry-fishbowl", "1", "1", "wednesday", "negative", "0", "1"],
        ["petry-fishbowl", "1", "2", "monday", "negative", "0", "2"],
    ]


# --- queries ------------------------------------------------------------------------------------


def enrolled(clinic, higgins, count):
    for _ in range(count):
        patient = PatientFactory(clinic=clinic)
        EnrollmentFactory(patient=patient, protocol=higgins, start_date=MON)
        record(patient, at(clinic, MON))
        record(patient, at(clinic, WED), outcome="positive")


def queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        download(client, url)
    return len(captured)


def test_each_export_costs_the_same_queries_for_2_and_12_enrollments(clinic, clinic_admin, higgins):
    client = client_for(clinic_admin)
    urls = [RESEARCH] + [table_url(t.slug) for t in exports.tables()]
    enrolled(clinic, higgins, 2)
    few = {url: queries(client, url) for url in urls}

    enrolled(clinic, higgins, 10)
    many = {url: queries(client, url) for url in urls}

    assert many == few
    # The request's own (the session read and saved, the user, the second factor, the roles, the
    # language, the clinics, the audit event), then one query for a table, streamed from a cursor
    # (two for the research export: the protocols, then the tests), and for the patients table
    # the reads of the patients it names (their ids, their clinics, one insert).
    assert max(few.values()) <= 15, few


def test_a_research_key_too_short_to_be_a_secret_stops_start_up():
    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "RESEARCH_EXPORT_KEY": "short"}
    done = subprocess.run(
        [sys.executable, "-c", "import cmtracker.settings"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode != 0
    assert "RESEARCH_EXPORT_KEY must be a random value of 32+ characters" in done.stderr
