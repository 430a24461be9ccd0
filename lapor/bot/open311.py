"""Open311 GeoReport v2 (/open311/v2): other civic tools read and file reports.

Read side: services (our active categories), requests (public laporan only: the reporter
chose so at confirm; rahasia and rejected reports, saran and apresiasi never appear, not
even by id; a duplicate only points to its original), tokens, and each report's first
photo, which the photo pipeline already stripped of EXIF.

Write side: `POST requests` with an API key (`lapor open311 key add`) files a submitted
laporan exactly as a chat report is filed: located with the kelurahan index, photo through
the same pipeline, the verifiers' card queued in the same transaction, under a chat
reporter's limits (and a limit per key). The API is a public channel, so what it files is
public. Its reporters have no chat and never get messages.

Every query parameter, path segment and body field is read and checked in one place (see
"reading the input") before anything else runs.

Every endpoint answers in JSON or XML (the suffix decides); errors use the spec's
`[{code, description}]`, as `<errors><error>` in XML. Spec: http://wiki.open311.org/GeoReport_v2
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import typer
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Message

from lapor.bot.channels.download import HostRefused, require_public_host
from lapor.bot.clidb import migrated_engine
from lapor.bot.settings import Settings
from lapor.handlers.context import active_categories
from lapor.store import open311 as store
from lapor.store.db import transaction
from lapor.store.lifecycle import ReportKind, ReportStatus, status_label
from lapor.store.reports import count_since, create_report, local_day_start
from lapor.store.text import clean

log = logging.getLogger(__name__)

PREFIX = "/open311/v2"
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
# When this API last changed shape (the discovery document's `changeset`).
CHANGESET = "2026-11-28T00:00:00Z"
FORMATS = {"json": "application/json", "xml": "text/xml"}
# The spec's defaults for GET requests: the last 90 days, at most 1000 requests.
WINDOW = timedelta(days=90)
MAX_REQUESTS = 1000
# A photo a client points us at: a phone photo is 2-6 MB; the pipeline shrinks it anyway.
MEDIA_TIMEOUT_S = 10.0
MEDIA_MAX_BYTES = 10 * 1024 * 1024
SERVICE_GROUP = "Laporan warga"
SERVICE_NOTICE = (
    "Laporan diterima dan menunggu verifikasi petugas. "
    "Received; it waits for a verifier before it goes to the kelurahan."
)
# XML names the items of a list after the list (GeoReport's own examples do).
_XML_ITEMS = {"endpoints": "endpoint", "formats": "format", "attributes": "attribute"}


class Open311Error(Exception):
    """An answer in the spec's error shape; `code` is also the HTTP status. `retry_after`
    (seconds) goes out as the Retry-After header of a 429."""

    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after


# -- rendering ----------------------------------------------------------------------------------

# What XML 1.0 does not allow in a document (its Char production): C0 controls other than
# tab, LF and CR, lone surrogates, U+FFFE and U+FFFF. A chat note may hold any of them (a
# stray \x0b pasted from a word processor): output drops them, input refuses them.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(value: str) -> str:
    """`value` without the characters an XML document may not hold."""
    return NOT_XML.sub("", value)


def _xml_value(parent: ET.Element, tag: str, value: Any) -> None:
    element = ET.SubElement(parent, tag)
    if isinstance(value, dict):
        for key, inner in value.items():
            _xml_value(element, key, inner)
    elif isinstance(value, list):
        for inner in value:
            _xml_value(element, _XML_ITEMS.get(tag, "item"), inner)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = xml_text(str(value))


def to_xml(data: Any, root: str, item: str | None = None) -> bytes:
    """`data` as GeoReport XML: a list becomes <root><item>...</item></root>."""
    tree = ET.Element(root)
    if isinstance(data, list):
        for entry in data:
            _xml_value(tree, item or "item", entry)
    else:
        for key, value in data.items():
            _xml_value(tree, key, value)
    return ET.tostring(tree, encoding="UTF-8", xml_declaration=True)


def render(
    fmt: str, data: Any, root: str, item: str | None = None, status_code: int = 200
) -> Response:
    if fmt == "xml":
        body = to_xml(data, root, item)
        return Response(body, status_code, media_type="text/xml; charset=utf-8")
    return JSONResponse(data, status_code)


def render_error(fmt: str, error: Open311Error) -> Response:
    errors = [{"code": error.code, "description": error.description}]
    response = render(fmt if fmt in FORMATS else "json", errors, "errors", "error", error.code)
    if error.retry_after is not None:
        response.headers["Retry-After"] = str(error.retry_after)
    return response


# -- what a request looks like ------------------------------------------------------------------


def status_notes(item: store.PublicRequest) -> str:
    """Our own status in Indonesian; a duplicate names its original (when that is shown)."""
    label = status_label(item.status, "id")
    if item.status == ReportStatus.DUPLICATE.value and item.duplicate_of:
        return f"{label}: duplikat dari {item.duplicate_of}"
    return label


def iso(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).isoformat(timespec="seconds")


def request_fields(item: store.PublicRequest, base: str, tz: ZoneInfo) -> dict[str, Any]:
    """One service request. `expected_datetime`, `address_id` and `zipcode` we never know."""
    return {
        "service_request_id": item.ticket,
        "status": store.open311_status(item.status),
        "status_notes": status_notes(item),
        "service_name": item.service_name,
        "service_code": item.service_code,
        "description": item.note,
        "agency_responsible": f"Kelurahan {item.kelurahan}" if item.kelurahan else None,
        "requested_datetime": iso(item.created_at, tz),
        "updated_datetime": iso(item.updated_at, tz),
        "address": item.address,
        "lat": _coordinate_out(item.latitude),
        "long": _coordinate_out(item.longitude),
        "media_url": f"{base}{PREFIX}/media/{item.ticket}.jpg" if item.has_photo else None,
    }


def _coordinate_out(value: float | None) -> float | None:
    """Six decimals (about 10 cm): a stored -6.1754 is not shown as -6.175400000000001."""
    return None if value is None else round(value, 6)


def service_fields(category: Any) -> dict[str, Any]:
    keywords = dict.fromkeys([category.slug, category.name_id.lower(), category.name_en.lower()])
    return {
        "service_code": category.slug,
        "service_name": category.name_id,
        "description": f"{category.name_id} ({category.name_en})",
        "metadata": False,
        "type": "realtime",
        "keywords": ", ".join(keywords),
        "group": SERVICE_GROUP,
    }


# -- reading the input --------------------------------------------------------------------------
#
# Every query parameter, path segment and body field is read here, once, and checked for type,
# length, characters and range before anything reaches the database or the network: a bad
# value is a 4xx in the spec's shape, never a 500 further in. Fields we do not know (the
# spec's extensions, attribute[...]) are ignored.

# A body holds a few short fields (a description is at most 1,000 characters): 64 KB is
# plenty, and bounds what a client can make us parse.
MAX_BODY_BYTES = 64 * 1024
MAX_URL = 2048
# The dates a filter may name. lapor holds no report outside them, and the window arithmetic
# (a start plus 90 days, an end minus 90) stays far inside what datetime can hold.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
# Shapes of identifiers, as long as their columns: tickets (Report.ticket), category slugs,
# the tokens new_token() makes.
TICKET = re.compile(r"[A-Za-z0-9-]{1,24}")
CODE = re.compile(r"[A-Za-z0-9._-]{1,40}")
TOKEN = re.compile(r"[A-Za-z0-9_-]{1,40}")
_HOST_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")


def _split(value: str | None) -> list[str]:
    return list(dict.fromkeys(part.strip() for part in (value or "").split(",") if part.strip()))


@dataclass(frozen=True)
class Field:
    """What one query parameter or body field may hold. Free text is cleaned (NUL, which
    PostgreSQL cannot store, and the other controls removed); any other field holding such a
    character is refused; an identifier, or each item of a comma separated list, must match
    `shape`."""

    max_length: int
    shape: re.Pattern[str] | None = None
    example: str = ""
    listed: bool = False
    # What people wrote: cleaned, where anything else with a stray control is refused.
    free_text: bool = False

    def read(self, name: str, raw: object) -> str:
        # A JSON body may send lat and long as numbers; true and false are no field's value.
        if isinstance(raw, bool) or not isinstance(raw, str | int | float):
            raise Open311Error(400, f"{name} must be a string or a number")
        value = str(raw)
        if self.free_text:
            # Free text (a description, a name) is normalised as every chat message is: no
            # NUL or other controls, no lone surrogates, NFC.
            value = clean(value)
        else:
            # An identifier is refused instead, before trimming: strip() would quietly eat
            # a \x0b or \x1f at either end.
            bad = NOT_XML.search(value)
            if bad is not None:
                raise Open311Error(
                    400, f"{name} holds a character that is not allowed (U+{ord(bad.group()):04X})"
                )
        value = value.strip()
        if len(value) > self.max_length:
            raise Open311Error(400, f"{name} is longer than {self.max_length} characters")
        if self.shape is not None:
            for item in _split(value) if self.listed else [value] if value else []:
                if not self.shape.fullmatch(item):
                    raise Open311Error(
                        400, f"{name} {item[:40]!r} is not valid: use e.g. {self.example}"
                    )
        return value


JURISDICTION = {"jurisdiction_id": Field(100)}
REQUESTS_QUERY = {
    **JURISDICTION,
    "service_request_id": Field(MAX_REQUESTS * 25, TICKET, "JKT-2611-00042", listed=True),
    "service_code": Field(4000, CODE, "sampah", listed=True),
    "status": Field(20),
    "start_date": Field(40),
    "end_date": Field(40),
}
# POST requests. `description` is bounded by the chat note's limit (Api.body_fields); the
# first and last name together fit Contact.name (128).
BODY = {
    **JURISDICTION,
    "api_key": Field(128),
    "service_code": Field(40, CODE, "sampah"),
    "lat": Field(40),
    "long": Field(40),
    "address_string": Field(200, free_text=True),
    "description": Field(1000, free_text=True),
    "email": Field(254),
    "phone": Field(32),
    "device_id": Field(64),
    "account_id": Field(64),
    "first_name": Field(60, free_text=True),
    "last_name": Field(60, free_text=True),
    "media_url": Field(MAX_URL),
}


def read_fields(pairs: Iterable[tuple[str, Any]], fields: Mapping[str, Field]) -> dict[str, str]:
    """The known `fields` among `pairs`, each read by its rule; an empty one counts as absent."""
    values: dict[str, str] = {}
    seen: set[str] = set()
    for name, raw in pairs:
        rule = fields.get(name)
        if rule is None or raw is None:
            continue
        if name in seen:
            raise Open311Error(400, f"{name} is given more than once")
        seen.add(name)
        value = rule.read(name, raw)
        if value:
            values[name] = value
    return values


def path_value(request: Request, name: str, shape: re.Pattern[str], field: str) -> str:
    """A path segment (a ticket, a code, a token), checked like the field it stands for."""
    value = request.path_params[name]
    if not shape.fullmatch(value):
        raise Open311Error(400, f"{field} {value[:40]!r} is not valid")
    return value


async def _body(request: Request) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise Open311Error(413, f"the body is larger than {MAX_BODY_BYTES // 1024} KB")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_body(request: Request, fields: Mapping[str, Field]) -> dict[str, str]:
    """The body: form-encoded per the spec (url-encoded or multipart), or a flat JSON object."""
    body = await _body(request)
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = json.loads(body)
        except RecursionError:
            raise Open311Error(
                400, "the JSON body is nested too deeply: send one flat object"
            ) from None
        except ValueError:
            raise Open311Error(400, "the body is not valid JSON") from None
        if not isinstance(data, dict):
            raise Open311Error(400, "the JSON body must be an object")
        return read_fields(data.items(), fields)

    async def replay() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        async with Request(request.scope, replay).form() as form:
            return read_fields(form.multi_items(), fields)
    except HTTPException as exc:  # a malformed multipart body
        raise Open311Error(400, f"the form cannot be read: {exc.detail}") from None


def parse_moment(name: str, value: str, tz: ZoneInfo) -> datetime:
    """ISO 8601 (w3 profile); a value without an offset is read in the jurisdiction's time."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise Open311Error(
            400, f"{name} is not an ISO 8601 date-time (e.g. 2026-11-01T00:00:00+07:00)"
        ) from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=tz)
    # Compared as they are: converting a moment near year 1 or 9999 to UTC would overflow.
    if not EARLIEST <= moment <= LATEST:
        raise Open311Error(400, f"{name} must fall between 2000 and 2100")
    return moment


