"""A fake Twilio REST API (Programmable Messaging) on loopback, for tests and benchmarks.

The real ``twilio`` client talks to it through an HTTP client that rewrites
``https://*.twilio.com`` to the fake (:func:`twilio_client` builds one)::

    with FakeTwilioAPI() as fake:
        client = twilio_client(fake)
        client.messages.create(to="whatsapp:+6281...", from_="whatsapp:+1415...", body="hi")
        fake.wait_for(lambda msgs: len(msgs) == 1)

The server is a Starlette app run by uvicorn in a background thread (its own event loop). It
serves ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` (HTTP basic auth, Twilio's
validation errors, a realistic Message resource), records every create request in
:attr:`FakeTwilioAPI.messages`, injects errors with :meth:`FakeTwilioAPI.fail_next` and serves
inbound media registered with :meth:`FakeTwilioAPI.add_media` the way Twilio does: the media URL
needs basic auth and answers ``307`` to an unauthenticated "CDN" URL holding the bytes.

How the twilio client (9.x) encodes a create: a ``POST`` with an
``application/x-www-form-urlencoded`` body (``requests`` ``data=``), PascalCase names (``To``,
``From``, ``Body``, ``ContentSid``, ``ContentVariables``, ``StatusCallback``...), parameters left
unset are omitted, booleans are ``"true"``/``"false"``, and a list (``media_url=[...]``) becomes
the repeated field ``MediaUrl=a&MediaUrl=b`` (a plain ``str`` is sent once, as is). Headers:
``Authorization: Basic`` (account SID + auth token), ``User-Agent: twilio-python/<v> (...)``,
``X-Twilio-Client: python-<v>``, ``Accept: application/json``, ``Accept-Charset: utf-8``.
Error answers must *not* carry all of ``type``/``title``/``status``/``code`` (that RFC 9457 shape
becomes ``TwilioServiceException``); the legacy ``{code, message, more_info, status}`` shape used
here becomes ``TwilioRestException`` with ``.code`` from the body and ``.status`` from HTTP.

:class:`InboundFactory` builds real-shaped form bodies Twilio POSTs to *our* webhook (messages and
status callbacks) and :func:`signed_form` signs them like Twilio (``X-Twilio-Signature``).
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import itertools
import json
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator

from tests.fakes.loopback import LoopbackServer

if TYPE_CHECKING:
    from twilio.http.response import Response as TwilioResponse
    from twilio.rest import Client

__all__ = [
    "ACCOUNT_SID",
    "AUTH_TOKEN",
    "ERROR_MESSAGES",
    "FakeTwilioAPI",
    "InboundFactory",
    "RewritingHttpClient",
    "signed_form",
    "twilio_client",
]

JSON = dict[str, Any]

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
API_VERSION = "2010-04-01"

#: Twilio's texts for the error codes the fake produces (``fail_next`` accepts any code).
ERROR_MESSAGES: dict[int, str] = {
    20003: "Authenticate",
    20404: "The requested resource {path} was not found",
    20429: "Too Many Requests",
    20500: "Internal Server Error",
    21211: "Invalid 'To' Phone Number: {to}",
    21602: "Message body is required.",
    21603: "A 'From' phone number is required.",
    21604: "A 'To' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
    63016: (
        "Failed to send freeform message because you are outside the allowed window. "
        "If you are using WhatsApp, please use a Message Template."
    ),
}

_DEFAULT_STATUS = {21610: 400, 63016: 400, 21211: 400, 20429: 429, 20500: 500}

#: Form fields that may repeat; recorded as lists even when sent once.
LIST_FIELDS = frozenset({"MediaUrl", "PersistentAction"})


def _sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def _bare_number(address: str | None) -> str:
    """``whatsapp:+62...`` and ``+62...`` compare equal."""
    address = (address or "").strip()
    return address.removeprefix("whatsapp:")


def _error_body(code: int, status: int, message: str) -> JSON:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def _json_response(payload: JSON, status: int = 200, headers: dict[str, str] | None = None):
    all_headers = {"Twilio-Request-Id": _sid("RQ")}
    all_headers.update(headers or {})
    return Response(
        json.dumps(payload),
        status_code=status,
        media_type="application/json; charset=utf-8",
        headers=all_headers,
    )


@dataclass
class _FailRule:
    code: int
    status: int
    message: str | None
    to: str | None
    remaining: int


@dataclass
class _Media:
    name: str
    path: str
    content: bytes
    content_type: str
    cdn_token: str
    trickle: float = 0.0  # seconds the CDN takes to hand over the bytes, a piece at a time


class FakeTwilioAPI:
    """A loopback Twilio Messaging API. See the module docstring."""

    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self._lock = threading.Lock()
        self._messages: list[JSON] = []
        self._media_requests: list[JSON] = []
        self._rules: list[_FailRule] = []
        self._media: dict[str, _Media] = {}  # by URL path
        self._cdn: dict[str, _Media] = {}  # by token
        self._media_seq = itertools.count(1)
        # Where media redirects to: None is this server's own origin; set another origin
        # (e.g. ``http://localhost:PORT``, the same server under another name) to play a
        # CDN on a host of its own.
        self.cdn_base_url: str | None = None

        self.app = Starlette(
            routes=[
                Route(
                    "/2010-04-01/Accounts/{account_sid}/Messages.json",
                    self._create_message,
                    methods=["POST"],
                ),
                Route("/cdn/{token}", self._cdn_endpoint, methods=["GET"]),
                Route(
                    "/{path:path}",
                    self._fallback,
                    methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
                ),
            ]
        )

        self._loopback = LoopbackServer(self.app, "FakeTwilioAPI")

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> None:
        self._loopback.start()

    def stop(self) -> None:
        self._loopback.stop()

    def __enter__(self) -> FakeTwilioAPI:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._loopback.port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``: stands for ``https://api.twilio.com``."""
        return f"http://127.0.0.1:{self.port}"

    # ----------------------------------------------------------------- inspection

    @property
    def messages(self) -> list[dict]:
        """A copy of every message create request received, in order.

        Each is the form (single fields as ``str``; ``MediaUrl`` and other repeated fields as
        ``list[str]``) plus ``"sid"`` (``None`` when refused), ``"error_code"`` (``None`` when
        accepted) and ``"http_status"``. Refused requests (bad auth, validation, injected
        failures) are included."""
        with self._lock:
            return [dict(m) for m in self._messages]

    @property
    def media_requests(self) -> list[dict]:
        """Media GETs, in order: ``{"path", "had_auth", "status", "kind": "media"|"cdn"}``."""
        with self._lock:
            return [dict(r) for r in self._media_requests]

    def sent_to(self, to: str, *, accepted_only: bool = False) -> list[dict]:
        """Messages whose ``To`` is ``to`` (``whatsapp:`` prefix optional on either side).
        Refused ones are included unless ``accepted_only``."""
        want = _bare_number(to)
        return [
            m
            for m in self.messages
            if _bare_number(m.get("To")) == want and not (accepted_only and m["sid"] is None)
        ]

    def wait_for(self, predicate: Callable[[list[dict]], bool], timeout: float = 5.0) -> None:
        """Poll until ``predicate(messages)`` is true, else raise AssertionError."""
        deadline = time.monotonic() + timeout
        while not predicate(self.messages):
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout}s; {self._summary()}")
            time.sleep(0.005)

    def _summary(self) -> str:
        msgs = self.messages
        lines = [f"{len(msgs)} message create request(s) received:"]
        for m in msgs[-50:]:
            fields = {k: v for k, v in m.items() if k not in ("sid", "error_code", "http_status")}
            text = repr(fields)
            if len(text) > 200:
                text = text[:200] + "..."
            outcome = m["sid"] if m["sid"] else f"error {m['error_code']} ({m['http_status']})"
            lines.append(f"  {outcome}: {text}")
        return "\n".join(lines)

    # ----------------------------------------------------------------- control

    def fail_next(
        self,
        code: int,
        *,
        status: int | None = None,
        to: str | None = None,
        times: int = 1,
        message: str | None = None,
    ) -> None:
        """Answer the next ``times`` message creates (only those to ``to`` if given) with the
        Twilio error ``code``. HTTP status: ``status`` if given, else 400 for 21610/63016/21211,
        429 for 20429, 500 for 20500, 400 otherwise. Rules apply after auth and validation."""
        if times < 1:
            raise ValueError("times must be >= 1")
        http_status = status if status is not None else _DEFAULT_STATUS.get(code, 400)
        with self._lock:
            self._rules.append(_FailRule(code, http_status, message, to, times))

    def add_media(
        self,
        path: str,
        content: bytes,
        content_type: str = "image/jpeg",
        *,
        trickle: float = 0.0,
    ) -> str:
        """Serve ``content`` like an inbound WhatsApp attachment; return its ``MediaUrl0``.

        ``path`` starting with ``/`` is used as the URL path verbatim; anything else is a label
        (e.g. ``"pothole.jpg"``) and the URL gets Twilio's shape
        ``/2010-04-01/Accounts/{sid}/Messages/MM.../Media/ME...``. Media survive :meth:`reset`.
        ``trickle`` makes the CDN spread the bytes over that many seconds (a slow server)."""
        if path.startswith("/"):
            url_path = path
        else:
            url_path = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{_sid('MM')}" + (
                f"/Media/{_sid('ME')}"
            )
        media = _Media(
            path, url_path, bytes(content), content_type, secrets.token_urlsafe(24), trickle
        )
        with self._lock:
            old = self._media.pop(url_path, None)
            if old is not None:
                self._cdn.pop(old.cdn_token, None)
            self._media[url_path] = media
            self._cdn[media.cdn_token] = media
        return f"{self.base_url}{url_path}"

    def reset(self) -> None:
        """Forget messages, media requests and failure rules. Added media stay."""
        with self._lock:
            self._messages.clear()
            self._media_requests.clear()
            self._rules.clear()
            self.cdn_base_url = None

    # ----------------------------------------------------------------- HTTP handlers

    def _auth_ok(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return hmac.compare_digest(user, self.account_sid) and hmac.compare_digest(
            password, self.auth_token
        )

    def _error(self, code: int, status: int, **fmt: str) -> Response:
        message = ERROR_MESSAGES.get(code, f"Error {code}").format(**fmt)
        return _json_response(_error_body(code, status, message), status)

    async def _create_message(self, request: Request) -> Response:
        raw = (await request.body()).decode("utf-8", errors="replace")
        form: JSON = {}
        for key, value in parse_qsl(raw, keep_blank_values=True):
            if key in LIST_FIELDS:
                form.setdefault(key, []).append(value)
            elif key in form:
                prev = form[key]
                form[key] = [*prev, value] if isinstance(prev, list) else [prev, value]
            else:
                form[key] = value
        record = {**form, "sid": None, "error_code": None, "http_status": 201}

        def refuse(code: int, status: int, message: str | None = None) -> Response:
            record.update(error_code=code, http_status=status)
            with self._lock:
                self._messages.append(record)
            if message is not None:
                return _json_response(_error_body(code, status, message), status)
            return self._error(code, status, path=request.url.path, to=str(form.get("To", "")))

        if not self._auth_ok(request):
            return refuse(20003, 401)
        if request.path_params["account_sid"] != self.account_sid:
            return refuse(20404, 404)
        if not form.get("To"):
            return refuse(21604, 400)
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return refuse(21603, 400)
        if not (form.get("Body") or form.get("MediaUrl") or form.get("ContentSid")):
            return refuse(21602, 400)

        to = _bare_number(form["To"])
        with self._lock:
            for rule in self._rules:
                if rule.to is None or _bare_number(rule.to) == to:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._rules.remove(rule)
                    break
            else:
                rule = None
        if rule is not None:
            return refuse(rule.code, rule.status, rule.message)

        sid = _sid("SM")
        record["sid"] = sid
        with self._lock:
            self._messages.append(record)
        return _json_response(self._message_resource(sid, form), 201)

    def _message_resource(self, sid: str, form: JSON) -> JSON:
        now = format_datetime(datetime.now(UTC).replace(microsecond=0))
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}"
        media = form.get("MediaUrl") or []
        from_ = form.get("From") or None
        # Without From, Twilio picks a sender from the Messaging Service later: "accepted".
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": form.get("Body", ""),
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": from_,
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": str(len(media)),
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued" if from_ else "accepted",
            "subresource_uris": {
                "media": f"{uri}/Media.json",
                "feedback": f"{uri}/Feedback.json",
            },
            "to": form["To"],
            "uri": f"{uri}.json",
        }

    async def _fallback(self, request: Request) -> Response:
        path = request.url.path
        if request.method in ("GET", "HEAD"):
            with self._lock:
                media = self._media.get(path)
            if media is not None:
                return self._media_endpoint(request, media)
        return self._error(20404, 404, path=path)

    def _media_endpoint(self, request: Request, media: _Media) -> Response:
        had_auth = "authorization" in request.headers
        ok = self._auth_ok(request)
        status = 307 if ok else 401
        with self._lock:
            self._media_requests.append(
                {"path": media.path, "had_auth": had_auth, "status": status, "kind": "media"}
            )
        if not ok:
            return self._error(20003, 401)
        return Response(
            status_code=307,
            headers={"Location": f"{self.cdn_base_url or self.base_url}/cdn/{media.cdn_token}"},
        )

    async def _cdn_endpoint(self, request: Request) -> Response:
        token = request.path_params["token"]
        with self._lock:
            media = self._cdn.get(token)
            self._media_requests.append(
                {
                    "path": request.url.path,
                    "had_auth": "authorization" in request.headers,
                    "status": 200 if media else 404,
                    "kind": "cdn",
                }
            )
        if media is None:
            return Response("Not Found", status_code=404, media_type="text/plain")
        if media.trickle:
            return StreamingResponse(_trickled(media), media_type=media.content_type)
        return Response(media.content, media_type=media.content_type)


