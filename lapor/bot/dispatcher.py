"""The dispatcher: the only sender. It drains the outbox through the channels' senders.

Claim (commit) -> send without holding locks -> record the outcomes (commit). A crash
between send and record re-sends after the lease expires: at least once; the outbox key
keeps a message from being queued twice. Pacing, per-platform limits and many workers
are the delivery issue's; this keeps order per chat and retries transient failures.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.engine import Engine
from sqlmodel import Session

from lapor.bot.pacing import Pacer
from lapor.handlers.types import Clock, Outbound
from lapor.store import outbox, reports
from lapor.store.chats import migrate_chat
from lapor.store.db import transaction

log = logging.getLogger(__name__)
MIN_PAUSE = 0.05


_NUMBER = re.compile(r"\+?\d[\d ()-]{7,}\d")


def _scrub(detail: str | None) -> str:
    """Platform errors may quote the recipient's number: logs never carry one."""
    return _NUMBER.sub("<number>", detail or "")


class SendError(Exception):
    """A send did not go through; the subclass says what to do about it."""


class TransientError(SendError):
    """Try again later (network trouble, 5xx, rate limit)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UnreachableError(SendError):
    """The recipient cannot be reached (blocked the bot, chat deleted, opted out)."""


class PermanentError(SendError):
    """This message will never go through as it is (bad request); do not retry."""


class HeldError(SendError):
    """Not sendable now (WhatsApp's 24-hour window, no template): hold until the user writes."""


class MigratedError(SendError):
    """The chat moved (Telegram group -> supergroup): resend to `new_address`."""

    def __init__(self, message: str, new_address: str) -> None:
        super().__init__(message)
        self.new_address = new_address


class Sender(Protocol):
    """Sends one outbox message. A sender whose message can take several platform calls
    may also define `calls(message) -> int`, so the pacer counts each of them."""

    channel: str

    async def send(self, message: Outbound) -> str | None:
        """Deliver one message; returns the platform's message id, raises `SendError`."""
        ...


@dataclass
class _Outcome:
    row_id: int
    channel: str
    address: str
    kind: str  # sent | retry | failed | unreachable | migrated | released
    detail: str | None = None
    delay: float = 0.0
    # The report whose card this was (sent, not edited): its message id is remembered.
    card: int | None = None


class _Recorder:
    """Records sends while the batch goes on: one commit at a time, each taking every send
    that completed while the previous one ran (a group commit)."""

    def __init__(self, record: Callable[[list[_Outcome]], Awaitable[object]]) -> None:
        self._record = record
        self._queue: list[_Outcome] = []
        self._task: asyncio.Future[None] | None = None

    def add(self, outcome: _Outcome) -> None:
        self._queue.append(outcome)
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while self._queue:
            sent, self._queue = self._queue, []
            await self._record(sent)
        # Only on success: after a failed commit the rest waits for the lease (re-sent).
        self._task = None

    async def close(self) -> None:
        if self._task is not None:
            await self._task


def _remember_cards(session: Session, sent: list[_Outcome]) -> None:
    """A report's card is answered in its thread later (a citizen's addition): keep its id."""
    for outcome in sent:
        if outcome.card is not None:
            reports.remember_card(
                session, outcome.card, outcome.channel, outcome.address, outcome.detail
            )


class Dispatcher:
    def __init__(
        self,
        engine: Engine,
        senders: dict[str, Sender],
        clock: Clock,
        *,
        max_attempts: int = 5,
        batch_size: int = 100,
        base_delay: float = 2.0,
        to_thread: Callable[..., Awaitable[object]] | None = None,
        pacer: Pacer | None = None,
        lease: timedelta = timedelta(seconds=60),
        concurrency: int = 16,
    ) -> None:
        self.engine = engine
        self.senders = senders
        self.clock = clock
        self.max_attempts = max_attempts
        self.batch_size = batch_size
        self.base_delay = base_delay
        self._to_thread = to_thread or asyncio.to_thread
        self.pacer = pacer
        self.lease = lease
        # Sends in flight at once, to different chats (each chat's stay in order).
        self.concurrency = concurrency
        self.wake = asyncio.Event()
        # When the earliest message this dispatcher put off becomes due.
        self._soonest: datetime | None = None

    def _claim(self) -> list[outbox.Claimed]:
        with transaction(self.engine) as session:
            return outbox.claim_due(
                session,
                self.clock(),
                limit=self.batch_size,
                lease=self.lease,
                channels=list(self.senders),
            )

    async def run_once(self) -> int:
        """Claim one batch, send it in order, record every outcome. Returns the batch size.

        A send is recorded as soon as it is known, in commits that overlap the next sends,
        not at the end of the batch: a crash re-sends only what was in flight, and a sent
        row is no longer `sending` when a slow batch outlives its lease.
        """
        claimed_at = self.clock()
        rows = await self._to_thread(self._claim)
        if not rows:
            return 0
        # Past half the lease another dispatcher may soon take these rows over (it cannot
        # tell a slow batch from a dead one): what is not sent by then goes back, unsent.
        give_back_at = claimed_at + self.lease / 2
        recorder = _Recorder(lambda sent: self._to_thread(self._record_sent, sent))
        try:
            outcomes = await self._send_batch(rows, recorder, give_back_at)
        finally:
            await recorder.close()
        if outcomes:
            await self._to_thread(self._record, outcomes, {r.id: r.attempts for r in rows})
        return len(rows)

    async def _send_batch(
        self, rows: list[outbox.Claimed], recorder: _Recorder, give_back_at: datetime
    ) -> list[_Outcome]:
        """Send each chat's rows in order, different chats at the same time.

        One at a time, a platform round trip of 100 ms (Jakarta to Telegram's servers)
        would hold a dispatcher to ten messages a second, a third of what Telegram allows.
        Sent rows go to `recorder`; every other outcome is returned. After anything but a
        send, the rest of that chat's rows go back unsent: order within a chat is kept.
        """
        outcomes: list[_Outcome] = []
        full: dict[str, float] = {}  # channels whose overall window is full, and for how long
        chats: dict[tuple[str, str], list[outbox.Claimed]] = {}
        for row in rows:
            chats.setdefault((row.channel, row.address), []).append(row)
        gate = asyncio.Semaphore(self.concurrency)

        async def one_chat(chat_rows: list[outbox.Claimed]) -> None:
            for index, row in enumerate(chat_rows):
                outcome = await self._next(row, full, give_back_at, gate)
                if outcome.kind == "sent":
                    recorder.add(outcome)
                    continue
                outcomes.append(outcome)
                outcomes.extend(
                    _Outcome(r.id, r.channel, r.address, "released") for r in chat_rows[index + 1 :]
                )
                return

        await asyncio.gather(*(one_chat(chat_rows) for chat_rows in chats.values()))
        return outcomes

    async def _next(
        self,
        row: outbox.Claimed,
        full: dict[str, float],
        give_back_at: datetime,
        gate: asyncio.Semaphore,
    ) -> _Outcome:
        """One row: sent, or put off by the pace, or given back when the lease is half gone.

        Decided when its turn at the gate comes, not before: a row that waited for a free
        slot may find the lease half gone by then.
        """
        async with gate:
            return await self._next_in_turn(row, full, give_back_at)

    async def _next_in_turn(
        self, row: outbox.Claimed, full: dict[str, float], give_back_at: datetime
    ) -> _Outcome:
        if self.clock() >= give_back_at:
            return _Outcome(row.id, row.channel, row.address, "released")
        if row.channel in full:
            # The platform's overall pace is spent: the rest of the batch waits too.
            return _Outcome(row.id, row.channel, row.address, "later", None, full[row.channel])
        message = Outbound.from_payload(row.channel, row.address, row.payload, key=row.key)
        sender = self.senders[row.channel]
        calls = getattr(sender, "calls", None)
        sends = calls(message) if calls is not None else 1
        wait = self.pacer.reserve(row.channel, row.address, sends) if self.pacer else 0.0
        if wait > 0:
            # Over the platform's pace: try again when a slot is free, untried.
            overall = self.pacer.overall_wait(row.channel) if self.pacer else 0.0
            if overall > 0:
                full[row.channel] = overall
            return _Outcome(row.id, row.channel, row.address, "later", None, wait)
        return await self._send(row, message)

    async def _send(self, row: outbox.Claimed, message: Outbound) -> _Outcome:
        sender = self.senders[row.channel]
        try:
            provider_id = await sender.send(message)
        except TransientError as exc:
            if exc.retry_after:
                # The platform's flood control (Telegram's 429): "later", not a failure. Put
                # off untried like the pacer does; counted as an attempt, a backlog longer than
                # max_attempts windows would be given up (pacing off, or two processes).
                return _Outcome(
                    row.id, row.channel, row.address, "later", str(exc), exc.retry_after
                )
            delay = self.base_delay * 2 ** max(row.attempts - 1, 0)
            return _Outcome(row.id, row.channel, row.address, "retry", str(exc), delay)
        except UnreachableError as exc:
            return _Outcome(row.id, row.channel, row.address, "unreachable", str(exc))
        except MigratedError as exc:
            return _Outcome(row.id, row.channel, row.address, "migrated", exc.new_address)
        except HeldError as exc:
            return _Outcome(row.id, row.channel, row.address, "held", str(exc))
        except PermanentError as exc:
            return _Outcome(row.id, row.channel, row.address, "failed", str(exc))
        except Exception as exc:  # a bug in a sender must not stop the queue
            log.exception(
                "sender %s crashed on outbox row %s",
                row.channel,
                row.id,
                extra={"outbox_id": row.id, "channel": row.channel},
            )
            return _Outcome(row.id, row.channel, row.address, "retry", repr(exc), self.base_delay)
        card = message.meta.get("card") if not message.edit else None
        return _Outcome(
            row.id,
            row.channel,
            row.address,
            "sent",
            provider_id,
            card=card if isinstance(card, int) else None,
        )

    def _record_sent(self, sent: list[_Outcome]) -> None:
        with transaction(self.engine) as session:
            outbox.mark_sent_many(session, [(o.row_id, o.detail) for o in sent], self.clock())
            _remember_cards(session, sent)

    def _record(self, outcomes: list[_Outcome], attempts: dict[int, int]) -> None:
        now = self.clock()
        with transaction(self.engine) as session:
            outbox.mark_sent_many(
                session, [(o.row_id, o.detail) for o in outcomes if o.kind == "sent"], now
            )
            _remember_cards(session, [o for o in outcomes if o.kind == "sent"])
            outbox.release(session, [o.row_id for o in outcomes if o.kind == "released"], now)
            # Put off by the pace: one statement per due time, not one per message.
            # A platform's "too many requests" is kept as the row's last error: throttling
            # shows in the outbox even though it costs no attempt.
            later: dict[tuple[float, str | None], list[int]] = {}
            for o in outcomes:
                if o.kind == "later":
                    later.setdefault((round(o.delay, 3), o.detail), []).append(o.row_id)
            for (delay, error), ids in later.items():
                due = now + timedelta(seconds=delay)
                outbox.release(session, ids, due, error=error)
                self._note_due(due)
            for o in outcomes:
                if o.kind in ("sent", "released", "later"):
                    continue
                if o.kind == "retry" and attempts[o.row_id] < self.max_attempts:
                    later = now + timedelta(seconds=o.delay)
                    outbox.mark_retry(session, o.row_id, o.detail or "", later)
                    self._note_due(later)
                elif o.kind in ("retry", "failed"):
                    log.warning(
                        "outbox row %s failed: %s",
                        o.row_id,
                        _scrub(o.detail),
                        extra={"outbox_id": o.row_id, "channel": o.channel},
                    )
                    outbox.mark_failed(session, o.row_id, o.detail or "")
                elif o.kind == "held":
                    outbox.hold(session, o.row_id, o.detail or "held")
                elif o.kind == "unreachable":
                    log.info(
                        "outbox row %s: %s recipient unreachable: %s",
                        o.row_id,
                        o.channel,
                        _scrub(o.detail),
                        extra={"outbox_id": o.row_id, "channel": o.channel},
                    )
                    outbox.mark_failed(session, o.row_id, f"unreachable: {o.detail}")
                    outbox.mark_unreachable(session, o.channel, o.address, o.detail or "")
                elif o.kind == "migrated":
                    new_address = o.detail or o.address
                    migrate_chat(session, o.channel, o.address, new_address)
                    outbox.mark_retry(session, o.row_id, f"chat migrated to {new_address}", now)

    def _note_due(self, when: datetime) -> None:
        if self._soonest is None or when < self._soonest:
            self._soonest = when

    async def drain(self, max_rounds: int = 1000) -> int:
        """Send everything that is due now (tests, the console). Returns messages handled."""
        total = 0
        for _ in range(max_rounds):
            handled = await self.run_once()
            if not handled:
                break
            total += handled
        return total

    async def run(self, stop: asyncio.Event, idle_interval: float = 1.0) -> None:
        """Send until `stop` is set; wakes early when `wake` is set by a handler."""
        while not stop.is_set():
            try:
                handled = await self.run_once()
            except Exception:
                log.exception("dispatcher round failed; retrying")
                handled = 0
            if handled:
                continue
            self.wake.clear()
            pause = idle_interval
            if self._soonest is not None:
                # A message we put off (pace, retry) is due then; never a busy loop.
                due = (self._soonest - self.clock()).total_seconds()
                pause = min(idle_interval, max(due, MIN_PAUSE))
                self._soonest = None
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.wake.wait())]
            _done, pending = await asyncio.wait(
                waiters, timeout=pause, return_when=asyncio.FIRST_COMPLETED
            )
            for task in pending:
                task.cancel()
