"""Forms of the enrollment page: enrol, and change an enrollment's status.

(Correcting a result uses vouchers.forms.SpecimenCorrectionForm, the recording form's twin.)
Forms only validate what a person typed; which status may follow which is the service's rule.
"""

from django import forms
from django.utils.translation import gettext_lazy as _

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
