"""Open311 GeoReport v2 over loopback: read with the independent `georeport` client,
file with plain httpx, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import requests
from georeport import GeoReport
from PIL import Image
from PIL.TiffImagePlugin import IFDRational
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from typer.testing import CliRunner

from lapor.bot.cli import app as cli_app
from lapor.bot.open311 import to_xml
from lapor.bot.runtime import Runtime
from lapor.bot.settings import Settings, load_settings
from lapor.bot.web import create_app
from lapor.handlers.types import Inbound, PhotoIn
from lapor.routing import ensure_demo_registry
from lapor.store import open311 as open311_store
from lapor.store.codes import hash_code
from lapor.store.db import new_session, transaction
from lapor.store.lifecycle import ReportKind, ReportStatus
from lapor.store.models import (
    ApiKey,
    Category,
    Contact,
    Outbox,
    Photo,
    Report,
    ReportEvent,
    Verifier,
)
from lapor.store.reports import create_report, first_photo, transition
from tests.conftest import FakeClock
from tests.fakes.loopback import LoopbackServer

# Every request of this module goes through one client. `httpx.get()` builds a client per
# call, and with it a TLS context that reads the whole CA bundle (20-50 ms here, more than
# most of these requests take) though they all stay on plain loopback HTTP. Without
# keep-alive each request still has a connection of its own, as `httpx.get()` gives it.
http = httpx.Client(limits=httpx.Limits(max_keepalive_connections=0))

ADMIN = "-1001234567890"
VERIFIER = 4242
JURISDICTION = "jakarta.go.id"
WIB = ZoneInfo("Asia/Jakarta")
GAMBIR = (-6.1754, 106.8272)  # inside the demo registry's "Gambir (demo)"
# Personal data of the seeded reporter: none of it may ever leave the API.
REPORTER_NAME = "Budi Santoso"
REPORTER_PHONE = "whatsapp:+6281234567890"


def jpeg(color: tuple[int, int, int] = (180, 40, 40), exif: Image.Exif | None = None) -> bytes:
    buffer = io.BytesIO()
    image = Image.new("RGB", (640, 480), color)
    if exif is None:
        image.save(buffer, "JPEG")
    else:
        image.save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


def monas_gps() -> Image.Exif:
    exif = Image.Exif()
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "S", (IFDRational(6, 1), IFDRational(10, 1), IFDRational(3144, 100))
    gps[3], gps[4] = "E", (IFDRational(106, 1), IFDRational(49, 1), IFDRational(3792, 100))
    return exif


# -- a loopback server with photos for media_url ------------------------------------------------


def _photo_app() -> Starlette:
    async def gps(request: Request) -> Response:
        return Response(jpeg((20, 120, 200), monas_gps()), media_type="image/jpeg")

    async def missing(request: Request) -> Response:
        return PlainTextResponse("not found", status_code=404)

    async def text(request: Request) -> Response:
        return PlainTextResponse("this is not a photo")

    return Starlette(
        routes=[
            Route("/gps.jpg", gps),
            Route("/missing.jpg", missing),
            Route("/text.jpg", text),
        ]
    )


@pytest.fixture(scope="module")
def photos() -> Iterator[str]:
    server = LoopbackServer(_photo_app(), "photo-host")
    server.start()
    yield f"http://127.0.0.1:{server.port}"
    server.stop()


# -- lapor's web app on loopback ----------------------------------------------------------------


@pytest.fixture
def settings(db_url: str, tmp_path) -> Settings:  # type: ignore[no-untyped-def]
    return load_settings(
        _env_file=None,
        database_url=db_url,
        media_dir=tmp_path / "media",
        telegram_admin_chat_id=int(ADMIN),
        open311_jurisdiction=JURISDICTION,
        open311_media_private=True,  # the photos are served on loopback
    )


@pytest.fixture
def runtime(settings: Settings, engine: Engine, clock: FakeClock) -> Iterator[Runtime]:
    with transaction(engine) as session:
        ensure_demo_registry(session, clock())
        session.add(Verifier(telegram_id=VERIFIER, name="Verifikator", added_at=clock()))
    runtime = Runtime.from_settings(settings, clock=clock)
    yield runtime
    runtime.dispose()


@pytest.fixture
def base(settings: Settings, runtime: Runtime) -> Iterator[str]:
    server = LoopbackServer(create_app(settings, runtime=runtime), "lapor-web")
    server.start()
    yield f"http://127.0.0.1:{server.port}/open311/v2"
    server.stop()


@pytest.fixture
def key(engine: Engine, clock: FakeClock) -> str:
    secret = open311_store.new_api_key()
    with transaction(engine) as session:
        open311_store.add_key(session, "Aplikasi mitra", secret, clock())
    return secret


# -- seeded reports -----------------------------------------------------------------------------


Seeded = dict[str, str]  # name -> ticket of the seeded reports


def _reporter(session: Any, now: Any) -> Contact:
    contact = Contact(
        channel="whatsapp",
        address=REPORTER_PHONE,
        name=REPORTER_NAME,
        created_at=now,
        last_inbound_at=now,
    )
    session.add(contact)
    session.flush()
    return contact


def _report(
    session: Any,
    reporter: Contact,
    at: Any,
    photo: PhotoIn,
    *,
    category: str | None = "sampah",
    kind: ReportKind = ReportKind.LAPORAN,
    public: bool = True,
    label: str | None = None,
    note: str | None = None,
    where: tuple[float, float] = GAMBIR,
) -> Report:
    return create_report(
        session,
        kind=kind,
        reporter=reporter,
        now=at,
        local_now=at.astimezone(WIB),
        ticket_prefix="JKT",
        category_slug=category,
        note=f"catatan {category} {at:%d}" if note is None else note,
        location=(*where, label),
        photos=[photo.to_dict()],
        kelurahan_code="DEMO.01",
        public=public,
    )


def _move(session: Any, report: Report, at: Any, *path: ReportStatus, **fields: Any) -> None:
    for target in path:
        moved = transition(session, report.id, target, now=at, actor="test", **fields)
        assert moved is not None, (report.ticket, target)


@pytest.fixture
def seeded(engine: Engine, runtime: Runtime, clock: FakeClock) -> Seeded:
    """Public laporan in every family, and what must stay hidden: rejected, rahasia, saran,
    apresiasi."""
    now = clock()
    shown = runtime.accept_photo_sync(jpeg((180, 40, 40)))
    secret = runtime.accept_photo_sync(jpeg((40, 180, 40)))
    days = lambda n: now - timedelta(days=n)  # noqa: E731
    tickets: Seeded = {}
    with transaction(engine) as session:
        who = _reporter(session, now)
        a = _report(session, who, days(2), shown, label="Jl. Medan Merdeka Barat")
        b = _report(session, who, days(10), shown, category="banjir")
        _move(
            session,
            b,
            days(9),
            ReportStatus.VERIFIED,
            ReportStatus.FORWARDED,
            ReportStatus.IN_PROGRESS,
        )
        c = _report(session, who, days(20), shown, category="jalan-rusak")
        _move(
            session,
            c,
            days(15),
            ReportStatus.VERIFIED,
            ReportStatus.FORWARDED,
            ReportStatus.RESOLVED,
        )
        x = _report(session, who, days(5), shown)
        _move(session, x, days(4), ReportStatus.REJECTED, rejection_reason="Foto tidak jelas")
        d = _report(session, who, days(3), shown, category="banjir")
        _move(session, d, days(3), ReportStatus.DUPLICATE, duplicate_of_id=b.id)
        old = _report(session, who, days(120), shown)
        hidden = _report(session, who, days(1), secret, public=False)
        saran = _report(session, who, days(1), shown, category=None, kind=ReportKind.SARAN)
        thanks = _report(session, who, days(1), shown, category=None, kind=ReportKind.APRESIASI)
        for name, report in dict(
            a=a, b=b, c=c, x=x, d=d, old=old, hidden=hidden, saran=saran, thanks=thanks
        ).items():
            tickets[name] = report.ticket
    return tickets


def client(base: str, fmt: str = "json", jurisdiction: str | None = None) -> GeoReport:
    return GeoReport(base, jurisdiction=jurisdiction, output_format=fmt)


def tickets_of(found: Any) -> list[str]:
    """georeport's XML answers are a dict for one request, a list for several."""
    if isinstance(found, dict):
        found = [found]
    return [item["service_request_id"] for item in found or []]


