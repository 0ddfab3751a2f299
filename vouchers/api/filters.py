"""Filters shared by the API's lists."""

from datetime import UTC, timedelta

from django import forms
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from django_filters.fields import IsoDateTimeField

# PostgreSQL keeps time zone offsets within ±15:59; anything wider is not a real place's clock.
MAX_OFFSET = timedelta(hours=15, minutes=59)


class ClockDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time whose offset is a real one and which converts to UTC without error."""

    def to_python(self, value):
        moment = super().to_python(value)
        if moment is None:
            return moment
        offset = moment.utcoffset()
        if offset is not None and abs(offset) > MAX_OFFSET:
            raise forms.ValidationError(_("The time zone offset must be within ±15:59."))
        try:
            moment.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError(_("This date is out of range.")) from None
        return moment


class IsoDateTimeFilter(filters.IsoDateTimeFilter):
    field_class = ClockDateTimeField


class EnrollmentRecordFilter(filters.FilterSet):
    """Filters shared by the records kept per enrollment (specimens, attendance).

    Plain numbers, not choices among all rows: an unknown id and another clinic's id must both
    just match nothing, or the 400 for one would reveal which ids exist.
    """

    patient = filters.NumberFilter(field_name="enrollment__patient_id")
    enrollment = filters.NumberFilter(field_name="enrollment_id")
