"""The clinical record in the Django admin.

A patient's details are saved through patients.services (patient_create, patient_update), so the
admin keeps the rules the API keeps. An enrollment is only shown here: starting one, its dates,
status, schedule and missed-test start belong to its lifecycle (patients.enrollment), reached from
the patient's enrollment page; specimens, sessions and their corrections are written by the
recording services.
"""

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from cmtracker import admin as core_admin
from cmtracker.admin import ReadOnlyAdmin
from cmtracker.admin_audit import AuditedAdmin
from cmtracker.admin_scope import ClinicScopedAdmin
from cmtracker.models import AuditEvent, User
from patients.models import Attendance, Correction, Enrollment, Patient, Specimen, SpecimenResult
from patients.services import PATIENT_FIELDS, patient_create, patient_update, patient_validate


class EnrollmentInline(admin.TabularInline):
    model = Enrollment
    extra = 0
    fields = ["protocol_id", "start_date", "end_date", "status", "misses_from"]
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class PatientAdminForm(forms.ModelForm):
    """The service's rules, checked when the form is, so a broken one is shown on its field."""

    class Meta:
        model = Patient
        fields = PATIENT_FIELDS

    def _post_clean(self):
        super()._post_clean()
        if self.errors:
            return  # the fields' own errors first, as before
        try:
            patient_validate(
                patient=self.instance, changed=self.changed_data if self.instance.pk else None
            )
        except ValidationError as error:
            for field, messages in error.message_dict.items():
                self.add_error(field if field in self.fields else None, messages)


@admin.register(Patient)
class PatientAdmin(ClinicScopedAdmin, AuditedAdmin):
    clinic_path = "clinic"
    audit_patient = "pk"
    list_display = ["record_number", "last_name", "first_name", "clinic", "primary_counselor"]
    list_filter = [("clinic", admin.RelatedOnlyFieldListFilter), "preferred_language"]
    search_fields = ["record_number", "first_name", "last_name"]
    list_select_related = ["clinic", "primary_counselor"]
    raw_id_fields = ["user", "primary_counselor"]
    inlines = [EnrollmentInline]
    form = PatientAdminForm

    def save_model(self, request, obj, form, change):
        data = {
            name: form.cleaned_data[name] for name in PATIENT_FIELDS if name in form.cleaned_data
        }
        if change:
            patient_update(patient=obj, **{name: data[name] for name in form.changed_data})
            return
        saved = patient_create(**data)
        # The admin goes on with its own instance (its inlines and its log entry are bound to it).
        obj.pk, obj.created_at, obj._state = saved.pk, saved.created_at, saved._state

    def get_deleted_objects(self, objs, request):
        """A patient's audit events keep them (the database's foreign key says so too), but they
        name the patient by id, so Django's collector does not find them: listed here as the
        protected rows they are, the delete page refuses as it always has."""
        to_delete, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        events = AuditEvent.objects.filter(patient_id__in=[patient.pk for patient in objs])
        event_admin = self.admin_site.get_model_admin(AuditEvent)
        label = capfirst(AuditEvent._meta.verbose_name)
        for event in events.order_by("pk"):
            if not event_admin.has_delete_permission(request, event):
                perms_needed.add(AuditEvent._meta.verbose_name)
            url = reverse(
                f"{self.admin_site.name}:cmtracker_auditevent_change", args=[quote(event.pk)]
            )
            protected.append(format_html('{}: <a href="{}">{}</a>', label, url, event))
        return to_delete, counts, perms_needed, protected


@admin.register(Enrollment)
class EnrollmentAdmin(ClinicScopedAdmin, AuditedAdmin):
    """Shown, never edited: an enrollment is started, rescheduled, paused, resumed and ended on
    the patient's enrollment page (patients.enrollment), whose rules decide which test days can
    be marked missed; a form edit here would skip them (a past start, a cleared end date)."""

    clinic_path = "patient__clinic"
    list_display = ["patient", "protocol_id", "start_date", "status"]
    list_filter = ["status"]
    list_select_related = ["patient"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ResultInline(admin.TabularInline):
    model = SpecimenResult
    extra = 0
    can_delete = False

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request, obj=None):
        return False


