from django.core.management.base import BaseCommand, CommandError

from vouchers.selectors import ledger_verify


class Command(BaseCommand):
    help = "Check that every patient's wallet equals the sum of their ledger entries."

    def handle(self, *args, **options):
        drift = ledger_verify()
        for d in drift:
            self.stderr.write(
                f"patient {d.patient_id}: {d.field} is {d.wallet} in the wallet, "
                f"{d.ledger} in the ledger"
            )
        if drift:
            raise CommandError(f"{len(drift)} wallet totals differ from the ledger")
        self.stdout.write("Every wallet equals its ledger.")
