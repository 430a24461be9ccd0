"""Crash test: citizen flows through `lapor web` workers while processes are SIGKILLed.

Production shape on loopback: two `lapor web` workers serving the Telegram webhook (each
also runs a dispatcher) and two `lapor dispatch` processes, all on one PostgreSQL
database, all talking to the fake Bot API that runs here in the test process and so
survives the kills. The test plays Telegram: it POSTs each citizen's updates to the
workers with the secret header and, like Telegram, redelivers the same update (same
update_id) until it gets a 200, trying the other worker after a pause. One chat's next
update goes only after the previous one was accepted. Meanwhile it SIGKILLs a web worker
or a dispatcher several times and restarts it.

Afterwards: every citizen has exactly one submitted report and got its ticket, every
outbox row is sent, each chat received exactly its outbox messages in id order, and the
admin chat got every report's card. The platform has no idempotency key, so a process
killed between a successful send and recording it re-sends that one message after the
lease: such a duplicate is accepted only as an immediate repeat whose earlier copy came
from a process that was killed before the repeat. Any other duplicate fails the test.

Every Bot API call goes through a small tagging front (`PlatformLog`): each process
incarnation gets its own base URL `/p/<name>.<n>`, so the log says who sent what, when.

At the end, two in-process tests of what the dispatcher does so that a crash re-sends as
little as it can: each send recorded at once, and no send started late in the lease.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from PIL import Image
from sqlalchemy import func, select

from lapor.bot.dispatcher import Dispatcher
from lapor.bot.settings import Settings
from lapor.bot.web import SECRET_HEADER
from lapor.store import outbox
from lapor.store.db import make_engine, new_session, transaction
from lapor.store.models import Contact, Conversation, InboundReceipt, Outbox, Report
from tests.conftest import POSTGRES_ENV, PostgresTemplate, alone, own_processes, postgres_url
from tests.fakes.bot_api import FakeBotAPI, UpdateFactory
from tests.fakes.loopback import LoopbackServer

TOKEN = "123456:TEST-token-for-the-crash-test"
SECRET = "crash-test_webhook-secret"
ADMIN_CHAT = -1009876543210
CITIZENS = 40
FIRST_USER = 7_100_000_000  # above 2**32, like real Telegram ids
KILLS = 5
LEASE_SECONDS = 5  # DISPATCH_LEASE_SECONDS: a killed dispatcher's claims return after this
STEPS_PER_FLOW = 7  # updates in one citizen flow, one reply each
DRAIN_TIMEOUT = 60.0
UPDATE_TIMEOUT = 45.0  # one update redelivered for longer than this fails the test
SEND_METHODS = {"sendmessage", "sendphoto", "sendlocation", "editmessagetext", "editmessagecaption"}


# -- the platform's side: who called what, when -------------------------------------------------


@dataclass
class ApiCall:
    at: float  # time.monotonic() when the request arrived
    tag: str  # the process incarnation that made it, e.g. "disp0.2"
    method: str  # lower case
    chat_id: int | None
    text: str | None  # text or caption
    status: int = 0

    @property
    def signature(self) -> tuple[str, str | None]:
        return self.method, self.text


def _form_fields(body: bytes, content_type: str) -> dict[str, str]:
    """The plain form fields PTB sent (url-encoded, or multipart when uploading a photo)."""
    ctype = content_type.split(";", 1)[0].strip().lower()
    if ctype == "multipart/form-data":
        head = f"Content-Type: {content_type}\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(head + body)
        fields = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if name and part.get_filename() is None:
                fields[str(name)] = part.get_payload(decode=True).decode("utf-8")
        return fields
    return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))


class PlatformLog:
    """ASGI front for the fake Bot API: strips `/p/<tag>` and logs every send with its tag."""

    _PREFIX = re.compile(r"^/p/([^/]+)(/.*)$")

    def __init__(self, app: Any) -> None:
        self.app = app
        self.calls: list[ApiCall] = []
        self._lock = threading.Lock()
        self._watched: dict[str, threading.Event] = {}

    def watch(self, tag: str) -> threading.Event:
        """An event set once the platform has answered a send made by `tag`."""
        with self._lock:
            return self._watched.setdefault(tag, threading.Event())

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        match = self._PREFIX.match(scope.get("path", "")) if scope["type"] == "http" else None
        if match is None:
            await self.app(scope, receive, send)
            return
        tag, path = match.group(1), match.group(2)
        scope = {**scope, "path": path, "raw_path": path.encode()}
        method = path.rstrip("/").rsplit("/", 1)[-1].lower()
        if not path.startswith("/bot") or method not in SEND_METHODS:
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the sender died mid-upload: the platform never got this message
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        fields = _form_fields(body, headers.get("content-type", ""))
        chat = fields.get("chat_id")
        with self._lock:
            call = ApiCall(
                at=time.monotonic(),
                tag=tag,
                method=method,
                chat_id=int(chat) if chat and chat.lstrip("-").isdigit() else None,
                text=fields.get("text", fields.get("caption")),
            )
            self.calls.append(call)
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        async def answer(message: dict) -> None:
            if message["type"] == "http.response.start":
                call.status = message["status"]
            await send(message)

        await self.app(scope, replay, answer)
        with self._lock:
            watched = self._watched.get(tag)
        if watched is not None:
            watched.set()

    def snapshot(self) -> list[ApiCall]:
        with self._lock:
            return list(self.calls)


# -- the processes ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Kill:
    tag: str
    at: float


@dataclass
class Proc:
    """One `lapor web` or `lapor dispatch` process, restartable; each start is a new tag."""

    name: str
    web: bool
    env: dict[str, str]
    workdir: Path
    platform: str  # the PlatformLog base, http://127.0.0.1:PORT
    port: int = 0
    incarnation: int = 0
    popen: subprocess.Popen | None = None
    logs: list[Path] = field(default_factory=list)

    @property
    def tag(self) -> str:
        return f"{self.name}.{self.incarnation}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.incarnation += 1
        env = {
            **self.env,
            "TELEGRAM_API_BASE_URL": f"{self.platform}/p/{self.tag}",
            "TELEGRAM_FILE_BASE_URL": f"{self.platform}/p/{self.tag}",
        }
        command = [sys.executable, "-m", "lapor.bot.cli"]
        if self.web:
            env["TELEGRAM_WEBHOOK_URL"] = f"{self.url}/telegram/webhook"
            command += ["web", "--host", "127.0.0.1", "--port", str(self.port)]
        else:
            command += ["dispatch"]
        log = self.workdir / f"{self.tag}.log"
        self.logs.append(log)
        with log.open("w") as out:
            self.popen = subprocess.Popen(
                command, env=env, cwd=self.workdir, stdout=out, stderr=subprocess.STDOUT
            )

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> float:
        """SIGKILL; returns the time just before the signal."""
        assert self.popen is not None
        at = time.monotonic()
        os.kill(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)
        return at

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=10)

    def output(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in self.logs if p.exists())


async def _ready(proc: Proc, client: httpx.AsyncClient, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert proc.alive(), f"{proc.tag} exited:\n{proc.output()}"
        try:
            if (await client.get(f"{proc.url}/healthz", timeout=1)).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{proc.tag} did not start:\n{proc.output()}"
        await asyncio.sleep(0.1)


def _settings_env() -> dict[str, str]:
    """The environment without any lapor setting of the developer's (or CI's) own."""
    ours = {name.upper() for name in Settings.model_fields}
    return {k: v for k, v in os.environ.items() if k.upper() not in ours}


# -- the citizens -------------------------------------------------------------------------------


def _photo(seed: int) -> bytes:
    """A noise picture per citizen: no two are near-duplicates (the similar-report step)."""
    rng = random.Random(seed)
    image = Image.frombytes("RGB", (160, 120), rng.randbytes(160 * 120 * 3))
    buffer = io.BytesIO()
    image.resize((480, 360)).save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


@dataclass
class Load:
    updates: UpdateFactory
    workers: list[Proc]
    client: httpx.AsyncClient
    rng: random.Random
    delivered: int = 0
    finished_at: float = 0.0  # when the last flow ended
    redeliveries: Counter[str] = field(default_factory=Counter)  # why, how often

    async def deliver(self, update: dict, first: int) -> None:
        """As Telegram does: the same update until a worker answers 200."""
        worker = first
        deadline = time.monotonic() + UPDATE_TIMEOUT
        body = json.dumps(update)
        headers = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}
        while True:
            url = f"{self.workers[worker].url}/telegram/webhook"
            try:
                response = await self.client.post(url, content=body, headers=headers, timeout=20)
                if response.status_code == 200:
                    self.delivered += 1
                    return
                assert response.status_code >= 500, (
                    f"update {update['update_id']}: {response.status_code} {response.text}"
                )
                self.redeliveries[str(response.status_code)] += 1
            except httpx.TransportError as exc:
                self.redeliveries[type(exc).__name__] += 1
            assert time.monotonic() < deadline, f"update {update['update_id']} never accepted"
            worker = (worker + 1) % len(self.workers)
            await asyncio.sleep(0.2)

    async def citizen(self, index: int) -> None:
        user = UpdateFactory.make_user(FIRST_USER + index, f"Warga {index}")
        u = self.updates
        steps = [
            lambda: u.command("start", user=user),
            lambda: u.callback("menu:report", user=user),
            lambda: u.callback("cat:jalan-rusak", user=user),
            lambda: u.photo(f"PH{index}", f"UPH{index}", user=user),
            # About 1.1 km apart: never "a similar report nearby".
            lambda: u.location(-6.30 + index * 0.01, 106.80, user=user),
            lambda: u.text(f"Jalan berlubang nomor {index}", user=user),
            lambda: u.callback("confirm:yes", user=user),
        ]
        assert len(steps) == STEPS_PER_FLOW
        await asyncio.sleep(index * 0.2)
        for number, make in enumerate(steps):
            await self.deliver(make(), (index + number) % len(self.workers))
            await asyncio.sleep(self.rng.uniform(0.1, 0.4))
        self.finished_at = max(self.finished_at, time.monotonic())


async def _chaos(
    procs: dict[str, Proc],
    plan: list[str],
    kills: list[Kill],
    rng: random.Random,
    platform: PlatformLog,
) -> None:
    """Kill each planned process at the worst moment: right after the platform answered one
    of its sends, while it is still in its batch (or 1.5 s later if it sends nothing)."""
    for name in plan:
        await asyncio.sleep(rng.uniform(0.3, 0.9))
        proc = procs[name]
        await asyncio.to_thread(platform.watch(proc.tag).wait, 1.5)
        kills.append(Kill(proc.tag, proc.kill()))
        await asyncio.sleep(rng.uniform(0.3, 0.6))
        proc.start()


# -- what the platform must have received ---------------------------------------------------------


def _expected(payload: dict[str, Any]) -> list[tuple[str, str | None]]:
    """The Bot API calls one outbox row becomes (see TelegramSender.send)."""
    text = payload.get("text", "")
    if payload.get("edit"):
        method = "editmessagecaption" if payload.get("photo") else "editmessagetext"
        return [(method, text)]
    calls: list[tuple[str, str | None]] = []
    if payload.get("location"):
        calls.append(("sendlocation", None))
    if payload.get("photo"):
        calls.append(("sendphoto", text[:1024] or None))
    else:
        calls.append(("sendmessage", text[:4096]))
    return calls


@dataclass
class Duplicate:
    row_id: int
    chat_id: int
    text: str
    tags: list[str]


def _match_chat(
    chat_id: int, rows: list[Outbox], got: list[ApiCall], kills: list[Kill]
) -> tuple[list[Duplicate], list[str]]:
    """Walk a chat's calls against its sent rows in id order.

    Each row must be there once in full; it may also appear as extra attempts (whole, or a
    prefix of its calls) right next to it, each explained by the SIGKILL of the process that
    made the previous attempt, before the next one.
    """
    duplicates: list[Duplicate] = []
    errors: list[str] = []
    pos = 0
    for row in rows:
        want = _expected(row.payload)
        attempts: list[list[ApiCall]] = []
        while pos < len(got):
            k = 0
            while k < len(want) and pos + k < len(got) and got[pos + k].signature == want[k]:
                k += 1
            if k == 0:
                break
            attempts.append(got[pos : pos + k])
            pos += k
        if not any(len(a) == len(want) for a in attempts):
            shown = got[pos].signature if pos < len(got) else "nothing"
            errors.append(
                f"chat {chat_id}: outbox row {row.id} ({want[-1]}) missing; got {shown} instead"
            )
            continue
        if len(attempts) == 1:
            continue
        for before, after in itertools.pairwise(attempts):
            # Killed before the repeat. Not necessarily after the first copy arrived: a request
            # written to the socket just before the SIGKILL reaches the platform a bit later.
            killed = [k for k in kills if k.tag == before[-1].tag and k.at <= after[0].at]
            if not killed:
                errors.append(
                    f"chat {chat_id}: outbox row {row.id} sent again by {after[0].tag} after "
                    f"{before[-1].tag} ({after[0].at - before[-1].at:.2f} s earlier), which "
                    f"was not killed in between: {str(want[-1])[:80]}"
                )
        if row.attempts < len(attempts):
            errors.append(
                f"chat {chat_id}: row {row.id} reached the platform {len(attempts)} times "
                f"but was claimed {row.attempts} times"
            )
        duplicates.append(
            Duplicate(row.id, chat_id, str(want[-1][1])[:60], [a[-1].tag for a in attempts])
        )
    if pos < len(got):
        extra = [c.signature for c in got[pos : pos + 3]]
        errors.append(f"chat {chat_id}: {len(got) - pos} call(s) no outbox row explains: {extra}")
    return duplicates, errors


# -- the test -----------------------------------------------------------------------------------


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> str:
    if not postgres_url():
        pytest.skip(f"{POSTGRES_ENV} is not set: the crash test needs PostgreSQL")
    template: PostgresTemplate = request.getfixturevalue("postgres_template")
    template.reset()
    return template.url


@alone
@own_processes
async def test_citizen_flows_survive_sigkilled_workers_and_dispatchers(
    pg_url: str, tmp_path: Path
) -> None:
    started = time.monotonic()
    seed = int(os.environ.get("LAPOR_CRASH_SEED") or random.randrange(1 << 30))
    rng = random.Random(seed)
    print(f"\ncrash test seed {seed} (LAPOR_CRASH_SEED to repeat)")

    fake = FakeBotAPI(token=TOKEN)
    for index in range(CITIZENS):
        fake.add_file(f"PH{index}", _photo(seed + index), file_unique_id=f"UPH{index}")
    platform = PlatformLog(fake.app)
    front = LoopbackServer(platform, "PlatformLog")
    env = {
        **_settings_env(),
        "PYTHONUNBUFFERED": "1",
        "DATABASE_URL": pg_url,
        "MEDIA_DIR": str(tmp_path / "media"),
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "TELEGRAM_ADMIN_CHAT_ID": str(ADMIN_CHAT),
        "DISPATCH_LEASE_SECONDS": str(LEASE_SECONDS),
        # 40 admin cards go to one group: Telegram's 20 a minute would make this a long test.
        "TELEGRAM_GROUP_MESSAGES_PER_MINUTE": "1200",
        "LOG_LEVEL": "WARNING",
    }
    procs: dict[str, Proc] = {}
    kills: list[Kill] = []
    engine = make_engine(pg_url)
    try:
        front.start()
        base = f"http://127.0.0.1:{front.port}"
        for name, web in (("web0", True), ("web1", True), ("disp0", False), ("disp1", False)):
            procs[name] = Proc(name, web, env, tmp_path, base, port=_free_port() if web else 0)
            procs[name].start()
        workers = [procs["web0"], procs["web1"]]
        async with httpx.AsyncClient() as client:
            await asyncio.gather(*(_ready(p, client) for p in workers))
            load = Load(UpdateFactory(first_update_id=500_000), workers, client, rng)
            plan = ["web0", "web1", "disp0", "disp1"]
            rng.shuffle(plan)
            plan += [rng.choice(plan) for _ in range(KILLS - len(plan))]
            load_started = time.monotonic()
            flows = [load.citizen(i) for i in range(CITIZENS)]
            await asyncio.gather(*flows, _chaos(procs, plan, kills, rng, platform))
            load_time = time.monotonic() - load_started
            for proc in procs.values():
                assert proc.alive(), f"{proc.tag} died on its own:\n{proc.output()}"
            await asyncio.gather(*(_ready(p, client) for p in workers))

        # Every process is up again: the outbox drains, claims of the dead ones included.
        drain_started = time.monotonic()
        deadline = drain_started + DRAIN_TIMEOUT
        while True:
            with new_session(engine) as session:
                query = select(Outbox.status, func.count()).group_by(Outbox.status)
                depth = dict(session.execute(query).all())
            if not depth.get("pending") and not depth.get("sending"):
                break
            assert time.monotonic() < deadline, f"outbox stuck: {depth}"
            await asyncio.sleep(0.25)
        drain_time = time.monotonic() - drain_started
    finally:
        for proc in procs.values():
            proc.stop()
        front.stop()
    engine_rows = _read_database(engine)
    engine.dispose()
    calls = platform.snapshot()

    reports, contacts, rows, conversations, receipts = engine_rows
    # -- reports: one per citizen, submitted, nothing half-done --------------------------------
    by_address = {c.id: c.address for c in contacts}
    per_citizen = Counter(by_address[r.reporter_id] for r in reports)
    citizens = {str(FIRST_USER + i) for i in range(CITIZENS)}
    assert set(per_citizen) == citizens and set(per_citizen.values()) == {1}, per_citizen
    assert {r.status for r in reports} == {"submitted"}
    assert {c.address: c.state for c in conversations if c.address in citizens} == dict.fromkeys(
        citizens, "idle"
    ), "every conversation ended where a finished flow ends"
    assert receipts == CITIZENS * STEPS_PER_FLOW, "each update handled once"

    # -- the outbox: nothing stuck, one reply per update ---------------------------------------
    assert Counter(r.status for r in rows) == {"sent": len(rows)}, [
        (r.id, r.status, r.last_error) for r in rows if r.status != "sent"
    ]
    per_chat: dict[int, list[Outbox]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: r.id):
        per_chat[int(row.address)].append(row)
    for address in citizens:
        assert len(per_chat[int(address)]) == STEPS_PER_FLOW, [
            r.payload.get("text", "")[:40] for r in per_chat[int(address)]
        ]

    # -- the platform: every row once, in order; duplicates only where a kill explains them --
    assert all(c.status == 200 for c in calls), [c for c in calls if c.status != 200][:5]
    got: dict[int, list[ApiCall]] = defaultdict(list)
    for call in calls:
        assert call.chat_id is not None, call
        got[call.chat_id].append(call)
    assert set(got) <= set(per_chat), set(got) - set(per_chat)
    duplicates: list[Duplicate] = []
    errors: list[str] = []
    for chat_id, chat_rows in per_chat.items():
        found, wrong = _match_chat(chat_id, chat_rows, got.get(chat_id, []), kills)
        duplicates += found
        errors += wrong

    tickets = {by_address[r.reporter_id]: r.ticket for r in reports}
    for address, ticket in tickets.items():
        texts = [c.text or "" for c in got[int(address)] if c.method == "sendmessage"]
        assert any(ticket in text for text in texts), f"{address} never got {ticket}"
    cards = [c.text or "" for c in got[ADMIN_CHAT] if c.method == "sendphoto"]
    carded = {t for t in tickets.values() if any(t in card for card in cards)}
    assert carded == set(tickets.values()), "every report's card reached the admin chat"

    elapsed = time.monotonic() - started
    print(
        f"{CITIZENS} flows, {load.delivered} updates accepted, "
        f"{load.redeliveries.total()} redeliveries {dict(load.redeliveries)}, "
        f"{len(rows)} messages, {len(calls)} sends; load {load_time:.1f} s, drain "
        f"{drain_time:.1f} s, whole test {elapsed:.1f} s"
    )
    during = sum(k.at < load.finished_at for k in kills)
    print(f"kills: {', '.join(k.tag for k in kills)} ({during} while citizens were writing)")
    extra = sum(len(d.tags) - 1 for d in duplicates)
    print(f"duplicates explained by a kill: {len(duplicates)} messages, {extra} extra sends")
    for dup in duplicates:
        print(f"  row {dup.row_id} to {dup.chat_id} via {' then '.join(dup.tags)}: {dup.text!r}")
    assert not errors, "\n".join(errors[:20])
    assert len(kills) == KILLS


def _read_database(engine: Any) -> tuple[list, list, list, list, int]:
    with new_session(engine) as session:
        return (
            list(session.scalars(select(Report))),
            list(session.scalars(select(Contact))),
            list(session.scalars(select(Outbox))),
            list(session.scalars(select(Conversation))),
            session.execute(select(func.count()).select_from(InboundReceipt)).scalar_one(),
        )


# -- the dispatcher's side: what a crash can re-send ----------------------------------------------


class SlowSender:
    """Sends like a platform over the network: each send takes a while."""

    channel = "console"

    def __init__(self, engine: Any, clock: Any, advance: float = 0.0) -> None:
        self.engine, self.clock, self.advance = engine, clock, advance
        self.sent: list[str] = []
        self.unrecorded_before: list[list[str]] = []  # at each send: earlier sends not yet sent

    async def send(self, message: Any) -> str | None:
        await asyncio.sleep(0.1)
        with new_session(self.engine) as session:
            status = dict(session.execute(select(Outbox.key, Outbox.status)).all())
        self.unrecorded_before.append([t for t in self.sent if status[f"k-{t}"] != "sent"])
        self.sent.append(message.text)
        self.clock.advance(seconds=self.advance)
        return f"id-{len(self.sent)}"


def _queue(engine: Any, clock: Any, count: int) -> None:
    with transaction(engine) as session:
        rows = [
            outbox.OutgoingRow(f"k-m{i}", "console", f"chat{i}", {"text": f"m{i}"})
            for i in range(count)
        ]
        outbox.enqueue(session, rows, clock())


async def test_each_send_is_recorded_while_the_batch_goes_on(engine, clock) -> None:  # type: ignore[no-untyped-def]
    """A dispatcher killed mid-batch re-sends what was in flight, not the whole batch so far."""
    sender = SlowSender(engine, clock)
    _queue(engine, clock, 5)
    # One send at a time, so each one can see whether the ones before it were recorded.
    dispatcher = Dispatcher(engine, {"console": sender}, clock, concurrency=1)
    assert await dispatcher.run_once() == 5
    assert sender.sent == ["m0", "m1", "m2", "m3", "m4"]
    assert sender.unrecorded_before == [[], [], [], [], []]
    with new_session(engine) as session:
        assert set(session.scalars(select(Outbox.status))) == {"sent"}


async def test_a_batch_outliving_half_its_lease_gives_the_rest_back(engine, clock) -> None:  # type: ignore[no-untyped-def]
    """Another dispatcher takes over rows whose lease ran out (it cannot tell slow from dead):
    a slow batch stops sending before that can happen, and gives the rest back unsent."""
    sender = SlowSender(engine, clock, advance=3)  # every send takes 3 s of the clock
    _queue(engine, clock, 5)
    dispatcher = Dispatcher(
        engine, {"console": sender}, clock, lease=timedelta(seconds=10), concurrency=1
    )
    await dispatcher.run_once()
    assert sender.sent == ["m0", "m1"], "sends start only in the first half of the lease"
    with new_session(engine) as session:
        rows = {r.key: r for r in session.scalars(select(Outbox))}
    assert [rows[f"k-m{i}"].status for i in range(5)] == ["sent"] * 2 + ["pending"] * 3
    assert [rows[f"k-m{i}"].attempts for i in range(2, 5)] == [0, 0, 0], "given back untried"
    await dispatcher.drain()
    assert len(sender.sent) == 5
