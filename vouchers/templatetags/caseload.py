"""The counselor's Today panel: an exact Ratio as a whole percent, a delay in words."""

from datetime import timedelta

from django import template
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

register = template.Library()


@register.filter
def percent(ratio) -> str:
    """A Ratio as a whole percent, rounded half up from the exact fraction ("67%"); "—" when
    there was nothing to count."""
    if ratio is None or not ratio.denominator:
        return "—"
    whole = (200 * ratio.numerator + ratio.denominator) // (2 * ratio.denominator)
    return f"{whole}%"


@register.filter
def delay(value: timedelta | None) -> str:
    """A delay in words a counselor reads at a glance: "12 min", "3 h 5 min", "2 days"; "—" when
    there is none. Whole minutes, rounded down."""
    if value is None:
        return "—"
    minutes = int(value.total_seconds() // 60)
    if minutes < 60:
        return ngettext("%(n)s min", "%(n)s min", minutes) % {"n": minutes}
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        if not minutes:
            return ngettext("%(h)s h", "%(h)s h", hours) % {"h": hours}
        return _("%(h)s h %(m)s min") % {"h": hours, "m": minutes}
    days = hours // 24
    return ngettext("%(n)s day", "%(n)s days", days) % {"n": days}
