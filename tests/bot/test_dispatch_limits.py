"""The real dispatcher and Telegram sender against a Bot API that enforces Telegram's limits.

Real time, real HTTP on loopback (PTB's `Bot` with `base_url` at `FakeBotAPI`), the real
outbox on SQLite and PostgreSQL. The fake's group window is scaled from a minute to 2 s and
lapor's pacer is given the same numbers, so a run takes seconds. Whatever the pace, the
platform must end up with every message exactly once, in outbox order per chat; past the
limits it answers 429 with `retry_after`, which the dispatcher honours without counting it
as a failed attempt.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from telegram import Bot

from lapor.bot.channels.telegram import TelegramSender
from lapor.bot.dispatcher import Dispatcher
from lapor.bot.pacing import ChannelLimits, Pacer, Rate
from lapor.handlers.core import utc_now
from lapor.handlers.types import Outbound
from lapor.store import outbox
from lapor.store.db import new_session, transaction
from lapor.store.media import MediaStore
from lapor.store.models import Outbox
from tests.fakes.bot_api import FakeBotAPI, Limit, TelegramLimits

PRIVATE_CHATS = [7_000_000_001 + i for i in range(5)]  # above 2**32, like real user ids
GROUPS = [-1001234567890, -1009876543210]

# Telegram's limits, the group window scaled from 60 s to 2 s: 30 in any second per bot,
# one a second per private chat with a burst of 3, 20 in any 2 s per group.
FAKE_LIMITS = TelegramLimits(
    overall=Limit(30, 1.0), private_chat=Limit(3, 3.0), group_chat=Limit(20, 2.0)
)
# The pacer stamps a send before the request travels, the fake when it arrives; loopback
# latencies differ by a few ms (3.7 ms seen on an idle machine, over 100 ms on a busy
# 2-core one), so a send paced exactly at the limit can land that much early. Forgiven up
# to this; a pacer a message per window too fast is not (see the "twice too fast" case).
JITTER = 0.25
# The fake serves one request at a time in one thread, sharing the GIL with the
# dispatcher; Telegram serves them all at once. With 16 sends in flight the first of a
# burst could be handled 16 requests late, and on a busy 2-core machine that skew passed
# 250 ms: the next window's first send then arrived "early". Where the test is that
# nothing is refused, fewer sends in flight bound that skew (the pace is still the limit:
# four at a time send far faster than 30 a second).
IN_FLIGHT_AT_THE_LIMITS = 4
# The dispatcher's clock is UTC wall time, the fake's is monotonic.
CLOCK_TOLERANCE = 0.05
DEADLINE = 45.0  # seconds; a healthy run takes a few


def pacing_for(limits: TelegramLimits, speed: float = 1.0) -> ChannelLimits:
    """Lapor's pacing for the fake's limits, `speed` times as many per window."""

    def rate(limit: Limit | None) -> Rate | None:
        return None if limit is None else Rate(round(limit.count * speed), limit.seconds)

    return ChannelLimits(
        overall=rate(limits.overall),
        private_chat=rate(limits.private_chat),
        group_chat=rate(limits.group_chat),
    )


@dataclass(frozen=True, order=True)
class Queued:
    row_id: int
    key: str
    chat_id: int


def enqueue(engine: Engine, rows: list[outbox.OutgoingRow]) -> list[Queued]:
    """Enqueue in one go; returns the rows in outbox order (by id)."""
    with transaction(engine) as session:
        assert outbox.enqueue(session, rows, utc_now()) == len(rows)
    with new_session(engine) as session:
        found = session.execute(select(Outbox.id, Outbox.key, Outbox.address)).all()
    return sorted(Queued(r.id, r.key, int(r.address)) for r in found)


def realistic_load(engine: Engine) -> list[Queued]:
    """5 private chats x 4 messages and 2 groups x 25, interleaved, enqueued in one go."""
    owners = [c for c in PRIVATE_CHATS for _ in range(4)] + [g for g in GROUPS for _ in range(25)]
    random.Random(20261128).shuffle(owners)
    seq: Counter[int] = Counter()
    rows = []
    for chat in owners:
        n = seq[chat]
        seq[chat] += 1
        key = f"{chat}:{n}"
        payload: dict[str, Any] = {"text": key}
        if n % 5 == 4:  # some with buttons, as the bot sends them
            payload["choices"] = [["Diproses", f"p:{n}"], ["Selesai", f"s:{n}"]]
        rows.append(outbox.OutgoingRow(key, "telegram", str(chat), payload))
    return enqueue(engine, rows)


async def run_until_done(dispatcher: Dispatcher, engine: Engine) -> None:
    """Run the dispatcher as the bot does (`run`, real time) until no row is unsent."""

    def unfinished() -> int:
        with new_session(engine) as session:
            return session.execute(
                select(func.count()).where(Outbox.status.in_((outbox.PENDING, outbox.SENDING)))
            ).scalar_one()

    stop = asyncio.Event()
    started = time.monotonic()
    task = asyncio.create_task(dispatcher.run(stop, idle_interval=0.25))
    try:
        while await asyncio.to_thread(unfinished):
            assert time.monotonic() - started < DEADLINE, f"not drained within {DEADLINE} s"
            assert not task.done(), "the dispatcher stopped by itself"
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


def assert_all_once_in_order(fake: FakeBotAPI, engine: Engine, queued: list[Queued]) -> None:
    delivered = fake.delivered()
    counts = Counter(d.text for d in delivered)
    assert sorted(k for k, n in counts.items() if n > 1) == [], "arrived twice"
    assert sorted(counts) == sorted(q.key for q in queued), "every message arrived"
    by_chat = fake.delivered_by_chat()
    for chat in {q.chat_id for q in queued}:
        want = [q.key for q in queued if q.chat_id == chat]  # outbox order
        assert [d.text for d in by_chat.get(chat, [])] == want, f"order in chat {chat}"
    message_ids = {d.text: str(d.message_id) for d in delivered}
    with new_session(engine) as session:
        rows = session.execute(select(Outbox.key, Outbox.status, Outbox.provider_id)).all()
    assert {r.status for r in rows} == {outbox.SENT}
    assert {r.key: r.provider_id for r in rows} == message_ids, "the ids Telegram gave"


def assert_attempts(engine: Engine, expected: int) -> None:
    with new_session(engine) as session:
        attempts = Counter(session.scalars(select(Outbox.attempts)))
    assert set(attempts) == {expected}, f"attempts per row: {dict(attempts)}"


def refusals(fake: FakeBotAPI) -> list[str]:
    return [
        f"{c.params.get('text')} at {c.at:.3f}: retry after {c.retry_after}"
        for c in fake.calls
        if c.error_code == 429
    ]


def assert_nothing_logged(caplog: pytest.LogCaptureFixture) -> None:
    """No row failed or crashed on the way ("outbox row N failed", a sender exception)."""
    noisy = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert noisy == []


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBotAPI]:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # RetryAfter.retry_after as a timedelta
    with FakeBotAPI(limits=dataclasses.replace(FAKE_LIMITS, jitter=JITTER)) as fake:
        yield fake


@pytest.fixture
async def sender(fake: FakeBotAPI, tmp_path) -> AsyncIterator[TelegramSender]:  # type: ignore[no-untyped-def]
    async with Bot(fake.token, base_url=fake.base_url, base_file_url=fake.base_file_url) as bot:
        yield TelegramSender(bot, MediaStore(tmp_path / "media"))


@pytest.fixture
async def steady(fake: FakeBotAPI, sender: TelegramSender) -> AsyncIterator[None]:
    """A process that does not pause mid-run, for the tests where nothing may be refused.

    The dispatcher and the fake share one process: a pause (a first import compiled in a
    fresh checkout, a full garbage collection) while a send is on its way lets the pacer's
    next window open before the fake has stamped the send. One message first, through the
    whole sending path, then no garbage collection until the test ends.
    """
    await sender.send(Outbound.from_payload("telegram", str(PRIVATE_CHATS[0]), {"text": "."}))
    fake.reset()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def dispatcher_for(
    engine: Engine,
    sender: TelegramSender,
    pacing: ChannelLimits | None,
    concurrency: int = 16,
) -> Dispatcher:
    """As `Runtime.dispatcher` builds it (pacer on the dispatcher's clock), default attempts."""
    pacer = None if pacing is None else Pacer({"telegram": pacing}, lambda: utc_now().timestamp())
    return Dispatcher(engine, {"telegram": sender}, utc_now, pacer=pacer, concurrency=concurrency)


async def test_paced_at_the_limits_nothing_is_refused(
    engine: Engine,
    fake: FakeBotAPI,
    sender: TelegramSender,
    steady: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    queued = realistic_load(engine)
    dispatcher = dispatcher_for(
        engine, sender, pacing_for(FAKE_LIMITS), concurrency=IN_FLIGHT_AT_THE_LIMITS
    )
    await run_until_done(dispatcher, engine)
    assert_all_once_in_order(fake, engine, queued)
    assert fake.throttled == 0, f"the pacer kept every limit; refused: {refusals(fake)}"
    assert_attempts(engine, 1)  # put off by the pacer is not an attempt
    assert_nothing_logged(caplog)


@pytest.mark.parametrize("speed", [2.0, None], ids=["paced-twice-too-fast", "unpaced"])
async def test_past_the_limits_429s_are_honoured_and_nothing_is_lost(
    engine: Engine,
    fake: FakeBotAPI,
    sender: TelegramSender,
    speed: float | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    queued = realistic_load(engine)
    pacing = None if speed is None else pacing_for(FAKE_LIMITS, speed)
    await run_until_done(dispatcher_for(engine, sender, pacing), engine)
    assert fake.throttled > 0, "the platform did refuse some"
    assert_all_once_in_order(fake, engine, queued)

    # Each refused message went again, and not before the retry_after it was given.
    calls = fake.calls_to("sendMessage")
    refused = [(i, c) for i, c in enumerate(calls) if c.error_code == 429]
    assert len(refused) == fake.throttled
    for i, call in refused:
        assert call.retry_after is not None and call.retry_after >= 1
        text = call.params["text"]
        again = next(c for c in calls[i + 1 :] if c.params["text"] == text)
        waited = again.at - call.at
        assert waited >= call.retry_after - CLOCK_TOLERANCE, (
            f"{text} went {waited:.3f} s after a 429 asking for {call.retry_after} s"
        )
    # A 429 says "later", not "failed": it does not use up one of the row's attempts.
    assert_attempts(engine, 1)
    assert_nothing_logged(caplog)


async def test_a_backlog_longer_than_max_attempts_windows_is_not_given_up(
    engine: Engine,
    fake: FakeBotAPI,
    sender: TelegramSender,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Pacing off (`DISPATCH_PACING=false`, or a second process sharing the bot) and a
    broadcast that the overall limit spreads over six windows: 3 a second for 18 chats,
    as 30 a second would for 180. The last chats are refused five times before their turn.

    Before the fix every 429 used up an attempt: rows 16-18 were marked failed with "Flood
    control exceeded. Retry in 0:00:01" after the fifth and never sent.
    """
    fake.enforce_limits(TelegramLimits(overall=Limit(3, 1.0), private_chat=None, group_chat=None))
    chats = [7_100_000_000 + i for i in range(18)]
    queued = enqueue(
        engine,
        [outbox.OutgoingRow(f"b:{c}", "telegram", str(c), {"text": f"b:{c}"}) for c in chats],
    )
    dispatcher = dispatcher_for(engine, sender, None)
    assert dispatcher.max_attempts == 5  # the default, as in Settings
    await run_until_done(dispatcher, engine)
    most = Counter(c.params["text"] for c in fake.calls if c.error_code == 429).most_common(1)
    assert most and most[0][1] >= dispatcher.max_attempts, "refused more often than attempts"
    assert_all_once_in_order(fake, engine, queued)
    assert_attempts(engine, 1)
    assert_nothing_logged(caplog)


async def test_group_cards_with_a_pin_paced_at_the_limits(
    engine: Engine, fake: FakeBotAPI, sender: TelegramSender, steady: None
) -> None:
    group = GROUPS[0]
    limits = TelegramLimits(overall=Limit(30, 1.0), private_chat=None, group_chat=Limit(4, 2.0))
    fake.enforce_limits(dataclasses.replace(limits, jitter=JITTER))
    rows = [outbox.OutgoingRow("intro", "telegram", str(group), {"text": "intro"})]
    rows += [  # what `review.group_card` sends officers: text, buttons and the pin
        outbox.OutgoingRow(
            f"card{i}",
            "telegram",
            str(group),
            {"text": f"card{i}", "choices": [["Diproses", f"p:{i}"]], "location": [-6.2, 106.8]},
        )
        for i in range(3)
    ]
    enqueue(engine, rows)
    await run_until_done(dispatcher_for(engine, sender, pacing_for(limits)), engine)
    pins = [d for d in fake.delivered(group) if d.method == "sendLocation"]
    assert len(pins) == 3, "each card's pin arrives once"
    assert fake.throttled == 0, f"the pacer kept the group's limit; refused: {refusals(fake)}"
