from django.contrib import admin, messages
from django.db import models
from django.db.models import OuterRef, Subquery
from django.utils.translation import gettext_lazy as _

from cmtracker.admin import ReadOnlyAdmin
from cmtracker.admin_audit import AuditedAdmin
from cmtracker.admin_scope import ClinicScopedAdmin
from cmtracker.inputs import AsciiIntegerField
from patients import admin as patients_admin
from patients.models import Enrollment, Patient
from vouchers.models import (
    LabImport,
    LedgerEntry,
    Protocol,
    ProtocolPhase,
    Wallet,
)
from vouchers.protocols import protocol_in_use, protocol_new_version

# A protocol's amounts are typed as cents: in the digits 0-9 only, as everywhere money is typed.
ASCII_NUMBERS = {
    models.PositiveIntegerField: {"form_class": AsciiIntegerField},
    models.IntegerField: {"form_class": AsciiIntegerField},
}


class PhaseInline(admin.TabularInline):
    model = ProtocolPhase
    extra = 0
    formfield_overrides = ASCII_NUMBERS

    def has_change_permission(self, request, obj=None):
        return not protocol_in_use(obj)

    has_add_permission = has_change_permission
    has_delete_permission = has_change_permission


# The clinical record names an enrollment's protocol by id; the admin shows it by name, here where
# protocols are known (the same re-registration as patients/admin.py does for the audit log).
class ProtocolNamed:
    """Enrollments listed with their protocol's name and version, in the same query."""

    def get_queryset(self, request):
        protocol = Protocol.objects.filter(pk=OuterRef("protocol_id"))
        return (
            super()
            .get_queryset(request)
            .annotate(
                protocol_label=Subquery(protocol.values("name")[:1]),
                protocol_version=Subquery(protocol.values("version")[:1]),
            )
        )

    @admin.display(description=_("Protocol"), ordering="protocol_label")
    def protocol_name(self, obj) -> str:
        return f"{obj.protocol_label} v{obj.protocol_version}"


class EnrollmentAdmin(ProtocolNamed, patients_admin.EnrollmentAdmin):
    list_display = ["patient", "protocol_name", "start_date", "status"]


class EnrollmentInline(ProtocolNamed, patients_admin.EnrollmentInline):
    fields = ["protocol_name", "start_date", "end_date", "status", "misses_from"]
    readonly_fields = fields


class PatientAdmin(patients_admin.PatientAdmin):
    inlines = [EnrollmentInline]


admin.site.unregister(Enrollment)
admin.site.register(Enrollment, EnrollmentAdmin)
admin.site.unregister(Patient)
admin.site.register(Patient, PatientAdmin)


@admin.register(ProtocolPhase)
class ProtocolPhaseAdmin(ClinicScopedAdmin, admin.ModelAdmin):
    clinic_path = None  # shared by every clinic: read by all, changed by platform operators
    formfield_overrides = ASCII_NUMBERS
    list_display = ["protocol", "first_week", "last_week", "tests_per_week", "start_cents"]
    list_select_related = ["protocol"]

    def has_change_permission(self, request, obj=None):
        in_use = protocol_in_use(obj and obj.protocol)
        return not in_use and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        in_use = protocol_in_use(obj and obj.protocol)
        return not in_use and super().has_delete_permission(request, obj)


@admin.register(Protocol)
class ProtocolAdmin(ClinicScopedAdmin, admin.ModelAdmin):
    """A protocol any enrollment uses is shown read-only: every participant keeps the amounts they
    were promised. "Make a new version" copies it; new enrollments take the new version."""

    clinic_path = None  # shared by every clinic: read by all, changed by platform operators
    list_display = ["slug", "version", "name", "kind", "is_current"]
    list_filter = ["kind", "is_current"]
    inlines = [PhaseInline]
    formfield_overrides = ASCII_NUMBERS
    actions = ["make_new_version"]

    def has_change_permission(self, request, obj=None):
        return not protocol_in_use(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return not protocol_in_use(obj) and super().has_delete_permission(request, obj)

    @admin.action(description="Make a new version (new enrollments take it)")
    def make_new_version(self, request, queryset):
        for protocol in queryset:
            new = protocol_new_version(protocol=protocol)
            self.message_user(request, f"{new} created; edit it before enrolling anyone.")
        if not queryset:
            self.message_user(request, "Nothing selected.", level=messages.WARNING)


@admin.register(Wallet)
class WalletAdmin(ClinicScopedAdmin, AuditedAdmin):
    clinic_path = "patient__clinic"
    list_display = ["patient", "balance_cents", "overpayment_cents", "draws_available"]
    list_select_related = ["patient"]
    readonly_fields = [
        "patient",
        "balance_cents",
        "overpayment_cents",
        "draws_available",
        "draws_under_review",
        "updated_at",
    ]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ClinicScopedAdmin, AuditedAdmin, ReadOnlyAdmin):
    """Read-only: the ledger is append-only, and entries are written by the services."""

    list_display = [
        "created_at",
        "patient",
        "kind",
        "component",
        "amount_cents",
        "overpayment_cents",
        "draws",
        "created_by",
    ]
    clinic_path = "patient__clinic"
    list_filter = ["kind", "component"]
    list_select_related = ["patient", "created_by"]
    search_fields = ["patient__record_number", "patient__last_name"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]


@admin.register(LabImport)
class LabImportAdmin(ClinicScopedAdmin, ReadOnlyAdmin):
    clinic_path = "clinic"
    list_display = ["created_at", "clinic", "status", "rows_done", "rows_total", "created_by"]
    list_filter = ["status"]
    list_select_related = ["clinic", "created_by"]
    exclude = ["text", "token"]  # the lab's file (patient data) and the upload's secret
