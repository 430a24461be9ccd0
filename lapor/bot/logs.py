"""Logging: plain text for a terminal, one JSON object a line for a log collector.

Either way every record passes the redaction filter first, and the finished line (message,
traceback, stack) is redacted again by the formatter: a bot token (Telegram puts it in every
API URL) or a phone number (WhatsApp addresses are phone numbers, and platform errors quote
them) never reaches a log. That holds for every logger, ours or a library's: uvicorn's own
loggers are sent to the root handler instead of the handlers it would install (its
"Exception in ASGI application" traceback quotes whatever the failing request touched).
Context travels as `extra=` fields (ticket, outbox_id, channel, ...), which the JSON form
keeps as fields of their own.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

# Telegram bot tokens: "<bot id>:<35 characters>", also inside ".../bot<token>/sendMessage".
_TOKEN = re.compile(r"\d{5,}:[A-Za-z0-9_-]{30,}")
# Phone numbers: international (+62..., whatsapp:+62...), Indonesian local (08...) and
# Indonesian mobiles without the plus (Twilio's WaId: 628...; 11 digits and more, longer
# than any Telegram user id today). Tickets (JKT-2611-00042) and Telegram chat ids
# (-100...) are not phone numbers.
_PHONE = re.compile(r"(?<![\w-])(?:\+\d{8,15}|08\d{7,12}|628\d{8,11})\b")

# Fields a log call may attach with `extra=`; the JSON form writes them out.
CONTEXT_FIELDS = ("ticket", "report_id", "outbox_id", "key", "channel", "status", "attempts")
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
DEBUG_ONLY = ("twilio", "twilio.http_client")


def redact(text: str) -> str:
    return _PHONE.sub("<phone>", _TOKEN.sub("<token>", text))


class RedactFilter(logging.Filter):
    """Renders the message once, redacted, so no handler sees the raw arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        for name, value in list(record.__dict__.items()):
            if name not in _STANDARD and isinstance(value, str):
                setattr(record, name, redact(value))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ts, level, logger, message, and the context fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in record.__dict__.items():
            if name not in _STANDARD and not name.startswith("_"):
                entry[name] = value if isinstance(value, int | float | bool | None) else str(value)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # The whole line, again: a record that skipped the filter (a handler of its own)
        # or a traceback formatted here still leaves no token or phone number.
        return redact(json.dumps(entry, ensure_ascii=False))


class TextFormatter(logging.Formatter):
    """The classic line, with the context fields appended as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = " ".join(
            f"{name}={getattr(record, name)}" for name in CONTEXT_FIELDS if hasattr(record, name)
        )
        return redact(f"{line} [{context}]" if context else line)


def configure(level: str, form: str = "text") -> None:
    """Set up the root logger once for a `lapor` process."""
    handler = logging.StreamHandler()
    handler.addFilter(RedactFilter())
    handler.setFormatter(JsonFormatter() if form == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # httpx logs every request URL, and Telegram URLs contain the bot token; the filter
    # would catch it, but a request line per message is noise at INFO anyway.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # The twilio client logs 9-11 INFO lines per message sent (headers, the Account SID,
    # the recipient): written only when the operator asks for DEBUG.
    debugging = root.level <= logging.DEBUG
    for name in DEBUG_ONLY:
        logging.getLogger(name).setLevel(logging.DEBUG if debugging else logging.WARNING)
    # uvicorn installs handlers of its own (with propagate=False) unless told not to
    # (serve.py passes log_config=None); either way its records go through ours.
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            logger.removeHandler(old)
        logger.propagate = True
