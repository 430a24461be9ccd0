"""Reading, checking and importing the kelurahan registry, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import gzip
import json
import re
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import shapely
from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from lapor.routing import (
    DEMO_REGISTRY,
    KelurahanIndex,
    KelurahanRecord,
    RegistryError,
    RemoveRefused,
    ensure_demo_registry,
    import_registry,
    load_index,
    load_records,
    parse_registry,
    remove_kelurahan,
)
from lapor.routing.svgmap import load_areas
from lapor.store.db import new_session, transaction
from lapor.store.models import Contact, GroupInvite, Head, Kelurahan, Report
from tests.conftest import FakeClock
from tests.routing import JAKARTA_CSV, JAKARTA_GEOJSON, NATIONAL_CSV, needs_data

MONAS = (-6.1754, 106.8272)


def _count(engine: Engine) -> int:
    with transaction(engine) as session:
        return int(session.execute(select(func.count()).select_from(Kelurahan)).scalar_one())


def _feature(code: str | None, ring: list[list[float]] | None = None, **props: object) -> dict:
    properties: dict[str, object] = {
        "kelurahan": f"Kel {code}",
        "kecamatan": "Kec Demo",
        "kota": "Kota Demo",
        **props,
    }
    if code is not None:
        properties["code"] = code
    ring = ring or [
        [106.80, -6.20],
        [106.81, -6.20],
        [106.81, -6.19],
        [106.80, -6.19],
        [106.80, -6.20],
    ]
    return {
        "type": "Feature",
        "properties": properties,
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


def _write_geojson(path: Path, features: list[dict]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


# --------------------------------------------------------------------------- parsing


@needs_data(JAKARTA_GEOJSON, JAKARTA_CSV)
def test_jakarta_geojson_and_csv_parse_to_the_same_kelurahan() -> None:
    polygons = parse_registry(JAKARTA_GEOJSON)
    points = parse_registry(JAKARTA_CSV)
    assert len(polygons) == len(points) == 267
    assert all(r.geometry is not None and r.geometry.is_valid for r in polygons)
    assert all(r.geometry is None for r in points)
    by_code = {p.code: p for p in points}
    for record in polygons:
        point = by_code[record.code]
        assert (record.name, record.kecamatan, record.kota) == (
            point.name,
            point.kecamatan,
            point.kota,
        )
        assert (record.lat, record.lon) == (point.lat, point.lon)
    kinds = {r.geometry.geom_type for r in polygons}  # type: ignore[union-attr]
    assert kinds == {"Polygon", "MultiPolygon"}


def test_geojson_without_points_gets_a_point_inside_each_polygon(tmp_path: Path) -> None:
    l_shape = [
        [106.80, -6.20],
        [106.82, -6.20],
        [106.82, -6.19],
        [106.81, -6.19],
        [106.81, -6.18],
        [106.80, -6.18],
        [106.80, -6.20],
    ]
    path = _write_geojson(tmp_path / "r.geojson", [_feature("A.1", l_shape)])
    (record,) = parse_registry(path)
    assert record.geometry is not None
    assert record.geometry.contains(shapely.Point(record.lon, record.lat))


def test_csv_variants_are_understood(tmp_path: Path) -> None:
    # Spreadsheets in an Indonesian locale write semicolons and decimal commas; the national
    # file says desa_kelurahan and kab_kota; a byte-order mark and blank rows happen.
    path = tmp_path / "r.csv"
    path.write_text(
        "\ufeffKode;Desa_Kelurahan;Kecamatan;Kab_Kota;Latitude;Longitude\n"
        "A.1;Gambir;Gambir;Jakarta Pusat;-6,1754;106,8272\n"
        ";;;;;\n"
        "A.2;Senen;Senen;Jakarta Pusat;-6,18;106,84\n",
        encoding="utf-8",
    )
    records = parse_registry(path)
    assert [(r.code, r.name, r.kota, r.lat, r.lon) for r in records] == [
        ("A.1", "Gambir", "Jakarta Pusat", -6.1754, 106.8272),
        ("A.2", "Senen", "Jakarta Pusat", -6.18, 106.84),
    ]


def test_a_bad_csv_reports_every_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "code,kelurahan,kecamatan,kota,lat,lon\n"
        "31.71.01.1001,Gambir,Gambir,Jakarta Pusat,-6.1754,106.8272\n"
        ",Tanpa Kode,Gambir,Jakarta Pusat,-6.17,106.82\n"
        "31.71.01.1003,Kebon Kelapa,Gambir,Jakarta Pusat,200,106.82\n"
        "31.71.01.1001,Gambir Lagi,Gambir,Jakarta Pusat,-6.17,106.82\n"
        "31.71.01.1004,Petojo Utara,Gambir,Jakarta Pusat,-6.17,abc\n"
        "31.71.01.1005,,Gambir,Jakarta Pusat,-6.17,106.81\n"
        "\n"
        "31.71.01.1006,Duri Pulo,Gambir,Jakarta Pusat,0,0\n"
        "31.71.01.1007,Cideng,Gambir,Jakarta Pusat,-6.17,106.81,extra\n"
        "31.71.01.1008,Petojo Selatan,Gambir,Jakarta Pusat,-6.17,106.81\n"
    )
    with pytest.raises(RegistryError) as caught:
        parse_registry(path)
    errors = caught.value.errors
    assert len(errors) == 7, errors
    assert errors[0].startswith("row 3:") and "missing code" in errors[0]
    assert errors[1].startswith("row 4 (31.71.01.1003):") and "lat 200 is out of range" in errors[1]
    assert errors[2].startswith("row 5 (31.71.01.1001):") and "duplicate code" in errors[2]
    assert "first in row 2" in errors[2]
    assert errors[3].startswith("row 6 (31.71.01.1004):") and "lon is not a number" in errors[3]
    assert errors[4].startswith("row 7 (31.71.01.1005):") and "missing kelurahan" in errors[4]
    assert errors[5].startswith("row 9 (31.71.01.1006):") and "0,0" in errors[5]
    assert errors[6].startswith("row 10 (31.71.01.1007):") and "more values" in errors[6]
    assert "7 problem(s)" in str(caught.value)


def test_a_bad_geojson_reports_every_bad_feature(tmp_path: Path) -> None:
    bow_tie = [[106.80, -6.20], [106.81, -6.19], [106.81, -6.20], [106.80, -6.19], [106.80, -6.20]]
    swapped = [[-6.20, 106.80], [-6.20, 106.81], [-6.19, 106.81], [-6.19, 106.80], [-6.20, 106.80]]
    features = [
        _feature("A.1"),  # fine
        _feature(None),  # 2: missing code
        _feature("A.3", lat=200, lon=106.8),  # 3: latitude out of range
        _feature("A.4", bow_tie),  # 4: self-intersecting
        _feature("A.1"),  # 5: duplicate
        {**_feature("A.6"), "geometry": {"type": "Point", "coordinates": [106.8, -6.2]}},  # 6
        {**_feature("A.7"), "geometry": {"type": "Polygon", "coordinates": []}},  # 7: empty
        _feature("A.8", swapped),  # 8: lat/lon order
        _feature("A.9", [[106.8, -6.2], [106.81, -6.2], [106.8, -6.2]]),  # 9: too few points
        {**_feature("A.10"), "geometry": None},  # 10: no geometry
        _feature("A.11", lat=-6.2),  # 11: lat without lon
    ]
    path = _write_geojson(tmp_path / "bad.geojson", features)
    with pytest.raises(RegistryError) as caught:
        parse_registry(path)
    errors = caught.value.errors
    assert len(errors) == 10, errors
    expected = [
        ("feature 2:", "missing code"),
        ("feature 3 (A.3):", "lat 200 is out of range"),
        ("feature 4 (A.4):", "invalid geometry: Self-intersection"),
        ("feature 5 (A.1):", "duplicate code A.1 (first in feature 1)"),
        ("feature 6 (A.6):", "unsupported geometry type 'Point'"),
        ("feature 7 (A.7):", "empty geometry"),
        ("feature 8 (A.8):", "out of range"),
        ("feature 9 (A.9):", "Too few points"),
        ("feature 10 (A.10):", "no geometry"),
        ("feature 11 (A.11):", "missing lon"),
    ]
    for error, (prefix, text) in zip(errors, expected, strict=True):
        assert error.startswith(prefix) and text in error, error


def test_files_that_are_not_registries_are_refused(tmp_path: Path) -> None:
    cases = {
        "broken.geojson": b'{"type": "FeatureCollection", "features": [',
        "list.geojson": b'[{"type": "Feature"}]',
        "utm.geojson": json.dumps(
            {
                "type": "FeatureCollection",
                "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32748"}},
                "features": [_feature("A.1")],
            }
        ).encode(),
        "header.csv": b"id,nama,lat,lon\n1,Gambir,-6.17,106.82\n",
        "latin1.csv": "code,kelurahan,kecamatan,kota,lat,lon\nA,Pas\xe7ar,K,K,-6,106\n".encode(
            "latin-1"
        ),
        "empty.csv": b"code,kelurahan,kecamatan,kota,lat,lon\n",
    }
    messages = {
        "broken.geojson": "not valid JSON",
        "list.geojson": "FeatureCollection",
        "utm.geojson": "EPSG:4326",
        "header.csv": "lacks column(s) code, kecamatan, kota",
        "latin1.csv": "not UTF-8",
        "empty.csv": "no kelurahan",
    }
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(RegistryError) as caught:
            parse_registry(path)
        assert len(caught.value.errors) == 1
        assert messages[name] in caught.value.errors[0], (name, caught.value.errors)
    with pytest.raises(RegistryError, match="cannot read"):
        parse_registry(tmp_path / "missing.csv")


def test_gzipped_csv_is_read(tmp_path: Path) -> None:
    path = tmp_path / "r.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as out:
        out.write("code,kelurahan,kecamatan,kota,lat,lon\nA.1,Gambir,Gambir,JP,-6.17,106.82\n")
    assert [r.code for r in parse_registry(path)] == ["A.1"]


# --------------------------------------------------------------------------- importing


@needs_data(JAKARTA_GEOJSON)
def test_geojson_import_and_reimport_keep_the_bound_group(engine: Engine, clock: FakeClock) -> None:
    records = parse_registry(JAKARTA_GEOJSON)
    steps: list[int] = []
    with transaction(engine) as session:
        result = import_registry(session, records, clock(), progress=steps.append)
    assert (result.added, result.updated, result.unchanged) == (267, 0, 0)
    assert sum(steps) == 267

    chat_id = -1_001_234_567_890  # a supergroup id: more than 32 bits
    with transaction(engine) as session:
        row = session.get(Kelurahan, "31.71.01.1001")
        assert row is not None and row.name == "Gambir" and row.boundary
        row.chat_id, row.chat_title, row.bound_at = chat_id, "Kelurahan Gambir", clock()

    clock.advance(days=30)
    changed = [
        dataclasses.replace(r, name="Gambir Baru") if r.code == "31.71.01.1001" else r
        for r in records
    ]
    with transaction(engine) as session:
        result = import_registry(session, changed, clock())
    assert (result.added, result.updated, result.unchanged) == (0, 1, 266)

    with transaction(engine) as session:
        row = session.get(Kelurahan, "31.71.01.1001")
        assert row is not None
        assert (row.name, row.chat_id, row.chat_title) == (
            "Gambir Baru",
            chat_id,
            "Kelurahan Gambir",
        )
        assert row.bound_at == clock() - timedelta(days=30)
        assert row.updated_at == clock()
        untouched = session.get(Kelurahan, "31.71.01.1002")
        assert untouched is not None and untouched.updated_at == clock() - timedelta(days=30)

    # The stored registry routes exactly like the file it came from.
    with transaction(engine) as session:
        stored = load_index(session)
    assert stored.has_boundaries and len(stored) == 267
    from_file = KelurahanIndex(records)
    for record in records[::7]:
        assert stored.locate(record.lat, record.lon).kelurahan.code == record.code  # type: ignore[union-attr]
    assert stored.locate(*MONAS) == dataclasses.replace(
        from_file.locate(*MONAS), kelurahan=stored.locate(*MONAS).kelurahan
    )


@needs_data(JAKARTA_GEOJSON, JAKARTA_CSV)
def test_a_points_file_after_boundaries_keeps_the_boundaries(
    engine: Engine, clock: FakeClock
) -> None:
    with transaction(engine) as session:
        import_registry(session, parse_registry(JAKARTA_GEOJSON), clock())
    points = parse_registry(JAKARTA_CSV)
    moved = [dataclasses.replace(points[0], lat=points[0].lat + 0.0001), *points[1:]]
    with transaction(engine) as session:
        result = import_registry(session, moved, clock())
    assert (result.added, result.updated, result.unchanged) == (0, 1, 266)
    with transaction(engine) as session:
        with_boundary = session.execute(
            select(func.count()).select_from(Kelurahan).where(Kelurahan.boundary.is_not(None))  # type: ignore[union-attr]
        ).scalar_one()
        row = session.get(Kelurahan, points[0].code)
    assert with_boundary == 267
    assert row is not None and row.latitude == points[0].lat + 0.0001


@needs_data(JAKARTA_CSV)
def test_csv_import_gives_a_points_only_index(engine: Engine, clock: FakeClock) -> None:
    points = parse_registry(JAKARTA_CSV)
    with transaction(engine) as session:
        result = import_registry(session, points, clock())
    assert result.added == 267 and result.total == 267
    with transaction(engine) as session:
        index = load_index(session, point_cutoff_m=2_000)
    assert not index.has_boundaries and index.point_cutoff_m == 2_000
    found = index.locate(points[42].lat, points[42].lon)
    assert found.how == "nearest_point" and found.kelurahan.code == points[42].code  # type: ignore[union-attr]


def test_a_bad_file_imports_nothing(engine: Engine, clock: FakeClock, tmp_path: Path) -> None:
    good = _write_geojson(tmp_path / "good.geojson", [_feature("A.1"), _feature("A.2")])
    with transaction(engine) as session:
        import_registry(session, parse_registry(good), clock())
    bad = _write_geojson(
        tmp_path / "bad.geojson",
        [_feature("A.1", kelurahan="Renamed"), _feature("A.3"), _feature(None)],
    )
    with pytest.raises(RegistryError), transaction(engine) as session:
        import_registry(session, parse_registry(bad), clock())
    assert _count(engine) == 2
    with transaction(engine) as session:
        assert session.get(Kelurahan, "A.1").name == "Kel A.1"  # type: ignore[union-attr]


def test_import_refuses_naive_time_and_duplicate_records(engine: Engine, clock: FakeClock) -> None:
    record = KelurahanRecord("A.1", "A", "K", "K", -6.2, 106.8)
    with transaction(engine) as session:
        with pytest.raises(ValueError, match="aware"):
            import_registry(session, [record], clock().replace(tzinfo=None))
        with pytest.raises(ValueError, match="duplicate"):
            import_registry(session, [record, record], clock())
    assert _count(engine) == 0


@pytest.fixture(scope="module")
def national() -> list[KelurahanRecord]:
    if not NATIONAL_CSV.is_file():
        pytest.skip(f"shared reference data missing: {NATIONAL_CSV}")
    return parse_registry(NATIONAL_CSV)


def test_the_national_registry_imports_in_seconds(
    engine: Engine, clock: FakeClock, national: list[KelurahanRecord]
) -> None:
    records = national
    started = time.perf_counter()
    with transaction(engine) as session:
        result = import_registry(session, records, clock())
    first = time.perf_counter() - started
    assert result.added == 83_403
    started = time.perf_counter()
    with transaction(engine) as session:
        again = import_registry(session, records, clock())
    second = time.perf_counter() - started
    assert (again.added, again.updated, again.unchanged) == (0, 0, 83_403)
    assert _count(engine) == 83_403
    # Batched statements take a few seconds; a query per row would take minutes.
    assert first < 30 and second < 30, (first, second)


# --------------------------------------------------------------------------- demo


def test_the_demo_registry_is_loaded_only_into_an_empty_table(
    engine: Engine, clock: FakeClock
) -> None:
    demo = parse_registry(DEMO_REGISTRY)
    assert [r.code for r in demo] == [f"DEMO.0{n}" for n in range(1, 6)]
    assert all("(demo)" in r.name and "(demo)" in r.kota for r in demo)
    with transaction(engine) as session:
        result = ensure_demo_registry(session, clock())
    assert result is not None and result.added == 5
    with transaction(engine) as session:
        assert ensure_demo_registry(session, clock()) is None
        found = load_index(session).locate(*MONAS)
    assert found.kelurahan is not None and found.kelurahan.name == "Gambir (demo)"


def test_the_demo_registry_stays_out_of_a_real_one(engine: Engine, clock: FakeClock) -> None:
    with transaction(engine) as session:
        import_registry(
            session,
            [KelurahanRecord("31.71.01.1001", "Gambir", "Gambir", "JP", -6.17, 106.82)],
            clock(),
        )
    with transaction(engine) as session:
        assert ensure_demo_registry(session, clock()) is None
    assert _count(engine) == 1


# --------------------------------------------------------------------------- replacing, removing

GAMBIR = KelurahanRecord("31.71.01.1001", "Gambir", "Gambir", "Jakarta Pusat", -6.17, 106.82)


def _refer(session: Session, code: str, what: str, now: datetime) -> None:
    """Make `what` refer to kelurahan `code`, as the bot and the operator's commands do."""
    if what == "report":
        contact = Contact(channel="telegram", address=f"70000{code}", created_at=now)
        session.add(contact)
        session.flush()
        session.add(
            Report(
                ticket=f"JKT-2611-{code}",
                kind="laporan",
                status="verified",
                channel="telegram",
                reporter_id=contact.id,
                kelurahan_code=code,
                created_at=now,
                updated_at=now,
            )
        )
    elif what == "head":
        session.add(
            Head(
                name="Pak Budi",
                role="RW",
                rw="005",
                kelurahan_code=code,
                created_at=now,
                updated_at=now,
            )
        )
    elif what in ("open invite", "used invite", "expired invite"):
        session.add(
            GroupInvite(
                kelurahan_code=code,
                code_hash=f"{what}:{code}",
                created_at=now,
                expires_at=now + timedelta(hours=-1 if what == "expired invite" else 72),
                used_at=now if what == "used invite" else None,
            )
        )
    elif what == "bound group":
        session.execute(
            update(Kelurahan).where(Kelurahan.code == code).values(chat_id=-1_001_234_567_890)
        )
    else:
        assert what == "nothing"


