"""Open311 GeoReport v2 (/open311/v2): other civic tools read and file reports.

Read side: services (our active categories), requests (public laporan only: the reporter
chose so at confirm; rahasia reports, saran and apresiasi never appear, not even by id),
tokens, and each report's first photo, which the photo pipeline already stripped of EXIF.

Write side: `POST requests` with an API key (`lapor open311 key add`) files a submitted
laporan exactly as a chat report is filed: located with the kelurahan index, photo through
the same pipeline, the verifiers' card queued in the same transaction. The API is a public
channel, so what it files is public. Its reporters have no chat and never get messages.

Every endpoint answers in JSON or XML (the suffix decides); errors use the spec's
`[{code, description}]`, as `<errors><error>` in XML. Spec: http://wiki.open311.org/GeoReport_v2
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import math
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import typer
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from lapor.bot.clidb import migrated_engine
from lapor.bot.settings import Settings
from lapor.handlers.context import active_categories
from lapor.store import open311 as store
from lapor.store.db import transaction
from lapor.store.lifecycle import ReportKind, ReportStatus, status_label
from lapor.store.reports import create_report

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
    """An answer in the spec's error shape; `code` is also the HTTP status."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


# -- rendering ----------------------------------------------------------------------------------


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
        element.text = str(value)


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
    return render(fmt if fmt in FORMATS else "json", errors, "errors", "error", error.code)


# -- what a request looks like ------------------------------------------------------------------


def status_notes(item: store.PublicRequest) -> str:
    """Our own status in Indonesian, with what the citizen would also be told."""
    label = status_label(item.status, "id")
    if item.status == ReportStatus.REJECTED.value and item.rejection_reason:
        return f"{label}: {item.rejection_reason}"
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
        "lat": item.latitude,
        "long": item.longitude,
        "media_url": f"{base}{PREFIX}/media/{item.ticket}.jpg" if item.has_photo else None,
    }


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


# -- reading the query --------------------------------------------------------------------------


def parse_moment(name: str, value: str, tz: ZoneInfo) -> datetime:
    """ISO 8601 (w3 profile); a value without an offset is read in the jurisdiction's time."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise Open311Error(
            400, f"{name} is not an ISO 8601 date-time (e.g. 2026-11-01T00:00:00+07:00)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def _split(value: str | None) -> list[str]:
    return list(dict.fromkeys(part.strip() for part in (value or "").split(",") if part.strip()))


def requests_query(params: Any, now: datetime, tz: ZoneInfo) -> store.RequestQuery:
    """The spec's filters; dates default to (and may span at most) the last 90 days."""
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


