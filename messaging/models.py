"""The outbox's one table. It came from the core app with its name (cmtracker_notification), so a
database made before the move keeps its rows, indexes and constraint."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from cmtracker.models import Clinic
from patients.models import Patient


class Notification(models.Model):
    """The outbox: one message to one address, written in the same transaction as its cause.

    A send claims the row with a conditional UPDATE (status pending -> sending), so two workers
    never send one message; the dedupe key makes queueing the same message twice a no-op.
    """

    class Channel(models.TextChoices):
        EMAIL = "email", _("Email")
        SMS = "sms", _("SMS")

    class Kind(models.TextChoices):
        TEST_REMINDER = "test_reminder", _("Test-day reminder")
        EVENING_REMINDER = "evening_reminder", _("Evening-before reminder")
        AWARD = "award", _("Award notice")
        REWARD_READY = "reward_ready", _("Reward ready for pickup")
        MISSED_DIGEST = "missed_digest", _("Missed-test digest")

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting to send")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        EXPIRED = "expired", _("Expired unsent")
        CANCELLED = "cancelled", _("Cancelled")

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="notifications")
    patient = models.ForeignKey(
        Patient,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="notifications",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="notifications",
        help_text=_("The staff member a digest is for."),
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    to = models.CharField(max_length=254)
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField()
    dedupe_key = models.CharField(max_length=200, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    not_before = models.DateTimeField(help_text=_("Not sent earlier (quiet hours, backoff)."))
    expires_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=_("Not sent later: a reminder after closing time is noise."),
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    claim_token = models.CharField(max_length=32, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    provider_id = models.CharField(max_length=100, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # The table kept its name when the outbox moved out of the core app.
        db_table = "cmtracker_notification"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "not_before"], name="notification_due"),
            models.Index(fields=["clinic", "status", "-created_at"], name="notification_by_clinic"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="sent") | Q(sent_at__isnull=False),
                name="notification_sent_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.to} ({self.get_status_display()})"
