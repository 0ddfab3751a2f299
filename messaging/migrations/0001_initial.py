# The outbox, moved here from the core app (cmtracker 0008) with its table, cmtracker_notification:
# this creates the model in Django's state only. Its content type follows it, so the permissions
# given on it and the admin's history of it stay attached.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def content_type_to(app_label: str, from_label: str):
    def move(apps, schema_editor):
        content_type = apps.get_model("contenttypes", "ContentType")
        rows = content_type.objects.using(schema_editor.connection.alias)
        # A database made before the move has the old row; a new one has none yet (Django makes
        # content types after migrating). Never both, unless the migration ran halfway by hand.
        if not rows.filter(app_label=app_label, model="notification").exists():
            rows.filter(app_label=from_label, model="notification").update(app_label=app_label)

    return move


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("cmtracker", "0008_notification_to_messaging"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("patients", "0010_patient_message_style"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Notification",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("kind", models.CharField(choices=[("test_reminder", "Test-day reminder"), ("evening_reminder", "Evening-before reminder"), ("award", "Award notice"), ("reward_ready", "Reward ready for pickup"), ("missed_digest", "Missed-test digest")], max_length=32)),
                        ("channel", models.CharField(choices=[("email", "Email"), ("sms", "SMS")], max_length=8)),
                        ("to", models.CharField(max_length=254)),
                        ("subject", models.CharField(blank=True, max_length=200)),
                        ("body", models.TextField()),
                        ("dedupe_key", models.CharField(max_length=200, unique=True)),
                        ("status", models.CharField(choices=[("pending", "Waiting to send"), ("sending", "Sending"), ("sent", "Sent"), ("failed", "Failed"), ("expired", "Expired unsent"), ("cancelled", "Cancelled")], default="pending", max_length=16)),
                        ("not_before", models.DateTimeField(help_text="Not sent earlier (quiet hours, backoff).")),
                        ("expires_at", models.DateTimeField(blank=True, help_text="Not sent later: a reminder after closing time is noise.", null=True)),
                        ("attempts", models.PositiveSmallIntegerField(default=0)),
                        ("claim_token", models.CharField(blank=True, max_length=32)),
                        ("claimed_at", models.DateTimeField(blank=True, null=True)),
                        ("sent_at", models.DateTimeField(blank=True, null=True)),
                        ("provider_id", models.CharField(blank=True, max_length=100)),
                        ("last_error", models.TextField(blank=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("clinic", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="notifications", to="cmtracker.clinic")),
                        ("patient", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name="notifications", to="patients.patient")),
                        ("user", models.ForeignKey(blank=True, help_text="The staff member a digest is for.", null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="notifications", to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        "db_table": "cmtracker_notification",
                        "ordering": ["-created_at", "-id"],
                        "indexes": [
                            models.Index(fields=["status", "not_before"], name="notification_due"),
                            models.Index(fields=["clinic", "status", "-created_at"], name="notification_by_clinic"),
                        ],
                        "constraints": [
                            models.CheckConstraint(condition=models.Q(models.Q(("status", "sent"), _negated=True), ("sent_at__isnull", False), _connector="OR"), name="notification_sent_has_time"),
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(
            content_type_to("messaging", from_label="cmtracker"),
            content_type_to("cmtracker", from_label="messaging"),
        ),
    ]