def requests_query(params: Mapping[str, str], now: datetime, tz: ZoneInfo) -> store.RequestQuery:
    """The spec's filters (read by `read_fields`); dates default to, and may span at most,
    the last 90 days."""
    tickets = [t.upper() for t in _split(params.get("service_request_id"))][:MAX_REQUESTS]
    statuses = [s.lower() for s in _split(params.get("status"))]
    if any(s not in (store.OPEN, store.CLOSED) for s in statuses):
        raise Open311Error(400, "status must be open, closed, or both (comma separated)")
    start_raw, end_raw = params.get("start_date"), params.get("end_date")
    start = parse_moment("start_date", start_raw, tz) if start_raw else None
    end = parse_moment("end_date", end_raw, tz) if end_raw else None
    if end is None:
        end = start + WINDOW if start is not None else now
    if start is None:
        start = end - WINDOW
    if start > end:
        raise Open311Error(400, "start_date is after end_date")
    if end - start > WINDOW:
        raise Open311Error(400, "start_date and end_date may not span more than 90 days")
    return store.RequestQuery(
        tickets=tickets,
        service_codes=_split(params.get("service_code")),
        statuses=statuses,
        start=start,
        end=end,
        limit=MAX_REQUESTS,
    )


def _coordinate(fields: Mapping[str, str], name: str) -> float | None:
    raw = fields.get(name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise Open311Error(400, f"{name} is not a number: {raw[:40]!r}") from None
    if not math.isfinite(value):
        raise Open311Error(400, f"{name} is not a number: {raw[:40]!r}")
    return value


def point(fields: Mapping[str, str]) -> tuple[float, float]:
    """The spec also allows address_string or address_id, but we route by a point."""
    lat, lon = _coordinate(fields, "lat"), _coordinate(fields, "long")
    if lat is None or lon is None:
        raise Open311Error(
            400,
            "lat and long are required: reports are routed to a kelurahan by their point, "
            "and address_string or address_id alone is not geocoded",
        )
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise Open311Error(400, "lat must be within -90..90 and long within -180..180")
    return lat, lon


def media_address(raw: str | None) -> str:
    """The photo's URL, well formed: http(s), a host name DNS could hold, a real port.
    Whether the host is public is checked when it is fetched (and at every redirect)."""
    if not raw:
        raise Open311Error(400, "media_url is required: every report needs a photo")
    if not raw.startswith(("http://", "https://")):
        raise Open311Error(400, "media_url must be an http or https URL")
    try:
        url = httpx.URL(raw)
    except httpx.InvalidURL:
        raise Open311Error(400, "media_url is not a valid URL") from None
    host = url.raw_host.decode("ascii", "replace")
    if not _valid_host(host):
        raise Open311Error(400, "media_url has no valid host name")
    if url.port is not None and not 0 < url.port < 65536:
        raise Open311Error(400, "media_url has no valid port")
    return raw


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    labels = host.removesuffix(".").split(".")
    return 0 < len(host) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in labels)


