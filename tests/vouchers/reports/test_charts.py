"""The dashboard's charts and numbers in words (vouchers/reports/charts.py, formats.py): figures
in, coordinates and text out, with a data table for every chart. No database."""

import re
from datetime import timedelta
from fractions import Fraction

import pytest
from django.template.loader import render_to_string
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from vouchers.reports.charts import BOTTOM, HEIGHT, LEFT, TOP, WIDTH, count_chart, rate_chart
from vouchers.reports.formats import duration_text, mean_text, percent, ratio_text
from vouchers.reports.measures import Ratio
from vouchers.templatetags.money import dollars


@pytest.mark.parametrize(
    ("ratio", "text"),
    [
        (Ratio(31, 50), "62% (31 of 50)"),
        (Ratio(0, 3), "0% (0 of 3)"),
        (Ratio(3, 3), "100% (3 of 3)"),
        (Ratio(1, 8), "13% (1 of 8)"),  # 12.5 rounds half up
        (Ratio(1, 3), "33% (1 of 3)"),
        (Ratio(2, 3), "67% (2 of 3)"),
        (Ratio(1234, 2000), "62% (1,234 of 2,000)"),
        (Ratio(0, 0), "—"),  # nothing to count: not 0%
    ],
)
def test_a_rate_is_a_percentage_with_its_counts(ratio, text):
    with translation.override("en"):
        assert ratio_text(ratio) == text


def test_a_rate_in_spanish():
    with translation.override("es"):
        assert ratio_text(Ratio(31, 50)) == "62 % (31 de 50)"
        assert mean_text(Ratio(5, 2)) == "2,5"


@pytest.mark.parametrize(
    ("ratio", "text"),
    [(Ratio(5, 2), "2.5"), (Ratio(1, 3), "0.3"), (Ratio(1, 20), "0.1"), (Ratio(0, 0), "—")],
)
def test_a_mean_to_one_decimal(ratio, text):
    with translation.override("en"):
        assert mean_text(ratio) == text


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (None, "—"),
        (timedelta(seconds=59), "0 min"),
        (timedelta(minutes=5), "5 min"),
        (timedelta(hours=1, minutes=5), "1 h 5 min"),
        (timedelta(days=2, hours=3, minutes=7), "2 d 3 h"),
    ],
)
def test_a_delay_in_words(delta, text):
    with translation.override("en"):
        assert duration_text(delta) == text


@given(st.integers(0, 10_000), st.integers(1, 10_000))
def test_a_percentage_is_the_exact_rate_rounded_half_up(numerator, denominator):
    exact = Fraction(100 * numerator, denominator)
    shown = percent(Ratio(numerator, denominator))
    # Within half a point, and a half rounds up.
    assert exact - Fraction(1, 2) < shown <= exact + Fraction(1, 2)


def weeks(*ratios):
    return [(f"Week {i + 1}", ratio) for i, ratio in enumerate(ratios)]


def test_a_rate_chart_draws_100_percent_at_the_top_and_0_at_the_baseline():
    with translation.override("en"):
        chart = rate_chart(
            weeks(Ratio(1, 1), Ratio(0, 4)), id="c", title="T", x_label="Week", y_label="Rate"
        )

    first, last = chart.points
    assert (first.x, first.y) == (LEFT, TOP)
    assert last.y == HEIGHT - BOTTOM
    assert last.x == pytest.approx(WIDTH - 12)
    assert first.label == "Week 1: 100% (1 of 1)"
    assert [t.label for t in chart.y_ticks] == ["0%", "50%", "100%"]
    assert chart.summary == (
        "From Week 1 (100%) to Week 2 (0%); lowest 0% (Week 2), highest 100% (Week 1)."
    )


def test_a_week_with_nothing_to_count_breaks_the_line_and_reads_as_a_dash():
    with translation.override("en"):
        chart = rate_chart(
            weeks(Ratio(1, 2), Ratio(0, 0), Ratio(1, 2), Ratio(2, 2)),
            id="c", title="T", x_label="Week", y_label="Rate",
        )  # fmt: skip

    assert len(chart.points) == 3
    assert len(chart.lines) == 2 and chart.lines[1].count("L") == 1
    values = [row.value for row in chart.rows]
    assert values == ["50% (1 of 2)", "—", "50% (1 of 2)", "100% (2 of 2)"]


def test_a_chart_with_nothing_to_count_says_so_and_keeps_its_table():
    with translation.override("en"):
        chart = rate_chart(weeks(Ratio(0, 0)), id="c", title="T", x_label="W", y_label="R")
        bars = count_chart([("0 weeks", 0)], id="b", title="T", x_label="W", y_label="N")

    assert chart.empty and bars.empty
    assert chart.summary == "Nothing to count yet."
    assert len(chart.rows) == 1


def test_bars_rise_from_the_baseline_to_their_value():
    with translation.override("en"):
        chart = count_chart(
            [("0 weeks", 2), ("1 week", 0), ("2 weeks", 5)],
            id="lda", title="LDA", x_label="Weeks", y_label="Enrollments",
        )  # fmt: skip

    baseline = HEIGHT - BOTTOM
    assert [round(b.y + b.height, 6) for b in chart.bars] == [baseline] * 3
    assert chart.bars[1].height == 0
    assert chart.bars[2].y == TOP  # 5 is the top of the scale
    assert all(b.x >= LEFT and b.x + b.width <= WIDTH for b in chart.bars)
    assert chart.summary == "7 in all; the most, 5, at 2 weeks."
    assert [t.label for t in chart.y_ticks] == ["0", "2", "5"]


def test_money_bars_are_written_as_dollars():
    with translation.override("en"):
        chart = count_chart(
            [("Jan 5", 1250), ("Jan 12", 0)],
            id="cost", title="Cost", x_label="Week", y_label="Cost", fmt=dollars,
        )  # fmt: skip

    assert chart.rows[0].value == "$12.50"
    assert chart.bars[0].label == "Jan 5: $12.50"


def test_the_svg_has_a_title_a_description_and_a_table_and_no_inline_style():
    with translation.override("en"):
        chart = rate_chart(
            weeks(Ratio(1, 2), Ratio(2, 2)), id="chart-weekly", title="Negative samples by week",
            x_label="Week", y_label="Negative samples",
        )  # fmt: skip
        html = render_to_string("vouchers/reports/includes/chart.html", {"chart": chart})

    assert '<title id="chart-weekly-title">Negative samples by week</title>' in html
    assert '<desc id="chart-weekly-desc">From Week 1 (50%)' in html
    assert "<details" in html and '<th scope="row">Week 2</th>' in html
    assert "style=" not in html and "<script" not in html
    assert re.search(r'role="img" aria-label="Negative samples by week\. From', html)
