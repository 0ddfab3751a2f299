"""The audit log: each way a patient's record is read by staff or written leaves a row saying who,
what, when and from where; the rows cannot be changed or removed; the clinic's administrators read
and export a patient's trail, and the export is itself logged."""

import csv
import io
from datetime import date

import pytest
import time_machine
from django.contrib import admin
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from cmtracker.models import AuditEvent
from patients.models import Specimen
from rewards.catalog import catalog_item_create
from rewards.models import CatalogItem
from rewards.redemptions import redemption_request
from tests.api.conftest import client_for
from tests.conftest import at
from tests.factories import EnrollmentFactory, PatientFactory
from tests.vouchers.test_views_patient import correction_data
from vouchers import adjustments, recording
from vouchers.models import LedgerEntry

MON, WED = date(2026, 1, 5), date(2026, 1, 7)


def events(**filters):
    return list(AuditEvent.objects.filter(**filters).order_by("id"))


def record(patient, day, results=None, by=None):
    return recording.specimen_record(
        patient=patient,
        collected_at=at(patient.clinic, day),
        results=results or {"cocaine": "negative"},
        recorded_by=by,
    ).specimen


# --- reads ----------------------------------------------------------------------------------------


def test_a_counselor_opening_a_patient_page_is_logged_with_who_when_and_from_where(
    client, counselor, patient, enrollment
):
    client.force_login(counselor)
    response = client.get(reverse("patient-detail", args=[patient.pk]), REMOTE_ADDR="10.1.2.3")

    assert response.status_code == 200
    [read] = events(action="read")
    assert (read.actor, read.actor_label, read.patient_id) == (counselor, "casey", patient.pk)
    assert read.ip == "10.1.2.3"
    assert read.method == "GET"
    assert read.path == reverse("patient-detail", args=[patient.pk])
    assert read.clinic == patient.clinic


def test_a_page_that_fails_logs_no_read(client, counselor, other_clinic):
    stranger = PatientFactory(clinic=other_clinic)
    client.force_login(counselor)

    response = client.get(reverse("patient-detail", args=[stranger.pk]))

    assert response.status_code == 404
    assert not events(action="read")


def test_a_form_shown_again_with_its_errors_still_logs_the_read(
    client, counselor, patient, enrollment
):
    """The 400 page shows the patient's name and balance again: a read like any other."""
    client.force_login(counselor)

    response = client.post(
        reverse("specimen-record", args=[patient.pk]), {"collected_at": "not a date"}
    )

    assert response.status_code == 400
    assert patient.last_name in response.content.decode()
    assert [e.patient_id for e in events(action="read")] == [patient.pk]


def test_the_today_board_logs_a_read_of_each_patient_it_lists(
    client, counselor, clinic, higgins, pinned_test_day
):
    due = PatientFactory(clinic=clinic)
    EnrollmentFactory(patient=due, protocol=higgins, start_date=pinned_test_day)
    PatientFactory(clinic=clinic)  # not enrolled: not on the board
    client.force_login(counselor)

    page = client.get(reverse("today")).content.decode()

    assert due.last_name in page
    assert [e.patient_id for e in events(action="read")] == [due.pk]


def test_the_redemption_queue_logs_a_read_of_each_patient_it_lists(
    client, counselor, clinic_admin, patient, enrollment
):
    adjustments.ledger_adjust(patient=patient, amount_cents=1000, reason="seed", actor=clinic_admin)
    item = catalog_item_create(
        clinic=patient.clinic, name="Bus pass", price_cents=500, stock=3, actor=clinic_admin
    )
    redemption_request(patient=patient, items=[(item, 1)], requested_by=counselor)
    client.force_login(counselor)

    page = client.get(reverse("redemptions")).content.decode()

    assert patient.last_name in page
    assert [e.patient_id for e in events(action="read")] == [patient.pk]


def test_a_patient_reading_their_own_portal_is_not_a_disclosure(client, patient_user, enrollment):
    client.force_login(patient_user)
    assert client.get(reverse("portal")).status_code == 200
    assert not events(action="read")


