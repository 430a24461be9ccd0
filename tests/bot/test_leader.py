"""One scheduler leads; a standby takes over when the leader goes."""

from __future__ import annotations

import asyncio

from lapor.bot.leader import Leadership, lead_when_possible
from lapor.store.db import make_engine


async def test_one_leader_and_a_standby_that_takes_over(db_url: str) -> None:
    first_engine, second_engine = make_engine(db_url), make_engine(db_url)
    first, second = Leadership(first_engine), Leadership(second_engine)
    try:
        assert first.try_acquire()
        postgres = first_engine.dialect.name == "postgresql"
        # SQLite is one process by design; on PostgreSQL the lock is exclusive.
        assert second.try_acquire() is (not postgres)
        if not postgres:
            return
        led = asyncio.Event()
        stop = asyncio.Event()
        standby = asyncio.create_task(lead_when_possible(second, stop, led.set, retry_seconds=0.05))
        await asyncio.sleep(0.2)
        assert not led.is_set(), "the standby waits while the leader lives"
        first.release()  # the leader's process ends
        await asyncio.wait_for(led.wait(), timeout=5)
        await standby
    finally:
        first.release()
        second.release()
        first_engine.dispose()
        second_engine.dispose()
