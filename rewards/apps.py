from django.apps import AppConfig


class RewardsConfig(AppConfig):
    name = "rewards"

    def ready(self):
        from cmtracker import audit
        from rewards import models as m
        from rewards import reports, selectors
        from vouchers import extensions

        # (clinic id, patient id) of each record, for the audit log.
        audit.register(m.Redemption, lambda r: (None, r.patient_id))
        audit.register(m.RedemptionLine, lambda line: (None, line.redemption.patient_id))
        audit.register(m.PrizeDraw, lambda d: (None, d.patient_id))
        audit.register(m.CatalogItem, lambda item: (item.clinic_id, None))
        audit.register(m.StockMovement, lambda mv: (mv.item.clinic_id, None))

        # The rewards facts vouchers' own pages show (vouchers.extensions says which and why).
        extensions.register("prizes_won_cents", selectors.prizes_this_year_cents)
        extensions.register("cap_room", selectors.prize_cap_room)
        extensions.register("prize_draws", selectors.prize_draws_newest_first)
        extensions.register("points_held_cents", selectors.points_held_cents)
        extensions.register("low_stock", selectors.low_stock_items)
        extensions.register("rewards_given", reports.rewards_given)
