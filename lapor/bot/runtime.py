"""The runtime that channels share: database, core, media store and dispatcher, built once."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy.engine import Engine

from lapor.bot.dispatcher import Dispatcher, Sender
from lapor.bot.pacing import Pacer, telegram_limits, twilio_limits
from lapor.bot.settings import Settings
from lapor.handlers.core import Core, utc_now
from lapor.handlers.rooms import Rooms
from lapor.handlers.types import Clock, Inbound, Outbound, PhotoIn
from lapor.routing import ensure_demo_registry, load_index
from lapor.store.db import make_engine, transaction
from lapor.store.media import MediaStore, prepare_photo

log = logging.getLogger(__name__)
T = TypeVar("T")
CONSOLE_ADMIN = "#admin"


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    core: Core
    media: MediaStore
    clock: Clock = utc_now
    senders: dict[str, Sender] = field(default_factory=dict)
    _dispatcher: Dispatcher | None = None
    _db: ThreadPoolExecutor | None = None
    # Inbound events handled by this process, per channel (for /metrics).
    handled: Counter[str] = field(default_factory=Counter)

    @property
    def db_executor(self) -> ThreadPoolExecutor:
        """Where database work runs, off the event loop.

        SQLite allows one writer: with several threads they queue on its busy handler,
        which sleeps in growing steps (a burst of updates saw waits of seconds). One
        thread hands them the lock in turn instead. PostgreSQL gets a small pool.
        """
        if self._db is None:
            sqlite = self.engine.dialect.name == "sqlite"
            self._db = ThreadPoolExecutor(max_workers=1 if sqlite else 8, thread_name_prefix="db")
        return self._db

    async def run_db(self, function: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.db_executor, function, *args)

    @classmethod
    def from_settings(
        cls, settings: Settings, clock: Clock = utc_now, *, console: bool = False
    ) -> Runtime:
        """Build everything once. `console` lets one terminal play every role offline."""
        engine = make_engine(settings.database_url, sqlite_cache_mb=settings.sqlite_cache_mb)
        with transaction(engine) as session:
            if console:
                # Out of the box the console routes to a made-up demo registry; a real
                # deployment imports its own and never gets the demo.
                ensure_demo_registry(session, clock())
            index = load_index(session)
        if len(index) == 0:
            log.warning(
                "the kelurahan registry is empty: reports are not routed until an operator "
                "imports one (lapor kelurahan import FILE)"
            )
        if console:
            rooms = Rooms(admin=("console", CONSOLE_ADMIN), console=True)
        elif settings.telegram_admin_chat_id is not None:
            rooms = Rooms(admin=("telegram", str(settings.telegram_admin_chat_id)))
        else:
            log.warning("TELEGRAM_ADMIN_CHAT_ID is not set: reports wait with no verifier")
            rooms = Rooms()
        core = Core(
            settings.core_config(),
            clock,
            rooms=rooms,
            locate=index.locate if len(index) else None,
        )
        return cls(settings, engine, core, MediaStore(settings.media_dir), clock)

    @property
    def dispatcher(self) -> Dispatcher:
        if self._dispatcher is None:
            self._dispatcher = Dispatcher(
                self.engine,
                self.senders,
                self.clock,
                max_attempts=self.settings.dispatch_max_attempts,
                lease=timedelta(seconds=self.settings.dispatch_lease_seconds),
                concurrency=self.settings.dispatch_concurrency,
                to_thread=self.run_db,
                pacer=self._pacer(),
            )
        return self._dispatcher

    def _pacer(self) -> Pacer | None:
        settings = self.settings
        if not settings.dispatch_pacing:
            return None
        limits = {
            "telegram": telegram_limits(
                settings.telegram_messages_per_second,
                settings.telegram_chat_messages_per_second,
                settings.telegram_group_messages_per_minute,
            ),
            "whatsapp": twilio_limits(settings.twilio_messages_per_second),
        }
        return Pacer(limits, lambda: self.clock().timestamp())

    def add_sender(self, sender: Sender) -> None:
        self.senders[sender.channel] = sender

    def handle_sync(self, inbound: Inbound) -> list[Outbound]:
        """One inbound event, one transaction: state, report and outbox rows together."""
        with transaction(self.engine) as session:
            return self.core.process(session, inbound)

    async def handle(self, inbound: Inbound) -> list[Outbound]:
        # Database work never blocks the event loop.
        outbound = await self.run_db(self.handle_sync, inbound)
        self.handled[inbound.channel] += 1
        if outbound and self._dispatcher is not None:
            self._dispatcher.wake.set()
        return outbound

    def accept_photo_sync(self, raw: bytes, source_key: str | None = None) -> PhotoIn:
        """Clean and store an image; raises `BadImage` with a reason the core can explain."""
        prepared = prepare_photo(raw)
        path = self.media.save(prepared)
        return PhotoIn(
            sha256=prepared.sha256,
            dhash=prepared.dhash,
            width=prepared.width,
            height=prepared.height,
            size=len(prepared.data),
            path=path,
            source_format=prepared.source_format,
            gps=prepared.gps,
            source_key=source_key,
        )

    async def accept_photo(self, raw: bytes, source_key: str | None = None) -> PhotoIn:
        # Pillow work takes tens of milliseconds on a phone photo: off the event loop.
        return await asyncio.to_thread(self.accept_photo_sync, raw, source_key)

    def dispose(self) -> None:
        if self._db is not None:
            self._db.shutdown(wait=True)
            self._db = None
        self.engine.dispose()
