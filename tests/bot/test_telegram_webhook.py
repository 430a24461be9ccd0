"""Malformed Telegram webhook bodies and forged buttons, through the real web app and PTB.

Anyone who learns the webhook secret (or a buggy proxy) can post any JSON, and PTB's
`Update.de_json` takes almost anything: a chat id "abc" was stored and then failed in the
dispatcher five times, a 100,000-deep array escaped as RecursionError. Every such body gets
a 400 (413 when too large) and leaves no receipt, contact, report or outbox row. In polling
mode Telegram types the fields itself, but button data is still whatever the client sent.
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from lapor.bot.settings import Settings, load_settings
from lapor.bot.web import SECRET_HEADER, create_app
from lapor.store.db import new_session, transaction
from lapor.store.models import (
    Contact,
    Conversation,
    InboundReceipt,
    Outbox,
    Report,
    ReportEvent,
    Verifier,
)
from tests.bot.conftest import TOKEN, TelegramRig, api_root
from tests.conftest import FakeClock
from tests.fakes.bot_api import FakeBotAPI, UpdateFactory

SECRET = "s3cret_token-1"
ADMIN = -1005000000001
VERIFIER = UpdateFactory.make_user(7_100_000_001, "Vera")
INT64 = 2**63
TABLES = (InboundReceipt, Contact, Conversation, Report, ReportEvent, Outbox)


def hook_settings(db_url: str, tmp_path, fake: FakeBotAPI) -> Settings:  # type: ignore[no-untyped-def]
    return load_settings(
        _env_file=None,
        database_url=db_url,
        media_dir=tmp_path / "media",
        telegram_bot_token=TOKEN,
        telegram_api_base_url=api_root(fake),
        telegram_webhook_url="https://lapor.example.org/telegram/webhook",
        telegram_webhook_secret=SecretStr(SECRET),
        telegram_admin_chat_id=ADMIN,
    )


class Hook:
    """The web app as `lapor run` serves it in webhook mode, in front of a real PTB bot."""

    def __init__(self, rig: TelegramRig, client: httpx.AsyncClient) -> None:
        self.rig = rig
        self.client = client

    async def post(self, body: bytes | Any) -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return await self.client.post(
            "/telegram/webhook",
            content=content,
            headers={SECRET_HEADER: SECRET, "Content-Type": "application/json"},
        )

    def counts(self) -> dict[str, int]:
        return counts(self.rig)


def counts(rig: TelegramRig) -> dict[str, int]:
    """Rows in every table an update can write to."""
    with new_session(rig.runtime.engine) as session:
        return {
            model.__name__: session.execute(select(func.count()).select_from(model)).scalar_one()
            for model in TABLES
        }


@pytest.fixture
async def hook(db_url, tmp_path, fake: FakeBotAPI, clock: FakeClock) -> AsyncIterator[Hook]:  # type: ignore[no-untyped-def]
    settings = hook_settings(db_url, tmp_path, fake)
    rig = TelegramRig(settings, clock)
    async with rig.application:
        app = create_app(settings, telegram=(rig.application.bot, rig.channel), runtime=rig.runtime)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield Hook(rig, client)
    rig.runtime.dispose()


def _good(updates: UpdateFactory) -> dict:
    return updates.text("halo")


def _with(update: dict, path: str, value: Any) -> dict:
    """A copy of `update` with the field at dotted `path` set to `value` (None removes it)."""
    changed = copy.deepcopy(update)
    *parents, last = path.split(".")
    node = changed
    for key in parents:
        node = node[key]
    if value is None:
        node.pop(last, None)
    else:
        node[last] = value
    return changed


def _deep_replies(depth: int) -> dict:
    message: dict = {"message_id": 1, "date": 1, "chat": {"id": 1, "type": "private"}}
    for n in range(depth):
        message = {
            "message_id": n + 2,
            "date": 1,
            "chat": {"id": 1, "type": "private"},
            "reply_to_message": message,
        }
    return {"update_id": 1, "message": message}


u = UpdateFactory()
TEXT = u.text("halo")
CALLBACK = u.callback("menu:report")
PHOTO = u.photo("P1", "UP1")
LOCATION = u.location(-6.2, 106.8)

BAD_BODIES: list[tuple[str, bytes | Any]] = [
    ("not json", b"not json"),
    ("invalid utf-8", b'{"update_id": 1, "message": "\xff\xfe"}'),
    ("null", None),
    ("array", []),
    ("number", 123),
    ("string", "x"),
    ("true", True),
    ("empty object", {}),
    ("array nested 100,000 deep", b"[" * 100_000 + b"]" * 100_000),
    ("object nested 40,000 deep", b'{"a":' * 40_000 + b"1" + b"}" * 40_000),
    ("replies nested 300 deep", _deep_replies(300)),
    ("update_id with 5,000 digits", b'{"update_id": 1' + b"0" * 5000 + b"}"),
    ("update_id as text", _with(TEXT, "update_id", "1")),
    ("update_id beyond int64", _with(TEXT, "update_id", INT64)),
    ("update_id negative", _with(TEXT, "update_id", -1)),
    ("update_id a float", _with(TEXT, "update_id", 1.5)),
    ("update_id a bool", _with(TEXT, "update_id", True)),
    ("update_id NaN", b'{"update_id": NaN}'),
    ("message a string", _with(TEXT, "message", "x")),
    ("message a list", _with(TEXT, "message", [])),
    ("text a number", _with(TEXT, "message.text", 123)),
    ("text a list", _with(TEXT, "message.text", ["halo"])),
    ("chat id abc", _with(TEXT, "message.chat.id", "abc")),
    ("chat id beyond int64", _with(TEXT, "message.chat.id", 99999999999999999999)),
    ("chat id a float", _with(TEXT, "message.chat.id", 7.5)),
    ("chat missing", _with(TEXT, "message.chat", None)),
    ("chat type a number", _with(TEXT, "message.chat.type", 5)),
    ("chat title a number", _with(TEXT, "message.chat.title", 5)),
    ("from id beyond int64", _with(TEXT, "message.from.id", INT64)),
    ("from id abc", _with(TEXT, "message.from.id", "abc")),
    ("from name a number", _with(TEXT, "message.from.first_name", 5)),
    ("from a string", _with(TEXT, "message.from", "x")),
    ("date a string", _with(TEXT, "message.date", "x")),
    ("date in the year 10^12", _with(TEXT, "message.date", 10**20)),
    ("message_id abc", _with(TEXT, "message.message_id", "abc")),
    (
        "edited message chat id abc",
        {
            "update_id": 9,
            "edited_message": TEXT["message"] | {"chat": {"id": "abc", "type": "private"}},
        },
    ),
    ("migrate_to_chat_id abc", _with(TEXT, "message.migrate_to_chat_id", "abc")),
    ("media_group_id a number", _with(PHOTO, "message.media_group_id", 5)),
    ("caption a number", _with(PHOTO, "message.caption", 5)),
    ("photo a string", _with(PHOTO, "message.photo", "x")),
    ("photo size without file_id", _with(PHOTO, "message.photo", [{"file_id": 1}])),
    (
        "photo file_size abc",
        _with(
            PHOTO,
            "message.photo",
            [{"file_id": "a", "file_unique_id": "b", "width": 1, "height": 1, "file_size": "abc"}],
        ),
    ),
    ("latitude a string", _with(LOCATION, "message.location.latitude", "x")),
    ("location a number", _with(LOCATION, "message.location", 5)),
    ("reply_to_message a string", _with(TEXT, "message.reply_to_message", "x")),
    (
        "reply_to_message from is_bot a string",
        _with(
            TEXT,
            "message.reply_to_message",
            {
                "message_id": 1,
                "date": 1,
                "chat": {"id": 1, "type": "private"},
                "from": {"id": 1, "is_bot": "yes", "first_name": "x"},
            },
        ),
    ),
    ("callback data a number", _with(CALLBACK, "callback_query.data", 123)),
    ("callback data a list", _with(CALLBACK, "callback_query.data", ["menu:report"])),
    ("callback from missing", _with(CALLBACK, "callback_query.from", None)),
    ("callback from id abc", _with(CALLBACK, "callback_query.from.id", "abc")),
    ("callback id a number", _with(CALLBACK, "callback_query.id", 5)),
    ("callback message chat id abc", _with(CALLBACK, "callback_query.message.chat.id", "abc")),
    (
        "callback message chat id beyond int64",
        _with(CALLBACK, "callback_query.message.chat.id", -INT64 - 1),
    ),
    ("callback message a string", _with(CALLBACK, "callback_query.message", "x")),
    ("callback_query a list", _with(CALLBACK, "callback_query", [])),
]


@pytest.mark.parametrize(("name", "body"), BAD_BODIES, ids=[n for n, _ in BAD_BODIES])
async def test_malformed_body_is_refused_and_stores_nothing(
    hook: Hook, fake: FakeBotAPI, name: str, body: bytes | Any
) -> None:
    before = hook.counts()
    response = await hook.post(body)
    assert response.status_code == 400, response.text
    await hook.rig.dispatcher.drain()
    assert hook.counts() == before
    assert fake.calls_to("sendMessage") == [] and fake.calls_to("answerCallbackQuery") == []


async def test_a_body_over_the_size_cap_is_refused_unread(hook: Hook) -> None:
    huge = _with(TEXT, "message.text", "x" * 2_000_000)
    response = await hook.post(huge)
    assert response.status_code == 413
    assert hook.counts()["InboundReceipt"] == 0


@pytest.mark.parametrize(
    "body",
    [
        {"update_id": 5},
        {"update_id": 6, "some_future_kind": {"x": 1}},
        {"update_id": INT64 - 1, "message": TEXT["message"]},
        {"update_id": 7, "channel_post": _with(TEXT, "message.chat.id", [1])["message"]},
        # What a person typed is read and cleaned at the edge (store.text), not refused.
        _with(TEXT, "message.text", "a\x00b"),
        _with(TEXT, "message.from.first_name", "Si\x00ti"),
        _with(TEXT, "message.text", "Grup \ud800"),
    ],
    ids=[
        "no content",
        "a kind lapor does not read",
        "largest update_id",
        "a channel post with a list for a chat id",
        "text with a NUL",
        "name with a NUL",
        "text with a lone surrogate",
    ],
)
async def test_well_formed_bodies_are_still_accepted(hook: Hook, body: dict) -> None:
    response = await hook.post(body)
    assert response.status_code == 200
    expected = 1 if "message" in body else 0
    assert hook.counts()["InboundReceipt"] == expected


# -- forged buttons through the webhook and through polling -------------------------------------

FORGED_BUTTONS = [
    "rate:abc:1",
    "rate:99999999999999999999:1",
    "rate:2147483648:1",
    "v:99999999999999999999",
    "rr:1:x",
    "rr:1:99",
    "p:2147483648",
    "follow:abc",
]


async def test_forged_button_through_the_webhook_gets_a_polite_answer(
    hook: Hook, fake: FakeBotAPI
) -> None:
    updates = UpdateFactory()
    with transaction(hook.rig.runtime.engine) as session:
        session.add(Verifier(telegram_id=VERIFIER["id"], name="Vera", added_at=hook.rig.clock()))
    for data in FORGED_BUTTONS:
        for chat_id, user in ((None, None), (ADMIN, VERIFIER)):
            fake.reset()
            hook.rig.clock.advance(seconds=1)  # a person's pace: one message a second per chat
            update = updates.callback(data, chat_id=chat_id, user=user)
            response = await hook.post(update)
            assert response.status_code == 200, data
            await hook.rig.dispatcher.drain()
            sent = fake.sent_messages()
            assert len(sent) == 1 and "Tombol itu" in sent[0]["text"], (data, chat_id, sent)
            # The button stops spinning: answered in the webhook's response, no request.
            assert response.json() == {
                "method": "answerCallbackQuery",
                "callback_query_id": update["callback_query"]["id"],
            }
            assert fake.calls_to("answerCallbackQuery") == []
    assert hook.counts()["Report"] == 0 and hook.counts()["ReportEvent"] == 0


async def test_forged_buttons_in_polling_mode_raise_nothing(
    db_url, tmp_path, fake: FakeBotAPI, clock: FakeClock
) -> None:  # type: ignore[no-untyped-def]
    """PTB logs a handler's exception and carries on: collect them to see there are none."""
    rig = TelegramRig(hook_settings(db_url, tmp_path, fake), clock)
    errors: list[BaseException] = []

    async def collect(update: object, context: Any) -> None:
        errors.append(context.error)

    rig.application.add_error_handler(collect)
    with transaction(rig.runtime.engine) as session:
        session.add(Verifier(telegram_id=VERIFIER["id"], name="Vera", added_at=clock()))
    updates = UpdateFactory()
    async with rig.application:
        for data in FORGED_BUTTONS:
            for chat_id, user in ((None, None), (ADMIN, VERIFIER)):
                fake.reset()
                await rig.feed(updates.callback(data, chat_id=chat_id, user=user))
                sent = fake.sent_messages()
                assert len(sent) == 1 and "Tombol itu" in sent[0]["text"], (data, sent)
        # A NUL in a name or in button data is cleaned at the edge: the user is answered.
        fake.reset()
        await rig.feed(
            updates.text("halo", user=UpdateFactory.make_user(7_000_000_777, "Si\x00ti"))
        )
        await rig.feed(updates.callback("menu:report\x00"))
        assert len(fake.calls_to("answerCallbackQuery")) == 1, "the button stops spinning"
        assert len(fake.sent_messages()) == 2
        with new_session(rig.runtime.engine) as session:
            names = set(session.scalars(select(Contact.name)))
        assert "Siti" in names and not any("\x00" in (name or "") for name in names)
    rig.runtime.dispose()
    assert errors == []