def count(engine: Engine, model: Any) -> int:
    with new_session(engine) as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def xml_errors(response: httpx.Response) -> list[tuple[str, str]]:
    root = ET.fromstring(response.content)
    assert root.tag == "errors"
    return [(e.findtext("code") or "", e.findtext("description") or "") for e in root]


# -- services -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_services_are_the_active_categories(base: str, engine: Engine, fmt: str) -> None:
    with transaction(engine) as session:
        session.execute(
            Category.__table__.update().where(Category.slug == "kebakaran").values(active=False)
        )
        expected = list(
            session.scalars(
                select(Category.slug)
                .where(Category.active.is_(True))
                .order_by(Category.position, Category.id)
            )
        )
    services = client(base, fmt).get_service_list()
    assert [s["service_code"] for s in services] == expected
    assert "kebakaran" not in expected and len(expected) == 11
    sampah = services[0]
    assert sampah["service_name"] == "Sampah"
    assert sampah["type"] == "realtime"
    assert str(sampah["metadata"]).lower() == "false"
    assert "rubbish" in sampah["keywords"] and sampah["group"] and sampah["description"]

    definition = client(base, fmt).get_service_definition("banjir")
    assert definition["service_code"] == "banjir"
    assert not definition["attributes"]  # [] in JSON, an empty element in XML
    with pytest.raises(requests.HTTPError) as refused:
        client(base, fmt).get_service_definition("kebakaran")
    assert refused.value.response.status_code == 404


def test_unknown_service_definition_is_a_spec_error(base: str) -> None:
    response = http.get(f"{base}/services/tidak-ada.json")
    assert response.status_code == 404
    assert response.json() == [{"code": 404, "description": "unknown service_code: 'tidak-ada'"}]
    as_xml = http.get(f"{base}/services/tidak-ada.xml")
    assert as_xml.status_code == 404
    assert xml_errors(as_xml) == [("404", "unknown service_code: 'tidak-ada'")]


def test_discovery_names_this_endpoint(base: str) -> None:
    document = http.get(f"{base}/discovery.json").json()
    endpoint = document["endpoints"][0]
    assert endpoint["url"] == base
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert set(endpoint["formats"]) == {"application/json", "text/xml"}
    root = ET.fromstring(http.get(f"{base}/discovery.xml").content)
    assert root.tag == "discovery"
    assert [f.text for f in root.iter("format")] == endpoint["formats"]
    assert root.findtext("endpoints/endpoint/url") == base


# -- reading requests ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_default_window_is_90_days_newest_first_public_laporan_only(
    base: str, seeded: Seeded, fmt: str
) -> None:
    found = tickets_of(client(base, fmt).get_service_requests())
    t = seeded
    assert found == [t["a"], t["d"], t["b"], t["c"]]


