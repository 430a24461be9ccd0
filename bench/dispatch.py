"""Benchmark the outbox dispatcher: unthrottled drain rate, and pacing against platform limits.

Two questions, each against a baseline measured in the same run:

1. Drain rate of one `Dispatcher` without a pacer, on SQLite (WAL file in a temp dir) and,
   when `LAPOR_TEST_POSTGRES_URL` is set (e.g. ``postgresql+psycopg://postgres@127.0.0.1:
   5432/test``), on PostgreSQL in a dedicated database (`lapor_bench_dispatch`, created and
   dropped through that URL; nothing else is touched). N messages (20,000; 3,000 with
   --quick) to 2,000 chats (200 with --quick), ten to a chat, shuffled so that every chat's
   messages are spread through the queue (per-chat order matters). The sender records the
   message and returns an id, nothing more. Database work goes through the executor the
   runtime uses (one thread for SQLite, eight for PostgreSQL). Target: >= 2,000 msgs/s.
   Baseline: the plain loop on a fresh outbox of the same kind, one transaction per row:
   select the oldest due pending row, send it, update it to sent, commit (prebuilt Core
   statements, the select walks the `(status, next_attempt_at)` index in order).
   After every run: each key was sent exactly once, every row is `sent`, and each chat got
   its messages in the order they were enqueued.
   Also reported, outside `pass`: the same dispatcher drain with 100,000 (30,000 with
   --quick) sent rows already in the outbox, as in production where the outbox is never
   purged; and, on PostgreSQL, a drain of 3,000 messages right after the enqueue into the new,
   never-analyzed table (the timed PostgreSQL runs ANALYZE the outbox after the enqueue, as
   autovacuum would within a minute).

2. Pacing against a platform that enforces Telegram's limits on the injected clock: at most
   30 messages in any 1 s overall, 20 in any 60 s per group chat (negative address), 3 in
   any 3 s per private chat; one more and it raises `TransientError(retry_after=...)` (a
   429, counted). Load: 3,000 messages to 1,000 private chats (3 each) plus 200 to one
   group (900 to 300 chats plus 200 to the group with --quick), shuffled. The dispatcher
   with `Pacer({"telegram": telegram_limits()}, ...)` is drained, the fake clock moved to
   `outbox.next_due`, and so on until nothing is due. Score: the shortest time the limits
   allow for the load (a lower bound: for each limit, the last message of a scope cannot
   go before (ceil(n / count) - 1) * window) as a share of the simulated time taken (first
   enqueue to last send). Target: >= 95% with zero 429s. Baseline: the same load with no
   pacer; the dispatcher honours every retry_after (max_attempts raised so nothing is given
   up; how many rows would have failed at the default of 5 is reported).
   Also reported: when the group's 20th message went (the ideal sends 20 at once), rows
   claimed per message sent, and the wall time of the dispatcher's work per simulated second
   while the backlog fills the overall window (in real time it must fit in that second).

The last line of output is one JSON object:

    {"bench": "dispatch", "value": <sqlite msgs/s>, "unit": "msgs/s",
     "baseline": <sqlite plain loop msgs/s>, "ratio": ..., "target": 2000, "pass": ...,
     "postgres_msgs_s": ... | null, "postgres_plain_msgs_s": ... | null,
     "pacing_share": ..., "pacing_target": 0.95, "pacing_429": ..., "unpaced_429": ...,
     ..., "quick": ...}

where pass = every check right, SQLite >= 2,000 msgs/s, PostgreSQL (when run) >= 2,000
msgs/s, pacing share >= 0.95 and no 429 while paced.

Run from the repository root: ``.venv/bin/python bench/dispatch.py [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import math
import os
import random
import sys
import tempfile
import time
from collections import Counter, defaultdict, deque
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from sqlalchemy import bindparam, func, select, text, update  # noqa: E402
from sqlalchemy.engine import Engine, make_url  # noqa: E402

from lapor.bot.dispatcher import Dispatcher, TransientError  # noqa: E402
from lapor.bot.pacing import Pacer, telegram_limits  # noqa: E402
from lapor.handlers.types import Outbound  # noqa: E402
from lapor.store import outbox  # noqa: E402
from lapor.store.db import make_engine, new_session, transaction  # noqa: E402
from lapor.store.migrate import upgrade  # noqa: E402
from lapor.store.models import Outbox  # noqa: E402

RATE_TARGET = 2000.0
PACING_TARGET = 0.95
POSTGRES_ENV = "LAPOR_TEST_POSTGRES_URL"
BENCH_DATABASE = "lapor_bench_dispatch"
START = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
GROUP = "-1001234567890"
DEFAULT_MAX_ATTEMPTS = 5

ToThread = Callable[..., Awaitable[Any]]


class FakeClock:
    """The injected clock: the benchmark moves time instead of sleeping."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


