"""The same conversation, tested once, through both channels' real adapters.

One script of user actions (type, press the n-th choice, send a photo, share a location)
is played through Telegram (PTB against the loopback Bot API) and WhatsApp (signed Twilio
webhooks, the twilio client against the loopback REST API); the outcome must be the same.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from lapor.store.db import new_session
from lapor.store.models import Category, Report
from tests.bot.conftest import TelegramRig, jpeg_bytes
from tests.bot.test_whatsapp import USER, WhatsAppRig, twilio, twilio_api, wa_settings
from tests.fakes.bot_api import FakeBotAPI, UpdateFactory
from tests.fakes.twilio_api import FakeTwilioAPI, InboundFactory

__all__ = ["twilio", "twilio_api"]  # fixtures shared with the WhatsApp tests


class TelegramDriver:
    def __init__(self, rig: TelegramRig, fake: FakeBotAPI) -> None:
        self.rig, self.fake, self.updates = rig, fake, UpdateFactory()
        self.photos = 0

    def last(self) -> dict:
        return self.fake.sent_messages(UpdateFactory.USER["id"])[-1]

    def said(self) -> str:
        """The last message's text with its button labels (what the user sees)."""
        last = self.last()
        markup = last.get("reply_markup") or {}
        rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
        labels = [b["text"] for row in rows for b in row]
        return "\n".join([last.get("text") or last.get("caption") or "", *labels])

    async def text(self, text: str) -> None:
        await self.rig.feed(self.updates.text(text))

    async def choose(self, n: int) -> None:
        keyboard = self.last()["reply_markup"]
        if "inline_keyboard" in keyboard:
            buttons = [b for row in keyboard["inline_keyboard"] for b in row]
            await self.rig.feed(self.updates.callback(buttons[n - 1]["callback_data"]))
        else:  # a reply keyboard sends its label as text
            labels = [b["text"] for row in keyboard["keyboard"] for b in row][1:]
            await self.text(labels[n - 1])

    async def photo(self) -> None:
        self.photos += 1
        file_id = f"P{self.photos}"
        self.fake.add_file(
            file_id, jpeg_bytes((40 * self.photos % 255, 80, 120)), file_unique_id=f"U{file_id}"
        )
        await self.rig.feed(self.updates.photo(file_id, f"U{file_id}"))

    async def location(self, lat: float, lon: float) -> None:
        await self.rig.feed(self.updates.location(lat, lon))

    async def sticker(self) -> None:
        await self.rig.feed(self.updates.sticker())


class WhatsAppDriver:
    def __init__(self, rig: WhatsAppRig, twilio: FakeTwilioAPI) -> None:
        self.rig, self.twilio, self.forms = rig, twilio, InboundFactory()
        self.photos = 0

    def said(self) -> str:
        return self.twilio.sent_to(USER, accepted_only=True)[-1].get("Body", "")

    async def text(self, text: str) -> None:
        await self.rig.say(self.forms.text(text))

    async def choose(self, n: int) -> None:
        await self.text(str(n))

    async def photo(self) -> None:
        self.photos += 1
        url = self.twilio.add_media(
            f"/media/shared{self.photos}.jpg", jpeg_bytes((40 * self.photos % 255, 80, 120))
        )
        await self.rig.say(self.forms.media([(url, "image/jpeg")]))

    async def location(self, lat: float, lon: float) -> None:
        await self.rig.say(self.forms.location(lat, lon))

    async def sticker(self) -> None:
        twilio_sticker = self.twilio.add_media("/media/sticker.webp", b"RIFF", "image/webp")
        await self.rig.say(
            self.forms.media([(twilio_sticker, "image/webp")], MessageType="sticker")
        )


@pytest.fixture(params=["telegram", "whatsapp"])
async def user(request, settings, sqlite_url, tmp_path, clock, fake: FakeBotAPI) -> AsyncIterator:  # type: ignore[no-untyped-def]
    if request.param == "telegram":
        rig = TelegramRig(settings, clock)
        async with rig.application:
            yield TelegramDriver(rig, fake)
        rig.runtime.dispose()
        return
    twilio = request.getfixturevalue("twilio")
    rig = WhatsAppRig(wa_settings(sqlite_url, tmp_path, twilio), clock)
    yield WhatsAppDriver(rig, twilio)
    await rig.aclose()


def _engine(user):  # type: ignore[no-untyped-def]
    return user.rig.runtime.engine


async def test_the_same_report_flow_on_every_channel(user) -> None:  # type: ignore[no-untyped-def]
    await user.text("/start")
    assert "Buat laporan" in user.said()
    await user.choose(1)  # Buat laporan
    await user.choose(7)  # Jalan Rusak, the seventh category
    assert "Jalan Rusak" in user.said()
    await user.sticker()
    assert "stiker" in user.said() and "foto" in user.said()
    await user.photo()
    await user.text("di jalan raya")
    assert "lokasi" in user.said().lower()
    await user.location(-6.2, 106.8)
    await user.text("Lubang sedalam 20 cm")
    await user.choose(2)  # Kirim (rahasia)
    ticket = re.search(r"JKT-\d{4}-\d{5}", user.said())
    assert ticket, user.said()
    await user.text("/laporansaya")
    assert ticket.group(0) in user.said() and "Menunggu verifikasi" in user.said()
    with new_session(_engine(user)) as session:
        report = session.scalars(select(Report)).one()
        category = session.get(Category, report.category_id)
        assert category is not None and category.slug == "jalan-rusak"
        assert (report.latitude, report.longitude) == (-6.2, 106.8)
        assert report.note == "Lubang sedalam 20 cm" and report.public is False


async def test_the_same_cancel_and_language_on_every_channel(user) -> None:  # type: ignore[no-untyped-def]
    await user.text("/lapor")
    await user.text("/bahasa")
    await user.choose(2)  # English
    assert "Language set to English" in user.said() and "category" in user.said()
    await user.text("batal")
    assert "Cancelled" in user.said()
    with new_session(_engine(user)) as session:
        assert session.scalars(select(Report)).first() is None


async def test_the_location_prompt_names_what_the_channel_can_do(user) -> None:  # type: ignore[no-untyped-def]
    await user.text("/lapor")
    await user.choose(1)
    await user.photo()
    said = user.said()
    if isinstance(user, TelegramDriver):
        assert "📍 Kirim lokasi" in said, said  # the button, and the pin as the other way
    else:
        assert "Kirim lokasi" not in said and "📎" in said and "Lokasi" in said, said
