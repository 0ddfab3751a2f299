"""The clinical record: who is in treatment, what was collected, who came to a session.

Nothing here knows about vouchers. An Enrollment names its protocol by id only (vouchers attaches
the Protocol when it reads one), and the outcome of a specimen is decided by the vouchers app's
engine, which knows the protocol.
"""

from datetime import date, time, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from cmtracker.inputs import (
    NOTE_MAX_LENGTH,
    REASON_MAX_LENGTH,
    RECORD_NUMBER_MAX_LENGTH,
    validate_record_number,
)
from cmtracker.models import Clinic, key_clinic_field, key_constraints, validate_weekdays


class Substance(models.TextChoices):
    """Substances a panel can report. Slugs are the API's and the CSV import's words."""

    COCAINE = "cocaine", _("Cocaine")
    AMPHETAMINE = "amphetamine", _("Amphetamine")
    METHAMPHETAMINE = "methamphetamine", _("Methamphetamine")
    MDMA = "mdma", _("MDMA")
    OPIATES = "opiates", _("Opiates")
    OXYCODONE = "oxycodone", _("Oxycodone")
    FENTANYL = "fentanyl", _("Fentanyl")
    BUPRENORPHINE = "buprenorphine", _("Buprenorphine")
    METHADONE = "methadone", _("Methadone")
    BENZODIAZEPINES = "benzodiazepines", _("Benzodiazepines")
    BARBITURATES = "barbiturates", _("Barbiturates")
    CANNABIS = "cannabis", _("Cannabis (THC)")
    PCP = "pcp", _("Phencyclidine (PCP)")
    ALCOHOL = "alcohol", _("Alcohol")


class Patient(models.Model):
    class Language(models.TextChoices):
        ENGLISH = "en", "English"
        SPANISH = "es", "Español"

    class MessageStyle(models.TextChoices):
        CLINIC = "clinic", _("As the clinic chooses")
        DISCREET = "discreet", _("Discreet: no clinic name, test or amount")
        DETAILED = "detailed", _("Detailed: the clinic's name, the test and what it earns")

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="patients")
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="patient",
        help_text=_("The patient's own sign-in, when staff have created one."),
    )
    record_number = models.CharField(
        _("clinic record number"),
        max_length=RECORD_NUMBER_MAX_LENGTH,
        validators=[validate_record_number],
    )
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    primary_counselor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="caseload",
    )
    phone = models.CharField(
        max_length=32,
        blank=True,
        db_index=True,  # the STOP webhook finds patients by number
        help_text=_("With its country code, or as dialled in the clinic's country."),
    )
    email = models.EmailField(blank=True)
    preferred_language = models.CharField(
        max_length=2, choices=Language.choices, default=Language.ENGLISH
    )
    reminder_consent_sms = models.BooleanField(_("consents to SMS reminders"), default=False)
    reminder_consent_email = models.BooleanField(_("consents to email reminders"), default=False)
    reminder_time = models.TimeField(
        _("reminder time"),
        default=time(9, 0),
        help_text=_("On a test or session day, the reminder comes at this time (clinic time)."),
    )
    reminder_evening_before = models.BooleanField(
        _("also remind me the evening before"), default=False
    )
    message_style = models.CharField(
        _("wording of texts and emails"),
        max_length=16,
        choices=MessageStyle.choices,
        default=MessageStyle.CLINIC,
        help_text=_(
            "Discreet messages show nothing of treatment on a lock screen; detailed ones name "
            "the clinic, the test and what it earns."
        ),
    )
    sms_opted_out_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=_("When the patient replied STOP; no SMS is sent until they opt in again."),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["last_name", "first_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "record_number"], name="patient_record_number_unique_per_clinic"
            )
        ]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name} ({self.record_number})"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def discreet_messages(self) -> bool:
        """Whether texts and emails to this patient leave out the clinic, the test and amounts:
        the patient's own choice, else the clinic's."""
        if self.message_style == self.MessageStyle.CLINIC:
            return self.clinic.discreet_messages
        return self.message_style == self.MessageStyle.DISCREET