# -- load -------------------------------------------------------------------------------------


def chat_address(chat: int) -> str:
    return str(7_000_000_000 + chat)


def drain_load(messages: int, chats: int, rng: random.Random) -> list[outbox.OutgoingRow]:
    """`messages` spread evenly over `chats`, shuffled: every chat's run crosses the queue."""
    owners = [i % chats for i in range(messages)]
    rng.shuffle(owners)
    seq: Counter[int] = Counter()
    rows = []
    for chat in owners:
        n = seq[chat]
        seq[chat] += 1
        key = f"d:{chat}:{n}"
        rows.append(outbox.OutgoingRow(key, "telegram", chat_address(chat), {"text": key}))
    return rows


def pacing_load(
    chats: int, per_chat: int, group: int, rng: random.Random
) -> list[outbox.OutgoingRow]:
    """Private chats with `per_chat` messages each, plus `group` to one group, shuffled."""
    owners = [c for c in range(chats) for _ in range(per_chat)] + [-1] * group
    rng.shuffle(owners)
    seq: Counter[int] = Counter()
    rows = []
    for chat in owners:
        n = seq[chat]
        seq[chat] += 1
        address = GROUP if chat < 0 else chat_address(chat)
        key = f"p:{address}:{n}"
        rows.append(outbox.OutgoingRow(key, "telegram", address, {"text": key}))
    return rows


def enqueue_all(engine: Engine, rows: list[outbox.OutgoingRow], now: datetime) -> None:
    with transaction(engine) as session:
        for start in range(0, len(rows), 5_000):
            outbox.enqueue(session, rows[start : start + 5_000], now)


# -- checks -----------------------------------------------------------------------------------


def check_delivery(
    engine: Engine, rows: list[outbox.OutgoingRow], sent: list[tuple[str, str]], history: int = 0
) -> list[str]:
    """Problems with a finished run: (address, key) as sent, in sending order."""
    problems = []
    counts = Counter(key for _, key in sent)
    twice = sum(1 for n in counts.values() if n > 1)
    expected = {r.key for r in rows}
    missing = len(expected - counts.keys())
    extra = len(counts.keys() - expected)
    if twice or missing or extra:
        problems.append(f"{twice} keys sent more than once, {missing} never, {extra} unknown")
    with new_session(engine) as session:
        statuses = dict(
            session.execute(select(Outbox.status, func.count()).group_by(Outbox.status)).all()
        )
    if statuses != {outbox.SENT: len(rows) + history}:
        problems.append(f"outbox statuses {statuses}, expected {len(rows) + history} sent")
    want: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        want[r.address].append(r.key)
    got: dict[str, list[str]] = defaultdict(list)
    for address, key in sent:
        got[address].append(key)
    disordered = sum(1 for address, keys in want.items() if got.get(address) != keys)
    if disordered:
        problems.append(f"{disordered} chats got their messages out of order")
    return problems


# -- 1. unthrottled drain ---------------------------------------------------------------------


class RecordingSender:
    """The in-process platform: records the message, returns an id."""

    channel = "telegram"

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def send(self, message: Outbound) -> str | None:
        self.sent.append((message.address, message.key))
        return str(len(self.sent))


