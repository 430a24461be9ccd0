"""`lapor kelurahan import | locate | list`, driven through Typer's test runner."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import typer

from lapor.routing import DEMO_REGISTRY, parse_registry
from lapor.routing.cli import kelurahan_app
from lapor.store.db import make_engine, transaction
from lapor.store.models import Kelurahan
from tests.routing import JAKARTA_CSV, JAKARTA_GEOJSON, needs_data
from tests.routing.conftest import Run


@pytest.fixture
def run(invoker: Callable[[typer.Typer], Run]) -> Run:
    return invoker(kelurahan_app)


def _field(output: str, name: str) -> str:
    for line in output.splitlines():
        if line.startswith(f"{name}:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no {name} in {output!r}")


@needs_data(JAKARTA_GEOJSON, JAKARTA_CSV)
def test_import_then_locate_points_across_the_city(run: Run) -> None:
    output = run("import", str(JAKARTA_GEOJSON))
    assert "267 kelurahan" in output and "267 added, 0 updated, 0 unchanged" in output

    monas = run("locate", "-6.1754", "106.8272")
    assert _field(monas, "kelurahan") == "Gambir"
    assert _field(monas, "code") == "31.71.01.1001"
    assert _field(monas, "kecamatan") == "Gambir"
    assert _field(monas, "kota") == "Kota Administrasi Jakarta Pusat"
    assert _field(monas, "how") == "inside" and _field(monas, "distance") == "0 m"
    # As copied from a map, in one argument.
    assert _field(run("locate", "-6.1754, 106.8272"), "kelurahan") == "Gambir"

    # One kelurahan from each of five kota, by its representative point.
    points = parse_registry(JAKARTA_CSV)
    picked = {}
    for point in points:
        picked.setdefault(point.kota, point)
    assert len(picked) == 6
    for point in list(picked.values())[1:]:
        found = run("locate", str(point.lat), str(point.lon))
        assert _field(found, "kelurahan") == point.name
        assert _field(found, "kota") == point.kota
        assert _field(found, "code") == point.code

    assert "outside the service area" in run("locate", "-5.95", "106.95")
    assert "outside the service area" in run("locate", "-6.595", "106.816")

    again = run("import", str(JAKARTA_GEOJSON))
    assert "0 added, 0 updated, 267 unchanged" in again


def test_a_bad_file_prints_every_problem_and_imports_nothing(run: Run, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "code,kelurahan,kecamatan,kota,lat,lon\n"
        "A.1,Satu,Kec,Kota,-6.2,106.8\n"
        ",Dua,Kec,Kota,-6.2,106.8\n"
        "A.3,Tiga,Kec,Kota,200,106.8\n"
        "A.1,Empat,Kec,Kota,-6.2,106.8\n"
    )
    output = run("import", str(bad), code=1)
    assert "3 problem(s), nothing imported" in output
    assert "row 3: missing code" in output
    assert "row 4 (A.3): lat 200 is out of range" in output
    assert "row 5 (A.1): duplicate code A.1 (first in row 2)" in output
    assert "no kelurahan" in run("list")
    run("locate", "-6.2", "106.8", code=1)


def test_demo_import_list_and_bound_group(run: Run, tmp_path: Path) -> None:
    assert "5 added" in run("import", str(DEMO_REGISTRY))
    lines = run("list").splitlines()
    assert len(lines) == 5
    assert lines[0] == "DEMO.01  Gambir (demo)  (Gambir (demo))  -"

    engine = make_engine(f"sqlite:///{tmp_path / 'cli.db'}")
    try:
        with transaction(engine) as session:
            row = session.get(Kelurahan, "DEMO.02")
            assert row is not None
            row.chat_id, row.chat_title = -1_001_999_888_777, "Kelurahan Menteng"
    finally:
        engine.dispose()
    assert "Kelurahan Menteng [-1001999888777]" in run("list", "--kota", "pusat")
    assert "0 added, 0 updated, 5 unchanged" in run("import", str(DEMO_REGISTRY))
    assert "Kelurahan Menteng [-1001999888777]" in run("list")

    near_border = run("locate", "-6.18482", "106.83")
    assert _field(near_border, "code") == "DEMO.01"
    assert "DEMO.02 Menteng (demo)" in _field(near_border, "also near")
    beyond = run("locate", "-6.1641", "106.825")
    assert _field(beyond, "how") == "nearest_polygon"
    assert _field(beyond, "distance") == "100 m"


def test_dry_run_saves_nothing_and_bad_coordinates_are_refused(run: Run, tmp_path: Path) -> None:
    assert "dry run: nothing saved" in run("import", "--dry-run", str(DEMO_REGISTRY))
    assert "no kelurahan" in run("list")
    run("import", str(DEMO_REGISTRY))
    assert "not a coordinate" in run("locate", "106.8272", "-6.1754", code=2)
    assert "LAT LON" in run("locate", "-6.1754", code=2)
    assert "not numbers" in run("locate", "abc", "def", code=2)


def test_geojson_points_are_shown_with_distance(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "points.csv"
    path.write_text("code,kelurahan,kecamatan,kota,lat,lon\nP.1,Titik,Kec,Kota,-6.2,106.8\n")
    run("import", str(path))
    output = run("locate", "-6.201", "106.8")
    assert _field(output, "how") == "nearest_point"
    assert _field(output, "distance") == "111 m"
    assert "no kelurahan point within 3000 m" in run("locate", "-6.3", "106.8")
    assert json.loads(DEMO_REGISTRY.read_text())["type"] == "FeatureCollection"


@needs_data(JAKARTA_GEOJSON)
def test_importing_the_real_registry_replaces_the_demo(run: Run) -> None:
    run("import", str(DEMO_REGISTRY))
    assert _field(run("locate", "-6.1754", "106.8272"), "code") == "DEMO.01"
    dry = run("import", "--dry-run", str(JAKARTA_GEOJSON))
    assert "would be replaced: 5 demo kelurahan removed" in dry
    output = run("import", str(JAKARTA_GEOJSON))
    assert "267 added" in output and "The demo registry were replaced" not in output
    assert "5 demo kelurahan removed" in output
    monas = run("locate", "-6.1754", "106.8272")
    assert _field(monas, "code") == "31.71.01.1001" and _field(monas, "kelurahan") == "Gambir"
    listing = run("list")
    assert "DEMO." not in listing and len(listing.splitlines()) == 267


def test_a_demo_kelurahan_with_reports_is_listed_as_history(run: Run, tmp_path: Path) -> None:
    run("import", str(DEMO_REGISTRY))
    _with_report(tmp_path, "DEMO.01")
    real = tmp_path / "real.csv"
    real.write_text("code,kelurahan,kecamatan,kota,lat,lon\nA.1,Satu,Kec,Kota,-6.17,106.82\n")
    output = run("import", str(real))
    assert "4 demo kelurahan removed" in output
    assert "1 demo kelurahan stay as the history of their reports or heads" in output
    assert run("list").splitlines() == [
        "A.1  Satu  (Kec)  -",
        "DEMO.01  Gambir (demo)  (Gambir (demo))  -  (demo, history only: not routed)",
    ]
    assert _field(run("locate", "-6.1754", "106.8272"), "code") == "A.1"


def _with_report(tmp_path: Path, code: str) -> None:
    from datetime import UTC, datetime

    from lapor.store.models import Contact, Report

    engine = make_engine(f"sqlite:///{tmp_path / 'cli.db'}")
    now = datetime.now(UTC)
    try:
        with transaction(engine) as session:
            contact = Contact(channel="telegram", address="7000000001", created_at=now)
            session.add(contact)
            session.flush()
            session.add(
                Report(
                    ticket=f"JKT-2612-{code}",
                    kind="laporan",
                    status="forwarded",
                    channel="telegram",
                    reporter_id=contact.id,
                    kelurahan_code=code,
                    created_at=now,
                    updated_at=now,
                )
            )
    finally:
        engine.dispose()


def test_remove_a_kelurahan(run: Run, tmp_path: Path) -> None:
    run("import", str(DEMO_REGISTRY))
    assert "no kelurahan 'DEMO.09'" in run("remove", "DEMO.09", code=1)
    assert "DEMO.05 removed" in run("remove", "DEMO.05")
    assert "DEMO.05" not in run("list")

    engine = make_engine(f"sqlite:///{tmp_path / 'cli.db'}")
    try:
        with transaction(engine) as session:
            row = session.get(Kelurahan, "DEMO.02")
            assert row is not None
            row.chat_id = -1_001_999_888_777
    finally:
        engine.dispose()
    refused = run("remove", "DEMO.02", code=1)
    assert "its reports go to the Telegram group -1001999888777" in refused
    assert "add --force" in refused and "DEMO.02" in run("list")
    assert "DEMO.02 removed" in run("remove", "DEMO.02", "--force")

    _with_report(tmp_path, "DEMO.01")
    for args in (["DEMO.01"], ["DEMO.01", "--force"]):
        refused = run("remove", *args, code=1)
        assert "1 report(s) were routed to it" in refused and "stays as their history" in refused
    assert run("list").splitlines()[0].startswith("DEMO.01  Gambir (demo)")
