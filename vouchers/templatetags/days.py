from datetime import date

from django import template
from django.utils import formats
from django.utils.translation import pgettext

register = template.Library()


@register.filter
def long_day(day: date, year: str = "") -> str:
    """ "Wednesday, December 2" ("miércoles 2 de diciembre"), with the year when asked
    (`day|long_day:"year"`). The format is translated: languages join day and month differently."""
    if not day:
        return ""
    if year:
        # Translators: a PHP-style date format (Django's `date` filter); escape letters with \.
        pattern = pgettext("date format: weekday, day, month and year", "l, F j, Y")
    else:
        # Translators: a PHP-style date format (Django's `date` filter); escape letters with \.
        pattern = pgettext("date format: weekday, day and month", "l, F j")
    return formats.date_format(day, pattern)
