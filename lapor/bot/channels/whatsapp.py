"""The WhatsApp channel through Twilio: signed webhooks in, REST messages out.

What happens to a WhatsApp event is all here. Inbound: the signature is checked over the
exact public URL and the unfiltered form; `From` is the address, `MessageSid` the
idempotency key; shared locations (`Latitude`/`Longitude` with an empty `Body`), photos
(`MediaUrl{N}`, downloaded with basic auth through Twilio's redirect) and quick-reply
buttons (`ButtonPayload`) all become the same `Inbound` a Telegram user produces.
Outbound: choices become a numbered list; outside WhatsApp's 24-hour window only an
approved template may be sent, so a message goes as one or is held until the user writes.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import logging
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
from sqlalchemy import select, update
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from lapor.bot.channels.download import (
    HostRefused,
    handled_before,
    read_capped,
    require_public_host,
)
from lapor.bot.dispatcher import (
    HeldError,
    PermanentError,
    TransientError,
    UnreachableError,
)
from lapor.bot.runtime import Runtime
from lapor.bot.settings import Settings
from lapor.handlers.texts import t
from lapor.handlers.types import GeoPoint, Inbound, Outbound
from lapor.store.media import BadImage
from lapor.store.models import Contact, Outbox

log = logging.getLogger(__name__)

CHANNEL = "whatsapp"
# WhatsApp lets a business send free text only within 24 hours of the user's last message.
WINDOW = timedelta(hours=24)
BODY_LIMIT = 1600  # Twilio's limit on a WhatsApp message body
MAX_PHOTOS = 3
MAX_MEDIA = 10  # Twilio's limit on media in one WhatsApp message
MEDIA_REDIRECTS = 3
TWILIO_API = "https://api.twilio.com"
_TWILIO_URL = re.compile(r"^https://([a-z0-9-]+\.)*twilio\.com(?=/|$)", re.IGNORECASE)

# Twilio error codes that decide what happens to a message.
OPTED_OUT = 21610  # the recipient replied STOP to the sender: never again
OUTSIDE_WINDOW = 63016  # free text outside the 24-hour window: a template is needed

# Delivery statuses from callbacks, in the order a message goes through them; callbacks
# can arrive out of order, so only a later status replaces an earlier one.
STATUS_RANK = {
    "accepted": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "read": 5,
    "undelivered": 6,
    "failed": 6,
}


def gateway_url(url: str, base_url: str | None) -> str:
    """Send a call meant for Twilio to TWILIO_API_BASE_URL instead (a gateway, a test double)."""
    if not base_url:
        return url
    return _TWILIO_URL.sub(base_url.rstrip("/"), url, count=1)


class GatewayHttpClient(TwilioHttpClient):
    """The twilio client's HTTP client, pointed at TWILIO_API_BASE_URL when it is set."""

    def __init__(self, base_url: str | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base_url = base_url

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        return super().request(method, gateway_url(url, self.base_url), *args, **kwargs)


def make_client(settings: Settings) -> Client:
    http = GatewayHttpClient(settings.twilio_api_base_url, timeout=20)
    return Client(settings.twilio_account_sid, settings.twilio_token(), http_client=http)


def media_signature(secret: str, path: str) -> str:
    return hmac.new(secret.encode(), path.encode(), hashlib.sha256).hexdigest()[:32]


def media_url(settings: Settings, path: str) -> str:
    """A public link Twilio can fetch a stored photo from; signed, so only ours are served."""
    base = (settings.public_base_url or "").rstrip("/")
    signature = media_signature(settings.twilio_token() or "", path)
    return f"{base}/media/{quote(path)}?sig={signature}"


# -- rendering --------------------------------------------------------------------------------


def render_text(message: Outbound) -> str:
    """Choices as a numbered list (users answer with the number or the word)."""
    language = "en" if message.meta.get("language") == "en" else "id"
    parts = [message.text]
    if message.link:
        # WhatsApp turns a URL in the text into a link; it has no URL buttons here.
        parts.append(f"{message.link[0]}: {message.link[1]}")
    if message.choices:
        parts.append("\n".join(f"{n}. {c.label}" for n, c in enumerate(message.choices, 1)))
        parts.append(t(language, "wa.reply_number"))
    text = "\n\n".join(parts)
    return text if len(text) <= BODY_LIMIT else text[: BODY_LIMIT - 1] + "…"


# -- inbound ----------------------------------------------------------------------------------


class WhatsAppChannel:
    """Turns Twilio's webhook forms into events for the core, and records delivery."""

    def __init__(
        self, runtime: Runtime, settings: Settings, http: httpx.AsyncClient | None = None
    ) -> None:
        self.runtime = runtime
        self.settings = settings
        self.validator = RequestValidator(settings.twilio_token() or "")
        # Redirects are followed by hand (media URLs redirect to a CDN), so that every hop
        # is checked and the credentials go to Twilio's API host and nowhere else.
        self.http = http or httpx.AsyncClient(follow_redirects=False, timeout=20)
        self.auth = httpx.BasicAuth(
            settings.twilio_account_sid or "", settings.twilio_token() or ""
        )
        base = httpx.URL(settings.twilio_api_base_url or TWILIO_API)
        self.media_origin = _origin(base)
        # A gateway (or a test double) on a private address may redirect within its own
        # network; Twilio itself redirects only to its public https CDN.
        self.private_redirects = _private_literal(base.host)

    def public_url(self, path: str, query: str = "") -> str:
        """The URL Twilio called, rebuilt from PUBLIC_BASE_URL (we may sit behind a proxy)."""
        base = (self.settings.public_base_url or "").rstrip("/")
        return f"{base}{path}" + (f"?{query}" if query else "")

    def signature_ok(self, url: str, form: dict[str, str], signature: str | None) -> bool:
        return bool(signature) and self.validator.validate(url, form, signature)

    async def handle_form(self, form: dict[str, str]) -> None:
        """A signed inbound form: to the core, if it is an event the core takes."""
        inbound = await self.to_inbound(form)
        if inbound is not None:
            await self.runtime.handle(inbound)

    async def to_inbound(self, form: dict[str, str]) -> Inbound | None:
        sender = form.get("From", "")
        sid = form.get("MessageSid") or form.get("SmsMessageSid")
        if not sender.startswith("whatsapp:") or not sid:
            return None
        base: dict[str, Any] = {
            "channel": CHANNEL,
            "address": sender.removeprefix("whatsapp:"),
            "message_id": sid,
            "name": form.get("ProfileName") or None,
        }
        body = form.get("Body", "").strip() or None
        if form.get("ButtonPayload"):
            return Inbound(**base, choice=form["ButtonPayload"])
        if form.get("Latitude") and form.get("Longitude"):
            try:
                lat, lon = float(form["Latitude"]), float(form["Longitude"])
            except ValueError:
                return Inbound(**base, unsupported="other")
            label = form.get("Label") or form.get("Address") or None
            return Inbound(**base, location=GeoPoint(lat, lon, label))
        # Twilio sends at most 10 media a message; a forged count must not spin the loop.
        count = max(0, min(_int(form.get("NumMedia")), MAX_MEDIA))
        if count:
            return await self._media_inbound(form, base, count, body)
        message_type = (form.get("MessageType") or "text").lower()
        if body is not None:
            return Inbound(**base, text=body)
        kind = {
            "sticker": "sticker",
            "audio": "voice",
            "video": "video",
            "contacts": "contact",
        }.get(message_type, "other")
        return Inbound(**base, unsupported=kind)

    async def _media_inbound(
        self, form: dict[str, str], base: dict[str, Any], count: int, body: str | None
    ) -> Inbound | None:
        images = []
        for index in range(count):
            content_type = (form.get(f"MediaContentType{index}") or "").lower()
            url = form.get(f"MediaUrl{index}")
            if url and content_type.startswith("image/"):
                images.append((url, content_type))
        if (form.get("MessageType") or "").lower() == "sticker":
            return Inbound(**base, unsupported="sticker")
        if not images:
            first = (form.get("MediaContentType0") or "").lower()
            kind = (
                "voice"
                if first.startswith("audio/")
                else ("video" if first.startswith("video/") else "document")
            )
            return Inbound(**base, unsupported=kind, text=body)
        # Twilio redelivers a message it got no answer for: handled once, fetched once.
        if await handled_before(self.runtime, CHANNEL, base["message_id"]):
            return None
        photos = []
        for url, _content_type in images[:MAX_PHOTOS]:
            try:
                raw = await self._download(url)
                photos.append(await self.runtime.accept_photo(raw, source_key=None))
            except BadImage as exc:
                return Inbound(**base, photo_error=exc.reason, text=body)
            except (httpx.HTTPError, MediaError) as exc:
                log.warning("could not download WhatsApp media: %s", exc)
                return Inbound(**base, photo_error="download", text=body)
        # Several images in one message are one step, like a Telegram album.
        group = base["message_id"] if len(photos) > 1 else None
        return Inbound(**base, photos=tuple(photos), text=body, media_group=group)

    async def _download(self, url: str) -> bytes:
        """Fetch media from Twilio with basic auth, through its redirect, within a deadline."""
        deadline = self.settings.twilio_media_timeout_seconds
        try:
            async with asyncio.timeout(deadline):
                return await self._fetch(url)
        except TimeoutError:
            raise MediaError(f"not downloaded within {deadline:g} s") from None

    async def _fetch(self, url: str) -> bytes:
        try:
            target = httpx.URL(gateway_url(url, self.settings.twilio_api_base_url))
        except httpx.InvalidURL:
            raise MediaRefused("not a URL") from None
        # The credentials open the whole account: never send them to a host a form names.
        if _origin(target) != self.media_origin:
            raise MediaRefused(f"media on {target.host!r} is not Twilio's")
        for _hop in range(MEDIA_REDIRECTS + 1):
            auth = self.auth if _origin(target) == self.media_origin else None
            async with self.http.stream("GET", target, auth=auth) as response:
                if response.is_redirect:
                    target = await self._redirect(target, response.headers.get("location"))
                    continue
                return await _read_photo(response)
        raise MediaError("too many redirects")

    async def _redirect(self, current: httpx.URL, location: str | None) -> httpx.URL:
        """Where a redirect may lead: Twilio's own host, or a public https host (its CDN)."""
        if not location:
            raise MediaError("a redirect without a Location")
        try:
            target = current.join(location)
        except httpx.InvalidURL:
            raise MediaRefused("a redirect to something that is not a URL") from None
        if _origin(target) == self.media_origin:
            return target
        if self.private_redirects:
            if target.scheme not in ("http", "https"):
                raise MediaRefused(f"a redirect to a {target.scheme!r} URL")
            return target
        if target.scheme != "https":
            raise MediaRefused("a redirect to a plain http URL")
        await _public_host(target)
        return target

    async def record_status(self, form: dict[str, str]) -> bool:
        """A status callback: keep the furthest status reached, and the error code."""
        sid = form.get("MessageSid") or form.get("SmsSid")
        status = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
        if not sid or status not in STATUS_RANK:
            return False
        return await self.runtime.run_db(
            _record_status, self.runtime, sid, status, form.get("ErrorCode") or None
        )

    async def aclose(self) -> None:
        await self.http.aclose()


class MediaError(Exception):
    """Media could not be fetched (not a photo problem: the download failed)."""


class MediaRefused(MediaError):
    """A media URL or redirect we will not follow (another host, our own network)."""


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    default = {"https": 443, "http": 80}.get(url.scheme)
    return url.scheme, url.host.lower(), url.port or default


def _private_literal(host: str) -> bool:
    """A loopback or private address written as such (a gateway or a test double)."""
    if host.lower() == "localhost":
        return True
    try:
        return not ipaddress.ip_address(host).is_global
    except ValueError:
        return False


async def _public_host(url: httpx.URL) -> None:
    """Refuse a host that resolves, now, into our own network (cloud metadata, loopback)."""
    try:
        await require_public_host(url)
    except HostRefused as exc:
        if exc.unknown:
            raise MediaRefused(f"unknown host {url.host!r}") from None
        raise MediaRefused(f"a redirect to {url.host!r}, a private or local address") from None


async def _read_photo(response: httpx.Response) -> bytes:
    """The body of a 200 image answer, dropped as soon as it passes MAX_BYTES."""
    if response.status_code != 200:
        raise MediaError(f"HTTP {response.status_code}")
    content_type = response.headers.get("content-type", "").lower()
    if not content_type.startswith("image/"):
        raise BadImage("format", f"content type {content_type!r}")
    return await read_capped(response.headers.get("content-length", ""), response.aiter_bytes())


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def _record_status(runtime: Runtime, sid: str, status: str, error: str | None) -> bool:
    from lapor.store.db import transaction

    with transaction(runtime.engine) as session:
        row = session.scalars(select(Outbox).where(Outbox.provider_id == sid)).first()
        if row is None:
            return False
        current = STATUS_RANK.get(row.delivery_status or "", -1)
        if STATUS_RANK[status] >= current:
            values: dict[str, Any] = {"delivery_status": status}
            if error:
                values["delivery_error"] = error[:16]
            session.execute(update(Outbox).where(Outbox.id == row.id).values(**values))
        if error == str(OPTED_OUT):
            session.execute(
                update(Contact)
                .where(Contact.channel == CHANNEL, Contact.address == row.address)
                .values(reachable=False, unreachable_reason=f"twilio {OPTED_OUT}: opted out")
            )
        return True


# -- outbound ---------------------------------------------------------------------------------


class WhatsAppSender:
    """Sends through Twilio's REST API (synchronous client, run in a thread)."""

    channel = CHANNEL

    def __init__(
        self,
        runtime: Runtime,
        settings: Settings,
        client: Client | None = None,
        last_inbound: Callable[[str], datetime | None] | None = None,
    ) -> None:
        self.runtime = runtime
        self.settings = settings
        self.client = client or make_client(settings)
        self.templates = dict(settings.whatsapp_templates)
        self._last_inbound = last_inbound or self._last_inbound_from_db

    def _last_inbound_from_db(self, address: str) -> datetime | None:
        from lapor.store.db import new_session

        with new_session(self.runtime.engine) as session:
            return session.scalars(
                select(Contact.last_inbound_at).where(
                    Contact.channel == CHANNEL, Contact.address == address
                )
            ).first()

    async def send(self, message: Outbound) -> str | None:
        last = await self.runtime.run_db(self._last_inbound, message.address)
        inside = last is not None and self.runtime.clock() - last < WINDOW
        params = self._base_params(message.address)
        if inside:
            params["body"] = render_text(message)
            if message.photo:
                params["media_url"] = [media_url(self.settings, message.photo)]
            if message.location:
                loc = message.location
                params["persistent_action"] = [f"geo:{loc.latitude},{loc.longitude}"]
        else:
            params.update(self._template_params(message))
        try:
            return await self._create(params)
        except HeldError:
            if not inside or "content_sid" in params:
                raise
            # Our clock and WhatsApp's disagree (63016): fall back to the template path.
            params = {**self._base_params(message.address), **self._template_params(message)}
            return await self._create(params)

    def _base_params(self, address: str) -> dict[str, Any]:
        params: dict[str, Any] = {"to": f"whatsapp:{address}"}
        if self.settings.twilio_messaging_service_sid:
            params["messaging_service_sid"] = self.settings.twilio_messaging_service_sid
        else:
            params["from_"] = self.settings.twilio_whatsapp_from
        if self.settings.public_base_url:
            base = self.settings.public_base_url.rstrip("/")
            params["status_callback"] = f"{base}/webhooks/whatsapp/status"
        return params

    def _template_params(self, message: Outbound) -> dict[str, Any]:
        template = message.meta.get("template") or {}
        content_sid = self.templates.get(template.get("name", ""))
        if not content_sid:
            # Never send free text WhatsApp will refuse: keep it for the next conversation.
            raise HeldError("outside the 24-hour window and no approved template")
        variables = {str(i): str(v) for i, v in enumerate(template.get("variables", []), 1)}
        return {"content_sid": content_sid, "content_variables": json.dumps(variables)}

    async def _create(self, params: dict[str, Any]) -> str:
        """One REST call (the client is synchronous: in a thread), errors made ours."""
        try:
            created = await asyncio.to_thread(self.client.messages.create, **params)
        except TwilioRestException as exc:
            raise _mapped(exc) from exc
        except Exception as exc:  # connection refused, timeouts: the network, not the message
            raise TransientError(f"{type(exc).__name__}: {exc}") from exc
        return str(created.sid)


TWILIO_RETRY_AFTER_S = 1.0


def _mapped(exc: TwilioRestException) -> Exception:
    detail = f"twilio {exc.code} (HTTP {exc.status}): {exc.msg}"
    if exc.code == OPTED_OUT:
        return UnreachableError(detail)
    if exc.code == OUTSIDE_WINDOW:
        return HeldError(detail)
    if exc.status == 429:
        # Twilio's "too many requests" (20429) says no when to retry: a second, untried,
        # like Telegram's flood control, so a burst never uses up a message's attempts.
        return TransientError(detail, retry_after=TWILIO_RETRY_AFTER_S)
    if exc.status >= 500:
        return TransientError(detail)
    return PermanentError(detail)
