"""The aiohttp transport under PTB's Bot: forms, uploads, errors and timeouts, on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import io
import socket
from collections.abc import AsyncIterator

import pytest
from PIL import Image
from telegram import Bot
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from lapor.bot.channels.telegram_http import AiohttpRequest
from tests.bot.conftest import TOKEN
from tests.fakes.bot_api import FakeBotAPI


def _bot(base: str, request: AiohttpRequest) -> Bot:
    return Bot(TOKEN, base_url=base + "/bot", base_file_url=base + "/file/bot", request=request)


@contextlib.asynccontextmanager
async def _started(bot: Bot) -> AsyncIterator[Bot]:
    await bot.initialize()
    try:
        yield bot
    finally:
        await bot.shutdown()


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(out, "JPEG")
    return out.getvalue()


async def test_messages_buttons_and_photo_uploads_arrive_as_sent(fake: FakeBotAPI) -> None:
    base = fake.base_url.removesuffix("/bot")
    async with _started(_bot(base, AiohttpRequest())) as bot:
        sent = await bot.send_message(7_000_000_001, "Laporan diterima: café ✓ \u00a0")
        photo = _jpeg()
        card = await bot.send_photo(-100123, photo=photo, caption="Kartu laporan")
    assert sent.message_id > 0 and card.message_id > sent.message_id
    (message,) = fake.calls_to("sendMessage")
    assert message.params["text"] == "Laporan diterima: café ✓ \u00a0"
    assert message.chat_id == 7_000_000_001
    (upload,) = fake.calls_to("sendPhoto")
    assert upload.params["caption"] == "Kartu laporan"
    assert upload.params["photo"]["data"] == photo


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("retry_after", RetryAfter),
        ("forbidden", Forbidden),
        ("bad_request", BadRequest),
        ("server_error", NetworkError),
    ],
)
async def test_bot_api_errors_become_ptbs_errors(
    fake: FakeBotAPI, kind: str, error: type[Exception]
) -> None:
    fake.fail_next("sendMessage", kind)
    base = fake.base_url.removesuffix("/bot")
    async with _started(_bot(base, AiohttpRequest())) as bot:
        with pytest.raises(error):
            await bot.send_message(7_000_000_001, "x")


async def test_a_server_that_does_not_answer_times_out() -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # reads nothing, answers nothing

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    request = AiohttpRequest(read_timeout=0.3, connect_timeout=0.3, pool_timeout=0.1)
    bot = _bot(f"http://127.0.0.1:{port}", request)
    await request.initialize()
    try:
        with pytest.raises(TimedOut):
            await bot.send_message(7_000_000_001, "x")
    finally:
        await request.shutdown()
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_refused_connection_is_a_network_error_without_the_token() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    request = AiohttpRequest(connect_timeout=1.0)
    bot = _bot(f"http://127.0.0.1:{port}", request)
    await request.initialize()
    try:
        with pytest.raises(NetworkError) as caught:
            await bot.send_message(7_000_000_001, "x")
    finally:
        await request.shutdown()
    assert TOKEN not in str(caught.value) and TOKEN.split(":")[1] not in repr(caught.value)


async def test_it_must_be_initialised_first() -> None:
    request = AiohttpRequest()
    with pytest.raises(RuntimeError):
        await request.do_request("http://127.0.0.1:9/bot/getMe", "POST")