def test_filters_return_exactly_the_right_tickets(
    base: str, seeded: Seeded, clock: FakeClock
) -> None:
    t = seeded
    api = client(base)
    assert tickets_of(api.get_service_requests(service_code="banjir")) == [t["d"], t["b"]]
    assert tickets_of(api.get_service_requests(service_code="banjir,jalan-rusak")) == [
        t["d"],
        t["b"],
        t["c"],
    ]
    assert tickets_of(api.get_service_requests(status="open")) == [t["a"], t["b"]]
    assert tickets_of(api.get_service_requests(status="closed")) == [t["d"], t["c"]]
    assert tickets_of(api.get_service_requests(status="open,closed")) == tickets_of(
        api.get_service_requests()
    )
    now = clock()
    recent = api.get_service_requests(
        start_date=(now - timedelta(days=6)).isoformat(), end_date=now.isoformat()
    )
    assert tickets_of(recent) == [t["a"], t["d"]]
    # In WIB, with an offset, as a client in Jakarta writes it.
    wib = (now - timedelta(days=130)).astimezone(WIB).isoformat()
    old = api.get_service_requests(start_date=wib, end_date=(now - timedelta(days=100)).isoformat())
    assert tickets_of(old) == [t["old"]]
    # Given only a start, the window runs 90 days from it.
    assert tickets_of(api.get_service_requests(start_date="2026-07-01T00:00:00Z")) == [t["old"]]
    assert tickets_of(
        api.get_service_requests(service_code="banjir", status="closed", end_date=now.isoformat())
    ) == [t["d"]]
    # A list of ids overrides every other filter, and still shows only public laporan.
    listed = api.get_service_requests(
        service_request_id=",".join([t["old"], t["hidden"], t["saran"], t["a"], "JKT-0000-00000"]),
        service_code="banjir",
    )
    assert tickets_of(listed) == [t["a"], t["old"]]


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"start_date": "kemarin"}, "start_date is not an ISO 8601"),
        ({"end_date": "2026-13-45"}, "end_date is not an ISO 8601"),
        ({"start_date": "2026-11-20T00:00:00Z", "end_date": "2026-11-01T00:00:00Z"}, "after"),
        ({"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-11-01T00:00:00Z"}, "90 days"),
        ({"status": "pending"}, "status must be"),
        # Dates at the ends of what datetime holds: the 90-day window would overflow.
        ({"start_date": "9999-12-31"}, "start_date must fall between 2000 and 2100"),
        ({"start_date": "0001-01-01"}, "start_date must fall between 2000 and 2100"),
        ({"end_date": "0001-01-01"}, "end_date must fall between 2000 and 2100"),
        ({"end_date": "9999-12-31T23:59:59-23:59"}, "end_date must fall between"),
        ({"start_date": "1999-12-31T23:59:59Z"}, "start_date must fall between"),
        # NUL cannot be stored or compared on PostgreSQL, nor written in XML.
        ({"service_request_id": "JKT-2611-00001\x00"}, "service_request_id holds a character"),
        ({"service_code": "sampah\x00"}, "service_code holds a character that is not allowed"),
        ({"status": "open\x00"}, "status holds a character that is not allowed (U+0000)"),
        ({"jurisdiction_id": "\x0b"}, "jurisdiction_id holds a character"),
        ({"start_date": "2026-11-01\x00"}, "start_date holds a character"),
        ({"service_request_id": "JKT-2611-00001,<script>"}, "'<script>' is not valid"),
        ({"service_code": "sampah;drop"}, "service_code 'sampah;drop' is not valid"),
        ({"start_date": "2" * 41}, "start_date is longer than 40 characters"),
        ({"jurisdiction_id": "j" * 101}, "jurisdiction_id is longer than 100 characters"),
    ],
)
def test_bad_filters_are_400(base: str, params: dict[str, str], says: str) -> None:
    response = http.get(f"{base}/requests.json", params=params)
    assert response.status_code == 400
    [error] = response.json()
    assert error["code"] == 400 and says in error["description"]
    as_xml = http.get(f"{base}/requests.xml", params=params)
    assert as_xml.status_code == 400
    [(code, description)] = xml_errors(as_xml)
    assert code == "400" and says in description


def test_a_parameter_given_twice_is_400(base: str) -> None:
    response = http.get(f"{base}/requests.json?status=open&status=closed")
    assert response.status_code == 400
    assert response.json() == [{"code": 400, "description": "status is given more than once"}]


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("requests/JKT-2611-00001%00.json", "service_request_id 'JKT-2611-00001\\x00' is not"),
        ("requests/JKT%20%3Cb%3E.xml", "service_request_id 'JKT <b>' is not valid"),
        ("requests/" + "J" * 25 + ".json", "service_request_id"),
        ("services/sampah%00.json", "service_code 'sampah\\x00' is not valid"),
        ("services/%0B.xml", "service_code '\\x0b' is not valid"),
        ("tokens/abc%00.json", "token 'abc\\x00' is not valid"),
        ("tokens/" + "t" * 41 + ".json", "token"),
    ],
)
def test_bad_path_segments_are_400(base: str, seeded: Seeded, path: str, says: str) -> None:
    response = http.get(f"{base}/{path}")
    assert response.status_code == 400, response.text
    if path.endswith(".json"):
        [error] = response.json()
        code, description = str(error["code"]), error["description"]
    else:
        [(code, description)] = xml_errors(response)
    assert code == "400" and says in description


@pytest.mark.parametrize("ticket", ["JKT-2611-00001%00", "%0B", "J" * 25, "a%20b"])
def test_media_of_a_malformed_ticket_is_not_found(base: str, seeded: Seeded, ticket: str) -> None:
    assert http.get(f"{base}/media/{ticket}.jpg").status_code == 404


def test_one_request_shows_its_status_place_and_photo(
    base: str, seeded: Seeded, engine: Engine, runtime: Runtime
) -> None:
    t = seeded
    api = client(base)
    a = api.get_service_request(t["a"])
    assert a["status"] == "open"
    assert a["status_notes"] == "Menunggu verifikasi"
    assert a["service_code"] == "sampah" and a["service_name"] == "Sampah"
    assert a["description"].startswith("catatan sampah")
    assert a["agency_responsible"] == "Kelurahan Gambir (demo)"
    assert a["address"] == "Jl. Medan Merdeka Barat"
    assert (a["lat"], a["long"]) == GAMBIR
    assert a["requested_datetime"] == "2026-11-26T10:00:00+07:00"
    assert a["updated_datetime"].endswith("+07:00")
    assert "expected_datetime" not in a and "zipcode" not in a
    assert a["media_url"] == f"{base}/media/{t['a']}.jpg"
    served = http.get(a["media_url"])
    assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
    with new_session(engine) as session:
        report = session.scalars(select(Report).where(Report.ticket == t["a"])).one()
        stored = first_photo(session, report.id)
        assert stored is not None
    assert served.content == runtime.media.open_bytes(stored.path)

    assert api.get_service_request(t["b"])["status_notes"] == "Diproses"
    resolved = api.get_service_request(t["c"])
    assert (resolved["status"], resolved["status_notes"]) == ("closed", "Selesai")


