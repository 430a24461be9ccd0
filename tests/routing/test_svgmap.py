"""The server-drawn SVG choropleth: well-formed, shaded by class, escaped, inside its viewBox."""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest
from shapely.geometry import MultiPolygon, Point, Polygon, box
from sqlalchemy.engine import Engine

from lapor.routing import DEMO_REGISTRY, import_registry, parse_registry
from lapor.routing.svgmap import (
    MAX_ZOOM,
    PALETTE,
    ZERO_COLOUR,
    MapArea,
    MapPin,
    class_breaks,
    class_colours,
    cluster_pins,
    full_extent,
    load_areas,
    pin_view,
    render_map,
    render_pin_map,
    view_frame,
)
from lapor.store.db import new_session, transaction
from lapor.store.models import Kelurahan
from tests.routing import JAKARTA_GEOJSON, needs_data

SVG = "{http://www.w3.org/2000/svg}"
NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
BUDGET = 400_000


def _parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def _shapes(root: ET.Element) -> dict[str, ET.Element]:
    """Every area's element (path or circle) by its data-code; fails on a repeated code."""
    found: dict[str, ET.Element] = {}
    for element in root.iter():
        code = element.get("data-code")
        if code is not None:
            assert code not in found, f"{code} drawn twice"
            found[code] = element
    return found