def reporter_of(fields: Mapping[str, str]) -> tuple[str | None, str | None]:
    """Who the client says filed it: (an identifier, a display name). Stored, never shown."""
    who = next(
        (fields[k] for k in ("email", "phone", "device_id", "account_id") if fields.get(k)), None
    )
    name = " ".join(fields.get(k, "") for k in ("first_name", "last_name")).strip()
    return who, name or None


@dataclass(frozen=True)
class Submission:
    """A POST body, read and checked: nothing looked up or fetched yet."""

    api_key: str
    jurisdiction_id: str | None
    service_code: str
    latitude: float
    longitude: float
    address: str | None
    description: str | None
    who: str | None
    name: str | None
    media_url: str


def read_submission(fields: Mapping[str, str]) -> Submission:
    """Every field of a POST, typed; the key and the service are looked up afterwards."""
    latitude, longitude = point(fields)
    who, name = reporter_of(fields)
    return Submission(
        api_key=fields.get("api_key", ""),
        jurisdiction_id=fields.get("jurisdiction_id"),
        service_code=fields.get("service_code", ""),
        latitude=latitude,
        longitude=longitude,
        address=fields.get("address_string"),
        description=fields.get("description"),
        who=who,
        name=name,
        media_url=media_address(fields.get("media_url")),
    )


