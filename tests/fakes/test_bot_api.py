"""Tests of the fake Bot API server, driven by real python-telegram-bot clients."""

from __future__ import annotations

import asyncio
import datetime as dtm
import threading
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputMediaPhoto, Update
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter
from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters

from tests.fakes.bot_api import Call, FakeBotAPI, Limit, TelegramLimits, UpdateFactory

USER_ID = UpdateFactory.USER["id"]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeBotAPI]:
    with FakeBotAPI() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeBotAPI) -> FakeBotAPI:
    server.reset()
    return server


@pytest.fixture
async def bot(fake: FakeBotAPI) -> AsyncIterator[Bot]:
    async with Bot(fake.token, base_url=fake.base_url, base_file_url=fake.base_file_url) as b:
        yield b


def test_start_stop_joins_thread() -> None:
    before = {t.name for t in threading.enumerate()}
    fake = FakeBotAPI()
    fake.start()
    port = fake.port
    assert httpx.get(f"{fake.base_url}{fake.token}/getMe").json()["result"]["is_bot"] is True
    fake.stop()
    assert f"FakeBotAPI:{port}" not in {t.name for t in threading.enumerate()}
    assert {t.name for t in threading.enumerate()} <= before | {f"FakeBotAPI:{port}"}
    fake.stop()  # idempotent


async def test_get_me(bot: Bot, fake: FakeBotAPI) -> None:
    me = await bot.get_me()
    assert me.id == fake.bot_id
    assert me.is_bot
    assert me.username == "lapor_test_bot"
    assert me.can_join_groups is True
    assert [c.method for c in fake.calls] == ["getMe", "getMe"]  # Bot.initialize() + ours


async def test_wrong_token_is_unauthorized(fake: FakeBotAPI) -> None:
    async with httpx.AsyncClient() as client:
        res = await client.post(f"{fake.base_url}999:wrong/getMe")
    assert res.status_code == 401
    assert res.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    assert fake.calls == []


async def test_send_message_with_inline_keyboard(bot: Bot, fake: FakeBotAPI) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Jalan rusak", callback_data="cat:1")]])
    msg = await bot.send_message(USER_ID, "Pilih kategori", reply_markup=markup)
    assert msg.text == "Pilih kategori"
    assert msg.chat.id == USER_ID
    assert msg.chat.type == "private"
    assert msg.from_user.id == fake.bot_id
    assert msg.reply_markup == markup
    second = await bot.send_message(-1001234567890, "halo grup")
    assert second.message_id == msg.message_id + 1
    assert second.chat.type == "supergroup"

    (call, _) = fake.calls_to("sendMessage")
    assert call.chat_id == USER_ID  # 7_000_000_001: decoded to int, beyond 32 bits
    assert call.params["reply_markup"]["inline_keyboard"][0][0] == {
        "text": "Jalan rusak",
        "callback_data": "cat:1",
    }
    assert fake.sent_messages(USER_ID) == [
        {"method": "sendMessage", **call.params},
    ]
    assert len(fake.sent_messages()) == 2

    edited = await bot.edit_message_text("Terima kasih", chat_id=USER_ID, message_id=msg.message_id)
    assert edited.text == "Terima kasih"
    assert edited.edit_date is not None
    assert edited.reply_markup is None
    again = await bot.edit_message_reply_markup(USER_ID, msg.message_id, reply_markup=markup)
    assert again.reply_markup == markup


async def test_text_params_stay_strings(bot: Bot, fake: FakeBotAPI) -> None:
    await bot.send_message(USER_ID, "123", parse_mode="HTML", disable_notification=True)
    params = fake.calls_to("sendMessage")[0].params
    assert params["text"] == "123"
    assert params["disable_notification"] is True
    assert params["parse_mode"] == "HTML"