class Enrollment(models.Model):
    """One episode of CM for a patient under one protocol version."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        PAUSED = "paused", _("Paused")
        COMPLETED = "completed", _("Completed")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    OPEN_STATUSES = (Status.ACTIVE, Status.PAUSED)

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="enrollments")
    # The protocol version (a vouchers.Protocol) by its id: the clinical record does not depend on
    # the earning app. The database still holds the foreign key made by migration 0001, so an id
    # that names no protocol, or deleting a protocol in use, is refused there.
    protocol_id = models.BigIntegerField(db_index=True)
    start_date = models.DateField(help_text=_("Week 1 of the protocol starts on this day."))
    end_date = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    test_weekdays = models.JSONField(
        _("test weekdays"),
        null=True,
        blank=True,
        validators=[validate_weekdays],
        help_text=_("Empty: the clinic's test days."),
    )
    session_weekdays = models.JSONField(
        _("therapy session weekdays"),
        default=list,
        blank=True,
        validators=[validate_weekdays],
        help_text=_("Days of a standing therapy session, for reminders."),
    )
    misses_from = models.DateField(
        null=True,
        blank=True,
        help_text=_(
            "No test day before this one is marked missed: set the day after the enrollment is "
            "made, resumed or its test days change, so nobody misses a day that was not theirs."
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-start_date", "-id"]
        constraints = [
            # One open (active or paused) enrollment per patient, held by the database.
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(status__in=["active", "paused"]),
                name="enrollment_one_open_per_patient",
            ),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=models.F("start_date")),
                name="enrollment_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        protocol = getattr(self, "_protocol", None) or f"protocol {self.protocol_id}"
        return f"{self.patient} · {protocol} from {self.start_date}"

    @property
    def protocol(self):
        """The protocol version, once the earning app attached it (vouchers.models.
        protocols_attach, or the `protocol=` given when the enrollment was made)."""
        try:
            return self._protocol
        except AttributeError:
            raise LookupError(
                f"enrollment {self.pk}: attach its protocol first (vouchers.models)"
            ) from None

    @protocol.setter
    def protocol(self, protocol) -> None:
        self._protocol = protocol
        self.protocol_id = protocol.pk

    def misses_start_after(self, day: date) -> None:
        """Test days up to `day` (the clinic's today) are never marked missed from now on."""
        self.misses_from = max(self.misses_from or day, day + timedelta(days=1))

    @property
    def first_markable_day(self) -> date:
        """The first test day that can count as missed (the beat's marks, Today's "Not tested")."""
        return self.misses_from or self.start_date

    @property
    def weekdays(self) -> list[int]:
        """The weekdays this enrollment is tested on: its own choice, else the clinic's."""
        return self.test_weekdays or self.patient.clinic.test_weekdays


class Specimen(models.Model):
    """A drug test: collected (with results per substance), refused, adulterated, dilute, missed
    or excused. `outcome` is the engine's letter, derived from the status and the results against
    the protocol's target substances when recorded or corrected."""

    class Kind(models.TextChoices):
        URINE = "urine", _("Urine")
        SALIVA = "saliva", _("Saliva")
        BREATH = "breath", _("Breath")

    class Status(models.TextChoices):
        TESTED = "tested", _("Tested")
        REFUSED = "refused", _("Refused")
        ADULTERATED = "adulterated", _("Adulterated")
        DILUTE = "dilute", _("Dilute")
        MISSED = "missed", _("Missed")
        EXCUSED = "excused", _("Excused")

    class Outcome(models.TextChoices):
        NEGATIVE = "N", _("Negative")
        POSITIVE = "P", _("Positive")
        MISSED = "M", _("Missed")
        REFUSED = "R", _("Refused")
        ADULTERATED = "A", _("Adulterated")
        DILUTE = "D", _("Dilute")
        EXCUSED = "E", _("Excused")

    enrollment = models.ForeignKey(Enrollment, on_delete=models.PROTECT, related_name="specimens")
    collected_at = models.DateTimeField()
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.URINE)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.TESTED)
    outcome = models.CharField(max_length=1, choices=Outcome.choices)
    secondary_negative = models.BooleanField(
        default=False, help_text=_("Every secondary substance of the protocol was negative.")
    )
    notes = models.TextField(blank=True, max_length=NOTE_MAX_LENGTH)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)
    idempotency_key = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001 (NULL: no key)
    key_clinic = key_clinic_field()
    missed_day = models.DateField(
        null=True,
        blank=True,
        editable=False,
        help_text=_(
            "Set by the missed-test beat only: the test day this mark is for (never a client's "
            "key), so a rerun never marks the day twice."
        ),
    )

    class Meta:
        ordering = ["collected_at", "id"]
        indexes = [models.Index(fields=["enrollment", "collected_at"])]
        constraints = [
            *key_constraints("specimen"),
            models.UniqueConstraint(
                fields=["enrollment", "missed_day"], name="specimen_one_missed_mark_a_day"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.collected_at:%Y-%m-%d %H:%M} {self.outcome}"


class SpecimenResult(models.Model):
    class Result(models.TextChoices):
        NEGATIVE = "negative", _("Negative")
        POSITIVE = "positive", _("Positive")

    specimen = models.ForeignKey(Specimen, on_delete=models.CASCADE, related_name="results")
    substance = models.CharField(max_length=32, choices=Substance.choices)
    result = models.CharField(max_length=16, choices=Result.choices)

    class Meta:
        ordering = ["substance"]
        constraints = [
            models.UniqueConstraint(
                fields=["specimen", "substance"], name="specimen_one_result_per_substance"
            )
        ]

    def __str__(self) -> str:
        return f"{self.substance}: {self.result}"


class Attendance(models.Model):
    class SessionKind(models.TextChoices):
        CBT = "cbt", _("Cognitive behavioural therapy")
        MI = "mi", _("Motivational interviewing")
        GROUP = "group", _("Group")
        INDIVIDUAL = "individual", _("Individual counseling")
        OTHER = "other", _("Other")

    class Status(models.TextChoices):
        ATTENDED = "attended", _("Attended")
        MISSED = "missed", _("Missed")
        EXCUSED = "excused", _("Excused")

    enrollment = models.ForeignKey(Enrollment, on_delete=models.PROTECT, related_name="attendance")
    session_kind = models.CharField(max_length=16, choices=SessionKind.choices)
    occurred_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices)
    notes = models.TextField(blank=True, max_length=NOTE_MAX_LENGTH)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)
    idempotency_key = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001 (NULL: no key)
    key_clinic = key_clinic_field()

    class Meta:
        ordering = ["occurred_at", "id"]
        verbose_name_plural = "attendance"
        indexes = [models.Index(fields=["enrollment", "occurred_at"])]
        constraints = [
            *key_constraints("attendance"),
        ]

    def __str__(self) -> str:
        return f"{self.get_session_kind_display()} {self.occurred_at:%Y-%m-%d} {self.status}"


class Correction(models.Model):
    """Who changed a recorded specimen or attendance, when, why, and from what to what."""

    specimen = models.ForeignKey(
        Specimen, null=True, blank=True, on_delete=models.PROTECT, related_name="corrections"
    )
    attendance = models.ForeignKey(
        Attendance, null=True, blank=True, on_delete=models.PROTECT, related_name="corrections"
    )
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(auto_now_add=True)
    reason = models.TextField(max_length=REASON_MAX_LENGTH)
    before = models.JSONField()
    after = models.JSONField()

    class Meta:
        ordering = ["changed_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(specimen__isnull=False) & Q(attendance__isnull=True))
                | (Q(specimen__isnull=True) & Q(attendance__isnull=False)),
                name="correction_of_exactly_one_record",
            ),
            models.CheckConstraint(condition=~Q(reason=""), name="correction_needs_a_reason"),
        ]

    def __str__(self) -> str:
        return f"correction by {self.changed_by} at {self.changed_at:%Y-%m-%d %H:%M}"
