"""A dashboard with a known city: the demo registry, seven reports, two RT/RW heads, staff.

The reports cover every filter the list offers (status, kind, category, kelurahan,
channel, WIB dates, deadlines), with photos stored in a real media store, so tests can
check that a filter returns exactly the right tickets and that photos are served.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from lapor.bot.dashboard.accounts import add_staff
from lapor.bot.dashboard.passwords import hash_password
from lapor.bot.runtime import Runtime
from lapor.bot.settings import Settings, load_settings
from lapor.bot.web import create_app
from lapor.routing.demo import ensure_demo_registry
from lapor.store.db import transaction
from lapor.store.lifecycle import ReportKind, ReportStatus
from lapor.store.models import Contact, Head, Report, ReportPhoto
from lapor.store.reports import create_report, transition, upsert_photo
from tests.bot.conftest import jpeg_bytes
from tests.conftest import FakeClock

SECRET = "dashboard-test-secret-0123456789abcdefghij"
USERNAME = "pemantau"
PASSWORD = "kata-sandi-rahasia-1"
WIB = ZoneInfo("Asia/Jakarta")
# The reporters: their names and addresses may show on a report's page, nowhere else.
SITI = ("whatsapp", "+6281200000001", "Siti Aminah")
BUDI = ("telegram", "100200300", "Budi Santoso")
JOKO = ("whatsapp", "+6281200000003", "Joko Widodo Susilo")
DEWI = ("console", "dewi", "Dewi Lestari")
PERSONAL = [
    "+6281200000001",
    "6281200000001",
    "+6281200000003",
    "100200300",
    "Siti",
    "Budi",
    "Joko",
    "Dewi",
]
HEAD_NAME = "Ketua Slamet Riyadi"

# Every route of the dashboard (a report and a photo that exist), for the login-wall tests.
PAGES = [
    "/dashboard/",
    "/dashboard/map",
    "/dashboard/kelurahan",
    "/dashboard/kelurahan.csv",
    "/dashboard/reports",
    "/dashboard/reports?status=submitted&kelurahan=DEMO.02",
    "/dashboard/reports.csv",
    "/dashboard/reports/{a}",
    "/dashboard/photos/1",
    "/dashboard/rtrw",
    "/dashboard/rtrw.csv",
    "/dashboard/rtrw-statement.csv",
    "/dashboard/no-such-page",
]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def dashboard_settings(database_url: str, tmp_path: Path, **extra: Any) -> Settings:
    extra.setdefault("dashboard_secret_key", SECRET)
    return load_settings(
        _env_file=None, database_url=database_url, media_dir=tmp_path / "media", **extra
    )


@dataclass
class City:
    """What was seeded: tickets by label, photo ids by ticket."""

    tickets: dict[str, str] = field(default_factory=dict)
    photos: dict[str, list[int]] = field(default_factory=dict)
    after_photo: int | None = None


# scrypt is slow on purpose (~0.1 s): hash the test password once per run, not per test.
_hashed = functools.cache(hash_password)


def seed_staff(engine: Engine, username: str = USERNAME, password: str = PASSWORD) -> None:
    with transaction(engine) as session:
        add_staff(session, username, "Petugas Pemantau", _hashed(password), utc(2026, 11, 1))


def seed_city(runtime: Runtime) -> City:
    """The demo registry and seven reports, each with a known life story."""
    engine = runtime.engine
    city = City()
    with transaction(engine) as session:
        ensure_demo_registry(session, utc(2026, 10, 1))
        contacts = {}
        for channel, address, name in (SITI, BUDI, JOKO, DEWI):
            contact = Contact(
                channel=channel, address=address, name=name, created_at=utc(2026, 10, 1)
            )
            session.add(contact)
            session.flush()
            contacts[name] = contact

        shades = itertools.count(1)

        def photo() -> dict[str, Any]:
            n = next(shades)
            colour = (n * 37 % 256, n * 91 % 256, n * 53 % 256)
            return runtime.accept_photo_sync(jpeg_bytes(colour)).to_dict()

        def report(
            label: str,
            who: tuple[str, str, str],
            at: datetime,
            kind: ReportKind = ReportKind.LAPORAN,
            category: str | None = "sampah",
            where: tuple[float, float] | None = (-6.175, 106.825),
            kelurahan: str | None = "DEMO.01",
            photos: int = 1,
        ) -> Report:
            made = create_report(
                session,
                kind=kind,
                reporter=contacts[who[2]],
                now=at,
                local_now=at.astimezone(WIB),
                ticket_prefix="JKT",
                category_slug=category,
                note=f"Catatan {label}: hubungi saya",
                location=where,
                photos=[photo() for _ in range(photos)],
                kelurahan_code=kelurahan,
            )
            city.tickets[label] = made.ticket
            return made

        def move(
            made: Report,
            target: ReportStatus,
            at: datetime,
            actor: str = "telegram:900",
            **fields: Any,
        ) -> None:
            assert transition(session, made.id, target, now=at, actor=actor, **fields) is not None

        # a: a whole life, resolved with an after-photo and rated.
        a = report("a", SITI, utc(2026, 11, 20, 2), photos=2)
        move(a, ReportStatus.VERIFIED, utc(2026, 11, 20, 5))
        move(a, ReportStatus.FORWARDED, utc(2026, 11, 20, 5, 1), actor="system")
        move(a, ReportStatus.IN_PROGRESS, utc(2026, 11, 21, 1), actor="telegram:700")
        after_id = upsert_photo(session, photo(), utc(2026, 11, 22))
        city.after_photo = after_id
        move(
            a,
            ReportStatus.RESOLVED,
            utc(2026, 11, 22, 3),
            actor="telegram:700",
            after_photo_id=after_id,
            note="Sudah diangkut",
        )
        a.rating, a.rating_comment = 5, "Cepat sekali"
        # b: forwarded to DEMO.02 and late with the follow-up.
        b = report(
            "b",
            BUDI,
            utc(2026, 11, 25, 4),
            category="jalan-rusak",
            where=(-6.195, 106.8375),
            kelurahan="DEMO.02",
        )
        move(b, ReportStatus.VERIFIED, utc(2026, 11, 25, 6))
        move(b, ReportStatus.FORWARDED, utc(2026, 11, 25, 6, 1), actor="system")
        b.followup_breached_at = utc(2026, 11, 27, 0)
        # c: 20:00 UTC on the 27th is 03:00 WIB on the 28th: a WIB date, not a UTC one.
        c = report("c", BUDI, utc(2026, 11, 27, 20), where=(-6.195, 106.8375), kelurahan="DEMO.02")
        c.verify_breached_at = utc(2026, 11, 28, 2)
        # d: October, rejected with a reason.
        d = report(
            "d",
            SITI,
            utc(2026, 10, 15, 3),
            category="banjir",
            where=(-6.198, 106.811),
            kelurahan="DEMO.03",
        )
        move(d, ReportStatus.REJECTED, utc(2026, 10, 15, 6), rejection_reason="Foto tidak jelas")
        # e: a duplicate of a.
        e = report("e", JOKO, utc(2026, 11, 26, 1))
        move(e, ReportStatus.DUPLICATE, utc(2026, 11, 26, 2), duplicate_of_id=a.id)
        # f: a suggestion on Telegram, acknowledged; g: an appreciation from the console.
        f = report(
            "f",
            BUDI,
            utc(2026, 11, 27, 1),
            kind=ReportKind.SARAN,
            category=None,
            where=None,
            kelurahan=None,
            photos=0,
        )
        move(f, ReportStatus.ACKNOWLEDGED, utc(2026, 11, 27, 2))
        report(
            "g",
            DEWI,
            utc(2026, 11, 27, 9),
            kind=ReportKind.APRESIASI,
            category=None,
            where=None,
            kelurahan=None,
            photos=0,
        )
        # RT/RW heads: Budi is the RT head of DEMO.02 (b counts, c waits), his RW head unlinked.
        session.add(
            Head(
                name=HEAD_NAME,
                role="RT",
                rt="001",
                rw="002",
                kelurahan_code="DEMO.02",
                contact_id=contacts[BUDI[2]].id,
                created_at=utc(2026, 10, 1),
                updated_at=utc(2026, 10, 1),
            )
        )
        session.add(
            Head(
                name="Ketua RW Dua",
                role="RW",
                rt="",
                rw="002",
                kelurahan_code="DEMO.02",
                created_at=utc(2026, 10, 1),
                updated_at=utc(2026, 10, 1),
            )
        )
        session.flush()
        for label, ticket in city.tickets.items():
            rid = session.scalars(select(Report.id).where(Report.ticket == ticket)).one()
            city.photos[label] = list(
                session.scalars(
                    select(ReportPhoto.photo_id)
                    .where(ReportPhoto.report_id == rid)
                    .order_by(ReportPhoto.position)
                )
            )
    return city


class Browser:
    """A staff member's HTTP client: keeps the session cookie, reads CSRF tokens from pages."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.client.get(path, **kwargs)

    async def csrf(self, path: str = "/dashboard/login") -> str:
        page = await self.client.get(path)
        match = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert match, page.text
        return match.group(1)

    async def login(
        self, username: str = USERNAME, password: str = PASSWORD, next: str = ""
    ) -> httpx.Response:
        token = await self.csrf()
        return await self.client.post(
            "/dashboard/login",
            data={"csrf": token, "username": username, "password": password, "next": next},
        )

    async def logout(self) -> httpx.Response:
        token = await self.csrf("/dashboard/")
        return await self.client.post("/dashboard/logout", data={"csrf": token})


def http_client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://lapor.test", follow_redirects=False
    )


@dataclass
class Rig:
    settings: Settings
    runtime: Runtime
    clock: FakeClock
    city: City
    app: Any
    web: Browser

    def browser(self) -> Browser:
        """Another person, with a cookie jar of their own."""
        return Browser(http_client(self.app))


@pytest.fixture
async def rig(db_url: str, tmp_path: Path, clock: FakeClock) -> AsyncIterator[Rig]:
    settings = dashboard_settings(db_url, tmp_path)
    runtime = Runtime.from_settings(settings, clock=clock)
    city = seed_city(runtime)
    seed_staff(runtime.engine)
    app = create_app(settings, runtime=runtime)
    async with http_client(app) as client:
        yield Rig(settings, runtime, clock, city, app, Browser(client))
    runtime.dispose()


@pytest.fixture
async def signed_in(rig: Rig) -> Rig:
    response = await rig.web.login()
    assert response.status_code == 303, response.text
    return rig