# What a duplicate still shows: a pointer, never its own note, place or photo.
DUPLICATE_SHOWS = {"service_request_id", "status", "status_notes", "service_name", "service_code"}
DUPLICATE_SHOWS |= {"requested_datetime", "updated_datetime"}


def test_a_duplicate_only_points_to_its_original(
    base: str, seeded: Seeded, engine: Engine, runtime: Runtime, clock: FakeClock
) -> None:
    t = seeded
    as_json = http.get(f"{base}/requests/{t['d']}.json").json()[0]
    root = ET.fromstring(http.get(f"{base}/requests/{t['d']}.xml").content)
    element = root.find("request")
    assert element is not None
    as_xml = {child.tag: child.text for child in element}
    for shown in (as_json, as_xml):
        assert (shown["status"], shown["service_code"]) == ("closed", "banjir")
        assert shown["status_notes"] == f"Duplikat: duplikat dari {t['b']}"
        assert {field for field, value in shown.items() if value} == DUPLICATE_SHOWS
    listed = http.get(f"{base}/requests.json", params={"service_request_id": t["d"]}).json()
    assert listed == [as_json]
    assert "catatan banjir" not in http.get(f"{base}/requests.json?status=closed").text
    assert http.get(f"{base}/media/{t['d']}.jpg").status_code == 404
    # A duplicate of a report the API does not show (rejected, rahasia) does not name it.
    photo = runtime.accept_photo_sync(jpeg((40, 40, 180)))
    with transaction(engine) as session:
        who = session.scalars(select(Contact).where(Contact.name == REPORTER_NAME)).one()
        for original in ("x", "hidden"):
            original_id = session.scalars(
                select(Report.id).where(Report.ticket == t[original])
            ).one()
            copy = _report(session, who, clock(), photo)
            _move(session, copy, clock(), ReportStatus.DUPLICATE, duplicate_of_id=original_id)
            t[f"copy-of-{original}"] = copy.ticket
    for original in ("x", "hidden"):
        shown = http.get(f"{base}/requests/{t[f'copy-of-{original}']}.json")
        assert shown.json()[0]["status_notes"] == "Duplikat"
        assert t[original] not in shown.text


def test_rejected_rahasia_saran_and_apresiasi_never_appear(base: str, seeded: Seeded) -> None:
    for name in ("x", "hidden", "saran", "thanks"):
        ticket = seeded[name]
        for fmt in ("json", "xml"):
            assert http.get(f"{base}/requests/{ticket}.{fmt}").status_code == 404
        assert http.get(f"{base}/media/{ticket}.jpg").status_code == 404
        listed = http.get(f"{base}/requests.json", params={"service_request_id": ticket})
        assert listed.json() == []
    assert http.get(f"{base}/media/{seeded['a']}.jpg").status_code == 200
    everything = [
        http.get(f"{base}/requests.{fmt}", params=params).text
        for fmt in ("json", "xml")
        for params in ({}, {"start_date": "2026-07-01T00:00:00Z"}, {"status": "closed"})
    ]
    for body in everything:
        for name in ("x", "hidden", "saran", "thanks"):
            assert seeded[name] not in body, name
        assert "Foto tidak jelas" not in body
        assert REPORTER_NAME not in body and "6281234567890" not in body


# Every character XML 1.0 forbids (its Char production).
NOT_XML = [
    *(chr(c) for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20))),
    *("\ud800", "\udbff", "\udc00", "\udfff", "\ufffe", "\uffff"),
]


def test_xml_output_drops_every_character_xml_forbids() -> None:
    text = "awal " + "".join(NOT_XML) + "\ttengah\n akhir é"
    data = [{"description": text, "status_notes": "".join(NOT_XML), "lat": -6.1754}]
    root = ET.fromstring(to_xml(data, "service_requests", "request"))
    assert root.findtext("request/description") == "awal \ttengah\n akhir é"
    assert root.findtext("request/status_notes") == ""


def test_a_note_with_control_characters_is_still_well_formed_xml(
    base: str, engine: Engine, runtime: Runtime, clock: FakeClock
) -> None:
    """Rows written before text was cleaned on the way in may hold them; XML may not."""
    # What each database can store: no lone surrogates anywhere, no NUL on PostgreSQL.
    storable = [c for c in NOT_XML if not "\ud800" <= c <= "\udfff"]
    if engine.dialect.name == "postgresql":
        storable.remove("\x00")
    photo = runtime.accept_photo_sync(jpeg((10, 10, 10)))
    with transaction(engine) as session:
        who = _reporter(session, clock())
        note = "Sampah " + "".join(storable) + "menumpuk"
        ticket = _report(session, who, clock(), photo).ticket
        # Plain SQL, past the store's cleaning column types: such text is in older rows.
        session.execute(
            text("UPDATE report SET note = :note, location_label = :label WHERE ticket = :t"),
            {"note": note, "label": "Halte\x0bMonas", "t": ticket},
        )
    for path in ("requests.xml", f"requests/{ticket}.xml"):
        response = http.get(f"{base}/{path}")
        assert response.status_code == 200
        root = ET.fromstring(response.content)
        assert root.findtext("request/description") == "Sampah menumpuk"
        assert root.findtext("request/address") == "HalteMonas"
    as_json = http.get(f"{base}/requests/{ticket}.json").json()[0]
    assert as_json["description"] == note  # JSON escapes what it must