@dataclass
class Backend:
    """Fresh, migrated databases of one kind, and the executor the runtime would use."""

    name: str
    workers: int
    fresh: Callable[[], str]  # a URL with an empty, migrated schema
    cleanup: Callable[[], None] = lambda: None
    engines: list[Engine] = field(default_factory=list)

    def engine(self) -> Engine:
        engine = make_engine(self.fresh())
        self.engines.append(engine)
        return engine

    def dispose(self) -> None:
        for engine in self.engines:
            engine.dispose()
        self.engines.clear()
        self.cleanup()


@contextmanager
def sqlite_backend() -> Iterator[Backend]:
    with tempfile.TemporaryDirectory(prefix="lapor-bench-dispatch-") as tmp:
        made = [0]

        def fresh() -> str:
            made[0] += 1
            url = f"sqlite:///{Path(tmp) / f'dispatch{made[0]}.db'}"
            upgrade(url)
            return url

        backend = Backend("SQLite", 1, fresh)
        try:
            yield backend
        finally:
            backend.dispose()


@contextmanager
def postgres_backend(admin_url: str) -> Iterator[Backend]:
    """A dedicated database next to the one in `admin_url`, dropped afterwards."""
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    bench_url = (
        make_url(admin.url.render_as_string(hide_password=False))
        .set(database=BENCH_DATABASE)
        .render_as_string(hide_password=False)
    )

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)"))

    drop()
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {BENCH_DATABASE}"))
    upgrade(bench_url)

    def fresh() -> str:
        engine = make_engine(bench_url)
        try:
            with engine.begin() as conn:
                conn.execute(text("TRUNCATE outbox RESTART IDENTITY"))
        finally:
            engine.dispose()
        return bench_url

    backend = Backend("PostgreSQL", 8, fresh)
    try:
        yield backend
    finally:
        backend.dispose()
        drop()
        admin.dispose()


def executor_to_thread(executor: ThreadPoolExecutor) -> ToThread:
    """Like `Runtime.run_db`: database work on the runtime's executor."""

    async def run(function: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(executor, function, *args)

    return run


class CountingDispatcher(Dispatcher):
    """The dispatcher as it is, counting the rows it claims (a row put off is claimed again)."""

    claimed = 0

    def _claim(self) -> list[outbox.Claimed]:
        rows = super()._claim()
        self.claimed += len(rows)
        return rows


async def drain_dispatcher(engine: Engine, workers: int, clock: FakeClock) -> RecordingSender:
    sender = RecordingSender()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="db") as executor:
        dispatcher = CountingDispatcher(
            engine, {"telegram": sender}, clock, to_thread=executor_to_thread(executor)
        )
        while await dispatcher.drain():
            pass
    return sender


def plain_statements(dialect: str) -> tuple[Any, Any]:
    c = Outbox.__table__.c  # type: ignore[attr-defined]
    oldest = (
        select(c.id, c.key, c.channel, c.address, c.payload)
        .where(c.status == outbox.PENDING, c.next_attempt_at <= bindparam("now"))
        .order_by(c.next_attempt_at, c.id)
        .limit(1)
    )
    if dialect == "postgresql":
        oldest = oldest.with_for_update(skip_locked=True)
    sent = (
        update(Outbox.__table__)  # type: ignore[arg-type]
        .where(c.id == bindparam("row_id"))
        .values(
            status=outbox.SENT,
            sent_at=bindparam("sent_at"),
            provider_id=bindparam("provider_id"),
            lease_until=None,
            attempts=c.attempts + 1,
        )
    )
    return oldest, sent