async def test_send_photo_upload_recorded(bot: Bot, fake: FakeBotAPI) -> None:
    data = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40 + b"\r\n--x\r\n\xff\xd9"
    msg = await bot.send_photo(USER_ID, data, caption="Foto laporan #12", filename="lap.jpg")
    assert msg.caption == "Foto laporan #12"
    assert len(msg.photo) == 3
    assert msg.photo[-1].width > msg.photo[0].width

    call = fake.calls_to("sendPhoto")[0]
    assert call.chat_id == USER_ID
    assert call.params["photo"]["filename"] == "lap.jpg"
    assert call.params["photo"]["size"] == len(data)
    assert call.params["photo"]["data"] == data
    assert call.params["caption"] == "Foto laporan #12"

    # the uploaded photo is now downloadable through its new file_id, like on Telegram
    file = await bot.get_file(msg.photo[-1].file_id)
    assert bytes(await file.download_as_bytearray()) == data


async def test_send_media_group_resolves_attachments(bot: Bot, fake: FakeBotAPI) -> None:
    album = [InputMediaPhoto(b"a" * 10), InputMediaPhoto(b"b" * 20, caption="dua")]
    messages = await bot.send_media_group(USER_ID, album)
    assert len({m.media_group_id for m in messages}) == 1
    params = fake.calls_to("sendMediaGroup")[0].params
    assert sorted(params) == ["chat_id", "media"]
    assert [(m["media"]["size"], m.get("caption")) for m in params["media"]] == [
        (10, None),
        (20, "dua"),
    ]


async def test_send_location_and_venue(bot: Bot, fake: FakeBotAPI) -> None:
    msg = await bot.send_location(USER_ID, latitude=-6.2, longitude=106.8)
    assert msg.location.latitude == pytest.approx(-6.2)
    assert msg.location.longitude == pytest.approx(106.8)
    venue = await bot.send_venue(
        USER_ID, latitude=-6.1754, longitude=106.8272, title="Monas", address="Gambir"
    )
    assert venue.venue.title == "Monas"
    assert [m["method"] for m in fake.sent_messages(USER_ID)] == ["sendLocation", "sendVenue"]
    assert fake.sent_messages(USER_ID)[0]["latitude"] == pytest.approx(-6.2)


async def test_get_file_and_download(bot: Bot, fake: FakeBotAPI) -> None:
    content = b"\x89PNG fake image bytes" * 100
    fake.add_file("AgACfile1", content, file_unique_id="AQADuniq1")
    file = await bot.get_file("AgACfile1")
    assert file.file_unique_id == "AQADuniq1"
    assert file.file_size == len(content)
    assert file.file_path.startswith(fake.base_file_url + fake.token + "/")
    assert bytes(await file.download_as_bytearray()) == content
    assert fake.downloads == [file.file_path.rsplit(fake.token + "/", 1)[1]]

    with pytest.raises(BadRequest, match="Invalid file_id"):
        await bot.get_file("nope")
    assert fake.calls[-1].error_code == 400


async def test_fail_next_forbidden(bot: Bot, fake: FakeBotAPI) -> None:
    fake.fail_next("sendMessage", "forbidden", chat_id=USER_ID)
    await bot.send_message(42, "other chat is not affected")
    with pytest.raises(Forbidden, match="blocked"):
        await bot.send_message(USER_ID, "hi")
    await bot.send_message(USER_ID, "consumed: works again")
    assert [c.error_code for c in fake.calls_to("sendMessage")] == [None, 403, None]
    assert [m["text"] for m in fake.sent_messages(USER_ID)] == ["consumed: works again"]


