"""Forms of the enrollment page: enrol, change an enrollment's status, and its weekly schedule.

(Correcting a result uses vouchers.forms.SpecimenCorrectionForm, the recording form's twin.)
Forms only validate what a person typed; which status may follow which is the service's rule.
"""

from django import forms
from django.utils.translation import gettext_lazy as _

from cmtracker.models import WEEKDAYS
from patients.models import Enrollment
from vouchers.models import Protocol


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%d")


class EnrollForm(forms.Form):
    protocol = forms.ModelChoiceField(
        label=_("Protocol"),
        queryset=Protocol.objects.filter(is_current=True).order_by("name"),
        empty_label=None,
    )
    start_date = forms.DateField(
        label=_("Start date"),
        widget=DateInput(),
        help_text=_("Week 1 of the protocol starts on this day."),
    )


class EnrollmentStatusForm(forms.Form):
    status = forms.ChoiceField(
        choices=[
            (Enrollment.Status.PAUSED, _("Pause")),
            (Enrollment.Status.ACTIVE, _("Resume")),
            (Enrollment.Status.COMPLETED, _("Complete")),
            (Enrollment.Status.WITHDRAWN, _("Withdraw")),
        ]
    )


class EnrollmentScheduleForm(forms.Form):
    """The patient's test weekdays and the weekdays of a standing therapy session (checkboxes)."""

    test_weekdays = forms.TypedMultipleChoiceField(
        label=_("Test days"),
        choices=WEEKDAYS,
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Choose at least one test day.")},
        help_text=_("The protocol's tests each week are spread over these days."),
    )
    session_weekdays = forms.TypedMultipleChoiceField(
        label=_("Therapy session days"),
        choices=WEEKDAYS,
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("The patient is reminded of the session on these days."),
    )
