"""The operator's CLI: schema and categories."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from lapor.bot.cli import app


@pytest.fixture
def run(monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    runner = CliRunner()

    def invoke(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, result.output
        return result.output

    invoke("db", "upgrade")
    return invoke


def test_db_upgrade_and_check(run) -> None:  # type: ignore[no-untyped-def]
    assert "head" in run("db", "upgrade")
    assert "agree" in run("db", "check")


def test_categories_are_listed_in_order(run) -> None:  # type: ignore[no-untyped-def]
    lines = run("categories", "list").splitlines()
    assert len(lines) == 12
    assert "sampah" in lines[0] and "lainnya" in lines[-1]


def test_categories_can_be_added_renamed_moved_and_disabled(run) -> None:  # type: ignore[no-untyped-def]
    run("categories", "add", "trotoar", "Trotoar Rusak", "Broken pavement")
    assert "trotoar" in run("categories", "list").splitlines()[-1]
    run("categories", "move", "trotoar", "1")
    first = run("categories", "list").splitlines()[0]
    assert "trotoar" in first and "Trotoar Rusak / Broken pavement" in first
    run("categories", "rename", "trotoar", "Trotoar")
    assert "Trotoar / Broken pavement" in run("categories", "list")
    run("categories", "disable", "kebakaran")
    assert "kebakaran" not in run("categories", "list")
    assert "(disabled)" in run("categories", "list", "--all")
    run("categories", "enable", "kebakaran")
    assert "kebakaran" in run("categories", "list")


def test_bad_category_input_is_refused(run) -> None:  # type: ignore[no-untyped-def]
    run("categories", "add", "Bad Slug!", "X", code=2)
    run("categories", "add", "sampah", "Sampah lagi", code=1)
    run("categories", "disable", "tidak-ada", code=1)
    assert len(run("categories", "list").splitlines()) == 12


def test_outbox_purge_keeps_recent_and_unsent_messages(run, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import select

    from lapor.store import outbox
    from lapor.store.db import make_engine, new_session, transaction
    from lapor.store.models import Outbox

    engine = make_engine(f"sqlite:///{tmp_path / 'cli.db'}")
    old, recent = datetime.now(UTC) - timedelta(days=40), datetime.now(UTC)
    with transaction(engine) as session:
        for key, status, when in (
            ("a", "sent", old),
            ("b", "pending", old),
            ("c", "sent", recent),
            ("d", "failed", old),
        ):
            outbox.enqueue(session, [outbox.OutgoingRow(key, "console", "x", {"text": key})], when)
            session.execute(
                Outbox.__table__.update().where(Outbox.key == key).values(status=status)
            )
    assert "purged 2 messages" in run("outbox", "purge", "--days", "30")
    with new_session(engine) as session:
        assert sorted(session.scalars(select(Outbox.key))) == ["b", "c"]
    engine.dispose()
