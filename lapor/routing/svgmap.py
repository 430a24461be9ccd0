"""A choropleth of the kelurahan, drawn on the server as one self-contained SVG.

The monitoring dashboard must work in a city office with a poor connection and a strict
content security policy, so the map is plain SVG: no tiles, fonts, scripts or style sheets
(colours are presentation attributes, which a CSP does not block). Each kelurahan is one
`<path>` with a `<title>` tooltip, optionally wrapped in a link.

Drawing choices:

* Projection: equirectangular, x scaled by cos(mean latitude), y flipped. Jakarta spans
  about 40 km, where this is within a fraction of a percent of a conformal projection.
* Simplification happens after projecting, with a tolerance of half a pixel, so detail
  is dropped only where it could not be seen, whatever the `width`; parts and holes smaller
  than a square pixel are left out (the largest part of an area is always kept).
  Jakarta's 267 boundaries come to about 100 KB at 800 px.
* Inset: areas that lie far from the rest (Kepulauan Seribu, up to 100 km out at sea) would
  shrink the mainland to a quarter of the picture. When the areas more than about 1 km
  from the largest connected group would at least double the map's extent, they are drawn
  in a framed inset in the top-left corner at their own scale, as printed maps of Jakarta
  do. `inset=False` draws everything at one scale.
* Points-only registries: a kelurahan without a boundary is loaded as its point and drawn
  as a small circle, shaded like the polygons, so a registry imported from a CSV of points
  still gets a (dot) map instead of an empty one.
* Classes: up to five, quantiles of the non-zero counts (so each class holds about the same
  number of kelurahan, which keeps contrast when a few hotspots dwarf the rest), as integer
  ranges; equal quantiles merge, so few distinct counts give fewer classes. Zero is its own
  neutral class. The palette is ColorBrewer YlOrRd.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from shapely.geometry import Point, Polygon
from shapely.geometry.base import BaseGeometry
from sqlmodel import Session

from lapor.routing.registry import load_records

# ColorBrewer YlOrRd, 5 classes (light to dark); zero gets a neutral grey.
PALETTE = ("#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026")
ZERO_COLOUR = "#e3e3e3"
STROKE_COLOUR = "#ffffff"
FRAME_COLOUR = "#9a9a9a"
_MARKER_STROKE = ' stroke="#6f6f6f"'
MAX_CLASSES = len(PALETTE)

SIMPLIFY_PX = 0.5
MIN_PART_PX2 = 1.0
# Below this (about 5 x 5 px) an area also gets a marker circle, or it could not be seen.
SMALL_AREA_PX2 = 25.0
MARKER_RADIUS_PX = 4.0
MARGIN_PX = 8.0
INSET_SHARE = 0.25  # of the drawing width, when an inset is drawn
INSET_GAP_KM = 1.0
INSET_MIN_STRETCH = 2.0  # the outliers must at least double the extent to earn an inset
LEGEND_ITEM_PX = 110.0
LEGEND_ROW_PX = 20.0
LEGEND_TITLE_PX = 20.0
LABEL_PX = 14.0
FONT_PX = 12
KM_PER_DEG = 111.32
# Smallest extent drawn, in degrees (about 1 km): one kelurahan or one point still fills
# a sensible frame instead of dividing by zero.
MIN_EXTENT_DEG = 0.01

# Jakarta's official long forms; the inset label has room for the short name only.
_KOTA_PREFIXES = ("Kabupaten Administrasi ", "Kota Administrasi ")
# Characters XML 1.0 cannot carry at all (escaping does not help).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class MapArea:
    """One kelurahan to draw: a Polygon / MultiPolygon boundary, or a Point (lon/lat)."""

    code: str
    name: str
    geometry: BaseGeometry
    kota: str = ""


def load_areas(session: Session) -> list[MapArea]:
    """Every kelurahan of the registry table, in code order.

    Kelurahan with a boundary get it; points-only rows get their point, which `render_map`
    draws as a small circle (so a points-only registry still gives a usable map).
    """
    return [
        MapArea(
            record.code,
            record.name,
            record.geometry if record.geometry is not None else Point(record.lon, record.lat),
            record.kota,
        )
        for record in load_records(session)
    ]


def class_breaks(values: Sequence[int], classes: int = MAX_CLASSES) -> list[tuple[int, int]]:
    """Integer ranges (low, high) covering 1..max(values): quantiles of the non-zero values.

    The upper bound of class k is the nearest-rank k/classes quantile; classes whose bound
    repeats the previous one merge, so [1, 1, 1, 2, 5] gives (1, 1), (2, 2), (3, 5).
    """
    if not 1 <= classes <= MAX_CLASSES:
        raise ValueError(f"classes must be 1..{MAX_CLASSES}")
    nonzero = sorted(v for v in values if v > 0)
    if not nonzero:
        return []
    n = len(nonzero)
    uppers: list[int] = []
    for k in range(1, classes + 1):
        upper = nonzero[math.ceil(k * n / classes) - 1]
        if not uppers or upper > uppers[-1]:
            uppers.append(upper)
    ranges: list[tuple[int, int]] = []
    low = 1
    for upper in uppers:
        ranges.append((low, upper))
        low = upper + 1
    return ranges


def class_colours(count: int) -> list[str]:
    """`count` colours spread over the palette, lightest first, the darkest always last."""
    if count <= 0:
        return []
    if count == 1:
        return [PALETTE[len(PALETTE) // 2]]
    top = len(PALETTE) - 1
    return [PALETTE[round(i * top / (count - 1))] for i in range(count)]


def render_map(
    areas: Sequence[MapArea],
    counts: Mapping[str, int],
    href: Callable[[str], str] | None = None,
    width: int = 800,
    title: str = "Laporan terbuka per kelurahan",
    *,
    unit: str = "laporan terbuka",
    inset: bool = True,
) -> str:
    """An SVG choropleth drawn on the server: each kelurahan a <path> shaded by its count
    (a sequential palette with up to 5 classes, zero in a neutral colour), a <title> tooltip
    "Name: N laporan terbuka", an optional <a href> per area (`href(code)`), and a legend.
    No external tiles, fonts or scripts: it works offline.

    Codes missing from `counts` count 0. Paths carry `class="area cK"` (K = 0 for zero,
    1.. for the classes, lightest first) and `data-code`; points-only areas are circles.
    """
    if width < 100:
        raise ValueError("width must be at least 100 pixels")
    value = {a.code: max(0, int(counts.get(a.code, 0))) for a in areas}
    ranges = class_breaks(list(value.values()))
    colours = class_colours(len(ranges))

    main, outliers = _split_inset(areas) if inset else (list(areas), [])
    usable = width - 2 * MARGIN_PX
    out: list[str] = []
    if outliers:
        inset_width = usable * INSET_SHARE
        main_left = MARGIN_PX + inset_width + MARGIN_PX
        main_frame = _Frame.fit(main, main_left, MARGIN_PX, width - MARGIN_PX - main_left)
        label = _inset_label(outliers)
        box_top = MARGIN_PX + (LABEL_PX if label else 0.0)
        inset_frame = _Frame.fit(
            outliers,
            MARGIN_PX,
            box_top,
            inset_width,
            max_height=max(main_frame.height - (box_top - MARGIN_PX), inset_width / 2),
        )
        content_bottom = max(main_frame.bottom, inset_frame.bottom)
        if label:
            out.append(
                f'<text x="{_num(MARGIN_PX)}" y="{_num(MARGIN_PX + LABEL_PX - 4)}" '
                f'font-size="{FONT_PX - 1}">{_text(label)}</text>'
            )
        out.append(
            f'<rect class="inset" x="{_num(inset_frame.left)}" y="{_num(inset_frame.top)}" '
            f'width="{_num(inset_frame.width)}" height="{_num(inset_frame.height)}" '
            f'fill="none" stroke="{FRAME_COLOUR}" stroke-width="1"/>'
        )
        frames = [(main_frame, main), (inset_frame, outliers)]
    else:
        main_frame = _Frame.fit(main, MARGIN_PX, MARGIN_PX, usable)
        content_bottom = main_frame.bottom
        frames = [(main_frame, main)]

    shapes: list[str] = []
    for frame, members in frames:
        for area in members:
            count = value[area.code]
            k = _class_of(count, ranges)
            colour = ZERO_COLOUR if k == 0 else colours[k - 1]
            shapes.append(_shape(area, frame, count, k, colour, unit, href))

    legend_top = content_bottom + MARGIN_PX
    legend, legend_height = _legend(ranges, colours, unit, MARGIN_PX, legend_top, usable)
    height = math.ceil(legend_top + legend_height + MARGIN_PX)
    return "".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" role="img" '
            f'font-family="sans-serif" font-size="{FONT_PX}">',
            f"<title>{_text(title)}</title>",
            *out,
            f'<g class="areas" stroke="{STROKE_COLOUR}" stroke-width="0.5" '
            'stroke-linejoin="round">',
            *shapes,
            "</g>",
            legend,
            "</svg>",
        ]
    )


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class _Frame:
    """Where a group of areas is drawn: lon/lat -> pixels, equirectangular about its middle."""

    lon0: float
    lat1: float
    kx: float
    scale: float
    left: float
    top: float
    width: float
    height: float

    @property
    def bottom(self) -> float:
        return self.top + self.height

    @classmethod
    def fit(
        cls,
        areas: Sequence[MapArea],
        left: float,
        top: float,
        width: float,
        max_height: float | None = None,
    ) -> _Frame:
        """A frame `width` wide (narrower if `max_height` binds), centred in that box."""
        if areas:
            lon_min, lat_min, lon_max, lat_max = shapely.total_bounds(
                [a.geometry for a in areas]
            ).tolist()
        else:  # an empty registry: an empty frame (around Monas) under the legend
            lon_min, lat_min, lon_max, lat_max = 106.827, -6.175, 106.827, -6.175
        kx = math.cos(math.radians((lat_min + lat_max) / 2.0))
        pad_lat = max(0.0, MIN_EXTENT_DEG - (lat_max - lat_min)) / 2.0
        pad_lon = max(0.0, MIN_EXTENT_DEG / kx - (lon_max - lon_min)) / 2.0
        lon_min, lon_max = lon_min - pad_lon, lon_max + pad_lon
        lat_min, lat_max = lat_min - pad_lat, lat_max + pad_lat
        # Markers stick out of the extent by their radius: keep them inside the frame.
        inner = width - 2 * MARKER_RADIUS_PX
        scale = inner / ((lon_max - lon_min) * kx)
        if max_height is not None:
            scale = min(scale, (max_height - 2 * MARKER_RADIUS_PX) / (lat_max - lat_min))
        drawn_width = (lon_max - lon_min) * kx * scale + 2 * MARKER_RADIUS_PX
        height = (lat_max - lat_min) * scale + 2 * MARKER_RADIUS_PX
        return cls(
            lon0=lon_min - MARKER_RADIUS_PX / (kx * scale),
            lat1=lat_max + MARKER_RADIUS_PX / scale,
            kx=kx,
            scale=scale,
            left=left + (width - drawn_width) / 2.0,
            top=top,
            width=drawn_width,
            height=height,
        )

    def project(self, coords: np.ndarray) -> np.ndarray:
        x = self.left + (coords[:, 0] - self.lon0) * self.kx * self.scale
        y = self.top + (self.lat1 - coords[:, 1]) * self.scale
        return np.column_stack((x, y))


def _split_inset(areas: Sequence[MapArea]) -> tuple[list[MapArea], list[MapArea]]:
    """(main, inset): the inset holds bounded areas far from the largest connected group.

    Groups are formed by growing every boundary by half of `INSET_GAP_KM` (in a local km
    frame) and joining what touches. Points never go to the inset: a points-only registry
    has no boundaries to judge distance by, and its points are kilometres apart anyway.
    """
    bounded = [a for a in areas if a.geometry.geom_type in ("Polygon", "MultiPolygon")]
    if len(bounded) < 2:
        return list(areas), []
    geometries = np.array([a.geometry for a in bounded], dtype=object)
    lat_mid = float(np.mean(shapely.total_bounds(geometries)[[1, 3]]))
    kx = math.cos(math.radians(lat_mid)) * KM_PER_DEG

    def km(coords: np.ndarray) -> np.ndarray:
        return np.column_stack((coords[:, 0] * kx, coords[:, 1] * KM_PER_DEG))

    local = shapely.transform(geometries, km)
    grown = shapely.union_all(shapely.buffer(local, INSET_GAP_KM / 2.0, quad_segs=2))
    groups = list(shapely.get_parts(grown))
    if len(groups) < 2:
        return list(areas), []
    tree = shapely.STRtree(groups)
    anchors = shapely.point_on_surface(local)
    group_of = np.full(len(bounded), -1)
    area_index, group_index = tree.query(anchors, predicate="within")
    group_of[area_index] = group_index
    weight = np.zeros(len(groups))
    np.add.at(weight, group_of[group_of >= 0], shapely.area(local)[group_of >= 0])
    largest = int(weight.argmax())
    far = {bounded[i].code for i in np.flatnonzero(group_of != largest).tolist()}
    main = [a for a in areas if a.code not in far]
    outliers = [a for a in areas if a.code in far]
    if not outliers:
        return main, []

    def extent(group: Sequence[MapArea]) -> float:
        x0, y0, x1, y1 = shapely.total_bounds([a.geometry for a in group]).tolist()
        return max(x1 - x0, MIN_EXTENT_DEG) * max(y1 - y0, MIN_EXTENT_DEG)

    if extent(areas) < INSET_MIN_STRETCH * extent(main):
        return list(areas), []
    return main, outliers


def _inset_label(areas: Sequence[MapArea]) -> str:
    """The kota of the inset's areas when they share one (short form), else nothing."""
    kotas = {a.kota for a in areas}
    if len(kotas) != 1:
        return ""
    kota = kotas.pop()
    for prefix in _KOTA_PREFIXES:
        kota = kota.removeprefix(prefix)
    return kota


