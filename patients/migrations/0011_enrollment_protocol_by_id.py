"""The enrollment names its protocol by id: the clinical record no longer depends on the vouchers
app in Django's model state. Nothing changes in the database: the column, its index and its
foreign key constraint stay exactly as migration 0001 made them."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("patients", "0010_patient_message_style"),
        # After every migration that reads the old relation (vouchers 0007 asks a preset whether
        # an enrollment uses it).
        ("vouchers", "0011_catalog_redemptions_prizes_to_rewards"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(model_name="enrollment", name="protocol"),
                migrations.AddField(
                    model_name="enrollment",
                    name="protocol_id",
                    field=models.BigIntegerField(db_index=True),
                    preserve_default=False,
                ),
            ],
            database_operations=[],
        ),
    ]
