"""Webhook benchmark: whole reports through the real `lapor web` over HTTP, against a bare bot.

What it answers: how many conversation steps a second one `lapor web` serves, and what a step
costs in CPU, next to a bare python-telegram-bot webhook app driven identically. The cost of
a step is what decides how many machines a city needs when a flood brings thousands of
reports in an hour.

The processes under test, each in its own process on a loopback port, as an operator starts
them (`python -m lapor.bot.cli web ...`, migrations checked and setWebhook called on start):

* `bare`: `bench/_latency_echo.py`, uvicorn + Starlette, the secret checked,
  `Update.de_json`, one `await bot.send_message(chat, "ok")` per update before answering 200.
* `sqlite`: lapor on a SQLite file (WAL), one process.
* `pg`: lapor on PostgreSQL, one process (with `--postgres URL`).
* `pg x2`: lapor on PostgreSQL with `--workers 2` (with `--postgres URL`).

Each lapor database is migrated and given the real Jakarta kelurahan boundaries
(`../shared/data/jakarta_kelurahan.geojson`, read in place), so routing a pin costs what it
costs in production. The fake Bot API (`tests.fakes.bot_api.FakeBotAPI`, real JSON answers,
files served over HTTP) runs in this process's event loop, with the load generator.

The load is closed loop: K citizens at once (K = 4, 16, 64; `--quick`: 4 and 16), each a new
Telegram user doing one whole report, the seven updates a phone sends: `/start`, the menu's
"Buat laporan" button, a category button, a photo (a distinct 1280x960 JPEG per citizen, as
Telegram serves the largest size; lapor downloads, checks, strips and re-encodes it), a
shared location (a distinct pin in Jakarta per citizen), a typed note, and "Kirim". A
citizen sends its next update as soon as the reply to the previous one reached the fake (a
step = an update and its reply); when it is done, a new citizen takes its place, until the
phase's time is up and every citizen under way has finished. The servers take turns, phase
by phase (K by K), so the machine's background load is spread over all of them.

Printed per K and server: steps/s, CPU per step (the server's processes, children
included, from /proc), and latency p50/p99 per step kind (update written -> reply at the
fake). At the end it checks that every lapor citizen has exactly one report in its
database and that every update got exactly one reply, in order, with the text lapor's
catalogue says (the ticket message for "Kirim").

Targets (issue "Performance"): lapor's best steps/s >= 0.5 of the bare app's best, and
CPU per step <= 2x the bare app's (lapor's leanest server, all its phases). With `--postgres`
also: at the largest K the confirm step's p99 within 1.5x of the location step's (no hot
ticket row), and `pg x2` serving more steps/s than `pg`.

    .venv/bin/python bench/webhook.py --quick
    .venv/bin/python bench/webhook.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/webhook.py --quick --only sqlite     # one lapor server and the bare one

The last line printed is one JSON object (see DESIGN.md, "Benchmarks").
"""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for _path in (ROOT, BENCH):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import contextlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import pickle  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter, defaultdict  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

from latency import (  # noqa: E402
    BOT_ID,
    BOT_USERNAME,
    SECRET,
    SECRET_HEADER,
    WEBHOOK_PATH,
    Client,
    Server,
    TimedBotAPI,
    echo_server,
    lapor_server,
    percentile,
    serve_in_loop,
)
from PIL import Image, ImageDraw, ImageFilter  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from lapor.handlers.payloads import SEND_ANYWAY  # noqa: E402
from lapor.handlers.texts import t  # noqa: E402
from lapor.routing import KelurahanIndex, parse_registry  # noqa: E402
from lapor.store.db import make_engine, normalise_url  # noqa: E402
from tests.fakes.bot_api import UpdateFactory  # noqa: E402

KELURAHAN = ROOT.parent / "shared" / "data" / "jakarta_kelurahan.geojson"
STEPS = ("start", "menu", "category", "photo", "location", "note", "similar", "confirm")
STEPS_RATIO_TARGET = 0.5
CPU_RATIO_TARGET = 2.0
HOT_ROW_TARGET = 1.5  # confirm p99 / location p99 at the largest K, PostgreSQL
FIRST_USER_ID = 7_500_000_000  # above 2**32, like real new Telegram ids
REPLY_TIMEOUT_S = 60.0
TICKET = re.compile(r"\b[A-Z]+-\d{4}-\d{5,}\b")
PG_PREFIX = "lapor_bench_webhook"


