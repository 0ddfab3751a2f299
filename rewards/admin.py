"""The admin of the catalog, the stock ledger, redemptions and prize draws: read-only, scoped to
the administrator's clinics; the rewards services are the only writers."""

from django.contrib import admin

from cmtracker.admin import ReadOnlyAdmin
from cmtracker.admin_audit import AuditedAdmin
from cmtracker.admin_scope import ClinicScopedAdmin
from rewards.models import CatalogItem, PrizeDraw, Redemption, RedemptionLine, StockMovement


@admin.register(CatalogItem)
class CatalogItemAdmin(ClinicScopedAdmin, ReadOnlyAdmin):
    clinic_path = "clinic"
    list_display = ["name", "clinic", "category", "price_cents", "stock", "prize_tier", "is_active"]
    list_filter = [
        ("clinic", admin.RelatedOnlyFieldListFilter),
        "category",
        "prize_tier",
        "is_active",
    ]
    list_select_related = ["clinic"]


@admin.register(StockMovement)
class StockMovementAdmin(ClinicScopedAdmin, AuditedAdmin, ReadOnlyAdmin):
    clinic_path = "item__clinic"
    audit_patient = ("redemption__patient_id", "prize_draw__patient_id")
    audit_list = False  # the list names items; a movement's form names its redemption's patient
    list_display = ["at", "item", "kind", "quantity", "by", "reason"]
    list_filter = ["kind"]
    list_select_related = ["item", "by"]


class RedemptionLineInline(admin.TabularInline):
    model = RedemptionLine
    extra = 0
    can_delete = False
    readonly_fields = ["item", "quantity", "price_cents"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Redemption)
class RedemptionAdmin(ClinicScopedAdmin, AuditedAdmin, ReadOnlyAdmin):
    clinic_path = "patient__clinic"
    list_display = ["requested_at", "patient", "status", "total_cents", "requested_by"]
    list_filter = ["status"]
    list_select_related = ["patient", "requested_by"]
    inlines = [RedemptionLineInline]


@admin.register(RedemptionLine)
class RedemptionLineAdmin(ClinicScopedAdmin, AuditedAdmin, ReadOnlyAdmin):
    clinic_path = "redemption__patient__clinic"
    audit_patient = "redemption__patient_id"
    list_display = ["redemption", "item", "quantity", "price_cents"]
    list_select_related = ["redemption__patient", "item"]


@admin.register(PrizeDraw)
class PrizeDrawAdmin(ClinicScopedAdmin, AuditedAdmin, ReadOnlyAdmin):
    clinic_path = "patient__clinic"
    list_display = ["drawn_at", "patient", "tier", "value_cents", "claimed_item", "drawn_by"]
    list_filter = ["tier"]
    list_select_related = ["patient", "claimed_item", "drawn_by"]