# -- filing -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filing:
    """A POSTed request, checked: everything the transaction needs, nothing it must fetch."""

    key_id: int
    service_code: str
    latitude: float
    longitude: float
    address: str | None
    description: str | None
    reporter: str
    name: str | None
    kelurahan_code: str | None


async def _public_host(request: httpx.Request) -> None:
    """Refuse a media_url (or a redirect) that leads into our own network."""
    try:
        await require_public_host(request.url)
    except HostRefused as exc:
        if exc.unknown:
            raise Open311Error(400, "media_url could not be fetched: unknown host") from None
        raise Open311Error(400, "media_url points at a private or local address") from None


async def fetch_media(url: str, allow_private: bool = False) -> bytes:
    """The client's photo (a URL `media_address` passed): public addresses only (unless
    `allow_private`), 10 s in all, 10 MB at most, status 200."""
    try:
        async with asyncio.timeout(MEDIA_TIMEOUT_S):
            return await _download(url, allow_private)
    except TimeoutError:
        raise Open311Error(400, "media_url could not be fetched: timed out") from None
    except (httpx.HTTPError, httpx.InvalidURL, UnicodeError) as exc:
        # InvalidURL and UnicodeError: a redirect to a malformed address.
        detail = type(exc).__name__
        raise Open311Error(400, f"media_url could not be fetched: {detail}") from None


