"""Open311 GeoReport v2 over loopback: read with the independent `georeport` client,
file with plain httpx, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import requests
from georeport import GeoReport
from PIL import Image
from PIL.TiffImagePlugin import IFDRational
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from typer.testing import CliRunner

from lapor.bot.cli import app as cli_app
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
) -> Report:
    return create_report(
        session,
        kind=kind,
        reporter=reporter,
        now=at,
        local_now=at.astimezone(WIB),
        ticket_prefix="JKT",
        category_slug=category,
        note=f"catatan {category} {at:%d}",
        location=(*GAMBIR, label),
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
    """Public laporan in every family, and what must stay hidden: rahasia, saran, apresiasi."""
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
    response = httpx.get(f"{base}/services/tidak-ada.json")
    assert response.status_code == 404
    assert response.json() == [{"code": 404, "description": "unknown service_code: 'tidak-ada'"}]
    as_xml = httpx.get(f"{base}/services/tidak-ada.xml")
    assert as_xml.status_code == 404
    assert xml_errors(as_xml) == [("404", "unknown service_code: 'tidak-ada'")]


def test_discovery_names_this_endpoint(base: str) -> None:
    document = httpx.get(f"{base}/discovery.json").json()
    endpoint = document["endpoints"][0]
    assert endpoint["url"] == base
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert set(endpoint["formats"]) == {"application/json", "text/xml"}
    root = ET.fromstring(httpx.get(f"{base}/discovery.xml").content)
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
    assert found == [t["a"], t["d"], t["x"], t["b"], t["c"]]


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
    assert tickets_of(api.get_service_requests(status="closed")) == [t["d"], t["x"], t["c"]]
    assert tickets_of(api.get_service_requests(status="open,closed")) == tickets_of(
        api.get_service_requests()
    )
    now = clock()
    recent = api.get_service_requests(
        start_date=(now - timedelta(days=6)).isoformat(), end_date=now.isoformat()
    )
    assert tickets_of(recent) == [t["a"], t["d"], t["x"]]
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
    ],
)
def test_bad_filters_are_400(base: str, params: dict[str, str], says: str) -> None:
    response = httpx.get(f"{base}/requests.json", params=params)
    assert response.status_code == 400
    [error] = response.json()
    assert error["code"] == 400 and says in error["description"]
    as_xml = httpx.get(f"{base}/requests.xml", params=params)
    assert as_xml.status_code == 400
    [(code, description)] = xml_errors(as_xml)
    assert code == "400" and says in description


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
    served = httpx.get(a["media_url"])
    assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
    with new_session(engine) as session:
        report = session.scalars(select(Report).where(Report.ticket == t["a"])).one()
        stored = first_photo(session, report.id)
        assert stored is not None
    assert served.content == runtime.media.open_bytes(stored.path)

    assert api.get_service_request(t["b"])["status_notes"] == "Diproses"
    resolved = api.get_service_request(t["c"])
    assert (resolved["status"], resolved["status_notes"]) == ("closed", "Selesai")
    rejected = api.get_service_request(t["x"])
    assert rejected["status"] == "closed"
    assert rejected["status_notes"] == "Ditolak: Foto tidak jelas"
    duplicate = api.get_service_request(t["d"])
    assert duplicate["status"] == "closed"
    assert duplicate["status_notes"] == f"Duplikat: duplikat dari {t['b']}"


def test_rahasia_saran_and_apresiasi_never_appear(base: str, seeded: Seeded) -> None:
    for name in ("hidden", "saran", "thanks"):
        ticket = seeded[name]
        for fmt in ("json", "xml"):
            assert httpx.get(f"{base}/requests/{ticket}.{fmt}").status_code == 404
        assert httpx.get(f"{base}/media/{ticket}.jpg").status_code == 404
        listed = httpx.get(f"{base}/requests.json", params={"service_request_id": ticket})
        assert listed.json() == []
    assert httpx.get(f"{base}/media/{seeded['a']}.jpg").status_code == 200
    everything = [
        httpx.get(f"{base}/requests.{fmt}", params=params).text
        for fmt in ("json", "xml")
        for params in ({}, {"start_date": "2026-07-01T00:00:00Z"})
    ]
    for text in everything:
        assert seeded["hidden"] not in text and seeded["saran"] not in text
        assert REPORTER_NAME not in text and "6281234567890" not in text


def test_json_and_xml_agree(base: str, seeded: Seeded) -> None:
    as_json = httpx.get(f"{base}/requests.json").json()
    root = ET.fromstring(httpx.get(f"{base}/requests.xml").content)
    assert root.tag == "service_requests"
    requests_xml = list(root)
    assert [r.tag for r in requests_xml] == ["request"] * len(as_json) and len(as_json) == 5
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
        response = httpx.get(f"{base}/{path}", params={"jurisdiction_id": "bandung.go.id"})
        assert response.status_code == 404
        assert response.json()[0]["code"] == 404
        assert "jurisdiction_id" in response.json()[0]["description"]
    as_xml = httpx.get(f"{base}/services.xml", params={"jurisdiction_id": "bandung.go.id"})
    assert xml_errors(as_xml)[0][0] == "404"
    assert httpx.get(f"{base}/services.yaml").status_code == 404


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


def test_post_files_a_submitted_report_with_a_card_and_a_token(
    base: str, key: str, photos: str, engine: Engine, runtime: Runtime, clock: FakeClock
) -> None:
    response = httpx.post(f"{base}/requests.json", data=form(key, photos))
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
    posted = httpx.get(f"{photos}/gps.jpg").content
    assert Image.open(io.BytesIO(posted)).getexif().get_ifd(0x8825)
    stored = runtime.media.open_bytes(photo.path)
    assert not Image.open(io.BytesIO(stored)).getexif()
    assert b"Exif" not in stored
    assert photo.gps_lat is not None  # kept as a hint in the database only

    resolved = httpx.get(f"{base}/tokens/{token}.json")
    assert resolved.json() == [{"service_request_id": ticket, "token": token}]
    root = ET.fromstring(httpx.get(f"{base}/tokens/{token}.xml").content)
    assert root.findtext("request/service_request_id") == ticket
    assert root.findtext("request/token") == token
    assert httpx.get(f"{base}/tokens/not-a-token.json").status_code == 404

    shown = client(base).get_service_request(ticket)
    assert shown["status"] == "open" and shown["agency_responsible"] == "Kelurahan Gambir (demo)"
    served = httpx.get(shown["media_url"])
    assert served.content == stored
    for personal in ("Siti", "Aminah", "warga@example.org", "6281298765432"):
        assert personal not in httpx.get(f"{base}/requests/{ticket}.xml").text
        assert personal not in httpx.get(f"{base}/requests.json").text


def test_post_accepts_json_and_answers_xml(
    base: str, key: str, photos: str, engine: Engine
) -> None:
    body = {**form(key, photos), "lat": GAMBIR[0], "long": GAMBIR[1], "email": None}
    response = httpx.post(f"{base}/requests.xml", json=body)
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
    filed = httpx.post(f"{base}/requests.json", data=form(key, photos)).json()[0]
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
        response = httpx.post(f"{base}/requests.{fmt}", data=data)
        assert response.status_code == status_code, response.text
        if fmt == "json":
            [error] = response.json()
            assert set(error) == {"code", "description"}
        else:
            [(code, description)] = xml_errors(response)
            error = {"code": int(code), "description": description}
        assert error["code"] == status_code and says in error["description"]
    assert _rows(engine) == before


def test_media_on_a_private_address_is_refused_by_default(
    settings: Settings, runtime: Runtime, key: str, photos: str, engine: Engine
) -> None:
    guarded = settings.model_copy(update={"open311_media_private": False})
    server = LoopbackServer(create_app(guarded, runtime=runtime), "lapor-web-guarded")
    server.start()
    try:
        before = _rows(engine)
        response = httpx.post(
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
    response = httpx.post(f"{base}/requests.json", data=form(key, photos))
    assert response.status_code == 403
    assert response.json()[0]["code"] == 403
    assert count(engine, Report) == 0


def test_a_blocked_api_reporter_is_refused(
    base: str, key: str, photos: str, engine: Engine
) -> None:
    """A verifier blocked them (the card's block button): their next report is not filed."""
    assert httpx.post(f"{base}/requests.json", data=form(key, photos)).status_code == 200
    with transaction(engine) as session:
        session.execute(
            Contact.__table__.update().where(Contact.channel == "open311").values(blocked=True)
        )
    response = httpx.post(f"{base}/requests.json", data=form(key, photos))
    assert response.status_code == 403 and "blocked" in response.json()[0]["description"]
    other = httpx.post(f"{base}/requests.json", data=form(key, photos, email="lain@example.org"))
    assert other.status_code == 200
    assert count(engine, Report) == 2


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
