"""Benchmark `KelurahanIndex.locate` against the naive geopy loop.

Two registries, both read from the shared reference data (`../shared/data/`, never copied
into the repository):

1. Jakarta boundaries (267 polygons): random points in the bounding box of mainland Jakarta
   (fixed seed; the Kepulauan Seribu box would be mostly sea and flatter the figure),
   located the way the conversation calls it (with neighbours). Target: <= 20 us per lookup,
   and at least 500x faster than the naive way: a `geopy.distance.geodesic` loop over the
   267 representative points, keeping the minimum.
2. All Indonesia, points only (83,403 desa/kelurahan): points scattered about 1 km around
   random desa (so nearly every lookup finds a kelurahan: the expensive case). Target:
   <= 50 us per lookup. The geopy loop over 83,403 points takes seconds per lookup, so it is
   timed on a few lookups only and reported per lookup.

Times are medians of repeated runs with the garbage collector paused. The last line of
output is one JSON object for tooling:

    {"bench": "locate", "value": <jakarta us>, "unit": "us", "baseline": <geopy us>,
     "ratio": <baseline/value>, "target": 500, "pass": ..., "jakarta_us": ...,
     "jakarta_target_us": 20, "national_us": ..., "national_target_us": 50,
     "national_geopy_us": ..., "national_ratio": ...}

Run from the repository root: ``.venv/bin/python bench/locate.py [--quick]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402
import shapely  # noqa: E402
from geopy.distance import geodesic  # noqa: E402

from lapor.routing import KelurahanIndex, KelurahanRecord, parse_registry  # noqa: E402

SHARED_DATA = (REPO_ROOT / ".." / "shared" / "data").resolve()
JAKARTA_GEOJSON = SHARED_DATA / "jakarta_kelurahan.geojson"
NATIONAL_CSV = SHARED_DATA / "indonesia_desa_points.csv.gz"

RATIO_TARGET = 500.0
JAKARTA_TARGET_US = 20.0
NATIONAL_TARGET_US = 50.0

Point = tuple[float, float]


def per_lookup_us(
    fn: Callable[[float, float], object], points: Sequence[Point], repeats: int
) -> float:
    """Median over `repeats` runs of the mean time per call, in microseconds."""
    runs = []
    for _ in range(repeats):
        gc.collect()
        gc.disable()
        try:
            started = time.perf_counter()
            for lat, lon in points:
                fn(lat, lon)
            runs.append((time.perf_counter() - started) / len(points) * 1e6)
        finally:
            gc.enable()
    return statistics.median(runs)


def geopy_nearest(records: Sequence[KelurahanRecord]) -> Callable[[float, float], str]:
    """The naive way: a geodesic to every kelurahan point, keep the closest."""
    targets = [(r.lat, r.lon, r.code) for r in records]

    def nearest(lat: float, lon: float) -> str:
        best, code = float("inf"), ""
        for t_lat, t_lon, t_code in targets:
            d = geodesic((lat, lon), (t_lat, t_lon)).meters
            if d < best:
                best, code = d, t_code
        return code

    return nearest


def bench_jakarta(quick: bool, rng: np.random.Generator) -> dict[str, float]:
    records = parse_registry(JAKARTA_GEOJSON)
    started = time.perf_counter()
    index = KelurahanIndex(records)
    build_s = time.perf_counter() - started
    mainland = np.array([r.geometry for r in records if "Seribu" not in r.kota], dtype=object)
    x0, y0, x1, y1 = shapely.total_bounds(mainland)
    n = 5_000 if quick else 20_000
    points = list(
        zip(rng.uniform(y0, y1, n).tolist(), rng.uniform(x0, x1, n).tolist(), strict=True)
    )
    repeats = 3 if quick else 7
    hows = Counter(index.locate(lat, lon).how for lat, lon in points)
    with_neighbours = per_lookup_us(index.locate, points, repeats)
    without = per_lookup_us(lambda a, o: index.locate(a, o, neighbours=False), points, repeats)

    naive = geopy_nearest(records)
    baseline_points = points[: 8 if quick else 30]
    baseline = per_lookup_us(naive, baseline_points, 1 if quick else 3)

    print(f"Jakarta: 267 kelurahan boundaries, index built in {build_s * 1000:.0f} ms")
    print(f"  {n} random points in the mainland box {x0:.3f},{y0:.3f} .. {x1:.3f},{y1:.3f}")
    print(f"  answers: {dict(hows)}")
    print(f"  locate (with neighbours):    {with_neighbours:8.2f} us per lookup (target <= 20)")
    print(f"  locate (neighbours=False):   {without:8.2f} us per lookup")
    print(f"  geopy loop over 267 points:  {baseline:8.0f} us per lookup")
    print(f"  ratio: {baseline / with_neighbours:.0f}x (target >= {RATIO_TARGET:.0f}x)")
    return {
        "jakarta_us": with_neighbours,
        "jakarta_no_neighbours_us": without,
        "baseline": baseline,
    }


def bench_national(quick: bool, rng: np.random.Generator) -> dict[str, float]:
    records = parse_registry(NATIONAL_CSV)
    started = time.perf_counter()
    index = KelurahanIndex(records)
    build_s = time.perf_counter() - started
    lats = np.array([r.lat for r in records])
    lons = np.array([r.lon for r in records])
    n = 5_000 if quick else 20_000
    picks = rng.integers(len(records), size=n)
    points = list(
        zip(
            (lats[picks] + rng.normal(0, 0.01, n)).tolist(),
            (lons[picks] + rng.normal(0, 0.01, n)).tolist(),
            strict=True,
        )
    )
    uniform = list(
        zip(rng.uniform(-11, 6, n).tolist(), rng.uniform(95, 141, n).tolist(), strict=True)
    )
    repeats = 3 if quick else 7
    hows = Counter(index.locate(lat, lon).how for lat, lon in points)
    near_desa = per_lookup_us(index.locate, points, repeats)
    anywhere = per_lookup_us(index.locate, uniform, repeats)

    naive = geopy_nearest(records)
    sample = points[: 1 if quick else 3]
    geopy_us = per_lookup_us(naive, sample, 1)
    agree = sum(
        1
        for lat, lon in sample
        if (found := index.locate(lat, lon)).kelurahan is not None
        and found.kelurahan.code == naive(lat, lon)
    )

    print(
        f"Indonesia: {len(records)} desa/kelurahan points, index built in {build_s * 1000:.0f} ms"
    )
    print(f"  answers near desa: {dict(hows)}")
    print(f"  locate near desa (about 1 km off): {near_desa:8.2f} us per lookup (target <= 50)")
    print(f"  locate anywhere in the national box (mostly sea): {anywhere:8.2f} us per lookup")
    print(
        f"  geopy loop over {len(records)} points: {geopy_us / 1e6:.2f} s per lookup "
        f"({len(sample)} lookup(s); same answer as the index in {agree})"
    )
    print(f"  ratio: {geopy_us / near_desa:.0f}x")
    return {
        "national_us": near_desa,
        "national_uniform_us": anywhere,
        "national_geopy_us": geopy_us,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer points and repeats")
    args = parser.parse_args()

    missing = [p.name for p in (JAKARTA_GEOJSON, NATIONAL_CSV) if not p.is_file()]
    if missing:
        print(f"shared reference data missing in {SHARED_DATA}: {', '.join(missing)}")
        print(json.dumps({"bench": "locate", "pass": False, "error": "reference data missing"}))
        sys.exit(2)

    rng = np.random.default_rng(20261128)
    jakarta = bench_jakarta(args.quick, rng)
    national = bench_national(args.quick, rng)
    value = jakarta["jakarta_us"]
    ratio = jakarta["baseline"] / value
    national_ratio = national["national_geopy_us"] / national["national_us"]
    passed = (
        value <= JAKARTA_TARGET_US
        and national["national_us"] <= NATIONAL_TARGET_US
        and ratio >= RATIO_TARGET
    )
    result = {
        "bench": "locate",
        "value": round(value, 2),
        "unit": "us",
        "baseline": round(jakarta["baseline"], 1),
        "ratio": round(ratio, 1),
        "target": RATIO_TARGET,
        "pass": passed,
        "jakarta_us": round(value, 2),
        "jakarta_target_us": JAKARTA_TARGET_US,
        "jakarta_no_neighbours_us": round(jakarta["jakarta_no_neighbours_us"], 2),
        "national_us": round(national["national_us"], 2),
        "national_target_us": NATIONAL_TARGET_US,
        "national_uniform_us": round(national["national_uniform_us"], 2),
        "national_geopy_us": round(national["national_geopy_us"], 1),
        "national_ratio": round(national_ratio, 1),
        "quick": args.quick,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