async def _download(url: str, allow_private: bool) -> bytes:
    hooks = {} if allow_private else {"request": [_public_host]}
    async with (
        httpx.AsyncClient(
            timeout=MEDIA_TIMEOUT_S, follow_redirects=True, max_redirects=3, event_hooks=hooks
        ) as client,
        client.stream("GET", url) as response,
    ):
        if response.status_code != 200:
            raise Open311Error(400, f"media_url could not be fetched: HTTP {response.status_code}")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MEDIA_MAX_BYTES:
            raise Open311Error(400, "media_url is larger than 10 MB")
        chunks, size = [], 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > MEDIA_MAX_BYTES:
                raise Open311Error(400, "media_url is larger than 10 MB")
            chunks.append(chunk)
    return b"".join(chunks)


# -- the endpoints ------------------------------------------------------------------------------


class Api:
    """The endpoints, sharing the settings and the runtime (database, clock, media, core)."""

    def __init__(self, settings: Settings, runtime: Any) -> None:
        self.settings = settings
        self.runtime = runtime
        self.tz = ZoneInfo(settings.timezone)
        # A description is a chat report's note: the same limit.
        self.body_fields = {
            **BODY,
            "description": Field(runtime.core.config.max_note, free_text=True),
        }

    # plumbing

    def endpoint(
        self, root: str, item: str | None, handle: Callable[[Request], Awaitable[tuple[Any, int]]]
    ) -> Callable[[Request], Awaitable[Response]]:
        """Check the format, run `handle`, and render its data, or its error, in that format."""

        async def run(request: Request) -> Response:
            fmt = request.path_params.get("fmt", "")
            try:
                if fmt not in FORMATS:
                    raise Open311Error(404, "unknown format: use .json or .xml")
                data, status_code = await handle(request)
            except Open311Error as error:
                return render_error(fmt, error)
            return render(fmt, data, root, item, status_code)

        return run

    def query(self, request: Request, fields: Mapping[str, Field] = JURISDICTION) -> dict[str, str]:
        """The query's known parameters, read, with the jurisdiction checked."""
        params = read_fields(request.query_params.multi_items(), fields)
        self.check_jurisdiction(params.get("jurisdiction_id"))
        return params

    def check_jurisdiction(self, given: str | None) -> None:
        if given and given != self.settings.open311_jurisdiction:
            raise Open311Error(404, f"unknown jurisdiction_id: {given[:60]!r}")

    def base_url(self, request: Request) -> str:
        return (self.settings.public_base_url or str(request.base_url)).rstrip("/")

    async def db(self, function: Callable[..., Any], *args: Any) -> Any:
        """`function(session, *args)` in one transaction, off the event loop."""

        def work() -> Any:
            with transaction(self.runtime.engine) as session:
                return function(session, *args)

        return await self.runtime.run_db(work)

    # read side

    async def discovery(self, request: Request) -> tuple[Any, int]:
        self.query(request)
        return {
            "changeset": CHANGESET,
            "contact": "The operator of this lapor installation",
            "key_service": "API keys are issued by the operator: lapor open311 key add NAME",
            "endpoints": [
                {
                    "specification": SPECIFICATION,
                    "url": f"{self.base_url(request)}{PREFIX}",
                    "changeset": CHANGESET,
                    "type": "production",
                    "formats": list(FORMATS.values()),
                }
            ],
        }, 200

    async def services(self, request: Request) -> tuple[Any, int]:
        self.query(request)
        categories = await self.db(active_categories)
        return [service_fields(c) for c in categories], 200

    async def service_definition(self, request: Request) -> tuple[Any, int]:
        code = path_value(request, "code", CODE, "service_code")
        self.query(request)
        if await self.db(store.active_service, code) is None:
            raise Open311Error(404, f"unknown service_code: {code[:40]!r}")
        return {"service_code": code, "attributes": []}, 200

    async def service_requests(self, request: Request) -> tuple[Any, int]:
        params = self.query(request, REQUESTS_QUERY)
        query = requests_query(params, self.runtime.clock(), self.tz)
        found = await self.db(store.public_requests, query)
        base = self.base_url(request)
        return [request_fields(item, base, self.tz) for item in found], 200

    async def service_request(self, request: Request) -> tuple[Any, int]:
        ticket = path_value(request, "ticket", TICKET, "service_request_id")
        self.query(request)
        item = await self.db(store.public_request, ticket)
        if item is None:
            raise Open311Error(404, f"unknown service_request_id: {ticket[:40]!r}")
        return [request_fields(item, self.base_url(request), self.tz)], 200

    async def token(self, request: Request) -> tuple[Any, int]:
        token = path_value(request, "token", TOKEN, "token")
        self.query(request)
        ticket = await self.db(store.ticket_for_token, token)
        if ticket is None:
            raise Open311Error(404, "unknown token")
        return [{"service_request_id": ticket, "token": token}], 200

    async def media(self, request: Request) -> Response:
        ticket = request.path_params["ticket"]
        path = await self.db(store.public_photo_path, ticket) if TICKET.fullmatch(ticket) else None
        if path is None:
            return PlainTextResponse("not found", status_code=404)
        try:
            data = await asyncio.to_thread(self.runtime.media.open_bytes, path)
        except (ValueError, OSError):
            return PlainTextResponse("not found", status_code=404)
        return Response(data, media_type="image/jpeg")

    # write side

    async def file(self, request: Request) -> tuple[Any, int]:
        """POST requests: read and check everything, fetch the photo, then one transaction.

        200 with the spec's body (its examples use 200; some clients accept nothing else).
        """
        submission = read_submission(await read_body(request, self.body_fields))
        self.check_jurisdiction(submission.jurisdiction_id)
        key_id = await self.db(self.authorise, submission)
        kelurahan = self.locate(submission.latitude, submission.longitude)
        photo = await self.photo(submission.media_url)
        filing = Filing(
            key_id=key_id,
            service_code=submission.service_code,
            latitude=submission.latitude,
            longitude=submission.longitude,
            address=submission.address,
            description=submission.description,
            reporter=store.reporter_address(key_id, submission.who),
            name=submission.name,
            kelurahan_code=kelurahan,
        )
        ticket, token, outbound = await self.runtime.run_db(self.create, filing, photo)
        if outbound and self.runtime._dispatcher is not None:
            self.runtime._dispatcher.wake.set()  # the card goes out now, not at the next poll
        log.info("open311 key %s filed %s", key_id, ticket)
        answer = {
            "service_request_id": ticket,
            "token": token,
            "service_notice": SERVICE_NOTICE,
            "account_id": None,
        }
        return [answer], 200

    def authorise(self, session: Any, submission: Submission) -> int:
        """The key's id, once the key, the service and the limits allow the filing: all
        before anything is fetched on the client's behalf."""
        key_id = store.active_key_id(session, submission.api_key)
        if key_id is None:
            raise Open311Error(403, "api_key is missing, unknown or revoked")
        code = submission.service_code
        if not code:
            raise Open311Error(400, "service_code is required (see services.json)")
        if store.active_service(session, code) is None:
            raise Open311Error(400, f"service_code {code[:40]!r} is not one of our services")
        reporter = store.api_reporter(session, store.reporter_address(key_id, submission.who))
        if reporter is not None and reporter[1]:
            raise Open311Error(403, "this reporter has been blocked by the verifiers")
        self.check_limits(session, key_id, reporter[0] if reporter else None)
        return key_id

    def check_limits(self, session: Any, key_id: int, contact_id: int | None) -> None:
        """429 when the key, or the reporter it names, filed too many reports lately.

        A reporter has a chat reporter's limits (REPORTS_PER_HOUR, REPORTS_PER_DAY, the day
        in local time); a key, filing for many people, OPEN311_REPORTS_PER_HOUR.
        """
        now = self.runtime.clock()
        config = self.runtime.core.config
        hour_ago = now - timedelta(hours=1)
        # The hour counts a report filed exactly an hour ago: it frees its place just after.
        hour_on = timedelta(hours=1, microseconds=1)
        key_limit = self.settings.open311_reports_per_hour
        filed = store.key_count_since(session, key_id, hour_ago)
        if filed >= key_limit:
            oldest = store.nth_filed_since(session, hour_ago, filed - key_limit, key_id=key_id)
            raise self._too_many(
                f"this api_key filed {filed} reports in the last hour, "
                f"the limit is {key_limit}: try again later",
                now,
                (oldest or now) + hour_on,
            )
        if contact_id is None:
            return  # a reporter the key has not named before
        filed = count_since(session, contact_id, hour_ago)
        if filed >= config.reports_per_hour:
            oldest = store.nth_filed_since(
                session, hour_ago, filed - config.reports_per_hour, contact_id=contact_id
            )
            raise self._too_many(
                f"this reporter filed {filed} reports in the last hour, "
                f"the limit is {config.reports_per_hour}: try again later",
                now,
                (oldest or now) + hour_on,
            )
        day_start = local_day_start(now, config.timezone)
        filed = count_since(session, contact_id, day_start)
        if filed >= config.reports_per_day:
            raise self._too_many(
                f"this reporter filed {filed} reports today, "
                f"the limit is {config.reports_per_day}: try again tomorrow",
                now,
                local_day_start(day_start + timedelta(hours=36), config.timezone),
            )

    @staticmethod
    def _too_many(description: str, now: datetime, free_at: datetime) -> Open311Error:
        wait = max(1, math.ceil((free_at - now).total_seconds()))
        return Open311Error(429, description, retry_after=wait)

    def locate(self, latitude: float, longitude: float) -> str | None:
        """The kelurahan code, as chat reports are located; None without a registry."""
        locate = self.runtime.core.locate
        if locate is None:
            return None  # as in chat: the verifiers route it by hand
        found = locate(latitude, longitude)
        if found.kelurahan is None:
            raise Open311Error(
                400, "lat/long is outside the service area: no kelurahan of ours covers it"
            )
        return found.kelurahan.code

    async def photo(self, url: str) -> Any:
        """Every laporan has a photo (the kelurahan must see the problem), so it is required."""
        # Pillow and numpy load when a photo is filed, not with every CLI command.
        from lapor.store.media import BadImage

        raw = await fetch_media(url, self.settings.open311_media_private)
        try:
            return await self.runtime.accept_photo(raw, source_key=None)
        except BadImage as exc:
            raise Open311Error(400, f"media_url is not a usable photo ({exc.reason})") from None

    def create(self, filing: Filing, photo: Any) -> tuple[str, str, list[Any]]:
        """Report, event, token and the verifiers' card: one transaction, all or nothing.

        The limits are checked again here: another request may have filed meanwhile.
        """
        now = self.runtime.clock()
        config = self.runtime.core.config
        with transaction(self.runtime.engine) as session:
            if not store.use_key(session, filing.key_id, now):
                raise Open311Error(403, "api_key is missing, unknown or revoked")
            contact = store.api_contact(session, filing.reporter, filing.name, now)
            if contact.blocked:
                raise Open311Error(403, "this reporter has been blocked by the verifiers")
            self.check_limits(session, filing.key_id, contact.id)
            report = create_report(
                session,
                kind=ReportKind.LAPORAN,
                reporter=contact,
                now=now,
                local_now=now.astimezone(config.timezone),
                ticket_prefix=config.ticket_prefix,
                category_slug=filing.service_code,
                note=filing.description,
                location=(filing.latitude, filing.longitude, filing.address),
                photos=[photo.to_dict()],
                kelurahan_code=filing.kelurahan_code,
                # The API is a public channel: what it files, anyone may read back.
                public=True,
            )
            token = store.new_token()
            report.open311_token = token
            session.flush()
            outbound = self.runtime.core.filed(session, contact, report, f"request:{report.ticket}")
            return report.ticket, token, outbound


