"""The whole review path through Telegram: real PTB application, loopback Bot API."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from lapor.store.db import new_session
from lapor.store.models import Report
from tests.bot.conftest import GROUP_CODE, VERIFIER, TelegramRig, jpeg_bytes, seed_review_rooms
from tests.fakes.bot_api import FakeBotAPI, UpdateFactory

ADMIN = -1005000000001
GROUP = -1005000000101
CITIZEN = UpdateFactory.USER["id"]
STRANGER = UpdateFactory.make_user(7_100_000_999, "Iseng")
OFFICER = UpdateFactory.make_user(7_200_000_001, "Pak Lurah")


def buttons(message: dict) -> list[str]:
    markup = message.get("reply_markup") or {}
    return [b.get("callback_data") for row in markup.get("inline_keyboard", []) for b in row]


@pytest.fixture
async def world(settings, clock, fake: FakeBotAPI):  # type: ignore[no-untyped-def]
    seed_review_rooms(settings.database_url, clock())
    settings = settings.model_copy(update={"telegram_admin_chat_id": ADMIN})
    rig = TelegramRig(settings, clock)
    async with rig.application:
        yield rig
    rig.runtime.dispose()


async def test_report_travels_citizen_verifier_group_and_back(
    world: TelegramRig, fake: FakeBotAPI
) -> None:
    updates = UpdateFactory()
    fake.add_file("P1", jpeg_bytes(), file_unique_id="UP1")
    fake.add_file("AFTER", jpeg_bytes((20, 160, 20)), file_unique_id="UAFTER")

    # An officer binds the kelurahan group with the one-time code.
    await world.feed(updates.group_text(f"/kelurahan {GROUP_CODE}", chat_id=GROUP, user=OFFICER))
    assert "Gambir (demo)" in fake.sent_messages(GROUP)[-1]["text"]

    # The citizen reports.
    for update in (
        updates.command("lapor"),
        updates.callback("cat:sampah"),
        updates.photo("P1", "UP1"),
        updates.location(-6.175, 106.825),
        updates.callback("note:skip"),
        updates.callback("confirm:yes"),
    ):
        await world.feed(update)
    ticket = re.search(r"JKT-\d{4}-\d{5}", fake.sent_messages(CITIZEN)[-1]["text"]).group(0)  # type: ignore[union-attr]
    card = fake.sent_messages(ADMIN)[-1]
    assert card["method"] == "sendPhoto" and ticket in card["caption"]
    verify = next(b for b in buttons(card) if b.startswith("v:"))
    with new_session(world.runtime.engine) as session:
        report = session.scalars(select(Report)).one()

    # A stranger in the admin chat presses: refused, nothing changes.
    await world.feed(updates.callback(verify, chat_id=ADMIN, user=STRANGER, message_id=9001))
    assert "hanya verifikator" in fake.sent_messages(ADMIN)[-1]["text"]

    # The verifier verifies: the card is edited, the group gets pin, photo and buttons.
    await world.feed(updates.callback(verify, chat_id=ADMIN, user=VERIFIER, message_id=9001))
    edits = fake.calls_to("editMessageCaption")
    assert edits and edits[-1].params["message_id"] == 9001
    assert "Vera" in edits[-1].params["caption"]
    to_group = fake.sent_messages(GROUP)
    assert [m["method"] for m in to_group[-2:]] == ["sendLocation", "sendPhoto"]
    assert [b.split(":")[0] for b in buttons(to_group[-1])] == ["p", "s", "n", "w", "f"]
    citizen_texts = [m.get("text", "") for m in fake.sent_messages(CITIZEN)]
    assert any("Diteruskan" in t for t in citizen_texts)

    # Officers: in progress, then done with an after-photo sent as a reply.
    await world.feed(
        updates.callback(f"p:{report.id}", chat_id=GROUP, user=OFFICER, message_id=9100)
    )
    await world.feed(
        updates.callback(f"s:{report.id}", chat_id=GROUP, user=OFFICER, message_id=9100)
    )
    ask = fake.sent_messages(GROUP)[-1]
    assert ask["reply_markup"].get("force_reply") is True
    await world.feed(updates.photo("AFTER", "UAFTER", chat_id=GROUP, user=OFFICER))
    resolved = fake.sent_messages(CITIZEN)[-1]
    assert resolved["method"] == "sendPhoto" and "Selesai" in resolved["caption"]
    assert f"rate:{report.id}:2" in buttons(resolved)

    # The citizen is not satisfied: the report is reopened in the group.
    await world.feed(updates.callback(f"rate:{report.id}:2"))
    await world.feed(updates.text("Masih ada sampah di pojok"))
    reopened = fake.sent_messages(GROUP)[-1]
    assert "dibuka kembali" in reopened["caption"] and "pojok" in reopened["caption"]
    with new_session(world.runtime.engine) as session:
        assert session.get(Report, report.id).status == "in_progress"  # type: ignore[union-attr]
    # No message to a group ever carries the citizen's id or name.
    for message in fake.sent_messages(GROUP) + fake.sent_messages(ADMIN):
        body = (message.get("text") or "") + (message.get("caption") or "")
        assert str(CITIZEN) not in body and "Siti" not in body


async def test_burst_to_one_group_stays_within_twenty_a_minute(
    world: TelegramRig, fake: FakeBotAPI, clock
) -> None:  # type: ignore[no-untyped-def]
    updates = UpdateFactory()
    await world.feed(updates.group_text(f"/kelurahan {GROUP_CODE}", chat_id=GROUP, user=OFFICER))
    tickets = []
    for n in range(50):
        citizen = UpdateFactory.make_user(7_300_000_000 + n, f"Warga {n}")
        fake.add_file(f"P{n}", jpeg_bytes((n * 5 % 255, 90, 200 - n)), file_unique_id=f"U{n}")
        for update in (
            updates.command("lapor", user=citizen),
            updates.callback("cat:lampu-jalan", user=citizen),
            updates.photo(f"P{n}", f"U{n}", user=citizen),
            updates.location(-6.166 - n * 0.0003, 106.816 + n * 0.0003, user=citizen),
            updates.callback("note:skip", user=citizen),
        ):
            await world.feed(update)
        last = fake.sent_messages(citizen["id"])[-1]
        if "dup:new" in buttons(last):
            await world.feed(updates.callback("dup:new", user=citizen))
        await world.feed(updates.callback("confirm:yes", user=citizen))
        tickets.append(
            re.search(r"JKT-\d{4}-\d{5}", fake.sent_messages(citizen["id"])[-1]["text"]).group(0)
        )  # type: ignore[union-attr]
    fake.reset()
    with new_session(world.runtime.engine) as session:
        ids = [r.id for r in session.scalars(select(Report).order_by(Report.id))]
    for report_id in ids:
        await world.feed(updates.callback(f"v:{report_id}", chat_id=ADMIN, user=VERIFIER))
    minute_one = fake.sent_messages(GROUP)
    assert len(minute_one) <= 20, "Telegram's limit for one group"
    clock.advance(seconds=61)
    await world.dispatcher.drain()
    minute_two = fake.sent_messages(GROUP)[len(minute_one) :]
    assert len(minute_two) == 1 and "/buka" in minute_two[0]["text"]
    shown = " ".join((m.get("text") or m.get("caption") or "") for m in minute_one + minute_two)
    assert all(ticket in shown for ticket in tickets), "no report lost"