# -- the fake Bot API, telling each citizen when its reply came -------------------------------


class ReplyWaitingBotAPI(TimedBotAPI):
    """The timed fake, with a future per chat resolved when its n-th reply arrives."""

    def __init__(self) -> None:
        super().__init__()
        self._waiting: dict[int, tuple[int, asyncio.Future[None]]] = {}

    def _dispatch(self, method: str, params: dict[str, Any], chat_id: int | str | None) -> Any:
        result = super()._dispatch(method, params, chat_id)
        if isinstance(chat_id, int) and chat_id in self._waiting:
            count, future = self._waiting[chat_id]
            if len(self.replies[chat_id]) >= count and not future.done():
                future.set_result(None)
        return result

    async def wait_replies(self, chat: int, count: int) -> None:
        if len(self.replies[chat]) >= count:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[chat] = (count, future)
        try:
            await asyncio.wait_for(future, REPLY_TIMEOUT_S)
        finally:
            self._waiting.pop(chat, None)


# -- photos and pins ----------------------------------------------------------------------------


def photo_pool(count: int, seed: int = 7) -> list[bytes]:
    """Camera-like 1280x960 JPEGs (~150 KB, the size Telegram serves of a phone's photo),
    each from its own coarse random pattern, so no two look alike to lapor's photo hash
    (a repeated picture would rightly be offered as a similar report). Made once and kept
    in the temporary directory (they take a while on a busy machine)."""
    cache = Path(tempfile.gettempdir()) / f"lapor-bench-webhook-photos-{seed}-{count}.pickle"
    with contextlib.suppress(OSError, pickle.UnpicklingError, EOFError):
        return pickle.loads(cache.read_bytes())
    pool = _make_photos(count, seed)
    with contextlib.suppress(OSError):
        cache.write_bytes(pickle.dumps(pool))
    return pool


