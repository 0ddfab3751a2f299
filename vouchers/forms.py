"""Forms for what counselors record. They check shape only; the rules live in vouchers.recording,
whose ValidationErrors `errors_onto_form` puts back onto the form's fields."""

import uuid
from zoneinfo import ZoneInfo

from django import forms
from django.core.exceptions import ValidationError
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _

from cmtracker.inputs import NOTE_MAX_LENGTH, REASON_MAX_LENGTH
from patients.models import Attendance, Patient, Specimen, SpecimenResult, Substance
from vouchers.models import protocol_attach

DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


class ClinicDateTimeField(forms.DateTimeField):
    """A `datetime-local` input read and shown in the clinic's time zone, not the server's."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_LOCAL)

    def __init__(self, *args, **kwargs):
        self.tz: ZoneInfo | None = None  # set by the form, from its clinic
        kwargs.setdefault("input_formats", [DATETIME_LOCAL, "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"])
        super().__init__(*args, **kwargs)

    def _in_clinic_zone(self, method, value):
        if self.tz is None:
            return method(value)
        with timezone.override(self.tz):
            return method(value)

    def to_python(self, value):
        return self._in_clinic_zone(super().to_python, value)

    def prepare_value(self, value):
        return self._in_clinic_zone(super().prepare_value, value)


def clinic_now(tz: ZoneInfo):
    """Now on the clinic's clock, to the minute (what a `datetime-local` input can show)."""
    return timezone.localtime(timezone=tz).replace(second=0, microsecond=0)


class _RecordForm(forms.Form):
    """A hidden idempotency key, new each time the empty form is shown: a second submit of the
    same form (double click, browser refresh) answers the first recording and pays nothing more."""

    idempotency_key = forms.UUIDField(required=False, widget=forms.HiddenInput)

    moment_field = ""

    def __init__(self, *args, clinic, **kwargs):
        super().__init__(*args, **kwargs)
        self.clinic = clinic
        self.fields[self.moment_field].tz = clinic.tz
        if not self.is_bound:
            self.initial.setdefault(self.moment_field, clinic_now(clinic.tz))
            self.initial.setdefault("idempotency_key", uuid.uuid4())

    def idempotency_key_value(self) -> str | None:
        key = self.cleaned_data.get("idempotency_key")
        return str(key) if key else None


def panel_for(protocol) -> list[str]:
    """The substances a protocol's panel shows: its targets, then its secondary substances."""
    panel = list(protocol.target_substances)
    panel += [s for s in protocol.secondary_substances if s not in panel]
    return panel


