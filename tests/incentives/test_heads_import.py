"""Reading, checking and importing the RT/RW heads list, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
import typer
from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from lapor.incentives.cli import heads_app
from lapor.incentives.heads import (
    HeadRecord,
    HeadsError,
    import_heads,
    normalise_telegram,
    normalise_whatsapp,
    parse_heads,
)
from lapor.store.db import make_engine, transaction
from lapor.store.migrate import upgrade
from lapor.store.models import Contact, Head, Kelurahan
from tests.conftest import FakeClock

GAMBIR = "31.71.01.1001"
MENTENG = "31.71.06.1001"
KNOWN = {GAMBIR, MENTENG}
HEADER = "name,role,rt,rw,kelurahan_code,whatsapp,telegram_username\n"


def _add_kelurahan(engine: Engine, now: datetime, codes: list[str]) -> None:
    with transaction(engine) as session:
        for n, code in enumerate(codes):
            session.add(
                Kelurahan(
                    code=code,
                    name=f"Kelurahan {n}",
                    kecamatan="Kecamatan Demo",
                    kota="Kota Administrasi Jakarta Pusat",
                    latitude=-6.17 - n / 1000,
                    longitude=106.82 + n / 1000,
                    updated_at=now,
                )
            )


def _heads(engine: Engine) -> dict[tuple[str, str, str, str], Head]:
    with transaction(engine) as session:
        rows = session.execute(select(Head)).scalars().all()
        return {(h.kelurahan_code, h.rw, h.rt, h.role): h for h in rows}


def _count(engine: Engine) -> int:
    with transaction(engine) as session:
        return int(session.execute(select(func.count()).select_from(Head)).scalar_one())


def _import(engine: Engine, path: Path, now: datetime, known: set[str] = KNOWN):  # type: ignore[no-untyped-def]
    records = parse_heads(path, known)
    with transaction(engine) as session:
        return import_heads(session, records, now)


def _write(tmp_path: Path, text: str, name: str = "heads.csv", bom: bool = False) -> Path:
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0812-3456-7890", "+6281234567890"),
        ("081234567890", "+6281234567890"),
        ("62812 3456 7890", "+6281234567890"),
        ("+62 812 3456 7890", "+6281234567890"),
        ("+62 (0)812-3456-7890", "+6281234567890"),
        ("0062 812 3456 7890", "+6281234567890"),
        ("81234567890", "+6281234567890"),  # the spreadsheet dropped the 0
        ("0811.123.456", "+62811123456"),
    ],
)
def test_whatsapp_numbers_are_normalised_to_e164(raw: str, expected: str) -> None:
    assert normalise_whatsapp(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["021-3456789", "0812-34", "0812345678901234", "+65 8123 4567", "0812-abcd-7890", "6.28E+12"],
)
def test_invalid_whatsapp_numbers_are_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="whatsapp"):
        normalise_whatsapp(raw)


def test_telegram_usernames() -> None:
    assert normalise_telegram("@pak_budi") == "pak_budi"
    assert normalise_telegram("pak_budi") == "pak_budi"
    assert normalise_telegram("https://t.me/pak_budi") == "pak_budi"
    for bad in ("@abc", "pak budi", "a" * 33, "pak-budi"):
        with pytest.raises(ValueError, match="telegram_username"):
            normalise_telegram(bad)


def test_parse_accepts_bom_semicolons_any_case_header_and_extra_columns(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "No;NAME;Role;RT;RW;Kelurahan_Code;WhatsApp;Telegram_Username;Catatan\n"
        "1;Budi  Santoso;Ketua RT;3;5;31.71.01.1001;0812-3456-7890;@pak_budi;baru\n"
        ";;;;;;;;\n"
        "2;Siti Aminah;ketua rw;;05;31.71.01.1001;-;;\n",
        bom=True,
    )
    records = parse_heads(path, KNOWN)
    assert records == [
        HeadRecord("Budi Santoso", "RT", "003", "005", GAMBIR, "+6281234567890", "pak_budi"),
        HeadRecord("Siti Aminah", "RW", "", "005", GAMBIR, None, None),
    ]


def test_optional_columns_may_be_absent(tmp_path: Path) -> None:
    path = _write(tmp_path, "name,role,rt,rw,kelurahan_code\nBudi,RT,1,1,31.71.01.1001\n")
    (record,) = parse_heads(path, KNOWN)
    assert record.whatsapp is None and record.telegram_username is None
    assert record.omitted == {"whatsapp", "telegram_username"}


def test_a_header_without_required_columns_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "nama,role,rt,rw\nBudi,RT,1,1\n")
    with pytest.raises(HeadsError) as caught:
        parse_heads(path, KNOWN)
    assert caught.value.errors == [
        "row 1: the header lacks column(s) name, kelurahan_code (expected "
        "name,role,rt,rw,kelurahan_code,whatsapp,telegram_username; found nama,role,rt,rw)"
    ]


def test_a_file_with_no_rows_is_refused(tmp_path: Path) -> None:
    with pytest.raises(HeadsError, match="contains no heads"):
        parse_heads(_write(tmp_path, HEADER), KNOWN)


# --------------------------------------------------------------------------- importing

VALID = (
    HEADER + "Budi Santoso,RT,3,5,31.71.01.1001,0812-3456-7890,@pak_budi\n"
    "Siti Aminah,Ketua RW,,5,31.71.01.1001,+62 813 1111 2222,\n"
    "Joko Widodo,rt,12,5,31.71.01.1001,,joko_rt12\n"
    "Ani Lestari,RT,001,010,31.71.06.1001,6285712345678,\n"
)


def test_valid_import_normalises_and_stores_rt_and_rw_heads(
    engine: Engine, clock: FakeClock, tmp_path: Path
) -> None:
    _add_kelurahan(engine, clock.now, sorted(KNOWN))
    result = _import(engine, _write(tmp_path, VALID), clock.now)
    assert (result.added, result.updated, result.unchanged) == (4, 0, 0)

    heads = _heads(engine)
    assert sorted(heads) == [
        (GAMBIR, "005", "", "RW"),
        (GAMBIR, "005", "003", "RT"),
        (GAMBIR, "005", "012", "RT"),
        (MENTENG, "010", "001", "RT"),
    ]
    budi = heads[(GAMBIR, "005", "003", "RT")]
    assert (budi.name, budi.whatsapp, budi.telegram_username) == (
        "Budi Santoso",
        "+6281234567890",
        "pak_budi",
    )
    assert budi.active and not budi.reminders_paused
    assert budi.contact_id is None and budi.linked_at is None
    assert budi.created_at == clock.now and budi.updated_at == clock.now
    siti = heads[(GAMBIR, "005", "", "RW")]
    assert (siti.name, siti.whatsapp, siti.telegram_username) == (
        "Siti Aminah",
        "+6281311112222",
        None,
    )
    assert heads[(MENTENG, "010", "001", "RT")].whatsapp == "+6285712345678"


def test_reimport_is_idempotent_updates_changes_and_keeps_the_link(
    engine: Engine, clock: FakeClock, tmp_path: Path
) -> None:
    _add_kelurahan(engine, clock.now, sorted(KNOWN))
    path = _write(tmp_path, VALID)
    _import(engine, path, clock.now)
    created = clock.now

    clock.advance(days=1)
    again = _import(engine, path, clock.now)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 4)
    assert all(h.updated_at == created for h in _heads(engine).values())

    # Budi links his Telegram account and pauses reminders; Siti was deactivated.
    with transaction(engine) as session:
        contact = Contact(channel="telegram", address="1", created_at=clock.now)
        session.add(contact)
        session.flush()
        session.execute(
            update(Head)
            .where(Head.kelurahan_code == GAMBIR, Head.rt == "003")
            .values(contact_id=contact.id, linked_at=clock.now, reminders_paused=True)
        )
        session.execute(update(Head).where(Head.role == "RW").values(active=False))
        contact_id = contact.id
    linked = clock.now

    clock.advance(days=1)
    changed = (
        VALID.replace("Budi Santoso,RT,3,5", "Budi Santoso Jr.,RT,3,5").replace(
            "0812-3456-7890", "0812-9999-0000"
        )
        + "Dewi Sartika,RT,4,5,31.71.01.1001,,\n"
    )
    result = _import(engine, _write(tmp_path, changed, name="v2.csv"), clock.now)
    assert (result.added, result.updated, result.unchanged) == (1, 2, 2)

    heads = _heads(engine)
    budi = heads[(GAMBIR, "005", "003", "RT")]
    assert budi.name == "Budi Santoso Jr." and budi.whatsapp == "+6281299990000"
    assert budi.contact_id == contact_id and budi.linked_at == linked
    assert budi.reminders_paused is True
    assert budi.updated_at == clock.now and budi.created_at == created
    siti = heads[(GAMBIR, "005", "", "RW")]
    assert siti.active is True and siti.updated_at == clock.now  # back in the list
    assert heads[(GAMBIR, "005", "004", "RT")].name == "Dewi Sartika"
    assert heads[(MENTENG, "010", "001", "RT")].updated_at == created


def test_a_names_only_file_keeps_contact_details(
    engine: Engine, clock: FakeClock, tmp_path: Path
) -> None:
    _add_kelurahan(engine, clock.now, sorted(KNOWN))
    _import(engine, _write(tmp_path, VALID), clock.now)
    names_only = (
        "name,role,rt,rw,kelurahan_code\n"
        "Budi Santoso,RT,3,5,31.71.01.1001\n"
        "Siti Aminah Baru,RW,,5,31.71.01.1001\n"
    )
    result = _import(engine, _write(tmp_path, names_only, name="names.csv"), clock.now)
    assert (result.added, result.updated, result.unchanged) == (0, 1, 1)
    heads = _heads(engine)
    assert heads[(GAMBIR, "005", "003", "RT")].whatsapp == "+6281234567890"
    siti = heads[(GAMBIR, "005", "", "RW")]
    assert siti.name == "Siti Aminah Baru" and siti.whatsapp == "+6281311112222"


def test_a_bad_file_reports_every_problem_and_imports_nothing(
    engine: Engine, clock: FakeClock, tmp_path: Path
) -> None:
    _add_kelurahan(engine, clock.now, sorted(KNOWN))
    bad = _write(
        tmp_path,
        HEADER + "Budi Santoso,RT,3,5,31.71.01.1001,,\n"  # row 2: fine
        "Ahmad,RT,1,1,31.71.99.9999,,\n"  # row 3: unknown kelurahan
        "Rahmat,RK,1,2,31.71.01.1001,,\n"  # row 4: role
        "Sri,RT,,2,31.71.01.1001,,\n"  # row 5: RT missing
        "Wati,RT,2,2,31.71.01.1001,0812-34,\n"  # row 6: bad WhatsApp
        "Budi Lagi,Ketua RT,003,005,31.71.01.1001,,\n"  # row 7: duplicate of row 2
        "Hasan,RW,7,2,31.71.01.1001,,@ab\n"  # row 8: rt for RW, bad username
        ",RT,1234,,31.71.01.1001,,\n",  # row 9: name, rt, rw
    )
    with pytest.raises(HeadsError) as caught:
        parse_heads(bad, KNOWN)
    assert caught.value.errors == [
        "row 3: unknown kelurahan_code '31.71.99.9999' (not in the kelurahan registry; "
        "import the registry first or correct the code)",
        "row 4: role 'RK' is not RT or RW (or Ketua RT / Ketua RW)",
        "row 5: missing rt for an RT head",
        "row 6: whatsapp '0812-34' is not an Indonesian mobile number "
        "(expected 08xx with 10 to 13 digits, e.g. 0812-3456-7890)",
        "row 7: duplicate RT 003/RW 005 31.71.01.1001 (first in row 2)",
        "row 8: rt must be empty for an RW head (found '7')",
        "row 8: telegram_username '@ab' is not a Telegram username "
        "(5 to 32 letters, digits or _, with or without @)",
        "row 9: missing name",
        "row 9: rt '1234' is not a number of 1 to 3 digits",
        "row 9: missing rw",
    ]
    assert "10 problem(s)" in str(caught.value)
    assert _count(engine) == 0


def test_import_of_all_jakarta_heads(engine: Engine, clock: FakeClock, tmp_path: Path) -> None:
    """Jakarta has about 30,400 RT and 2,730 RW heads: 33,000 rows in one file."""
    codes = [f"31.71.{k // 100:02d}.{1000 + k % 100}" for k in range(20)]
    _add_kelurahan(engine, clock.now, codes)
    lines = [HEADER]
    rows = 0
    for code in codes:  # 20 kelurahan x 30 RW x (1 RW head + 54 RT heads) = 33,000
        for rw in range(1, 31):
            lines.append(f"Ketua RW {rw},RW,,{rw},{code},08123{rows:07d},\n")
            rows += 1
            for rt in range(1, 55):
                lines.append(f"Ketua RT {rt} RW {rw},RT,{rt},{rw},{code},,rt_{rows:07d}\n")
                rows += 1
    assert rows == 33_000
    path = _write(tmp_path, "".join(lines))

    started = time.perf_counter()
    records = parse_heads(path, set(codes))
    parsed = time.perf_counter()
    done: list[int] = []
    with transaction(engine) as session:
        result = import_heads(session, records, clock.now, progress=done.append)
    imported = time.perf_counter()
    assert (result.added, result.updated, result.unchanged) == (33_000, 0, 0)
    assert done == [1000] * 33 and _count(engine) == 33_000

    with transaction(engine) as session:
        again = import_heads(session, records, clock.now)
    reimported = time.perf_counter()
    assert (again.added, again.updated, again.unchanged) == (0, 0, 33_000)

    # The same list in another order, with ten new ketua: found by unit, not by position.
    shuffled = random.Random(903).sample(records, len(records))
    for k in range(0, 33_000, 3_300):
        shuffled[k] = dataclasses.replace(shuffled[k], name=f"Ketua Baru {k}")
    with transaction(engine) as session:
        changed = import_heads(session, shuffled, clock.now)
    assert (changed.added, changed.updated, changed.unchanged) == (0, 10, 32_990)
    with transaction(engine) as session:
        renamed = session.execute(select(Head.name).where(Head.name.startswith("Ketua Baru")))
        assert len(renamed.all()) == 10
    print(
        f"\n{engine.dialect.name}: parse {parsed - started:.2f}s, "
        f"import {imported - parsed:.2f}s, re-import {reimported - imported:.2f}s"
    )


# --------------------------------------------------------------------------- CLI

Run = Callable[..., str]


@pytest.fixture
def cli_db(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, clock: FakeClock) -> str:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    upgrade(url)
    engine = make_engine(url)
    try:
        _add_kelurahan(engine, clock.now, sorted(KNOWN))
    finally:
        engine.dispose()
    return url


@pytest.fixture
def run(cli_db: str) -> Run:
    app = typer.Typer()
    app.add_typer(heads_app, name="heads")
    runner = CliRunner()

    def invoke(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, ["heads", *args])
        assert result.exit_code == code, result.output
        return result.output

    return invoke


def test_cli_import_and_list(run: Run, cli_db: str, tmp_path: Path) -> None:
    path = _write(tmp_path, VALID)
    output = run("import", str(path))
    assert "4 heads in heads.csv (3 RT, 1 RW): 4 added, 0 updated, 0 unchanged" in output
    assert "0 added, 0 updated, 4 unchanged" in run("import", str(path))

    engine = make_engine(cli_db)
    try:
        with transaction(engine) as session:
            contact = Contact(
                channel="telegram", address="1", created_at=datetime.now().astimezone()
            )
            session.add(contact)
            session.flush()
            session.execute(update(Head).where(Head.rt == "003").values(contact_id=contact.id))
    finally:
        engine.dispose()

    listed = run("list").splitlines()
    assert listed[0].split() == ["id", "role", "RT/RW", "kelurahan", "name", "linked"]
    assert len(listed) == 5
    assert listed[1].split()[1:] == ["RW", "RW", "005", GAMBIR, "Siti", "Aminah", "no"]
    assert listed[2].split()[1:] == ["RT", "RT", "003/RW", "005", GAMBIR, "Budi", "Santoso", "yes"]

    gambir_unlinked = run("list", "--kelurahan", GAMBIR, "--unlinked")
    assert "Siti Aminah" in gambir_unlinked and "Joko Widodo" in gambir_unlinked
    assert "Budi" not in gambir_unlinked and "Ani Lestari" not in gambir_unlinked
    assert run("list", "--kelurahan", "31.75.01.1001").strip() == "no heads match"


def test_cli_bad_file_prints_every_error_exits_1_and_imports_nothing(
    run: Run, cli_db: str, tmp_path: Path
) -> None:
    bad = _write(
        tmp_path,
        HEADER + "Budi,RT,3,5,31.71.01.1001,,\nAhmad,RK,1,1,31.71.99.9999,0812,\n",
    )
    output = run("import", str(bad), code=1)
    assert "heads.csv: 3 problem(s), nothing imported:" in output
    assert "row 3: role 'RK' is not RT or RW" in output
    assert "row 3: unknown kelurahan_code '31.71.99.9999'" in output
    assert "row 3: whatsapp '0812' is not an Indonesian mobile number" in output
    assert run("list").strip() == "no heads (import a list with: lapor heads import FILE)"
