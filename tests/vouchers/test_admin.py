"""Django admin: every model is there, and the ledger cannot be changed through it."""

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse

from tests.conftest import at
from tests.factories import UserFactory
from vouchers import recording
from vouchers.models import LedgerEntry, Protocol


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_staff=True, is_superuser=True)


def test_every_model_of_the_project_is_registered():
    ours = [
        m
        for app in ("cmtracker", "patients", "vouchers", "messaging", "rewards")
        for m in apps.get_app_config(app).get_models()
    ]
    missing = [m.__name__ for m in ours if m not in admin.site._registry]
    assert missing == []


def test_every_admin_list_page_opens(client, superuser, enrollment, counselor):
    recording.specimen_record(
        patient=enrollment.patient,
        collected_at=at(enrollment.patient.clinic, enrollment.start_date),
        results={"cocaine": "negative"},
        recorded_by=counselor,
    )
    client.force_login(superuser)
    for model in admin.site._registry:
        meta = model._meta
        url = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        assert client.get(url).status_code == 200, url


def test_a_ledger_entry_opens_read_only_and_cannot_be_deleted(
    client, superuser, enrollment, counselor
):
    recording.specimen_record(
        patient=enrollment.patient,
        collected_at=at(enrollment.patient.clinic, enrollment.start_date),
        results={"cocaine": "negative"},
        recorded_by=counselor,
    )
    entry = LedgerEntry.objects.get()
    client.force_login(superuser)
    change_url = reverse("admin:vouchers_ledgerentry_change", args=[entry.pk])
    page = client.get(change_url)
    assert page.status_code == 200
    assert b'name="amount_cents"' not in page.content  # shown, not editable
    client.post(change_url, {"amount_cents": "99999"})
    delete_url = reverse("admin:vouchers_ledgerentry_delete", args=[entry.pk])
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    entry.refresh_from_db()
    assert entry.amount_cents == 250
    assert client.get(reverse("admin:vouchers_ledgerentry_add")).status_code == 403


def test_a_protocol_in_use_is_read_only_and_a_new_version_takes_its_place(
    client, superuser, enrollment
):
    client.force_login(superuser)
    higgins = enrollment.protocol
    url = reverse("admin:vouchers_protocol_change", args=[higgins.pk])
    client.post(url, {"name": "edited", "slug": higgins.slug, "kind": "voucher"})
    higgins.refresh_from_db()
    assert higgins.name != "edited"

    changelist = reverse("admin:vouchers_protocol_changelist")
    client.post(changelist, {"action": "make_new_version", "_selected_action": [higgins.pk]})
    versions = Protocol.objects.filter(slug="higgins-1994").order_by("version")
    assert [(p.version, p.is_current) for p in versions] == [(1, False), (2, True)]
    assert versions[1].phases.count() == higgins.phases.count()
    enrollment.refresh_from_db()
    assert enrollment.protocol_id == higgins.pk  # the enrolled patient keeps their promise


def test_the_admin_refuses_a_record_number_with_a_line_break(client, superuser, clinic):
    client.force_login(superuser)
    form = {
        "clinic": clinic.pk,
        "record_number": "R-1\nR-2",
        "first_name": "Rae",
        "last_name": "Lee",
        "preferred_language": "en",
        "reminder_time": "09:00",
        "enrollments-TOTAL_FORMS": "0",
        "enrollments-INITIAL_FORMS": "0",
    }

    response = client.post(reverse("admin:patients_patient_add"), form)

    assert response.status_code == 200  # the form again, with its error
    assert "no line breaks or tabs" in response.content.decode()
    assert not clinic.patients.exists()


@pytest.mark.parametrize(("typed", "saved"), [("٢٥٠", None), ("250", 250)])
def test_a_protocols_amounts_are_typed_in_the_digits_0_to_9(client, superuser, typed, saved):
    protocol = Protocol.objects.create(slug="draft", name="Draft", kind="voucher")
    client.force_login(superuser)
    phase = {
        "protocol": protocol.pk,
        "first_week": "1",
        "tests_per_week": "3",
        "start_cents": typed,
        "increment_cents": "125",
        "bonus_every": "0",
        "bonus_cents": "0",
        "recovery_after": "0",
        "draws_start": "0",
        "draws_increment": "0",
        "draws_max": "0",
    }

    response = client.post(reverse("admin:vouchers_protocolphase_add"), phase)

    if saved is None:
        assert response.status_code == 200
        assert "Enter a whole number." in response.content.decode()
        assert not protocol.phases.exists()
    else:
        assert response.status_code == 302
        assert protocol.phases.get().start_cents == saved
