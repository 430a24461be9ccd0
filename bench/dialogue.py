"""Dialogue benchmark: synthetic citizens through the whole report flow over Telegram.

Each user sends the 7 updates of a report (`/start`, `menu:report`, `cat:sampah`, a photo,
a location, a note or `note:skip`, `confirm:yes`); users are interleaved round-robin by step.
The updates go through a real PTB `Application` with lapor's channel attached
(`attach(runtime, app)`), a SQLite WAL file database and a media directory in a temp dir.
The Bot API is faked *in process* by a `BaseRequest` subclass (no HTTP server): it answers
getMe, sendMessage, sendPhoto, sendLocation, answerCallbackQuery and getFile with valid JSON,
and file downloads with a small JPEG made once with Pillow.

Replies are really sent: the outbox dispatcher runs as a concurrent task while updates are
processed (`--drain concurrent`, default) or drains after every update (`--drain each`); the
clock stops after a final drain, so the measured time includes sending every reply.

Baseline, measured in the same run: a bare PTB `Application` (fresh instance of the same fake
transport) whose single `TypeHandler(Update, ...)` answers every update with
`await update.effective_chat.send_message("ok")`, fed the same update dicts.

`Update` objects are parsed from the dicts (`Update.de_json`) before the clock starts, for both
runs: parsing is not measured for either. Per-update latency is the time of one
`await app.process_update(update)`. The bare run takes milliseconds, so it feeds the same
updates again until it has run for half a second (rate = all updates / all that time).
Runs alternate bare/lapor, `--repeat` times each (fresh database every lapor run), after a
small warm-up of both; the medians are reported.

Both applications are built with lapor's `concurrent_updates` setting. By default updates are
fed one `await process_update` after the other; `--feed concurrent` feeds them as PTB's polling
loop does (every update a task through the update processor, at most n at a time).

    .venv/bin/python bench/dialogue.py --quick      # 50 users
    .venv/bin/python bench/dialogue.py              # 300 users
    .venv/bin/python bench/dialogue.py --users 1000 --repeat 5
    .venv/bin/python bench/dialogue.py --quick --feed concurrent

The last line printed is one JSON object (see DESIGN.md, "Benchmarks").
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import contextlib  # noqa: E402
import io  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import AsyncIterator, Awaitable, Callable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

from aiohttp import web  # noqa: E402
from PIL import Image  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from telegram import Update  # noqa: E402
from telegram.ext import Application, ApplicationBuilder, ContextTypes, TypeHandler  # noqa: E402
from telegram.request import BaseRequest, RequestData  # noqa: E402

from lapor.bot.channels import telegram as lapor_telegram  # noqa: E402
from lapor.bot.channels.telegram import attach  # noqa: E402
from lapor.bot.runtime import Runtime  # noqa: E402
from lapor.bot.settings import load_settings  # noqa: E402
from lapor.store.db import new_session  # noqa: E402
from lapor.store.migrate import upgrade  # noqa: E402
from lapor.store.models import Outbox, Report  # noqa: E402
from tests.fakes.bot_api import UpdateFactory  # noqa: E402

TOKEN = "123456:BENCH-token-for-lapor-dialogue"
BOT_USER = {"id": 123456, "is_bot": True, "first_name": "Lapor Bench Bot", "username": "lapor_bot"}
FIRST_USER_ID = 7_000_000_000  # above 2**32 on purpose, like real new Telegram ids
STEPS = 7
TARGET = 1 / 3
BARE_MIN_SECONDS = 0.5  # the bare run repeats its updates until it has run this long
TICKET = re.compile(r"[A-Z0-9]{2,6}-\d{4}-\d{5}")
SEND_METHODS = ("sendMessage", "sendPhoto")  # one per outbox row (sendLocation is extra)

log = logging.getLogger("bench.dialogue")


# -- the fake transport -----------------------------------------------------------------------


def make_jpeg(size: tuple[int, int] = (320, 240)) -> bytes:
    """A small, real JPEG with some structure (a gradient), made once."""
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


@dataclass
class Wire:
    """What the fake Bot API saw; shared by an application's two request objects."""

    jpeg: bytes
    calls: Counter[str] = field(default_factory=Counter)
    last_text: dict[int, str] = field(default_factory=dict)
    message_ids: itertools.count = field(default_factory=lambda: itertools.count(1))


def _ok(result: Any) -> tuple[int, bytes]:
    return 200, json.dumps({"ok": True, "result": result}, separators=(",", ":")).encode()


_TRUE = _ok(True)
_GET_ME = _ok(
    {
        **BOT_USER,
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }
)
_TRUE_METHODS = frozenset({"answerCallbackQuery", "setMyCommands", "deleteWebhook", "close"})