def test_coordinates_are_shown_with_six_decimals(
    base: str, engine: Engine, runtime: Runtime, clock: FakeClock
) -> None:
    photo = runtime.accept_photo_sync(jpeg((10, 10, 10)))
    with transaction(engine) as session:
        who = _reporter(session, clock())
        # As a photo's EXIF position computes: 6 + 10/60 + 31.44/3600 degrees.
        exif = _report(session, who, clock(), photo, where=(-6.175400000000001, 106.8272000001))
        fine = _report(session, who, clock(), photo, where=(-6.1234567891, 106.82))
        tickets = exif.ticket, fine.ticket
    expected = {tickets[0]: (-6.1754, 106.8272), tickets[1]: (-6.123457, 106.82)}
    listed = http.get(f"{base}/requests.json")
    assert "6.175400000000001" not in listed.text
    assert {r["service_request_id"]: (r["lat"], r["long"]) for r in listed.json()} == expected
    root = ET.fromstring(http.get(f"{base}/requests.xml").content)
    shown = {
        r.findtext("service_request_id"): (r.findtext("lat"), r.findtext("long"))
        for r in root.iter("request")
    }
    assert shown == {t: (str(lat), str(lon)) for t, (lat, lon) in expected.items()}


def test_json_and_xml_agree(base: str, seeded: Seeded) -> None:
    as_json = http.get(f"{base}/requests.json").json()
    root = ET.fromstring(http.get(f"{base}/requests.xml").content)
    assert root.tag == "service_requests"
    requests_xml = list(root)
    assert [r.tag for r in requests_xml] == ["request"] * len(as_json) and len(as_json) == 4
    for item, element in zip(as_json, requests_xml, strict=True):
        assert sorted(item) == sorted(child.tag for child in element)
        for field, value in item.items():
            text = element.findtext(field)
            if value is None:
                assert not text, field
            elif isinstance(value, float):
                assert float(text or "nan") == value, field
            else:
                assert text == str(value), field


def test_jurisdiction_is_checked(base: str, seeded: Seeded) -> None:
    assert tickets_of(client(base, jurisdiction=JURISDICTION).get_service_requests())
    assert client(base, "xml", jurisdiction=JURISDICTION).get_service_list()
    for path in ("services.json", "requests.json", f"requests/{seeded['a']}.json"):
        response = http.get(f"{base}/{path}", params={"jurisdiction_id": "bandung.go.id"})
        assert response.status_code == 404
        assert response.json()[0]["code"] == 404
        assert "jurisdiction_id" in response.json()[0]["description"]
    as_xml = http.get(f"{base}/services.xml", params={"jurisdiction_id": "bandung.go.id"})
    assert xml_errors(as_xml)[0][0] == "404"
    assert http.get(f"{base}/services.yaml").status_code == 404


# -- filing -------------------------------------------------------------------------------------


def form(key: str, photos: str, **extra: str) -> dict[str, str]:
    return {
        "api_key": key,
        "service_code": "sampah",
        "lat": str(GAMBIR[0]),
        "long": str(GAMBIR[1]),
        "address_string": "Halte Monas",
        "description": "Tumpukan sampah di depan halte",
        "email": "warga@example.org",
        "first_name": "Siti",
        "last_name": "Aminah",
        "phone": "+6281298765432",
        "media_url": f"{photos}/gps.jpg",
        **extra,
    }


@pytest.mark.parametrize("as_json", [False, True])
def test_free_text_with_controls_is_cleaned_and_the_report_filed(
    base: str, key: str, photos: str, engine: Engine, as_json: bool
) -> None:
    """A description or name is what a person wrote: NUL (which PostgreSQL refuses), other
    controls and lone surrogates go, the report is filed. A reporter's email of 52 and more
    characters used to overflow the event's actor column."""
    email = "warga.dengan.alamat.surel.yang.sangat.panjang.sekali@kelurahan.example.go.id"
    change = {
        "description": "sampah\x00 menumpuk\x0b di halte" + ("\ud800" if as_json else ""),
        "address_string": "Halte\x00 Monas",
        "first_name": "Si\x00ti",
        "email": email,
    }
    data = form(key, photos, **change)
    if as_json:
        body = json.dumps(data).encode()  # the surrogate travels as a \\ud800 escape
        response = http.post(
            f"{base}/requests.json", content=body, headers={"content-type": "application/json"}
        )
    else:
        response = http.post(f"{base}/requests.json", data=data)
    assert response.status_code == 200, response.text
    ticket = response.json()[0]["service_request_id"]
    with new_session(engine) as session:
        report = session.scalars(select(Report).where(Report.ticket == ticket)).one()
        reporter = session.get(Contact, report.reporter_id)
        event = session.scalars(select(ReportEvent).where(ReportEvent.report_id == report.id)).one()
    expected = "sampah menumpuk di halte" + ("\ufffd" if as_json else "")
    assert report.note == expected
    assert report.location_label == "Halte Monas"
    assert reporter is not None and reporter.name is not None and "\x00" not in reporter.name
    assert len(event.actor) <= 64


