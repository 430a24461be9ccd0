"""The dispatcher with a recording sender: order per chat, retries, give-up, crash recovery."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from lapor.bot.dispatcher import Dispatcher, PermanentError, TransientError
from lapor.handlers.types import Outbound
from lapor.store import outbox
from lapor.store.db import new_session, transaction
from lapor.store.models import Outbox


class RecordingSender:
    channel = "console"

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.failures: dict[str, list[Exception]] = {}

    async def send(self, message: Outbound) -> str | None:
        queue = self.failures.get(message.text)
        if queue:
            raise queue.pop(0)
        self.sent.append((message.address, message.text))
        return f"id-{len(self.sent)}"


def _queue(engine, clock, *messages: tuple[str, str]) -> None:  # type: ignore[no-untyped-def]
    with transaction(engine) as session:
        outbox.enqueue(
            session,
            [
                outbox.OutgoingRow(f"k-{text}", "console", address, {"text": text})
                for address, text in messages
            ],
            clock(),
        )


async def test_a_failed_message_holds_back_later_ones_to_the_same_chat(engine, clock) -> None:  # type: ignore[no-untyped-def]
    sender = RecordingSender()
    sender.failures["a1"] = [TransientError("timeout")]
    dispatcher = Dispatcher(engine, {"console": sender}, clock, base_delay=1)
    _queue(engine, clock, ("a", "a1"), ("b", "b1"), ("a", "a2"), ("b", "b2"))
    await dispatcher.drain()
    assert sender.sent == [("b", "b1"), ("b", "b2")], "chat b is not held up by chat a"
    clock.advance(seconds=2)
    await dispatcher.drain()
    assert sender.sent[2:] == [("a", "a1"), ("a", "a2")], "chat a keeps its order"
    with new_session(engine) as session:
        rows = {r.key: r for r in session.scalars(select(Outbox))}
        assert rows["k-a1"].attempts == 2 and rows["k-a2"].attempts == 1
        assert {r.status for r in rows.values()} == {"sent"}
        assert rows["k-b2"].provider_id == "id-2"


async def test_backoff_grows_and_gives_up_after_max_attempts(engine, clock) -> None:  # type: ignore[no-untyped-def]
    sender = RecordingSender()
    sender.failures["x"] = [TransientError("502")] * 10
    dispatcher = Dispatcher(engine, {"console": sender}, clock, max_attempts=3, base_delay=2)
    _queue(engine, clock, ("a", "x"))
    delays = []
    for _ in range(3):
        await dispatcher.drain()
        with new_session(engine) as session:
            row = session.scalars(select(Outbox)).one()
        delays.append((row.next_attempt_at - clock.now).total_seconds())
        clock.now = row.next_attempt_at
    assert delays[:2] == [2, 4]
    assert row.status == "failed" and row.last_error == "502" and row.attempts == 3
    assert sender.sent == []


async def test_permanent_error_is_not_retried(engine, clock) -> None:  # type: ignore[no-untyped-def]
    sender = RecordingSender()
    sender.failures["x"] = [PermanentError("message is too long")]
    dispatcher = Dispatcher(engine, {"console": sender}, clock)
    _queue(engine, clock, ("a", "x"))
    await dispatcher.drain()
    with new_session(engine) as session:
        row = session.scalars(select(Outbox)).one()
        assert (row.status, row.attempts) == ("failed", 1)


async def test_a_dispatcher_that_died_mid_send_is_replaced_after_its_lease(engine, clock) -> None:  # type: ignore[no-untyped-def]
    _queue(engine, clock, ("a", "m"))
    with transaction(engine) as session:  # claimed, then the process died: never recorded
        assert len(outbox.claim_due(session, clock(), lease=timedelta(seconds=60))) == 1
    sender = RecordingSender()
    dispatcher = Dispatcher(engine, {"console": sender}, clock)
    await dispatcher.drain()
    assert sender.sent == []
    clock.advance(seconds=61)
    await dispatcher.drain()
    assert sender.sent == [("a", "m")]


async def test_only_channels_with_a_sender_are_claimed(engine, clock) -> None:  # type: ignore[no-untyped-def]
    with transaction(engine) as session:
        outbox.enqueue(
            session, [outbox.OutgoingRow("w", "whatsapp", "+62", {"text": "x"})], clock()
        )
    dispatcher = Dispatcher(engine, {"console": RecordingSender()}, clock)
    assert await dispatcher.drain() == 0
    with new_session(engine) as session:
        assert session.scalars(select(Outbox.status)).one() == "pending"


class SlowSender:
    """A platform that takes a while to answer; records what is in flight at once."""

    channel = "console"

    def __init__(self) -> None:
        self.in_flight: dict[str, int] = {}
        self.most_at_once = 0
        self.most_per_chat = 0
        self.sent: list[tuple[str, str]] = []

    async def send(self, message: Outbound) -> str | None:
        self.in_flight[message.address] = self.in_flight.get(message.address, 0) + 1
        self.most_at_once = max(self.most_at_once, sum(self.in_flight.values()))
        self.most_per_chat = max(self.most_per_chat, self.in_flight[message.address])
        await asyncio.sleep(0.01)  # the round trip
        self.in_flight[message.address] -= 1
        self.sent.append((message.address, message.text))
        return None


async def test_different_chats_are_sent_at_once_each_in_its_order(engine, clock) -> None:  # type: ignore[no-untyped-def]
    sender = SlowSender()
    dispatcher = Dispatcher(engine, {"console": sender}, clock, concurrency=4)
    messages = [(f"chat{c}", f"chat{c}-{n}") for n in range(3) for c in range(10)]
    _queue(engine, clock, *messages)
    await dispatcher.drain()
    assert sorted(sender.sent) == sorted(messages)
    assert sender.most_at_once == 4, "up to `concurrency` sends in flight, to different chats"
    assert sender.most_per_chat == 1, "never two to one chat at once"
    for c in range(10):
        mine = [text for address, text in sender.sent if address == f"chat{c}"]
        assert mine == [f"chat{c}-{n}" for n in range(3)]
