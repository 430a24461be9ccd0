"""The longest and the strangest values of every field a citizen controls, through every
channel, on both databases: the confirmed report is stored, cleaned and cut to fit.

PostgreSQL refuses NUL in text and enforces `varchar(n)`; SQLite takes anything. Before
text was cleaned at the edge and fitted by the store, a 300-character location label or a
NUL in a note lost the report on PostgreSQL alone.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from lapor.bot.settings import load_settings
from lapor.handlers.context import CoreConfig
from lapor.store.db import make_engine, new_session
from lapor.store.models import Contact, Report
from lapor.store.text import ELLIPSIS
from tests.bot.conftest import TelegramRig, api_root, jpeg_bytes
from tests.bot.test_channels_shared import TelegramDriver, WhatsAppDriver
from tests.bot.test_whatsapp import WhatsAppRig, twilio, twilio_api, wa_settings
from tests.fakes.bot_api import FakeBotAPI

__all__ = ["twilio", "twilio_api"]  # fixtures shared with the WhatsApp tests

TOKEN = "123456:TEST-token-for-lapor-tests"

# Everything a keyboard, a copy-paste or a forged client can put in a string: NUL and other
# C0 controls, an ANSI escape, DEL and a C1 control, bidi overrides, zero-width joiners, a
# decomposed accent (NFD), emoji with a skin tone, CR LF, markup and SQL.
STRANGE = (
    "a\x00b\x0bc\x1b[31md\x7fe\x85f \u202egnp.exe\u202c \u200d\u200b "
    "Cafe\u0301 \U0001f44d\U0001f3fd\r\n<b>&amp;</b> '; DROP TABLE report;--\t"
)
# A lone surrogate: JSON's "\ud800" decodes to one; UTF-8 (a form body) cannot carry it.
SURROGATE = "x\ud800y"
# The longest note the conversation takes (a longer one is refused politely, unchanged).
MAX_NOTE = CoreConfig().max_note
CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


@dataclass(frozen=True)
class Limits:
    """What each platform lets a user send, at most."""

    label: int
    name: int
    lone_surrogates: bool


LIMITS = {
    # Telegram: names 64 + 64 characters; venues are the client's words.
    "telegram": Limits(label=1000, name=64, lone_surrogates=True),
    # WhatsApp: profile names and shared places' labels are the user's words.
    "whatsapp": Limits(label=1000, name=300, lone_surrogates=False),
    "console": Limits(label=0, name=300, lone_surrogates=True),
}


def long_text(length: int, limits: Limits) -> str:
    seed = STRANGE + (SURROGATE if limits.lone_surrogates else "")
    return (seed * (length // len(seed) + 1))[:length]


def assert_clean(value: str | None) -> None:
    assert value is not None
    assert not CONTROLS.search(value.replace("\n", "").replace("\t", "")), repr(value[:80])
    assert unicodedata.is_normalized("NFC", value)


@pytest.fixture
def fake(fake_api: FakeBotAPI) -> FakeBotAPI:
    fake_api.reset()
    return fake_api


async def _file_report_on_telegram(db_url: str, tmp_path, clock, fake: FakeBotAPI) -> str:  # type: ignore[no-untyped-def]
    limits = LIMITS["telegram"]
    settings = load_settings(
        _env_file=None,
        database_url=db_url,
        media_dir=tmp_path / "media",
        telegram_bot_token=TOKEN,
        telegram_api_base_url=api_root(fake),
    )
    rig = TelegramRig(settings, clock)
    name = long_text(limits.name, limits)
    async with rig.application:
        user = TelegramDriver(rig, fake)
        user.updates.user.update(first_name=name, last_name=name)
        await user.text("/start")
        await user.choose(1)  # Buat laporan
        await user.choose(7)  # Jalan Rusak
        await user.photo()
        label = long_text(limits.label, limits)
        await rig.feed(user.updates.venue(-6.2, 106.8, title=label[:500], address=label[500:]))
        await user.text(long_text(MAX_NOTE, limits))
        await user.choose(2)  # Kirim (rahasia)
        said = user.said()
    rig.runtime.dispose()
    return said


async def _file_report_on_whatsapp(db_url: str, tmp_path, clock, twilio) -> str:  # type: ignore[no-untyped-def]
    limits = LIMITS["whatsapp"]
    rig = WhatsAppRig(wa_settings(db_url, tmp_path, twilio), clock)
    try:
        user = WhatsAppDriver(rig, twilio)
        user.forms.profile = long_text(limits.name, limits)
        await user.text("/start")
        await user.choose(1)
        await user.choose(7)
        await user.photo()
        label = long_text(limits.label, limits)
        await rig.say(user.forms.location(-6.2, 106.8, address=label, label=label))
        await user.text(long_text(MAX_NOTE, limits))
        await user.choose(2)
        return user.said()
    finally:
        await rig.aclose()


def _file_report_on_console(db_url: str, tmp_path) -> str:  # type: ignore[no-untyped-def]
    limits = LIMITS["console"]
    photo = tmp_path / "jalan.jpg"
    photo.write_bytes(jpeg_bytes())
    # One line a step: the console reads lines, so its note has no newline of its own.
    note = long_text(MAX_NOTE, limits).replace("\r", " ").replace("\n", " ")
    script = ["/start", "1", "7", f"/photo {photo}", "/loc -6.2 106.8", note, "2", "/keluar"]
    env = {**os.environ, "DATABASE_URL": db_url, "MEDIA_DIR": str(tmp_path / "media")}
    env.pop("TELEGRAM_BOT_TOKEN", None)
    result = subprocess.run(
        [sys.executable, "-m", "lapor.bot.cli", "console", "--user", "siti"],
        input="\n".join(script) + "\n",
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="surrogatepass",
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.fixture(params=["telegram", "whatsapp", "console"])
async def filed(request, db_url, tmp_path, clock) -> AsyncIterator[tuple[str, str]]:  # type: ignore[no-untyped-def]
    channel = request.param
    if channel == "telegram":
        fake = request.getfixturevalue("fake")
        said = await _file_report_on_telegram(db_url, tmp_path, clock, fake)
    elif channel == "whatsapp":
        said = await _file_report_on_whatsapp(
            db_url, tmp_path, clock, request.getfixturevalue("twilio")
        )
    else:
        said = _file_report_on_console(db_url, tmp_path)
    yield channel, said


async def test_the_longest_and_strangest_values_are_stored(filed, db_url) -> None:  # type: ignore[no-untyped-def]
    channel, said = filed
    assert re.search(r"JKT-\d{4}-\d{5}", said), said[-500:]
    engine = make_engine(db_url)
    try:
        with new_session(engine) as session:
            report = session.scalars(select(Report)).one()
            reporter = session.get(Contact, report.reporter_id)
    finally:
        engine.dispose()
    assert report.status == "submitted" and report.public is False
    # The note: cleaned, and cut to the store's limit with an ellipsis where it was long.
    assert_clean(report.note)
    assert report.note is not None and 0.9 * MAX_NOTE < len(report.note) <= MAX_NOTE
    assert "DROP TABLE" in report.note and "Cafe\u0301" not in report.note
    assert "Caf\u00e9" in report.note  # NFC
    if channel != "console":
        # The venue's or the shared location's label, cut to its column (200).
        assert_clean(report.location_label)
        assert report.location_label is not None
        assert len(report.location_label) == 200 and report.location_label.endswith(ELLIPSIS)
        assert_clean(reporter.name)
        assert reporter is not None and len(reporter.name or "") <= 128
