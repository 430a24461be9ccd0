"""Logs: JSON lines with context fields, and never a bot token or a phone number."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from lapor.bot.logs import JsonFormatter, RedactFilter, TextFormatter, configure, redact
from lapor.store.db import transaction
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
