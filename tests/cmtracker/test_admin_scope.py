"""The Django admin shows a clinic's staff their own clinics' rows only; platform operators
(superusers) see every clinic."""

from datetime import date, timedelta

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from cmtracker.admin_scope import ClinicScopedAdmin, PlatformOnlyAdmin
from cmtracker.models import AuditEvent, Clinic, Membership, User
from messaging.models import Notification
from rewards.catalog import catalog_item_create
from rewards.models import PrizeDraw
from rewards.redemptions import redemption_request
from tests.conftest import at, protocol
from tests.factories import EnrollmentFactory, MembershipFactory, PatientFactory, UserFactory
from vouchers import recording
from vouchers.models import LabImport


def a_clinics_records(clinic, counselor, label):
    """A patient of `clinic` with a row in every table the admin shows."""
    patient = PatientFactory(
        clinic=clinic, primary_counselor=counselor, user=UserFactory(username=f"pat-{label}")
    )
    enrollment = EnrollmentFactory(
        patient=patient, protocol=protocol("higgins-1994"), start_date=date(2026, 1, 5)
    )
    recorded = recording.specimen_record(
        patient=patient,
        collected_at=at(clinic, date(2026, 1, 5)),
        results={"cocaine": "negative"},
        recorded_by=counselor,
    )
    recording.specimen_correct(
        specimen=recorded.specimen,
        changed_by=counselor,
        reason="typo",
        results={"cocaine": "negative"},
        notes="corrected",
    )
    session = recording.attendance_record(
        patient=patient,
        occurred_at=at(clinic, date(2026, 1, 6)),
        session_kind="individual",
        recorded_by=counselor,
    )
    recording.attendance_correct(
        attendance=session.attendance, changed_by=counselor, reason="typo", notes="late"
    )
    item = catalog_item_create(
        clinic=clinic, name=f"Bus pass {label}", price_cents=100, stock=5, actor=counselor
    )
    redemption_request(patient=patient, items=[(item, 1)], requested_by=counselor)
    PrizeDraw.objects.create(
        patient=patient, enrollment=enrollment, tier="small", drawn_by=counselor
    )
    now = timezone.now()
    LabImport.objects.create(
        clinic=clinic, created_by=counselor, token=label, expires_at=now + timedelta(hours=1)
    )
    Notification.objects.create(
        clinic=clinic,
        patient=patient,
        kind="reminder",
        channel="sms",
        to="+13125550100",
        body="Reminder",
        dedupe_key=f"reminder-{label}",
        not_before=now,
        expires_at=now + timedelta(days=1),
    )
    AuditEvent.objects.create(
        at=now, clinic=clinic, patient_id=patient.pk, action="read", object_type="patient"
    )


def rows(models):
    return {model: set(model._default_manager.values_list("pk", flat=True)) for model in models}


@pytest.fixture
def two_clinics(clinic, counselor, other_clinic, other_counselor):
    """Every registered model's rows of the other clinic (made after this clinic's)."""
    models = list(admin.site._registry)
    a_clinics_records(clinic, counselor, "a")
    before = rows(models)
    a_clinics_records(other_clinic, other_counselor, "b")
    after = rows(models)
    other_rows = {model: after[model] - before[model] for model in models}
    # The other clinic itself and its counselor came before.
    other_rows[Clinic].add(other_clinic.pk)
    other_rows[Membership].update(other_clinic.memberships.values_list("pk", flat=True))
    other_rows[User].add(other_counselor.pk)
    return other_rows


@pytest.fixture
def clinic_staff(clinic):
    """Staff of this clinic allowed to view everything the admin has."""
    user = UserFactory(username="viewer", is_staff=True)
    MembershipFactory(user=user, clinic=clinic, role="admin")
    user.user_permissions.set(Permission.objects.filter(codename__startswith="view_"))
    return user


def changelist(model):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def change_page(model, pk):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[pk])


def test_every_admin_page_is_clinic_scoped_or_for_platform_operators_only():
    unscoped = [
        type(model_admin).__name__
        for model_admin in admin.site._registry.values()
        if not isinstance(model_admin, ClinicScopedAdmin | PlatformOnlyAdmin)
    ]
    assert unscoped == []


def test_clinic_staff_see_no_other_clinics_row_on_any_admin_page(client, two_clinics, clinic_staff):
    with_other_rows = [model for model, pks in two_clinics.items() if pks]
    # Every table of a clinic's records, and the accounts of its staff and patients.
    assert len(with_other_rows) >= 19, with_other_rows
    client.force_login(clinic_staff)
    for model, other_rows in two_clinics.items():
        page = client.get(changelist(model))
        if isinstance(admin.site.get_model_admin(model), PlatformOnlyAdmin):
            assert page.status_code == 403, model
            continue
        assert page.status_code == 200, model
        shown = {row.pk for row in page.context["cl"].result_list}
        assert shown, model  # this clinic's rows are there
        assert not shown & other_rows, model
        for pk in other_rows:
            assert client.get(change_page(model, pk)).status_code in (302, 403, 404), model


def test_a_platform_operator_sees_both_clinics(client, two_clinics):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    for model, other_rows in two_clinics.items():
        page = client.get(changelist(model))
        assert page.status_code == 200, model
        assert other_rows <= {row.pk for row in page.context["cl"].result_list}, model
        for pk in other_rows:
            assert client.get(change_page(model, pk)).status_code == 200, model


def test_a_drop_down_offers_only_the_users_clinics(
    client, clinic, counselor, other_counselor, two_clinics, clinic_staff
):
    # (Enrollments are not added in the admin: the patient's enrollment page starts them.)
    clinic_staff.user_permissions.add(*Permission.objects.filter(codename="add_patient"))
    client.force_login(clinic_staff)
    patient_form = client.get(reverse("admin:patients_patient_add")).context["adminform"]
    assert list(patient_form.form.fields["clinic"].queryset) == [clinic]
    counselors = patient_form.form.fields["primary_counselor"].queryset
    assert counselor in counselors
    assert other_counselor not in counselors


def test_a_clinic_administrator_cannot_move_a_patient_to_another_clinic(
    client, clinic, other_clinic, two_clinics, clinic_staff
):
    clinic_staff.user_permissions.add(*Permission.objects.filter(codename="change_patient"))
    client.force_login(clinic_staff)
    patient = clinic.patients.get()
    page = client.post(
        change_page(type(patient), patient.pk),
        {
            "record_number": patient.record_number,
            "first_name": patient.first_name,
            "last_name": patient.last_name,
            "clinic": other_clinic.pk,
            "preferred_language": "en",
            "reminder_time": "09:00",
            "message_style": "clinic",
        },
    )
    assert page.status_code == 200  # the form again, with an error
    assert list(page.context["adminform"].form.errors) == ["clinic"]
    patient.refresh_from_db()
    assert patient.clinic == clinic


def test_clinic_staff_cannot_make_themselves_superusers(client, clinic_staff):
    clinic_staff.user_permissions.add(*Permission.objects.filter(codename="change_user"))
    client.force_login(clinic_staff)
    url = change_page(type(clinic_staff), clinic_staff.pk)
    assert client.post(url, {"username": "viewer", "is_superuser": "on"}).status_code == 403
    clinic_staff.refresh_from_db()
    assert not clinic_staff.is_superuser
