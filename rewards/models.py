"""Spending: the reward catalog and its stock ledger, redemptions, and the prize cabinet's draws.

These models began in the vouchers app and kept their tables (`db_table`), so the append-only
triggers on the stock ledger and every row stayed where they were. vouchers' ledger names a
redemption or a draw by a plain id: rewards points at vouchers, never the other way round.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from cmtracker.inputs import DESCRIPTION_MAX_LENGTH, REASON_MAX_LENGTH
from cmtracker.models import Clinic, key_clinic_field, key_constraints
from patients.models import Enrollment, Patient
from vouchers.models import AppendOnlyQuerySet, PrizeTier


class CatalogItem(models.Model):
    """Something a patient can spend points on (or, with a prize tier, win from the bowl)."""

    class Category(models.TextChoices):
        GROCERIES = "groceries", _("Groceries")
        TRANSPORT = "transport", _("Transport")
        PHONE = "phone", _("Phone minutes")
        CLOTHING = "clothing", _("Clothing")
        HYGIENE = "hygiene", _("Personal care")
        HOUSEHOLD = "household", _("Household")
        OTHER = "other", _("Other")

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="catalog")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=DESCRIPTION_MAX_LENGTH)
    category = models.CharField(max_length=16, choices=Category.choices, default=Category.OTHER)
    price_cents = models.PositiveIntegerField(
        help_text=_("What it costs in points (1 point = 1 cent), and what it is worth.")
    )
    image = models.ImageField(upload_to="catalog/", blank=True)
    stock = models.IntegerField(
        null=True, blank=True, help_text=_("How many are in the cabinet; empty for unlimited.")
    )
    low_stock_at = models.PositiveIntegerField(
        default=3, help_text=_("Warn administrators when stock falls to this number.")
    )
    prize_tier = models.CharField(max_length=8, choices=PrizeTier.choices, blank=True)
    is_active = models.BooleanField(default=True, help_text=_("Retired items are not offered."))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "vouchers_catalogitem"  # made by vouchers; the table kept its name
        ordering = ["category", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(stock__isnull=True) | Q(stock__gte=0), name="catalog_stock_gte_0"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class StockMovement(models.Model):
    """The stock ledger of one item: append-only, so stock equals the sum of its movements."""

    class Kind(models.TextChoices):
        RECEIVED = "received", _("Received")
        ISSUED = "issued", _("Issued")
        RETURNED = "returned", _("Returned")
        ADJUSTED = "adjusted", _("Adjusted")

    item = models.ForeignKey(CatalogItem, on_delete=models.PROTECT, related_name="movements")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    quantity = models.IntegerField(help_text=_("Positive into the cabinet, negative out of it."))
    reason = models.TextField(blank=True, max_length=REASON_MAX_LENGTH)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True)
    redemption = models.ForeignKey(
        "Redemption", null=True, blank=True, on_delete=models.PROTECT, related_name="movements"
    )
    prize_draw = models.ForeignKey(
        "PrizeDraw", null=True, blank=True, on_delete=models.PROTECT, related_name="movements"
    )

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        db_table = "vouchers_stockmovement"  # made by vouchers; the table kept its name
        ordering = ["at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind="adjusted") | ~Q(reason=""),
                name="stock_adjustment_needs_a_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.quantity:+d} {self.item}"


class Redemption(models.Model):
    """A request to spend points on catalog items. Points are held (debited) at request."""

    class Status(models.TextChoices):
        REQUESTED = "requested", _("Requested")
        APPROVED = "approved", _("Approved")
        DECLINED = "declined", _("Declined")
        CANCELLED = "cancelled", _("Cancelled")
        HANDED_OVER = "handed_over", _("Handed over")

    OPEN = (Status.REQUESTED, Status.APPROVED)

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="redemptions")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.REQUESTED)
    total_cents = models.PositiveIntegerField()
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True, max_length=REASON_MAX_LENGTH)
    handed_over_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    handed_over_at = models.DateTimeField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001 (NULL: no key)
    key_clinic = key_clinic_field()

    class Meta:
        db_table = "vouchers_redemption"  # made by vouchers; the table kept its name
        ordering = ["-requested_at", "-id"]
        constraints = [
            *key_constraints("redemption"),
        ]

    def __str__(self) -> str:
        return f"{self.patient} · {self.get_status_display()} · {self.total_cents}¢"


class RedemptionLine(models.Model):
    redemption = models.ForeignKey(Redemption, on_delete=models.CASCADE, related_name="lines")
    item = models.ForeignKey(CatalogItem, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField(default=1)
    price_cents = models.PositiveIntegerField(help_text=_("The item's price when requested."))

    class Meta:
        db_table = "vouchers_redemptionline"  # made by vouchers; the table kept its name
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1), name="redemption_line_quantity")
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.item}"


class PrizeDraw(models.Model):
    """One slip drawn from the bowl (CSPRNG), stored once and never re-rolled."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="prize_draws")
    enrollment = models.ForeignKey(Enrollment, on_delete=models.PROTECT, related_name="prize_draws")
    tier = models.CharField(max_length=32, help_text=_("The bowl tier drawn, e.g. good job."))
    value_cents = models.PositiveIntegerField(default=0)
    capped = models.BooleanField(
        default=False, help_text=_("A higher tier was drawn but the cap left room only for this.")
    )
    drawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    drawn_at = models.DateTimeField(auto_now_add=True)
    claimed_item = models.ForeignKey(
        CatalogItem, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001 (NULL: no key)
    key_clinic = key_clinic_field()

    class Meta:
        db_table = "vouchers_prizedraw"  # made by vouchers; the table kept its name
        ordering = ["drawn_at", "id"]
        constraints = [
            *key_constraints("prize_draw"),
        ]

    def __str__(self) -> str:
        return f"{self.patient}: {self.tier}"