# --------------------------------------------------------------------------- drawing


def _class_of(count: int, ranges: Sequence[tuple[int, int]]) -> int:
    if count <= 0:
        return 0
    for k, (_, high) in enumerate(ranges, start=1):
        if count <= high:
            return k
    return len(ranges)


def _shape(
    area: MapArea,
    frame: _Frame,
    count: int,
    k: int,
    colour: str,
    unit: str,
    href: Callable[[str], str] | None,
) -> str:
    tip = f"<title>{_text(area.name)}: {_count(count)} {_text(unit)}</title>"
    common = f'class="area c{k}" data-code="{_attr(area.code)}" fill="{colour}"'
    geometry = shapely.transform(area.geometry, frame.project)
    if geometry.geom_type == "Point":
        element = (
            f'<circle {common} cx="{_num(geometry.x)}" cy="{_num(geometry.y)}" '
            f'r="{_num(MARKER_RADIUS_PX)}"{_MARKER_STROKE}>{tip}</circle>'
        )
    else:
        # Exteriors wound one way and holes the other: under SVG's default nonzero fill
        # rule holes stay holes, and a marker drawn over an island adds to it (evenodd
        # would punch it out).
        simplified = shapely.orient_polygons(
            shapely.simplify(geometry, SIMPLIFY_PX, preserve_topology=True)
        )
        # Markers get a darker outline: a pale dot with a white one vanishes on the page.
        stroke = _MARKER_STROKE if geometry.area < SMALL_AREA_PX2 else ""
        element = f'<path {common} d="{_path_data(simplified, geometry)}"{stroke}>{tip}</path>'
    if href is None:
        return element
    return f'<a href="{_attr(href(area.code))}">{element}</a>'


