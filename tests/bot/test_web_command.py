"""`lapor web` as an operator starts it: WhatsApp webhooks in, replies out through Twilio."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from tests.conftest import POSTGRES_ENV, own_processes, postgres_url, reset_postgres
from tests.fakes.twilio_api import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FakeTwilioAPI,
    InboundFactory,
    signed_form,
)
from tests.helpers import stop_process


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_lapor_web_answers_whatsapp_through_twilio(tmp_path) -> None:  # type: ignore[no-untyped-def]
    port = _free_port()
    public = f"http://127.0.0.1:{port}"
    with FakeTwilioAPI() as twilio:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "TWILIO_"))},
            "DATABASE_URL": f"sqlite:///{tmp_path / 'web.db'}",
            "MEDIA_DIR": str(tmp_path / "media"),
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_WHATSAPP_FROM": "whatsapp:+14155238886",
            "TWILIO_API_BASE_URL": twilio.base_url,
            "PUBLIC_BASE_URL": public,
        }
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lapor.bot.cli",
                "web",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{public}/healthz", timeout=1).json()["database"] == "ok":
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "lapor web did not start"
                time.sleep(0.2)
            form = InboundFactory().text("/start")
            params, headers = signed_form(f"{public}/webhooks/whatsapp", form)
            response = httpx.post(f"{public}/webhooks/whatsapp", data=params, headers=headers)
            assert response.status_code == 200 and "<Response>" in response.text
            twilio.wait_for(
                lambda messages: any("Buat laporan" in m.get("Body", "") for m in messages),
                timeout=15,
            )
            forged = httpx.post(
                f"{public}/webhooks/whatsapp", data=params, headers={"X-Twilio-Signature": "forged"}
            )
            assert forged.status_code == 403
            metrics = httpx.get(f"{public}/metrics").text
            assert 'lapor_inbound_events_total{channel="whatsapp"} 1' in metrics
            assert 'lapor_outbox_messages{status="sent"}' in metrics
        finally:
            output = stop_process(process)
    assert process.returncode == 0, output
    assert AUTH_TOKEN not in output, "secrets stay out of the logs"


def _health(public: str) -> dict | None:
    try:
        return httpx.get(f"{public}/healthz", timeout=2).json()
    except (httpx.HTTPError, ValueError):
        return None


def _pids_answering(public: str, want: int, deadline: float) -> set[int]:
    """Workers that answered /healthz, asking until `want` distinct ones did."""
    seen: set[int] = set()
    while len(seen) < want and time.monotonic() < deadline:
        body = _health(public)
        if body and body.get("database") == "ok":
            seen.add(body["pid"])
        else:
            time.sleep(0.2)
    return seen


@own_processes
def test_lapor_web_workers_share_a_port_and_a_killed_worker_is_replaced(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = postgres_url()
    if not url:
        pytest.skip(f"{POSTGRES_ENV} is not set: several web workers need PostgreSQL")
    reset_postgres(url)
    port = _free_port()
    public = f"http://127.0.0.1:{port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "TWILIO_"))},
        "DATABASE_URL": url,
        "MEDIA_DIR": str(tmp_path / "media"),
    }
    command = [sys.executable, "-m", "lapor.bot.cli", "web", "--port", str(port)]
    supervisor = subprocess.Popen(
        [*command, "--workers", "2"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        first = _pids_answering(public, 2, time.monotonic() + 60)
        assert len(first) == 2, "two worker processes answer on one port"
        victim = sorted(first)[0]
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while True:
            now_serving = _pids_answering(public, 2, time.monotonic() + 10)
            if len(now_serving) == 2 and victim not in now_serving:
                break
            assert time.monotonic() < deadline, f"worker {victim} was not replaced"
    finally:
        output = stop_process(supervisor, timeout=40)
    assert supervisor.returncode == 0, output
    assert "exited with -9" in output
    assert _health(public) is None, "the workers stopped with the supervisor"


def test_lapor_web_refuses_several_workers_on_sqlite(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'web.db'}"}
    result = subprocess.run(
        [sys.executable, "-m", "lapor.bot.cli", "web", "--workers", "2"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "PostgreSQL" in result.stderr