def _codes(engine: Engine) -> list[str]:
    with transaction(engine) as session:
        return list(session.scalars(select(Kelurahan.code).order_by(Kelurahan.code)))


def _invites(engine: Engine) -> int:
    with transaction(engine) as session:
        return int(session.execute(select(func.count()).select_from(GroupInvite)).scalar_one())


@pytest.mark.parametrize(
    ("what", "kept"),
    [
        ("nothing", False),
        ("open invite", False),
        ("used invite", False),
        ("bound group", False),
        ("report", True),
        ("head", True),
    ],
)
def test_a_real_registry_replaces_the_demo_except_its_history(
    engine: Engine, clock: FakeClock, what: str, kept: bool
) -> None:
    with transaction(engine) as session:
        ensure_demo_registry(session, clock())
        _refer(session, "DEMO.02", what, clock())
    with transaction(engine) as session:
        result = import_registry(session, [GAMBIR], clock())
    assert (result.added, result.demo_removed, result.demo_kept) == (1, 5 - kept, int(kept))
    assert _codes(engine) == ["31.71.01.1001", *(["DEMO.02"] if kept else [])]
    assert _invites(engine) == 0
    with transaction(engine) as session:
        # Kept or not, a demo kelurahan never takes a point from the real registry again,
        # nor shows on the dashboard's map.
        assert [r.code for r in load_records(session)] == ["31.71.01.1001"]
        assert [a.code for a in load_areas(session)] == ["31.71.01.1001"]
        menteng_demo = load_index(session).locate(-6.186, 106.826)  # inside DEMO.02
    assert menteng_demo.kelurahan is not None and menteng_demo.kelurahan.code == "31.71.01.1001"