def _path_data(geometry: BaseGeometry, original: BaseGeometry) -> str:
    """SVG path data, one subpath per ring; specks below a square pixel are left out.

    An area too small to see or click (the islands of Kepulauan Seribu in the inset) also
    gets a marker circle on its largest part, inside the same path, so that its colour shows
    and its tooltip and link can be reached.
    """
    polygons = [p for p in shapely.get_parts(geometry) if isinstance(p, Polygon) and not p.is_empty]
    polygons.sort(key=lambda p: p.area, reverse=True)
    kept = polygons[:1] + [p for p in polygons[1:] if p.area >= MIN_PART_PX2]
    subpaths: list[str] = []
    for polygon in kept:
        rings = [polygon.exterior] + [
            r for r in polygon.interiors if Polygon(r).area >= MIN_PART_PX2
        ]
        for ring in rings:
            data = _ring(np.asarray(ring.coords))
            if data:
                subpaths.append(data)
    if not subpaths or original.area < SMALL_AREA_PX2:
        parts = sorted(shapely.get_parts(original), key=lambda p: p.area, reverse=True)
        anchor = parts[0].representative_point()
        subpaths.append(_circle(anchor.x, anchor.y, MARKER_RADIUS_PX))
    return "".join(subpaths)


def _circle(x: float, y: float, r: float) -> str:
    """A circle as path data: two half-circle arcs, wound like the exteriors (sweep 1)."""
    return (
        f"M{_num(x - r)},{_num(y)}a{_num(r)},{_num(r)} 0 1,1 {_num(2 * r)},0"
        f"a{_num(r)},{_num(r)} 0 1,1 {_num(-2 * r)},0Z"
    )