class FakeTransport(BaseRequest):
    """PTB's HTTP layer replaced by in-process answers: `do_request` -> (status, JSON bytes)."""

    def __init__(self, wire: Wire) -> None:
        self.wire = wire

    @property
    def read_timeout(self) -> float | None:
        return None

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        wire = self.wire
        if method == "GET":  # BaseRequest.retrieve: a file download
            wire.calls["download"] += 1
            return 200, wire.jpeg
        api = url.rsplit("/", 1)[-1]
        wire.calls[api] += 1
        params = request_data.parameters if request_data is not None else {}
        if api in ("sendMessage", "sendPhoto", "sendLocation"):
            chat_id = params["chat_id"]
            message: dict[str, Any] = {
                "message_id": next(wire.message_ids),
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private", "first_name": "Warga"},
                "from": BOT_USER,
            }
            if api == "sendMessage":
                message["text"] = wire.last_text[chat_id] = str(params.get("text", ""))
            elif api == "sendPhoto":
                message["photo"] = [
                    {"file_id": "Sent1", "file_unique_id": "USent1", "width": 320, "height": 240}
                ]
                if params.get("caption"):
                    message["caption"] = wire.last_text[chat_id] = str(params["caption"])
            else:
                message["location"] = {
                    "latitude": params["latitude"],
                    "longitude": params["longitude"],
                }
            return _ok(message)
        if api == "getMe":
            return _GET_ME
        if api == "getFile":
            file_id = str(params["file_id"])
            return _ok(
                {
                    "file_id": file_id,
                    "file_unique_id": f"u-{file_id}",
                    "file_size": len(wire.jpeg),
                    "file_path": f"photos/{file_id}.jpg",
                }
            )
        if api in _TRUE_METHODS:
            return _TRUE
        body = {"ok": False, "error_code": 404, "description": f"Not Found: {api}"}
        return 404, json.dumps(body).encode()


# What lapor's `build_application` asks of PTB (1 = PTB's default, one update at a time).
CONCURRENT_UPDATES: int = getattr(lapor_telegram, "CONCURRENT_UPDATES", 1)


def build_app(wire: Wire, files_url: str | None = None) -> Application:
    """Like lapor's `build_application`, with the fake transport for both request objects."""
    builder = (
        ApplicationBuilder()
        .token(TOKEN)
        .concurrent_updates(CONCURRENT_UPDATES)
        .request(FakeTransport(wire))
        .get_updates_request(FakeTransport(wire))
    )
    if files_url is not None:
        builder = builder.base_file_url(files_url)
    return builder.build()


@contextlib.asynccontextmanager
async def file_server(wire: Wire) -> AsyncIterator[str]:
    """lapor downloads photos with its own HTTP client (capped, streamed), not through PTB's
    request object: the photo is served from loopback, in this event loop."""

    async def download(request: web.Request) -> web.Response:
        wire.calls["download"] += 1
        return web.Response(body=wire.jpeg, content_type="image/jpeg")

    app = web.Application()
    app.router.add_get("/{path:.*}", download)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/file/bot"
    finally:
        await runner.cleanup()


# -- the updates ------------------------------------------------------------------------------


def flow_updates(users: int) -> list[dict[str, Any]]:
    """Every user's 7-update report flow, interleaved round-robin by step."""
    factory = UpdateFactory(bot_id=BOT_USER["id"], bot_username=BOT_USER["username"])
    people = [
        UpdateFactory.make_user(FIRST_USER_ID + i, first_name=f"Warga{i}", language_code="id")
        for i in range(users)
    ]

    def note(i: int, user: dict[str, Any]) -> dict[str, Any]:
        if i % 2:
            return factory.callback("note:skip", user=user, message_text="Tambahkan keterangan?")
        return factory.text(f"Sampah menumpuk di depan gang {i}, sudah tiga hari.", user=user)

    steps: list[Callable[[int, dict[str, Any]], dict[str, Any]]] = [
        lambda i, u: factory.command("start", user=u),
        lambda i, u: factory.callback("menu:report", user=u, message_text="Menu"),
        lambda i, u: factory.callback("cat:sampah", user=u),
        lambda i, u: factory.photo(f"AgACPhoto{i}", f"AQADUnique{i}", user=u),
        lambda i, u: factory.location(-6.2 + (i % 100) * 1e-4, 106.8 + (i // 100) * 1e-4, user=u),
        note,
        lambda i, u: factory.callback("confirm:yes", user=u, message_text="Kirim laporan?"),
    ]
    assert len(steps) == STEPS
    return [step(i, user) for step in steps for i, user in enumerate(people)]


def parse_all(dicts: list[dict[str, Any]], app: Application) -> list[Update]:
    return [Update.de_json(d, app.bot) for d in dicts]


# -- measuring --------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    updates: int
    seconds: float
    latencies: list[float]
    sends: int

    @property
    def rate(self) -> float:
        return self.updates / self.seconds

    def percentile_ms(self, q: float) -> float:
        ordered = sorted(self.latencies)
        index = min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))
        return ordered[index] * 1000


