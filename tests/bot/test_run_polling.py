"""`lapor run` as an operator starts it: a subprocess polling a Bot API server on loopback."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from sqlalchemy import select

from lapor.store.db import make_engine, new_session
from lapor.store.models import Report
from tests.bot.conftest import TOKEN, api_root, jpeg_bytes
from tests.fakes.bot_api import FakeBotAPI, UpdateFactory
from tests.helpers import stop_process


def _last_text(fake: FakeBotAPI) -> str:
    sent = fake.sent_messages()
    return (sent[-1].get("text") or "") if sent else ""


def test_lapor_run_completes_a_report_in_polling_mode(fake: FakeBotAPI, tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'run.db'}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "MEDIA_DIR": str(tmp_path / "media"),
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": api_root(fake),
        "TELEGRAM_WEBHOOK_URL": "",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "lapor.bot.cli", "run"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        fake.wait_for(lambda calls: any(c.method == "getUpdates" for c in calls), timeout=30)
        assert fake.calls_to("setMyCommands"), "the command menu is set at start"
        updates = UpdateFactory(first_update_id=500)
        fake.add_file("P1", jpeg_bytes(), file_unique_id="UP1")
        steps = [
            (updates.command("start"), "Halo"),
            (updates.callback("menu:report"), "kategori"),
            (updates.callback("cat:sampah"), "foto"),
            (updates.photo("P1", "UP1"), "lokasi"),
            (updates.location(-6.2, 106.8), "keterangan"),
            (updates.callback("note:skip"), "Periksa"),
            (updates.callback("confirm:yes"), "tiket"),
        ]
        for number, (update, expected) in enumerate(steps, start=1):
            fake.push_update(update)
            fake.wait_for(lambda calls, n=number: len(fake.sent_messages()) >= n, timeout=15)
            assert expected.lower() in _last_text(fake).lower(), _last_text(fake)
        ticket = re.search(r"JKT-\d{4}-\d{5}", _last_text(fake))
        assert ticket
    finally:
        output = stop_process(process)
    assert process.returncode == 0, output
    assert TOKEN not in output, "the token never appears in logs"
    engine = make_engine(url)
    with new_session(engine) as session:
        assert session.scalars(select(Report.ticket)).one() == ticket.group(0)
    engine.dispose()


def test_lapor_run_without_a_token_points_to_the_console(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEGRAM_")}
    result = subprocess.run(
        [sys.executable, "-m", "lapor.bot.cli", "run"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "TELEGRAM_BOT_TOKEN" in result.stdout and "lapor console" in result.stdout


def test_malformed_setting_stops_startup_naming_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": "not-a-token", "IDLE_TIMEOUT_MINUTES": "soon"}
    result = subprocess.run(
        [sys.executable, "-m", "lapor.bot.cli", "run"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "TELEGRAM_BOT_TOKEN" in result.stderr and "IDLE_TIMEOUT_MINUTES" in result.stderr
    assert "not-a-token" not in result.stderr, "a secret's value is never echoed"
