from django.apps import AppConfig


class VouchersConfig(AppConfig):
    name = "vouchers"

    def ready(self):
        from cmtracker import audit
        from vouchers import models as m

        # (clinic id, patient id) of each record, for the audit log.
        audit.register(m.LedgerEntry, lambda e: (None, e.patient_id))
