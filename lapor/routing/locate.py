"""Which kelurahan covers a point: a spatial index built once at start-up.

The rule (DESIGN.md, "Routing"): a report belongs to the kelurahan whose boundary contains
it. Real boundaries are simplified, so neighbouring polygons overlap in places and leave
slivers between them; a point in an overlap goes to the polygon it lies deepest inside, a
point in a sliver to the nearest polygon within `gap_m`. Registries without boundaries route
to the nearest kelurahan point within `point_cutoff_m` (the Qlue rule). Anything else is
outside the service area: a clear answer, never a guess.

How it is fast (the conversation calls `locate` for every pin, and a national registry has
83,403 points):

* Polygons are held in a local metric frame (equirectangular about the registry's centre:
  metres east and north). The affine change of coordinates leaves containment untouched, and
  distances in it are metres (within 0.2 % across Jakarta, about 2 % across all Indonesia),
  so one shapely ``STRtree`` answers containment, "within 50 m" and "nearest within 500 m".
* Most points are far from any border. For every polygon we precompute its *core*: the part
  farther than `near_m` from every other polygon. A point in a core is "inside, no
  neighbours" without looking at anything else. A grid over the frame remembers which cells
  lie wholly inside a core (answered with one dict lookup), which are near no polygon at all
  (outside, or on to the points), and which cores to test for the rest. Only points near a
  border or in a gap take the full STRtree path.
* Points-only kelurahan sit in a latitude/longitude grid whose cells are as large as the
  cut-off, each listing the points of its 3x3 neighbourhood; the nearest is found with one
  dot product over unit vectors (monotonic in great-circle distance, so exact).

geopy is used only for the distance told to people (`Location.distance_m`), computed the
first time it is read: a geodesic costs about 60 us, more than the whole search.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np
import shapely
from geopy.distance import geodesic
from shapely.geometry.base import BaseGeometry

EARTH_RADIUS_M = 6_371_008.8
M_PER_DEG = math.pi / 180.0 * EARTH_RADIUS_M

DEFAULT_GAP_M = 500.0
DEFAULT_POINT_CUTOFF_M = 3_000.0
DEFAULT_NEAR_M = 50.0

# The buffer that carves cores is a polygonal approximation of a circle, drawn slightly inside
# the true offset; widen it so that a core never comes within `near_m` of another polygon.
_CORE_MARGIN_M = 2.0
_CORE_QUAD_SEGS = 8
# Distances closer than this are equal when choosing between overlapping polygons.
_TIE_M = 0.001

How = Literal["inside", "overlap", "nearest_polygon", "nearest_point", "outside"]


@dataclass(frozen=True, slots=True)
class KelurahanRef:
    """The kelurahan a point belongs to, as the conversation names it."""

    code: str
    name: str
    kecamatan: str
    kota: str


@dataclass(frozen=True)
class KelurahanRecord:
    """One kelurahan of a registry: names, a point inside it, and its boundary if known.

    `geometry` is a shapely Polygon or MultiPolygon in lon/lat (GeoJSON order), or None for
    points-only registries. `lat`/`lon` is a point inside the kelurahan (or its office).
    """

    code: str
    name: str
    kecamatan: str
    kota: str
    lat: float
    lon: float
    geometry: BaseGeometry | None = None

    @property
    def ref(self) -> KelurahanRef:
        return KelurahanRef(self.code, self.name, self.kecamatan, self.kota)


@dataclass(frozen=True)
class Location:
    """The answer for one point.

    `how` says how the kelurahan was found: "inside" its boundary, in an "overlap" of two
    boundaries (the deepest wins), in a gap between boundaries ("nearest_polygon"), by the
    nearest kelurahan point of a points-only registry ("nearest_point"), or "outside" the
    service area (`kelurahan` is None).

    `neighbours` are other kelurahan within `near_m` of the point (for points-only
    kelurahan: whose Voronoi border with the chosen one is that close). When it is not empty
    the conversation asks which one is meant.

    `target` is the (lat, lon) the distance is measured to (the nearest point of the chosen
    polygon, or the chosen kelurahan point) and `origin` the point asked about; both are
    None when the point is inside.
    """

    kelurahan: KelurahanRef | None
    how: How
    neighbours: tuple[KelurahanRef, ...] = ()
    origin: tuple[float, float] | None = None
    target: tuple[float, float] | None = None

    @cached_property
    def distance_m(self) -> float:
        """Geodesic metres to the chosen kelurahan: 0 inside it, infinity when outside.

        Computed on first use, because a geodesic costs more than the search itself and
        only answers that are told to a person need it.
        """
        if self.kelurahan is None:
            return math.inf
        if self.origin is None or self.target is None:
            return 0.0
        return float(geodesic(self.origin, self.target).meters)

    @property
    def found(self) -> bool:
        return self.kelurahan is not None


OUTSIDE = Location(kelurahan=None, how="outside")


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres: exact enough for search and cut-offs."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2.0 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _unit_vectors(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    phi, lam = np.radians(lat), np.radians(lon)
    cos_phi = np.cos(phi)
    return np.column_stack((cos_phi * np.cos(lam), cos_phi * np.sin(lam), np.sin(phi)))


class _PolygonIndex:
    """Boundaries in a local metric frame, with cores and a grid for the common case."""

    def __init__(
        self, refs: list[KelurahanRef], geoms: list[BaseGeometry], *, gap_m: float, near_m: float
    ) -> None:
        self.refs = refs
        self.gap_m = gap_m
        self.near_m = near_m
        lon_min, lat_min, lon_max, lat_max = shapely.total_bounds(np.array(geoms, dtype=object))
        self.lat0 = (lat_min + lat_max) / 2.0
        self.lon0 = (lon_min + lon_max) / 2.0
        self.kx = M_PER_DEG * math.cos(math.radians(self.lat0))
        self.ky = M_PER_DEG
        origin = np.array([self.lon0, self.lat0])
        scale = np.array([self.kx, self.ky])
        frame = shapely.transform(np.array(geoms, dtype=object), lambda c: (c - origin) * scale)
        self.frame = frame
        self.boundaries = shapely.boundary(frame)
        self.tree = shapely.STRtree(frame)
        shapely.prepare(frame)
        self.inside_locations = [Location(kelurahan=ref, how="inside") for ref in refs]
        self._build_cores()
        self._build_grid()

    def _build_cores(self) -> None:
        """The part of each polygon farther than `near_m` from every other polygon."""
        reach = self.near_m + _CORE_MARGIN_M
        buffered = shapely.buffer(self.frame, reach, quad_segs=_CORE_QUAD_SEGS)
        left, right = self.tree.query(self.frame, predicate="dwithin", distance=reach)
        others: list[list[int]] = [[] for _ in self.refs]
        for i, j in zip(left.tolist(), right.tolist(), strict=True):
            if i != j:
                others[i].append(j)
        cores = []
        for i, near in enumerate(others):
            core = self.frame[i]
            if near:
                core = shapely.difference(core, shapely.union_all(buffered[near]))
            cores.append(core)
        self.cores = np.array(cores, dtype=object)
        shapely.prepare(self.cores)

    def _build_grid(self) -> None:
        """Cells of the frame, each knowing what a point in it can be near.

        A cell maps to an int when it lies wholly inside that polygon's core, otherwise to
        (cores to try or None, their polygon numbers or None, polygons within reach). Cells
        with no polygon within `gap_m` (or `near_m`) are left out: outside at once.
        """
        bounds = shapely.bounds(self.frame)
        sides = np.sqrt(np.maximum(shapely.area(self.frame), 1.0))
        self.cell = float(np.clip(np.median(sides) / 4.0, 100.0, 5_000.0))
        reach = max(self.gap_m, self.near_m)
        pad = reach + self.cell
        self.gx0 = float(bounds[:, 0].min() - pad)
        self.gy0 = float(bounds[:, 1].min() - pad)
        self.nx = int((bounds[:, 2].max() + pad - self.gx0) // self.cell) + 2
        self.ny = int((bounds[:, 3].max() + pad - self.gy0) // self.cell) + 2

        keys = np.unique(np.concatenate([self._keys(box, pad) for box in bounds]))
        # Polygons as the query side: shapely prepares each once and tests it against many
        # cells, three times faster than asking for every cell's polygons.
        poly_no, cell_no = shapely.STRtree(self._boxes(keys)).query(
            self.frame, predicate="dwithin", distance=reach
        )
        order = np.lexsort((poly_no, cell_no))
        cell_no, poly_no = cell_no[order], poly_no[order]
        reachable: dict[int, np.ndarray] = {}
        shared: dict[tuple[int, ...], np.ndarray] = {}
        splits = np.flatnonzero(np.diff(cell_no)) + 1
        for cells_group, polys_group in zip(
            np.split(cell_no, splits), np.split(poly_no, splits), strict=True
        ):
            if cells_group.size == 0:
                continue
            members = tuple(polys_group.tolist())
            if members not in shared:
                shared[members] = np.array(members, dtype=np.intp)
            reachable[int(keys[cells_group[0]])] = shared[members]

        core_keys: list[int] = []
        core_polys: list[int] = []
        for i, core in enumerate(self.cores):
            if shapely.is_empty(core):
                continue
            for key in self._keys(shapely.bounds(core), 0.0):
                if key in reachable:
                    core_keys.append(key)
                    core_polys.append(i)
        whole_mask = shapely.contains_properly(
            self.cores[np.array(core_polys, dtype=np.intp)],
            self._boxes(np.array(core_keys, dtype=np.int64)),
        )
        trial: dict[int, list[int]] = {}
        whole: dict[int, int] = {}
        for key, i, is_whole in zip(core_keys, core_polys, whole_mask.tolist(), strict=True):
            if is_whole:
                whole.setdefault(key, i)
            trial.setdefault(key, []).append(i)

        cells: dict[int, object] = {}
        for key, candidates in reachable.items():
            if key in whole:
                cells[key] = whole[key]
            elif key in trial:
                index = np.array(trial[key], dtype=np.intp)
                cells[key] = (self.cores[index], index, candidates)
            else:
                cells[key] = (None, None, candidates)
        self.cells = cells

    def _keys(self, box: np.ndarray, pad: float) -> list[int]:
        ix0 = int((box[0] - pad - self.gx0) // self.cell)
        ix1 = int((box[2] + pad - self.gx0) // self.cell)
        iy0 = int((box[1] - pad - self.gy0) // self.cell)
        iy1 = int((box[3] + pad - self.gy0) // self.cell)
        return [
            iy * self.nx + ix
            for iy in range(max(iy0, 0), min(iy1, self.ny - 1) + 1)
            for ix in range(max(ix0, 0), min(ix1, self.nx - 1) + 1)
        ]

    def _boxes(self, keys: np.ndarray) -> np.ndarray:
        iy, ix = np.divmod(keys, self.nx)
        x0 = self.gx0 + ix * self.cell
        y0 = self.gy0 + iy * self.cell
        return shapely.box(x0, y0, x0 + self.cell, y0 + self.cell)

    def locate(self, lat: float, lon: float, neighbours: bool) -> Location | None:
        """The polygon answer, or None when no polygon is within reach."""
        x = (lon - self.lon0) * self.kx
        y = (lat - self.lat0) * self.ky
        ix = int((x - self.gx0) // self.cell)
        iy = int((y - self.gy0) // self.cell)
        if not (0 <= ix < self.nx and 0 <= iy < self.ny):
            return None
        entry = self.cells.get(iy * self.nx + ix)
        if entry is None:
            return None
        if entry.__class__ is int:
            return self.inside_locations[entry]  # type: ignore[index]
        cores, index, candidates = entry  # type: ignore[misc]
        if cores is not None:
            hits = shapely.contains_xy(cores, x, y)
            if hits.any():
                return self.inside_locations[int(index[hits.argmax()])]
        return self._full(lat, lon, x, y, candidates, neighbours)

    def _full(
        self, lat: float, lon: float, x: float, y: float, candidates: np.ndarray, neighbours: bool
    ) -> Location | None:
        """Near a border or in a gap: containment, depth and distances, all in metres.

        `candidates` (in code order) are all polygons within reach of the point's cell.
        """
        point = shapely.Point(x, y)
        dist = shapely.distance(self.frame[candidates], point)
        inside = np.flatnonzero(dist == 0.0)
        target: tuple[float, float] | None = None
        if inside.size == 1:
            k, how = int(inside[0]), "inside"
        elif inside.size > 1:
            # Overlap of simplified boundaries: the polygon the point is deepest inside.
            # Depths within a millimetre are a tie, going to the lowest code (candidates are
            # in code order), so that rounding cannot make the answer flip.
            depth = shapely.distance(self.boundaries[candidates[inside]], point)
            deepest = np.flatnonzero(depth >= depth.max() - _TIE_M)[0]
            k, how = int(inside[deepest]), "overlap"
        else:
            k = int(dist.argmin())
            if dist[k] > self.gap_m:
                return None
            how = "nearest_polygon"
            line = shapely.shortest_line(self.frame[candidates[k]], point)
            tx, ty = shapely.get_coordinates(line)[0]
            target = (self.lat0 + ty / self.ky, self.lon0 + tx / self.kx)
        chosen = int(candidates[k])
        others: tuple[KelurahanRef, ...] = ()
        if neighbours:
            close = np.flatnonzero(dist <= self.near_m)
            if close.size > 1:
                close = close[np.argsort(dist[close], kind="stable")]
                others = tuple(self.refs[int(candidates[j])] for j in close if j != k)
        if how == "inside" and not others:
            return self.inside_locations[chosen]
        return Location(
            kelurahan=self.refs[chosen],
            how=how,  # type: ignore[arg-type]
            neighbours=others,
            origin=(lat, lon) if target is not None else None,
            target=target,
        )


class _PointIndex:
    """Kelurahan points in a lat/lon grid; exact nearest by great-circle distance."""

    def __init__(
        self,
        refs: list[KelurahanRef],
        lat: np.ndarray,
        lon: np.ndarray,
        *,
        cutoff_m: float,
        near_m: float,
    ) -> None:
        self.refs = refs
        self.lat = lat.tolist()
        self.lon = lon.tolist()
        self.near_m = near_m
        self.cutoff_m = cutoff_m
        self.cos_cutoff = math.cos(min(cutoff_m / EARTH_RADIUS_M, math.pi))
        xyz = _unit_vectors(lat, lon)
        # Cells at least as large as the cut-off in both directions, so that every point
        # within the cut-off of a query lies in the 3x3 cells around it.
        self.cell_lat = max(cutoff_m / M_PER_DEG, 1e-6)
        phi_max = min(89.0, float(np.abs(lat).max()) + 2.0 * self.cell_lat)
        self.cell_lon = self.cell_lat / math.cos(math.radians(phi_max))
        self.lat_min = float(lat.min()) - self.cell_lat
        self.lon_min = float(lon.min()) - self.cell_lon
        cx = np.floor((lon - self.lon_min) / self.cell_lon).astype(np.int64)
        cy = np.floor((lat - self.lat_min) / self.cell_lat).astype(np.int64)
        self.nx = int(cx.max()) + 2
        self.ny = int(cy.max()) + 2
        n = len(refs)
        keys = np.concatenate(
            [(cy + dy) * self.nx + (cx + dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
        )
        members = np.tile(np.arange(n, dtype=np.int64), 9)
        order = np.lexsort((members, keys))
        keys, members = keys[order], members[order]
        unique, starts = np.unique(keys, return_index=True)
        self.members = members
        self.xyz = np.ascontiguousarray(xyz[members])
        bounds = [*starts.tolist(), len(keys)]
        self.cells = {key: (bounds[k], bounds[k + 1]) for k, key in enumerate(unique.tolist())}

    def locate(self, lat: float, lon: float, neighbours: bool) -> Location | None:
        cx = math.floor((lon - self.lon_min) / self.cell_lon)
        cy = math.floor((lat - self.lat_min) / self.cell_lat)
        if not (0 <= cx < self.nx and 0 <= cy < self.ny):
            return None
        span = self.cells.get(cy * self.nx + cx)
        if span is None:
            return None
        start, end = span
        phi, lam = math.radians(lat), math.radians(lon)
        cos_phi = math.cos(phi)
        q = np.array((cos_phi * math.cos(lam), cos_phi * math.sin(lam), math.sin(phi)))
        dots = self.xyz[start:end] @ q
        k = int(dots.argmax())  # the first maximum: entries of a cell are in code order
        if dots[k] < self.cos_cutoff:
            return None
        chosen = int(self.members[start + k])
        clat, clon = self.lat[chosen], self.lon[chosen]
        others: tuple[KelurahanRef, ...] = ()
        if neighbours:
            others = self._voronoi_neighbours(lat, lon, chosen, start, dots)
        return Location(
            kelurahan=self.refs[chosen],
            how="nearest_point",
            neighbours=others,
            origin=(lat, lon),
            target=(clat, clon),
        )

    def _voronoi_neighbours(
        self, lat: float, lon: float, chosen: int, start: int, dots: np.ndarray
    ) -> tuple[KelurahanRef, ...]:
        """Other points whose Voronoi border with the chosen one is within `near_m`.

        Without boundaries the implied border between two kelurahan is the perpendicular
        bisector of their points; its distance from the query is (d2^2 - d1^2) / (2 |p1 p2|),
        at least (d2 - d1) / 2, so only points within d1 + 2 near_m can qualify.
        """
        clat, clon = self.lat[chosen], self.lon[chosen]
        d1 = haversine_m(lat, lon, clat, clon)
        reach = min((d1 + 2.0 * self.near_m) / EARTH_RADIUS_M, math.pi)
        close = np.flatnonzero(dots >= math.cos(reach))
        if close.size <= 1:
            return ()
        found: list[tuple[float, str, int]] = []
        for k in close.tolist():
            j = int(self.members[start + k])
            if j == chosen:
                continue
            d2 = haversine_m(lat, lon, self.lat[j], self.lon[j])
            apart = haversine_m(clat, clon, self.lat[j], self.lon[j])
            border = (d2 * d2 - d1 * d1) / (2.0 * apart) if apart > 0 else 0.0
            if border <= self.near_m:
                found.append((d2, self.refs[j].code, j))
        found.sort()
        return tuple(self.refs[j] for _, _, j in found)


class KelurahanIndex:
    """The registry, indexed once, answering `locate(lat, lon)` in microseconds.

    Kelurahan with a boundary are located by containment (`gap_m`: how far a point in a
    sliver between polygons may be from the nearest one); kelurahan without one by their
    point (`point_cutoff_m`). `near_m` is how close another kelurahan must be for the
    answer to list it as a neighbour worth asking about.

    Building takes about 0.4 s for Jakarta's 267 boundaries and 0.5 s for 83,403 points:
    do it once at start-up (and after an import), not per message.
    """

    def __init__(
        self,
        records: Iterable[KelurahanRecord],
        *,
        gap_m: float = DEFAULT_GAP_M,
        point_cutoff_m: float = DEFAULT_POINT_CUTOFF_M,
        near_m: float = DEFAULT_NEAR_M,
    ) -> None:
        if min(gap_m, point_cutoff_m, near_m) < 0:
            raise ValueError("distances must not be negative")
        ordered = sorted(records, key=lambda r: r.code)
        for a, b in itertools.pairwise(ordered):
            if a.code == b.code:
                raise ValueError(f"duplicate kelurahan code {a.code!r}")
        self.gap_m = gap_m
        self.point_cutoff_m = point_cutoff_m
        self.near_m = near_m
        self._records = tuple(ordered)
        self._by_code = {r.code: r for r in ordered}
        polygons = [r for r in ordered if r.geometry is not None]
        points = [r for r in ordered if r.geometry is None]
        for record in polygons:
            if record.geometry.geom_type not in ("Polygon", "MultiPolygon"):  # type: ignore[union-attr]
                raise ValueError(
                    f"{record.code}: boundary must be a Polygon or MultiPolygon, "
                    f"not {record.geometry.geom_type}"  # type: ignore[union-attr]
                )
        self._polygons = (
            _PolygonIndex(
                [r.ref for r in polygons],
                [r.geometry for r in polygons],  # type: ignore[misc]
                gap_m=gap_m,
                near_m=near_m,
            )
            if polygons
            else None
        )
        self._points = (
            _PointIndex(
                [r.ref for r in points],
                np.array([r.lat for r in points], dtype=float),
                np.array([r.lon for r in points], dtype=float),
                cutoff_m=point_cutoff_m,
                near_m=near_m,
            )
            if points
            else None
        )

    def __len__(self) -> int:
        return len(self._records)

    @property
    def records(self) -> tuple[KelurahanRecord, ...]:
        """The kelurahan of the index, in code order."""
        return self._records

    @property
    def has_boundaries(self) -> bool:
        return self._polygons is not None

    def get(self, code: str) -> KelurahanRecord | None:
        return self._by_code.get(code)

    def locate(self, lat: float, lon: float, *, neighbours: bool = True) -> Location:
        """The kelurahan covering (lat, lon), how it was found, and nearby alternatives.

        `neighbours=False` skips the search for nearby kelurahan (slightly cheaper near
        borders) when only the routing decision is needed.
        Raises ValueError for coordinates that are not on Earth.
        """
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
            raise ValueError(f"not a coordinate: lat={lat!r}, lon={lon!r}")
        if self._polygons is not None:
            found = self._polygons.locate(lat, lon, neighbours)
            if found is not None:
                return found
        if self._points is not None:
            found = self._points.locate(lat, lon, neighbours)
            if found is not None:
                return found
        return OUTSIDE
