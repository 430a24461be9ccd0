"""One active scheduler among many processes, elected with a PostgreSQL advisory lock.

Two schedulers on one database would remind every head twice (the outbox keys would
catch it, but the work is wasted and the race is ugly). The lock is held on a dedicated
connection for as long as the process lives; when that process dies, PostgreSQL releases
the lock and a standby takes over at its next try. SQLite means one process: always lead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)

# Any fixed 64-bit number, the same in every lapor process: "lapor scheduler".
SCHEDULER_LOCK = 0x6C61706F72736368


class Leadership:
    def __init__(self, engine: Engine, key: int = SCHEDULER_LOCK) -> None:
        self.engine = engine
        self.key = key
        self._connection: Connection | None = None

    def try_acquire(self) -> bool:
        """True when this process leads (now or already)."""
        if self.engine.dialect.name != "postgresql":
            return True
        if self._connection is not None:
            return True
        connection = self.engine.connect()
        acquired = connection.execute(
            text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}
        ).scalar()
        connection.commit()
        if acquired:
            self._connection = connection
            return True
        connection.close()
        return False

    def release(self) -> None:
        if self._connection is not None:
            try:
                self._connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
                self._connection.commit()
            finally:
                self._connection.close()
                self._connection = None


async def lead_when_possible(
    leadership: Leadership,
    stop: asyncio.Event,
    on_lead: Callable[[], None],
    retry_seconds: float = 10.0,
) -> None:
    """Wait as a standby until the lock is ours, then call `on_lead` once."""
    while not stop.is_set():
        if await asyncio.to_thread(leadership.try_acquire):
            log.info("this process runs the scheduled jobs")
            on_lead()
            return
        try:
            await asyncio.wait_for(stop.wait(), timeout=retry_seconds)
        except TimeoutError:
            continue
