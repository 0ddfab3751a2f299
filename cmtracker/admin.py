from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from cmtracker.admin_audit import AuditedAdmin
from cmtracker.admin_scope import (
    ClinicScopedAdmin,
    ClinicScopedInline,
    PlatformOnlyAdmin,
    operators_only,
)
from cmtracker.models import ApiToken, AuditEvent, Clinic, Membership, User


class ReadOnlyAdmin(admin.ModelAdmin):
    """For records written only by the services, which lock, check and keep the history and the
    ledgers: the admin shows them and changes nothing."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MembershipInline(ClinicScopedInline, admin.TabularInline):
    model = Membership
    clinic_path = "clinic"
    extra = 0


@admin.register(User)
class UserAdmin(ClinicScopedAdmin, BaseUserAdmin):
    # Clinic staff read their colleagues' accounts (and their patients': patients/admin.py); only
    # platform operators set passwords, groups, permissions and the superuser flag.
    clinic_path = "memberships__clinic"
    operators_change = True
    inlines = [MembershipInline]


@admin.register(Clinic)
class ClinicAdmin(ClinicScopedAdmin, admin.ModelAdmin):
    clinic_path = "pk"
    list_display = ["name", "slug", "time_zone", "phone_region"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Membership)
class MembershipAdmin(ClinicScopedAdmin, admin.ModelAdmin):
    clinic_path = "clinic"
    list_display = ["user", "clinic", "role"]
    list_filter = [("clinic", admin.RelatedOnlyFieldListFilter), "role"]
    list_select_related = ["user", "clinic"]


@admin.register(AuditEvent)
class AuditEventAdmin(ClinicScopedAdmin, AuditedAdmin, ReadOnlyAdmin):
    """The audit log: append-only, here as everywhere."""

    list_display = ["at", "actor_label", "action", "object_type", "object_id", "patient_id", "ip"]
    list_filter = ["action", "object_type", ("clinic", admin.RelatedOnlyFieldListFilter)]
    clinic_path = "clinic"
    search_fields = ["actor_label", "object_id", "path"]
    date_hierarchy = "at"


@admin.register(ApiToken)
class ApiTokenAdmin(PlatformOnlyAdmin, ReadOnlyAdmin):
    """API keys are made by signing in and revoked on the Account page; operators can see which
    are live (never a key: only its first characters and a hash are stored)."""

    list_display = ["token_key", "user", "created", "last_used", "expiry"]
    fields = ["token_key", "user", "created", "last_used", "expiry"]
    readonly_fields = fields
    search_fields = ["token_key", "user__username"]
    date_hierarchy = "created"


# What other apps put in the admin is the platform operators' business: accounts' groups, API
# tokens, authenticator devices, sign-in lockouts and the beat schedule.
operators_only(
    Group,
    TOTPDevice,
    StaticDevice,
    AccessAttempt,
    AccessLog,
    AccessFailureLog,
    PeriodicTask,
    ClockedSchedule,
    CrontabSchedule,
    SolarSchedule,
    IntervalSchedule,
)

admin.site.site_header = "cmtracker"
admin.site.site_title = "cmtracker"