async def test_fail_next_retry_after(
    bot: Bot, fake: FakeBotAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without PTB_TIMEDELTA, reading RetryAfter.retry_after (PTB does it in __init__) emits
    # a PTBDeprecationWarning; opt in to the timedelta form.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    fake.fail_next("sendMessage", "retry_after", retry_after=7, times=2)
    for _ in range(2):
        with pytest.raises(RetryAfter) as info:
            await bot.send_message(USER_ID, "hi")
        assert info.value.retry_after == dtm.timedelta(seconds=7)
    await bot.send_message(USER_ID, "hi")


async def test_fail_next_migrate(bot: Bot, fake: FakeBotAPI) -> None:
    fake.fail_next("sendMessage", "migrate", chat_id=-4001, migrate_to_chat_id=-1004001)
    with pytest.raises(ChatMigrated) as info:
        await bot.send_message(-4001, "hi")
    assert info.value.new_chat_id == -1004001


async def test_fail_next_server_error_and_bad_request(bot: Bot, fake: FakeBotAPI) -> None:
    fake.fail_next("sendPhoto", "server_error")
    fake.fail_next("sendmessage", "bad_request")  # method names are case-insensitive
    with pytest.raises(NetworkError):
        await bot.send_photo(USER_ID, "AgACexisting")
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(USER_ID, "hi")
    with pytest.raises(ValueError):
        fake.fail_next("sendMessage", "explode")


async def test_get_updates_offset_and_limit(bot: Bot, fake: FakeBotAPI) -> None:
    factory = UpdateFactory()
    for i in range(3):
        fake.push_update(factory.text(f"pesan {i}"))
    first = await bot.get_updates(limit=2)
    assert [u.message.text for u in first] == ["pesan 0", "pesan 1"]
    rest = await bot.get_updates(offset=first[-1].update_id + 1)
    assert [u.message.text for u in rest] == ["pesan 2"]
    assert [u["update_id"] for u in fake.pending_updates] == [rest[0].update_id]
    assert await bot.get_updates(offset=rest[0].update_id + 1) == ()
    assert fake.pending_updates == []


async def test_get_updates_long_poll(bot: Bot, fake: FakeBotAPI) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    assert await bot.get_updates(timeout=30) == ()  # capped at 1 s by the fake
    assert 0.8 < loop.time() - start < 1.8

    factory = UpdateFactory()
    loop.call_later(0.1, fake.push_update, factory.text("cepat"))
    start = loop.time()
    updates = await bot.get_updates(timeout=30)
    assert [u.message.text for u in updates] == ["cepat"]
    assert loop.time() - start < 0.6


def test_push_update_assigns_increasing_ids(fake: FakeBotAPI) -> None:
    fake.push_update({"message": {"message_id": 1}})
    fake.push_update({"update_id": 500, "message": {"message_id": 2}})
    fake.push_update({"message": {"message_id": 3}})
    ids = [u["update_id"] for u in fake.pending_updates]
    assert ids[1:] == [500, 501]
    assert ids[0] < 500


def test_wait_for_times_out_with_summary(fake: FakeBotAPI) -> None:
    httpx.post(f"{fake.base_url}{fake.token}/sendMessage", json={"chat_id": 5, "text": "x"})
    with pytest.raises(AssertionError, match=r"sendMessage\(chat_id=5\)"):
        fake.wait_for(lambda calls: len(calls) > 1, timeout=0.05)
    fake.wait_for(lambda calls: calls == [Call("sendMessage", {"chat_id": 5, "text": "x"}, 5)])


def test_update_factory_outputs_parse() -> None:
    f = UpdateFactory()
    bot = Bot("123456:TEST-token")

    def parse(d: dict) -> Update:
        return Update.de_json(d, bot)

    u = parse(f.text("Ada jalan berlubang"))
    assert u.message.text == "Ada jalan berlubang"
    assert u.effective_user.id == USER_ID == u.effective_chat.id
    assert u.effective_chat.type == "private"

    u = parse(f.command("lapor", "banjir"))
    assert u.message.text == "/lapor banjir"
    assert u.message.parse_entities(["bot_command"])
    assert filters.COMMAND.check_update(u)

    u = parse(f.photo("AgACbig", "AQADbig", caption="sampah", media_group_id="g1"))
    assert u.message.photo[-1].file_id == "AgACbig"
    assert u.message.photo[-1].file_unique_id == "AQADbig"
    assert [p.file_id for p in u.message.photo[:2]] == ["AgACbig-s", "AgACbig-m"]
    assert u.message.photo[0].file_size < u.message.photo[-1].file_size
    assert u.message.caption == "sampah"
    assert u.message.media_group_id == "g1"

    u = parse(f.document_image("BQACdoc", "AgADdoc"))
    assert u.message.document.mime_type == "image/jpeg"
    assert u.message.document.file_name == "IMG_0001.jpg"

    u = parse(f.location(-6.2, 106.8, live_period=900))
    assert u.message.location.latitude == -6.2
    assert u.message.location.to_dict()["live_period"] == 900  # attribute access warns

    u = parse(f.venue(-6.1754, 106.8272, "Monas", "Gambir, Jakarta Pusat"))
    assert u.message.venue.title == "Monas"
    assert u.message.location.longitude == 106.8272

    u = parse(f.edited_location(-6.21, 106.81, message_id=77))
    assert u.message is None
    assert u.edited_message.message_id == 77
    assert u.edited_message.location.latitude == -6.21
    assert filters.LOCATION.check_update(u)

    u = parse(f.edited_text("koreksi", message_id=78))
    assert u.edited_message.text == "koreksi"

    u = parse(f.sticker())
    assert u.message.sticker.emoji == "👍"

    other = UpdateFactory.make_user(7_000_000_002, "Budi")
    u = parse(f.callback("ok:5", message_id=12, chat_id=UpdateFactory.GROUP_CHAT_ID, user=other))
    assert u.callback_query.data == "ok:5"
    assert u.callback_query.from_user.id == 7_000_000_002
    assert u.callback_query.message.message_id == 12
    assert u.callback_query.message.chat.type == "supergroup"
    assert u.callback_query.message.reply_markup.inline_keyboard[0][0].callback_data == "ok:5"

    u = parse(f.group_text("halo semua"))
    assert u.effective_chat.id == -1001234567890
    assert u.effective_chat.type == "supergroup"
    assert u.effective_user.id == USER_ID

    ids = [parse(f.text(str(i))).update_id for i in range(3)]
    assert ids == sorted(ids) and len(set(ids)) == 3


async def test_application_polling_replies(fake: FakeBotAPI) -> None:
    app = (
        ApplicationBuilder()
        .token(fake.token)
        .base_url(fake.base_url)
        .base_file_url(fake.base_file_url)
        .build()
    )

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.message.reply_text(f"diterima: {update.message.text}")

    app.add_handler(MessageHandler(filters.TEXT, echo))
    await app.initialize()
    await app.start()
    await app.updater.start_polling(poll_interval=0, timeout=1)
    try:
        fake.push_update(UpdateFactory().text("jalan rusak"))
        await fake.wait_for_async(lambda calls: any(c.method == "sendMessage" for c in calls))
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()

    methods = [c.method for c in fake.calls]
    assert methods[0] == "getMe"
    assert "deleteWebhook" in methods
    assert "getUpdates" in methods
    assert fake.sent_messages(USER_ID)[0]["text"] == "diterima: jalan rusak"


# -- opt-in flood limits -------------------------------------------------------------------------

GROUP_ID = UpdateFactory.GROUP_CHAT_ID


class ManualClock:
    """The fake's clock, moved by the test: windows measured exactly, nothing sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def limited_server() -> Iterator[FakeBotAPI]:
    with FakeBotAPI(limits=TelegramLimits(), clock=ManualClock()) as fake:
        yield fake


@pytest.fixture
def limited(limited_server: FakeBotAPI, monkeypatch: pytest.MonkeyPatch) -> FakeBotAPI:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # RetryAfter.retry_after as a timedelta
    limited_server.reset()
    limited_server.enforce_limits(TelegramLimits())  # whatever the last test set
    return limited_server


@pytest.fixture
async def limited_bot(limited: FakeBotAPI) -> AsyncIterator[Bot]:
    async with Bot(limited.token, base_url=limited.base_url) as b:
        yield b


def _advance(fake: FakeBotAPI, seconds: float) -> None:
    assert isinstance(fake.clock, ManualClock)
    fake.clock.now += seconds


async def _refused(bot: Bot, chat_id: int, text: str = "x") -> int:
    """Send and expect a 429; returns its retry_after in seconds."""
    with pytest.raises(RetryAfter) as info:
        await bot.send_message(chat_id, text)
    assert isinstance(info.value.retry_after, dtm.timedelta)
    return int(info.value.retry_after.total_seconds())


async def test_limits_are_off_by_default(bot: Bot, fake: FakeBotAPI) -> None:
    for i in range(40):  # past every default limit, to one chat, at once
        await bot.send_message(USER_ID, f"m{i}")
    assert fake.limits is None and fake.throttled == 0
    assert [c.error_code for c in fake.calls_to("sendMessage")] == [None] * 40
    assert [d.text for d in fake.delivered(USER_ID)] == [f"m{i}" for i in range(40)]


async def test_a_private_chat_gets_its_burst_then_429_until_the_window_frees(
    limited_bot: Bot, limited: FakeBotAPI
) -> None:
    for i in range(3):  # at 0, 0.2 and 0.4 s
        await limited_bot.send_message(USER_ID, f"m{i}")
        _advance(limited, 0.2)
    assert await _refused(limited_bot, USER_ID, "m3") == 3  # 2.4 s until m0 leaves: 3
    await limited_bot.send_message(42, "another chat is not affected")
    _advance(limited, 2.3)
    assert await _refused(limited_bot, USER_ID, "m3") == 1, "0.1 s left: rounded up to 1"
    _advance(limited, 0.1)  # 3 s after m0: it left the window
    await limited_bot.send_message(USER_ID, "m3")
    assert await _refused(limited_bot, USER_ID, "m4") == 1, "m1 leaves 0.2 s later"

    assert limited.throttled == 3
    assert [d.text for d in limited.delivered(USER_ID)] == ["m0", "m1", "m2", "m3"]
    assert [m["text"] for m in limited.sent_messages(USER_ID)] == ["m0", "m1", "m2", "m3"]
    calls = [
        (c.params["text"], c.error_code, c.retry_after) for c in limited.calls_to("sendMessage")
    ]
    assert [c for c in calls if c[1] == 429] == [("m3", 429, 3), ("m3", 429, 1), ("m4", 429, 1)]


async def test_a_429_is_shaped_like_telegrams(limited: FakeBotAPI) -> None:
    url = f"{limited.base_url}{limited.token}/sendMessage"
    async with httpx.AsyncClient() as client:
        for _ in range(3):
            assert (await client.post(url, data={"chat_id": "5", "text": "x"})).status_code == 200
        res = await client.post(url, data={"chat_id": "5", "text": "x"})
    assert res.status_code == 429
    assert res.json() == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 3",
        "parameters": {"retry_after": 3},
    }


async def test_a_group_gets_20_a_minute(limited_bot: Bot, limited: FakeBotAPI) -> None:
    for i in range(20):
        await limited_bot.send_message(GROUP_ID, f"g{i}")
        _advance(limited, 0.1)
    assert await _refused(limited_bot, GROUP_ID) == 58  # the first left at 60 s, 2 s gone
    await limited_bot.send_message(USER_ID, "a private chat is not affected")
    _advance(limited, 58.0)  # exactly 60 s after the first
    await limited_bot.send_message(GROUP_ID, "g20")
    assert await _refused(limited_bot, GROUP_ID) == 1, "the second leaves 0.1 s later"
    _advance(limited, 0.1)
    await limited_bot.send_message(GROUP_ID, "g21")
    assert [d.text for d in limited.delivered(GROUP_ID)] == [f"g{i}" for i in range(22)]
    assert limited.throttled == 2


async def test_the_bot_gets_30_a_second_over_all_chats(
    limited_bot: Bot, limited: FakeBotAPI
) -> None:
    for i in range(30):
        await limited_bot.send_message(1000 + i, "one each")
    assert await _refused(limited_bot, 2000) == 1
    assert await _refused(limited_bot, GROUP_ID) == 1
    _advance(limited, 0.999)
    assert await _refused(limited_bot, 2000) == 1
    _advance(limited, 0.001)
    await limited_bot.send_message(2000, "a new second")
    await limited_bot.send_photo(GROUP_ID, "AgACexisting", caption="photos count too")
    await limited_bot.send_location(GROUP_ID, latitude=-6.2, longitude=106.8)
    assert len(limited.delivered()) == 33 and limited.throttled == 3


async def test_edits_are_exempt_unless_listed(limited_bot: Bot, limited: FakeBotAPI) -> None:
    for i in range(3):
        await limited_bot.send_message(USER_ID, f"m{i}")
    for _ in range(5):
        await limited_bot.edit_message_text("edited", chat_id=USER_ID, message_id=1)
        await limited_bot.send_chat_action(USER_ID, "typing")
    assert limited.throttled == 0
    assert len(limited.delivered(USER_ID)) == 3, "edits deliver no new message"

    limited.enforce_limits(
        TelegramLimits(methods=frozenset({"sendmessage", "editmessagetext"}), overall=None)
    )
    for _ in range(3):
        await limited_bot.edit_message_text("edited", chat_id=USER_ID, message_id=1)
    with pytest.raises(RetryAfter):
        await limited_bot.send_message(USER_ID, "edits used the window")


async def test_concurrent_calls_cannot_share_the_last_slot(limited: FakeBotAPI) -> None:
    url = f"{limited.base_url}{limited.token}/sendMessage"
    async with httpx.AsyncClient() as client:
        answers = await asyncio.gather(
            *(client.post(url, data={"chat_id": "77", "text": str(i)}) for i in range(12))
        )
    assert sorted(a.status_code for a in answers) == [200] * 3 + [429] * 9
    assert len(limited.delivered(77)) == 3 and limited.throttled == 9


async def test_scripted_failures_come_first_and_take_no_slot(
    limited_bot: Bot, limited: FakeBotAPI
) -> None:
    limited.fail_next("sendMessage", "retry_after", retry_after=9)
    assert await _refused(limited_bot, USER_ID) == 9
    for i in range(3):
        await limited_bot.send_message(USER_ID, f"m{i}")
    assert limited.throttled == 0, "a scripted 429 is not the limits' doing"
    assert limited.calls_to("sendMessage")[0].retry_after == 9


async def test_limits_with_the_real_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without an injected clock: refused, then accepted once retry_after has passed."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    limits = TelegramLimits(overall=Limit(2, 0.5), private_chat=None, group_chat=None)
    with FakeBotAPI(limits=limits) as fake:
        async with Bot(fake.token, base_url=fake.base_url) as bot:
            await bot.send_message(USER_ID, "a")
            await bot.send_message(GROUP_ID, "b")
            assert await _refused(bot, USER_ID, "c") == 1, "at least one whole second"
            # A second after the refusal as the platform saw it: on a busy machine the request
            # reaches the fake well after the client set out.
            refused_at = fake.calls_to("sendMessage")[-1].at
            await asyncio.sleep(max(0.0, refused_at + 1.0 - time.monotonic()))
            await bot.send_message(USER_ID, "c")
        call_times = [c.at for c in fake.calls_to("sendMessage")]
    assert fake.throttled == 1
    assert call_times == sorted(call_times)
    assert call_times[-1] - call_times[2] >= 1.0 - 0.01
    assert [d.text for d in fake.delivered(USER_ID)] == ["a", "c"]


async def test_jitter_forgives_a_call_that_beats_the_window_by_a_hair(
    limited_bot: Bot, limited: FakeBotAPI
) -> None:
    limited.enforce_limits(TelegramLimits(overall=Limit(1, 1.0), jitter=0.02))
    await limited_bot.send_message(USER_ID, "a")
    _advance(limited, 0.99)
    await limited_bot.send_message(42, "b")  # 10 ms early: forgiven
    _advance(limited, 0.97)
    assert await _refused(limited_bot, 43) == 1, "30 ms early is not"
    limited.enforce_limits(TelegramLimits(overall=Limit(1, 1.0)))
    _advance(limited, 10)
    await limited_bot.send_message(USER_ID, "c")
    _advance(limited, 0.99)
    assert await _refused(limited_bot, 42) == 1, "without jitter the window is exact"


def test_limits_reject_nonsense() -> None:
    with pytest.raises(ValueError):
        Limit(0, 1.0)
    with pytest.raises(ValueError):
        Limit(1, 0.0)
    with pytest.raises(ValueError):
        TelegramLimits(jitter=-0.1)