def test_post_files_a_submitted_report_with_a_card_and_a_token(
    base: str, key: str, photos: str, engine: Engine, runtime: Runtime, clock: FakeClock
) -> None:
    response = http.post(f"{base}/requests.json", data=form(key, photos))
    assert response.status_code == 200, response.text
    [answer] = response.json()
    ticket, token = answer["service_request_id"], answer["token"]
    assert answer["account_id"] is None and answer["service_notice"]
    assert ticket.startswith("JKT-2611-") and 20 <= len(token) <= 40

    with new_session(engine) as session:
        report = session.scalars(select(Report).where(Report.ticket == ticket)).one()
        assert (report.kind, report.status, report.channel) == ("laporan", "submitted", "open311")
        assert report.public and report.open311_token == token
        assert report.kelurahan_code == "DEMO.01"
        assert report.note == "Tumpukan sampah di depan halte"
        assert report.location_label == "Halte Monas"
        events = session.scalars(
            select(ReportEvent).where(ReportEvent.report_id == report.id)
        ).all()
        assert [(e.from_status, e.to_status) for e in events] == [(None, "submitted")]
        cards = session.scalars(select(Outbox).where(Outbox.address == ADMIN)).all()
        assert len(cards) == 1 and cards[0].channel == "telegram"
        assert ticket in cards[0].payload["text"]
        assert f"v:{report.id}" in [payload for _label, payload in cards[0].payload["choices"]]
        reporter = session.get(Contact, report.reporter_id)
        assert reporter is not None and reporter.channel == "open311"
        assert not reporter.reachable and reporter.unreachable_reason == "open311: no chat"
        photo = first_photo(session, report.id)
        assert photo is not None
        used = session.scalars(select(ApiKey)).one().last_used_at
        assert used == clock()

    # The photo was posted with GPS in its EXIF: what is stored and served has none.
    posted = http.get(f"{photos}/gps.jpg").content
    assert Image.open(io.BytesIO(posted)).getexif().get_ifd(0x8825)
    stored = runtime.media.open_bytes(photo.path)
    assert not Image.open(io.BytesIO(stored)).getexif()
    assert b"Exif" not in stored
    assert photo.gps_lat is not None  # kept as a hint in the database only

    resolved = http.get(f"{base}/tokens/{token}.json")
    assert resolved.json() == [{"service_request_id": ticket, "token": token}]
    root = ET.fromstring(http.get(f"{base}/tokens/{token}.xml").content)
    assert root.findtext("request/service_request_id") == ticket
    assert root.findtext("request/token") == token
    assert http.get(f"{base}/tokens/not-a-token.json").status_code == 404

    shown = client(base).get_service_request(ticket)
    assert shown["status"] == "open" and shown["agency_responsible"] == "Kelurahan Gambir (demo)"
    served = http.get(shown["media_url"])
    assert served.content == stored
    for personal in ("Siti", "Aminah", "warga@example.org", "6281298765432"):
        assert personal not in http.get(f"{base}/requests/{ticket}.xml").text
        assert personal not in http.get(f"{base}/requests.json").text


def test_post_accepts_json_and_answers_xml(
    base: str, key: str, photos: str, engine: Engine
) -> None:
    body = {**form(key, photos), "lat": GAMBIR[0], "long": GAMBIR[1], "email": None}
    response = http.post(f"{base}/requests.xml", json=body)
    assert response.status_code == 200, response.text
    root = ET.fromstring(response.content)
    assert root.tag == "service_requests"
    ticket = root.findtext("request/service_request_id")
    assert ticket and root.findtext("request/token")
    with new_session(engine) as session:
        report = session.scalars(select(Report).where(Report.ticket == ticket)).one()
        reporter = session.get(Contact, report.reporter_id)
        assert reporter is not None
        # Without an email the phone names the reporter (stored for verifiers, never shown).
        assert reporter.address.endswith(":+6281298765432")


def test_status_changes_never_queue_messages_for_an_api_reporter(
    base: str, key: str, photos: str, engine: Engine, runtime: Runtime, clock: FakeClock
) -> None:
    """A verifier verifies two reports: the chat reporter is told, the API reporter is not."""
    filed = http.post(f"{base}/requests.json", data=form(key, photos)).json()[0]
    citizen = runtime.accept_photo_sync(jpeg((90, 90, 90)))
    with transaction(engine) as session:
        chat = Contact(channel="telegram", address="777", created_at=clock())
        session.add(chat)
        session.flush()
        chat_report = _report(session, chat, clock(), citizen)
        chat_id = chat_report.id
        api_id = session.scalars(
            select(Report.id).where(Report.ticket == filed["service_request_id"])
        ).one()
    for n, report_id in enumerate((api_id, chat_id)):
        clock.advance(seconds=1)
        runtime.handle_sync(
            Inbound(
                channel="telegram",
                address=ADMIN,
                message_id=f"press-{n}",
                group=True,
                sender=str(VERIFIER),
                telegram_id=VERIFIER,
                name="Verifikator",
                choice=f"v:{report_id}",
            )
        )
    with new_session(engine) as session:
        statuses = dict(session.execute(select(Report.id, Report.status)).all())
        assert statuses[api_id] == statuses[chat_id] == "verified"
        channels = set(session.scalars(select(Outbox.channel)).all())
        told = session.scalars(select(Outbox).where(Outbox.address == "777")).all()
    assert "open311" not in channels
    assert told and "Terverifikasi" in told[0].payload["text"]


def _rows(engine: Engine) -> list[int]:
    return [count(engine, model) for model in (Report, Contact, Outbox, Photo)]


