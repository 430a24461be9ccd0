"""Locating points: on the real Jakarta boundaries and points, nationally, and on small
made-up registries whose answers can be worked out by hand.

The real-data checks compare the index with a slow, independent reference: shapely in
degrees for containment, and distances in a projection centred on each query point.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from geopy.distance import geodesic

from lapor.routing import (
    DEMO_REGISTRY,
    KelurahanIndex,
    KelurahanRecord,
    Location,
    parse_registry,
)
from tests.routing import (
    JAKARTA_CSV,
    JAKARTA_GEOJSON,
    NATIONAL_CSV,
    metres_per_degree,
    needs_data,
)

MONAS = (-6.1754, 106.8272)
JAVA_SEA = (-5.95, 106.95)
BOGOR = (-6.595, 106.816)
TANGERANG = (-6.178, 106.63)


class Reference:
    """The slow way: every polygon near the point, distances in a projection about it."""

    def __init__(self, records: list[KelurahanRecord]) -> None:
        self.records = records
        self.geoms = np.array([r.geometry for r in records], dtype=object)
        self.tree = shapely.STRtree(self.geoms)

    def distances(self, lat: float, lon: float, radius_m: float) -> dict[int, float]:
        east, north = metres_per_degree(lat)
        near = self.tree.query(
            shapely.Point(lon, lat), predicate="dwithin", distance=radius_m / east
        )
        projected = shapely.transform(self.geoms[near], lambda c: (c - (lon, lat)) * (east, north))
        dist = shapely.distance(projected, shapely.Point(0.0, 0.0))
        return {int(i): float(d) for i, d in zip(near, dist, strict=True) if d <= radius_m}

    def depth(self, i: int, lat: float, lon: float) -> float:
        east, north = metres_per_degree(lat)
        ring = shapely.transform(self.geoms[i].boundary, lambda c: (c - (lon, lat)) * (east, north))
        return float(shapely.distance(ring, shapely.Point(0.0, 0.0)))

    def containing(self, lat: float, lon: float) -> list[int]:
        hits = self.tree.query(shapely.Point(lon, lat), predicate="intersects")
        return sorted(int(i) for i in hits)


@pytest.fixture(scope="module")
def jakarta() -> list[KelurahanRecord]:
    if not JAKARTA_GEOJSON.is_file():
        pytest.skip(f"shared reference data missing: {JAKARTA_GEOJSON}")
    return sorted(parse_registry(JAKARTA_GEOJSON), key=lambda r: r.code)


@pytest.fixture(scope="module")
def index(jakarta: list[KelurahanRecord]) -> KelurahanIndex:
    return KelurahanIndex(jakarta)


@pytest.fixture(scope="module")
def reference(jakarta: list[KelurahanRecord]) -> Reference:
    return Reference(jakarta)


# --------------------------------------------------------------------------- Jakarta polygons


@needs_data(JAKARTA_GEOJSON)
def test_points_well_inside_every_kelurahan_route_to_it(
    index: KelurahanIndex, reference: Reference, jakarta: list[KelurahanRecord]
) -> None:
    rng = np.random.default_rng(20261128)
    checked: set[str] = set()
    for number, record in enumerate(jakarta):
        inner = record.geometry.buffer(-0.001)  # type: ignore[union-attr]
        if inner.is_empty:
            continue
        # Islands: sample the largest part, or most draws land in the sea between parts.
        inner = max(shapely.get_parts(inner), key=lambda part: part.area)
        x0, y0, x1, y1 = inner.bounds
        taken = 0
        for _ in range(20):
            xs, ys = rng.uniform(x0, x1, 200), rng.uniform(y0, y1, 200)
            keep = shapely.contains_xy(inner, xs, ys)
            for x, y in zip(xs[keep].tolist(), ys[keep].tolist(), strict=True):
                if reference.containing(y, x) != [number]:
                    continue  # also inside an overlapping neighbour
                found = index.locate(y, x)
                assert found.kelurahan is not None, (record.code, y, x)
                assert (found.kelurahan.code, found.how) == (record.code, "inside"), (y, x)
                assert found.distance_m == 0.0
                taken += 1
                if taken == 4:
                    break
            if taken == 4:
                break
        if taken:
            checked.add(record.code)
    assert len(checked) == len(jakarta) == 267


@needs_data(JAKARTA_CSV, JAKARTA_GEOJSON)
def test_every_representative_point_routes_to_its_own_kelurahan(index: KelurahanIndex) -> None:
    for point in parse_registry(JAKARTA_CSV):
        found = index.locate(point.lat, point.lon)
        assert found.kelurahan is not None and found.kelurahan.code == point.code
        assert found.how == "inside"
        assert found.kelurahan.name == point.name


@needs_data(JAKARTA_GEOJSON)
def test_monas_is_in_gambir(index: KelurahanIndex) -> None:
    found = index.locate(*MONAS)
    assert found.kelurahan is not None
    assert (found.kelurahan.name, found.kelurahan.kecamatan, found.how) == (
        "Gambir",
        "Gambir",
        "inside",
    )


@needs_data(JAKARTA_GEOJSON)
@pytest.mark.parametrize(
    ("point", "clearance_m"),
    [(JAVA_SEA, 5_000.0), (BOGOR, 500.0), (TANGERANG, 500.0)],
    ids=["java-sea", "bogor", "tangerang"],
)
def test_points_beyond_the_city_are_outside(
    index: KelurahanIndex, reference: Reference, point: tuple[float, float], clearance_m: float
) -> None:
    # The premise first: the point really is that far from every DKI polygon.
    assert reference.distances(*point, radius_m=clearance_m) == {}
    found = index.locate(*point)
    assert found == Location(kelurahan=None, how="outside")
    assert found.distance_m == math.inf and found.neighbours == ()


def _gap_points(jakarta: list[KelurahanRecord], count: int) -> list[tuple[float, float]]:
    """Points in slivers between polygons: holes of the union of all kelurahan."""
    union = shapely.union_all([r.geometry for r in jakarta])
    holes = [shapely.Polygon(ring) for part in union.geoms for ring in part.interiors]
    holes.sort(key=lambda h: -h.area)
    points = [h.representative_point() for h in holes[:count]]
    return [(p.y, p.x) for p in points]


@needs_data(JAKARTA_GEOJSON)
def test_a_point_in_a_gap_goes_to_the_nearest_polygon(
    index: KelurahanIndex, reference: Reference, jakarta: list[KelurahanRecord]
) -> None:
    gaps = _gap_points(jakarta, 25)
    assert len(gaps) == 25
    for lat, lon in gaps:
        assert reference.containing(lat, lon) == []
        dist = reference.distances(lat, lon, radius_m=600.0)
        nearest = min(dist, key=lambda i: (dist[i], i))
        found = index.locate(lat, lon)
        assert found.how == "nearest_polygon"
        assert found.kelurahan is not None and found.kelurahan.code == jakarta[nearest].code
        assert found.distance_m > 0
        assert found.distance_m == pytest.approx(dist[nearest], rel=0.01, abs=0.5)
        # The distance is the geodesic to the point of the polygon it was measured to.
        assert found.target is not None
        assert found.distance_m == pytest.approx(geodesic((lat, lon), found.target).meters)


@needs_data(JAKARTA_GEOJSON)
def test_an_overlap_goes_to_the_polygon_the_point_is_deepest_inside(
    index: KelurahanIndex, reference: Reference, jakarta: list[KelurahanRecord]
) -> None:
    geoms = reference.geoms
    left, right = reference.tree.query(geoms, predicate="overlaps")
    tried = 0
    for i, j in zip(left.tolist(), right.tolist(), strict=True):
        if i >= j:
            continue
        common = shapely.intersection(geoms[i], geoms[j])
        if common.area * 111_000**2 < 1_000:
            continue
        p = common.representative_point()
        lat, lon = p.y, p.x
        if reference.containing(lat, lon) != [i, j]:
            continue
        depth_i, depth_j = reference.depth(i, lat, lon), reference.depth(j, lat, lon)
        if abs(depth_i - depth_j) < 0.5:
            continue
        deepest = i if depth_i > depth_j else j
        first, second = index.locate(lat, lon), index.locate(lat, lon)
        assert first == second
        assert first.how == "overlap" and first.distance_m == 0.0
        assert first.kelurahan is not None and first.kelurahan.code == jakarta[deepest].code
        other = jakarta[j if deepest == i else i].code
        assert other in [n.code for n in first.neighbours]
        tried += 1
        if tried == 30:
            break
    assert tried >= 20


def _border_points(
    jakarta: list[KelurahanRecord], rng: np.random.Generator, count: int
) -> list[tuple[float, float]]:
    """Points within about 80 m of some boundary, where the slow path does the work."""
    points = []
    for _ in range(count):
        record = jakarta[int(rng.integers(len(jakarta)))]
        boundary = record.geometry.boundary  # type: ignore[union-attr]
        on = boundary.interpolate(float(rng.uniform(0, 1)), normalized=True)
        points.append(
            (on.y + float(rng.uniform(-0.0007, 0.0007)), on.x + float(rng.uniform(-0.0007, 0.0007)))
        )
    return points


@needs_data(JAKARTA_GEOJSON)
def test_index_agrees_with_the_slow_reference_across_the_city(
    index: KelurahanIndex, reference: Reference, jakarta: list[KelurahanRecord]
) -> None:
    """Kelurahan, how, and neighbours, for random points and points near borders."""
    rng = np.random.default_rng(7)
    x0, y0, x1, y1 = shapely.total_bounds(
        np.array([r.geometry for r in jakarta if "Seribu" not in r.kota], dtype=object)
    )
    points = list(
        zip(rng.uniform(y0, y1, 1500).tolist(), rng.uniform(x0, x1, 1500).tolist(), strict=True)
    )
    points += _border_points(jakarta, rng, 1500)
    hows: dict[str, int] = {}
    for lat, lon in points:
        dist = reference.distances(lat, lon, radius_m=520.0)
        if any(abs(d - 50.0) < 0.5 or abs(d - 500.0) < 3.0 for d in dist.values()):
            continue  # too close to a cut-off for two projections to agree
        inside = reference.containing(lat, lon)
        found = index.locate(lat, lon)
        quick = index.locate(lat, lon, neighbours=False)
        assert (quick.kelurahan, quick.how) == (found.kelurahan, found.how)
        hows[found.how] = hows.get(found.how, 0) + 1
        if len(inside) == 1:
            expected, how = inside[0], "inside"
        elif len(inside) > 1:
            depths = {i: reference.depth(i, lat, lon) for i in inside}
            ranked = sorted(inside, key=lambda i: -depths[i])
            if depths[ranked[0]] - depths[ranked[1]] < 0.5:
                continue
            expected, how = ranked[0], "overlap"
        elif min(dist.values(), default=math.inf) <= 500.0:
            ranked = sorted(dist, key=lambda i: dist[i])
            if len(ranked) > 1 and dist[ranked[1]] - dist[ranked[0]] < 0.5:
                continue
            expected, how = ranked[0], "nearest_polygon"
        else:
            assert found.how == "outside" and found.kelurahan is None
            continue
        assert found.how == how, (lat, lon)
        assert found.kelurahan is not None and found.kelurahan.code == jakarta[expected].code
        near = {jakarta[i].code for i, d in dist.items() if d <= 50.0 and i != expected}
        assert {n.code for n in found.neighbours} == near, (lat, lon)
        assert quick.neighbours == ()
    assert hows["inside"] > 1500 and hows["nearest_polygon"] > 50 and hows["outside"] > 300


@needs_data(JAKARTA_GEOJSON)
def test_neighbours_are_ordered_by_distance(
    index: KelurahanIndex, reference: Reference, jakarta: list[KelurahanRecord]
) -> None:
    rng = np.random.default_rng(11)
    seen = 0
    for lat, lon in _border_points(jakarta, rng, 400):
        found = index.locate(lat, lon)
        if len(found.neighbours) < 2:
            continue
        dist = reference.distances(lat, lon, radius_m=60.0)
        by_code = {jakarta[i].code: d for i, d in dist.items()}
        ordered = [by_code[n.code] for n in found.neighbours]
        assert ordered == sorted(ordered) or max(ordered) - min(ordered) < 0.5
        seen += 1
    assert seen > 0


# --------------------------------------------------------------------------- points only


@pytest.fixture(scope="module")
def jakarta_points() -> list[KelurahanRecord]:
    if not JAKARTA_CSV.is_file():
        pytest.skip(f"shared reference data missing: {JAKARTA_CSV}")
    return parse_registry(JAKARTA_CSV)


def _haversine(lat: float, lon: float, lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    p1, p2 = np.radians(lat), np.radians(lats)
    h = (
        np.sin((p2 - p1) / 2) ** 2
        + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lons - lon) / 2) ** 2
    )
    return 2 * 6_371_008.8 * np.arcsin(np.sqrt(h))


@needs_data(JAKARTA_CSV)
def test_points_only_registry_routes_to_the_nearest_point(
    jakarta_points: list[KelurahanRecord],
) -> None:
    index = KelurahanIndex(jakarta_points)
    assert not index.has_boundaries
    for point in jakarta_points:
        found = index.locate(point.lat, point.lon)
        assert found.kelurahan is not None and found.kelurahan.code == point.code
        assert found.how == "nearest_point" and found.distance_m == 0.0
    assert index.locate(*BOGOR).how == "outside"
    assert index.locate(*JAVA_SEA).how == "outside"

    lats = np.array([p.lat for p in jakarta_points])
    lons = np.array([p.lon for p in jakarta_points])
    rng = np.random.default_rng(3)
    for lat, lon in zip(
        rng.uniform(-6.4, -6.05, 2000), rng.uniform(106.65, 107.0, 2000), strict=True
    ):
        dist = _haversine(lat, lon, lats, lons)
        order = np.argsort(dist)
        if abs(dist[order[0]] - 3_000) < 1 or dist[order[1]] - dist[order[0]] < 0.01:
            continue
        found = index.locate(float(lat), float(lon))
        if dist[order[0]] > 3_000:
            assert found.how == "outside"
            continue
        assert found.kelurahan is not None
        assert found.kelurahan.code == jakarta_points[int(order[0])].code
        assert found.distance_m == pytest.approx(dist[order[0]], rel=0.006)


@needs_data(JAKARTA_CSV)
def test_points_only_cut_off_is_configurable(jakarta_points: list[KelurahanRecord]) -> None:
    wide = KelurahanIndex(jakarta_points, point_cutoff_m=40_000)
    assert wide.locate(*BOGOR).how == "nearest_point"
    narrow = KelurahanIndex(jakarta_points, point_cutoff_m=100)
    p = jakarta_points[100]
    assert narrow.locate(p.lat + 0.0005, p.lon).how == "nearest_point"  # about 56 m
    assert narrow.locate(p.lat + 0.002, p.lon).how == "outside"  # about 222 m


@pytest.mark.skipif(
    not NATIONAL_CSV.is_file(), reason=f"shared reference data missing: {NATIONAL_CSV}"
)
def test_national_desa_points_route_to_themselves() -> None:
    records = parse_registry(NATIONAL_CSV)
    assert len(records) == 83_403
    index = KelurahanIndex(records)
    rng = np.random.default_rng(83403)
    for k in rng.choice(len(records), 1000, replace=False).tolist():
        record = records[k]
        found = index.locate(record.lat, record.lon)
        assert found.kelurahan is not None and found.kelurahan.code == record.code
        assert found.how == "nearest_point"
    # Far out in the Indian Ocean and the Banda Sea.
    assert index.locate(-9.5, 100.0).how == "outside"
    assert index.locate(-5.8, 127.5).how == "outside"


# --------------------------------------------------------------------------- made-up registries


def _box(code: str, x0: float, y0: float, x1: float, y1: float) -> KelurahanRecord:
    geom = shapely.box(x0, y0, x1, y1)
    inner = geom.representative_point()
    return KelurahanRecord(code, f"Kel {code}", "Kec", "Kota", inner.y, inner.x, geom)


@pytest.fixture(scope="module")
def demo() -> KelurahanIndex:
    return KelurahanIndex(parse_registry(DEMO_REGISTRY))


def test_demo_registry_routes_monas_to_its_gambir(demo: KelurahanIndex) -> None:
    found = demo.locate(*MONAS)
    assert found.kelurahan is not None
    assert (found.kelurahan.code, found.kelurahan.name, found.how) == (
        "DEMO.01",
        "Gambir (demo)",
        "inside",
    )
    assert len(demo) == 5 and all("(demo)" in r.name for r in demo.records)


def test_a_point_near_a_border_lists_the_neighbour(demo: KelurahanIndex) -> None:
    # Gambir (demo) lies north of lat -6.185 and Menteng (demo) south of it at lon 106.83.
    step = 1 / 111_195  # degrees of latitude per metre
    near = demo.locate(-6.185 + 20 * step, 106.83)
    assert near.kelurahan is not None and near.kelurahan.code == "DEMO.01"
    assert near.how == "inside"
    assert [n.code for n in near.neighbours] == ["DEMO.02"]
    far = demo.locate(-6.185 + 200 * step, 106.83)
    assert far.how == "inside" and far.neighbours == ()


def test_a_point_on_a_shared_edge_goes_to_the_lower_code(demo: KelurahanIndex) -> None:
    found = demo.locate(-6.185, 106.83)
    assert found.kelurahan is not None and found.kelurahan.code == "DEMO.01"
    assert [n.code for n in found.neighbours] == ["DEMO.02"]
    assert demo.locate(-6.185, 106.83) == found


def test_just_beyond_the_edge_is_nearest_and_far_beyond_is_outside(demo: KelurahanIndex) -> None:
    step = 1 / 111_195
    close = demo.locate(-6.165 + 100 * step, 106.825)
    assert close.how == "nearest_polygon"
    assert close.kelurahan is not None and close.kelurahan.code == "DEMO.01"
    assert close.distance_m == pytest.approx(100.0, rel=0.01)
    assert demo.locate(-6.165 + 1_000 * step, 106.825).how == "outside"
    narrow = KelurahanIndex(demo.records, gap_m=50)
    assert narrow.locate(-6.165 + 100 * step, 106.825).how == "outside"


def test_overlap_goes_to_the_deepest_and_ties_to_the_lower_code() -> None:
    # Two boxes overlapping in the strip 106.808 <= lon <= 106.810.
    index = KelurahanIndex(
        [_box("K.2", 106.80, -6.21, 106.81, -6.20), _box("K.1", 106.808, -6.21, 106.82, -6.20)]
    )
    deeper_in_k2 = index.locate(-6.205, 106.8085)
    deeper_in_k1 = index.locate(-6.205, 106.8095)
    middle = index.locate(-6.205, 106.809)
    assert (deeper_in_k2.how, deeper_in_k2.kelurahan.code) == ("overlap", "K.2")  # type: ignore[union-attr]
    assert (deeper_in_k1.how, deeper_in_k1.kelurahan.code) == ("overlap", "K.1")  # type: ignore[union-attr]
    assert (middle.how, middle.kelurahan.code) == ("overlap", "K.1")  # type: ignore[union-attr]
    assert [n.code for n in deeper_in_k2.neighbours] == ["K.1"]


def test_mixed_registry_uses_points_where_there_are_no_boundaries() -> None:
    index = KelurahanIndex(
        [
            _box("P.1", 106.80, -6.21, 106.81, -6.20),
            KelurahanRecord("Q.1", "Desa Titik", "Kec", "Kota", -6.30, 106.90),
        ]
    )
    assert index.locate(-6.205, 106.805).kelurahan.code == "P.1"  # type: ignore[union-attr]
    by_point = index.locate(-6.301, 106.90)
    assert by_point.how == "nearest_point" and by_point.kelurahan.code == "Q.1"  # type: ignore[union-attr]
    assert by_point.distance_m == pytest.approx(110.6, abs=1.0)
    assert index.locate(-6.5, 106.5).how == "outside"


def test_points_near_the_voronoi_border_list_the_other_point() -> None:
    step = 1 / 111_195
    index = KelurahanIndex(
        [
            KelurahanRecord("A", "A", "Kec", "Kota", -6.2, 106.8),
            KelurahanRecord("B", "B", "Kec", "Kota", -6.2 + 1_000 * step, 106.8),
        ]
    )
    near = index.locate(-6.2 + 490 * step, 106.8)
    assert near.kelurahan.code == "A" and [n.code for n in near.neighbours] == ["B"]  # type: ignore[union-attr]
    far = index.locate(-6.2 + 300 * step, 106.8)
    assert far.kelurahan.code == "A" and far.neighbours == ()  # type: ignore[union-attr]
    assert index.locate(-6.2 + 700 * step, 106.8).kelurahan.code == "B"  # type: ignore[union-attr]


def test_bad_input_is_refused() -> None:
    box = _box("X.1", 106.80, -6.21, 106.81, -6.20)
    with pytest.raises(ValueError, match="duplicate"):
        KelurahanIndex([box, box])
    with pytest.raises(ValueError, match="negative"):
        KelurahanIndex([box], gap_m=-1)
    with pytest.raises(ValueError, match="Polygon"):
        KelurahanIndex(
            [KelurahanRecord("L", "L", "K", "K", 0.0, 0.0, shapely.LineString([(0, 0), (1, 1)]))]
        )
    index = KelurahanIndex([box])
    with pytest.raises(ValueError):
        index.locate(91.0, 106.8)
    with pytest.raises(ValueError):
        index.locate(float("nan"), 106.8)
    assert KelurahanIndex([]).locate(*MONAS).how == "outside"
