"""Fixtures for the runtime and the Telegram channel against a loopback Bot API."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta

import pytest
from PIL import Image

from lapor.bot.channels.telegram import attach, build_application
from lapor.bot.runtime import Runtime
from lapor.bot.settings import Settings, load_settings
from lapor.handlers.review import hash_code
from lapor.routing import ensure_demo_registry
from lapor.store.db import make_engine, transaction
from lapor.store.models import GroupInvite, Verifier
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


# The review rooms' fixtures: a verifier and a kelurahan group's binding code.
VERIFIER = UpdateFactory.make_user(7_100_000_001, "Vera")
GROUP_CODE = "ABCD2345"


def seed_review_rooms(url: str, now: datetime) -> None:
    """The demo registry, VERIFIER as a verifier, and GROUP_CODE binding DEMO.01's group."""
    engine = make_engine(url)
    with transaction(engine) as session:
        ensure_demo_registry(session, now)
        session.add(Verifier(telegram_id=VERIFIER["id"], name="Vera", added_at=now))
        session.add(
            GroupInvite(
                kelurahan_code="DEMO.01",
                code_hash=hash_code(GROUP_CODE),
                created_at=now,
                expires_at=now + timedelta(days=1),
            )
        )
    engine.dispose()