@pytest.mark.parametrize(
    ("change", "status_code", "says"),
    [
        ({"api_key": "wrong-key"}, 403, "api_key"),
        ({"api_key": ""}, 403, "api_key"),
        ({"lat": ""}, 400, "lat and long are required"),
        ({"long": ""}, 400, "address_string or address_id alone is not geocoded"),
        ({"lat": "utara"}, 400, "lat is not a number"),
        ({"lat": "95"}, 400, "within -90..90"),
        ({"service_code": "tidak-ada"}, 400, "not one of our services"),
        ({"service_code": ""}, 400, "service_code is required"),
        ({"lat": "-6.9", "long": "107.6"}, 400, "outside the service area"),
        ({"media_url": "{photos}/missing.jpg"}, 400, "HTTP 404"),
        ({"media_url": "{photos}/text.jpg"}, 400, "not a usable photo"),
        ({"media_url": "ftp://example.org/x.jpg"}, 400, "http or https"),
        ({"media_url": ""}, 400, "needs a photo"),
        ({"jurisdiction_id": "bandung.go.id"}, 404, "jurisdiction_id"),
        # A host name longer than DNS allows: the resolver's codec used to raise.
        ({"media_url": "http://" + "a" * 300 + "/x.jpg"}, 400, "no valid host name"),
        ({"media_url": "http://" + "a" * 64 + ".example/x.jpg"}, 400, "no valid host name"),
        ({"media_url": "http://foto host/x.jpg"}, 400, "no valid host name"),
        ({"media_url": "http://example.org:99999/x.jpg"}, 400, "no valid port"),
        ({"media_url": "http://example.org/" + "x" * 2048}, 400, "longer than 2048"),
        ({"media_url": "http://example.org/\x00.jpg"}, 400, "media_url holds a character"),
        # Identifiers and addresses are refused with a control character (free text is cleaned).
        ({"email": "warga\x00@example.org"}, 400, "email holds a character"),
        ({"service_code": "sampah\x00"}, 400, "service_code holds a character"),
        ({"service_code": "sampah lain"}, 400, "service_code 'sampah lain' is not valid"),
        ({"lat": "-6.1\x00"}, 400, "lat holds a character"),
        ({"api_key": "kunci\x00"}, 400, "api_key holds a character"),
        ({"api_key": "k" * 129}, 400, "api_key is longer than 128"),
        ({"description": "x" * 1001}, 400, "description is longer than 1000 characters"),
        ({"address_string": "x" * 201}, 400, "address_string is longer than 200"),
        # Contact.name holds 128: both names at their longest must fit it.
        ({"first_name": "x" * 61}, 400, "first_name is longer than 60"),
    ],
)
def test_bad_posts_are_refused_and_create_nothing(
    base: str,
    key: str,
    photos: str,
    engine: Engine,
    change: dict[str, str],
    status_code: int,
    says: str,
) -> None:
    before = _rows(engine)
    data = form(key, photos, **{k: v.format(photos=photos) for k, v in change.items()})
    for fmt in ("json", "xml"):
        response = http.post(f"{base}/requests.{fmt}", data=data)
        assert response.status_code == status_code, response.text
        if fmt == "json":
            [error] = response.json()
            assert set(error) == {"code", "description"}
        else:
            [(code, description)] = xml_errors(response)
            error = {"code": int(code), "description": description}
        assert error["code"] == status_code and says in error["description"]
    assert _rows(engine) == before


def _post_raw(base: str, body: bytes, content_type: str = "application/json") -> httpx.Response:
    return http.post(f"{base}/requests.json", content=body, headers={"content-type": content_type})


def _json(key: str, photos: str, **change: Any) -> bytes:
    return json.dumps({**form(key, photos), **change}).encode()


@pytest.mark.parametrize(
    ("body", "status_code", "says"),
    [
        # Nested before any key is checked: json.loads used to raise RecursionError.
        (lambda key, photos: b"[" * 100_000 + b"]" * 100_000, 413, "larger than 64 KB"),
        (lambda key, photos: b'{"a":' * 5_000 + b"1" + b"}" * 5_000, 400, "nested too deeply"),
        (lambda key, photos: b"[1, 2]", 400, "must be an object"),
        (lambda key, photos: b"{", 400, "not valid JSON"),
        (lambda key, photos: b'{"lat": "\xff"}', 400, "not valid JSON"),
        (lambda key, photos: _json(key, photos, lat=[-6.17]), 400, "lat must be a string"),
        (lambda key, photos: _json(key, photos, description={"a": 1}), 400, "must be a string"),
        (lambda key, photos: _json(key, photos, service_code=True), 400, "must be a string"),
        (lambda key, photos: _json(key, photos, lat=1e400), 400, "lat is not a number"),
        (lambda key, photos: _json(key, photos, lat=float("nan")), 400, "lat is not a number"),
        (lambda key, photos: _json(key, photos, note="x" * 70_000), 413, "larger than 64 KB"),
    ],
)
def test_bad_json_bodies_are_refused_and_create_nothing(
    base: str,
    key: str,
    photos: str,
    engine: Engine,
    body: Callable[[str, str], bytes],
    status_code: int,
    says: str,
) -> None:
    before = _rows(engine)
    response = _post_raw(base, body(key, photos))
    assert response.status_code == status_code, response.text
    [error] = response.json()
    assert error["code"] == status_code and says in error["description"]
    assert _rows(engine) == before


def test_a_malformed_multipart_body_is_400(base: str, engine: Engine) -> None:
    before = _rows(engine)
    # A part without a name: Starlette refuses it with its own plain-text 400.
    nameless = b"--x\r\nContent-Disposition: form-data\r\n\r\nisi\r\n--x--\r\n"
    response = _post_raw(base, nameless, "multipart/form-data; boundary=x")
    assert response.status_code == 400, response.text
    assert response.json()[0]["description"].startswith("the form cannot be read")
    assert _rows(engine) == before


def test_media_on_a_private_address_is_refused_by_default(
    settings: Settings, runtime: Runtime, key: str, photos: str, engine: Engine
) -> None:
    guarded = settings.model_copy(update={"open311_media_private": False})
    server = LoopbackServer(create_app(guarded, runtime=runtime), "lapor-web-guarded")
    server.start()
    try:
        before = _rows(engine)
        response = http.post(
            f"http://127.0.0.1:{server.port}/open311/v2/requests.json",
            data=form(key, photos),
        )
    finally:
        server.stop()
    assert response.status_code == 400, response.text
    assert "private or local address" in response.json()[0]["description"]
    assert _rows(engine) == before


def test_a_revoked_key_is_refused(base: str, key: str, photos: str, engine: Engine) -> None:
    with transaction(engine) as session:
        key_id = open311_store.active_key_id(session, key)
        assert key_id is not None and open311_store.revoke_key(session, key_id)
    response = http.post(f"{base}/requests.json", data=form(key, photos))
    assert response.status_code == 403
    assert response.json()[0]["code"] == 403
    assert count(engine, Report) == 0