def routes(settings: Settings, runtime: Any) -> list[BaseRoute]:
    api = Api(settings, runtime)
    return [
        Route(
            f"{PREFIX}/discovery.{{fmt}}",
            api.endpoint("discovery", None, api.discovery),
            methods=["GET"],
        ),
        Route(
            f"{PREFIX}/services.{{fmt}}",
            api.endpoint("services", "service", api.services),
            methods=["GET"],
        ),
        Route(
            f"{PREFIX}/services/{{code}}.{{fmt}}",
            api.endpoint("service_definition", None, api.service_definition),
            methods=["GET"],
        ),
        Route(
            f"{PREFIX}/requests.{{fmt}}",
            api.endpoint("service_requests", "request", api.service_requests),
            methods=["GET"],
        ),
        Route(
            f"{PREFIX}/requests.{{fmt}}",
            api.endpoint("service_requests", "request", api.file),
            methods=["POST"],
        ),
        Route(
            f"{PREFIX}/requests/{{ticket}}.{{fmt}}",
            api.endpoint("service_requests", "request", api.service_request),
            methods=["GET"],
        ),
        Route(
            f"{PREFIX}/tokens/{{token}}.{{fmt}}",
            api.endpoint("service_requests", "request", api.token),
            methods=["GET"],
        ),
        Route(f"{PREFIX}/media/{{ticket}}.jpg", api.media, methods=["GET"]),
    ]


