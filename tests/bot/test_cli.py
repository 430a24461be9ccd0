"""The operator's CLI: schema and categories."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

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


# -- installing and reaching the database -------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]
# Runs the real `lapor` entry point with psycopg made unimportable, as on a machine where
# the driver was never installed.
WITHOUT_PSYCOPG = (
    "import sys; sys.modules['psycopg'] = None; from lapor.bot.cli import main; main()"
)


def _lapor(
    tmp_path: Path, url: str, *args: str, program: str = "from lapor.bot.cli import main; main()"
):  # type: ignore[no-untyped-def]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "TWILIO_"))},
        "DATABASE_URL": url,
        "TELEGRAM_BOT_TOKEN": "123456:" + "A" * 35,
    }
    return subprocess.run(
        [sys.executable, "-c", program, *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_psycopg_is_installed_with_lapor() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert any(dep.startswith("psycopg[binary]") for dep in project["dependencies"])


@pytest.mark.parametrize(
    "command",
    [
        ["db", "upgrade"],
        ["db", "check"],
        ["console"],
        ["run"],
        ["web"],
        ["dispatch"],
        ["scheduler"],
        ["categories", "list"],
        ["kelurahan", "list"],
        ["kecamatan", "list"],
        ["verifiers", "list"],
        ["heads", "list"],
        ["incentives", "standings"],
        ["staff", "list"],
        ["open311", "key", "list"],
        ["outbox", "purge"],
    ],
    ids=" ".join,
)
def test_a_missing_driver_is_one_line_on_every_command(tmp_path: Path, command: list[str]) -> None:
    done = _lapor(tmp_path, "postgresql://lapor@127.0.0.1/lapor", *command, program=WITHOUT_PSYCOPG)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "psycopg" in lines[0] and "pip install 'psycopg[binary]'" in lines[0]


@pytest.mark.parametrize(
    ("url", "code", "said"),
    [
        ("postgres//lapor", 2, "DATABASE_URL is not a database URL"),
        ("postgresql+nosuch://lapor@127.0.0.1/lapor", 2, "unknown database or driver"),
        ("postgresql+psycopg2://lapor@127.0.0.1/lapor", 2, "pip install 'psycopg2-binary'"),
        (
            "postgresql+psycopg://lapor:rahasia-sekali@127.0.0.1:1/lapor",
            1,
            "cannot use the database (DATABASE_URL): connection failed",
        ),
        ("sqlite:////no/such/folder/lapor.db", 1, "unable to open database file"),
    ],
)
def test_a_bad_database_url_is_one_line(tmp_path: Path, url: str, code: int, said: str) -> None:
    done = _lapor(tmp_path, url, "kelurahan", "list")
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and said in lines[0], done.stderr
    assert "rahasia-sekali" not in done.stderr


def test_dev_lapor_runs_the_command_line_with_its_arguments(tmp_path: Path) -> None:
    """`./dev lapor ...` is how the README's `lapor ...` commands run without PATH changes."""
    env = {
        **os.environ,
        "VENV": sys.prefix,  # this test's environment, already set up
        "DATABASE_URL": f"sqlite:///{tmp_path / 'dev.db'}",
    }
    add = subprocess.run(
        [str(REPO / "dev"), "lapor", "categories", "add", "trotoar", "Trotoar Rusak"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert add.returncode == 0, add.stderr
    listed = subprocess.run(
        [str(REPO / "dev"), "lapor", "categories", "list"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr
    assert "Trotoar Rusak" in listed.stdout.splitlines()[-1]