def _links(root: ET.Element) -> dict[str, str]:
    return {link[0].get("data-code", ""): link.get("href", "") for link in root.iter(f"{SVG}a")}


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _extent(d: str) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of path data as render_map writes it: absolute point lists, and
    marker circles "Mx,y a r,r 0 1,1 2r,0 a ..." drawn to the right of their start."""
    xs: list[float] = []
    ys: list[float] = []
    for sub in filter(None, d.split("M")):
        if "a" in sub:
            x, y, r = (float(v) for v in _NUMBER.findall(sub)[:3])
            xs += [x, x + 2 * r]
            ys += [y - r, y + r]
            continue
        numbers = [float(v) for v in _NUMBER.findall(sub)]
        xs += numbers[0::2]
        ys += numbers[1::2]
    return min(xs), min(ys), max(xs), max(ys)


def _view_box(root: ET.Element) -> tuple[float, float, float, float]:
    x, y, w, h = (float(v) for v in root.get("viewBox", "").split())
    return x, y, x + w, y + h


def _inside(inner: tuple[float, ...], outer: tuple[float, ...]) -> bool:
    return (
        outer[0] <= inner[0] <= inner[2] <= outer[2]
        and outer[1] <= inner[1] <= inner[3] <= outer[3]
    )


# --------------------------------------------------------------------------- classes


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], []),
        ([0, 0, 0], []),
        ([4], [(1, 4)]),
        ([1, 1, 1, 2, 5], [(1, 1), (2, 2), (3, 5)]),
        (list(range(1, 11)), [(1, 2), (3, 4), (5, 6), (7, 8), (9, 10)]),
        # Zeros do not shift the quantiles of the rest.
        ([0] * 50 + list(range(1, 11)), [(1, 2), (3, 4), (5, 6), (7, 8), (9, 10)]),
        # Skewed: 18 non-zero counts, quintile ranks 4, 8, 11, 15, 18 hold 1, 1, 2, 7, 120;
        # the repeated 1 merges two classes into one.
        ([1] * 8 + [2] * 4 + [3, 3, 7, 9, 40, 120], [(1, 1), (2, 2), (3, 7), (8, 120)]),
    ],
)
def test_class_breaks_are_quantiles_of_the_non_zero_counts(
    values: list[int], expected: list[tuple[int, int]]
) -> None:
    assert class_breaks(values) == expected


def test_class_colours_spread_over_the_palette_darkest_last() -> None:
    assert class_colours(5) == list(PALETTE)
    assert class_colours(3) == [PALETTE[0], PALETTE[2], PALETTE[4]]
    assert class_colours(2) == [PALETTE[0], PALETTE[4]]
    assert class_colours(1) == [PALETTE[2]]
    assert class_colours(0) == []


# --------------------------------------------------------------------------- drawing


def _areas() -> list[MapArea]:
    donut = Polygon(
        [(106.80, -6.20), (106.84, -6.20), (106.84, -6.16), (106.80, -6.16)],
        [[(106.81, -6.19), (106.81, -6.17), (106.83, -6.17), (106.83, -6.19)]],
    )
    return [
        MapArea("K.1", 'Kel "Satu" <b> & co', donut),
        MapArea("K.2", "Dua", box(106.84, -6.20, 106.88, -6.16)),
        MapArea(
            "K.3",
            "Tiga",
            MultiPolygon([box(106.80, -6.24, 106.84, -6.20), box(106.85, -6.23, 106.86, -6.22)]),
        ),
        MapArea("K.4", "Empat", box(106.84, -6.24, 106.88, -6.20)),
        MapArea("K.5", "Lima (titik)", Point(106.86, -6.18)),
    ]


def test_each_area_is_one_shaded_element_with_a_tooltip() -> None:
    counts = {"K.1": 1, "K.2": 5, "K.3": 0, "K.5": 12, "ELSEWHERE": 99}  # K.4 missing: 0
    root = _parse(render_map(_areas(), counts))
    shapes = _shapes(root)

    assert set(shapes) == {"K.1", "K.2", "K.3", "K.4", "K.5"}
    assert [shapes[c].tag for c in ("K.1", "K.2", "K.3", "K.4")] == [f"{SVG}path"] * 4
    assert shapes["K.5"].tag == f"{SVG}circle"  # a points-only kelurahan
    # Non-zero counts 1, 5, 12 give three classes: 1, 2-5, 6-12; 99 is for no drawn area.
    classes = {code: element.get("class") for code, element in shapes.items()}
    assert classes == {
        "K.1": "area c1",
        "K.2": "area c2",
        "K.3": "area c0",
        "K.4": "area c0",
        "K.5": "area c3",
    }
    fills = {code: element.get("fill") for code, element in shapes.items()}
    assert fills == {
        "K.1": PALETTE[0],
        "K.2": PALETTE[2],
        "K.3": ZERO_COLOUR,
        "K.4": ZERO_COLOUR,
        "K.5": PALETTE[4],
    }
    tips = {code: element.findtext(f"{SVG}title") for code, element in shapes.items()}
    assert tips["K.1"] == 'Kel "Satu" <b> & co: 1 laporan terbuka'
    assert tips["K.3"] == "Tiga: 0 laporan terbuka"
    assert tips["K.5"] == "Lima (titik): 12 laporan terbuka"
    # The hole is a subpath of its own; the multipolygon's two parts too.
    assert shapes["K.1"].get("d", "").count("M") == 2
    assert shapes["K.3"].get("d", "").count("M") == 2
    assert root.findtext(f"{SVG}title") == "Laporan terbuka per kelurahan"


def test_links_are_escaped_and_optional() -> None:
    def href(code: str) -> str:
        return f'/dashboard/kelurahan/{code}?from=map&q="<x>"'

    svg = render_map(_areas(), {"K.1": 3}, href=href)
    assert '&q="' not in svg and "<x>" not in svg and "<b>" not in svg
    links = _links(_parse(svg))
    assert links == {code: href(code) for code in ("K.1", "K.2", "K.3", "K.4", "K.5")}

    plain = _parse(render_map(_areas(), {"K.1": 3}))
    assert list(plain.iter(f"{SVG}a")) == []


def test_characters_xml_cannot_carry_are_dropped() -> None:
    areas = [MapArea("K\x01.1", "Nama\x0bAneh\x1f", box(106.8, -6.2, 106.81, -6.19))]
    root = _parse(render_map(areas, {}, title="Peta\x00"))
    (element,) = _shapes(root).values()
    assert element.findtext(f"{SVG}title") == "NamaAneh: 0 laporan terbuka"


def test_legend_lists_zero_and_every_class() -> None:
    root = _parse(render_map(_areas(), {"K.1": 1, "K.2": 5, "K.5": 12}))
    (legend,) = [g for g in root.iter(f"{SVG}g") if g.get("class") == "legend"]
    texts = [t.text for t in legend.iter(f"{SVG}text")]
    assert texts == ["Laporan terbuka", "0", "1", "2–5", "6–12"]
    swatches = [(r.get("class"), r.get("fill")) for r in legend.iter(f"{SVG}rect")]
    assert swatches == [
        ("c0", ZERO_COLOUR),
        ("c1", PALETTE[0]),
        ("c2", PALETTE[2]),
        ("c3", PALETTE[4]),
    ]
    # No counts at all: the map still draws, all neutral, with just the zero swatch.
    empty = _parse(render_map(_areas(), {}))
    assert {e.get("class") for e in _shapes(empty).values()} == {"area c0"}


def test_the_map_is_self_contained_and_inside_its_view_box() -> None:
    svg = render_map(_areas(), {"K.2": 2}, width=600)
    root = _parse(svg)
    assert root.get("width") == "600"
    assert _view_box(root)[2] == 600
    for tag in ("script", "image", "style", "foreignObject", "use"):
        assert not list(root.iter(f"{SVG}{tag}")), tag
    assert "url(" not in svg and "@import" not in svg
    assert re.findall(r"https?://[^\"]*", svg) == ["http://www.w3.org/2000/svg"]
    view = _view_box(root)
    for code, element in _shapes(root).items():
        if element.tag == f"{SVG}circle":
            x, y, r = (float(element.get(k, "nan")) for k in ("cx", "cy", "r"))
            extent = (x - r, y - r, x + r, y + r)
        else:
            extent = _extent(element.get("d", ""))
        assert _inside(extent, view), code
    # One decimal at most in coordinates.
    assert not re.search(r"\d\.\d\d", " ".join(e.get("d", "") for e in root.iter(f"{SVG}path")))


def test_an_empty_registry_still_gives_a_valid_svg() -> None:
    root = _parse(render_map([], {"X": 3}))
    assert _shapes(root) == {}
    assert [g for g in root.iter(f"{SVG}g") if g.get("class") == "legend"]


def test_load_areas_reads_boundaries_and_points(engine: Engine) -> None:
    # The demo's polygons under real-looking codes: a demo kelurahan is never drawn beside
    # a real one (tests/routing/test_registry.py).
    polygons = [
        dataclasses.replace(r, code=r.code.replace("DEMO.", "K."))
        for r in parse_registry(DEMO_REGISTRY)
    ]
    with transaction(engine) as session:
        import_registry(session, polygons, NOW)
        session.add(
            Kelurahan(
                code="PT.01",
                name="Titik",
                kecamatan="K",
                kota="Kota Titik",
                latitude=-6.15,
                longitude=106.83,
                updated_at=NOW,
            )
        )
    with new_session(engine) as session:
        areas = load_areas(session)
    assert [a.code for a in areas] == ["K.01", "K.02", "K.03", "K.04", "K.05", "PT.01"]
    assert {a.geometry.geom_type for a in areas[:5]} == {"Polygon"}
    assert areas[0].name == "Gambir (demo)" and areas[0].kota == "Jakarta Pusat (demo)"
    point = areas[5].geometry
    assert (point.geom_type, point.x, point.y) == ("Point", 106.83, -6.15)
    root = _parse(render_map(areas, {"K.02": 4, "PT.01": 1}))
    shapes = _shapes(root)
    assert len([e for e in shapes.values() if e.tag == f"{SVG}path"]) == 5
    assert shapes["PT.01"].tag == f"{SVG}circle"
    # Five neighbours around Monas: nothing is far enough away for an inset.
    assert not [r for r in root.iter(f"{SVG}rect") if r.get("class") == "inset"]


# --------------------------------------------------------------------------- Jakarta


@pytest.fixture(scope="module")
def jakarta() -> list[MapArea]:
    records = parse_registry(JAKARTA_GEOJSON)
    return [MapArea(r.code, r.name, r.geometry, r.kota) for r in records]  # type: ignore[arg-type]


def _counts(areas: list[MapArea]) -> dict[str, int]:
    # A skewed, repeatable spread: many zeros and small counts, a few hotspots.
    return {a.code: (k * 7919) % 97 // 9 if k % 4 else 0 for k, a in enumerate(areas)}


@needs_data(JAKARTA_GEOJSON)
def test_jakarta_renders_under_budget_inside_the_view_box(jakarta: list[MapArea]) -> None:
    counts = _counts(jakarta)
    svg = render_map(jakarta, counts, href=lambda code: f"/dashboard/kelurahan/{code}")
    assert len(svg.encode()) < BUDGET, len(svg.encode())
    root = _parse(svg)
    shapes = _shapes(root)
    assert len(shapes) == 267
    assert all(element.tag == f"{SVG}path" for element in shapes.values())
    view = _view_box(root)
    for code, element in shapes.items():
        assert _inside(_extent(element.get("d", "")), view), code
    ranges = class_breaks(list(counts.values()))
    assert len(ranges) == 5
    for code, element in shapes.items():
        count = counts[code]
        k = 0 if count == 0 else next(i for i, (_, hi) in enumerate(ranges, 1) if count <= hi)
        assert element.get("class") == f"area c{k}", code


@needs_data(JAKARTA_GEOJSON)
def test_jakarta_draws_kepulauan_seribu_in_an_inset(jakarta: list[MapArea]) -> None:
    root = _parse(render_map(jakarta, _counts(jakarta)))
    (frame,) = [r for r in root.iter(f"{SVG}rect") if r.get("class") == "inset"]
    x, y, w, h = (float(frame.get(k, "nan")) for k in ("x", "y", "width", "height"))
    inset = (x, y, x + w, y + h)
    assert any(t.text == "Kepulauan Seribu" for t in root.iter(f"{SVG}text"))
    shapes = _shapes(root)
    islands = {code for code in shapes if code.startswith("31.01.")}
    assert len(islands) == 6
    for code, element in shapes.items():
        extent = _extent(element.get("d", ""))
        if code in islands:
            assert _inside(extent, inset), code
        else:
            assert extent[0] > inset[2], code  # the mainland is drawn right of the inset
    # The mainland fills most of the width instead of a quarter of the height.
    mainland = [_extent(shapes[c].get("d", "")) for c in shapes if c not in islands]
    assert max(e[2] for e in mainland) - min(e[0] for e in mainland) > 500

    single = _parse(render_map(jakarta, {}, inset=False))
    assert not [r for r in single.iter(f"{SVG}rect") if r.get("class") == "inset"]
    assert _view_box(single)[3] > 1.5 * _view_box(root)[3]  # taller: the sea is drawn too


@needs_data(JAKARTA_GEOJSON)
def test_jakarta_stays_under_budget_when_drawn_large(jakarta: list[MapArea]) -> None:
    # The tolerance is in output pixels: a wider map keeps more detail, within reason.
    small = render_map(jakarta, _counts(jakarta), width=400)
    large = render_map(jakarta, _counts(jakarta), width=1600)
    assert len(small) < len(large) < BUDGET


# --------------------------------------------------------------------------- pins

EXTENT = (106.80, -6.20, 106.84, -6.16)


def _pin(key: str, lon: float, lat: float, open_: bool = True) -> MapPin:
    return MapPin(key, lon, lat, f"{key} <&>", f"/r/{key}", open_)


def test_a_view_halves_per_zoom_level_and_stays_inside_the_city() -> None:
    whole = pin_view(EXTENT, 0, (0.0, 0.0))  # zoom 0 shows everything, wherever asked
    assert whole.bounds == pytest.approx(EXTENT)
    two = pin_view(EXTENT, 2, (106.83, -6.19))
    assert two.lon_max - two.lon_min == pytest.approx(0.01)
    assert (two.lon, two.lat) == pytest.approx((106.83, -6.19))
    corner = pin_view(EXTENT, 1, (200.0, 80.0))  # far outside: moved back in
    assert corner.lon_max == pytest.approx(EXTENT[2]) and corner.lat_max == pytest.approx(EXTENT[3])
    assert pin_view(EXTENT, 99).zoom == MAX_ZOOM and pin_view(EXTENT, -3).zoom == 0


def test_pins_cluster_per_grid_cell_by_zoom() -> None:
    view = pin_view(EXTENT)
    frame = view_frame(view, 800)

    def at(x: float, y: float, key: str) -> MapPin:
        """A pin at pixel (x, y) of the city-wide view."""
        return _pin(key, frame.lon0 + x / (frame.kx * frame.scale), frame.lat1 - y / frame.scale)

    # Three pins inside one 60-px cell, one in another cell.
    pins = [at(90, 90, "A"), at(100, 95, "B"), at(115, 110, "C"), at(400, 400, "D")]
    clusters = cluster_pins(pins, frame)
    assert [[p.key for p in c.pins] for c in clusters] == [["A", "B", "C"], ["D"]]
    assert (clusters[0].x, clusters[0].y) == pytest.approx((101.667, 98.333), abs=1e-3)
    # Three levels further in (eight times larger) around them, each is a pin of its own.
    deep = pin_view(EXTENT, 3, (clusters[0].lon, clusters[0].lat))
    inside = [p for p in pins if deep.lon_min <= p.lon <= deep.lon_max]
    assert [len(c.pins) for c in cluster_pins(inside, view_frame(deep, 800))] == [1, 1, 1]


def test_the_pin_map_links_pins_to_pages_and_clusters_to_the_next_zoom() -> None:
    areas = [MapArea("K1", "Satu", box(106.80, -6.20, 106.82, -6.16))]
    pins = [
        _pin("A", 106.8200, -6.1800),
        _pin("B", 106.8201, -6.1801),
        _pin("R", 106.8390, -6.1610, open_=False),
        _pin("OUT", 107.5, -6.5),  # outside the view: not drawn
    ]
    asked: list[tuple[int, float, float]] = []

    def zoom_href(zoom: int, lon: float, lat: float) -> str:
        asked.append((zoom, lon, lat))
        return f"/peta?z={zoom}&lat={lat:.4f}"

    svg = render_pin_map(areas, pins, pin_view(EXTENT), zoom_href=zoom_href)
    root = _parse(svg)
    links = [a.get("href") for a in root.iter(f"{SVG}a")]
    assert links[1:] == ["/r/R"] and (links[0] or "").startswith("/peta?z=1&lat=-6.18")
    assert asked == [(1, pytest.approx(106.82005), pytest.approx(-6.18005))]
    resolved = [c for c in root.iter(f"{SVG}circle") if c.get("class") == "pin resolved"]
    assert [c.findtext(f"{SVG}title") for c in resolved] == ["R <&>"]
    assert [g.get("data-count") for g in root.iter(f"{SVG}g") if g.get("class") == "cluster"] == [
        "2"
    ]
    assert "OUT" not in svg and "http" not in svg.replace("http://www.w3.org/2000/svg", "")
    outline = [p for p in root.iter(f"{SVG}path") if p.get("data-code") == "K1"]
    assert len(outline) == 1
    # At the deepest zoom a cluster links to the list under the map instead.
    deep = render_pin_map(areas, pins[:2], pin_view(EXTENT, MAX_ZOOM, (106.82, -6.18)))
    assert 'href="#daftar"' in deep or 'class="pin open"' in deep


@needs_data(JAKARTA_GEOJSON)
def test_a_city_wide_pin_map_of_jakarta_stays_small(jakarta: list[MapArea]) -> None:
    extent = full_extent(jakarta)
    step = 0.002
    pins = [
        _pin(f"T{i}", extent[0] + (i * step) % (extent[2] - extent[0]), extent[1] + i * 1e-5)
        for i in range(10_000)
    ]
    for zoom in (0, 2, MAX_ZOOM):
        svg = render_pin_map(jakarta, pins, pin_view(extent, zoom), zoom_href=lambda *_: "/peta")
        _parse(svg)
        # A public page must stay under 100 KB: the map takes at most 85 of them.
        assert len(svg.encode()) < 85_000, (zoom, len(svg))