def test_a_blocked_api_reporter_is_refused(
    base: str, key: str, photos: str, engine: Engine
) -> None:
    """A verifier blocked them (the card's block button): their next report is not filed."""
    assert http.post(f"{base}/requests.json", data=form(key, photos)).status_code == 200
    with transaction(engine) as session:
        session.execute(
            Contact.__table__.update().where(Contact.channel == "open311").values(blocked=True)
        )
    response = http.post(f"{base}/requests.json", data=form(key, photos))
    assert response.status_code == 403 and "blocked" in response.json()[0]["description"]
    other = http.post(f"{base}/requests.json", data=form(key, photos, email="lain@example.org"))
    assert other.status_code == 200
    assert count(engine, Report) == 2


# -- limits -------------------------------------------------------------------------------------


@contextmanager
def served(settings: Settings, clock: FakeClock, **change: Any) -> Iterator[str]:
    """lapor's web app with some settings changed, on loopback: its Open311 base URL."""
    changed = settings.model_copy(update=change)
    runtime = Runtime.from_settings(changed, clock=clock)
    server = LoopbackServer(create_app(changed, runtime=runtime), "lapor-web-limited")
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}/open311/v2"
    finally:
        server.stop()
        runtime.dispose()


def assert_too_many(api: str, data: dict[str, str], says: str, wait: int) -> None:
    """429 in the spec's shape, JSON and XML, with Retry-After in seconds."""
    for fmt in ("json", "xml"):
        response = http.post(f"{api}/requests.{fmt}", data=data)
        assert response.status_code == 429, response.text
        assert response.headers["retry-after"] == str(wait)
        if fmt == "json":
            [error] = response.json()
            code, description = str(error["code"]), error["description"]
        else:
            [(code, description)] = xml_errors(response)
        assert code == "429" and says in description


def test_a_reporter_has_a_chat_reporters_hourly_limit(
    settings: Settings, runtime: Runtime, key: str, photos: str, engine: Engine, clock: FakeClock
) -> None:
    with served(settings, clock, reports_per_hour=2) as api:
        for _ in range(2):
            assert http.post(f"{api}/requests.json", data=form(key, photos)).status_code == 200
            clock.advance(minutes=10)
        before = _rows(engine)
        # Refused before the photo is fetched: this one would be a 400 (HTTP 404) otherwise.
        missing = form(key, photos, media_url=f"{photos}/missing.jpg")
        # The first of the two leaves the window just after it is an hour old: in 40 minutes.
        assert_too_many(api, missing, "reporter filed 2 reports in the last hour", 40 * 60 + 1)
        assert _rows(engine) == before
        other = form(key, photos, email="lain@example.org")
        assert http.post(f"{api}/requests.json", data=other).status_code == 200
        clock.advance(minutes=40)
        assert http.post(f"{api}/requests.json", data=form(key, photos)).status_code == 429
        clock.advance(seconds=1)
        assert http.post(f"{api}/requests.json", data=form(key, photos)).status_code == 200


def test_a_reporter_has_a_chat_reporters_daily_limit(
    settings: Settings, runtime: Runtime, key: str, photos: str, engine: Engine, clock: FakeClock
) -> None:
    # 03:00 UTC is 10:00 WIB: the day ends, for the limit, at WIB midnight, 14 hours on.
    with served(settings, clock, reports_per_hour=10, reports_per_day=2) as api:
        for _ in range(2):
            assert http.post(f"{api}/requests.json", data=form(key, photos)).status_code == 200
        before = _rows(engine)
        assert_too_many(api, form(key, photos), "reporter filed 2 reports today", 14 * 3600)
        assert _rows(engine) == before
        clock.advance(hours=14)
        assert http.post(f"{api}/requests.json", data=form(key, photos)).status_code == 200


def test_a_key_has_its_own_hourly_limit_over_all_its_reporters(
    settings: Settings, runtime: Runtime, key: str, photos: str, engine: Engine, clock: FakeClock
) -> None:
    with served(settings, clock, open311_reports_per_hour=3) as api:
        for n in range(3):
            data = form(key, photos, email=f"warga{n}@example.org")
            assert http.post(f"{api}/requests.json", data=data).status_code == 200
            clock.advance(minutes=1)
        before = _rows(engine)
        fourth = form(key, photos, email="warga4@example.org")
        assert_too_many(api, fourth, "api_key filed 3 reports in the last hour", 57 * 60 + 1)
        assert _rows(engine) == before
        # Another client's key is not held back by this one.
        other = open311_store.new_api_key()
        with transaction(engine) as session:
            open311_store.add_key(session, "Aplikasi lain", other, clock())
        assert http.post(f"{api}/requests.json", data=form(other, photos)).status_code == 200
    # With the limit lowered to one, the key waits until two of its three have left the
    # window: the third was filed at minute 2, so until minute 62 (59 from now).
    with served(settings, clock, open311_reports_per_hour=1) as api:
        assert_too_many(api, fourth, "api_key filed 3 reports", 59 * 60 + 1)
    with served(settings, clock, open311_reports_per_hour=4) as api:
        assert http.post(f"{api}/requests.json", data=fourth).status_code == 200


# -- the operator's CLI -------------------------------------------------------------------------


def test_cli_adds_lists_and_revokes_keys(
    db_url: str,
    engine: Engine,
    monkeypatch,
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", db_url)
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(cli_app, ["open311", *args])
        assert result.exit_code == code, result.output
        return result.output

    assert "no API keys" in run("key", "list")
    added = run("key", "add", "Jakarta Kini")
    secret = added.split("\n\n")[1].strip()
    with new_session(engine) as session:
        stored = session.scalars(select(ApiKey)).one()
        assert stored.key_hash == hash_code(secret) and secret not in stored.key_hash
        assert open311_store.active_key_id(session, secret) == stored.id
    listed = run("key", "list")
    assert f"{stored.id}\tJakarta Kini\tactive" in listed and "last used -" in listed
    assert secret not in listed
    assert "revoked" in run("key", "revoke", str(stored.id))
    assert f"{stored.id}\tJakarta Kini\trevoked" in run("key", "list")
    with new_session(engine) as session:
        assert open311_store.active_key_id(session, secret) is None
    run("key", "revoke", "999", code=1)
