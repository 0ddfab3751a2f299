"""The patients list's search and filters (a GET form: bookmarkable, no state)."""

from django import forms
from django.utils.translation import gettext_lazy as _

from cmtracker.models import User
from patients.models import Enrollment

NOT_ENROLLED = "none"


class CounselorChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return obj.get_full_name() or obj.username


class PatientFilterForm(forms.Form):
    q = forms.CharField(
        label=_("Name or record number"),
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"type": "search"}),
    )
    counselor = CounselorChoiceField(
        label=_("Counselor"), queryset=User.objects.none(), required=False, empty_label=_("Any")
    )
    status = forms.ChoiceField(
        label=_("Enrollment"),
        required=False,
        choices=[("", _("Any")), *Enrollment.Status.choices, (NOT_ENROLLED, _("Not enrolled"))],
    )

    def __init__(self, *args, clinic_ids: list[int], **kwargs):
        super().__init__(*args, **kwargs)
        # Only the staff of the user's own clinics can be chosen.
        self.fields["counselor"].queryset = (
            User.objects.filter(memberships__clinic_id__in=clinic_ids)
            .distinct()
            .order_by("last_name", "first_name", "username")
        )