class CorrectionInline(admin.TabularInline):
    model = Correction
    extra = 0
    can_delete = False
    fields = ["changed_at", "changed_by", "reason", "before", "after"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Specimen)
class SpecimenAdmin(ClinicScopedAdmin, AuditedAdmin, ReadOnlyAdmin):
    clinic_path = "enrollment__patient__clinic"
    audit_patient = "enrollment.patient_id"
    list_display = ["enrollment", "collected_at", "kind", "status", "outcome", "recorded_by"]
    list_filter = ["outcome", "status", "kind"]
    list_select_related = ["enrollment__patient", "recorded_by"]
    inlines = [ResultInline, CorrectionInline]


@admin.register(Attendance)
class AttendanceAdmin(ClinicScopedAdmin, AuditedAdmin, ReadOnlyAdmin):
    clinic_path = "enrollment__patient__clinic"
    audit_patient = "enrollment.patient_id"
    list_display = ["enrollment", "occurred_at", "session_kind", "status", "recorded_by"]
    list_filter = ["status", "session_kind"]
    list_select_related = ["enrollment__patient", "recorded_by"]
    inlines = [CorrectionInline]


@admin.register(SpecimenResult)
class SpecimenResultAdmin(ClinicScopedAdmin, AuditedAdmin, ReadOnlyAdmin):
    clinic_path = "specimen__enrollment__patient__clinic"
    audit_patient = "specimen__enrollment__patient_id"
    list_display = ["specimen", "substance", "result"]
    list_filter = ["substance", "result"]
    list_select_related = ["specimen"]


@admin.register(Correction)
class CorrectionAdmin(ClinicScopedAdmin, AuditedAdmin, ReadOnlyAdmin):
    clinic_path = (
        "specimen__enrollment__patient__clinic",
        "attendance__enrollment__patient__clinic",
    )
    audit_patient = ("specimen__enrollment__patient_id", "attendance__enrollment__patient_id")
    list_display = ["changed_at", "changed_by", "specimen", "attendance", "reason"]
    list_select_related = ["changed_by", "specimen", "attendance"]


# The audit log names each event's patient by id (the core app knows nothing of patients); its
# admin shows the patient as it always has, by name, read in one query per page.
admin.site.unregister(AuditEvent)


@admin.register(AuditEvent)
class AuditEventAdmin(core_admin.AuditEventAdmin):
    list_display = ["at", "actor_label", "action", "object_type", "object_id", "patient", "ip"]
    fields = [
        "at",
        "actor",
        "actor_label",
        "clinic",
        "patient_link",
        "action",
        "object_type",
        "object_id",
        "changes",
        "ip",
        "method",
        "path",
    ]
    readonly_fields = ["patient_link"]

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        _with_patients(changelist.result_list)
        return changelist

    def get_object(self, request, object_id, from_field=None):
        event = super().get_object(request, object_id, from_field)
        return _with_patients([event])[0] if event is not None else None

    @admin.display(description=_("Patient"), ordering="patient_id")
    def patient(self, event):
        return event.patient

    @admin.display(description=_("Patient"))
    def patient_link(self, event):
        if event.patient is None:
            return None
        url = reverse(
            f"{self.admin_site.name}:patients_patient_change", args=[quote(event.patient.pk)]
        )
        return format_html('<a href="{}">{}</a>', url, event.patient)


def _with_patients(events):
    """Each event with its patient (or None) as `event.patient`."""
    events = list(events)
    patients = Patient.objects.in_bulk({e.patient_id for e in events} - {None})
    for event in events:
        event.patient = patients.get(event.patient_id)
    return events


# A patient signs in with an account of the core app; clinic staff read their patients' accounts
# as they read their colleagues'.
admin.site.unregister(User)


@admin.register(User)
class UserAdmin(core_admin.UserAdmin):
    clinic_path = ("memberships__clinic", "patient__clinic")
