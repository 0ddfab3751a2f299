"""How the dashboard writes a measure: a rate as "62% (31 of 50)", a mean as "2.5", a delay as
"1 h 5 min", and "—" whenever there was nothing to count.

No database and no clock; the words are translated and the numbers localized (a decimal comma in
Spanish). Ratios stay exact until here: a percentage is rounded half up from the exact fraction.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.utils.formats import number_format
from django.utils.translation import gettext as _

from vouchers.reports.measures import Ratio
from vouchers.templatetags.money import dollars

NOTHING = "—"


def percent(ratio: Ratio) -> int | None:
    """The ratio as a whole percentage, rounded half up; None when nothing was counted."""
    if not ratio.denominator:
        return None
    return (200 * ratio.numerator + ratio.denominator) // (2 * ratio.denominator)


def ratio_text(ratio: Ratio) -> str:
    """ "62% (31 of 50)", or "—" when the denominator is 0."""
    share = percent(ratio)
    if share is None:
        return NOTHING
    return _("%(percent)s%% (%(numerator)s of %(denominator)s)") % {
        "percent": share,
        "numerator": number_format(ratio.numerator, force_grouping=True),
        "denominator": number_format(ratio.denominator, force_grouping=True),
    }


def percent_text(ratio: Ratio) -> str:
    """ "62%" alone (a chart's axis, a tooltip beside its counts), or "—"."""
    share = percent(ratio)
    return NOTHING if share is None else _("%(percent)s%%") % {"percent": share}


def mean_text(ratio: Ratio) -> str:
    """A mean to one decimal (rounded half up from the exact fraction), or "—"."""
    if not ratio.denominator:
        return NOTHING
    tenths = (20 * ratio.numerator + ratio.denominator) // (2 * ratio.denominator)
    return number_format(Decimal(tenths) / 10, decimal_pos=1)


def count_text(value: int | None) -> str:
    return NOTHING if value is None else number_format(value, force_grouping=True)


def duration_text(delta: timedelta | None) -> str:
    """A delay in days, hours and minutes ("1 h 5 min", "2 d 3 h"), or "—"."""
    if delta is None:
        return NOTHING
    minutes = int(delta.total_seconds()) // 60
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return _("%(days)s d %(hours)s h") % {"days": days, "hours": hours}
    if hours:
        return _("%(hours)s h %(minutes)s min") % {"hours": hours, "minutes": minutes}
    return _("%(minutes)s min") % {"minutes": minutes}


def cents_text(cents: int | None) -> str:
    """Cents as dollars ("$1,234.50"), or "—" when there is no figure (no median)."""
    return NOTHING if cents is None else dollars(cents)


def cents_mean_text(ratio: Ratio) -> str:
    """A mean of cents (a cost per enrollment, per negative test) in dollars, rounded half up to
    the cent from the exact fraction; "—" when nothing was counted."""
    if not ratio.denominator:
        return NOTHING
    return dollars((2 * ratio.numerator + ratio.denominator) // (2 * ratio.denominator))
