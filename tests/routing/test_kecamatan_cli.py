"""`lapor kecamatan bind | list | unbind`, driven through Typer's test runner."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from sqlalchemy import select

from lapor.bot.cli import app
from lapor.routing import DEMO_REGISTRY
from lapor.store.db import make_engine, new_session, transaction
from lapor.store.models import KecamatanChat
from tests.routing.conftest import Run


@pytest.fixture
def run(invoker: Callable[[typer.Typer], Run]) -> Run:
    # Through the whole `lapor` app: the group must be registered there.
    return invoker(app)


def _bound(tmp_path: Path) -> list[tuple[str, int, str | None]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'cli.db'}")
    try:
        with new_session(engine) as session:
            rows = session.scalars(select(KecamatanChat).order_by(KecamatanChat.kecamatan))
            return [(r.kecamatan, r.chat_id, r.chat_title) for r in rows]
    finally:
        engine.dispose()


def test_bind_list_unbind(run: Run, tmp_path: Path) -> None:
    assert "no kecamatan" in run("kecamatan", "list")
    run("kelurahan", "import", str(DEMO_REGISTRY))
    assert run("kecamatan", "list").splitlines() == [
        "Gambir (demo)  (2 kelurahan)  -",
        "Menteng (demo)  (1 kelurahan)  -",
        "Senen (demo)  (1 kelurahan)  -",
        "Tanah Abang (demo)  (1 kelurahan)  -",
    ]

    # Any case and spacing; stored as the registry spells it. A negative id is an argument.
    output = run("kecamatan", "bind", "GAMBIR  (demo)", "-1001234567890", "--title", "Kec Gambir")
    assert "Kec. Gambir (demo)" in output and "Kec Gambir [-1001234567890]" in output
    assert _bound(tmp_path) == [("Gambir (demo)", -1001234567890, "Kec Gambir")]
    assert "Gambir (demo)  (2 kelurahan)  Kec Gambir [-1001234567890]" in run("kecamatan", "list")

    # Binding again moves the kecamatan to the new group.
    run("kecamatan", "bind", "gambir (demo)", "-1009999")
    assert _bound(tmp_path) == [("Gambir (demo)", -1009999, None)]

    # A binding whose kecamatan a re-import renamed is shown, so it can be fixed.
    engine = make_engine(f"sqlite:///{tmp_path / 'cli.db'}")
    try:
        with transaction(engine) as session:
            session.add(KecamatanChat(kecamatan="Lama", chat_id=-1007, bound_at=datetime.now(UTC)))
    finally:
        engine.dispose()
    assert "Lama  (not in the registry)  -1007" in run("kecamatan", "list")
    run("kecamatan", "unbind", "lama")
    assert "no kecamatan 'Kebayoran'" in run("kecamatan", "bind", "Kebayoran", "-1001", code=1)
    assert "negative" in run("kecamatan", "bind", "Senen (demo)", "1001", code=2)
    assert "no chat bound" in run("kecamatan", "unbind", "Senen (demo)", code=1)

    assert "Kec. Gambir (demo): no group bound" in run("kecamatan", "unbind", "GAMBIR (DEMO)")
    assert _bound(tmp_path) == []
    assert "Gambir (demo)  (2 kelurahan)  -" in run("kecamatan", "list")
