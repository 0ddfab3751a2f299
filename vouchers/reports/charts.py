"""The dashboard's charts: small inline SVGs drawn on the server (issue 14).

Numbers in, a `ReportChart` out: coordinates, shapes and words for
templates/vouchers/reports/includes/chart.html, and the same figures as rows of a data table,
the chart's text alternative. No database, no clock, no JavaScript. As in vouchers/charts.py,
colours are SVG presentation attributes (no stylesheet, no inline style: CSP), and a chart holds
one series, so nothing depends on telling colours apart; each point and bar carries its figure as
a tooltip.

- `rate_chart`: a line of rates from 0 to 100% (the weekly negative samples, the retention
  curve); a point with nothing to count is left out and breaks the line.
- `count_chart`: bars of counts or cents from 0 (the LDA histogram, the weekly cost).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.translation import gettext as _

from vouchers.charts import GRID_COLOUR, LINE_COLOUR, TEXT_COLOUR, Tick, _nice_ceiling, mark_path
from vouchers.charts import NEGATIVE as DOT
from vouchers.reports.formats import count_text, percent_text, ratio_text
from vouchers.reports.measures import Ratio

WIDTH, HEIGHT = 520, 220
# LEFT holds a y label of 10 characters at 13px ("$10,000.00").
LEFT, RIGHT, TOP, BOTTOM = 84, 12, 12, 32
POINT_SIZE = 4.0
BAR_SHARE = 0.8  # of each slot: the rest is the gap between bars


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    path: str
    label: str


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str


@dataclass(frozen=True)
class Row:
    """One line of the data table: what the point or bar is, and its figure in words."""

    label: str
    value: str


@dataclass(frozen=True)
class ReportChart:
    id: str  # unique on the page: the ids of its title and description derive from it
    title: str
    summary: str  # the accessible description: what the picture says, in words
    x_label: str  # the data table's column headings
    y_label: str
    rows: tuple[Row, ...] = ()
    lines: tuple[str, ...] = ()  # paths; a gap in the data starts a new one
    points: tuple[Point, ...] = ()
    bars: tuple[Bar, ...] = ()
    y_ticks: tuple[Tick, ...] = ()
    x_ticks: tuple[Tick, ...] = ()
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right_edge: int = WIDTH - RIGHT
    baseline: float = HEIGHT - BOTTOM
    line_colour: str = LINE_COLOUR
    grid_colour: str = GRID_COLOUR
    text_colour: str = TEXT_COLOUR

    @property
    def empty(self) -> bool:
        return not self.points and not self.bars


def _n(value: float) -> str:
    return f"{value:.1f}"


def _slots(count: int) -> tuple[float, float]:
    """(left edge, width) of equal slots across the plot."""
    return LEFT, (WIDTH - LEFT - RIGHT) / max(count, 1)


def _x_ticks(labels: Sequence[str], x_of: Callable[[int], float]) -> tuple[Tick, ...]:
    """The first and the last label under the axis; the data table has all of them."""
    if not labels:
        return ()
    if len(labels) == 1:
        return (Tick(at=x_of(0), label=labels[0]),)
    return (Tick(at=x_of(0), label=labels[0]), Tick(at=x_of(len(labels) - 1), label=labels[-1]))


def rate_chart(
    series: Sequence[tuple[str, Ratio]], *, id: str, title: str, x_label: str, y_label: str
) -> ReportChart:
    """A line of rates over labelled, evenly spaced steps (weeks), from 0% to 100%."""
    rows = tuple(Row(label, ratio_text(ratio)) for label, ratio in series)
    counted = [(i, label, ratio) for i, (label, ratio) in enumerate(series) if ratio.denominator]
    if not counted:
        return ReportChart(
            id=id, title=title, summary=_("Nothing to count yet."), x_label=x_label,
            y_label=y_label, rows=rows,
        )  # fmt: skip
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    steps = max(len(series) - 1, 1)

    def x_of(i: int) -> float:
        return LEFT + plot_w * (i / steps if len(series) > 1 else 0.5)

    def y_of(ratio: Ratio) -> float:
        return TOP + plot_h * (1 - ratio.numerator / ratio.denominator)

    lines, segment, points, previous = [], [], [], None
    for i, label, ratio in counted:
        x, y = x_of(i), y_of(ratio)
        if previous is not None and i != previous + 1 and segment:
            lines.append("".join(segment))
            segment = []
        segment.append(f"{'L' if segment else 'M'}{_n(x)} {_n(y)}")
        points.append(
            Point(x, y, mark_path(DOT, x, y, POINT_SIZE), f"{label}: {ratio_text(ratio)}")
        )
        previous = i
    lines.append("".join(segment))

    def share(item):
        return item[2].numerator * 10**9 // item[2].denominator

    low, high = min(counted, key=share), max(counted, key=share)
    summary = _(
        "From %(first)s (%(first_value)s) to %(last)s (%(last_value)s); lowest %(low)s "
        "(%(low_label)s), highest %(high)s (%(high_label)s)."
    ) % {
        "first": counted[0][1],
        "first_value": percent_text(counted[0][2]),
        "last": counted[-1][1],
        "last_value": percent_text(counted[-1][2]),
        "low": percent_text(low[2]),
        "low_label": low[1],
        "high": percent_text(high[2]),
        "high_label": high[1],
    }
    full = Ratio(1, 1)
    y_ticks = tuple(
        Tick(at=y_of(r), label=percent_text(r)) for r in (Ratio(0, 1), Ratio(1, 2), full)
    )
    return ReportChart(
        id=id,
        title=title,
        summary=summary,
        x_label=x_label,
        y_label=y_label,
        rows=rows,
        lines=tuple(lines),
        points=tuple(points),
        y_ticks=y_ticks,
        x_ticks=_x_ticks([label for label, _r in series], x_of),
    )


def count_chart(
    series: Sequence[tuple[str, int]],
    *,
    id: str,
    title: str,
    x_label: str,
    y_label: str,
    fmt: Callable[[int], str] = count_text,
) -> ReportChart:
    """Bars of non-negative numbers (counts, cents written by `fmt`) from 0."""
    rows = tuple(Row(label, fmt(value)) for label, value in series)
    if not series or not any(value for _label, value in series):
        return ReportChart(
            id=id, title=title, summary=_("Nothing to count yet."), x_label=x_label,
            y_label=y_label, rows=rows,
        )  # fmt: skip
    top = _nice_ceiling(max(value for _label, value in series))
    plot_h = HEIGHT - TOP - BOTTOM
    left, slot = _slots(len(series))

    def y_of(value: int) -> float:
        return TOP + plot_h * (1 - value / top)

    def x_of(i: int) -> float:  # the middle of slot i
        return left + slot * (i + 0.5)

    width = slot * BAR_SHARE
    bars = tuple(
        Bar(
            x=x_of(i) - width / 2,
            y=y_of(value),
            width=width,
            height=y_of(0) - y_of(value),
            label=f"{label}: {fmt(value)}",
        )
        for i, (label, value) in enumerate(series)
    )
    biggest = max(range(len(series)), key=lambda i: series[i][1])
    summary = _("%(total)s in all; the most, %(most)s, at %(label)s.") % {
        "total": fmt(sum(value for _label, value in series)),
        "most": fmt(series[biggest][1]),
        "label": series[biggest][0],
    }
    y_ticks = tuple(Tick(at=y_of(v), label=fmt(v)) for v in (0, top // 2, top))
    return ReportChart(
        id=id,
        title=title,
        summary=summary,
        x_label=x_label,
        y_label=y_label,
        rows=rows,
        bars=bars,
        y_ticks=y_ticks,
        x_ticks=_x_ticks([label for label, _v in series], x_of),
    )