def _coordinate(form: dict[str, str], name: str) -> float | None:
    raw = form.get(name, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise Open311Error(400, f"{name} is not a number: {raw[:40]!r}") from None
    if not math.isfinite(value):
        raise Open311Error(400, f"{name} is not a number: {raw[:40]!r}")
    return value


def point(form: dict[str, str]) -> tuple[float, float]:
    """The spec also allows address_string or address_id, but we route by a point."""
    lat, lon = _coordinate(form, "lat"), _coordinate(form, "long")
    if lat is None or lon is None:
        raise Open311Error(
            400,
            "lat and long are required: reports are routed to a kelurahan by their point, "
            "and address_string or address_id alone is not geocoded",
        )
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise Open311Error(400, "lat must be within -90..90 and long within -180..180")
    return lat, lon


def reporter_of(form: dict[str, str]) -> tuple[str | None, str | None]:
    """Who the client says filed it: (an identifier, a display name). Stored, never shown."""
    who = next(
        (form[k].strip() for k in ("email", "phone", "device_id", "account_id") if form.get(k)),
        None,
    )
    name = " ".join(form.get(k, "").strip() for k in ("first_name", "last_name")).strip()
    return who, name or None


async def read_form(request: Request) -> dict[str, str]:
    """The body: form-encoded per the spec (url-encoded or multipart), or a JSON object."""
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = json.loads(await request.body())
        except ValueError:
            raise Open311Error(400, "the body is not valid JSON") from None
        if not isinstance(data, dict):
            raise Open311Error(400, "the JSON body must be an object")
        return {str(k): "" if v is None else str(v) for k, v in data.items()}
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def _public_host(request: httpx.Request) -> None:
    """Refuse a media_url (or a redirect) that leads into our own network.

    The server fetches what a client names: without this an API key could make it read
    internal services (server-side request forgery). Checked at every hop, on the
    addresses the name resolves to now.
    """
    host = request.url.host
    port = request.url.port or (443 if request.url.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port)
    except OSError:
        raise Open311Error(400, "media_url could not be fetched: unknown host") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise Open311Error(400, "media_url points at a private or local address")


async def fetch_media(url: str, allow_private: bool = False) -> bytes:
    """The client's photo: http(s) only, public addresses only (unless `allow_private`),
    10 s in all, 10 MB at most, status 200."""
    if not url.startswith(("http://", "https://")):
        raise Open311Error(400, "media_url must be an http or https URL")
    try:
        async with asyncio.timeout(MEDIA_TIMEOUT_S):
            return await _download(url, allow_private)
    except TimeoutError:
        raise Open311Error(400, "media_url could not be fetched: timed out") from None
    except httpx.HTTPError as exc:
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

    def check_jurisdiction(self, given: str | None) -> None:
        if given and given.strip() != self.settings.open311_jurisdiction:
            raise Open311Error(404, f"unknown jurisdiction_id: {given.strip()[:60]!r}")

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
        self.check_jurisdiction(request.query_params.get("jurisdiction_id"))
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
        self.check_jurisdiction(request.query_params.get("jurisdiction_id"))
        categories = await self.db(active_categories)
        return [service_fields(c) for c in categories], 200

    async def service_definition(self, request: Request) -> tuple[Any, int]:
        self.check_jurisdiction(request.query_params.get("jurisdiction_id"))
        code = request.path_params["code"]
        if await self.db(store.active_service, code) is None:
            raise Open311Error(404, f"unknown service_code: {code[:40]!r}")
        return {"service_code": code, "attributes": []}, 200

    async def service_requests(self, request: Request) -> tuple[Any, int]:
        params = request.query_params
        self.check_jurisdiction(params.get("jurisdiction_id"))
        query = requests_query(params, self.runtime.clock(), self.tz)
        found = await self.db(store.public_requests, query)
        base = self.base_url(request)
        return [request_fields(item, base, self.tz) for item in found], 200

    async def service_request(self, request: Request) -> tuple[Any, int]:
        self.check_jurisdiction(request.query_params.get("jurisdiction_id"))
        ticket = request.path_params["ticket"]
        item = await self.db(store.public_request, ticket)
        if item is None:
            raise Open311Error(404, f"unknown service_request_id: {ticket[:40]!r}")
        return [request_fields(item, self.base_url(request), self.tz)], 200

    async def token(self, request: Request) -> tuple[Any, int]:
        self.check_jurisdiction(request.query_params.get("jurisdiction_id"))
        token = request.path_params["token"]
        ticket = await self.db(store.ticket_for_token, token)
        if ticket is None:
            raise Open311Error(404, "unknown token")
        return [{"service_request_id": ticket, "token": token}], 200

    async def media(self, request: Request) -> Response:
        path = await self.db(store.public_photo_path, request.path_params["ticket"])
        if path is None:
            return PlainTextResponse("not found", status_code=404)
        try:
            data = await asyncio.to_thread(self.runtime.media.open_bytes, path)
        except (ValueError, OSError):
            return PlainTextResponse("not found", status_code=404)
        return Response(data, media_type="image/jpeg")

    # write side

    async def file(self, request: Request) -> tuple[Any, int]:
        """POST requests: check everything, fetch the photo, then one transaction.

        200 with the spec's body (its examples use 200; some clients accept nothing else).
        """
        form = await read_form(request)
        self.check_jurisdiction(form.get("jurisdiction_id"))
        key_id, code = await self.db(self.authorise, form)
        latitude, longitude = point(form)
        kelurahan = self.locate(latitude, longitude)
        photo = await self.photo(form.get("media_url", "").strip())
        who, name = reporter_of(form)
        filing = Filing(
            key_id=key_id,
            service_code=code,
            latitude=latitude,
            longitude=longitude,
            address=form.get("address_string", "").strip()[:200] or None,
            description=form.get("description", "").strip()[: self.max_description] or None,
            reporter=store.reporter_address(key_id, who),
            name=name,
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

    @property
    def max_description(self) -> int:
        return self.runtime.core.config.max_note

    @staticmethod
    def authorise(session: Any, form: dict[str, str]) -> tuple[int, str]:
        """(key id, service code), before anything is fetched on the client's behalf."""
        key_id = store.active_key_id(session, form.get("api_key", ""))
        if key_id is None:
            raise Open311Error(403, "api_key is missing, unknown or revoked")
        code = form.get("service_code", "").strip()
        if not code:
            raise Open311Error(400, "service_code is required (see services.json)")
        if store.active_service(session, code) is None:
            raise Open311Error(400, f"service_code {code[:40]!r} is not one of our services")
        return key_id, code

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

        if not url:
            raise Open311Error(400, "media_url is required: every report needs a photo")
        raw = await fetch_media(url, self.settings.open311_media_private)
        try:
            return await self.runtime.accept_photo(raw, source_key=None)
        except BadImage as exc:
            raise Open311Error(400, f"media_url is not a usable photo ({exc.reason})") from None

    def create(self, filing: Filing, photo: Any) -> tuple[str, str, list[Any]]:
        """Report, event, token and the verifiers' card: one transaction, all or nothing."""
        now = self.runtime.clock()
        config = self.runtime.core.config
        with transaction(self.runtime.engine) as session:
            if not store.use_key(session, filing.key_id, now):
                raise Open311Error(403, "api_key is missing, unknown or revoked")
            contact = store.api_contact(session, filing.reporter, filing.name, now)
            if contact.blocked:
                raise Open311Error(403, "this reporter has been blocked by the verifiers")
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