async def drain_plain(engine: Engine, clock: FakeClock) -> RecordingSender:
    """The baseline: one transaction per row (select the oldest, send, mark sent, commit)."""
    sender = RecordingSender()
    oldest, sent = plain_statements(engine.dialect.name)
    while True:
        with transaction(engine) as session:
            row = session.execute(oldest, {"now": clock()}).first()
            if row is None:
                break
            message = Outbound.from_payload(row.channel, row.address, row.payload, key=row.key)
            provider_id = await sender.send(message)
            session.execute(
                sent, {"row_id": row.id, "sent_at": clock(), "provider_id": provider_id}
            )
    return sender


@dataclass
class DrainResult:
    messages: int
    seconds: float
    problems: list[str]

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


def add_history(engine: Engine, history: int, chats: int, now: datetime) -> None:
    """`history` messages sent before (to the same chats): the outbox is never purged."""
    rows = [
        outbox.OutgoingRow(f"h:{i}", "telegram", chat_address(i % chats), {"text": f"h:{i}"})
        for i in range(history)
    ]
    enqueue_all(engine, rows, now - timedelta(days=7))
    with engine.begin() as conn:
        conn.execute(
            update(Outbox.__table__).values(  # type: ignore[arg-type]
                status=outbox.SENT, sent_at=now - timedelta(days=7), attempts=1
            )
        )


def timed_drain(
    backend: Backend,
    rows: list[outbox.OutgoingRow],
    *,
    plain: bool,
    analyze: bool = True,
    history: int = 0,
) -> DrainResult:
    engine = backend.engine()
    clock = FakeClock()
    if history:
        add_history(engine, history, len({r.address for r in rows}), clock())
    enqueue_all(engine, rows, clock())
    if analyze and engine.dialect.name == "postgresql":
        # What autovacuum does within a minute of a bulk insert: the table's statistics
        # match its size (see `cold_stats_drain` for the minute before).
        with engine.begin() as conn:
            conn.execute(text("ANALYZE outbox"))
    gc.collect()
    started = time.perf_counter()
    if plain:
        sender = asyncio.run(drain_plain(engine, clock))
    else:
        sender = asyncio.run(drain_dispatcher(engine, backend.workers, clock))
    seconds = time.perf_counter() - started
    problems = check_delivery(engine, rows, sender.sent, history)
    engine.dispose()
    return DrainResult(len(sender.sent), seconds, problems)


def bench_drain(
    backend: Backend, rows: list[outbox.OutgoingRow]
) -> tuple[DrainResult, DrainResult]:
    dispatcher = timed_drain(backend, rows, plain=False)
    print(
        f"  dispatcher (batch 100, {backend.workers}-thread executor): {dispatcher.rate:8.0f} "
        f"msgs/s ({dispatcher.messages} in {dispatcher.seconds:.2f} s; "
        f"target >= {RATE_TARGET:.0f})",
        flush=True,
    )
    plain = timed_drain(backend, rows, plain=True)
    print(
        f"  plain loop (a transaction per row):      {plain.rate:8.0f} msgs/s "
        f"({plain.messages} in {plain.seconds:.2f} s)",
        flush=True,
    )
    print(f"  ratio dispatcher / plain: {dispatcher.rate / plain.rate:.1f}x")
    for label, result in (("dispatcher", dispatcher), ("plain loop", plain)):
        for problem in result.problems:
            print(f"  WRONG ({label}): {problem}")
    return dispatcher, plain


def history_drain(backend: Backend, rows: list[outbox.OutgoingRow], history: int) -> DrainResult:
    """The same drain with `history` sent rows already in the outbox (ids before the load)."""
    result = timed_drain(backend, rows, plain=False, history=history)
    print(
        f"  dispatcher with {history} sent rows of history in the outbox: {result.rate:8.0f} "
        f"msgs/s ({result.messages} in {result.seconds:.2f} s)",
        flush=True,
    )
    for problem in result.problems:
        print(f"  WRONG (with history): {problem}")
    return result


