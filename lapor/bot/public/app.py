"""The public pages' endpoints: a report's page and photos, the map, the league, the feeds.

Every answer is built whole, then sent with an ETag of its bytes: a phone that has the
page already gets a 304 and nothing else. Pages are rendered on the server from Jinja2
templates with one local stylesheet, under a CSP that allows nothing from another host
and no script at all.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import xml.etree.ElementTree as ET
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote
from zoneinfo import ZoneInfo

import jinja2
import numpy as np
import shapely
from markupsafe import Markup
from sqlalchemy import select
from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from lapor.bot import formats
from lapor.bot.open311 import xml_text
from lapor.bot.public.params import STATUS_FILTERS, MapQuery, QueryError, parse_map_query
from lapor.bot.settings import Settings
from lapor.handlers.texts import day_text
from lapor.routing.svgmap import (
    MAX_ZOOM,
    MapArea,
    MapPin,
    View,
    full_extent,
    load_areas,
    pin_view,
    render_outlines,
    render_pin_map,
)
from lapor.store import public, stats
from lapor.store.db import new_session
from lapor.store.models import Category, Kelurahan

T = TypeVar("T")
HERE = Path(__file__).resolve().parent
CSP = (
    "default-src 'none'; img-src 'self'; style-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
# Pages change with every status change: a phone may reuse one for a minute, then asks
# again with its ETag. Photos may go when a report is rejected: five minutes.
PAGE_CACHE = "public, max-age=60"
PHOTO_CACHE = "public, max-age=300"
ASSET_CACHE = "public, max-age=86400"
ERROR_CACHE = "no-cache"
# "Recently resolved" on the map, and how many reports the list under the map names.
RESOLVED_DAYS = 30
MAP_LIST = 50
MAP_WIDTH = 800
OUTLINE_VIEWS = 64
FEED_ENTRIES = 50
ATOM = "http://www.w3.org/2005/Atom"
STYLESHEET = "publik.css"


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def etag_matches(header: str | None, etag: str) -> bool:
    """Whether If-None-Match names `etag` (weak or strong, in a list, or `*`)."""
    if not header:
        return False
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == etag:
            return True
    return False


def _headers(cache: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "same-origin",
        "Cache-Control": cache,
    }


def cached(request: Request, body: bytes, media_type: str, cache: str = PAGE_CACHE) -> Response:
    """`body` with its ETag, or a bodiless 304 when the client already holds it."""
    etag = etag_of(body)
    headers = {**_headers(cache), "ETag": etag}
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


class Views:
    """The endpoints, sharing settings, runtime, templates and time zone."""

    def __init__(self, settings: Settings, runtime: Any) -> None:
        self.settings = settings
        self.runtime = runtime
        self.zone = ZoneInfo(settings.timezone)
        self.css = (HERE / "static" / STYLESHEET).read_bytes()
        # The stylesheet's link names its content: a phone keeps it a day, and a new
        # version is a new URL.
        self.css_version = etag_of(self.css).strip('"')[:12]
        self.env = self._environment()
        self._known_extent: tuple[bytes, tuple[float, float, float, float]] | None = None
        # Outlines per view, most used first to stay: the city-wide view is most pages.
        self._lock = threading.Lock()
        self._outlines: OrderedDict[tuple[bytes, tuple[float, ...]], str] = OrderedDict()

    def _environment(self) -> jinja2.Environment:
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        zone = self.zone

        def day(value: datetime | None) -> str:
            return "–" if value is None else day_text(value.astimezone(zone).date(), "id")

        def wib(value: datetime | None) -> str:
            if value is None:
                return "–"
            local = value.astimezone(zone)
            return f"{day_text(local.date(), 'id')}, {local:%H.%M}"

        env.filters.update(
            day=day,
            wib=wib,
            number=formats.number,
            decimal=formats.decimal,
            hours=formats.hours,
            percent=formats.percent,
            status_label=formats.status_label,
        )
        env.globals.update(stylesheet=f"/aset/{STYLESHEET}?v={self.css_version}")
        return env

    async def db(self, function: Callable[..., T], *args: Any) -> T:
        """`function(session, *args)` in a fresh read session on a database thread."""

        def work() -> T:
            with new_session(self.runtime.engine) as session:
                return function(session, *args)

        return await self.runtime.run_db(work)

    def render(self, template: str, **context: Any) -> bytes:
        context.setdefault("nav", "")
        return self.env.get_template(template).render(**context).encode()

    def page(self, request: Request, template: str, **context: Any) -> Response:
        return cached(request, self.render(template, **context), "text/html; charset=utf-8")

    def problem(self, status_code: int, title: str, messages: list[str]) -> Response:
        body = self.render("error.html", title=title, messages=messages)
        return Response(
            body, status_code, media_type="text/html; charset=utf-8", headers=_headers(ERROR_CACHE)
        )

    def not_found(self) -> Response:
        # The same words for a ticket that does not exist and one that is not public: the
        # page must not tell which.
        return self.problem(
            404,
            "Laporan tidak ditemukan",
            [
                "Halaman ini tidak ada, atau laporannya tidak untuk umum. "
                "/ This page does not exist, or its report is not public."
            ],
        )

    def base_url(self, request: Request) -> str:
        return (self.settings.public_base_url or str(request.base_url)).rstrip("/")

    # -- a report --------------------------------------------------------------------------

    async def report(self, request: Request) -> Response:
        found = await self.db(public.public_report, request.path_params["ticket"])
        if found is None:
            return self.not_found()
        map_link = None
        if found.latitude is not None and found.longitude is not None:
            near = MapQuery(zoom=MAX_ZOOM - 1, centre=(found.longitude, found.latitude))
            map_link = "/peta" + near.query()
        return self.page(request, "report.html", r=found, map_link=map_link, nav="report")

    async def photo(self, request: Request) -> Response:
        path = await self.db(
            public.public_photo_path, request.path_params["ticket"], request.path_params["which"]
        )
        if path is None:
            return self.not_found()
        try:
            data = await asyncio.to_thread(self.runtime.media.open_bytes, path)
        except (ValueError, OSError):
            return self.not_found()
        return cached(request, data, "image/jpeg", PHOTO_CACHE)

    # -- the map ---------------------------------------------------------------------------

    async def map(self, request: Request) -> Response:
        categories = await self.db(_category_choices)
        try:
            query = parse_map_query(request.query_params, categories)
        except QueryError as exc:
            return self.problem(400, "Filter tidak valid", exc.messages)
        areas = await self.db(load_areas)
        extent = await asyncio.to_thread(self._extent, areas)
        view = pin_view(extent, query.zoom, query.centre)
        since = self.runtime.clock() - timedelta(days=RESOLVED_DAYS)
        pins = await self.db(
            lambda session: public.map_pins(
                session,
                resolved_since=since,
                status=query.status,
                category=query.category,
                bounds=view.bounds,
            )
        )
        svg = await asyncio.to_thread(self._draw, areas, pins, view, query)
        # The view as it is drawn (moved back inside the city when it was asked outside).
        here = MapQuery(query.category, query.status, view.zoom, (view.lon, view.lat))

        def at(zoom: int, east: float = 0.0, north: float = 0.0) -> str:
            lon, lat = view.shifted(east, north)
            return "/peta" + here.query(zoom=zoom, centre=(lon, lat))

        moves = {}
        if view.zoom > 0:
            moves = {
                "Utara": at(view.zoom, north=0.5),
                "Barat": at(view.zoom, east=-0.5),
                "Timur": at(view.zoom, east=0.5),
                "Selatan": at(view.zoom, north=-0.5),
            }
        return self.page(
            request,
            "map.html",
            nav="map",
            svg=Markup(svg),  # render_pin_map escapes every text it draws
            query=here,
            categories=categories,
            statuses=STATUS_FILTERS,
            pins=pins[:MAP_LIST],
            total=len(pins),
            zoom_in=at(view.zoom + 1) if view.zoom < MAX_ZOOM else None,
            zoom_out=at(view.zoom - 1) if view.zoom > 0 else None,
            moves=moves,
            resolved_days=RESOLVED_DAYS,
        )

    def _extent(self, areas: list[MapArea]) -> tuple[float, float, float, float]:
        """The city's extent at zoom 0, worked out again only when the registry changed.

        Finding the far-off islands takes 100 ms for Jakarta's 267 boundaries, more than the
        rest of the page; the registry changes only on an import.
        """
        key = _registry_key(areas)
        if self._known_extent is None or self._known_extent[0] != key:
            self._known_extent = (key, full_extent(areas))
        return self._known_extent[1]

    def _outlines_of(self, areas: list[MapArea], view: View) -> str:
        """The outlines of `view`, drawn once per registry and view (LRU of OUTLINE_VIEWS)."""
        key = (_registry_key(areas), tuple(round(b, 7) for b in view.bounds))
        with self._lock:  # pages are drawn on worker threads
            found = self._outlines.get(key)
            if found is not None:
                self._outlines.move_to_end(key)
                return found
        found = render_outlines(areas, view, MAP_WIDTH)
        with self._lock:
            self._outlines[key] = found
            while len(self._outlines) > OUTLINE_VIEWS:
                self._outlines.popitem(last=False)
        return found

    def _draw(
        self, areas: list[MapArea], pins: list[public.Pin], view: View, query: MapQuery
    ) -> str:
        def zoom_href(zoom: int, lon: float, lat: float) -> str:
            return "/peta" + query.query(zoom=zoom, centre=(lon, lat))

        drawn = [
            MapPin(
                p.ticket,
                p.longitude,
                p.latitude,
                f"{p.ticket} · {p.category or '–'} · {formats.status_label(p.status)}",
                f"/r/{quote(p.ticket)}",
                p.open,
            )
            for p in pins
        ]
        return render_pin_map(
            areas,
            drawn,
            view,
            zoom_href=zoom_href,
            width=MAP_WIDTH,
            title="Peta laporan warga",
            outlines=self._outlines_of(areas, view),
        )

    # -- the league and the feeds ----------------------------------------------------------

    async def league(self, request: Request) -> Response:
        rows = await self.db(stats.league, None)
        return self.page(request, "kelurahan.html", nav="kelurahan", rows=rows)

    async def feed(self, request: Request) -> Response:
        code = request.path_params["code"]

        def read(session: Session) -> tuple[Kelurahan | None, list[public.FeedEntry] | None]:
            entries = public.kelurahan_feed(session, code, FEED_ENTRIES)
            return (session.get(Kelurahan, code) if entries is not None else None), entries

        kelurahan, entries = await self.db(read)
        if kelurahan is None or entries is None:
            return self.not_found()
        body = atom_feed(self.base_url(request), kelurahan, entries, self.runtime.clock())
        return cached(request, body, "application/atom+xml; charset=utf-8")

    async def stylesheet(self, request: Request) -> Response:
        return cached(request, self.css, "text/css; charset=utf-8", ASSET_CACHE)


def _registry_key(areas: list[MapArea]) -> bytes:
    """A digest of the registry as drawn (codes and bounds): a new import changes it."""
    bounds = shapely.bounds([a.geometry for a in areas]) if areas else np.zeros(0)
    return hashlib.sha256(
        np.ascontiguousarray(bounds).tobytes() + "|".join(a.code for a in areas).encode()
    ).digest()


def _category_choices(session: Session) -> dict[str, str]:
    """Every category slug with its name (disabled ones too: old reports carry them)."""
    rows = session.execute(select(Category.slug, Category.name_id).order_by(Category.position))
    return {slug: name for slug, name in rows}


def atom_feed(
    base: str, kelurahan: Kelurahan, entries: list[public.FeedEntry], now: datetime
) -> bytes:
    """An Atom 1.0 feed (RFC 4287) of a kelurahan's newest public reports.

    Only what the report's page shows goes in (ticket, category, status, dates): never a
    citizen's words. Text passes `xml_text`, so a stored character XML forbids cannot
    break the document.
    """
    ET.register_namespace("", ATOM)

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
        if text is not None:
            element.text = xml_text(text)
        return element

    feed_url = f"{base}/kelurahan/{quote(kelurahan.code)}/feed.atom"
    root = ET.Element(f"{{{ATOM}}}feed")
    sub(root, "id", feed_url)
    sub(root, "title", f"Laporan warga Kelurahan {kelurahan.name}")
    sub(root, "subtitle", f"Kec. {kelurahan.kecamatan}, {kelurahan.kota}")
    updated = max((e.updated_at for e in entries), default=now)
    sub(root, "updated", _atom_time(updated))
    sub(root, "link", rel="self", href=feed_url)
    sub(root, "link", rel="alternate", href=f"{base}/peta")
    author = sub(root, "author")
    sub(author, "name", "Lapor Jakarta")
    for entry in entries:
        page = f"{base}/r/{quote(entry.ticket)}"
        item = sub(root, "entry")
        sub(item, "id", page)
        sub(item, "title", f"{entry.ticket} · {entry.category or 'Laporan'}")
        sub(item, "published", _atom_time(entry.created_at))
        sub(item, "updated", _atom_time(entry.updated_at))
        sub(item, "link", rel="alternate", href=page)
        sub(
            item,
            "summary",
            f"{entry.category or 'Laporan'} di Kelurahan {kelurahan.name}: "
            f"{formats.status_label(entry.status)}.",
        )
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True)


def _atom_time(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")