# -- `lapor open311 ...` ------------------------------------------------------------------------

open311_app = typer.Typer(help="Open311 GeoReport v2: API keys.", no_args_is_help=True)
key_app = typer.Typer(help="API keys of the clients that may file reports.", no_args_is_help=True)
open311_app.add_typer(key_app, name="key")


def _now() -> datetime:
    return datetime.now(UTC)


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(ZoneInfo("Asia/Jakarta")).strftime("%Y-%m-%d %H:%M WIB")


@key_app.command("add")
def key_add(name: str) -> None:
    """Make a key for client NAME; it is shown once and stored only hashed."""
    key = store.new_api_key()
    engine = migrated_engine()
    try:
        with transaction(engine) as session:
            api_key = store.add_key(session, name, key, _now())
            key_id = api_key.id
    finally:
        engine.dispose()
    typer.echo(
        f"API key {key_id} for {name}:\n\n    {key}\n\n"
        "The client sends it as api_key when it POSTs /open311/v2/requests.json.\n"
        "It is stored hashed: this is the only time it is shown."
    )


@key_app.command("list")
def key_list() -> None:
    """Every key: id, name, active, created, last used (WIB)."""
    engine = migrated_engine()
    try:
        with transaction(engine) as session:
            keys = store.list_keys(session)
    finally:
        engine.dispose()
    if not keys:
        typer.echo("no API keys (lapor open311 key add NAME)")
    for key in keys:
        state = "active" if key.active else "revoked"
        typer.echo(
            f"{key.id}\t{key.name}\t{state}\tcreated {_when(key.created_at)}"
            f"\tlast used {_when(key.last_used_at)}"
        )


@key_app.command("revoke")
def key_revoke(key_id: int) -> None:
    """Refuse key KEY_ID from now on (the reports it filed stay)."""
    engine = migrated_engine()
    try:
        with transaction(engine) as session:
            found = store.revoke_key(session, key_id)
    finally:
        engine.dispose()
    if not found:
        typer.secho(f"no API key {key_id}", fg="red", err=True)
        raise typer.Exit(1)
    typer.echo(f"API key {key_id} revoked")
