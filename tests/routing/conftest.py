"""A command-line runner for the routing commands, on a SQLite file of its own."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

Run = Callable[..., str]


@pytest.fixture
def invoker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[[typer.Typer], Run]:
    """`invoker(app)` runs that Typer app's commands; `code` is the exit code expected."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    runner = CliRunner()

    def bind(app: typer.Typer) -> Run:
        def invoke(*args: str, code: int = 0) -> str:
            result = runner.invoke(app, list(args))
            assert result.exit_code == code, result.output
            return result.output

        return invoke

    return bind