def cold_stats_drain(backend: Backend, rows: list[outbox.OutgoingRow]) -> DrainResult:
    """PostgreSQL right after a bulk enqueue into a new outbox, before autovacuum's ANALYZE."""
    cold = timed_drain(backend, rows, plain=False, analyze=False)
    print(
        f"  dispatcher, new table never analyzed ({cold.messages} messages to 200 chats drained "
        f"right after the enqueue): {cold.rate:.0f} msgs/s ({cold.seconds:.2f} s)",
        flush=True,
    )
    for problem in cold.problems:
        print(f"  WRONG (cold statistics): {problem}")
    return cold


# -- 2. pacing --------------------------------------------------------------------------------


class LimitedPlatform:
    """Telegram as a strict fake: refuses (429) a send over any limit, on the fake clock.

    Sliding windows, half-open: a send at t leaves the window [t, t + seconds). A refused
    send does not count against the limits; retry_after is whole seconds, rounded up.
    """

    channel = "telegram"
    OVERALL = (30, 1.0)
    GROUP_CHAT = (20, 60.0)
    PRIVATE_CHAT = (3, 3.0)

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.sent: list[tuple[str, str]] = []
        self.times: list[float] = []  # seconds since START of each accepted send
        self.refused = 0
        self._windows: dict[str, deque[float]] = defaultdict(deque)

    def _wait(self, scope: str, limit: tuple[int, float], now: float) -> float:
        count, seconds = limit
        window = self._windows[scope]
        while window and window[0] <= now - seconds:
            window.popleft()
        return 0.0 if len(window) < count else window[0] + seconds - now

    async def send(self, message: Outbound) -> str | None:
        now = (self.clock() - START).total_seconds()
        chat_limit = self.GROUP_CHAT if message.address.startswith("-") else self.PRIVATE_CHAT
        wait = max(self._wait("", self.OVERALL, now), self._wait(message.address, chat_limit, now))
        if wait > 0:
            self.refused += 1
            retry_after = max(1, math.ceil(wait - 1e-9))
            raise TransientError("429 Too Many Requests", retry_after=retry_after)
        self._windows[""].append(now)
        self._windows[message.address].append(now)
        self.sent.append((message.address, message.key))
        self.times.append(now)
        return str(len(self.sent))


def ideal_seconds(rows: list[outbox.OutgoingRow]) -> tuple[float, str]:
    """The least simulated time the limits allow: the last send of each scope's load."""

    def last(n: int, limit: tuple[int, float]) -> float:
        count, seconds = limit
        return (math.ceil(n / count) - 1) * seconds

    per_chat = Counter(r.address for r in rows)
    bounds = {"overall": last(len(rows), LimitedPlatform.OVERALL)}
    groups = [n for a, n in per_chat.items() if a.startswith("-")]
    private = [n for a, n in per_chat.items() if not a.startswith("-")]
    if groups:
        bounds["group"] = last(max(groups), LimitedPlatform.GROUP_CHAT)
    if private:
        bounds["private"] = last(max(private), LimitedPlatform.PRIVATE_CHAT)
    binding = max(bounds, key=lambda k: bounds[k])
    detail = ", ".join(f"{k} {v:.0f} s" for k, v in bounds.items())
    return bounds[binding], f"{detail}; {binding} binds"


@dataclass
class PacingResult:
    simulated: float
    refused: int
    steps: int
    claimed: int
    wall: float
    over_default_attempts: int
    group_20th: float | None  # when the group's 20th message went (0 at best)
    busy_ms: float  # wall time of a clock step (1 s simulated) while the backlog lasts
    problems: list[str]


async def simulate(
    engine: Engine, clock: FakeClock, platform: LimitedPlatform, pacer: Pacer | None
) -> tuple[list[tuple[float, int]], int]:
    """Drain, move the clock to the next due time, repeat. Returns (wall s, sent) per step."""
    dispatcher = CountingDispatcher(
        engine,
        {"telegram": platform},
        clock,
        pacer=pacer,
        max_attempts=1_000_000,  # honour every retry_after; nothing is given up
    )
    steps = []
    while True:
        started, before = time.perf_counter(), len(platform.sent)
        while await dispatcher.drain():
            pass
        steps.append((time.perf_counter() - started, len(platform.sent) - before))
        with new_session(engine) as session:
            due = outbox.next_due(session, ["telegram"])
        if due is None:
            return steps, dispatcher.claimed
        if due <= clock.now:
            raise SystemExit(f"something due at {due} was not sent by drain() at {clock.now}")
        clock.now = due