def _ring(coords: np.ndarray) -> str:
    """ "Mx,y x,y ...Z" at 0.1 px, repeated points (after rounding) dropped."""
    return _ring_path(f"{_num(x)},{_num(y)}" for x, y in coords.tolist())


def _ring_path(formatted: Iterable[str]) -> str:
    """A closed path through points already written out; repeats dropped, and nothing for
    a ring that comes to fewer than three points."""
    points: list[str] = []
    for point in formatted:
        if not points or point != points[-1]:
            points.append(point)
    if len(points) > 1 and points[0] == points[-1]:
        points.pop()
    if len(points) < 3:
        return ""
    return "M" + " ".join(points) + "Z"


def _legend(
    ranges: Sequence[tuple[int, int]],
    colours: Sequence[str],
    unit: str,
    left: float,
    top: float,
    width: float,
) -> tuple[str, float]:
    """The legend below the map: a title and a row (wrapping) of swatches; and its height."""
    items = [("0", ZERO_COLOUR, 0)] + [
        (_count(low) if low == high else f"{_count(low)}–{_count(high)}", colour, k)
        for k, ((low, high), colour) in enumerate(zip(ranges, colours, strict=True), start=1)
    ]
    per_row = max(1, int(width // LEGEND_ITEM_PX))
    heading = unit[:1].upper() + unit[1:]
    rows = math.ceil(len(items) / per_row)
    parts = [
        f'<g class="legend" transform="translate({_num(left)},{_num(top)})">',
        f'<text x="0" y="{_num(FONT_PX)}" font-weight="bold">{_text(heading)}</text>',
    ]
    for i, (label, colour, k) in enumerate(items):
        x = (i % per_row) * LEGEND_ITEM_PX
        y = LEGEND_TITLE_PX + (i // per_row) * LEGEND_ROW_PX
        parts.append(
            f'<rect class="c{k}" x="{_num(x)}" y="{_num(y)}" width="14" height="14" '
            f'fill="{colour}" stroke="{FRAME_COLOUR}" stroke-width="0.5"/>'
            f'<text x="{_num(x + 20)}" y="{_num(y + 11)}">{_text(label)}</text>'
        )
    parts.append("</g>")
    return "".join(parts), LEGEND_TITLE_PX + rows * LEGEND_ROW_PX


# --------------------------------------------------------------------------- text


def _num(value: float) -> str:
    """A coordinate at 0.1 px, without a useless ".0" or a negative zero."""
    text = f"{value:.1f}".removesuffix(".0")
    return "0" if text == "-0" else text


def _count(value: int) -> str:
    """1.234: Indonesian thousands separators."""
    return f"{value:,}".replace(",", ".")


def _clean(text: Any) -> str:
    return _NOT_XML.sub("", str(text))


def _text(text: Any) -> str:
    return _clean(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attr(text: Any) -> str:
    return _text(text).replace('"', "&quot;")


# --------------------------------------------------------------------------- pins
#
# The public map: the kelurahan outlines as a quiet background and the reports as pins,
# clustered on a grid per zoom level, drawn on the server like the choropleth. Zooming and
# panning are links that change the view's query parameters, so the page needs no script,
# no tiles and nothing from another host (the public pages keep a strict CSP).

MAX_ZOOM = 5
# The grid cell pins are gathered in: on a phone (the 800 px map shown 360 px wide) about a
# fingertip, and few enough cells that a city-wide view stays a small page.
CLUSTER_PX = 60.0
# Drawn 800 px wide, the map is shown about 340 px wide on a phone: a pin of 12 px is a
# dot of 10 px there, enough to see and to tap.
PIN_RADIUS_PX = 12.0
# Coarser than the choropleth, in whole pixels: outlines are only a background, and a
# city-wide view of 267 of them must leave room in a page under 100 KB.
OUTLINE_SIMPLIFY_PX = 1.5
OUTLINE_FILL = "#f3f3f0"
OUTLINE_STROKE = "#a8a8a0"
PIN_OPEN = "#d7301f"
PIN_RESOLVED = "#238b45"
CLUSTER_FILL = "#3a5a98"


@dataclass(frozen=True)
class MapPin:
    """One report on the map: where it is, its tooltip, its page, open or resolved."""

    key: str
    lon: float
    lat: float
    title: str
    href: str
    open: bool = True


@dataclass(frozen=True)
class View:
    """The part of the city shown: its bounds, its zoom level and its centre (lon/lat)."""

    lon_min: float
    lat_min: float
    lon_max: float
    lat_max: float
    zoom: int
    lon: float
    lat: float

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return (self.lon_min, self.lat_min, self.lon_max, self.lat_max)

    def shifted(self, east: float, north: float) -> tuple[float, float]:
        """The centre moved by `east`/`north` view widths/heights (for the pan links)."""
        return (
            self.lon + east * (self.lon_max - self.lon_min),
            self.lat + north * (self.lat_max - self.lat_min),
        )


@dataclass(frozen=True)
class Cluster:
    """Pins that fall in one grid cell at this zoom: drawn as one circle with their count."""

    x: float
    y: float
    lon: float
    lat: float
    pins: tuple[MapPin, ...]


def full_extent(areas: Sequence[MapArea]) -> tuple[float, float, float, float]:
    """(lon_min, lat_min, lon_max, lat_max) of the areas worth a map at zoom 0: the mainland
    (far-off islands would shrink it to a quarter, as in the choropleth), padded to at
    least `MIN_EXTENT_DEG`."""
    main, _ = _split_inset(areas)
    if main:
        lon_min, lat_min, lon_max, lat_max = shapely.total_bounds(
            [a.geometry for a in main]
        ).tolist()
    else:
        lon_min, lat_min, lon_max, lat_max = 106.827, -6.175, 106.827, -6.175
    pad_lat = max(0.0, MIN_EXTENT_DEG - (lat_max - lat_min)) / 2.0
    pad_lon = max(0.0, MIN_EXTENT_DEG - (lon_max - lon_min)) / 2.0
    return (lon_min - pad_lon, lat_min - pad_lat, lon_max + pad_lon, lat_max + pad_lat)


def pin_view(
    extent: tuple[float, float, float, float],
    zoom: int = 0,
    centre: tuple[float, float] | None = None,
) -> View:
    """The view at `zoom` (0 = the whole extent, each level halves it) around `centre`
    (lon, lat), moved back inside the extent when it would leave it; out-of-range zooms
    are brought to the nearest level."""
    zoom = min(max(zoom, 0), MAX_ZOOM)
    lon_min, lat_min, lon_max, lat_max = extent
    span_lon = (lon_max - lon_min) / 2**zoom
    span_lat = (lat_max - lat_min) / 2**zoom
    lon, lat = centre or ((lon_min + lon_max) / 2.0, (lat_min + lat_max) / 2.0)
    lon = min(max(lon, lon_min + span_lon / 2.0), lon_max - span_lon / 2.0)
    lat = min(max(lat, lat_min + span_lat / 2.0), lat_max - span_lat / 2.0)
    return View(
        lon - span_lon / 2.0,
        lat - span_lat / 2.0,
        lon + span_lon / 2.0,
        lat + span_lat / 2.0,
        zoom,
        lon,
        lat,
    )


def view_frame(view: View, width: int) -> _Frame:
    """Pixels for `view`, `width` wide, equirectangular about its middle latitude."""
    kx = math.cos(math.radians((view.lat_min + view.lat_max) / 2.0))
    scale = width / ((view.lon_max - view.lon_min) * kx)
    height = (view.lat_max - view.lat_min) * scale
    return _Frame(view.lon_min, view.lat_max, kx, scale, 0.0, 0.0, float(width), height)


def cluster_pins(pins: Sequence[MapPin], frame: _Frame, cell: float = CLUSTER_PX) -> list[Cluster]:
    """Pins gathered per grid cell of `cell` pixels, each cluster at its pins' mean; in the
    order of each cell's first pin (so the newest report's cell comes first)."""
    if not pins:
        return []
    coords = np.array([(p.lon, p.lat) for p in pins], dtype=float)
    xy = frame.project(coords)
    cells: dict[tuple[int, int], list[int]] = {}
    for i, (x, y) in enumerate(xy.tolist()):
        cells.setdefault((math.floor(x / cell), math.floor(y / cell)), []).append(i)
    clusters = []
    for members in cells.values():
        x, y = xy[members].mean(axis=0).tolist()
        lon, lat = coords[members].mean(axis=0).tolist()
        clusters.append(Cluster(x, y, lon, lat, tuple(pins[i] for i in members)))
    return clusters


def render_pin_map(
    areas: Sequence[MapArea],
    pins: Sequence[MapPin],
    view: View,
    *,
    zoom_href: Callable[[int, float, float], str] | None = None,
    width: int = 800,
    title: str = "Peta laporan",
    crowded_href: str = "#daftar",
    outlines: str | None = None,
) -> str:
    """An SVG of `view`: kelurahan outlines (clipped to the view), then the pins, clustered.

    A lone pin is a circle linking to its report (`pin.href`), red while open and green
    once resolved. Several pins in one cell are one circle with their count, linking to
    the next zoom level around them (`zoom_href(zoom, lon, lat)`); at the deepest level,
    or without `zoom_href`, to `crowded_href` (the list under the map). `outlines` is
    `render_outlines(areas, view, width)` made earlier (it depends on nothing else).
    """
    if width < 100:
        raise ValueError("width must be at least 100 pixels")
    frame = view_frame(view, width)
    height = math.ceil(frame.height)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" '
        f'font-family="sans-serif" font-size="{FONT_PX}">',
        f"<title>{_text(title)}</title>",
        f'<rect width="{width}" height="{height}" fill="#dfe9f2"/>',
        render_outlines(areas, view, width) if outlines is None else outlines,
        f'<g class="pins" stroke="#ffffff" stroke-width="2" fill="{CLUSTER_FILL}" '
        'text-anchor="middle" font-weight="bold">',
    ]
    for cluster in cluster_pins([p for p in pins if _inside(p, view)], frame):
        out.append(_cluster(cluster, view, zoom_href, crowded_href))
    out += ["</g>", "</svg>"]
    return "".join(out)


def _inside(pin: MapPin, view: View) -> bool:
    return view.lon_min <= pin.lon <= view.lon_max and view.lat_min <= pin.lat <= view.lat_max


def render_outlines(areas: Sequence[MapArea], view: View, width: int = 800) -> str:
    """Every kelurahan in the view as a plain outline: one path each, no tooltip or link
    (the pins are what the page is about), clipped a little beyond the view. The part of
    the pin map that depends only on the registry and the view, so it can be kept."""
    frame = view_frame(view, width)
    margin_lon = (view.lon_max - view.lon_min) * 0.05
    margin_lat = (view.lat_max - view.lat_min) * 0.05
    box = (
        view.lon_min - margin_lon,
        view.lat_min - margin_lat,
        view.lon_max + margin_lon,
        view.lat_max + margin_lat,
    )
    parts = [
        f'<g class="outlines" fill="{OUTLINE_FILL}" stroke="{OUTLINE_STROKE}" '
        'stroke-width="0.7" stroke-linejoin="round">'
    ]
    points = [a for a in areas if a.geometry.geom_type == "Point"]
    for area in points:
        geometry = area.geometry
        if box[0] <= geometry.x <= box[2] and box[1] <= geometry.y <= box[3]:
            x, y = frame.project(np.array([[geometry.x, geometry.y]]))[0].tolist()
            parts.append(f'<circle cx="{_num(x)}" cy="{_num(y)}" r="2.5"/>')
    bounded = [a for a in areas if a.geometry.geom_type != "Point"]
    # One call each for all areas (shapely works on arrays): a loop of 267 calls cost
    # three times as much as the drawing itself.
    geometries = np.array([a.geometry for a in bounded], dtype=object)
    clipped = shapely.clip_by_rect(geometries, *box)
    drawn = shapely.simplify(
        shapely.transform(clipped, frame.project), OUTLINE_SIMPLIFY_PX, preserve_topology=True
    )
    for area, geometry in zip(bounded, drawn.tolist(), strict=True):
        if geometry is None or geometry.is_empty:
            continue
        polygons = [p for p in shapely.get_parts(geometry) if isinstance(p, Polygon)]
        data = "".join(
            _whole_ring(np.asarray(p.exterior.coords)) for p in polygons if p.area >= MIN_PART_PX2
        )
        if data:
            parts.append(f'<path data-code="{_attr(area.code)}" d="{data}"/>')
    parts.append("</g>")
    return "".join(parts)


def _whole_ring(coords: np.ndarray) -> str:
    """ "Mx,y x,y ...Z" in whole pixels, repeated points dropped (an outline's precision)."""
    return _ring_path(f"{x},{y}" for x, y in np.rint(coords).astype(int).tolist())


def _cluster(
    cluster: Cluster,
    view: View,
    zoom_href: Callable[[int, float, float], str] | None,
    crowded_href: str,
) -> str:
    x, y = _num(cluster.x), _num(cluster.y)
    if len(cluster.pins) == 1:
        pin = cluster.pins[0]
        colour = PIN_OPEN if pin.open else PIN_RESOLVED
        state = "open" if pin.open else "resolved"
        return (
            f'<a href="{_attr(pin.href)}"><circle class="pin {state}" data-key="{_attr(pin.key)}" '
            f'cx="{x}" cy="{y}" r="{_num(PIN_RADIUS_PX)}" fill="{colour}">'
            f"<title>{_text(pin.title)}</title></circle></a>"
        )
    count = len(cluster.pins)
    radius = min(26.0, 16.0 + 6.0 * math.log10(count))
    if zoom_href is not None and view.zoom < MAX_ZOOM:
        href = zoom_href(view.zoom + 1, cluster.lon, cluster.lat)
    else:
        href = crowded_href
    # Stroke, fill and text settings sit on the enclosing group (`render_pin_map`): a
    # city-wide view has a few hundred clusters, and each repeated attribute adds up.
    return (
        f'<a href="{_attr(href)}"><g class="cluster" data-count="{count}">'
        f'<circle cx="{x}" cy="{y}" r="{_num(radius)}"/>'
        f'<text x="{x}" y="{_num(cluster.y + 4)}" fill="#ffffff" stroke="none">'
        f"{_count(count)}</text>"
        f"<title>{_count(count)} laporan</title></g></a>"
    )