def test_reimporting_the_demo_or_a_dry_run_keeps_the_demo(engine: Engine, clock: FakeClock) -> None:
    with transaction(engine) as session:
        ensure_demo_registry(session, clock())
    with transaction(engine) as session:
        again = import_registry(session, parse_registry(DEMO_REGISTRY), clock())
    assert (again.unchanged, again.demo_removed) == (5, 0)
    with new_session(engine) as session:
        dry = import_registry(session, [GAMBIR], clock())
        session.rollback()
    assert dry.demo_removed == 5
    assert _codes(engine) == [f"DEMO.0{n}" for n in range(1, 6)]


@needs_data(JAKARTA_GEOJSON)
def test_after_the_real_import_monas_is_in_gambir(engine: Engine, clock: FakeClock) -> None:
    with transaction(engine) as session:
        ensure_demo_registry(session, clock())
        _refer(session, "DEMO.01", "report", clock())  # the demo Gambir kept as history
    with transaction(engine) as session:
        result = import_registry(session, parse_registry(JAKARTA_GEOJSON), clock())
    assert (result.added, result.demo_removed, result.demo_kept) == (267, 4, 1)
    with transaction(engine) as session:
        found = load_index(session).locate(*MONAS)
        areas = load_areas(session)
    assert found.kelurahan is not None and found.kelurahan.code == "31.71.01.1001"
    assert found.how == "inside" and all(n.code[:5] != "DEMO." for n in found.neighbours)
    assert len(areas) == 267 and not [a for a in areas if a.code.startswith("DEMO.")]


