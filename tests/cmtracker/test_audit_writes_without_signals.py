"""Writes that send no save signal are in the audit trail too: a deleted specimen result, stock
moved with an UPDATE, and a record deleted in the Django admin — each with its old values."""

from datetime import date

import pytest
from django.urls import reverse

from cmtracker.models import AuditEvent
from patients.models import Enrollment, SpecimenResult
from rewards import catalog, redemptions
from rewards.models import CatalogItem
from tests.conftest import at
from tests.factories import EnrollmentFactory
from vouchers import adjustments, recording

MON = date(2026, 1, 5)


def events(**filters):
    return list(AuditEvent.objects.filter(**filters).order_by("id"))


def test_a_correction_logs_the_deletion_of_each_result_it_replaces(
    client, counselor, patient, enrollment
):
    specimen = recording.specimen_record(
        patient=patient,
        collected_at=at(patient.clinic, MON),
        results={"cocaine": "negative", "opiates": "negative"},
        recorded_by=counselor,
    ).specimen
    old = {r.pk: r.substance for r in specimen.results.all()}

    recording.specimen_correct(
        specimen=specimen,
        changed_by=counselor,
        reason="The lab re-read the sample",
        results={"cocaine": "positive"},
    )

    deleted = events(action="delete", object_type="specimenresult")
    assert {int(e.object_id): e.changes["substance"][0] for e in deleted} == old
    assert {e.changes["result"][0] for e in deleted} == {"negative"}
    assert {e.patient_id for e in deleted} == {patient.pk}
    assert not SpecimenResult.objects.filter(pk__in=old).exists()


def test_stock_moved_by_an_update_is_logged_with_the_old_and_new_count(
    clinic_admin, counselor, patient, enrollment
):
    item = catalog.catalog_item_create(
        clinic=patient.clinic, name="Bus pass", price_cents=100, stock=3, actor=clinic_admin
    )
    adjustments.ledger_adjust(patient=patient, amount_cents=1000, reason="seed", actor=clinic_admin)

    catalog.stock_receive(item=item, quantity=5, actor=clinic_admin)
    request = redemptions.redemption_request(
        patient=patient, items=[(item, 2)], requested_by=counselor
    )
    redemptions.redemption_decline(redemption=request, actor=counselor, reason="Not in the plan")

    stock = [
        e.changes["stock"]
        for e in events(action="change", object_type="catalogitem")
        if "stock" in e.changes
    ]
    assert stock == [[3, 8], [8, 6], [6, 8]]
    assert CatalogItem.objects.get(pk=item.pk).stock == 8
    assert {e.clinic for e in events(object_type="catalogitem")} == {patient.clinic}


@pytest.mark.parametrize("how", ["form", "action"])
def test_deleting_an_enrollment_in_the_admin_logs_its_values(client, admin_user, patient, how):
    enrollment = EnrollmentFactory(patient=patient)  # nothing recorded yet: it may be deleted
    client.force_login(admin_user)

    if how == "form":
        url = reverse("admin:patients_enrollment_delete", args=[enrollment.pk])
        response = client.post(url, {"post": "yes"})
    else:
        url = reverse("admin:patients_enrollment_changelist")
        response = client.post(
            url,
            {"action": "delete_selected", "_selected_action": [enrollment.pk], "post": "yes"},
        )

    assert response.status_code == 302
    assert not Enrollment.objects.filter(pk=enrollment.pk).exists()
    [deleted] = events(action="delete", object_type="enrollment")
    assert (deleted.actor, deleted.patient_id, deleted.object_id) == (
        admin_user,
        patient.pk,
        str(enrollment.pk),
    )
    assert deleted.changes["start_date"] == [enrollment.start_date.isoformat(), None]
