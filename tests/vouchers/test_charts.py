"""The earnings chart: awards in, an accessible SVG out, with every outcome marked by shape."""

import re
from datetime import date, timedelta

import pytest
from django.template.loader import render_to_string
from django.utils import translation

from vouchers import engine
from vouchers.charts import earnings_chart

START = date(2026, 1, 5)


def award(day: int, outcome: str = engine.NEGATIVE, cents: int = 0, bonus: int = 0, draws=0):
    return engine.Award(
        key=f"specimen:{day}",
        day=START + timedelta(days=day),
        kind=engine.SPECIMEN,
        outcome=outcome,
        week=day // 7 + 1,
        voucher_cents=cents,
        bonus_cents=bonus,
        draws=draws,
    )


def session(day: int, status: str = engine.ATTENDED, cents: int = 0):
    return engine.Award(
        key=f"attendance:{day}",
        day=START + timedelta(days=day),
        kind=engine.ATTENDANCE,
        outcome=status,
        week=day // 7 + 1,
        attendance_cents=cents,
    )


def svg(chart) -> str:
    return render_to_string("vouchers/includes/chart.html", {"chart": chart})


@pytest.mark.parametrize(
    ("outcome", "mark"),
    [
        (engine.NEGATIVE, "negative"),
        (engine.POSITIVE, "positive"),
        (engine.REFUSED, "positive"),
        (engine.ADULTERATED, "positive"),
        (engine.DILUTE, "positive"),
        (engine.MISSED, "missed"),
        (engine.EXCUSED, "excused"),
    ],
)
def test_each_outcome_gets_its_own_marker(outcome, mark):
    chart = earnings_chart([award(0, engine.NEGATIVE, 250), award(2, outcome)])

    assert [m.kind for m in chart.markers] == ["negative", mark]
    assert f'class="mark mark-{mark}"' in svg(chart)


def test_positive_and_missed_differ_by_shape_not_only_colour():
    chart = earnings_chart([award(0, engine.POSITIVE), award(2, engine.MISSED), award(4, "N", 250)])
    shapes = {m.kind: re.sub(r"[-\d.\s]+", "", m.path) for m in chart.markers}

    assert len(set(shapes.values())) == 3  # cross, triangle, circle


def test_the_chart_has_an_accessible_name_and_description():
    chart = earnings_chart([award(0, "N", 250), award(2, "N", 375), award(4, "P")])
    html = svg(chart)

    assert 'role="img"' in html
    assert re.search(r'aria-label="Earnings over time\. \$6\.25 earned from', html)
    assert "<title" in html and "<desc" in html
    assert "2 negative, 1 positive or refused, 0 missed" in chart.summary


@pytest.mark.parametrize(
    ("awards", "total"),
    [
        ([award(0, "N", 250)], "$2.50"),
        ([award(0, "N", 250), award(2, "N", 375), award(4, "N", 500, bonus=1000)], "$21.25"),
        ([award(0, "N", 250), award(2, "P"), award(4, "N", 250)], "$5.00"),
        ([award(0, "N", 250), session(1, cents=300), session(3, engine.ABSENT)], "$5.50"),
    ],
)
def test_the_line_climbs_to_the_total_earned(awards, total):
    chart = earnings_chart(awards)

    assert chart.summary.startswith(f"{total} earned")
    # The last marker sits on the highest point of the line.
    assert chart.markers[-1].label.endswith(f"(total {total})")


def test_a_prize_protocol_charts_draws():
    chart = earnings_chart(
        [award(0, "N", draws=1), award(2, "N", draws=2), award(4, "M")], kind=engine.PRIZE
    )

    assert chart.summary.startswith("3 draws earned")
    assert chart.y_ticks[-1].label.endswith("draws")


def test_nothing_recorded_draws_no_chart_but_says_so():
    chart = earnings_chart([])

    assert chart.empty
    html = svg(chart)
    assert "<svg" not in html
    assert "Nothing recorded yet." in html


def test_the_time_axis_spans_the_enrollment_when_given():
    chart = earnings_chart([award(7, "N", 250)], start=START, end=START + timedelta(days=14))

    assert [t.label for t in chart.x_ticks] == ["Jan. 5, 2026", "Jan. 19, 2026"]
    # The one test sits half-way along.
    x = float(re.match(r"M([\d.]+)", chart.markers[0].path).group(1)) + 5
    assert x == pytest.approx((chart.left + chart.right_edge) / 2, abs=1)


def test_coordinates_stay_numbers_a_browser_reads_in_spanish():
    with translation.override("es"):
        chart = earnings_chart([award(0, "N", 250), award(3, "N", 375)])
        html = svg(chart)

    # No decimal commas inside SVG attributes.
    for attribute in re.findall(r' (?:d|x|y|x1|x2|y1|y2)="([^"]*)"', html):
        assert "," not in attribute


@pytest.mark.parametrize(
    ("kind", "awards"),
    [
        (engine.PRIZE, [award(1, draws=60), award(2, draws=40)]),  # axis to "100 draws"
        (engine.VOUCHER, [award(1, cents=500_000), award(2, cents=400_000)]),  # "$10,000.00"
    ],
)
def test_the_longest_y_label_fits_left_of_the_axis(kind, awards):
    """13px text averages at most 0.6em a character: the label must fit in the left margin
    (less the 6px gap), or its first characters are cut off ("00 draws")."""
    chart = earnings_chart(awards, kind=kind)

    longest = max(len(tick.label) for tick in chart.y_ticks)

    assert longest * 13 * 0.6 <= chart.left - 6
