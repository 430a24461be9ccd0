"""Figures as people in Jakarta write them (1.234 and 3,5), for every page lapor serves.

The dashboard and the public pages show the same league: one set of formatters keeps the
same figure printed the same way on both.
"""

from __future__ import annotations

from lapor.handlers.texts import thousands
from lapor.store.lifecycle import STATUSES, ReportStatus


def number(value: int | None) -> str:
    return "–" if value is None else thousands(value)


def decimal(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}".replace(".", ",")


def hours(value: float | None) -> str:
    if value is None:
        return "–"
    if value >= 48:
        return f"{decimal(value / 24)} hari"
    return f"{decimal(value)} jam"


def percent(value: float | None) -> str:
    return "–" if value is None else f"{round(value * 100)}%"


def status_label(status: str | None) -> str:
    if status is None:
        return "–"
    try:
        return STATUSES[ReportStatus(status)].label_id
    except ValueError:
        return status