async def feed(
    app: Application,
    updates: list[Update],
    after: Callable[[], Awaitable[Any]] | None,
    concurrent: bool,
) -> list[float]:
    """Process every update; returns each `process_update`'s duration in seconds.

    Sequential: one `await app.process_update(update)` after the other. Concurrent: as PTB's
    polling loop does with `concurrent_updates(n)`, every update becomes a task through the
    application's update processor (a semaphore of n); the latency is then measured from the
    moment the processor lets the update in, so waiting for a free slot is not counted.
    """
    latencies: list[float] = []
    clock = time.perf_counter

    async def timed(update: Update) -> None:
        started = clock()
        await app.process_update(update)
        latencies.append(clock() - started)

    if concurrent:
        processor = app.update_processor
        tasks = [asyncio.create_task(processor.process_update(u, timed(u))) for u in updates]
        await asyncio.gather(*tasks)
        return latencies
    for update in updates:
        await timed(update)
        if after is not None:
            await after()
    return latencies


async def run_bare(dicts: list[dict[str, Any]], jpeg: bytes, concurrent: bool) -> Result:
    wire = Wire(jpeg)
    app = build_app(wire)

    async def reply_ok(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_chat is not None
        await update.effective_chat.send_message("ok")

    app.add_handler(TypeHandler(Update, reply_ok))
    latencies: list[float] = []
    seconds = 0.0
    loops = 0
    async with app:
        updates = parse_all(dicts, app)
        # The bare run is short: feed the same updates again until the clock has run long
        # enough to be stable (the rate is total updates / total time of all the loops).
        while loops == 0 or seconds < BARE_MIN_SECONDS:
            started = time.perf_counter()
            latencies += await feed(app, updates, None, concurrent)
            seconds += time.perf_counter() - started
            loops += 1
    total = len(dicts) * loops
    assert wire.calls["sendMessage"] == total, wire.calls
    return Result("bare PTB", total, seconds, latencies, wire.calls["sendMessage"])


async def run_lapor(
    dicts: list[dict[str, Any]],
    users: int,
    jpeg: bytes,
    drain: str,
    concurrent: bool,
    workdir: Path,
) -> Result:
    workdir.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{workdir / 'lapor.db'}"
    upgrade(url)
    settings = load_settings(
        _env_file=None,
        database_url=url,
        media_dir=workdir / "media",
        telegram_bot_token=TOKEN,
        log_level="WARNING",
        # This measures handling, not Telegram's pace: synthetic users write many times a
        # second, and the fake transport has no limits to respect.
        dispatch_pacing=False,
    )
    runtime = Runtime.from_settings(settings)
    wire = Wire(jpeg)
    files = file_server(wire)
    app = build_app(wire, await files.__aenter__())
    channel = attach(runtime, app)
    dispatcher = runtime.dispatcher
    try:
        async with app:
            updates = parse_all(dicts, app)
            started = time.perf_counter()
            if drain == "each":
                latencies = await feed(app, updates, dispatcher.drain, concurrent)
            else:
                stop = asyncio.Event()
                sending = asyncio.create_task(dispatcher.run(stop))
                latencies = await feed(app, updates, None, concurrent)
                stop.set()
                dispatcher.wake.set()
                await sending
            await dispatcher.drain()  # whatever the last round left behind
            seconds = time.perf_counter() - started
        sends = sum(wire.calls[m] for m in SEND_METHODS)
        check_lapor(runtime, wire, users, sends)
    finally:
        await channel.aclose()
        await files.__aexit__(None, None, None)
        runtime.dispose()
    return Result(f"lapor ({drain})", len(dicts), seconds, latencies, sends)


def check_lapor(runtime: Runtime, wire: Wire, users: int, sends: int) -> None:
    """The flow really worked: N reports, every outbox row sent once, a ticket for everyone."""
    with new_session(runtime.engine) as session:
        reports = session.scalar(select(func.count()).select_from(Report))
        rows = session.scalar(select(func.count()).select_from(Outbox))
        statuses = Counter(session.scalars(select(Outbox.status)))
    assert reports == users, f"{reports} reports for {users} users"
    assert sends == rows, f"{sends} sends at the fake, {rows} outbox rows ({wire.calls})"
    assert statuses == {"sent": rows}, statuses
    assert wire.calls["getFile"] == users and wire.calls["download"] == users, wire.calls
    missing = [
        chat
        for chat in range(FIRST_USER_ID, FIRST_USER_ID + users)
        if not TICKET.search(wire.last_text.get(chat, ""))
    ]
    assert not missing, f"{len(missing)} users got no ticket, e.g. {missing[:3]}"


# -- main -------------------------------------------------------------------------------------


def summary(results: list[Result]) -> dict[str, float]:
    return {
        "rate": statistics.median(r.rate for r in results),
        "p50": statistics.median(r.percentile_ms(0.50) for r in results),
        "p99": statistics.median(r.percentile_ms(0.99) for r in results),
        "sends": statistics.median(r.sends for r in results),
    }


def line(result: Result) -> str:
    return (
        f"  {result.name:<20} {result.rate:9.1f} updates/s  "
        f"p50 {result.percentile_ms(0.5):7.3f} ms  p99 {result.percentile_ms(0.99):7.3f} ms  "
        f"({result.updates} updates, {result.sends} sends, {result.seconds:.2f} s)"
    )


async def bench(
    users: int, repeat: int, drain: str, concurrent: bool, jpeg: bytes
) -> tuple[list[Result], list[Result]]:
    dicts = flow_updates(users)
    with tempfile.TemporaryDirectory(prefix="lapor-bench-") as tmp:
        warm_users = min(users, 10)
        warm = flow_updates(warm_users)
        await run_bare(warm, jpeg, concurrent)
        await run_lapor(warm, warm_users, jpeg, drain, concurrent, Path(tmp) / "warmup")
        bare: list[Result] = []
        lapor: list[Result] = []
        for n in range(repeat):
            bare.append(await run_bare(dicts, jpeg, concurrent))
            print(line(bare[-1]), flush=True)
            run_dir = Path(tmp) / f"run{n}"
            lapor.append(await run_lapor(dicts, users, jpeg, drain, concurrent, run_dir))
            print(line(lapor[-1]), flush=True)
    return bare, lapor


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run (50 users)")
    parser.add_argument("--users", type=int, help="synthetic users (default 300, 50 quick)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, medians reported")
    parser.add_argument(
        "--drain",
        choices=("concurrent", "each"),
        default="concurrent",
        help="dispatcher as a concurrent task (default) or a drain after every update",
    )
    parser.add_argument(
        "--feed",
        choices=("sequential", "concurrent"),
        default="sequential",
        help="await process_update one by one (default), or as PTB polling does with "
        "concurrent_updates: every update a task through the update processor",
    )
    args = parser.parse_args(argv)
    users = args.users or (50 if args.quick else 300)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    jpeg = make_jpeg()
    print(
        f"dialogue: {users} users x {STEPS} updates = {users * STEPS} updates, "
        f"{args.repeat} runs each, feed {args.feed} (concurrent_updates={CONCURRENT_UPDATES}), "
        f"dispatcher {args.drain}, JPEG {len(jpeg)} bytes",
        flush=True,
    )
    concurrent = args.feed == "concurrent"
    if concurrent and args.drain == "each":
        parser.error("--drain each needs --feed sequential")
    bare, lapor = asyncio.run(bench(users, args.repeat, args.drain, concurrent, jpeg))
    b, lp = summary(bare), summary(lapor)
    ratio = lp["rate"] / b["rate"]
    passed = ratio >= TARGET
    print(
        f"median: lapor {lp['rate']:.1f} updates/s (p50 {lp['p50']:.3f} ms, p99 {lp['p99']:.3f} ms,"
        f" {lp['sends']:.0f} replies sent); bare PTB {b['rate']:.1f} updates/s "
        f"(p50 {b['p50']:.3f} ms, p99 {b['p99']:.3f} ms)"
    )
    print(f"ratio {ratio:.3f} (target >= {TARGET:.3f}): {'PASS' if passed else 'FAIL'}")
    print(
        json.dumps(
            {
                "bench": "dialogue",
                "value": round(lp["rate"], 1),
                "unit": "updates/s",
                "baseline": round(b["rate"], 1),
                "ratio": round(ratio, 3),
                "target": round(TARGET, 3),
                "pass": passed,
                "p50_ms": round(lp["p50"], 3),
                "p99_ms": round(lp["p99"], 3),
                "baseline_p50_ms": round(b["p50"], 3),
                "baseline_p99_ms": round(b["p99"], 3),
                "users": users,
                "updates": users * STEPS,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
