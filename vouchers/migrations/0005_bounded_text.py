# A length on a TextField and a validator live in Django, not in the database: these operations
# change only Django's state. Run as AlterField they would make SQLite rebuild each table, which
# drops its triggers (the ledger's append-only guard among them).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("vouchers", "0004_catalog_redemptions_prizes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="catalogitem",
                    name="description",
                    field=models.TextField(blank=True, max_length=1000),
                ),
                migrations.AlterField(
                    model_name="ledgerentry",
                    name="reason",
                    field=models.TextField(blank=True, max_length=500),
                ),
                migrations.AlterField(
                    model_name="protocol",
                    name="description",
                    field=models.TextField(blank=True, max_length=4000),
                ),
                migrations.AlterField(
                    model_name="redemption",
                    name="decision_reason",
                    field=models.TextField(blank=True, max_length=500),
                ),
                migrations.AlterField(
                    model_name="stockmovement",
                    name="reason",
                    field=models.TextField(blank=True, max_length=500),
                ),
            ],
        ),
    ]