def bench_pacing(backend: Backend, rows: list[outbox.OutgoingRow], *, paced: bool) -> PacingResult:
    engine = backend.engine()
    clock = FakeClock()
    enqueue_all(engine, rows, clock())
    platform = LimitedPlatform(clock)
    pacer = Pacer({"telegram": telegram_limits()}, lambda: clock().timestamp()) if paced else None
    started = time.perf_counter()
    steps, claimed = asyncio.run(simulate(engine, clock, platform, pacer))
    wall = time.perf_counter() - started
    problems = check_delivery(engine, rows, platform.sent)
    with new_session(engine) as session:
        over = session.execute(
            select(func.count()).where(Outbox.attempts > DEFAULT_MAX_ATTEMPTS)
        ).scalar_one()
    engine.dispose()
    simulated = max(platform.times) if platform.times else 0.0
    group = [t for (a, _), t in zip(platform.sent, platform.times, strict=True) if a == GROUP]
    group_20th = group[19] if len(group) >= 20 else None
    # Steps that filled the overall window: the dispatcher's work for one simulated second
    # of backlog (in real time it has that second to do it in).
    full = [w for w, n in steps if n >= LimitedPlatform.OVERALL[0]]
    busy_ms = 1000 * sum(full) / len(full) if full else 0.0
    return PacingResult(
        simulated,
        platform.refused,
        len(steps),
        claimed,
        wall,
        over,
        group_20th,
        busy_ms,
        problems,
    )


