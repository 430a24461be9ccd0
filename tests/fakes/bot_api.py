"""A fake Telegram Bot API server on loopback, for tests and benchmarks.

Real python-telegram-bot clients talk to it through ``base_url``/``base_file_url``::

    with FakeBotAPI() as fake:
        bot = telegram.Bot(fake.token, base_url=fake.base_url, base_file_url=fake.base_file_url)
        ...
        fake.wait_for(lambda calls: any(c.method == "sendMessage" for c in calls))

The server is a Starlette app run by uvicorn in a background thread (its own event loop).
It records every API call, answers with realistic JSON that PTB parses into its objects, serves
``getUpdates`` from a queue filled by :meth:`FakeBotAPI.push_update` (long polling, at most 1 s per
request), serves file downloads registered with :meth:`FakeBotAPI.add_file` and injects failures
with :meth:`FakeBotAPI.fail_next`.

Opt-in flood limits (``FakeBotAPI(limits=TelegramLimits())`` or :meth:`FakeBotAPI.enforce_limits`):
sliding windows over the accepted message-creating calls (``LIMITED_METHODS``), measured on the
fake's own clock (``time.monotonic`` unless ``clock=`` is given): by default 30 in any 1 s per
bot, 3 in any 3 s per private chat (one a second, a short burst tolerated) and 20 in any 60 s
per group (chat id < 0). A call past a limit is answered like Telegram does, HTTP 429
``{"ok":false,"error_code":429,"description":"Too Many Requests: retry after N",
"parameters":{"retry_after":N}}`` with N the whole seconds until the window has room (at least
1); it is recorded (``error_code=429``, ``retry_after=N``), counted (:attr:`FakeBotAPI.throttled`)
and not delivered. Windows can be scaled down (``TelegramLimits(group_chat=Limit(20, 2.0))``) so
tests run in seconds. Without limits nothing is refused.

How PTB encodes requests (22.x): every call is a POST with a *form* body, never JSON.
Without uploads it is ``application/x-www-form-urlencoded``; with an ``InputFile`` it is
``multipart/form-data``. Plain ``str`` values are sent as is; everything else (ints, bools,
floats, dicts, lists, e.g. ``chat_id``, ``reply_markup``, ``entities``) is ``json.dumps``-ed.
The fake therefore JSON-decodes every form field except free-text and file-id fields
(``TEXT_FIELDS``), so ``params["chat_id"]`` is an ``int`` and ``params["reply_markup"]`` a dict.

:class:`UpdateFactory` builds real-shaped update dicts for :meth:`FakeBotAPI.push_update` or
``telegram.Update.de_json``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.loopback import LoopbackServer

__all__ = [
    "LIMITED_METHODS",
    "TEXT_FIELDS",
    "Call",
    "Delivered",
    "FakeBotAPI",
    "Limit",
    "TelegramLimits",
    "UpdateFactory",
]

JSON = dict[str, Any]

#: Form fields that are kept as strings (free text and ids). Every other form field is
#: JSON-decoded when possible, because PTB ``json.dumps`` every non-``str`` value.
TEXT_FIELDS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "inline_query_id",
        "inline_message_id",
        "business_connection_id",
        "message_effect_id",
        "url",
        "title",
        "address",
        "description",
        "short_description",
        "name",
        "query",
        "file_id",
        "secret_token",
        "ip_address",
        "foursquare_id",
        "foursquare_type",
        "google_place_id",
        "google_place_type",
        "emoji",
        "question",
        "explanation",
        "payload",
        "currency",
        "start_parameter",
        "provider_token",
        "language_code",
        "action",
        "phone_number",
        "first_name",
        "last_name",
        "vcard",
        "game_short_name",
        "custom_title",
        "next_offset",
        "switch_pm_text",
        "switch_pm_parameter",
        "set_name",
        "custom_emoji_id",
        "photo",
        "document",
        "video",
        "audio",
        "animation",
        "voice",
        "video_note",
        "sticker",
        "thumbnail",
        "certificate",
    }
)

#: Methods whose successful calls :meth:`FakeBotAPI.sent_messages` returns.
SEND_METHODS = ("sendMessage", "sendPhoto", "sendLocation", "sendVenue", "sendDocument")

#: Methods that put a message in a chat: what Telegram's flood limits count (one per call, an
#: album included). Edits, chat actions, callback answers and getters are exempt: Telegram does
#: not document limits for them. Lapor's pacer counts every outbox row, edits too, so exempting
#: edits here only makes the fake more lenient for them, never stricter than the pacer.
LIMITED_METHODS = frozenset(
    m.lower()
    for m in (
        *SEND_METHODS,
        "sendMediaGroup",
        "sendAnimation",
        "sendAudio",
        "sendVideo",
        "sendVideoNote",
        "sendVoice",
        "sendSticker",
        "sendContact",
        "sendPoll",
        "sendDice",
        "copyMessage",
        "forwardMessage",
    )
)

_TRUE_METHODS = frozenset(
    m.lower()
    for m in (
        "answerCallbackQuery",
        "setMyCommands",
        "deleteMyCommands",
        "setChatMenuButton",
        "close",
        "logOut",
        "deleteMessage",
        "sendChatAction",
    )
)

_FAILURES: dict[str, tuple[int, str]] = {
    "forbidden": (403, "Forbidden: bot was blocked by the user"),
    "retry_after": (429, "Too Many Requests: retry after {retry_after}"),
    "migrate": (400, "Bad Request: group chat was upgraded to a supergroup chat"),
    "server_error": (502, "Bad Gateway"),
    "bad_request": (400, "Bad Request: chat not found"),
}

_MAX_STORED_MESSAGES = 10_000
_PHOTO_SIZES = ((90, 67), (320, 240), (1280, 960))
_PARAM_RE = re.compile(r'([\w*-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))')


@dataclass
class Call:
    """One API call received by the fake.

    ``error_code`` is the HTTP status of an injected failure (``fail_next``), of a call refused
    by the flood limits (429) or of an error answer (unknown file_id, wrong token), ``None``
    when the call succeeded. ``retry_after`` is set on every 429 answer; ``at`` is when the
    call arrived, on the fake's clock.
    """

    method: str
    params: dict[str, Any]
    chat_id: int | str | None
    error_code: int | None = field(default=None, compare=False)
    retry_after: int | None = field(default=None, compare=False)
    at: float = field(default=0.0, compare=False)


@dataclass(frozen=True)
class Limit:
    """At most ``count`` accepted calls in any ``seconds`` long window."""

    count: int
    seconds: float

    def __post_init__(self) -> None:
        if self.count < 1 or self.seconds <= 0:
            raise ValueError(f"a limit needs count >= 1 and seconds > 0, not {self}")


@dataclass(frozen=True)
class TelegramLimits:
    """Telegram's flood limits, as the fake enforces them (``None``: that limit is off).

    The numbers are Telegram's documented ones: about 30 messages a second per bot, one a
    second per private chat with short bursts tolerated (modelled as 3 in any 3 s, as
    ``bench/dispatch.py`` does), 20 a minute per group. Real-time tests scale the windows
    down, e.g. ``TelegramLimits(group_chat=Limit(20, 2.0))``.
    """

    overall: Limit | None = Limit(30, 1.0)
    private_chat: Limit | None = Limit(3, 3.0)
    group_chat: Limit | None = Limit(20, 60.0)
    methods: frozenset[str] = LIMITED_METHODS  # lower case
    #: Seconds a call may beat a window and still be accepted (0: exact). A client's pacer
    #: stamps a send before the request travels, the fake when it arrives, and two requests
    #: do not travel equally fast (a few ms on loopback): a send paced exactly at the limit
    #: can arrive a hair early.
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if self.jitter < 0:
            raise ValueError("jitter must not be negative")

    def for_chat(self, chat_id: int | str | None) -> Limit | None:
        """The per-chat limit: groups, supergroups (negative ids) and ``@channel`` names are
        not private chats."""
        if isinstance(chat_id, int) and chat_id > 0:
            return self.private_chat
        if chat_id is None:
            return None
        return self.group_chat


@dataclass(frozen=True)
class Delivered:
    """One message the fake accepted and put in a chat (see :meth:`FakeBotAPI.delivered`)."""

    method: str
    chat_id: int | str | None
    message_id: int
    text: str | None  # the text or caption
    at: float


@dataclass
class _FailRule:
    method: str  # lower case
    kind: str
    chat_id: int | None
    remaining: int
    retry_after: int
    migrate_to_chat_id: int | None


@dataclass
class _StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    content: bytes
    # What getFile reports as file_size (None: the real size). Telegram's sizes are not
    # a promise: a file may turn out larger than declared, and some have no size at all.
    declared_size: int | None = None
    # Zero bytes streamed after `content` (a large file without holding it in memory).
    padding: int = 0


class _Windows:
    """Sliding logs of accepted call times per scope: exact at any instant."""

    def __init__(self) -> None:
        self._times: dict[object, deque[float]] = {}

    def clear(self) -> None:
        self._times.clear()

    def wait(self, scope: object, limit: Limit, now: float, jitter: float = 0.0) -> float:
        """Seconds until one more call fits in the scope's window (0: it fits now)."""
        times = self._times.get(scope)
        if not times:
            return 0.0
        seconds = limit.seconds - jitter
        while times and times[0] <= now - seconds:  # half-open: [t, t + seconds)
            times.popleft()
        if len(times) < limit.count:
            return 0.0
        return times[-limit.count] + seconds - now

    def take(self, scope: object, now: float) -> None:
        self._times.setdefault(scope, deque()).append(now)


