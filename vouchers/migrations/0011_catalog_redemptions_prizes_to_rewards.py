"""The catalog, the stock ledger, redemptions and prize draws move to the rewards app.

State only: no table is created, dropped, renamed or rebuilt (on SQLite a rebuild would drop the
append-only triggers of the ledger and the stock ledger). rewards' 0001_initial takes the five
models into its state with their tables (`db_table = "vouchers_..."`).

The ledger's `redemption` and `prize_draw` become plain ids, `redemption_id` and `prize_draw_id`:
vouchers points at no rewards model. The columns are the very ones the foreign keys used, so in
the database their indexes and their foreign-key constraints stay as they were.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("vouchers", "0010_idempotency_keys_per_clinic"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.RemoveField(model_name="ledgerentry", name="redemption"),
                migrations.RemoveField(model_name="ledgerentry", name="prize_draw"),
                migrations.AddField(
                    model_name="ledgerentry",
                    name="redemption_id",
                    field=models.BigIntegerField(blank=True, db_index=True, null=True),
                ),
                migrations.AddField(
                    model_name="ledgerentry",
                    name="prize_draw_id",
                    field=models.BigIntegerField(blank=True, db_index=True, null=True),
                ),
                # Those that point at others first.
                migrations.DeleteModel(name="StockMovement"),
                migrations.DeleteModel(name="RedemptionLine"),
                migrations.DeleteModel(name="PrizeDraw"),
                migrations.DeleteModel(name="Redemption"),
                migrations.DeleteModel(name="CatalogItem"),
            ],
        ),
    ]
