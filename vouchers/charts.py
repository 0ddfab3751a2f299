"""The earnings chart: an enrollment's awards drawn as a small inline SVG, on the server.

Awards in, a `Chart` out: coordinates, shapes and words for templates/vouchers/includes/chart.svg.
No database, no clock, no JavaScript. Colours are SVG presentation attributes, so the chart needs
neither a stylesheet nor an inline style (CSP), and every kind of result differs by shape as well
as by colour (a cross for a positive, a hollow triangle for a miss), so it reads without colour.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from vouchers import engine
from vouchers.templatetags.money import dollars

WIDTH, HEIGHT = 520, 240
# LEFT holds a y label of 10 characters at 13px ("$10,000.00", "100 draws").
LEFT, RIGHT, TOP, BOTTOM = 84, 12, 16, 32
MARK_SIZE = 5.5

# Colours from static/css/app.css, all AA on white.
LINE_COLOUR = "#0b5cad"
GRID_COLOUR = "#d0d7de"
TEXT_COLOUR = "#4a5563"

NEGATIVE = "negative"
POSITIVE = "positive"
MISSED = "missed"
EXCUSED = "excused"
SESSION = "session"

# Outcome letter -> how the chart marks it. Refused, adulterated and dilute are drawn like a
# positive: they reset the streak the same way (a dilute that does not reset still shows as one
# the counselor should look at).
SPECIMEN_MARKS = {
    engine.NEGATIVE: NEGATIVE,
    engine.POSITIVE: POSITIVE,
    engine.REFUSED: POSITIVE,
    engine.ADULTERATED: POSITIVE,
    engine.DILUTE: POSITIVE,
    engine.MISSED: MISSED,
    engine.EXCUSED: EXCUSED,
}

# kind -> (fill, stroke)
MARK_COLOURS = {
    NEGATIVE: ("#1a7f37", "#1a7f37"),
    POSITIVE: ("none", "#b42318"),
    MISSED: ("#ffffff", "#8a5300"),
    EXCUSED: ("#ffffff", "#4a5563"),
    SESSION: ("#0b5cad", "#0b5cad"),
}


def _n(value: float) -> str:
    return f"{value:.1f}"


def mark_path(kind: str, x: float, y: float, r: float = MARK_SIZE) -> str:
    """The SVG path of a marker centred on (x, y): a distinct shape for every kind."""
    if kind == NEGATIVE:  # filled circle
        return (
            f"M{_n(x - r)} {_n(y)}a{_n(r)} {_n(r)} 0 1 0 {_n(2 * r)} 0"
            f"a{_n(r)} {_n(r)} 0 1 0 {_n(-2 * r)} 0Z"
        )
    if kind == POSITIVE:  # cross
        return (
            f"M{_n(x - r)} {_n(y - r)}L{_n(x + r)} {_n(y + r)}"
            f"M{_n(x - r)} {_n(y + r)}L{_n(x + r)} {_n(y - r)}"
        )
    if kind == MISSED:  # hollow triangle
        return f"M{_n(x)} {_n(y - r)}L{_n(x + r)} {_n(y + r)}L{_n(x - r)} {_n(y + r)}Z"
    if kind == EXCUSED:  # hollow diamond
        return f"M{_n(x)} {_n(y - r)}L{_n(x + r)} {_n(y)}L{_n(x)} {_n(y + r)}L{_n(x - r)} {_n(y)}Z"
    # an attended session: small square
    s = r * 0.8
    return f"M{_n(x - s)} {_n(y - s)}h{_n(2 * s)}v{_n(2 * s)}h{_n(-2 * s)}Z"


def mark_labels() -> dict[str, str]:
    return {
        NEGATIVE: _("Negative test"),
        POSITIVE: _("Positive, refused, adulterated or dilute"),
        MISSED: _("Missed test"),
        EXCUSED: _("Excused"),
        SESSION: _("Session attended"),
    }


@dataclass(frozen=True)
class Marker:
    kind: str
    path: str
    fill: str
    stroke: str
    label: str  # a tooltip: the day, what happened and what it earned


@dataclass(frozen=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True)
class LegendItem:
    kind: str
    label: str
    path: str  # drawn in a 16 x 16 box
    fill: str
    stroke: str


@dataclass(frozen=True)
class Chart:
    title: str
    summary: str  # the accessible description: what the picture says, in words
    id_prefix: str = "earnings-chart"
    width: int = WIDTH
    height: int = HEIGHT
    line: str = ""  # path of the cumulative earnings
    markers: tuple[Marker, ...] = ()
    y_ticks: tuple[Tick, ...] = ()
    x_ticks: tuple[Tick, ...] = ()
    legend: tuple[LegendItem, ...] = ()
    left: int = LEFT
    right_edge: int = WIDTH - RIGHT
    baseline: float = HEIGHT - BOTTOM
    line_colour: str = LINE_COLOUR
    grid_colour: str = GRID_COLOUR
    text_colour: str = TEXT_COLOUR

    @property
    def empty(self) -> bool:
        return not self.markers and not self.line


def _nice_ceiling(value: int) -> int:
    """The smallest 1, 2, 2.5 or 5 times a power of ten that is at least `value` (at least 1)."""
    magnitude = 1
    while True:
        for step in (10, 20, 25, 50):
            if value <= step * magnitude // 10:
                return max(1, step * magnitude // 10)
        magnitude *= 10


def _value(award: engine.Award, kind: str) -> int:
    return award.draws if kind == engine.PRIZE else award.total_cents


def _format(value: int, kind: str) -> str:
    if kind == engine.PRIZE:
        return ngettext("%(n)d draw", "%(n)d draws", value) % {"n": value}
    return dollars(value)


def _day(day: date) -> str:
    return date_format(day, "DATE_FORMAT")


def earnings_chart(
    awards: Sequence[engine.Award],
    *,
    kind: str = engine.VOUCHER,
    start: date | None = None,
    end: date | None = None,
    id_prefix: str = "earnings-chart",
) -> Chart:
    """Cumulative earnings (cents, or draws for a prize protocol) over the enrollment's days,
    each test marked by its outcome and each attended session by a square.

    `start` and `end` widen the time axis (the enrollment's first day, today); by default it
    spans the awards.
    """
    title = _("Earnings over time")
    if not awards:
        return Chart(
            title=title, summary=_("Nothing recorded yet."), id_prefix=id_prefix, legend=()
        )

    days = [a.day for a in awards]
    first = min([*days, start] if start else days)
    last = max([*days, end] if end else days)
    span = max(1, (last - first).days)
    total = sum(_value(a, kind) for a in awards)
    top = _nice_ceiling(total)
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM

    def x_of(day: date) -> float:
        return LEFT + plot_w * (day - first).days / span

    def y_of(value: int) -> float:
        return TOP + plot_h * (1 - value / top)

    labels = mark_labels()
    outcome_names = dict(
        zip(
            engine.OUTCOMES,
            [
                _("Negative"),
                _("Positive"),
                _("Missed"),
                _("Refused"),
                _("Adulterated"),
                _("Dilute"),
                _("Excused"),
            ],
            strict=True,
        )
    )
    # A step line: earnings stay flat between events and rise on the day of an award.
    cumulative = 0
    line = [f"M{_n(x_of(first))} {_n(y_of(0))}"]
    markers = []
    counts = {NEGATIVE: 0, POSITIVE: 0, MISSED: 0, EXCUSED: 0, SESSION: 0}
    for award in awards:
        x = x_of(award.day)
        line.append(f"H{_n(x)}")
        earned = _value(award, kind)
        if earned:
            cumulative += earned
            line.append(f"V{_n(y_of(cumulative))}")
        if award.kind == engine.SPECIMEN:
            mark = SPECIMEN_MARKS.get(award.outcome, POSITIVE)
            what = outcome_names.get(award.outcome, award.outcome)
        elif award.outcome == engine.ATTENDED:
            mark, what = SESSION, labels[SESSION]
        else:
            continue  # a missed or excused session neither earns nor resets: no mark
        counts[mark] += 1
        fill, stroke = MARK_COLOURS[mark]
        markers.append(
            Marker(
                kind=mark,
                path=mark_path(mark, x, y_of(cumulative)),
                fill=fill,
                stroke=stroke,
                label=_("%(day)s: %(what)s, earned %(earned)s (total %(total)s)")
                % {
                    "day": _day(award.day),
                    "what": what,
                    "earned": _format(earned, kind),
                    "total": _format(cumulative, kind),
                },
            )
        )
    line.append(f"H{_n(x_of(last))}")

    y_ticks = tuple(Tick(at=y_of(v), label=_format(v, kind)) for v in (0, top // 2, top))
    x_ticks = (Tick(at=x_of(first), label=_day(first)), Tick(at=x_of(last), label=_day(last)))
    legend = tuple(
        LegendItem(k, labels[k], mark_path(k, 8, 8), *MARK_COLOURS[k])
        for k in (NEGATIVE, POSITIVE, MISSED, EXCUSED, SESSION)
        if counts[k]
    )
    summary = _(
        "%(total)s earned from %(first)s to %(last)s. Tests: %(negative)d negative, "
        "%(positive)d positive or refused, %(missed)d missed, %(excused)d excused."
    ) % {
        "total": _format(total, kind),
        "first": _day(first),
        "last": _day(last),
        "negative": counts[NEGATIVE],
        "positive": counts[POSITIVE],
        "missed": counts[MISSED],
        "excused": counts[EXCUSED],
    }
    return Chart(
        title=title,
        summary=summary,
        id_prefix=id_prefix,
        line="".join(line),
        markers=tuple(markers),
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        legend=legend,
    )