# -- main -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="3,000 messages to 200 chats; pacing 900 private + 200 group messages",
    )
    args = parser.parse_args()
    quick = args.quick
    logging.getLogger("alembic").setLevel(logging.WARNING)
    rng = random.Random(20261128)
    n_messages, n_chats = (3_000, 200) if quick else (20_000, 2_000)
    n_history = 30_000 if quick else 100_000
    p_chats, p_group = (300, 200) if quick else (1_000, 200)
    p_per_chat = 3

    rows = drain_load(n_messages, n_chats, rng)
    print(f"Python {sys.version.split()[0]}")
    print(
        f"1. unthrottled drain: {n_messages} messages to {n_chats} chats "
        f"({n_messages // n_chats} each, shuffled), in-process sender"
    )
    problems: list[str] = []
    with sqlite_backend() as sqlite:
        probe = make_engine(sqlite.fresh())
        print(f"SQLite {probe.dialect.dbapi.sqlite_version} WAL, synchronous=NORMAL")
        probe.dispose()
        sq_dispatcher, sq_plain = bench_drain(sqlite, rows)
        sq_history = history_drain(sqlite, rows, n_history)
        problems += sq_dispatcher.problems + sq_plain.problems + sq_history.problems

        pg_dispatcher = pg_plain = pg_cold = pg_history = None
        pg_url = os.environ.get(POSTGRES_ENV)
        if pg_url:
            with postgres_backend(pg_url) as pg:
                with pg.engine().connect() as conn:
                    version = conn.execute(text("SHOW server_version")).scalar_one()
                print(f"PostgreSQL {version} (database {BENCH_DATABASE}, dropped afterwards)")
                # First, while the new database has never been analyzed.
                pg_cold = cold_stats_drain(pg, drain_load(3_000, 200, random.Random(1)))
                pg_dispatcher, pg_plain = bench_drain(pg, rows)
                pg_history = history_drain(pg, rows, n_history)
                problems += pg_dispatcher.problems + pg_plain.problems + pg_cold.problems
                problems += pg_history.problems
        else:
            print(f"PostgreSQL: skipped ({POSTGRES_ENV} is not set)")

        p_rows = pacing_load(p_chats, p_per_chat, p_group, rng)
        ideal, bounds = ideal_seconds(p_rows)
        print(
            f"2. pacing on SQLite: {p_chats * p_per_chat} messages to {p_chats} private chats "
            f"({p_per_chat} each) + {p_group} to one group, shuffled; platform limits 30/1 s "
            f"overall, 20/60 s per group, 3/3 s per private chat"
        )
        print(f"  least simulated time the limits allow: {ideal:.0f} s ({bounds})")
        results = {}
        for paced in (True, False):
            result = bench_pacing(sqlite, p_rows, paced=paced)
            results[paced] = result
            share = ideal / result.simulated if result.simulated else 0.0
            label = "paced (Pacer, telegram_limits())" if paced else "unpaced (retry_after only)"
            print(
                f"  {label:33s} {result.simulated:6.0f} s simulated "
                f"({len(p_rows) / result.simulated:5.1f} msgs/s), share {share:6.1%}, "
                f"{result.refused} 429s, {result.over_default_attempts} rows over "
                f"{DEFAULT_MAX_ATTEMPTS} attempts",
                flush=True,
            )
            group_20th = "-" if result.group_20th is None else f"{result.group_20th:.0f} s"
            print(
                f"    group's 20th message at {group_20th} (0 s at best); {result.steps} clock "
                f"steps, {result.claimed} rows claimed for {len(p_rows)} messages "
                f"({result.claimed / len(p_rows):.0f} per message), {result.wall:.1f} s wall; "
                f"{result.busy_ms:.0f} ms of work per simulated second of backlog",
                flush=True,
            )
            for problem in result.problems:
                print(f"  WRONG ({label}): {problem}")
            problems += result.problems

    paced, unpaced = results[True], results[False]
    pacing_share = ideal / paced.simulated if paced.simulated else 0.0
    if problems:
        print("WRONG ANSWERS: see the lines above")
    passed = (
        not problems
        and sq_dispatcher.rate >= RATE_TARGET
        and (pg_dispatcher is None or pg_dispatcher.rate >= RATE_TARGET)
        and pacing_share >= PACING_TARGET
        and paced.refused == 0
    )
    result = {
        "bench": "dispatch",
        "value": round(sq_dispatcher.rate, 1),
        "unit": "msgs/s",
        "baseline": round(sq_plain.rate, 1),
        "ratio": round(sq_dispatcher.rate / sq_plain.rate, 2),
        "target": RATE_TARGET,
        "pass": passed,
        "postgres_msgs_s": None if pg_dispatcher is None else round(pg_dispatcher.rate, 1),
        "postgres_plain_msgs_s": None if pg_plain is None else round(pg_plain.rate, 1),
        "postgres_ratio": None
        if pg_dispatcher is None or pg_plain is None
        else round(pg_dispatcher.rate / pg_plain.rate, 2),
        "postgres_cold_stats_msgs_s": None if pg_cold is None else round(pg_cold.rate, 1),
        "history_rows": n_history,
        "sqlite_with_history_msgs_s": round(sq_history.rate, 1),
        "postgres_with_history_msgs_s": None if pg_history is None else round(pg_history.rate, 1),
        "pacing_share": round(pacing_share, 4),
        "pacing_target": PACING_TARGET,
        "pacing_429": paced.refused,
        "unpaced_429": unpaced.refused,
        "pacing_simulated_s": round(paced.simulated, 1),
        "unpaced_simulated_s": round(unpaced.simulated, 1),
        "pacing_ideal_s": ideal,
        "unpaced_over_default_attempts": unpaced.over_default_attempts,
        "pacing_group_20th_s": paced.group_20th,
        "pacing_claims_per_message": round(paced.claimed / len(p_rows), 1),
        "pacing_busy_ms_per_s": round(paced.busy_ms, 1),
        "unpaced_claims_per_message": round(unpaced.claimed / len(p_rows), 1),
        "messages": n_messages,
        "correct": not problems,
        "quick": quick,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
