"""The small parts: CSV cells, the bar chart, where a login may send you."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest

from lapor.bot.dashboard.charts import bar_chart
from lapor.bot.dashboard.csvout import lines
from lapor.bot.dashboard.security import safe_next


def test_csv_cells_cannot_smuggle_formulas_but_numbers_stay_numbers() -> None:
    text = lines([['=HYPERLINK("http://x")', "+1", "@SUM(A1)", "-cmd", "biasa", -6.175, None]])
    assert next(csv.reader(io.StringIO(text))) == [
        '\'=HYPERLINK("http://x")',
        "'+1",
        "'@SUM(A1)",
        "'-cmd",
        "biasa",
        "-6.175",
        "",
    ]
    assert text.endswith("\r\n")


def test_the_bar_chart_has_a_bar_per_day_and_whole_number_gridlines() -> None:
    start = date(2026, 10, 30)
    points = [(start + timedelta(days=i), i % 4) for i in range(30)]
    svg = str(bar_chart(points))
    assert svg.count('<rect class="bar"') == 30
    assert "style=" not in svg
    assert "<title>28 Nov 2026: 1 laporan</title>" in svg
    # The peak (3) rounds up to 5; gridlines at 0, 2 and 5.
    assert [t for t in (">0<", ">2<", ">5<") if t in svg] == [">0<", ">2<", ">5<"]
    assert ">28 Nov<" in svg and ">21 Nov<" in svg
    empty = str(bar_chart([(start, 0)]))
    assert empty.count('<rect class="bar"') == 1 and 'height="0.0"' in empty


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("", "/dashboard/"),
        ("/dashboard/reports?status=open", "/dashboard/reports?status=open"),
        ("https://evil.example/dashboard/", "/dashboard/"),
        ("//evil.example/dashboard/", "/dashboard/"),
        ("/dashboard", "/dashboard/"),
        ("/dashboard/\\\\evil.example", "/dashboard/"),
        ("javascript:alert(1)", "/dashboard/"),
    ],
)
def test_after_login_only_dashboard_paths_are_followed(target: str, expected: str) -> None:
    assert safe_next(target, "/dashboard") == expected
