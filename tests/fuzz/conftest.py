"""What every fuzz test shares: logging exactly as a `lapor` process sets it up, checked for
phone numbers after the test, and the fixtures of the surfaces' own tests (the dashboard's
signed-in rig, the public pages' site, the loopback Bot API and the Telegram webhook rig)."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from lapor.bot.logs import configure
from tests.bot.conftest import fake, fake_api
from tests.bot.test_telegram_webhook import hook
from tests.dashboard.conftest import rig, signed_in
from tests.public.conftest import site

__all__ = [
    "AWKWARD",
    "PER_REQUEST",
    "fake",
    "fake_api",
    "hook",
    "log_lines",
    "rig",
    "signed_in",
    "site",
]

# Web surfaces: one request per example, a few seconds per database.
PER_REQUEST = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Values that trip parsers whatever the field: empty, blank, NUL, a vertical tab, a
# non-character, and digits that are not ASCII.
AWKWARD = ["", " ", "\x00", "\x0b", "\ufffe", "²", "１"]

# Any Indonesian phone number, with or without its plus (WaId is "6281...", From is
# "whatsapp:+6281...") or in the local form (0812...).
PHONE = re.compile(r"(?<![\w-])(?:\+?62|0)8\d{7,12}\b")


@pytest.fixture(autouse=True)
def log_lines() -> Iterator[io.StringIO]:
    """Every line any logger writes during the test, as `lapor` writes it (DEBUG and up);
    none may carry a phone number."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    configure("DEBUG")
    buffer = io.StringIO()
    for handler in root.handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(buffer)
    yield buffer
    root.handlers[:], root.level = saved
    leaked = PHONE.findall(buffer.getvalue())
    assert not leaked, f"phone numbers in the log: {leaked[:3]}"
