"""The core: people and clinics. Every clinical record hangs off a Clinic."""

import zoneinfo
from datetime import date, datetime, time

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _
from knox.models import AbstractAuthToken

from cmtracker.phones import DEFAULT_REGION, validate_phone_region


def validate_time_zone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(_("%(tz)s is not a known time zone."), params={"tz": value}) from None


WEEKDAYS = [
    (0, _("Monday")),
    (1, _("Tuesday")),
    (2, _("Wednesday")),
    (3, _("Thursday")),
    (4, _("Friday")),
    (5, _("Saturday")),
    (6, _("Sunday")),
]


def validate_weekdays(value) -> None:
    """A list of distinct weekday numbers, Monday 0 to Sunday 6."""
    if not isinstance(value, list) or any(
        not isinstance(d, int) or isinstance(d, bool) or not 0 <= d <= 6 for d in value
    ):
        raise ValidationError(_("Choose weekdays from Monday to Sunday."))
    if len(set(value)) != len(value):
        raise ValidationError(_("Each weekday can be chosen once."))


def default_test_weekdays() -> list[int]:
    return [0, 2, 4]  # Monday, Wednesday, Friday: the thrice-weekly rhythm of the trials


class User(AbstractUser):
    """A person who signs in: staff (through a Membership) or a patient (through Patient.user)."""

    @cached_property
    def clinic_roles(self) -> list[tuple[int, str]]:
        """(clinic id, role) of each membership; read once per request (request.user is per
        request)."""
        return list(self.memberships.values_list("clinic_id", "role"))

    @property
    def clinic_ids(self) -> list[int]:
        """The clinics this person works at with patients: as a counselor or an administrator.
        A supervisor's clinics are not among them (they read reports only)."""
        return [clinic for clinic, role in self.clinic_roles if role in Membership.CARE_ROLES]

    @property
    def report_clinic_ids(self) -> list[int]:
        """The clinics whose reports this person reads: as an administrator or a supervisor."""
        return [clinic for clinic, role in self.clinic_roles if role in Membership.REPORT_ROLES]

    @property
    def is_staff_member(self) -> bool:
        """Any membership, a supervisor's included: staff sign in with a second factor."""
        return bool(self.clinic_roles)


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

    test_weekdays = models.JSONField(
        _("test weekdays"),
        default=default_test_weekdays,
        validators=[validate_weekdays],
        help_text=_("The days the clinic collects specimens; each enrollment may choose others."),
    )
    closes_at = models.TimeField(
        _("closing time"),
        default=time(17, 0),
        help_text=_("After this a scheduled test with no result is marked missed."),
    )
    phone_region = models.CharField(
        _("phone numbers' country"),
        max_length=2,
        default=DEFAULT_REGION,
        validators=[validate_phone_region],
        help_text=_(
            "Two-letter country code (US, MX, CA...): a patient's number typed without +country "
            "code is read as dialled in this country."
        ),
    )
    quiet_hours_start = models.TimeField(
        default=time(21, 0), help_text=_("No reminders or notices are sent from this time...")
    )
    quiet_hours_end = models.TimeField(default=time(8, 0), help_text=_("...until this time."))
    evening_reminder_at = models.TimeField(
        _("evening-before reminder time"),
        default=time(18, 0),
        help_text=_("When patients who asked for it hear about tomorrow's test."),
    )
    discreet_messages = models.BooleanField(
        _("discreet messages"),
        default=True,
        help_text=_(
            "Texts and emails leave out the clinic's name, the test and amounts (\"Reminder for "
            'today (before 5 p.m.)."), so a lock screen shows nothing of treatment; for every '
            "patient who leaves the wording to the clinic."
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


def key_clinic_field() -> models.ForeignKey:
    """The clinic an idempotency key was sent at. A client's key is unique together with it, so a
    key used at another clinic is a new key there (no existence oracle across clinics)."""
    return models.ForeignKey(
        Clinic,
        null=True,
        blank=True,
        editable=False,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("The clinic the idempotency key was sent at: keys are unique per clinic."),
    )


def key_constraints(prefix: str) -> list[models.BaseConstraint]:
    """The database's side of key_clinic_field: a key is unique within its clinic, and a key and
    its clinic are set together."""
    return [
        models.UniqueConstraint(
            fields=["key_clinic", "idempotency_key"], name=f"{prefix}_key_unique_per_clinic"
        ),
        models.CheckConstraint(
            condition=models.Q(idempotency_key__isnull=True, key_clinic__isnull=True)
            | models.Q(idempotency_key__isnull=False, key_clinic__isnull=False),
            name=f"{prefix}_key_has_its_clinic",
        ),
    ]


class Membership(models.Model):
    """A staff member's role at one clinic."""

    class Role(models.TextChoices):
        COUNSELOR = "counselor", _("Counselor")
        ADMIN = "admin", _("Clinic administrator")
        SUPERVISOR = "supervisor", _("Supervisor (reads reports)")

    CARE_ROLES = (Role.COUNSELOR, Role.ADMIN)  # see and record the clinic's patients
    REPORT_ROLES = (Role.ADMIN, Role.SUPERVISOR)  # read the clinic's reports

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


class AuditEvent(models.Model):
    """Who read or changed which record, when and from where: an accounting of disclosures.

    Append-only: the database refuses UPDATE and DELETE (migration 0003), the model refuses to
    save twice or delete, and the admin shows it read-only. Accounts are deactivated, never
    deleted, so `actor` is PROTECT.
    """

    class Action(models.TextChoices):
        READ = "read", _("Read")
        CREATE = "create", _("Created")
        CHANGE = "change", _("Changed")
        DELETE = "delete", _("Deleted")
        EXPORT = "export", _("Exported")
        FAILED = "failed", _("Failed")  # a sign-in or a second-factor code refused

    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    actor_label = models.CharField(
        max_length=150, help_text=_("The username then, or 'system' for a scheduled task.")
    )
    clinic = models.ForeignKey(Clinic, null=True, on_delete=models.PROTECT, related_name="+")
    # The patient's id, not a relation: the core app knows nothing of patients. The column, its
    # index and the database's foreign key are those of the relation it was (migration 0009).
    patient_id = models.BigIntegerField(null=True, db_index=True)
    action = models.CharField(max_length=8, choices=Action.choices)
    object_type = models.CharField(max_length=50)
    object_id = models.CharField(max_length=40, blank=True)
    changes = models.JSONField(
        default=dict, blank=True, help_text=_("For a change: each field's old and new value.")
    )
    ip = models.GenericIPAddressField(null=True, blank=True)
    method = models.CharField(max_length=8, blank=True)
    path = models.CharField(max_length=400, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["patient_id", "-at"], name="audit_by_patient"),
            models.Index(fields=["clinic", "-at"], name="audit_by_clinic"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.object_type}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("audit events are append-only")


class ApiToken(AbstractAuthToken):
    """An API key (django-rest-knox keeps only its hash). It ends like a web session: after the
    role's idle limit without use, and SESSION_ABSOLUTE_SECONDS after signing in; `expiry` is the
    nearer of the two and moves forward with each use (cmtracker/api_tokens.py)."""

    last_used = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.token_key}… ({self.user})"
