"""The dashboard's range form: which clinic days, and how to split them (GET, nothing written)."""

from datetime import date

from django import forms
from django.utils.translation import gettext_lazy as _

from vouchers.api.reports import EARLIEST_DAY, MAX_RANGE_DAYS
from vouchers.reports.dashboard import BY_COHORT, BY_COUNSELOR, BY_NONE, BY_PROTOCOL
from vouchers.reports.weeks import default_range

BREAKDOWN_CHOICES = [
    (BY_NONE, _("None: the whole clinic")),
    (BY_PROTOCOL, _("Protocol version")),
    (BY_COUNSELOR, _("Counselor's caseload")),
    (BY_COHORT, _("Month of enrollment")),
]


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self):
        super().__init__(format="%Y-%m-%d")


class ReportRangeForm(forms.Form):
    """first..last in clinic days: not reversed, at most five years, not past the clinic's today.
    Fields left out of the query string take their defaults (the last 90 days, no breakdown)."""

    first = forms.DateField(label=_("First day"), widget=DateInput(), input_formats=["%Y-%m-%d"])
    last = forms.DateField(label=_("Last day"), widget=DateInput(), input_formats=["%Y-%m-%d"])
    by = forms.ChoiceField(label=_("Break down by"), choices=BREAKDOWN_CHOICES, required=False)

    def __init__(self, query, *, today: date, breakdown: bool = True):
        first, last = default_range(today)
        data = {"first": first.isoformat(), "last": last.isoformat(), "by": BY_NONE}
        data.update({k: query[k] for k in data if k in query})
        super().__init__(data)
        self.today = today
        if not breakdown:
            del self.fields["by"]

    def clean(self):
        cleaned = super().clean()
        first, last = cleaned.get("first"), cleaned.get("last")
        if first is None or last is None:
            return cleaned
        if first < EARLIEST_DAY:
            message = _("A range starts on %(day)s or later.")
            self.add_error("first", message % {"day": EARLIEST_DAY.isoformat()})
        elif last > self.today:
            self.add_error("last", _("The range cannot end after the clinic's today."))
        elif last < first:
            self.add_error("last", _("The range's last day cannot be before its first day."))
        elif (last - first).days + 1 > MAX_RANGE_DAYS:
            message = _("A range covers at most five years (%(days)s days).")
            self.add_error("last", message % {"days": MAX_RANGE_DAYS})
        return cleaned
