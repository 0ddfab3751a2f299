from django.apps import AppConfig


class VouchersConfig(AppConfig):
    name = "vouchers"

    def ready(self):
        from cmtracker import audit
        from vouchers import models as m

        # (clinic id, patient id) of each record, for the audit log.
        audit.register(m.LedgerEntry, lambda e: (None, e.patient_id))
        audit.register(m.Redemption, lambda r: (None, r.patient_id))
        audit.register(m.RedemptionLine, lambda line: (None, line.redemption.patient_id))
        audit.register(m.PrizeDraw, lambda d: (None, d.patient_id))
        audit.register(m.CatalogItem, lambda item: (item.clinic_id, None))
        audit.register(m.StockMovement, lambda mv: (mv.item.clinic_id, None))
