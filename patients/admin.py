from django.contrib import admin

from cmtracker.admin import ReadOnlyAdmin
from cmtracker.admin_audit import AuditedAdmin
from cmtracker.admin_scope import ClinicScopedAdmin
from patients.models import Attendance, Correction, Enrollment, Patient, Specimen, SpecimenResult


class EnrollmentInline(admin.TabularInline):
    model = Enrollment
    extra = 0
    fields = ["protocol", "start_date", "end_date", "status"]
    readonly_fields = ["protocol", "start_date"]
    show_change_link = True


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


@admin.register(Enrollment)
class EnrollmentAdmin(ClinicScopedAdmin, AuditedAdmin):
    clinic_path = "patient__clinic"
    list_display = ["patient", "protocol", "start_date", "status"]
    list_filter = ["status", "protocol"]
    list_select_related = ["patient", "protocol"]
    raw_id_fields = ["patient"]

    def get_readonly_fields(self, request, obj=None):
        # The protocol and start date decide every award; once set they change only through an
        # explicit staff action, never a form edit.
        return ["protocol", "start_date"] if obj else []


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
    list_select_related = ["enrollment__patient", "enrollment__protocol", "recorded_by"]
    inlines = [ResultInline, CorrectionInline]


@admin.register(Attendance)
class AttendanceAdmin(ClinicScopedAdmin, AuditedAdmin, ReadOnlyAdmin):
    clinic_path = "enrollment__patient__clinic"
    audit_patient = "enrollment.patient_id"
    list_display = ["enrollment", "occurred_at", "session_kind", "status", "recorded_by"]
    list_filter = ["status", "session_kind"]
    list_select_related = ["enrollment__patient", "enrollment__protocol", "recorded_by"]
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
