# The outbox moved to the messaging app (messaging 0001 takes the model over). Only Django's state
# changes: the table cmtracker_notification, its rows, indexes and constraint stay as they are.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("cmtracker", "0007_audit_failed_sign_ins"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="Notification")],
            database_operations=[],
        ),
    ]
