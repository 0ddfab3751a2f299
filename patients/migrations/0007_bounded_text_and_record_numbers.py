# A length on a TextField and a validator live in Django, not in the database: these operations
# change only Django's state. Run as AlterField they would make SQLite rebuild each table, which
# drops its triggers (the ledger's append-only guard among them).

import cmtracker.inputs
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("patients", "0006_patient_phone_e164"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="attendance",
                    name="notes",
                    field=models.TextField(blank=True, max_length=1000),
                ),
                migrations.AlterField(
                    model_name="correction",
                    name="reason",
                    field=models.TextField(max_length=500),
                ),
                migrations.AlterField(
                    model_name="patient",
                    name="record_number",
                    field=models.CharField(
                        max_length=40,
                        validators=[cmtracker.inputs.validate_record_number],
                        verbose_name="clinic record number",
                    ),
                ),
                migrations.AlterField(
                    model_name="specimen",
                    name="notes",
                    field=models.TextField(blank=True, max_length=1000),
                ),
            ],
        ),
    ]
