"""The kelurahan registry: read the operator's file, check all of it, import it, load the index.

The registry is operator data (DESIGN.md, "Routing"): a GeoJSON FeatureCollection of
boundaries, or a CSV of points when no boundaries are available. A registry decides where
every report goes, so a file with any bad row is refused as a whole, with every problem
listed at once (fixing errors one at a time over many imports is what operators hate most),
and nothing is imported. Re-importing updates names, points and boundaries but never the
destination chat a kelurahan group was bound to.

A fresh console install routes to a made-up demo registry (codes `DEMO.*`, demo.py). A real
registry replaces it: importing one deletes the demo kelurahan nothing refers to, and the
few that already hold reports or heads stay only as their history. Whenever a real
kelurahan exists, demo kelurahan are left out of routing and the map, so a demo square
around Monas can never win over Gambir.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import mapping, shape
from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlmodel import Session

from lapor.routing.locate import KelurahanIndex, KelurahanRecord
from lapor.store.models import GroupInvite, Head, Kelurahan, Report

# Codes of the made-up demo registry (demo.geojson); no official code looks like this.
DEMO_PREFIX = "DEMO."
MAX_CODE = 20
MAX_NAME = 100
CHUNK = 1000

# Accepted column / property names, first the canonical one. The national file says
# `desa_kelurahan` and `kab_kota`; spreadsheets often say latitude/longitude.
ALIASES: dict[str, tuple[str, ...]] = {
    "code": ("code", "kode"),
    "name": ("kelurahan", "name", "nama", "desa_kelurahan"),
    "kecamatan": ("kecamatan",),
    "kota": ("kota", "kab_kota", "kabupaten_kota"),
    "lat": ("lat", "latitude"),
    "lon": ("lon", "lng", "longitude"),
}
_WGS84 = {
    "urn:ogc:def:crs:ogc:1.3:crs84",
    "urn:ogc:def:crs:epsg::4326",
    "epsg:4326",
    "crs84",
}


class RegistryError(ValueError):
    """A registry file that cannot be imported; `errors` lists every problem found."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = list(errors)
        shown = "\n  ".join(self.errors[:20])
        more = f"\n  ... and {len(self.errors) - 20} more" if len(self.errors) > 20 else ""
        super().__init__(f"{len(self.errors)} problem(s) in the registry:\n  {shown}{more}")


@dataclass(frozen=True)
class ImportResult:
    """What an import changed, for the operator."""

    added: int
    updated: int
    unchanged: int
    # Demo kelurahan a real registry replaced: deleted, or kept as history of their reports.
    demo_removed: int = 0
    demo_kept: int = 0

    @property
    def total(self) -> int:
        return self.added + self.updated + self.unchanged


# --------------------------------------------------------------------------- parsing


