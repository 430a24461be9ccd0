"""Fixtures for the runtime and the Telegram channel against a loopback Bot API."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Iterator

import pytest
from PIL import Image

from lapor.bot.channels.telegram import attach, build_application
from lapor.bot.runtime import Runtime
from lapor.bot.settings import Settings, load_settings
from tests.conftest import FakeClock
from tests.fakes.bot_api import FakeBotAPI, UpdateFactory

TOKEN = "123456:TEST-token-for-lapor-tests"


@pytest.fixture(scope="module")
def fake_api() -> Iterator[FakeBotAPI]:
    with FakeBotAPI(token=TOKEN) as fake:
        yield fake


@pytest.fixture
def fake(fake_api: FakeBotAPI) -> FakeBotAPI:
    fake_api.reset()
    return fake_api


@pytest.fixture
def updates() -> UpdateFactory:
    return UpdateFactory()


def api_root(fake: FakeBotAPI) -> str:
    return fake.base_url.removesuffix("/bot")


@pytest.fixture
def settings(sqlite_url: str, tmp_path, fake: FakeBotAPI) -> Settings:  # type: ignore[no-untyped-def]
    return load_settings(
        _env_file=None,
        database_url=sqlite_url,
        media_dir=tmp_path / "media",
        telegram_bot_token=TOKEN,
        telegram_api_base_url=api_root(fake),
    )


class TelegramRig:
    """A real PTB Application wired to lapor, talking to the fake Bot API."""

    def __init__(self, settings: Settings, clock: FakeClock) -> None:
        self.clock = clock
        self.runtime = Runtime.from_settings(settings, clock=clock)
        self.application = build_application(settings)
        self.channel = attach(self.runtime, self.application)
        self.dispatcher = self.runtime.dispatcher

    async def feed(self, update: dict) -> None:
        """Process one update as polling would, then send what was queued.

        A person takes at least a second between two messages: the clock moves on, so
        the dispatcher's pacing (one message a second per chat) sees real-looking time.
        """
        from telegram import Update

        self.clock.advance(seconds=1)
        await self.application.process_update(Update.de_json(update, self.application.bot))
        await self.dispatcher.drain()


@pytest.fixture
async def rig(settings: Settings, clock: FakeClock) -> AsyncIterator[TelegramRig]:
    rig = TelegramRig(settings, clock)
    async with rig.application:
        yield rig
    rig.runtime.dispose()


def jpeg_bytes(
    color: tuple[int, int, int] = (180, 40, 40), size: tuple[int, int] = (640, 480)
) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "JPEG")
    return buffer.getvalue()
