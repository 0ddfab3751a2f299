from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from cmtracker.admin_audit import AuditedAdmin
from cmtracker.models import AuditEvent, Clinic, Membership, Notification, User


class ReadOnlyAdmin(admin.ModelAdmin):
    """For records written only by the services, which lock, check and keep the history and the
    ledgers: the admin shows them and changes nothing."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    inlines = [MembershipInline]


@admin.register(Clinic)
class ClinicAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "time_zone", "phone_region"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "clinic", "role"]
    list_filter = ["clinic", "role"]
    list_select_related = ["user", "clinic"]


@admin.register(Notification)
class NotificationAdmin(AuditedAdmin, ReadOnlyAdmin):
    """The outbox, as the senders left it; staff send a failed message again from their
    Notifications page, not from here."""

    list_display = ["created_at", "kind", "channel", "clinic", "patient", "status", "attempts"]
    list_filter = ["status", "kind", "channel", "clinic"]
    list_select_related = ["clinic", "patient"]
    search_fields = ["dedupe_key"]
    date_hierarchy = "created_at"


@admin.register(AuditEvent)
class AuditEventAdmin(AuditedAdmin, ReadOnlyAdmin):
    """The audit log: append-only, here as everywhere."""

    list_display = ["at", "actor_label", "action", "object_type", "object_id", "patient", "ip"]
    list_filter = ["action", "object_type", "clinic"]
    list_select_related = ["patient"]
    search_fields = ["actor_label", "object_id", "path"]
    date_hierarchy = "at"


admin.site.site_header = "cmtracker"
admin.site.site_title = "cmtracker"