async def _trickled(media: _Media) -> AsyncIterator[bytes]:
    pieces = 40
    step = max(1, -(-len(media.content) // pieces))
    for start in range(0, len(media.content), step):
        await asyncio.sleep(media.trickle / pieces)
        yield media.content[start : start + step]


# --------------------------------------------------------------------- client helpers


class RewritingHttpClient(TwilioHttpClient):
    """Sends every ``https://*.twilio.com`` request to ``base_url`` instead (tests only)."""

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._target = urlsplit(base_url)

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> TwilioResponse:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if host == "twilio.com" or host.endswith(".twilio.com"):
            url = urlunsplit(
                (self._target.scheme, self._target.netloc, parts.path, parts.query, "")
            )
        return super().request(method, url, *args, **kwargs)


def twilio_client(fake: FakeTwilioAPI) -> Client:
    """A real ``twilio.rest.Client`` talking to ``fake``."""
    from twilio.rest import Client

    return Client(fake.account_sid, fake.auth_token, http_client=RewritingHttpClient(fake.base_url))


# --------------------------------------------------------------------- our webhook's side


def signed_form(
    url: str, params: dict[str, str], auth_token: str = AUTH_TOKEN
) -> tuple[dict[str, str], dict[str, str]]:
    """``(params, headers)`` for POSTing ``params`` to ``url`` as Twilio would, signed."""
    signature = RequestValidator(auth_token).compute_signature(url, params)
    return dict(params), {"X-Twilio-Signature": signature}


_MEDIA_TYPES = ("image", "video", "audio")


class InboundFactory:
    """Real-shaped Twilio WhatsApp inbound form bodies (what Twilio POSTs to our webhook).

    Every method takes ``**extra`` fields that override or add to the body; passing
    ``MessageSid`` also sets ``SmsMessageSid``/``SmsSid`` (unless those are given too)."""

    def __init__(
        self,
        to: str = "whatsapp:+14155238886",
        wa_id: str = "6281234567890",
        profile: str = "Siti",
        account_sid: str = ACCOUNT_SID,
    ) -> None:
        self.to = to
        self.wa_id = wa_id
        self.profile = profile
        self.account_sid = account_sid

    @property
    def from_(self) -> str:
        return f"whatsapp:+{self.wa_id}"

    def _inbound(
        self, message_type: str, body: str, extra: dict[str, Any], sid_prefix: str = "SM"
    ) -> dict[str, str]:
        sid = str(extra.get("MessageSid") or _sid(sid_prefix))
        metadata = {
            "type": "whatsapp",
            "data": {"context": {"ProfileName": self.profile, "WaId": self.wa_id}},
        }
        form = {
            "SmsMessageSid": sid,
            "NumMedia": "0",
            "ProfileName": self.profile,
            "MessageType": message_type,
            "SmsSid": sid,
            "WaId": self.wa_id,
            "SmsStatus": "received",
            "Body": body,
            "To": self.to,
            "NumSegments": "1",
            "ReferralNumMedia": "0",
            "MessageSid": sid,
            "AccountSid": self.account_sid,
            "From": self.from_,
            "ApiVersion": API_VERSION,
            "ChannelMetadata": json.dumps(metadata, separators=(",", ":")),
        }
        form.update({k: str(v) for k, v in extra.items()})
        return form

    def text(self, body: str, **extra: Any) -> dict[str, str]:
        return self._inbound("text", body, extra)

    def location(
        self,
        lat: float,
        lon: float,
        address: str | None = None,
        label: str | None = None,
        **extra: Any,
    ) -> dict[str, str]:
        fields: dict[str, Any] = {"Latitude": repr(float(lat)), "Longitude": repr(float(lon))}
        if address is not None:
            fields["Address"] = address
        if label is not None:
            fields["Label"] = label
        return self._inbound("location", "", {**fields, **extra})

    def media(self, urls: list[tuple[str, str]], body: str = "", **extra: Any) -> dict[str, str]:
        """``urls``: ``(url, content_type)`` pairs. MessageType follows the first content type
        (image/video/audio, else document). Inbound media messages have ``MM`` sids."""
        if not urls:
            raise ValueError("media() needs at least one (url, content_type)")
        major = urls[0][1].split("/", 1)[0]
        message_type = major if major in _MEDIA_TYPES else "document"
        fields: dict[str, Any] = {"NumMedia": str(len(urls))}
        for n, (url, content_type) in enumerate(urls):
            fields[f"MediaContentType{n}"] = content_type
            fields[f"MediaUrl{n}"] = url
        return self._inbound(message_type, body, {**fields, **extra}, sid_prefix="MM")

    def button(self, payload: str, text: str, **extra: Any) -> dict[str, str]:
        fields = {
            "ButtonPayload": payload,
            "ButtonText": text,
            "OriginalRepliedMessageSender": self.to,
            "OriginalRepliedMessageSid": _sid("SM"),
        }
        return self._inbound("button", text, {**fields, **extra})

    def unknown(self, message_type: str = "reaction", **extra: Any) -> dict[str, str]:
        return self._inbound(message_type, "", extra)

    def status(
        self, message_sid: str, status: str, error_code: str | None = None, **extra: Any
    ) -> dict[str, str]:
        """A status callback for an outbound message of ours (From us, To the user)."""
        form = {
            "ChannelInstallSid": "XE" + "0" * 32,
            "ChannelPrefix": "whatsapp",
            "ApiVersion": API_VERSION,
            "MessageStatus": status,
            "SmsSid": message_sid,
            "SmsStatus": status,
            "ChannelToAddress": f"+{self.wa_id}",
            "To": self.from_,
            "From": self.to,
            "MessageSid": message_sid,
            "StructuredMessage": "false",
            "AccountSid": self.account_sid,
        }
        if error_code is not None:
            form["ErrorCode"] = str(error_code)
        form.update({k: str(v) for k, v in extra.items()})
        return form
