"""The dispatcher keeps Telegram's and Twilio's pace: nothing lost, nothing twice, in order."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime

from sqlalchemy import select

from lapor.bot.dispatcher import Dispatcher
from lapor.bot.pacing import Pacer, Rate, telegram_limits, twilio_limits
from lapor.handlers.types import Outbound
from lapor.store import outbox
from lapor.store.db import new_session, transaction
from lapor.store.models import Outbox

GROUP = "-1001234567890"


class ClockedSender:
    """Records when (on the injected clock) each message went out."""

    def __init__(self, channel: str, clock) -> None:  # type: ignore[no-untyped-def]
        self.channel = channel
        self.clock = clock
        self.sent: list[tuple[datetime, str, str]] = []

    async def send(self, message: Outbound) -> str | None:
        self.sent.append((self.clock(), message.address, message.text))
        return str(len(self.sent))


def test_a_message_of_two_calls_takes_two_slots() -> None:
    now = [0.0]
    pacer = Pacer({"telegram": telegram_limits()}, lambda: now[0])
    for _ in range(9):  # nine cards with a pin: eighteen calls of the group's twenty a minute
        assert pacer.reserve("telegram", GROUP, sends=2) == 0.0
    assert pacer.reserve("telegram", GROUP, sends=2) == 0.0  # calls 19 and 20
    wait = pacer.reserve("telegram", GROUP, sends=2)
    assert wait == 60.0, "the 21st and 22nd call wait for the first two to leave the window"
    assert pacer.reserve("telegram", GROUP) == 60.0


def test_a_bucket_allows_its_burst_then_its_rate() -> None:
    now = [0.0]
    pacer = Pacer({"telegram": telegram_limits()}, lambda: now[0])
    times = []
    for _ in range(60):
        wait = pacer.reserve("telegram", GROUP)
        while wait:
            now[0] += wait
            wait = pacer.reserve("telegram", GROUP)
        times.append(now[0])
    assert times[:20] == [0.0] * 20, "a group gets its 20 at once"
    for i in range(len(times)):
        in_window = [t for t in times if times[i] <= t < times[i] + 60]
        assert len(in_window) <= 20, "never more than 20 in any minute"
    assert Rate(20, 60.0) == telegram_limits().group_chat


async def test_dispatcher_keeps_every_limit_and_loses_nothing(engine, clock) -> None:  # type: ignore[no-untyped-def]
    telegram = ClockedSender("telegram", clock)
    whatsapp = ClockedSender("whatsapp", clock)
    pacer = Pacer(
        {"telegram": telegram_limits(), "whatsapp": twilio_limits(5)},
        lambda: clock().timestamp(),
    )
    dispatcher = Dispatcher(
        engine, {"telegram": telegram, "whatsapp": whatsapp}, clock, pacer=pacer, batch_size=500
    )
    rows = [outbox.OutgoingRow(f"g{i}", "telegram", GROUP, {"text": f"g{i}"}) for i in range(45)]
    rows += [
        outbox.OutgoingRow(f"p{c}-{i}", "telegram", str(7_000_000_000 + c), {"text": f"p{c}-{i}"})
        for c in range(80)
        for i in range(3)
    ]
    rows += [
        outbox.OutgoingRow(f"w{i}", "whatsapp", f"+62812{i:07d}", {"text": f"w{i}"})
        for i in range(20)
    ]
    with transaction(engine) as session:
        outbox.enqueue(session, rows, clock())
    start = clock()
    for _ in range(2000):
        await dispatcher.drain()
        with new_session(engine) as session:
            due = outbox.next_due(session, ["telegram", "whatsapp"])
        if due is None:
            break
        assert due > clock.now, "something due now would have been sent by drain()"
        clock.now = due
    sent = telegram.sent + whatsapp.sent
    assert sorted(text for _, _, text in sent) == sorted(r.key for r in rows), "all, once"
    with new_session(engine) as session:
        assert set(session.scalars(select(Outbox.status))) == {"sent"}
    # Order per chat.
    by_chat: dict[str, list[str]] = defaultdict(list)
    for _, address, text in sent:
        by_chat[address].append(text)
    assert by_chat[GROUP] == [f"g{i}" for i in range(45)]
    assert by_chat["7000000000"] == ["p0-0", "p0-1", "p0-2"]

    def most_in(window: float, events: list[datetime]) -> int:
        seconds = sorted((t - start).total_seconds() for t in events)
        return max(sum(1 for u in seconds if s <= u < s + window) for s in seconds)

    assert most_in(60, [t for t, a, _ in telegram.sent if a == GROUP]) <= 20
    assert most_in(1, [t for t, _, _ in telegram.sent]) <= 30
    per_chat = Counter()
    for t, address, _ in telegram.sent:
        if address != GROUP:
            per_chat[(address, int((t - start).total_seconds()))] += 1
    assert max(per_chat.values()) <= 3, "a private chat gets at most its small burst"
    assert most_in(1, [t for t, _, _ in whatsapp.sent]) <= 5
    # And it is not slower than it must be: 45 group messages need two more minutes.
    assert (max(t for t, _, _ in sent) - start).total_seconds() <= 2 * 60 + 5