class SpecimenFields(forms.Form):
    """A specimen as staff record it: when, what kind, what happened, and the panel.

    Every panel substance is posted (hidden `panel`) and is negative unless ticked in `positive`,
    so one click marks a positive and nothing is ever left unmarked.
    """

    collected_at = ClinicDateTimeField(label=_("Collected at"))
    kind = forms.ChoiceField(
        label=_("Kind"), choices=Specimen.Kind.choices, initial=Specimen.Kind.URINE
    )
    status = forms.ChoiceField(
        label=_("Result"),
        choices=Specimen.Status.choices,
        initial=Specimen.Status.TESTED,
        widget=forms.RadioSelect,
    )
    panel = forms.MultipleChoiceField(
        choices=Substance.choices, required=False, widget=forms.MultipleHiddenInput
    )
    positive = forms.MultipleChoiceField(
        label=_("Positive for"),
        choices=Substance.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    notes = forms.CharField(
        label=_("Notes"),
        required=False,
        max_length=NOTE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Required for an excused test: say why."),
    )

    def set_panel(self, substances: list[str]) -> None:
        self.initial.setdefault("panel", substances)
        shown = dict(Substance.choices)
        self.fields["positive"].choices = [(s, shown[s]) for s in substances]
        self.panel_substances = substances

    def clean(self):
        cleaned = super().clean()
        status = cleaned.get("status")
        if status == Specimen.Status.TESTED and "panel" in cleaned and "positive" in cleaned:
            if not self.results():
                self.add_error(
                    "positive",
                    ValidationError(
                        _("Mark each substance negative or positive."), code="no_results"
                    ),
                )
        return cleaned

    def results(self) -> dict[str, str]:
        """{substance: negative|positive} for every substance posted, positives ticked; none
        unless the specimen was tested (a refused or missed test has no results)."""
        if self.cleaned_data.get("status") != Specimen.Status.TESTED:
            return {}
        positive = set(self.cleaned_data.get("positive") or [])
        panel = list(self.cleaned_data.get("panel") or [])
        panel += [s for s in positive if s not in panel]
        return {
            s: SpecimenResult.Result.POSITIVE if s in positive else SpecimenResult.Result.NEGATIVE
            for s in panel
        }


class SpecimenForm(_RecordForm, SpecimenFields):
    moment_field = "collected_at"

    def __init__(self, *args, clinic, protocol=None, **kwargs):
        super().__init__(*args, clinic=clinic, **kwargs)
        self.set_panel(panel_for(protocol) if protocol is not None else [])


class SpecimenCorrectionForm(SpecimenFields):
    """Correct a recorded specimen: the same fields, prefilled from it, and a reason."""

    reason = forms.CharField(
        label=_("Reason for the correction"),
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Kept in the record with your name and the time."),
    )

    def __init__(self, *args, specimen: Specimen, **kwargs):
        clinic = specimen.enrollment.patient.clinic
        results = {r.substance: r.result for r in specimen.results.all()}
        panel = panel_for(protocol_attach(specimen.enrollment).protocol)
        panel += [s for s in results if s not in panel]
        kwargs.setdefault(
            "initial",
            {
                "collected_at": specimen.collected_at,
                "kind": specimen.kind,
                "status": specimen.status,
                "panel": panel,
                "positive": [s for s, r in results.items() if r == "positive"],
                "notes": specimen.notes,
            },
        )
        super().__init__(*args, **kwargs)
        self.clinic = clinic
        self.fields["collected_at"].tz = clinic.tz
        self.set_panel(panel)


class AttendanceForm(_RecordForm):
    moment_field = "occurred_at"

    session_kind = forms.ChoiceField(label=_("Session"), choices=Attendance.SessionKind.choices)
    occurred_at = ClinicDateTimeField(label=_("When"))
    status = forms.ChoiceField(
        label=_("Attendance"),
        choices=Attendance.Status.choices,
        initial=Attendance.Status.ATTENDED,
        widget=forms.RadioSelect,
    )
    notes = forms.CharField(
        label=_("Notes"),
        required=False,
        max_length=NOTE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    field_order = ["session_kind", "occurred_at", "status", "notes"]


class ExcuseForm(forms.Form):
    """Turn a missed test into an excused one: it then neither earns nor resets the streak."""

    reason = forms.CharField(
        label=_("Why is this missed test excused?"),
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": _("Say why this missed test is excused.")},
        help_text=_("Kept in the record with your name and the time."),
    )


class ReminderSettingsForm(forms.Form):
    """The patient's own reminder choices, on the portal."""

    reminder_time = forms.TimeField(
        label=_("Remind me on test days at"),
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        input_formats=["%H:%M", "%H:%M:%S"],
        help_text=_("The clinic's time."),
    )
    reminder_evening_before = forms.BooleanField(
        label=_("Also remind me the evening before a test day"), required=False
    )
    reminder_consent_sms = forms.BooleanField(
        label=_("Send me text messages (SMS)"), required=False
    )
    reminder_consent_email = forms.BooleanField(label=_("Send me emails"), required=False)
    message_style = forms.ChoiceField(
        label=_("How my texts and emails read"),
        widget=forms.RadioSelect,
        choices=Patient.MessageStyle.choices,
    )
    preferred_language = forms.ChoiceField(label=_("Language"), choices=Patient.Language.choices)

    def __init__(self, *args, clinic, **kwargs):
        super().__init__(*args, **kwargs)
        # The patient reads what "the clinic's choice" is today, not a riddle.
        clinic_choice = (
            _("As the clinic chooses (now discreet)")
            if clinic.discreet_messages
            else _("As the clinic chooses (now detailed)")
        )
        discreet = _('Discreet: only "Reminder for today (before %(time)s)."') % {
            "time": formats.time_format(clinic.closes_at, "TIME_FORMAT")
        }
        self.fields["message_style"].choices = [
            (Patient.MessageStyle.DISCREET, discreet),
            (
                Patient.MessageStyle.DETAILED,
                _("Detailed: the clinic's name, the test day and what a negative test earns"),
            ),
            (Patient.MessageStyle.CLINIC, clinic_choice),
        ]


# The services name a few things differently from the forms.
SERVICE_FIELDS = {"results": "positive"}


def errors_onto_form(form: forms.Form, error: ValidationError) -> None:
    """Put a service's ValidationError on the fields it names; the rest above the form."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, messages in error.message_dict.items():
        field = SERVICE_FIELDS.get(field, field)
        form.add_error(field if field in form.fields else None, messages)