def parse_registry(path: Path) -> list[KelurahanRecord]:
    """Read and check a registry file (GeoJSON boundaries, or CSV points; `.gz` is fine).

    Raises RegistryError listing every bad row or feature; returns records in file order.
    """
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path) as stream:
                raw = stream.read()
        else:
            raw = path.read_bytes()
    except (OSError, EOFError) as exc:
        raise RegistryError([f"cannot read {path}: {exc.strerror or exc}"]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RegistryError([f"{path.name} is not UTF-8 text (byte {exc.start})"]) from None
    suffixes = [s.lower() for s in path.suffixes]
    if ".geojson" in suffixes or ".json" in suffixes or text.lstrip().startswith("{"):
        records, errors = _parse_geojson(text)
    else:
        records, errors = _parse_csv(text)
    if not errors and not records:
        errors.append("the file contains no kelurahan")
    if errors:
        raise RegistryError(errors)
    return records


class _Fields:
    """Checks one row's or feature's fields, collecting problems instead of stopping."""

    def __init__(self, where: str, values: dict[str, Any], decimal_comma: bool = False) -> None:
        self.where = where
        self.values = values
        self.decimal_comma = decimal_comma
        self.problems: list[str] = []
        code = self.text("code", MAX_CODE)
        if code:
            self.where = f"{where} ({code})"
        self.code = code

    def get(self, field: str) -> Any:
        for name in ALIASES[field]:
            if self.values.get(name) is not None:
                return self.values[name]
        return None

    def text(self, field: str, limit: int) -> str:
        value = self.get(field)
        label = ALIASES[field][0]
        if value is None or (isinstance(value, str) and not value.strip()):
            self.problems.append(f"missing {label}")
            return ""
        if not isinstance(value, str | int):
            self.problems.append(f"{label} must be text, not {value!r}")
            return ""
        value = " ".join(str(value).split())
        if len(value) > limit:
            self.problems.append(f"{label} is longer than {limit} characters")
        return value

    def number(self, field: str, low: float, high: float) -> float | None:
        value = self.get(field)
        label = ALIASES[field][0]
        if value is None or (isinstance(value, str) and not value.strip()):
            self.problems.append(f"missing {label}")
            return None
        if isinstance(value, bool):
            self.problems.append(f"{label} is not a number: {value!r}")
            return None
        if isinstance(value, str):
            cleaned = value.strip()
            if self.decimal_comma:
                cleaned = cleaned.replace(",", ".")
            try:
                number = float(cleaned)
            except ValueError:
                self.problems.append(f"{label} is not a number: {value.strip()!r}")
                return None
        elif isinstance(value, int | float):
            number = float(value)
        else:
            self.problems.append(f"{label} is not a number: {value!r}")
            return None
        if not math.isfinite(number):
            self.problems.append(f"{label} is not a finite number: {value!r}")
            return None
        if not low <= number <= high:
            self.problems.append(f"{label} {number:g} is out of range ({low:g}..{high:g})")
            return None
        return number

    def point(self) -> tuple[float | None, float | None]:
        lat = self.number("lat", -90.0, 90.0)
        lon = self.number("lon", -180.0, 180.0)
        if lat == 0.0 and lon == 0.0:
            self.problems.append("lat/lon is 0,0 (coordinates missing?)")
        return lat, lon

    def report(self, errors: list[str]) -> None:
        errors.extend(f"{self.where}: {problem}" for problem in self.problems)


def _has_point(values: dict[str, Any], field: str) -> bool:
    return any(
        values.get(name) is not None and str(values[name]).strip() != "" for name in ALIASES[field]
    )


def _parse_geojson(text: str) -> tuple[list[KelurahanRecord], list[str]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return [], [f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"]
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        return [], ["GeoJSON must be a FeatureCollection"]
    features = data.get("features")
    if not isinstance(features, list):
        return [], ["GeoJSON FeatureCollection has no list of features"]
    crs = data.get("crs")
    if isinstance(crs, dict):
        name = str((crs.get("properties") or {}).get("name", "")).lower()
        if name and name not in _WGS84:
            return [], [
                f"coordinates are in {name}: export the file in WGS 84 longitude/latitude "
                "(EPSG:4326 / CRS84)"
            ]

    records: list[KelurahanRecord] = []
    errors: list[str] = []
    first_seen: dict[str, int] = {}
    for number, feature in enumerate(features, start=1):
        where = f"feature {number}"
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            errors.append(f"{where}: not a GeoJSON Feature")
            continue
        properties = feature.get("properties")
        if not isinstance(properties, dict):
            properties = {}
        fields = _Fields(where, {str(k).strip().lower(): v for k, v in properties.items()})
        name = fields.text("name", MAX_NAME)
        kecamatan = fields.text("kecamatan", MAX_NAME)
        kota = fields.text("kota", MAX_NAME)
        geometry = _check_geometry(feature.get("geometry"), fields.problems)
        lat: float | None
        lon: float | None
        if _has_point(fields.values, "lat") or _has_point(fields.values, "lon"):
            lat, lon = fields.point()
        elif geometry is not None:
            inner = geometry.representative_point()
            lat, lon = inner.y, inner.x
        else:
            lat = lon = None
        code = fields.code
        if code in first_seen:
            fields.problems.append(f"duplicate code {code} (first in feature {first_seen[code]})")
        elif code:
            first_seen[code] = number
        if fields.problems:
            fields.report(errors)
            continue
        assert geometry is not None and lat is not None and lon is not None
        records.append(KelurahanRecord(code, name, kecamatan, kota, lat, lon, geometry))
    return records, errors


def _check_geometry(geometry: Any, problems: list[str]) -> Any:
    """A valid, non-empty Polygon/MultiPolygon in lon/lat, or None with the problem noted.

    Invalid geometry is reported, never repaired: `make_valid` can turn a bow-tie into two
    triangles or drop a sliver, and the operator should see and decide that.
    """
    if not isinstance(geometry, dict):
        problems.append("no geometry")
        return None
    kind = geometry.get("type")
    if kind not in ("Polygon", "MultiPolygon"):
        problems.append(f"unsupported geometry type {kind!r} (expected Polygon or MultiPolygon)")
        return None
    try:
        geom = shapely.force_2d(shape(geometry))
    except Exception as exc:  # shapely raises several types for malformed coordinates
        problems.append(f"malformed {kind} coordinates: {exc}")
        return None
    if geom.is_empty:
        problems.append("empty geometry")
        return None
    coords = shapely.get_coordinates(geom)
    if not all(math.isfinite(v) for v in coords.ravel().tolist()):
        problems.append("geometry has coordinates that are not finite numbers")
        return None
    lon_min, lat_min, lon_max, lat_max = geom.bounds
    if not (-180 <= lon_min <= lon_max <= 180 and -90 <= lat_min <= lat_max <= 90):
        problems.append(
            f"geometry coordinates out of range ({lon_min:g},{lat_min:g} .. {lon_max:g},"
            f"{lat_max:g}): GeoJSON needs WGS 84 longitude,latitude"
        )
        return None
    if not shapely.is_valid(geom):
        problems.append(
            f"invalid geometry: {shapely.is_valid_reason(geom)} "
            "(fix it, e.g. QGIS 'Fix geometries', and check the result)"
        )
        return None
    return geom


def _parse_csv(text: str) -> tuple[list[KelurahanRecord], list[str]]:
    first_line = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first_line.count)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [(name or "").strip().lower() for name in (reader.fieldnames or [])]
    missing = [
        f"{ALIASES[field][0]}" for field in ALIASES if not any(a in header for a in ALIASES[field])
    ]
    if missing:
        return [], [
            f"row 1: the header lacks column(s) {', '.join(missing)} "
            f"(expected code,kelurahan,kecamatan,kota,lat,lon; found {','.join(header)})"
        ]
    reader.fieldnames = header
    records: list[KelurahanRecord] = []
    errors: list[str] = []
    first_seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        values = {k: v for k, v in row.items() if k is not None}
        if all(v is None or not str(v).strip() for v in values.values()) and None not in row:
            continue  # a blank spreadsheet row
        fields = _Fields(f"row {line}", values, decimal_comma=delimiter != ",")
        if None in row:
            fields.problems.append(f"more values than columns ({delimiter!r} inside a value?)")
        name = fields.text("name", MAX_NAME)
        kecamatan = fields.text("kecamatan", MAX_NAME)
        kota = fields.text("kota", MAX_NAME)
        lat, lon = fields.point()
        code = fields.code
        if code in first_seen:
            fields.problems.append(f"duplicate code {code} (first in row {first_seen[code]})")
        elif code:
            first_seen[code] = line
        if fields.problems:
            fields.report(errors)
            continue
        assert lat is not None and lon is not None
        records.append(KelurahanRecord(code, name, kecamatan, kota, lat, lon))
    return records, errors


# --------------------------------------------------------------------------- importing


def is_demo(code: str) -> bool:
    """Whether a kelurahan code belongs to the made-up demo registry."""
    return code.startswith(DEMO_PREFIX)


def boundary_text(record: KelurahanRecord) -> str | None:
    """The stored form of a boundary: compact GeoJSON that round-trips exactly."""
    if record.geometry is None:
        return None
    return json.dumps(mapping(record.geometry), separators=(",", ":"))


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def import_registry(
    session: Session,
    records: Sequence[KelurahanRecord],
    now: datetime,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Upsert the registry by code, in chunks, inside the caller's transaction.

    Names, points and boundaries are updated; `chat_id`, `chat_title` and `bound_at` (the
    group a kelurahan was bound to) are never touched. A record without a boundary (CSV)
    leaves a stored boundary as it is, so importing a points file after a boundaries file
    cannot silently downgrade routing. Kelurahan missing from the file stay in the table:
    reports and group invites refer to them. The demo registry is the exception: a file
    with any real kelurahan deletes the demo kelurahan that no report or head refers to
    (with their group invites) and keeps the rest as history, out of routing (`load_records`).
    `progress` is called with the number of records done after each chunk.
    """
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    codes = [r.code for r in records]
    if len(set(codes)) != len(codes):
        raise ValueError("duplicate kelurahan codes in the records")
    session.flush()
    table = Kelurahan.__table__  # type: ignore[attr-defined]
    columns = ("name", "kecamatan", "kota", "latitude", "longitude", "boundary")
    with_boundary = (
        update(table)
        .where(table.c.code == bindparam("b_code"))
        .values({c: bindparam(f"b_{c}") for c in (*columns, "updated_at")})
    )
    without_boundary = (
        update(table)
        .where(table.c.code == bindparam("b_code"))
        .values({c: bindparam(f"b_{c}") for c in (*columns[:-1], "updated_at")})
    )
    added = updated = unchanged = 0
    for chunk in _chunks(records, CHUNK):
        stored = {
            row.code: row
            for row in session.execute(
                select(table.c.code, *(table.c[c] for c in columns)).where(
                    table.c.code.in_([r.code for r in chunk])
                )
            )
        }
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        point_updates: list[dict[str, Any]] = []
        for record in chunk:
            values = {
                "name": record.name,
                "kecamatan": record.kecamatan,
                "kota": record.kota,
                "latitude": record.lat,
                "longitude": record.lon,
                "boundary": boundary_text(record),
            }
            old = stored.get(record.code)
            if old is None:
                inserts.append({"code": record.code, **values, "updated_at": now})
                continue
            if record.geometry is None:
                del values["boundary"]
            if all(getattr(old, column) == value for column, value in values.items()):
                unchanged += 1
                continue
            row = {f"b_{column}": value for column, value in values.items()}
            row.update(b_code=record.code, b_updated_at=now)
            (updates if "boundary" in values else point_updates).append(row)
        if inserts:
            session.execute(insert(table), inserts)
        if updates:
            session.execute(with_boundary, updates)
        if point_updates:
            session.execute(without_boundary, point_updates)
        added += len(inserts)
        updated += len(updates) + len(point_updates)
        if progress is not None:
            progress(len(chunk))
    demo_removed = demo_kept = 0
    if any(not is_demo(code) for code in codes):
        demo_removed, demo_kept = _retire_demo(session, set(codes))
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Kelurahan | GroupInvite):
            session.expire(obj)
    return ImportResult(
        added=added,
        updated=updated,
        unchanged=unchanged,
        demo_removed=demo_removed,
        demo_kept=demo_kept,
    )


def _retire_demo(session: Session, imported: set[str]) -> tuple[int, int]:
    """Delete the demo kelurahan nothing refers to; (deleted, kept as history)."""
    demo = [
        code
        for code in session.scalars(
            select(Kelurahan.code).where(Kelurahan.code.startswith(DEMO_PREFIX, autoescape=True))
        )
        if code not in imported
    ]
    if not demo:
        return 0, 0
    referenced = set(
        session.scalars(select(Report.kelurahan_code).where(Report.kelurahan_code.in_(demo)))
    ) | set(session.scalars(select(Head.kelurahan_code).where(Head.kelurahan_code.in_(demo))))
    unused = [code for code in demo if code not in referenced]
    if unused:
        # Invites to bind a demo kelurahan's group are as made-up as the kelurahan.
        session.execute(delete(GroupInvite).where(GroupInvite.kelurahan_code.in_(unused)))
        session.execute(delete(Kelurahan).where(Kelurahan.code.in_(unused)))
    return len(unused), len(demo) - len(unused)


@dataclass(frozen=True)
class References:
    """What refers to a kelurahan, for `lapor kelurahan remove`."""

    reports: int
    heads: int
    open_invites: int
    chat_id: int | None

    @property
    def history(self) -> bool:
        """Reports or heads: removing the kelurahan would leave them pointing at nothing."""
        return bool(self.reports or self.heads)


class RemoveRefused(ValueError):
    """A kelurahan that cannot be removed (as asked); the message says why and what to do."""


def kelurahan_references(session: Session, code: str, now: datetime) -> References | None:
    """What refers to kelurahan `code` (None: no such kelurahan)."""
    kelurahan = session.get(Kelurahan, code)
    if kelurahan is None:
        return None

    def count(model: Any, *where: Any) -> int:
        return int(
            session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()
        )

    return References(
        reports=count(Report, Report.kelurahan_code == code),
        heads=count(Head, Head.kelurahan_code == code),
        open_invites=count(
            GroupInvite,
            GroupInvite.kelurahan_code == code,
            GroupInvite.used_at.is_(None),
            GroupInvite.expires_at > now,
        ),
        chat_id=kelurahan.chat_id,
    )


def remove_kelurahan(session: Session, code: str, now: datetime, *, force: bool = False) -> None:
    """Delete kelurahan `code` and its group invites, inside the caller's transaction.

    Never when reports or heads refer to it, even with `force`: reports keep the kelurahan
    as their history (the dashboard and the cards show its name), and a head cannot exist
    without a kelurahan. A bound group or an unused invite is live configuration that an
    operator may mean to drop: refused unless `force`. Raises RemoveRefused, KeyError.
    """
    found = kelurahan_references(session, code, now)
    if found is None:
        raise KeyError(code)
    if found.history:
        parts = []
        if found.reports:
            parts.append(f"{found.reports} report(s) were routed to it")
        if found.heads:
            parts.append(f"{found.heads} RT/RW head(s) belong to it")
        raise RemoveRefused(
            f"{code} cannot be removed: {' and '.join(parts)}. It stays as their history; "
            "--force does not change that."
        )
    if not force and (found.chat_id is not None or found.open_invites):
        parts = []
        if found.chat_id is not None:
            parts.append(f"its reports go to the Telegram group {found.chat_id}")
        if found.open_invites:
            parts.append(f"{found.open_invites} unused group invite(s) are still valid")
        raise RemoveRefused(
            f"{code} is in use: {' and '.join(parts)}. Nothing removed; add --force to remove "
            "it anyway."
        )
    session.execute(delete(GroupInvite).where(GroupInvite.kelurahan_code == code))
    session.execute(delete(Kelurahan).where(Kelurahan.code == code))
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Kelurahan | GroupInvite):
            session.expire(obj)


def load_records(session: Session) -> list[KelurahanRecord]:
    """Every kelurahan reports are routed to, as index records (boundaries parsed in one call).

    That is the whole table, except demo kelurahan once a real one exists: those left
    behind as history of their reports must not take points from the real registry.
    """
    table = Kelurahan.__table__  # type: ignore[attr-defined]
    rows = session.execute(
        select(
            table.c.code,
            table.c.name,
            table.c.kecamatan,
            table.c.kota,
            table.c.latitude,
            table.c.longitude,
            table.c.boundary,
        ).order_by(table.c.code)
    ).all()
    if any(not is_demo(row.code) for row in rows):
        rows = [row for row in rows if not is_demo(row.code)]
    with_boundary = [k for k, row in enumerate(rows) if row.boundary]
    geometries: list[Any] = [None] * len(rows)
    if with_boundary:
        parsed = shapely.from_geojson([rows[k].boundary for k in with_boundary])
        for k, geom in zip(with_boundary, parsed.tolist(), strict=True):
            geometries[k] = geom
    return [
        KelurahanRecord(
            row.code, row.name, row.kecamatan, row.kota, row.latitude, row.longitude, geom
        )
        for row, geom in zip(rows, geometries, strict=True)
    ]


def load_index(session: Session, **options: float) -> KelurahanIndex:
    """Build the spatial index from the kelurahan table, once (at start-up or after import).

    `options` are KelurahanIndex's distances (`gap_m`, `point_cutoff_m`, `near_m`).
    """
    return KelurahanIndex(load_records(session), **options)
