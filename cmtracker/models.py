"""The core: people and clinics. Every clinical record hangs off a Clinic."""

import zoneinfo
from datetime import date, datetime

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _


def validate_time_zone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(_("%(tz)s is not a known time zone."), params={"tz": value}) from None


class User(AbstractUser):
    """A person who signs in: staff (through a Membership) or a patient (through Patient.user)."""

    @cached_property
    def clinic_ids(self) -> list[int]:
        """The clinics this person works at; read once per request (request.user is per request)."""
        return list(self.memberships.values_list("clinic_id", flat=True))

    @property
    def is_staff_member(self) -> bool:
        return bool(self.clinic_ids)


class Clinic(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(unique=True)
    time_zone = models.CharField(
        max_length=64,
        default="America/Los_Angeles",
        validators=[validate_time_zone],
        help_text=_(
            "Days, weeks and the calendar year of every rule are the clinic's, in this zone."
        ),
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)

    def local_date(self, moment: datetime) -> date:
        """The clinic's calendar day of an aware datetime."""
        return moment.astimezone(self.tz).date()


class Membership(models.Model):
    """A staff member's role at one clinic."""

    class Role(models.TextChoices):
        COUNSELOR = "counselor", _("Counselor")
        ADMIN = "admin", _("Clinic administrator")

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "clinic"], name="membership_one_role_per_clinic"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()} · {self.clinic}"