def test_an_api_list_logs_a_read_of_each_patient_on_the_page(
    counselor, patient, other_patient, enrollment
):
    other_enrollment = other_patient.enrollments.create(
        protocol=enrollment.protocol, start_date=MON
    )
    record(patient, MON)
    record(other_patient, MON)
    assert other_enrollment.specimens.exists()

    response = client_for(counselor).get("/api/v1/specimens/", REMOTE_ADDR="10.9.9.9")

    assert response.status_code == 200
    reads = events(action="read")
    assert {e.patient_id for e in reads} == {patient.pk, other_patient.pk}
    assert {(e.actor, e.ip) for e in reads} == {(counselor, "10.9.9.9")}


def test_an_api_retrieve_by_token_names_the_token_user(counselor, patient):
    response = client_for(counselor).get(f"/api/v1/patients/{patient.pk}/")

    assert response.status_code == 200
    [read] = events(action="read")
    assert (read.actor, read.patient_id) == (counselor, patient.pk)


# --- writes ---------------------------------------------------------------------------------------


def test_recording_a_test_logs_the_specimen_its_results_and_the_ledger_entries(
    client, counselor, patient, enrollment
):
    record(patient, MON, by=counselor)

    created = {e.object_type for e in events(action="create", patient_id=patient.pk)}
    assert {"specimen", "specimenresult", "ledgerentry"} <= created
    ledger = events(action="create", object_type="ledgerentry")
    assert [e.changes["amount_cents"][1] for e in ledger] == [250]
    assert all(e.actor_label == "system" for e in ledger)  # no request: a service called directly


def test_a_correction_logs_the_old_and_new_values(client, counselor, patient, enrollment):
    record(patient, MON, by=counselor)
    positive = record(patient, WED, {"cocaine": "positive"}, by=counselor)
    client.force_login(counselor)

    client.post(
        reverse("specimen-correct", args=[positive.pk]),
        correction_data(positive),
        REMOTE_ADDR="10.0.0.7",
    )

    [change] = events(action="change", object_type="specimen")
    assert change.changes["outcome"] == [Specimen.Outcome.POSITIVE, Specimen.Outcome.NEGATIVE]
    assert (change.actor, change.ip, change.patient_id) == (counselor, "10.0.0.7", patient.pk)
    assert "notes" not in change.changes  # unchanged fields are not listed


def test_a_catalog_change_is_logged_against_the_clinic(client, clinic_admin, clinic):
    item = CatalogItem.objects.create(clinic=clinic, name="Bus pass", price_cents=500, stock=3)
    item.price_cents = 600
    item.save()

    change = events(action="change", object_type="catalogitem")[0]
    assert change.changes == {"price_cents": [500, 600]}
    assert change.clinic == clinic


# --- append-only ----------------------------------------------------------------------------------


def test_an_audit_event_cannot_be_saved_again_or_deleted_through_the_model(counselor, patient):
    client_for(counselor).get(f"/api/v1/patients/{patient.pk}/")
    event = AuditEvent.objects.get(action="read")

    event.actor_label = "someone else"
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    with pytest.raises(ValueError, match="append-only"):
        event.delete()
    assert AuditEvent.objects.get(action="read").actor_label == "casey"


def test_the_database_refuses_to_update_an_audit_event(counselor, patient):
    client_for(counselor).get(f"/api/v1/patients/{patient.pk}/")

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.update(actor_label="someone else")
    assert AuditEvent.objects.get(action="read").actor_label == "casey"


@pytest.mark.postgres
def test_the_database_refuses_to_delete_an_audit_event(counselor, patient):
    client_for(counselor).get(f"/api/v1/patients/{patient.pk}/")

    before = AuditEvent.objects.count()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM cmtracker_auditevent")
    assert AuditEvent.objects.count() == before


def test_the_admin_shows_audit_events_and_changes_none(rf, admin_user):
    model_admin = admin.site._registry[AuditEvent]
    request = rf.get("/")
    request.user = admin_user

    assert model_admin.has_view_permission(request)
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)


# --- the trail ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("clinic_admin", 200),
        ("counselor", 403),
        ("other_counselor", 404),
        ("patient_user", 404),
    ],
)
def test_only_the_clinics_administrators_read_a_patients_trail(
    client, request, patient, who, status
):
    client.force_login(request.getfixturevalue(who))
    for name in ("patient-audit", "patient-audit-export"):
        assert client.get(reverse(name, args=[patient.pk])).status_code == status


