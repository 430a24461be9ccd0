"""Every query parameter of the public pages, read and checked here, once.

Whatever a link carries is hostile until read: a value that is not one of the known
categories or statuses, a zoom level that does not exist, a coordinate that is no number,
is named in a 400 page (Bahasa Indonesia first), never passed on. A centre outside the
city is not an error: the view is moved back inside it. Parameters we do not know are
ignored.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from lapor.routing.svgmap import MAX_ZOOM
from lapor.store.public import OPEN, RESOLVED

# The map's status filter: what a citizen asks ("still being handled?", "fixed lately?").
STATUS_FILTERS: dict[str, str] = {
    "": "Semua",
    OPEN: "Belum selesai",
    RESOLVED: "Selesai (30 hari terakhir)",
}
_ZOOM = re.compile(r"[0-9]{1,2}")
# A decimal degree as a link writes it: plain ASCII digits, at most 8 decimals.
_DEGREES = re.compile(r"-?[0-9]{1,3}(?:\.[0-9]{1,8})?")
MAX_VALUE = 100  # characters of a parameter value echoed in an error message


class QueryError(ValueError):
    """Parameters that make no sense; `messages` are shown to the visitor as they are."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


@dataclass(frozen=True)
class MapQuery:
    category: str | None = None  # slug
    status: str | None = None  # OPEN, RESOLVED or None for both
    zoom: int = 0
    centre: tuple[float, float] | None = None  # lon, lat

    def params(self, **override: Any) -> dict[str, str]:
        """As query parameters (empty ones left out), for links."""
        values = replace(self, **override)
        out = {"category": values.category or "", "status": values.status or ""}
        if values.zoom:
            out["z"] = str(values.zoom)
            if values.centre is not None:
                out["lat"] = f"{values.centre[1]:.5f}"
                out["lon"] = f"{values.centre[0]:.5f}"
        return {k: v for k, v in out.items() if v}

    def query(self, **override: Any) -> str:
        encoded = urlencode(self.params(**override))
        return f"?{encoded}" if encoded else ""


def shown_value(value: str) -> str:
    """A value as an error message may quote it: short, one line."""
    one_line = " ".join(value.split())
    return one_line if len(one_line) <= MAX_VALUE else one_line[: MAX_VALUE - 1] + "…"


def _degrees(raw: str, low: float, high: float) -> float | None:
    if not _DEGREES.fullmatch(raw):
        return None
    value = float(raw)
    return value if math.isfinite(value) and low <= value <= high else None


def parse_map_query(params: Mapping[str, str], categories: Mapping[str, str]) -> MapQuery:
    """Read /peta's parameters; raises `QueryError` naming every bad value."""
    errors: list[str] = []

    def value(name: str) -> str | None:
        raw = params.get(name, "").strip()
        return raw or None

    category = value("category")
    if category is not None and category not in categories:
        errors.append(f"Kategori '{shown_value(category)}' tidak dikenal. / Unknown category.")
    status = value("status")
    if status is not None and status not in STATUS_FILTERS:
        errors.append(
            f"Status '{shown_value(status)}' tidak dikenal: pilih 'open' atau 'resolved'. "
            "/ Unknown status."
        )
    zoom = 0
    raw_zoom = value("z")
    if raw_zoom is not None:
        if _ZOOM.fullmatch(raw_zoom) and int(raw_zoom) <= MAX_ZOOM:
            zoom = int(raw_zoom)
        else:
            errors.append(
                f"Tingkat zoom '{shown_value(raw_zoom)}' tidak ada: 0 sampai {MAX_ZOOM}. "
                f"/ Zoom is 0 to {MAX_ZOOM}."
            )
    centre = None
    raw_lat, raw_lon = value("lat"), value("lon")
    if raw_lat is not None or raw_lon is not None:
        lat = _degrees(raw_lat or "", -90.0, 90.0)
        lon = _degrees(raw_lon or "", -180.0, 180.0)
        if lat is None or lon is None:
            errors.append(
                "Titik tengah peta tidak valid: lat (-90..90) dan lon (-180..180) berupa "
                "angka desimal, keduanya. / The map centre needs lat and lon in degrees."
            )
        else:
            centre = (lon, lat)
    if errors:
        raise QueryError(errors)
    return MapQuery(category=category, status=status, zoom=zoom, centre=centre)
