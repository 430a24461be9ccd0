"""The Telegram channel driving a real PTB Application against a loopback Bot API."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from telegram import Update

from lapor.bot.channels.telegram import render_markup, set_commands
from lapor.bot.web import SECRET_HEADER, create_app
from lapor.handlers.types import Choice, Outbound
from lapor.store.db import new_session
from lapor.store.media import MAX_BYTES
from lapor.store.models import Contact, InboundReceipt, Outbox, Photo, Report
from tests.bot.conftest import TelegramRig, jpeg_bytes
from tests.fakes.bot_api import FakeBotAPI, UpdateFactory

USER_ID = UpdateFactory.USER["id"]


def _count(rig: TelegramRig, model) -> int:  # type: ignore[no-untyped-def]
    with new_session(rig.runtime.engine) as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def _texts(fake: FakeBotAPI) -> list[str]:
    return [m.get("text") or m.get("caption") or "" for m in fake.sent_messages()]


# -- inbound translation, table-driven -----------------------------------------------------------

CASES = [
    ("text", lambda u, f: u.text("halo"), {"text": "halo"}),
    ("command", lambda u, f: u.command("lapor"), {"text": "/lapor"}),
    ("photo without caption", lambda u, f: u.photo("P1", "UP1"), {"photos": 1, "text": None}),
    (
        "photo with caption in album",
        lambda u, f: u.photo("P1", "UP1", caption="banjir", media_group_id="g1"),
        {"photos": 1, "text": "banjir", "media_group": "g1"},
    ),
    ("image sent as document", lambda u, f: u.document_image("D1", "UD1"), {"photos": 1}),
    (
        "png document",
        lambda u, f: u.document_image("D2", "UD2", mime_type="image/png", file_name="x.png"),
        {"photos": 1},
    ),
    (
        "text file named .jpg",
        lambda u, f: u.document_image("BAD", "UBAD"),
        {"photo_error": "format"},
    ),
    (
        "pdf document",
        lambda u, f: u.document_image(
            "PDF", "UPDF", mime_type="application/pdf", file_name="surat.pdf"
        ),
        {"unsupported": "document"},
    ),
    ("location", lambda u, f: u.location(-6.1754, 106.8272), {"location": (-6.1754, 106.8272)}),
    (
        "start of a live location",
        lambda u, f: u.location(-6.2, 106.8, live_period=900),
        {"location": (-6.2, 106.8)},
    ),
    (
        "venue",
        lambda u, f: u.venue(-6.1754, 106.8272, "Monas", "Gambir, Jakarta Pusat"),
        {"location": (-6.1754, 106.8272), "label": "Monas, Gambir, Jakarta Pusat"},
    ),
    ("live-location edit", lambda u, f: u.edited_location(-6.2, 106.8, message_id=5), None),
    ("edited text", lambda u, f: u.edited_text("ralat", message_id=5), None),
    ("sticker", lambda u, f: u.sticker(), {"unsupported": "sticker"}),
    ("callback query", lambda u, f: u.callback("menu:report"), {"choice": "menu:report"}),
    (
        "callback query from a group",
        lambda u, f: u.callback("v:1", chat_id=-1001234567890),
        {"choice": "v:1", "group": True, "address": "-1001234567890", "sender": str(USER_ID)},
    ),
    ("group chatter", lambda u, f: u.group_text("halo semua"), None),
    (
        "group command",
        lambda u, f: u.group_text("/kelurahan ABC123"),
        {"text": "/kelurahan ABC123", "group": True, "address": "-1001234567890"},
    ),
]


@pytest.mark.parametrize(
    ("name", "make", "expected"),
    [(n, m, dict(e) if e else e) for n, m, e in CASES],
    ids=[c[0] for c in CASES],
)
async def test_update_becomes_the_right_inbound(
    rig: TelegramRig, fake: FakeBotAPI, updates: UpdateFactory, name, make, expected
) -> None:  # type: ignore[no-untyped-def]
    fake.add_file("P1", jpeg_bytes(), file_unique_id="UP1")
    fake.add_file("D1", jpeg_bytes((10, 200, 10)), file_unique_id="UD1")
    png = Path(rig.runtime.settings.media_dir).parent / "x.png"
    from PIL import Image

    Image.new("RGBA", (50, 40), (0, 0, 255, 128)).save(png)
    fake.add_file("D2", png.read_bytes(), file_unique_id="UD2")
    fake.add_file("BAD", b"this is not a photo", file_unique_id="UBAD")
    update = Update.de_json(make(updates, fake), rig.application.bot)
    inbound = await rig.channel.to_inbound(update)
    if expected is None:
        assert inbound is None
        return
    assert inbound is not None
    address = expected.pop("address", str(USER_ID)) if isinstance(expected, dict) else None
    assert inbound.channel == "telegram" and inbound.address == address
    assert inbound.message_id == f"u{update.update_id}"
    assert inbound.telegram_id == USER_ID
    for key, value in expected.items():
        if key == "photos":
            assert len(inbound.photos) == value
            stored = rig.runtime.media.path(inbound.photos[0].path)
            assert stored.exists() and stored.read_bytes()[:2] == b"\xff\xd8"
        elif key == "location":
            assert inbound.location is not None
            assert (inbound.location.latitude, inbound.location.longitude) == value
        elif key == "label":
            assert inbound.location is not None and inbound.location.label == value
        else:
            assert getattr(inbound, key) == value, key


async def test_largest_photo_size_is_downloaded(
    rig: TelegramRig, fake: FakeBotAPI, updates: UpdateFactory
) -> None:
    fake.add_file("P9", jpeg_bytes(size=(1280, 960)), file_unique_id="UP9")
    inbound = await rig.channel.to_inbound(
        Update.de_json(updates.photo("P9", "UP9"), rig.application.bot)
    )
    assert inbound is not None and inbound.photos[0].width == 1280
    assert [c.params["file_id"] for c in fake.calls_to("getFile")] == ["P9"]
    assert inbound.photos[0].source_key == "UP9"


def _without_sizes(update: dict) -> dict:
    message = update["message"]
    for photo in message.get("photo", []):
        photo.pop("file_size", None)
    if "document" in message:
        message["document"].pop("file_size", None)
    return update


OVERSIZED = [
    ("photo, size understated", lambda u: u.photo("HUGE", "UHUGE"), 50_000),
    ("photo, no size given", lambda u: _without_sizes(u.photo("HUGE", "UHUGE")), None),
    ("image document, size understated", lambda u: u.document_image("HUGE", "UHUGE"), 2_345_678),
]


@pytest.mark.parametrize(
    ("name", "make", "declared"), OVERSIZED, ids=[case[0] for case in OVERSIZED]
)
async def test_a_file_larger_than_it_says_is_not_read_past_the_cap(
    rig: TelegramRig, fake: FakeBotAPI, updates: UpdateFactory, name, make, declared
) -> None:  # type: ignore[no-untyped-def]
    path = "photos/huge.jpg"
    fake.add_file(
        "HUGE",
        jpeg_bytes(),
        file_unique_id="UHUGE",
        file_path=path,
        declared_size=declared if declared is not None else 0,
        padding=3 * MAX_BYTES,
    )
    inbound = await rig.channel.to_inbound(Update.de_json(make(updates), rig.application.bot))
    assert inbound is not None and inbound.photo_error == "too_large" and not inbound.photos
    # Stopped soon after the cap (the rest of the 60 MB never left the server), not read whole.
    assert fake.served_bytes(path) < 2 * MAX_BYTES


async def test_a_replayed_photo_update_is_not_downloaded_again(
    rig: TelegramRig, fake: FakeBotAPI, updates: UpdateFactory
) -> None:
    fake.add_file("P1", jpeg_bytes(), file_unique_id="UP1", file_path="photos/replayed.jpg")
    update = updates.photo("P1", "UP1")
    for _ in range(3):
        await rig.feed(update)
    assert fake.downloads.count("photos/replayed.jpg") == 1
    assert len(fake.calls_to("getFile")) == 1
    assert _count(rig, InboundReceipt) == 1


# -- the whole flow through PTB --------------------------------------------------------------------


async def test_report_flow_through_telegram(
    rig: TelegramRig, fake: FakeBotAPI, updates: UpdateFactory
) -> None:
    fake.add_file("P1", jpeg_bytes(), file_unique_id="UP1")
    await rig.feed(updates.command("start"))
    menu = fake.sent_messages()[-1]
    buttons = [b for row in menu["reply_markup"]["inline_keyboard"] for b in row]
    assert buttons[0] == {"text": "Buat laporan", "callback_data": "menu:report"}
    assert menu["chat_id"] == USER_ID  # a 33-bit id survives the round trip

    await rig.feed(updates.callback("menu:report"))
    assert fake.calls_to("answerCallbackQuery"), "button presses are answered"
    categories = fake.sent_messages()[-1]["reply_markup"]["inline_keyboard"]
    assert len(categories[0]) == 2, "a long list is laid out in two columns"
    await rig.feed(updates.callback("cat:jalan-rusak"))
    await rig.feed(updates.photo("P1", "UP1"))
    location_step = fake.sent_messages()[-1]
    keyboard = location_step["reply_markup"]["keyboard"]
    assert keyboard[0][0]["request_location"] is True
    assert "lampiran" in location_step["text"], "the attachment-menu hint is always there"
    await rig.feed(updates.location(-6.2, 106.8))
    await rig.feed(updates.text("Lubang di depan SD"))
    await rig.feed(updates.callback("confirm:yes"))
    assert re.search(r"JKT-\d{4}-\d{5}", _texts(fake)[-1])
    assert _count(rig, Report) == 1 and _count(rig, Photo) == 1
    with new_session(rig.runtime.engine) as session:
        assert session.scalars(select(Contact)).one().telegram_id == USER_ID
        statuses = set(session.scalars(select(Outbox.status)))
        assert statuses == {"sent"}


async def test_redelivered_update_changes_nothing(
    rig: TelegramRig, fake: FakeBotAPI, updates: UpdateFactory
) -> None:
    update = updates.command("lapor")
    await rig.feed(update)
    await rig.feed(update)
    assert len(fake.sent_messages()) == 1
    assert _count(rig, InboundReceipt) == 1


async def test_restart_resumes_at_the_same_step(
    settings,
    clock,
    fake: FakeBotAPI,  # type: ignore[no-untyped-def]
    updates: UpdateFactory,
) -> None:
    fake.add_file("P1", jpeg_bytes(), file_unique_id="UP1")
    first = TelegramRig(settings, clock)
    async with first.application:
        await first.feed(updates.command("lapor"))
        await first.feed(updates.callback("cat:sampah"))
        await first.feed(updates.photo("P1", "UP1"))
    first.runtime.dispose()

    second = TelegramRig(settings, clock)
    async with second.application:
        await second.feed(updates.location(-6.2, 106.8))
        assert "keterangan" in _texts(fake)[-1].lower()
        await second.feed(updates.callback("note:skip"))
        await second.feed(updates.callback("confirm:yes"))
    assert "JKT-" in _texts(fake)[-1]
    assert _count(second, Report) == 1
    second.runtime.dispose()


async def test_commands_are_set_in_both_languages(rig: TelegramRig, fake: FakeBotAPI) -> None:
    await set_commands(rig.application)
    calls = fake.calls_to("setMyCommands")
    assert len(calls) == 2
    assert {c["command"] for c in calls[0].params["commands"]} >= {"lapor", "batal", "bantuan"}
    assert calls[1].params["language_code"] == "en"


def test_callback_data_over_64_bytes_is_refused() -> None:
    message = Outbound("telegram", "1", "x", choices=(Choice("a", "x" * 65),))
    with pytest.raises(ValueError, match="64 bytes"):
        render_markup(message)


# -- sending: what Telegram's errors do ------------------------------------------------------------


async def test_blocked_user_becomes_unreachable(
    rig: TelegramRig, fake: FakeBotAPI, updates: UpdateFactory
) -> None:
    fake.fail_next("sendMessage", "forbidden", chat_id=USER_ID)
    await rig.feed(updates.command("start"))
    with new_session(rig.runtime.engine) as session:
        contact = session.scalars(select(Contact)).one()
        assert contact.reachable is False and "blocked" in (contact.unreachable_reason or "")
        row = session.scalars(select(Outbox)).one()
        assert row.status == "failed" and "unreachable" in (row.last_error or "")


async def test_retry_after_is_honoured(
    rig: TelegramRig,
    fake: FakeBotAPI,
    clock,  # type: ignore[no-untyped-def]
    updates: UpdateFactory,
    monkeypatch,
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    fake.fail_next("sendMessage", "retry_after", chat_id=USER_ID, retry_after=7)
    await rig.feed(updates.command("start"))
    assert fake.sent_messages() == []
    with new_session(rig.runtime.engine) as session:
        row = session.scalars(select(Outbox)).one()
        assert row.status == "pending"
        assert (row.next_attempt_at - clock.now).total_seconds() == pytest.approx(7)
    clock.advance(seconds=6)
    assert await rig.dispatcher.drain() == 0, "not before retry_after has passed"
    clock.advance(seconds=2)
    await rig.dispatcher.drain()
    assert len(fake.sent_messages()) == 1


async def test_server_errors_are_retried_then_given_up(
    rig: TelegramRig, fake: FakeBotAPI, clock, updates: UpdateFactory
) -> None:  # type: ignore[no-untyped-def]
    fake.fail_next("sendMessage", "server_error", times=100)
    await rig.feed(updates.command("start"))
    for _ in range(10):
        clock.advance(minutes=5)
        await rig.dispatcher.drain()
    with new_session(rig.runtime.engine) as session:
        row = session.scalars(select(Outbox)).one()
        assert row.status == "failed" and row.attempts == rig.dispatcher.max_attempts
        assert row.last_error


async def test_migrated_chat_is_resent_to_the_new_id(
    rig: TelegramRig, fake: FakeBotAPI, updates: UpdateFactory
) -> None:
    fake.fail_next("sendMessage", "migrate", chat_id=USER_ID, migrate_to_chat_id=-100999)
    await rig.feed(updates.command("start"))
    await rig.dispatcher.drain()
    assert [m["chat_id"] for m in fake.sent_messages()] == [-100999]


# -- webhook ------------------------------------------------------------------------------------


@pytest.fixture
async def webhook_rig(settings, clock):  # type: ignore[no-untyped-def]
    settings = settings.model_copy(
        update={
            "telegram_webhook_url": "https://lapor.example.org/telegram/webhook",
            "telegram_webhook_secret": __import__("pydantic").SecretStr("s3cret_token-1"),
        }
    )
    rig = TelegramRig(settings, clock)
    async with rig.application:
        app = create_app(settings, telegram=(rig.application.bot, rig.channel))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield rig, client
    rig.runtime.dispose()


@pytest.mark.parametrize("headers", [{}, {SECRET_HEADER: "wrong"}, {SECRET_HEADER: ""}])
async def test_webhook_without_the_right_secret_is_refused(webhook_rig, updates, headers) -> None:  # type: ignore[no-untyped-def]
    rig, client = webhook_rig
    response = await client.post(
        "/telegram/webhook", json=updates.command("start"), headers=headers
    )
    assert response.status_code == 403
    assert _count(rig, InboundReceipt) == 0 and _count(rig, Outbox) == 0


async def test_webhook_with_the_secret_is_processed(webhook_rig, updates) -> None:  # type: ignore[no-untyped-def]
    rig, client = webhook_rig
    response = await client.post(
        "/telegram/webhook",
        json=updates.command("start"),
        headers={SECRET_HEADER: "s3cret_token-1"},
    )
    assert response.status_code == 200
    assert _count(rig, InboundReceipt) == 1 and _count(rig, Outbox) == 1
    assert (await client.get("/healthz")).text == "ok"


async def test_webhook_rejects_garbage(webhook_rig) -> None:  # type: ignore[no-untyped-def]
    rig, client = webhook_rig
    response = await client.post(
        "/telegram/webhook", content=b"not json", headers={SECRET_HEADER: "s3cret_token-1"}
    )
    assert response.status_code == 400
    assert _count(rig, InboundReceipt) == 0


# -- concurrency ----------------------------------------------------------------------------------


async def test_concurrent_updates_of_one_chat_keep_their_order(
    rig: TelegramRig, fake: FakeBotAPI, updates: UpdateFactory
) -> None:
    import asyncio

    fake.add_file("P1", jpeg_bytes(), file_unique_id="UP1")
    other = UpdateFactory.make_user(7_000_000_002, "Budi")
    batch = [
        updates.command("lapor"),
        updates.callback("cat:sampah"),
        updates.photo("P1", "UP1"),
        updates.command("start", user=other),
        updates.location(-6.2, 106.8),
        updates.callback("note:skip"),
        updates.callback("confirm:yes"),
    ]
    await asyncio.gather(
        *(rig.channel.handle_update(Update.de_json(u, rig.application.bot)) for u in batch)
    )
    await rig.dispatcher.drain()
    assert _count(rig, Report) == 1, _texts(fake)
    assert any("Halo" in m.get("text", "") for m in fake.sent_messages(7_000_000_002))
    assert len(rig.channel.locks) == 0, "locks of idle chats are dropped"
