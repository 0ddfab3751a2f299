from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from cmtracker.models import Clinic, Membership, User


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
    list_display = ["name", "slug", "time_zone"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "clinic", "role"]
    list_filter = ["clinic", "role"]
    list_select_related = ["user", "clinic"]


admin.site.site_header = "cmtracker"
admin.site.site_title = "cmtracker"
