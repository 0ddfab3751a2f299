from django.contrib import admin

from cmtracker.admin import ReadOnlyAdmin
from cmtracker.admin_audit import AuditedAdmin
from cmtracker.admin_scope import ClinicScopedAdmin
from messaging.models import Notification


@admin.register(Notification)
class NotificationAdmin(ClinicScopedAdmin, AuditedAdmin, ReadOnlyAdmin):
    """The outbox, as the senders left it; staff send a failed message again from their
    Notifications page, not from here."""

    list_display = ["created_at", "kind", "channel", "clinic", "patient", "status", "attempts"]
    list_filter = ["status", "kind", "channel", ("clinic", admin.RelatedOnlyFieldListFilter)]
    clinic_path = "clinic"
    list_select_related = ["clinic", "patient"]
    search_fields = ["dedupe_key"]
    date_hierarchy = "created_at"
