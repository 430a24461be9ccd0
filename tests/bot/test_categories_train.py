"""`lapor categories train` on a database with verified reports, SQLite and PostgreSQL: which
reports teach (the verifier's final category, the note), what is printed, the model file."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from lapor.bot.cli import app
from lapor.routing import suggest
from lapor.store.db import transaction
from lapor.store.lifecycle import ReportKind, ReportStatus
from lapor.store.models import Category, Contact, Report
from lapor.store.reports import create_report, transition, verified_notes

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
S = ReportStatus
_photos = itertools.count(1)

Run = Callable[..., str]


@pytest.fixture
def run(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Run:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("MEDIA_DIR", str(tmp_path / "media"))
    monkeypatch.delenv("CATEGORY_MODEL_PATH", raising=False)
    runner = CliRunner()

    def invoke(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, result.output
        return result.output

    return invoke


def _file(
    session: Session,
    reporter: Contact,
    category: str | None,
    note: str | None,
    *moves: ReportStatus,
    kind: ReportKind = ReportKind.LAPORAN,
) -> int:
    n = next(_photos)
    report = create_report(
        session,
        kind=kind,
        reporter=reporter,
        now=NOW,
        local_now=NOW.astimezone(ZoneInfo("Asia/Jakarta")),
        ticket_prefix="JKT",
        category_slug=category,
        note=note,
        location=(-6.175, 106.825),
        photos=[
            {
                "sha256": f"{n:064x}",
                "dhash": f"{n:016x}",
                "width": 10,
                "height": 10,
                "size": 100,
                "path": f"p/{n}.jpg",
                "source_format": "JPEG",
            }
        ],
    )
    assert report.id is not None
    for target in moves:
        assert transition(session, report.id, target, now=NOW, actor="test") is not None
    return report.id


def _reporter(session: Session) -> Contact:
    reporter = Contact(channel="console", address="6281100000009", created_at=NOW)
    session.add(reporter)
    session.flush()
    return reporter


def _recategorise(session: Session, report_id: int, slug: str) -> None:
    """What a verifier's "Ubah kategori" does to the report."""
    category_id = session.scalars(select(Category.id).where(Category.slug == slug)).one()
    session.execute(update(Report).where(Report.id == report_id).values(category_id=category_id))


def test_only_accepted_laporan_with_a_note_teach_with_their_final_category(
    engine: Engine, run: Run, tmp_path: Path
) -> None:
    with transaction(engine) as session:
        who = _reporter(session)
        _file(session, who, "sampah", "sampah numpuk di gang", S.VERIFIED)
        moved = _file(session, who, "banjir", "aspal bolong kena air", S.VERIFIED)
        _recategorise(session, moved, "jalan-rusak")
        transition(session, moved, S.FORWARDED, now=NOW, actor="test")
        _file(session, who, "lampu-jalan", "pju mati", S.VERIFIED, S.FORWARDED, S.RESOLVED)
        _file(session, who, "kebakaran", "api di gudang", S.VERIFIED, S.FORWARDED, S.IN_PROGRESS)
        _file(session, who, "sampah", "ini bukan laporan", S.REJECTED)
        _file(session, who, "sampah", "sama dengan yang lain", S.DUPLICATE)
        _file(session, who, "banjir", "belum diperiksa")
        _file(session, who, "banjir", None, S.VERIFIED)
        _file(session, who, "banjir", "   ", S.VERIFIED)
        _file(session, who, None, "taman bagus", S.ACKNOWLEDGED, kind=ReportKind.SARAN)

    with transaction(engine) as session:
        assert verified_notes(session) == [
            ("sampah", "sampah numpuk di gang"),
            ("jalan-rusak", "aspal bolong kena air"),
            ("lampu-jalan", "pju mati"),
            ("kebakaran", "api di gudang"),
        ]

    output = run("categories", "train")
    assert "verified reports with a note: 4" in output
    rows = {line.split()[0]: line.split()[1:] for line in output.splitlines()[2:14]}
    assert rows["sampah"][0] == "1" and rows["jalan-rusak"][0] == "1"
    assert rows["banjir"][0] == "0" and int(rows["banjir"][1]) >= 300
    assert "not measured" in output
    path = tmp_path / "media" / "category-model.json"
    assert f"model written to {path}" in output
    model = suggest.load(path)
    assert set(model.classes) == set(rows)
    assert model.counts.documents["jalan-rusak"] == model.counts.documents["banjir"] + 1


def test_a_new_category_is_learnt_from_the_citys_reports_and_measured(
    engine: Engine, run: Run, tmp_path: Path
) -> None:
    run("categories", "add", "trotoar", "Trotoar Rusak", "Broken pavement")
    # Texts that differ in their words (digits are not read, so "gang 4" and "gang 5" are
    # one text to the held-out split, which keeps repeats on one side).
    streets = ["melati", "mawar", "kenanga", "anggrek", "flamboyan", "cempaka", "dahlia"]
    streets += ["kamboja", "teratai", "seroja", "nusa indah", "bougenville", "tulip"]
    trotoar = ["ubin trotoar copot", "trotoar retak", "trotoar ambles", "trotoar pecah"]
    sampah = ["sampah numpuk", "tong sampah penuh", "sampah berserakan", "bau sampah"]
    with transaction(engine) as session:
        who = _reporter(session)
        for words, street in itertools.product(trotoar, streets):
            _file(session, who, "trotoar", f"{words} di jalan {street}", S.VERIFIED)
        for words, street in itertools.product(sampah, streets):
            _file(session, who, "sampah", f"{words} di gang {street}", S.VERIFIED)

    output = run("categories", "train", "--city-only", "--output", str(tmp_path / "m.json"))
    assert "verified reports with a note: 104" in output
    assert "no examples, so never suggested:" in output  # the shipped ones, with --city-only
    assert "held-out accuracy on" in output and "top-3 1.00" in output
    assert "shipped model on the same reports" not in output
    picked = suggest.suggest("trotoarnya pada retak", path=tmp_path / "m.json")
    assert picked[0][0] == "trotoar"
    assert {slug for slug, _ in picked} <= {"trotoar", "sampah"}

    both = run("categories", "train")
    assert "the shipped model on the same reports" in both
    assert "no examples" not in both
    assert (
        suggest.suggest("ubin trotoar copot", path=tmp_path / "media" / "category-model.json")[0][0]
        == "trotoar"
    )


def test_nothing_to_learn_from_and_an_unwritable_path_are_told_politely(
    run: Run, tmp_path: Path
) -> None:
    output = run("categories", "train", "--city-only", code=1)
    assert "nothing to learn from" in output and "Traceback" not in output
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    output = run("categories", "train", "--output", str(blocker / "model.json"), code=1)
    assert f"cannot write {blocker / 'model.json'}" in output
