"""A patient with an audit trail is kept: the admin's delete page says the audit events stand in
the way and deletes nothing, though an event names its patient by id, not by a relation. The audit
log's admin names each event's patient as before."""

from django.urls import reverse
from django.utils import timezone

from cmtracker.models import AuditEvent
from patients.models import Patient


def test_the_admin_refuses_to_delete_a_patient_with_audit_events(client, admin_user, patient):
    AuditEvent.objects.create(
        at=timezone.now(),
        actor_label="casey",
        clinic=patient.clinic,
        patient_id=patient.pk,
        action="read",
        object_type="patient",
    )
    client.force_login(admin_user)
    url = reverse("admin:patients_patient_delete", args=[patient.pk])

    page = client.get(url).content.decode()
    assert "Cannot delete patient" in page
    assert "<li>audit event</li>" in page
    client.post(url, {"post": "yes"})

    assert Patient.objects.filter(pk=patient.pk).exists()


def test_the_audit_log_in_the_admin_names_each_event_s_patient(client, admin_user, patient):
    event = AuditEvent.objects.create(
        at=timezone.now(),
        actor_label="casey",
        clinic=patient.clinic,
        patient_id=patient.pk,
        action="read",
        object_type="patient",
    )
    client.force_login(admin_user)

    listed = client.get(reverse("admin:cmtracker_auditevent_changelist")).content.decode()
    shown = client.get(reverse("admin:cmtracker_auditevent_change", args=[event.pk]))

    assert str(patient) in listed
    link = reverse("admin:patients_patient_change", args=[patient.pk])
    assert f'<a href="{link}">{patient}</a>' in shown.content.decode()
