"""Charts drawn on the server as inline SVG: no JavaScript, nothing fetched from elsewhere.

Colours come from classes in dashboard.css, never from `style` attributes, which the
dashboard's Content-Security-Policy (`style-src 'self'`) would refuse to apply.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from markupsafe import Markup, escape

from lapor.handlers.texts import day_text, month_name, thousands


def _nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50... at or above `value`: round axis labels."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def bar_chart(
    points: Sequence[tuple[date, int]],
    *,
    width: int = 720,
    height: int = 220,
    unit: str = "laporan",
    label: str = "Laporan per hari",
) -> Markup:
    """Bars per day, a y-axis with three gridlines, a date under every seventh bar."""
    left, right, top, bottom = 40, 8, 18, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = _nice_ceiling(max((count for _, count in points), default=0) or 1)
    slot = plot_w / max(len(points), 1)
    bar_w = max(slot * 0.75, 1.0)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
    ]
    # Counts are whole numbers: no gridline at 0.5.
    for value in sorted({0, peak // 2, peak}):
        y = top + plot_h * (1 - value / peak)
        text = thousands(value)
        parts.append(
            f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="axis" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{text}</text>'
        )
    for index, (day, count) in enumerate(points):
        x = left + index * slot + (slot - bar_w) / 2
        bar_h = plot_h * count / peak
        y = top + plot_h - bar_h
        tip = escape(f"{day_text(day, 'id')}: {count} {unit}")
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" '
            f'height="{bar_h:.1f}"><title>{tip}</title></rect>'
        )
        # Every seventh day, counted back from the last, so today always has its date.
        if (len(points) - 1 - index) % 7 == 0:
            # The last label ends at its bar, or a phone's larger type would cut it off.
            last = index == len(points) - 1
            anchor, at = ("end", x + bar_w) if last else ("middle", x + bar_w / 2)
            parts.append(
                f'<text class="axis" x="{at:.1f}" y="{height - 12}" '
                f'text-anchor="{anchor}">{day.day} {month_name(day.month, "id")}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))
