"""Logs: JSON lines with context fields, and never a bot token or a phone number."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import sys
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lapor.bot.logs import (
    UVICORN_LOGGERS,
    JsonFormatter,
    RedactFilter,
    TextFormatter,
    configure,
    redact,
)
from lapor.bot.serve import _serve_web
from lapor.bot.settings import load_settings
from lapor.store.db import make_engine, new_session, transaction
from lapor.store.lifecycle import ReportKind, ReportStatus
from lapor.store.models import Contact
from lapor.store.reports import create_report, transition

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawq"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (f"POST https://api.telegram.org/bot{TOKEN}/sendMessage", "/bot<token>/sendMessage"),
        ("to whatsapp:+6281234567890 failed", "to whatsapp:<phone> failed"),
        ("nomor 081234567890 tidak aktif", "nomor <phone> tidak aktif"),
        ("WaId=6281234567890 ProfileName", "WaId=<phone> ProfileName"),
        ("report JKT-2611-00042 verified", "report JKT-2611-00042 verified"),
        ("group -1001234567890 migrated", "group -1001234567890 migrated"),
    ],
)
def test_redact_removes_tokens_and_phone_numbers_only(raw: str, expected: str) -> None:
    assert expected in redact(raw)
    assert TOKEN not in redact(raw)
    assert "6281234567890" not in redact(raw)


def _record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("lapor.test", logging.WARNING, __file__, 1, msg, args, None)
    record.__dict__.update(extra)
    return record


def test_json_lines_keep_context_and_redact_arguments_and_extras() -> None:
    record = _record(
        "send to %s failed: %s",
        "+6281234567890",
        f"https://api.telegram.org/bot{TOKEN}/x",
        ticket="JKT-2611-00042",
        outbox_id=17,
        channel="whatsapp",
        key="status:whatsapp:+6281234567890",
    )
    assert RedactFilter().filter(record)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "lapor.test"
    assert entry["ticket"] == "JKT-2611-00042"
    assert entry["outbox_id"] == 17
    assert entry["channel"] == "whatsapp"
    line = json.dumps(entry)
    assert "6281234567890" not in line
    assert TOKEN not in line


def test_exception_text_is_redacted() -> None:
    try:
        raise RuntimeError(f"bad request to bot{TOKEN} for +6281234567890")
    except RuntimeError:
        info = sys.exc_info()
    record = logging.LogRecord("lapor", logging.ERROR, __file__, 1, "boom", None, info)
    RedactFilter().filter(record)
    entry = json.loads(JsonFormatter().format(record))
    assert "RuntimeError" in entry["exception"]
    assert TOKEN not in entry["exception"]
    assert "6281234567890" not in entry["exception"]


def test_text_lines_append_the_context() -> None:
    record = _record("report %s filed", "JKT-2611-00001", ticket="JKT-2611-00001", report_id=1)
    RedactFilter().filter(record)
    line = TextFormatter().format(record)
    assert line.endswith("report JKT-2611-00001 filed [ticket=JKT-2611-00001 report_id=1]")


def test_filing_and_moving_a_report_logs_its_ticket(engine, clock, capsys) -> None:  # type: ignore[no-untyped-def]
    configure("INFO", "json")
    try:
        with transaction(engine) as session:
            contact = Contact(channel="whatsapp", address="+6281234567890", created_at=clock())
            session.add(contact)
            session.flush()
            report = create_report(
                session,
                kind=ReportKind.SARAN,
                reporter=contact,
                now=clock(),
                local_now=clock(),
                ticket_prefix="JKT",
                category_slug=None,
                note="Tolong tambah tempat sampah",
                location=None,
                photos=[],
            )
            transition(
                session,
                report.id,
                ReportStatus.ACKNOWLEDGED,
                now=clock(),
                actor="whatsapp:+6281234567890",
            )
            ticket = report.ticket
    finally:
        logging.getLogger().handlers.clear()
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    mine = [entry for entry in lines if entry.get("ticket") == ticket]
    assert [entry["message"].split(":")[0] for entry in mine] == [
        f"report {ticket} filed",
        f"report {ticket}",
    ]
    assert mine[1]["status"] == "acknowledged"
    assert all("6281234567890" not in json.dumps(entry) for entry in lines)


PHONE = "+6281234567890"
NAME = "Siti Aminah"


@pytest.fixture
def own_logging() -> Iterator[None]:
    """configure() changes process-wide loggers: put them back afterwards."""
    root = logging.getLogger()
    names = (*UVICORN_LOGGERS, "twilio", "twilio.http_client")
    saved = {name: logging.getLogger(name) for name in names}
    state = {name: (list(lg.handlers), lg.propagate, lg.level) for name, lg in saved.items()}
    root_state = (list(root.handlers), root.level)
    yield
    root.handlers[:] = root_state[0]
    root.setLevel(root_state[1])
    for name, logger in saved.items():
        logger.handlers[:], logger.propagate, level = state[name]
        logger.setLevel(level)


def _failing_app(database_url: str) -> Starlette:
    """A request that fails on a statement about a citizen, as a real bug would."""
    engine = make_engine(database_url)

    async def endpoint(request: Request) -> Response:
        with new_session(engine) as session:
            try:
                session.execute(
                    text("SELECT id FROM no_such_table WHERE address = :address AND name = :name"),
                    {"address": PHONE, "name": NAME},
                )
            except Exception as exc:
                raise RuntimeError(f"laporan dari whatsapp:{PHONE} gagal disimpan") from exc
        return Response("never")

    return Starlette(routes=[Route("/boom", endpoint)])


@pytest.mark.parametrize("form", ["text", "json"])
async def test_a_failing_request_logs_no_phone_number_nor_sql_parameters(
    sqlite_url: str, form: str, own_logging: None, capfd: pytest.CaptureFixture[str]
) -> None:
    configure("INFO", form)
    settings = load_settings(_env_file=None, database_url=sqlite_url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    port = sock.getsockname()[1]
    stop = asyncio.Event()
    # The web app exactly as `lapor run` and `lapor web` start it (uvicorn's own logging).
    serving = asyncio.create_task(_serve_web(settings, _failing_app(sqlite_url), stop, sock))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(100):
                try:
                    response = await client.get("/boom")
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.05)
        assert response.status_code == 500
    finally:
        stop.set()
        await serving
        sock.close()
    captured = capfd.readouterr()
    output = captured.out + captured.err
    assert "Exception in ASGI application" in output
    assert "RuntimeError" in output and "no_such_table" in output
    assert "6281234567890" not in output
    assert NAME not in output
    if form == "json":
        lines = [line for line in captured.err.splitlines() if line.strip()]
        assert all(json.loads(line)["level"] for line in lines)


def test_the_twilio_client_says_nothing_at_info(
    own_logging: None, capfd: pytest.CaptureFixture[str]
) -> None:
    from tests.fakes.twilio_api import ACCOUNT_SID, FakeTwilioAPI, twilio_client

    configure("INFO", "text")
    with FakeTwilioAPI() as fake:
        client = twilio_client(fake)
        client.messages.create(
            to=f"whatsapp:{PHONE}", from_="whatsapp:+14155238886", body="Laporan diterima"
        )
        assert len(fake.messages) == 1
    captured = capfd.readouterr()
    output = captured.out + captured.err
    assert "twilio" not in output.lower()
    assert ACCOUNT_SID not in output