@pytest.mark.parametrize(
    ("what", "force", "refused"),
    [
        ("nothing", False, None),
        ("used invite", False, None),
        ("expired invite", False, None),
        ("open invite", False, "1 unused group invite(s) are still valid"),
        ("open invite", True, None),
        ("bound group", False, "its reports go to the Telegram group -1001234567890"),
        ("bound group", True, None),
        ("report", False, "1 report(s) were routed to it"),
        ("report", True, "1 report(s) were routed to it"),
        ("head", False, "1 RT/RW head(s) belong to it"),
        ("head", True, "1 RT/RW head(s) belong to it"),
    ],
)
def test_removing_a_kelurahan_leaves_no_orphans(
    engine: Engine, clock: FakeClock, what: str, force: bool, refused: str | None
) -> None:
    other = dataclasses.replace(GAMBIR, code="31.71.01.1002", name="Cideng")
    with transaction(engine) as session:
        import_registry(session, [GAMBIR, other], clock())
        _refer(session, GAMBIR.code, what, clock())
        _refer(session, other.code, "open invite", clock())  # another kelurahan's: untouched
    with transaction(engine) as session:
        if refused is None:
            remove_kelurahan(session, GAMBIR.code, clock(), force=force)
        else:
            with pytest.raises(RemoveRefused, match=re.escape(refused)):
                remove_kelurahan(session, GAMBIR.code, clock(), force=force)
    if refused is None:
        assert _codes(engine) == [other.code]
        assert _invites(engine) == 1
    else:
        assert _codes(engine) == [GAMBIR.code, other.code]
        assert _invites(engine) == 1 + (what == "open invite")


def test_removing_an_unknown_kelurahan(engine: Engine, clock: FakeClock) -> None:
    with transaction(engine) as session, pytest.raises(KeyError):
        remove_kelurahan(session, "31.71.01.9999", clock())
