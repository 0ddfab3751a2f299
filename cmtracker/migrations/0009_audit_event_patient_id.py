# An audit event keeps its patient's id, not a relation: the core app knows nothing of patients.
# Only Django's state changes. The column patient_id, its index, the audit_by_patient index and the
# database's foreign key stay; run for real, SQLite would rebuild the table and drop the triggers
# that keep the audit log append-only (0003).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("cmtracker", "0008_notification_to_messaging"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(model_name="auditevent", name="audit_by_patient"),
                migrations.RemoveField(model_name="auditevent", name="patient"),
                migrations.AddField(
                    model_name="auditevent",
                    name="patient_id",
                    field=models.BigIntegerField(db_index=True, null=True),
                ),
                migrations.AddIndex(
                    model_name="auditevent",
                    index=models.Index(fields=["patient_id", "-at"], name="audit_by_patient"),
                ),
            ],
            database_operations=[],
        ),
    ]
