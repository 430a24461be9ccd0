"""An officer's reply, a progress photo and a citizen's addition through the real channels.

One runtime serves Telegram (PTB against the loopback Bot API: the admin chat, the
kelurahan group and one citizen) and WhatsApp (signed Twilio webhooks, the twilio client
against the loopback REST API: the other citizen), on SQLite and PostgreSQL. The reporter
is on one channel and a follower on the other, then the other way round. Neither side ever
reads the other's name or number.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from lapor.bot.channels.whatsapp import WhatsAppChannel, WhatsAppSender
from lapor.bot.settings import load_settings
from lapor.bot.web import create_app
from lapor.store.db import new_session, transaction
from lapor.store.models import Contact, Report, ReportEvent
from lapor.store.reports import follow
from tests.bot.conftest import (
    GROUP_CODE,
    TOKEN,
    VERIFIER,
    TelegramRig,
    api_root,
    jpeg_bytes,
    seed_review_rooms,
)
from tests.bot.test_whatsapp import PUBLIC, twilio, twilio_api
from tests.conftest import FakeClock
from tests.fakes.bot_api import FakeBotAPI, UpdateFactory
from tests.fakes.twilio_api import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FakeTwilioAPI,
    InboundFactory,
    signed_form,
)

__all__ = ["twilio", "twilio_api"]  # fixtures shared with the WhatsApp tests

ADMIN = -1005000000001
GROUP = -1005000000101
OFFICER = UpdateFactory.make_user(7_200_000_001, "Pak Lurah")
TELEGRAM_CITIZEN = UpdateFactory.USER  # Siti, 7000000001
WA_NUMBER, WA_NAME = "6281298765432", "Wati"
WA_ADDRESS = f"+{WA_NUMBER}"
HOOK = f"{PUBLIC}/webhooks/whatsapp"
SIGNATURE = "Petugas Kelurahan Gambir (demo)"


@dataclass
class City:
    """One runtime, both channels; every step sends what it queued before returning."""

    rig: TelegramRig
    client: httpx.AsyncClient
    channel: WhatsAppChannel
    fake: FakeBotAPI
    twilio: FakeTwilioAPI
    updates: UpdateFactory
    forms: InboundFactory

    async def telegram(self, update: dict) -> None:
        await self.rig.feed(update)

    async def whatsapp(self, form: dict[str, str]) -> None:
        self.rig.clock.advance(seconds=1)
        params, headers = signed_form(HOOK, form)
        response = await self.client.post(HOOK.removeprefix(PUBLIC), data=params, headers=headers)
        assert response.status_code == 200, response.text
        await self.rig.dispatcher.drain()

    def wa_said(self) -> str:
        return self.twilio.sent_to(WA_ADDRESS, accepted_only=True)[-1].get("Body", "")

    def tg_last(self) -> dict:
        return self.fake.sent_messages(TELEGRAM_CITIZEN["id"])[-1]


@pytest.fixture
async def city(  # type: ignore[no-untyped-def]
    db_url: str, tmp_path: Path, clock: FakeClock, fake: FakeBotAPI, twilio: FakeTwilioAPI
) -> AsyncIterator[City]:
    seed_review_rooms(db_url, clock())
    settings = load_settings(
        _env_file=None,
        database_url=db_url,
        media_dir=tmp_path / "media",
        telegram_bot_token=TOKEN,
        telegram_api_base_url=api_root(fake),
        telegram_admin_chat_id=ADMIN,
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_whatsapp_from="whatsapp:+14155238886",
        twilio_api_base_url=twilio.base_url,
        public_base_url=PUBLIC,
    )
    rig = TelegramRig(settings, clock)
    channel = WhatsAppChannel(rig.runtime, settings)
    rig.runtime.add_sender(WhatsAppSender(rig.runtime, settings))
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(settings, whatsapp=channel)), base_url=PUBLIC
    )
    async with rig.application:
        yield City(
            rig,
            client,
            channel,
            fake,
            twilio,
            UpdateFactory(),
            InboundFactory(wa_id=WA_NUMBER, profile=WA_NAME),
        )
    await client.aclose()
    await channel.aclose()
    rig.runtime.dispose()


def _buttons(message: dict) -> list[str]:
    markup = message.get("reply_markup") or {}
    return [b.get("callback_data") for row in markup.get("inline_keyboard", []) for b in row]


def _body(message: dict) -> str:
    return " ".join(str(message.get(key) or "") for key in ("text", "caption", "Body"))


def _reply_to_bot(city: City, text: str, asked: int) -> dict:
    """An officer's answer in the group, as a reply to the bot's question (privacy mode)."""
    update = city.updates.group_text(text, chat_id=GROUP, user=OFFICER)
    update["message"]["reply_to_message"] = {
        "message_id": asked,
        "date": city.updates.now(),
        "chat": update["message"]["chat"],
        "from": city.updates.bot_user,
        "text": "…",
    }
    return update


async def _file_on_telegram(city: City) -> str:
    city.fake.add_file("P1", jpeg_bytes(), file_unique_id="UP1")
    for update in (
        city.updates.command("lapor"),
        city.updates.callback("cat:sampah"),
        city.updates.photo("P1", "UP1"),
        city.updates.location(-6.175, 106.825),
        city.updates.text("Tumpukan sampah di trotoar"),
        city.updates.callback("confirm:yes"),
    ):
        await city.telegram(update)
    return re.search(r"JKT-\d{4}-\d{5}", city.tg_last()["text"]).group(0)  # type: ignore[union-attr]


async def _file_on_whatsapp(city: City) -> str:
    url = city.twilio.add_media("/media/report.jpg", jpeg_bytes((30, 120, 200)))
    for form in (
        city.forms.text("/lapor"),
        city.forms.text("1"),  # the first category (Sampah)
        city.forms.media([(url, "image/jpeg")]),
        city.forms.location(-6.175, 106.825),
        city.forms.text("Tumpukan sampah di trotoar"),
        city.forms.text("1"),  # Kirim (publik)
    ):
        await city.whatsapp(form)
    return re.search(r"JKT-\d{4}-\d{5}", city.wa_said()).group(0)  # type: ignore[union-attr]


def _follow(city: City, report_id: int, channel: str, address: str) -> None:
    with transaction(city.rig.runtime.engine) as session:
        contact = session.scalars(
            select(Contact).where(Contact.channel == channel, Contact.address == address)
        ).one()
        report = session.get(Report, report_id)
        assert report is not None and follow(session, report, contact.id, city.rig.clock())


@pytest.mark.parametrize("reporter", ["telegram", "whatsapp"])
async def test_reply_addition_and_progress_photo_across_both_channels(
    city: City, reporter: str
) -> None:
    fake, twilio = city.fake, city.twilio
    await city.telegram(
        city.updates.group_text(f"/kelurahan {GROUP_CODE}", chat_id=GROUP, user=OFFICER)
    )
    # Both citizens say hello first: WhatsApp's 24-hour window is open, contacts exist.
    await city.telegram(city.updates.command("start"))
    await city.whatsapp(city.forms.text("halo"))
    ticket = await (_file_on_telegram(city) if reporter == "telegram" else _file_on_whatsapp(city))
    with new_session(city.rig.runtime.engine) as session:
        report = session.scalars(select(Report).where(Report.ticket == ticket)).one()
    if reporter == "telegram":
        _follow(city, report.id, "whatsapp", WA_ADDRESS)
    else:
        _follow(city, report.id, "telegram", str(TELEGRAM_CITIZEN["id"]))

    admin_card = fake.delivered(ADMIN)[-1]
    await city.telegram(
        city.updates.callback(
            f"v:{report.id}", chat_id=ADMIN, user=VERIFIER, message_id=admin_card.message_id
        )
    )
    group_card = fake.delivered(GROUP)[-1]
    assert group_card.method == "sendPhoto" and ticket in (group_card.text or "")
    assert f"w:{report.id}" in _buttons(fake.sent_messages(GROUP)[-1])
    with new_session(city.rig.runtime.engine) as session:
        sent = session.get(Report, report.id)
        assert sent is not None, "the dispatcher kept both cards' message ids"
        assert (sent.admin_message_id, sent.group_message_id) == (
            admin_card.message_id,
            group_card.message_id,
        )

    # The officer replies: both citizens read it, signed by the office.
    await city.telegram(
        city.updates.callback(
            f"w:{report.id}", chat_id=GROUP, user=OFFICER, message_id=group_card.message_id
        )
    )
    asked = fake.delivered(GROUP)[-1]
    assert "tulis balasan" in (asked.text or "")
    await city.telegram(_reply_to_bot(city, "Truk DLH datang besok pagi", asked.message_id))
    assert "terkirim ke 2 warga" in (fake.delivered(GROUP)[-1].text or "")
    tg_reply = city.tg_last()
    assert SIGNATURE in tg_reply["text"] and "Truk DLH datang besok pagi" in tg_reply["text"]
    assert SIGNATURE in city.wa_said() and "Truk DLH datang besok pagi" in city.wa_said()

    # A progress photo with a caption: a photo on Telegram, a media URL on WhatsApp.
    fake.add_file("PROG", jpeg_bytes((200, 200, 20)), file_unique_id="UPROG")
    await city.telegram(
        city.updates.callback(
            f"f:{report.id}", chat_id=GROUP, user=OFFICER, message_id=group_card.message_id
        )
    )
    await city.telegram(
        city.updates.photo("PROG", "UPROG", "Separuh sudah diangkut", chat_id=GROUP, user=OFFICER)
    )
    tg_progress = city.tg_last()
    assert (
        tg_progress["method"] == "sendPhoto" and "Separuh sudah diangkut" in tg_progress["caption"]
    )
    wa_progress = twilio.sent_to(WA_ADDRESS, accepted_only=True)[-1]
    assert wa_progress.get("MediaUrl") and "Separuh sudah diangkut" in wa_progress["Body"]

    # The reporter adds a photo from "Laporan saya": it answers the group card.
    if reporter == "telegram":
        await city.telegram(city.updates.command("laporansaya"))
        assert f"add:{report.id}" in _buttons(city.tg_last())
        await city.telegram(city.updates.callback(f"add:{report.id}"))
        fake.add_file("ADD", jpeg_bytes((10, 10, 10)), file_unique_id="UADD")
        await city.telegram(city.updates.photo("ADD", "UADD", "Sekarang ada tikus"))
        assert "sudah diteruskan" in city.tg_last()["text"]
    else:
        await city.whatsapp(city.forms.text("/laporansaya"))
        number = re.search(r"(\d+)\. 📝", city.wa_said()).group(1)  # type: ignore[union-attr]
        await city.whatsapp(city.forms.text(number))
        url = twilio.add_media("/media/add.jpg", jpeg_bytes((10, 10, 10)))
        await city.whatsapp(city.forms.media([(url, "image/jpeg")], body="Sekarang ada tikus"))
        assert "sudah diteruskan" in city.wa_said()
    relayed = fake.sent_messages(GROUP)[-1]
    assert relayed["method"] == "sendPhoto" and ticket in relayed["caption"]
    assert "Sekarang ada tikus" in relayed["caption"]
    assert relayed["reply_parameters"]["message_id"] == group_card.message_id

    with new_session(city.rig.runtime.engine) as session:
        kinds = session.scalars(
            select(ReportEvent.kind).where(
                ReportEvent.report_id == report.id, ReportEvent.kind != "status"
            )
        ).all()
        assert sorted(kinds) == ["addition", "progress", "reply"]
        assert session.get(Report, report.id).status == "forwarded"  # type: ignore[union-attr]

    # Anonymous both ways, over everything each side received.
    staff_bound = fake.sent_messages(GROUP) + fake.sent_messages(ADMIN)
    for message in staff_bound:
        body = _body(message)
        for secret in (str(TELEGRAM_CITIZEN["id"]), "Siti", WA_NUMBER, WA_NAME):
            assert secret not in body, (secret, body)
    citizen_bound = fake.sent_messages(TELEGRAM_CITIZEN["id"]) + twilio.sent_to(WA_ADDRESS)
    for message in citizen_bound:
        body = _body(message)
        for secret in (str(OFFICER["id"]), "Pak Lurah", str(VERIFIER["id"]), "Vera"):
            assert secret not in body, (secret, body)