class _ApiError(Exception):
    def __init__(self, status: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


# --------------------------------------------------------------------------- request parsing


def _decode_value(key: str, value: str) -> Any:
    if key in TEXT_FIELDS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _header_params(value: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for m in _PARAM_RE.finditer(value):
        raw = m.group(2) if m.group(2) is not None else m.group(3)
        out[m.group(1).lower()] = raw.replace('\\"', '"').replace("%22", '"')
    return out


def _parse_multipart(body: bytes, content_type: str) -> tuple[dict[str, str], dict[str, JSON]]:
    """Minimal multipart/form-data parser (python-multipart is not installed)."""
    boundary = _header_params(content_type).get("boundary")
    if not boundary:
        raise _ApiError(400, "Bad Request: multipart boundary missing")
    fields: dict[str, str] = {}
    files: dict[str, JSON] = {}
    delimiter = b"\r\n--" + boundary.encode("latin-1")
    segments = (b"\r\n" + body).split(delimiter)
    for segment in segments[1:]:
        if segment.startswith(b"--"):
            break
        head, sep, content = segment.partition(b"\r\n\r\n")
        if not sep:
            continue
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, colon, val = line.partition(":")
            if colon:
                headers[name.strip().lower()] = val.strip()
        disposition = _header_params(headers.get("content-disposition", ""))
        name = disposition.get("name")
        if name is None:
            continue
        filename = disposition.get("filename")
        if filename is None and "filename*" in disposition:
            filename = disposition["filename*"].split("''", 1)[-1]
        if filename is not None:
            files[name] = {
                "filename": filename,
                "content_type": headers.get("content-type", "application/octet-stream"),
                "size": len(content),
                "data": content,
            }
        else:
            fields[name] = content.decode("utf-8", "replace")
    return fields, files


async def _parse_params(request: Request) -> dict[str, Any]:
    params: dict[str, Any] = {
        k: _decode_value(k, v) for k, v in parse_qsl(request.url.query, keep_blank_values=True)
    }
    body = await request.body()
    if not body:
        return params
    content_type = request.headers.get("content-type", "")
    ctype = content_type.split(";", 1)[0].strip().lower()
    if ctype == "application/json":
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise _ApiError(400, "Bad Request: invalid JSON body") from exc
        if isinstance(data, dict):
            params.update(data)
    elif ctype == "multipart/form-data":
        fields, files = _parse_multipart(body, content_type)
        params.update({k: _decode_value(k, v) for k, v in fields.items()})
        # Resolve attach://name references (media groups, thumbnails) to the uploaded file;
        # uploads not referenced that way (sendPhoto's "photo", ...) become params themselves.
        referenced: set[str] = set()

        def resolve(value: Any) -> Any:
            if isinstance(value, str) and value.startswith("attach://"):
                name = value[len("attach://") :]
                if name in files:
                    referenced.add(name)
                    return files[name]
            return value

        for key, value in list(params.items()):
            params[key] = resolve(value)
            if isinstance(value, list):
                for item in value:
                    if isinstance(item, dict):
                        for k2, v2 in list(item.items()):
                            item[k2] = resolve(v2)
        for name, upload in files.items():
            if name not in referenced:
                params.setdefault(name, upload)
    else:  # application/x-www-form-urlencoded (PTB's default) or anything else
        text = body.decode("utf-8", "replace")
        params.update({k: _decode_value(k, v) for k, v in parse_qsl(text, keep_blank_values=True)})
    return params


def _chat_id_of(params: dict[str, Any]) -> int | str | None:
    chat_id = params.get("chat_id")
    if isinstance(chat_id, bool) or chat_id is None:
        return None
    if isinstance(chat_id, int):
        return chat_id
    if isinstance(chat_id, str):
        with contextlib.suppress(ValueError):
            return int(chat_id)
        return chat_id
    return None


def _json_response(status: int, payload: JSON) -> Response:
    return Response(
        json.dumps(payload, separators=(",", ":")).encode(),
        status_code=status,
        media_type="application/json",
    )


# --------------------------------------------------------------------------- the server


class FakeBotAPI:
    """Fake Telegram Bot API server; see the module docstring."""

    def __init__(
        self,
        token: str = "123456:TEST-token",
        bot_id: int = 123456,
        username: str = "lapor_test_bot",
        *,
        limits: TelegramLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token = token
        self.bot_id = bot_id
        self.username = username
        self.bot_user: JSON = {
            "id": bot_id,
            "is_bot": True,
            "first_name": "Lapor Test Bot",
            "username": username,
        }
        self._lock = threading.Lock()
        self._calls: list[Call] = []
        self._downloads: list[str] = []
        self._served: dict[str, int] = {}
        self._rules: list[_FailRule] = []
        self._files: dict[str, _StoredFile] = {}
        self._files_by_path: dict[str, _StoredFile] = {}
        self._messages: dict[tuple[int | str, int], JSON] = {}
        self._updates: list[JSON] = []
        self._next_update_id = 1
        self._message_ids = itertools.count(1)
        self._file_seq = itertools.count(1)
        self._webhook_url = ""
        self.clock = clock
        self._limits = limits
        self._windows = _Windows()
        self._throttled = 0
        self._delivered: dict[int | str | None, list[Delivered]] = {}

        self._loop: asyncio.AbstractEventLoop | None = None
        self._update_event: asyncio.Event | None = None
        self._stopping = False

        self.app = Starlette(
            routes=[
                Route("/bot{token}/{method}", self._api_endpoint, methods=["GET", "POST"]),
                Route("/file/bot{token}/{file_path:path}", self._file_endpoint, methods=["GET"]),
            ]
        )
        self._loopback = LoopbackServer(self.app, "FakeBotAPI")

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> None:
        self._stopping = False

        def on_loop(loop: asyncio.AbstractEventLoop) -> None:
            self._loop = loop
            self._update_event = asyncio.Event()

        self._loopback.start(on_loop)

    def stop(self) -> None:
        if not self._loopback.running:
            return
        self._stopping = True
        self._loopback.call_soon(self._wake_pollers)  # long polls return before shutdown
        self._loopback.stop()
        self._loop = self._update_event = None

    def __enter__(self) -> FakeBotAPI:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._loopback.port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    # ----------------------------------------------------------------- inspection

    @property
    def calls(self) -> list[Call]:
        """A copy of every API call received, in order (failed ones included)."""
        with self._lock:
            return list(self._calls)

    @property
    def downloads(self) -> list[str]:
        """file_paths downloaded through ``base_file_url``, in order."""
        with self._lock:
            return list(self._downloads)

    def calls_to(self, method: str) -> list[Call]:
        """Calls of one method (compared case-insensitively, like Telegram)."""
        m = method.lower()
        return [c for c in self.calls if c.method.lower() == m]

    def sent_messages(self, chat_id: int | None = None) -> list[dict]:
        """Params of successful sendMessage/sendPhoto/sendLocation/sendVenue/sendDocument calls
        (optionally for one chat), each with a ``"method"`` key. Calls answered with an
        injected failure are left out: look at :meth:`calls_to` for those."""
        wanted = {m.lower() for m in SEND_METHODS}
        return [
            {"method": c.method, **c.params}
            for c in self.calls
            if c.method.lower() in wanted
            and c.error_code is None
            and (chat_id is None or c.chat_id == chat_id)
        ]

    @property
    def limits(self) -> TelegramLimits | None:
        return self._limits

    @property
    def throttled(self) -> int:
        """How many calls the flood limits refused with 429 (``fail_next`` ones not counted)."""
        with self._lock:
            return self._throttled

    def delivered(self, chat_id: int | str | None = None) -> list[Delivered]:
        """Messages accepted into one chat, in the order the chat got them (all chats, in
        arrival order, without ``chat_id``). Refused calls never appear here."""
        with self._lock:
            if chat_id is not None:
                return list(self._delivered.get(chat_id, ()))
            return sorted(
                (d for log in self._delivered.values() for d in log), key=lambda d: d.message_id
            )

    def delivered_by_chat(self) -> dict[int | str | None, list[Delivered]]:
        """The per-chat logs of delivered messages (copies)."""
        with self._lock:
            return {chat: list(log) for chat, log in self._delivered.items()}

    def _summary(self) -> str:
        calls = self.calls
        lines = [f"{len(calls)} call(s) received:"]
        for c in calls[-50:]:
            shown = {
                k: (f"<{v.get('size')} bytes>" if isinstance(v, dict) and "data" in v else v)
                for k, v in c.params.items()
            }
            text = repr(shown)
            if len(text) > 200:
                text = text[:200] + "..."
            err = f" -> {c.error_code}" if c.error_code else ""
            lines.append(f"  {c.method}(chat_id={c.chat_id!r}){err} {text}")
        return "\n".join(lines)

    def wait_for(self, predicate: Callable[[list[Call]], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self.calls):
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout}s; {self._summary()}")
            time.sleep(0.005)

    async def wait_for_async(
        self, predicate: Callable[[list[Call]], bool], timeout: float = 5.0
    ) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self.calls):
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout}s; {self._summary()}")
            await asyncio.sleep(0.005)

    # ----------------------------------------------------------------- setup

    def add_file(
        self,
        file_id: str,
        content: bytes,
        file_unique_id: str | None = None,
        file_path: str | None = None,
        *,
        declared_size: int | None = None,
        padding: int = 0,
    ) -> None:
        """Make ``getFile(file_id)`` work and serve ``content`` at its file_path.

        ``declared_size`` is the file_size getFile reports (the real size by default);
        ``padding`` zero bytes are streamed after ``content``, so a test can serve a file
        far larger than it says without building it in memory.
        """
        with self._lock:
            stored = self._add_file_locked(file_id, content, file_unique_id, file_path)
            stored.declared_size = declared_size
            stored.padding = padding

    def served_bytes(self, file_path: str) -> int:
        """Bytes of ``file_path`` the server has handed to the network so far (all downloads)."""
        with self._lock:
            return self._served.get(file_path, 0)

    def _add_file_locked(
        self,
        file_id: str,
        content: bytes,
        file_unique_id: str | None = None,
        file_path: str | None = None,
    ) -> _StoredFile:
        if file_path is None:
            file_path = f"photos/file_{next(self._file_seq)}.jpg"
        stored = _StoredFile(file_id, file_unique_id or f"u-{file_id}", file_path, bytes(content))
        old = self._files.get(file_id)
        if old is not None:
            self._files_by_path.pop(old.file_path, None)
        self._files[file_id] = stored
        self._files_by_path[file_path] = stored
        return stored

    def push_update(self, update: dict) -> None:
        """Queue an update for getUpdates; assigns an increasing ``update_id`` when missing."""
        update = dict(update)
        with self._lock:
            if "update_id" not in update:
                update["update_id"] = self._next_update_id
            self._next_update_id = max(self._next_update_id, int(update["update_id"]) + 1)
            self._updates.append(update)
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._wake_pollers)

    @property
    def pending_updates(self) -> list[JSON]:
        with self._lock:
            return list(self._updates)

    def fail_next(
        self,
        method: str,
        kind: str,
        *,
        chat_id: int | None = None,
        times: int = 1,
        retry_after: int = 1,
        migrate_to_chat_id: int | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` (for ``chat_id`` if given) with an
        error: ``forbidden`` (403), ``retry_after`` (429), ``migrate`` (400 with
        migrate_to_chat_id), ``server_error`` (502) or ``bad_request`` (400 chat not found)."""
        if kind not in _FAILURES:
            raise ValueError(f"unknown failure kind {kind!r}; one of {sorted(_FAILURES)}")
        if kind == "migrate" and migrate_to_chat_id is None:
            base = chat_id if isinstance(chat_id, int) else 1234567890
            migrate_to_chat_id = -(1_000_000_000_000 + abs(base))
        with self._lock:
            self._rules.append(
                _FailRule(method.lower(), kind, chat_id, times, retry_after, migrate_to_chat_id)
            )

    def enforce_limits(self, limits: TelegramLimits | None) -> None:
        """Turn the flood limits on (or change them), or off with ``None``. Starts with empty
        windows."""
        with self._lock:
            self._limits = limits
            self._windows.clear()

    def reset(self) -> None:
        """Forget calls, downloads, failure rules, pending updates, sent messages, the
        delivered log, the limits' windows and 429 count, and the webhook. Files and the
        limits themselves stay; update_id and message_id keep increasing."""
        with self._lock:
            self._windows.clear()
            self._throttled = 0
            self._delivered.clear()
            self._calls.clear()
            self._downloads.clear()
            self._served.clear()
            self._rules.clear()
            self._updates.clear()
            self._messages.clear()
            self._webhook_url = ""

    # ----------------------------------------------------------------- HTTP handlers

    def _wake_pollers(self) -> None:
        if self._update_event is not None:
            self._update_event.set()

    async def _api_endpoint(self, request: Request) -> Response:
        method = request.path_params["method"]
        if request.path_params["token"] != self.token:
            return _json_response(
                401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
            )
        try:
            params = await _parse_params(request)
        except _ApiError as err:
            return self._error_response(err)
        call = Call(method=method, params=params, chat_id=_chat_id_of(params), at=self.clock())
        lower = method.lower()
        with self._lock:
            self._calls.append(call)
            rule = self._take_rule(lower, call.chat_id)
        try:
            if rule is not None:
                raise self._rule_error(rule)
            if lower == "getupdates":
                result: Any = await self._get_updates(params)
            else:
                with self._lock:
                    # Check, deliver and count under one lock: concurrent calls cannot
                    # both take the last slot of a window.
                    scopes = self._check_limits(lower, call)
                    result = self._dispatch(lower, params, call.chat_id)
                    for scope in scopes:
                        self._windows.take(scope, call.at)
                    self._log_delivery(lower, call, result)
        except _ApiError as err:
            call.error_code = err.status
            if err.parameters and "retry_after" in err.parameters:
                call.retry_after = err.parameters["retry_after"]
            return self._error_response(err)
        return _json_response(200, {"ok": True, "result": result})

    def _check_limits(self, method: str, call: Call) -> list[object]:
        """The windows the call counts in, or 429 when one of them is full (lock held)."""
        limits = self._limits
        if limits is None or method not in limits.methods:
            return []
        checks: list[tuple[object, Limit]] = []
        if limits.overall is not None:
            checks.append(("bot", limits.overall))
        chat_limit = limits.for_chat(call.chat_id)
        if chat_limit is not None:
            checks.append((("chat", call.chat_id), chat_limit))
        wait = max(
            (self._windows.wait(scope, lim, call.at, limits.jitter) for scope, lim in checks),
            default=0.0,
        )
        if wait > 0:
            self._throttled += 1
            # Telegram says whole seconds, never 0; rounded up, so retrying after it works.
            retry_after = max(1, math.ceil(wait - 1e-9))
            raise _ApiError(
                429,
                f"Too Many Requests: retry after {retry_after}",
                {"retry_after": retry_after},
            )
        return [scope for scope, _ in checks]

    def _log_delivery(self, method: str, call: Call, result: Any) -> None:
        if method not in LIMITED_METHODS:
            return
        messages = result if isinstance(result, list) else [result]
        for msg in messages:
            if not isinstance(msg, dict) or "message_id" not in msg:
                continue
            text = msg.get("text", msg.get("caption"))
            if method == "copymessage":
                text = None
            self._delivered.setdefault(call.chat_id, []).append(
                Delivered(call.method, call.chat_id, msg["message_id"], text, call.at)
            )

    async def _file_endpoint(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return _json_response(
                401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
            )
        path = request.path_params["file_path"]
        with self._lock:
            stored = self._files_by_path.get(path)
            if stored is not None:
                self._downloads.append(path)
        if stored is None:
            return _json_response(404, {"ok": False, "error_code": 404, "description": "Not Found"})
        if not stored.padding:
            with self._lock:
                self._served[path] = self._served.get(path, 0) + len(stored.content)
            return Response(stored.content, media_type="application/octet-stream")
        return StreamingResponse(self._stream(path, stored), media_type="application/octet-stream")

    async def _stream(self, path: str, stored: _StoredFile) -> AsyncIterator[bytes]:
        """The content, then the padding in 64 KiB pieces, counting what went out."""
        zeros = bytes(64 * 1024)
        pieces = [stored.content]
        left = stored.padding
        while True:
            for piece in pieces:
                # Yield to the loop: once the client hangs up, uvicorn's sends return at
                # once, and only a pause lets Starlette's disconnect watcher stop us.
                await asyncio.sleep(0)
                with self._lock:
                    self._served[path] = self._served.get(path, 0) + len(piece)
                yield piece
            if left <= 0:
                return
            pieces = [zeros[: min(left, len(zeros))]]
            left -= len(pieces[0])

    @staticmethod
    def _error_response(err: _ApiError) -> Response:
        payload: JSON = {"ok": False, "error_code": err.status, "description": err.description}
        if err.parameters:
            payload["parameters"] = err.parameters
        return _json_response(err.status, payload)

    def _take_rule(self, method: str, chat_id: int | str | None) -> _FailRule | None:
        for rule in self._rules:
            if rule.method == method and (rule.chat_id is None or rule.chat_id == chat_id):
                rule.remaining -= 1
                if rule.remaining <= 0:
                    self._rules.remove(rule)
                return rule
        return None

    @staticmethod
    def _rule_error(rule: _FailRule) -> _ApiError:
        status, description = _FAILURES[rule.kind]
        if rule.kind == "retry_after":
            return _ApiError(
                status,
                description.format(retry_after=rule.retry_after),
                {"retry_after": rule.retry_after},
            )
        if rule.kind == "migrate":
            return _ApiError(status, description, {"migrate_to_chat_id": rule.migrate_to_chat_id})
        return _ApiError(status, description)

    async def _get_updates(self, params: dict[str, Any]) -> list[JSON]:
        offset = int(params.get("offset") or 0)
        limit = max(1, min(int(params.get("limit") or 100), 100))
        timeout = float(params.get("timeout") or 0)
        deadline = time.monotonic() + min(max(timeout, 0.0), 1.0)
        event = self._update_event
        while True:
            if event is not None:
                event.clear()
            with self._lock:
                if offset < 0:
                    self._updates = self._updates[offset:]
                elif offset:
                    self._updates = [u for u in self._updates if u["update_id"] >= offset]
                batch = self._updates[:limit]
            remaining = deadline - time.monotonic()
            if batch or remaining <= 0 or self._stopping or event is None:
                return batch
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    # ----------------------------------------------------------------- results

    def _chat(self, chat_id: int | str | None) -> JSON:
        if isinstance(chat_id, int):
            if chat_id > 0:
                return {"id": chat_id, "type": "private", "first_name": "Siti"}
            return {"id": chat_id, "type": "supergroup", "title": "Grup Warga"}
        if isinstance(chat_id, str):
            return {
                "id": -1009999999999,
                "type": "channel",
                "title": chat_id.lstrip("@"),
                "username": chat_id.lstrip("@"),
            }
        raise _ApiError(400, "Bad Request: chat_id is empty")

    def _new_message(self, chat_id: int | str | None, params: dict[str, Any]) -> JSON:
        chat = self._chat(chat_id)
        msg: JSON = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat,
            "from": dict(self.bot_user),
        }
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            msg["reply_markup"] = markup
        self._remember(msg)
        return msg

    def _remember(self, msg: JSON) -> None:
        """Keep the bot's messages so edits can echo them (bounded for benchmarks)."""
        self._messages[(msg["chat"]["id"], msg["message_id"])] = msg
        if len(self._messages) > _MAX_STORED_MESSAGES:
            del self._messages[next(iter(self._messages))]

    def _photo_sizes(self, photo: Any) -> list[JSON]:
        if isinstance(photo, dict) and "data" in photo:  # uploaded: register it for getFile
            n = next(self._file_seq)
            file_id = f"AgACAgUpload{n}"
            stored = self._add_file_locked(
                file_id, photo["data"], f"AQADUp{n}", f"photos/upload_{n}.jpg"
            )
            size = len(stored.content)
        else:
            file_id = str(photo)
            known = self._files.get(file_id)
            size = len(known.content) if known else 123_456
        sizes = []
        for (w, h), suffix in zip(_PHOTO_SIZES, ("-s", "-m", ""), strict=True):
            sizes.append(
                {
                    "file_id": f"{file_id}{suffix}",
                    "file_unique_id": f"u-{file_id}{suffix}",
                    "width": w,
                    "height": h,
                    "file_size": max(1, size * w // 1280) if suffix else size,
                }
            )
        return sizes

    def _edit(self, params: dict[str, Any], chat_id: int | str | None) -> JSON | bool:
        if params.get("inline_message_id"):
            return True
        message_id = params.get("message_id")
        if not isinstance(message_id, int):
            raise _ApiError(400, "Bad Request: message to edit not found")
        chat = self._chat(chat_id)
        msg = self._messages.get((chat["id"], message_id))
        if msg is None:
            msg = {
                "message_id": message_id,
                "date": int(time.time()) - 1,
                "chat": chat,
                "from": dict(self.bot_user),
            }
            self._remember(msg)
        msg["edit_date"] = int(time.time())
        return msg

    def _dispatch(self, method: str, params: dict[str, Any], chat_id: int | str | None) -> Any:
        if method == "getme":
            return {
                **self.bot_user,
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
                "can_connect_to_business": False,
                "has_main_web_app": False,
            }
        if method == "sendmessage":
            msg = self._new_message(chat_id, params)
            msg["text"] = str(params.get("text", ""))
            if params.get("entities"):
                msg["entities"] = params["entities"]
            return msg
        if method == "sendphoto":
            msg = self._new_message(chat_id, params)
            msg["photo"] = self._photo_sizes(params.get("photo"))
            self._caption(msg, params)
            return msg
        if method == "senddocument":
            msg = self._new_message(chat_id, params)
            doc = params.get("document")
            n = next(self._file_seq)
            if isinstance(doc, dict) and "data" in doc:
                stored = self._add_file_locked(
                    f"BQACAgUpload{n}", doc["data"], f"AgADDoc{n}", f"documents/upload_{n}"
                )
                msg["document"] = {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.file_unique_id,
                    "file_name": doc["filename"],
                    "mime_type": doc["content_type"],
                    "file_size": doc["size"],
                }
            else:
                msg["document"] = {"file_id": str(doc), "file_unique_id": f"u-{doc}"}
            self._caption(msg, params)
            return msg
        if method in ("sendlocation", "sendvenue"):
            msg = self._new_message(chat_id, params)
            location: JSON = {
                "latitude": float(params.get("latitude", 0)),
                "longitude": float(params.get("longitude", 0)),
            }
            if params.get("live_period"):
                location["live_period"] = params["live_period"]
            msg["location"] = location
            if method == "sendvenue":
                msg["venue"] = {
                    "location": location,
                    "title": params.get("title", ""),
                    "address": params.get("address", ""),
                }
            return msg
        if method == "sendmediagroup":
            messages = []
            group_id = str(next(self._file_seq) + 10_000_000)
            for item in params.get("media") or []:
                msg = self._new_message(chat_id, {})
                msg["media_group_id"] = group_id
                if isinstance(item, dict) and item.get("type") == "photo":
                    msg["photo"] = self._photo_sizes(item.get("media"))
                messages.append(msg)
            return messages
        if method in ("copymessage", "forwardmessage"):
            msg = self._new_message(chat_id, {})
            return {"message_id": msg["message_id"]} if method == "copymessage" else msg
        if method == "editmessagetext":
            msg = self._edit(params, chat_id)
            if isinstance(msg, dict):
                msg["text"] = str(params.get("text", ""))
                self._set_markup(msg, params)
            return msg
        if method == "editmessagecaption":
            msg = self._edit(params, chat_id)
            if isinstance(msg, dict):
                self._caption(msg, params)
                self._set_markup(msg, params)
            return msg
        if method == "editmessagereplymarkup":
            msg = self._edit(params, chat_id)
            if isinstance(msg, dict):
                self._set_markup(msg, params)
            return msg
        if method == "getfile":
            stored = self._files.get(str(params.get("file_id", "")))
            if stored is None:
                raise _ApiError(400, "Bad Request: invalid file_id")
            return {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "file_size": (
                    stored.declared_size
                    if stored.declared_size is not None
                    else len(stored.content) + stored.padding
                ),
                "file_path": stored.file_path,
            }
        if method == "setwebhook":
            self._webhook_url = str(params.get("url", ""))
            return True
        if method == "deletewebhook":
            self._webhook_url = ""
            if params.get("drop_pending_updates"):
                self._updates.clear()
            return True
        if method == "getwebhookinfo":
            return {
                "url": self._webhook_url,
                "has_custom_certificate": False,
                "pending_update_count": len(self._updates),
            }
        if method in _TRUE_METHODS:
            return True
        return True

    @staticmethod
    def _caption(msg: JSON, params: dict[str, Any]) -> None:
        if params.get("caption") is not None:
            msg["caption"] = str(params["caption"])
            if params.get("caption_entities"):
                msg["caption_entities"] = params["caption_entities"]

    @staticmethod
    def _set_markup(msg: JSON, params: dict[str, Any]) -> None:
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            msg["reply_markup"] = markup
        else:
            msg.pop("reply_markup", None)


# --------------------------------------------------------------------------- update factory


class UpdateFactory:
    """Builds real-shaped update dicts (incrementing update_id and message_id).

    The default user has an id above 2**32 on purpose; the private chat id equals the user id.
    """

    USER: JSON = {  # noqa: RUF012 - read-only template, copied on use
        "id": 7_000_000_001,
        "is_bot": False,
        "first_name": "Siti",
        "language_code": "id",
    }
    GROUP_CHAT_ID = -1001234567890

    def __init__(
        self,
        *,
        bot_id: int = 123456,
        bot_username: str = "lapor_test_bot",
        first_update_id: int = 1,
        first_message_id: int = 1,
    ) -> None:
        self.user: JSON = dict(self.USER)
        self.bot_user: JSON = {
            "id": bot_id,
            "is_bot": True,
            "first_name": "Lapor Test Bot",
            "username": bot_username,
        }
        self._update_ids = itertools.count(first_update_id)
        self._message_ids = itertools.count(first_message_id)
        self._callback_ids = itertools.count(1)

    # ----------------------------------------------------------------- helpers

    @staticmethod
    def make_user(user_id: int, first_name: str = "Budi", **extra: Any) -> JSON:
        """Another (human) user, e.g. a second group member."""
        return {"id": user_id, "is_bot": False, "first_name": first_name, **extra}

    @staticmethod
    def now() -> int:
        return int(time.time())

    def _chat(self, chat_id: int | None, user: JSON) -> JSON:
        if chat_id is None or chat_id == user["id"]:
            chat: JSON = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
            if "username" in user:
                chat["username"] = user["username"]
            return chat
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": "Warga"}
        return {"id": chat_id, "type": "supergroup", "title": "Grup Warga RW 05"}

    def _message(self, chat_id: int | None, user: JSON | None, **content: Any) -> JSON:
        user = dict(user or self.user)
        return {
            "message_id": next(self._message_ids),
            "date": self.now(),
            "chat": self._chat(chat_id, user),
            "from": user,
            **content,
        }

    def _update(self, **payload: Any) -> JSON:
        return {"update_id": next(self._update_ids), **payload}

    # ----------------------------------------------------------------- updates

    def text(self, text: str, chat_id: int | None = None, user: JSON | None = None) -> JSON:
        return self._update(message=self._message(chat_id, user, text=text))

    def command(
        self, cmd: str, args: str = "", *, chat_id: int | None = None, user: JSON | None = None
    ) -> JSON:
        head = "/" + cmd.lstrip("/")
        text = f"{head} {args}" if args else head
        entities = [{"type": "bot_command", "offset": 0, "length": len(head)}]
        return self._update(message=self._message(chat_id, user, text=text, entities=entities))

    def photo(
        self,
        file_id: str,
        file_unique_id: str,
        caption: str | None = None,
        media_group_id: str | None = None,
        *,
        chat_id: int | None = None,
        user: JSON | None = None,
    ) -> JSON:
        sizes = []
        for (w, h), suffix in zip(_PHOTO_SIZES, ("-s", "-m", ""), strict=True):
            sizes.append(
                {
                    "file_id": f"{file_id}{suffix}",
                    "file_unique_id": f"{file_unique_id}{suffix}",
                    "width": w,
                    "height": h,
                    "file_size": 1500 * w // 90,
                }
            )
        content: JSON = {"photo": sizes}
        if caption is not None:
            content["caption"] = caption
        if media_group_id is not None:
            content["media_group_id"] = media_group_id
        return self._update(message=self._message(chat_id, user, **content))

    def document_image(
        self,
        file_id: str,
        file_unique_id: str,
        mime_type: str = "image/jpeg",
        file_name: str = "IMG_0001.jpg",
        *,
        caption: str | None = None,
        chat_id: int | None = None,
        user: JSON | None = None,
    ) -> JSON:
        document = {
            "file_id": file_id,
            "file_unique_id": file_unique_id,
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": 2_345_678,
            "thumbnail": {
                "file_id": f"{file_id}-t",
                "file_unique_id": f"{file_unique_id}-t",
                "width": 320,
                "height": 240,
                "file_size": 12_345,
            },
        }
        content: JSON = {"document": document}
        if caption is not None:
            content["caption"] = caption
        return self._update(message=self._message(chat_id, user, **content))

    def location(
        self,
        lat: float,
        lon: float,
        live_period: int | None = None,
        *,
        chat_id: int | None = None,
        user: JSON | None = None,
    ) -> JSON:
        location: JSON = {"latitude": lat, "longitude": lon}
        if live_period is not None:
            location["live_period"] = live_period
            location["horizontal_accuracy"] = 12.5
        return self._update(message=self._message(chat_id, user, location=location))

    def venue(
        self,
        lat: float,
        lon: float,
        title: str,
        address: str,
        *,
        chat_id: int | None = None,
        user: JSON | None = None,
    ) -> JSON:
        location = {"latitude": lat, "longitude": lon}
        venue = {"location": dict(location), "title": title, "address": address}
        return self._update(message=self._message(chat_id, user, location=location, venue=venue))

    def edited_location(
        self,
        lat: float,
        lon: float,
        message_id: int,
        *,
        live_period: int = 900,
        chat_id: int | None = None,
        user: JSON | None = None,
    ) -> JSON:
        """A live-location update: an ``edited_message`` of the original location message."""
        user = dict(user or self.user)
        now = self.now()
        edited = {
            "message_id": message_id,
            "date": now - 60,
            "edit_date": now,
            "chat": self._chat(chat_id, user),
            "from": user,
            "location": {
                "latitude": lat,
                "longitude": lon,
                "live_period": live_period,
                "horizontal_accuracy": 8.0,
            },
        }
        return self._update(edited_message=edited)

    def edited_text(
        self,
        text: str,
        message_id: int,
        *,
        chat_id: int | None = None,
        user: JSON | None = None,
    ) -> JSON:
        user = dict(user or self.user)
        now = self.now()
        edited = {
            "message_id": message_id,
            "date": now - 60,
            "edit_date": now,
            "chat": self._chat(chat_id, user),
            "from": user,
            "text": text,
        }
        return self._update(edited_message=edited)

    def sticker(self, *, chat_id: int | None = None, user: JSON | None = None) -> JSON:
        n = next(self._message_ids) + 1_000_000
        sticker = {
            "file_id": f"CAACAgIAAxkBStk{n}",
            "file_unique_id": f"AgADStk{n}",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": "👍",
            "set_name": "HotCherry",
            "file_size": 24_000,
        }
        return self._update(message=self._message(chat_id, user, sticker=sticker))

    def callback(
        self,
        data: str,
        message_id: int | None = None,
        chat_id: int | None = None,
        user: JSON | None = None,
        *,
        message_text: str = "Pilih kategori laporan:",
    ) -> JSON:
        """A button press on the bot's message ``message_id`` in ``chat_id``."""
        user = dict(user or self.user)
        if message_id is None:
            message_id = next(self._message_ids)
        message = {
            "message_id": message_id,
            "date": self.now() - 5,
            "chat": self._chat(chat_id, user),
            "from": dict(self.bot_user),
            "text": message_text,
            "reply_markup": {"inline_keyboard": [[{"text": "Pilih", "callback_data": data}]]},
        }
        query = {
            "id": f"{4_400_000_000_000_000 + next(self._callback_ids)}",
            "from": user,
            "message": message,
            "chat_instance": "-5812319432768497610",
            "data": data,
        }
        return self._update(callback_query=query)

    def group_text(self, text: str, chat_id: int = GROUP_CHAT_ID, user: JSON | None = None) -> JSON:
        return self._update(message=self._message(chat_id, user, text=text))
