"""Citizens get their report's public page: with the ticket and in every status notice.

Through the real channels: PTB against the loopback Bot API (a URL button) and the twilio
client against the loopback REST API (the URL in the text). Only public reports get one,
and only when PUBLIC_BASE_URL is set.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from lapor.bot.channels.console import render
from lapor.bot.channels.telegram import message_text, render_markup
from lapor.bot.channels.whatsapp import render_text
from lapor.bot.settings import Settings
from lapor.handlers import payloads
from lapor.handlers.payloads import Action
from lapor.handlers.types import Choice, Inbound, Outbound
from lapor.routing import ensure_demo_registry
from lapor.store.db import make_engine, new_session, transaction
from lapor.store.models import Report, Verifier
from tests.bot.conftest import TelegramRig, jpeg_bytes
from tests.bot.test_whatsapp import PUBLIC, USER, WhatsAppRig, twilio, twilio_api, wa_settings
from tests.conftest import FakeClock
from tests.fakes.bot_api import FakeBotAPI, UpdateFactory
from tests.fakes.twilio_api import FakeTwilioAPI, InboundFactory

__all__ = ["twilio", "twilio_api"]

SITE = "https://lapor.example.go.id"
ADMIN = -1005000000001
CITIZEN = UpdateFactory.USER["id"]
VERIFIER = UpdateFactory.make_user(7_100_000_001, "Vera")
TICKET = re.compile(r"JKT-\d{4}-\d{5}")


def url_buttons(message: dict) -> list[str]:
    markup = message.get("reply_markup") or {}
    return [b["url"] for row in markup.get("inline_keyboard", []) for b in row if "url" in b]


async def telegram_rig(settings: Settings, clock: FakeClock) -> TelegramRig:
    engine = make_engine(settings.database_url)
    with transaction(engine) as session:
        ensure_demo_registry(session, clock())
        session.add(Verifier(telegram_id=VERIFIER["id"], name="Vera", added_at=clock()))
    engine.dispose()
    return TelegramRig(settings.model_copy(update={"telegram_admin_chat_id": ADMIN}), clock)


@pytest.mark.parametrize(
    ("base", "confirm", "linked"),
    [
        (SITE, payloads.CONFIRM_PUBLIC, True),
        (SITE, payloads.CONFIRM_PRIVATE, False),  # rahasia: its page would be "not found"
        (None, payloads.CONFIRM_PUBLIC, False),  # no PUBLIC_BASE_URL, no link
    ],
)
async def test_telegram_ticket_and_notice_carry_a_url_button(
    settings: Settings,
    clock: FakeClock,
    fake: FakeBotAPI,
    base: str | None,
    confirm: str,
    linked: bool,
) -> None:
    rig = await telegram_rig(settings.model_copy(update={"public_base_url": base}), clock)
    updates = UpdateFactory()
    fake.add_file("P1", jpeg_bytes(), file_unique_id="UP1")
    async with rig.application:
        for update in (
            updates.command("lapor"),
            updates.callback("cat:sampah"),
            updates.photo("P1", "UP1"),
            updates.location(-6.175, 106.825),
            updates.callback("note:skip"),
            updates.callback(confirm),
        ):
            await rig.feed(update)
        done = fake.sent_messages(CITIZEN)[-1]
        ticket = TICKET.search(done["text"])
        assert ticket, done
        page = f"{SITE}/r/{ticket.group(0)}"
        assert url_buttons(done) == ([page] if linked else [])
        # The ticket message's own choices are still there, with their callbacks.
        assert [
            b["callback_data"]
            for row in done["reply_markup"]["inline_keyboard"]
            for b in row
            if "callback_data" in b
        ] == ["menu:mine", "menu:home"]
        with new_session(rig.runtime.engine) as session:
            report = session.scalars(select(Report)).one()
        verify = payloads.staff(Action.VERIFY, report.id)
        await rig.feed(updates.callback(verify, chat_id=ADMIN, user=VERIFIER, message_id=9001))
        notice = fake.sent_messages(CITIZEN)[-1]
        assert "Terverifikasi" in notice["text"]
        assert url_buttons(notice) == ([page] if linked else [])
        assert page not in notice["text"]  # a button, not text
    rig.runtime.dispose()


@pytest.fixture
async def wa(sqlite_url, tmp_path, twilio, clock) -> AsyncIterator[WhatsAppRig]:  # type: ignore[no-untyped-def]
    rig = WhatsAppRig(wa_settings(sqlite_url, tmp_path, twilio), clock)
    yield rig
    await rig.aclose()


def _bodies(twilio: FakeTwilioAPI) -> list[str]:
    return [m.get("Body", "") for m in twilio.sent_to(USER, accepted_only=True)]


@pytest.mark.parametrize(("answer", "linked"), [("1", True), ("2", False)])
async def test_whatsapp_ticket_and_notice_carry_the_url_in_the_text(
    wa: WhatsAppRig, twilio: FakeTwilioAPI, answer: str, linked: bool
) -> None:
    f = InboundFactory()
    photo = twilio.add_media("/media/report.jpg", jpeg_bytes())
    with transaction(wa.runtime.engine) as session:
        ensure_demo_registry(session, wa.runtime.clock())
    for form in (
        f.text("/lapor"),
        f.text("sampah"),
        f.media([(photo, "image/jpeg")]),
        f.location(-6.175, 106.825),
        f.text("Tumpukan sampah"),
        f.text(answer),  # 1: Kirim (publik), 2: rahasia
    ):
        await wa.say(form)
    done = _bodies(twilio)[-1]
    ticket = TICKET.search(done)
    assert ticket, done
    page = f"{PUBLIC}/r/{ticket.group(0)}"
    assert (page in done) is linked
    # The link comes before the numbered list, which still answers with numbers.
    assert "1. Laporan saya" in done
    if linked:
        assert done.index(page) < done.index("1. Laporan saya")
    with new_session(wa.runtime.engine) as session:
        report = session.scalars(select(Report)).one()
        assert report.public is linked
        session.add(Verifier(telegram_id=7_100_000_001, added_at=wa.runtime.clock()))
        session.commit()
    core = wa.runtime.core
    core.rooms = type(core.rooms)(admin=("telegram", "-100777"))
    with transaction(wa.runtime.engine) as session:
        core.process(
            session,
            Inbound(
                channel="telegram",
                address="-100777",
                message_id="verify-1",
                group=True,
                sender="7100000001",
                telegram_id=7_100_000_001,
                choice=payloads.staff(Action.VERIFY, report.id),
            ),
        )
    await wa.runtime.dispatcher.drain()
    notice = _bodies(twilio)[-1]
    assert "Terverifikasi" in notice
    assert (page in notice) is linked


LINK = ("Lihat laporan di web", f"{SITE}/r/JKT-2611-00001")


@pytest.mark.parametrize(
    ("link_url", "button"),
    [
        (f"{SITE}/r/JKT-2611-00001", True),
        ("http://lapor.example.go.id/r/JKT-2611-00001", False),  # Telegram wants https here
        ("https://127.0.0.1:8080/r/JKT-2611-00001", False),  # Telegram refuses addresses
        ("https://localhost/r/JKT-2611-00001", False),
    ],
)
def test_telegram_falls_back_to_text_where_a_button_would_be_refused(
    link_url: str, button: bool
) -> None:
    message = Outbound(
        "telegram", "1", "Kabar laporan", (Choice("1", "rate:1:1"),), link=(LINK[0], link_url)
    )
    markup = render_markup(message).to_dict()
    urls = [b["url"] for row in markup["inline_keyboard"] for b in row if "url" in b]
    assert urls == ([link_url] if button else [])
    assert (link_url in message_text(message)) is not button


def test_every_channel_keeps_the_link_through_the_outbox() -> None:
    message = Outbound("whatsapp", "+62811", "Kabar laporan", link=LINK)
    again = Outbound.from_payload("whatsapp", "+62811", message.to_payload())
    assert again.link == LINK
    assert f"{LINK[0]}: {LINK[1]}" in render_text(again)
    assert LINK[1] in render(again)
    assert Outbound.from_payload("whatsapp", "+62811", {"text": "x"}).link is None