def _make_photos(count: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    texture = Image.effect_noise((1280, 960), 40).convert("RGB")
    pool = []
    for _ in range(count):
        coarse = Image.new("RGB", (9, 8))
        coarse.putdata([tuple(rng.randrange(256) for _ in range(3)) for _ in range(72)])
        im = coarse.resize((1280, 960), Image.Resampling.BILINEAR)
        draw = ImageDraw.Draw(im)
        for _ in range(12):
            x, y = rng.randrange(1280), rng.randrange(960)
            colour = tuple(rng.randrange(256) for _ in range(3))
            draw.ellipse((x, y, x + rng.randrange(20, 120), y + rng.randrange(20, 120)), colour)
        im = Image.blend(im, texture, 0.15).filter(ImageFilter.SMOOTH)
        out = io.BytesIO()
        im.save(out, "JPEG", quality=87)
        pool.append(out.getvalue())
    return pool


def distinct(jpeg: bytes, citizen: int) -> bytes:
    """The same picture with a COM segment naming the citizen: another file, another hash."""
    comment = f"citizen {citizen}".encode()
    segment = b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
    return jpeg[:2] + segment + jpeg[2:]


def clear_pins(spacing_m: float = 300.0) -> list[tuple[float, float]]:
    """Pins 300 m apart, each well inside one kelurahan (no border question) and farther
    than lapor's 250 m radius from every other pin (no "similar report nearby" question)."""
    index = KelurahanIndex(parse_registry(KELURAHAN))
    step_lat = spacing_m / 111_320
    step_lon = spacing_m / (111_320 * math.cos(math.radians(6.2)))
    pins = []
    lat = -6.36
    while lat < -6.09:
        lon = 106.70
        while lon < 106.97:
            found = index.locate(lat, lon)
            if found.how == "inside" and not found.neighbours:
                pins.append((round(lat, 6), round(lon, 6)))
            lon += step_lon
        lat += step_lat
    random.Random(3).shuffle(pins)
    return pins


# -- the citizens -------------------------------------------------------------------------------


@dataclass
class Phase:
    """One server's turn at one K."""

    server: str
    k: int
    steps: int = 0
    reports: int = 0
    seconds: float = 0.0
    cpu_s: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def rate(self) -> float:
        return self.steps / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.cpu_s / self.steps if self.steps else float("nan")

    def ms(self, step: str, q: float) -> float:
        return percentile(self.latencies[step], q) * 1000


@dataclass
class Citizen:
    user_id: int
    pin: tuple[float, float]
    category: str
    photo_id: str


class Load:
    """Makes citizens (ids, photos, pins) and their updates."""

    def __init__(self, fake: ReplyWaitingBotAPI, categories: list[str], photos: int) -> None:
        self.fake = fake
        started = time.perf_counter()
        self.pool = photo_pool(photos)
        self.pins = clear_pins()
        print(
            f"{len(self.pool)} photos ({statistics.median(map(len, self.pool)) / 1024:.0f} KB "
            f"median) and {len(self.pins)} pins in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        self.categories = categories
        self.next_user = FIRST_USER_ID
        self.factory = UpdateFactory(
            bot_id=BOT_ID, bot_username=BOT_USERNAME, first_update_id=500_000_000
        )

    def citizen(self, n: int, with_photo: bool) -> Citizen:
        """The `n`-th citizen of one server: its own pin and picture while they last."""
        user_id = self.next_user
        self.next_user += 1
        photo_id = f"AgAD{user_id}"
        if with_photo:  # the bare app never downloads it
            photo = distinct(self.pool[n % len(self.pool)], user_id)
            self.fake.add_file(photo_id, photo, f"AQAD{user_id}")
        pin = self.pins[n % len(self.pins)]
        return Citizen(user_id, pin, self.categories[n % len(self.categories)], photo_id)

    def updates(self, c: Citizen) -> Iterator[tuple[str, dict[str, Any]]]:
        f = self.factory
        user = f.make_user(c.user_id, "Warga", language_code="id")
        yield "start", f.command("start", user=user)
        yield "menu", f.callback("menu:report", user=user, message_text="Menu")
        yield "category", f.callback(f"cat:{c.category}", user=user, message_text="Kategori")
        yield "photo", f.photo(c.photo_id, c.photo_id.replace("AgAD", "AQAD"), user=user)
        yield "location", f.location(c.pin[0], c.pin[1], user=user)
        note = f"Sudah tiga hari belum ditangani, warga {c.user_id % 1000}."
        yield "note", f.text(note, user=user)
        yield "confirm", f.callback("confirm:yes", user=user, message_text="Kirim laporan?")

    def anyway(self, c: Citizen) -> dict[str, Any]:
        """ "Kirim laporan baru" when lapor offers a similar report (pictures run out)."""
        user = self.factory.make_user(c.user_id, "Warga", language_code="id")
        return self.factory.callback(SEND_ANYWAY, user=user, message_text="Laporan serupa")


async def citizen_runs(
    contender: Contender, fake: ReplyWaitingBotAPI, load: Load, phase: Phase, deadline: float
) -> None:
    """One slot of K: citizens one after another until the deadline."""
    assert contender.client is not None
    headers = {"Content-Type": "application/json", SECRET_HEADER: SECRET}
    similar = t("id", "dup.header")
    while time.perf_counter() < deadline:
        c = load.citizen(len(contender.citizens), contender.database is not None)
        contender.citizens.append(c)
        sent = 0
        steps = load.updates(c)
        for step, update in steps:
            while True:
                body = json.dumps(update).encode()
                try:
                    status, written, _, _ = await contender.client.request(
                        "POST", WEBHOOK_PATH, body, headers
                    )
                    if status != 200:
                        phase.errors[f"{step}: HTTP {status}"] += 1
                        break
                    sent += 1
                    await fake.wait_replies(c.user_id, sent)
                except (TimeoutError, OSError) as exc:
                    phase.errors[f"{step}: {type(exc).__name__}"] += 1
                    break
                arrived, reply = fake.replies[c.user_id][sent - 1]
                phase.latencies[step].append(arrived - written)
                phase.steps += 1
                if step == "note" and contender.database and reply.startswith(similar):
                    step, update = "similar", load.anyway(c)
                    continue
                break
            if phase.errors:
                break
        else:
            phase.reports += 1
        contender.sent[c.user_id] = sent


# -- servers ------------------------------------------------------------------------------------


def tree_cpu_seconds(pid: int) -> float:
    """CPU of a process and its live descendants (a supervisor's workers)."""
    total = 0.0
    pending = [pid]
    while pending:
        p = pending.pop()
        try:
            with open(f"/proc/{p}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as children:
                    pending += [int(x) for x in children.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


@dataclass
class Contender:
    name: str
    server: Server
    database: str | None  # lapor's database URL, None for the bare app
    client: Client | None = None
    citizens: list[Citizen] = field(default_factory=list)
    sent: dict[int, int] = field(default_factory=dict)  # updates each citizen sent
    phases: list[Phase] = field(default_factory=list)

    def prepare(self) -> None:
        if self.database is None:
            return
        for args in (["db", "upgrade"], ["kelurahan", "import", str(KELURAHAN)]):
            subprocess.run(
                [sys.executable, "-m", "lapor.bot.cli", *args],
                env=self.server.env,
                cwd=self.server.cwd,
                check=True,
                stdout=subprocess.DEVNULL,
            )

    async def start(self) -> None:
        self.client = Client(self.server.port, limit=256)
        self.server.start()
        await self.server.ready(self.client)

    async def phase(
        self, fake: ReplyWaitingBotAPI, load: Load, k: int, seconds: float, measured: bool
    ) -> Phase:
        assert self.client is not None
        phase = Phase(self.name, k)
        cpu0 = tree_cpu_seconds(self.server.pid)
        t0 = time.perf_counter()
        await asyncio.gather(
            *(citizen_runs(self, fake, load, phase, t0 + seconds) for _ in range(k))
        )
        phase.seconds = time.perf_counter() - t0
        phase.cpu_s = tree_cpu_seconds(self.server.pid) - cpu0
        if measured:
            self.phases.append(phase)
        return phase

    def best_rate(self) -> float:
        return max((p.rate for p in self.phases), default=0.0)

    def cpu_ms(self) -> float:
        steps = sum(p.steps for p in self.phases)
        return 1000 * sum(p.cpu_s for p in self.phases) / steps if steps else float("nan")

    def check(self, fake: ReplyWaitingBotAPI) -> list[str]:
        """Exactly one reply per update, in order; for lapor exactly one report per citizen."""
        wrong = []
        tickets = set()
        for c in self.citizens:
            got = [reply for _, reply in fake.replies.get(c.user_id, [])]
            if len(got) != self.sent.get(c.user_id):
                wrong.append(
                    f"{self.name}: citizen {c.user_id} got {len(got)} replies to "
                    f"{self.sent.get(c.user_id)} updates"
                )
                continue
            if self.database is None:
                continue
            found = TICKET.search(got[-1])
            if not found:
                wrong.append(f"{self.name}: no ticket in the last reply {got[-1][:60]!r}")
            else:
                tickets.add(found.group())
        if self.database is not None:
            wrong += self._check_reports(tickets)
        return wrong

    def _check_reports(self, tickets: set[str]) -> list[str]:
        assert self.database is not None
        engine = make_engine(self.database)
        try:
            with engine.connect() as conn:
                rows = conn.execute(
                    text(
                        "SELECT c.address, count(r.id), min(r.ticket) FROM contact c "
                        "LEFT JOIN report r ON r.reporter_id = c.id "
                        "WHERE c.channel = 'telegram' GROUP BY c.address"
                    )
                ).all()
        finally:
            engine.dispose()
        reports = {int(address): (count, ticket) for address, count, ticket in rows}
        wrong = []
        for c in self.citizens:
            count, ticket = reports.get(c.user_id, (0, None))
            if count != 1:
                wrong.append(f"{self.name}: citizen {c.user_id} has {count} reports")
            elif ticket not in tickets:
                wrong.append(f"{self.name}: ticket {ticket} was never sent to its citizen")
        if len(tickets) != len(self.citizens):
            wrong.append(f"{self.name}: {len(tickets)} tickets for {len(self.citizens)} citizens")
        return wrong

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.aclose()
        self.server.stop()


@contextlib.contextmanager
def postgres_databases(admin_url: str, names: list[str]) -> Iterator[dict[str, str]]:
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    urls = {}
    try:
        with admin.connect() as conn:
            for name in names:
                db = f"{PG_PREFIX}_{name}"
                conn.execute(text(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
                conn.execute(text(f"CREATE DATABASE {db}"))
                url = make_url(normalise_url(admin_url)).set(database=db)
                urls[name] = url.render_as_string(hide_password=False)
        yield urls
    finally:
        with contextlib.suppress(Exception), admin.connect() as conn:
            for name in names:
                conn.execute(text(f"DROP DATABASE IF EXISTS {PG_PREFIX}_{name} WITH (FORCE)"))
        admin.dispose()


def categories(url: str) -> list[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            slugs = conn.execute(
                text("SELECT slug FROM category WHERE active ORDER BY position")
            ).scalars()
            return [s for s in slugs if s != "lainnya"]
    finally:
        engine.dispose()


# -- the run ------------------------------------------------------------------------------------


def describe(phase: Phase, bare: Phase | None) -> str:
    ratio = f" ({phase.rate / bare.rate:.2f} of bare)" if bare and bare.rate else ""
    steps = "  ".join(
        f"{s} {phase.ms(s, 0.5):.0f}/{phase.ms(s, 0.99):.0f}" for s in STEPS if phase.latencies[s]
    )
    errors = f"  ERRORS {dict(phase.errors)}" if phase.errors else ""
    return (
        f"  K={phase.k:<3} {phase.server:<7} {phase.rate:7.1f} steps/s{ratio:<16} "
        f"CPU {phase.cpu_ms:5.2f} ms/step  {phase.reports} reports; p50/p99 ms: {steps}{errors}"
    )


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    ks = [4, 16] if args.quick else [4, 16, 64]
    args.photos = args.photos or (300 if args.quick else 1500)
    seconds = args.seconds or (6.0 if args.quick else 15.0)
    wanted = ["sqlite", "pg", "pg x2"] if args.postgres else ["sqlite"]
    if args.only:
        wanted = [w for w in wanted if w in args.only]
    tmp = Path(tempfile.mkdtemp(prefix="lapor-bench-webhook-"))
    fake = ReplyWaitingBotAPI()
    names = [w.replace(" ", "") for w in wanted if w.startswith("pg")]
    pg_cm = postgres_databases(args.postgres, names) if names else contextlib.nullcontext({})
    with pg_cm as pg_urls:
        async with serve_in_loop(fake) as fake_port:
            contenders = [Contender("bare", echo_server(tmp, fake_port), None)]
            for name in wanted:
                url = (
                    f"sqlite:///{tmp / 'lapor.db'}"
                    if name == "sqlite"
                    else pg_urls[name.replace(" ", "")]
                )
                server = lapor_server(tmp, name.replace(" ", ""), url, fake_port, 100_000.0)
                # The fake has no limits: lapor's pacing (one message a second per chat,
                # 20 a minute per group, by intent) would measure waiting, not work.
                server.env["TELEGRAM_CHAT_MESSAGES_PER_SECOND"] = "1000"
                server.env["TELEGRAM_GROUP_MESSAGES_PER_MINUTE"] = "1000000"
                if name == "pg x2":
                    server.command += ["--workers", "2"]
                contenders.append(Contender(name, server, url))
            print(f"preparing {', '.join(c.name for c in contenders)} ...", flush=True)
            for c in contenders:
                c.prepare()
            slugs = categories(contenders[1].database) if len(contenders) > 1 else ["sampah"]
            load = Load(fake, slugs, args.photos)
            try:
                for c in contenders:
                    await c.start()
                for c in contenders:  # imports, caches, connections: not measured
                    await c.phase(fake, load, 4, 1.5, measured=False)
                for k in ks:
                    for _ in range(args.repeat):
                        bare = None
                        for c in contenders:
                            phase = await c.phase(fake, load, k, seconds, measured=True)
                            bare = phase if c.name == "bare" else bare
                            print(describe(phase, bare), flush=True)
                await asyncio.sleep(0.5)  # the last admin cards
                wrong = [w for c in contenders for w in c.check(fake)]
            finally:
                for c in contenders:
                    await c.stop()
    return summarise(contenders, ks, wrong)


def summarise(contenders: list[Contender], ks: list[int], wrong: list[str]) -> dict[str, Any]:
    bare, lapors = contenders[0], contenders[1:]
    best = max(lapors, key=Contender.best_rate)
    lean = min(lapors, key=Contender.cpu_ms)
    rate_ratio = best.best_rate() / bare.best_rate() if bare.best_rate() else 0.0
    cpu_ratio = lean.cpu_ms() / bare.cpu_ms()
    print(
        f"\nbare: best {bare.best_rate():.1f} steps/s, CPU {bare.cpu_ms():.2f} ms/step; "
        f"lapor: best {best.best_rate():.1f} steps/s ({best.name}) = {rate_ratio:.2f} of bare "
        f"(target >= {STEPS_RATIO_TARGET}), CPU {lean.cpu_ms():.2f} ms/step ({lean.name}) = "
        f"{cpu_ratio:.2f}x bare (target <= {CPU_RATIO_TARGET})"
    )
    for c in lapors:
        print(f"  {c.name}: best {c.best_rate():.1f} steps/s, CPU {c.cpu_ms():.2f} ms/step")
    result: dict[str, Any] = {
        "bench": "webhook",
        "value": round(rate_ratio, 3),
        "unit": "lapor steps/s / bare steps/s (best)",
        "baseline": round(bare.best_rate(), 1),
        "ratio": round(rate_ratio, 3),
        "target": STEPS_RATIO_TARGET,
        "lapor_steps_per_s": round(best.best_rate(), 1),
        "lapor_server": best.name,
        "cpu_ms_per_step": round(lean.cpu_ms(), 2),
        "cpu_server": lean.name,
        "bare_cpu_ms_per_step": round(bare.cpu_ms(), 2),
        "cpu_ratio": round(cpu_ratio, 2),
        "cpu_target": CPU_RATIO_TARGET,
        "correct": not wrong,
    }
    passed = rate_ratio >= STEPS_RATIO_TARGET and cpu_ratio <= CPU_RATIO_TARGET and not wrong
    by_name = {c.name: c for c in lapors}
    if "pg" in by_name:
        top = [p for p in by_name["pg"].phases if p.k == ks[-1]]
        confirm = statistics.median(p.ms("confirm", 0.99) for p in top)
        location = statistics.median(p.ms("location", 0.99) for p in top)
        result["pg_confirm_over_location_p99"] = round(confirm / location, 2)
        result["hot_row_pass"] = confirm <= HOT_ROW_TARGET * location
        print(
            f"PostgreSQL at K={ks[-1]}: confirm p99 {confirm:.0f} ms, location p99 "
            f"{location:.0f} ms ({confirm / location:.2f}x, target <= {HOT_ROW_TARGET})"
        )
        passed = passed and result["hot_row_pass"]
    if "pg" in by_name and "pg x2" in by_name:
        one = max(p.rate for p in by_name["pg"].phases if p.k == ks[-1])
        two = max(p.rate for p in by_name["pg x2"].phases if p.k == ks[-1])
        result["pg_workers2_over_1"] = round(two / one, 2)
        result["workers_pass"] = two > one
        print(f"PostgreSQL at K={ks[-1]}: 2 workers {two:.1f} vs 1 worker {one:.1f} steps/s")
        passed = passed and result["workers_pass"]
    for line in wrong[:20]:
        print(f"  WRONG {line}")
    if wrong:
        print(f"  {len(wrong)} problems", flush=True)
    result["pass"] = passed
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="K = 4, 16 and 6 s phases")
    parser.add_argument("--seconds", type=float, default=0.0, help="length of each phase")
    parser.add_argument("--repeat", type=int, default=1, help="phases per K and server")
    parser.add_argument("--postgres", default=os.environ.get("LAPOR_BENCH_POSTGRES_URL"))
    parser.add_argument("--photos", type=int, default=0, help="distinct pictures")
    parser.add_argument("--only", nargs="*", help="lapor servers: sqlite, pg, 'pg x2'")
    args = parser.parse_args(argv)
    if not KELURAHAN.exists():
        print(f"missing {KELURAHAN} (the shared reference data)", file=sys.stderr)
        return 2
    result = asyncio.run(bench(args))
    print(json.dumps(result), flush=True)
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
