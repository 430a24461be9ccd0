"""Routing tests. Reference data is read from the shared folder next to the repository
(`../shared/data/`), never copied into it; tests that need it skip when it is absent."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = (REPO_ROOT / ".." / "shared" / "data").resolve()
JAKARTA_GEOJSON = SHARED_DATA / "jakarta_kelurahan.geojson"
JAKARTA_CSV = SHARED_DATA / "jakarta_kelurahan.csv"
NATIONAL_CSV = SHARED_DATA / "indonesia_desa_points.csv.gz"


def needs_data(*files: Path) -> pytest.MarkDecorator:
    """Skip unless the shared reference files exist (they are third-party data)."""
    missing = [f.name for f in files if not f.is_file()]
    return pytest.mark.skipif(
        bool(missing),
        reason=f"shared reference data missing in {SHARED_DATA}: {', '.join(missing)}",
    )


def metres_per_degree(lat: float) -> tuple[float, float]:
    """(east, north) metres per degree at `lat`: the tests' own, independent projection."""
    north = math.pi / 180.0 * 6_371_008.8
    return north * math.cos(math.radians(lat)), north