def test_an_anonymous_visitor_is_sent_to_sign_in(client, patient):
    response = client.get(reverse("patient-audit", args=[patient.pk]))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_the_trail_lists_who_read_and_changed_the_record(
    client, counselor, clinic_admin, patient, enrollment
):
    client.force_login(counselor)
    client.get(reverse("patient-detail", args=[patient.pk]))
    client.force_login(clinic_admin)

    page = client.get(reverse("patient-audit", args=[patient.pk])).content.decode()

    assert "casey" in page
    assert f"Read patient #{patient.pk}" in page


def test_the_export_is_a_csv_of_the_trail_and_is_itself_logged(
    client, counselor, clinic_admin, patient, enrollment
):
    record(patient, MON, by=counselor)
    client.force_login(clinic_admin)

    response = client.get(reverse("patient-audit-export", args=[patient.pk]))

    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["time", "who", "action"]
    assert {"specimen", "ledgerentry"} <= {row[3] for row in rows[1:]}
    [export] = events(action="export")
    assert (export.actor, export.patient_id) == (clinic_admin, patient.pk)
    assert LedgerEntry.objects.filter(patient=patient).exists()


@pytest.mark.parametrize(
    ("record_number", "file_name"),
    [
        ("RR-1004", "audit-RR-1004-20260107.csv"),
        ("RR\n1004", "audit-RR-1004-20260107.csv"),
        ('RR "1004"; x=.csv', "audit-RR-1004-x-.csv-20260107.csv"),
        ("\r\n", "audit-patient-20260107.csv"),
    ],
)
def test_the_export_of_a_record_number_saved_before_they_were_checked_has_a_safe_file_name(
    client, clinic_admin, patient, enrollment, record_number, file_name
):
    # Saved as the API once took it: a line break made the download a 500, a quote cut its name.
    type(patient).objects.filter(pk=patient.pk).update(record_number=record_number)
    client.force_login(clinic_admin)

    with time_machine.travel(at(patient.clinic, WED), tick=False):
        response = client.get(reverse("patient-audit-export", args=[patient.pk]))

    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{file_name}"'
    assert b"".join(response.streaming_content).startswith(b"time,who,action")


def test_reading_a_patient_in_the_django_admin_is_logged(client, admin_user, patient):
    client.force_login(admin_user)

    change = reverse("admin:patients_patient_change", args=[patient.pk])
    changelist = reverse("admin:patients_patient_changelist")

    assert client.get(change).status_code == 200
    assert client.get(changelist).status_code == 200

    reads = events(action="read", patient_id=patient.pk)
    assert [(e.actor, e.path) for e in reads] == [(admin_user, change), (admin_user, changelist)]


def test_the_patient_page_links_administrators_to_the_trail(
    client, clinic_admin, counselor, patient
):
    trail = reverse("patient-audit", args=[patient.pk])
    client.force_login(clinic_admin)
    assert trail in client.get(reverse("patient-detail", args=[patient.pk])).content.decode()
    client.force_login(counselor)
    assert trail not in client.get(reverse("patient-detail", args=[patient.pk])).content.decode()


def test_the_log_keeps_at_most_4000_characters_of_a_value_saying_how_long_it_was(
    counselor, patient, enrollment
):
    # A 2 MB note saved before notes had a limit (the services refuse one now).
    specimen = record(patient, MON, by=counselor)
    Specimen.objects.filter(pk=specimen.pk).update(notes="x" * 2_000_000)
    specimen.refresh_from_db()

    recording.specimen_correct(
        specimen=specimen, changed_by=counselor, reason="Note pasted by mistake", notes="Cup 2"
    )

    change = AuditEvent.objects.filter(object_type="specimen", action="change").get()
    old, new = change.changes["notes"]
    assert old == "x" * 4000 + "… [2000000 characters in all]"
    assert new == "Cup 2"
    assert max(len(str(e.changes)) for e in AuditEvent.objects.all()) < 20_000
