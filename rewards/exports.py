"""The rewards app's tables on the exports page (vouchers/reports/exports.py holds the registry,
docs/reports.md "Exports"): registered from RewardsConfig.ready(), since vouchers imports nothing
of rewards."""

from django.utils.translation import gettext_lazy as _

from rewards.models import CatalogItem, PrizeDraw, Redemption, RedemptionLine, StockMovement
from vouchers.reports.exports import Table, register


def tables_register() -> None:
    register(
        Table(
            slug="redemptions",
            title=_("Redemptions"),
            columns=(
                ("id", "id"),
                ("patient_id", "patient_id"),
                ("status", "status"),
                ("total_cents", "total_cents"),
                ("requested_by", "requested_by__username"),
                ("requested_at", "requested_at"),
                ("decided_by", "decided_by__username"),
                ("decided_at", "decided_at"),
                ("decision_reason", "decision_reason"),
                ("handed_over_by", "handed_over_by__username"),
                ("handed_over_at", "handed_over_at"),
            ),
            rows=lambda clinic: Redemption.objects.filter(patient__clinic=clinic).order_by("id"),
        )
    )
    register(
        Table(
            slug="redemption-lines",
            title=_("Redemption lines"),
            columns=(
                ("id", "id"),
                ("redemption_id", "redemption_id"),
                ("item_id", "item_id"),
                ("item", "item__name"),
                ("quantity", "quantity"),
                ("price_cents", "price_cents"),
            ),
            rows=lambda clinic: RedemptionLine.objects.filter(
                redemption__patient__clinic=clinic
            ).order_by("redemption_id", "id"),
        )
    )
    register(
        Table(
            slug="prize-draws",
            title=_("Prize draws"),
            columns=(
                ("id", "id"),
                ("patient_id", "patient_id"),
                ("enrollment_id", "enrollment_id"),
                ("tier", "tier"),
                ("value_cents", "value_cents"),
                ("capped", "capped"),
                ("drawn_by", "drawn_by__username"),
                ("drawn_at", "drawn_at"),
                ("claimed_item_id", "claimed_item_id"),
                ("claimed_item", "claimed_item__name"),
                ("claimed_by", "claimed_by__username"),
                ("claimed_at", "claimed_at"),
            ),
            rows=lambda clinic: PrizeDraw.objects.filter(patient__clinic=clinic).order_by("id"),
        )
    )
    register(
        Table(
            slug="catalog",
            title=_("Catalog items"),
            columns=(
                ("id", "id"),
                ("name", "name"),
                ("category", "category"),
                ("price_cents", "price_cents"),
                ("stock", "stock"),
                ("low_stock_at", "low_stock_at"),
                ("prize_tier", "prize_tier"),
                ("is_active", "is_active"),
                ("created_at", "created_at"),
            ),
            rows=lambda clinic: CatalogItem.objects.filter(clinic=clinic).order_by("id"),
        )
    )
    register(
        Table(
            slug="stock-movements",
            title=_("Stock movements"),
            columns=(
                ("id", "id"),
                ("item_id", "item_id"),
                ("kind", "kind"),
                ("quantity", "quantity"),
                ("reason", "reason"),
                ("by", "by__username"),
                ("at", "at"),
                ("redemption_id", "redemption_id"),
                ("prize_draw_id", "prize_draw_id"),
            ),
            rows=lambda clinic: StockMovement.objects.filter(item__clinic=clinic).order_by("id"),
        )
    )
