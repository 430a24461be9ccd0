"""A city with public, rahasia and rejected reports, for the public pages' tests.

The dashboard's city (seven reports, each with a known life) with every report filed as
public, so that only the rule decides what shows: the rejected laporan, the saran and the
apresiasi must still be hidden. Two more laporan: a rahasia one, resolved with an
after-photo and an officer's note, which must never show; and a public one whose history
holds everything a public page must leave out (a kelurahan sending it back with a reason,
an officer's note naming the reporter and a phone number, a rating comment).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from lapor.bot.runtime import Runtime
from lapor.bot.web import create_app
from lapor.store.db import transaction
from lapor.store.lifecycle import ReportKind, ReportStatus
from lapor.store.models import Contact, Report
from lapor.store.reports import create_report, transition, upsert_photo
from tests.bot.conftest import jpeg_bytes
from tests.conftest import FakeClock
from tests.dashboard.conftest import (
    PERSONAL,
    WIB,
    City,
    dashboard_settings,
    http_client,
    seed_city,
    utc,
)

# What a public page must never carry: the reporters' names and numbers, their notes and
# rating comments, what staff wrote among themselves, the rahasia report's words.
NEVER = [
    *PERSONAL,
    "hubungi saya",
    "Cepat sekali",
    "Foto tidak jelas",
    "bukan wilayah",
    "salah alamat kami",
    "Rahasia sekali",
    "Jalan ditutup warga",
    "0812-3456-7890",
    "Lampu mati",
    "Puspita",
]
# The officer's note on the public report i, as a public page must show it.
SHOWN_NOTE = "Sudah dibersihkan, terima kasih [disembunyikan] ([disembunyikan])"


@dataclass
class PublicCity(City):
    """The dashboard city's tickets (a..g) plus h (rahasia) and i (public, busy history)."""

    def ticket(self, label: str) -> str:
        return self.tickets[label]


def seed_public_city(runtime: Runtime) -> PublicCity:
    city = seed_city(runtime)
    public = PublicCity(city.tickets, city.photos, city.after_photo)
    with transaction(runtime.engine) as session:
        session.execute(update(Report).values(public=True))
        siti = session.scalars(select(Contact).where(Contact.name == "Siti Aminah")).one()
        puspita = Contact(
            channel="whatsapp",
            address="+6281200000009",
            name="Puspita Sari",
            created_at=utc(2026, 10, 1),
        )
        session.add(puspita)
        session.flush()

        def photo(shade: int) -> dict[str, Any]:
            return runtime.accept_photo_sync(jpeg_bytes((shade, 200 - shade, 90))).to_dict()

        def laporan(label: str, who: Contact, at: Any, *, public_: bool, note: str) -> Report:
            made = create_report(
                session,
                kind=ReportKind.LAPORAN,
                reporter=who,
                now=at,
                local_now=at.astimezone(WIB),
                ticket_prefix="JKT",
                category_slug="lampu-jalan",
                note=note,
                location=(-6.171, 106.822),
                photos=[photo(40 + len(public.tickets))],
                kelurahan_code="DEMO.01",
                public=public_,
            )
            public.tickets[label] = made.ticket
            public.photos[label] = []
            return made

        def move(made: Report, target: ReportStatus, at: Any, **fields: Any) -> None:
            assert transition(session, made.id, target, now=at, actor="telegram:700", **fields)

        # h: rahasia, resolved with an after-photo and a note.
        h = laporan("h", siti, utc(2026, 11, 23, 1), public_=False, note="Rahasia sekali")
        move(h, ReportStatus.VERIFIED, utc(2026, 11, 23, 2))
        move(h, ReportStatus.FORWARDED, utc(2026, 11, 23, 2, 1))
        after = upsert_photo(session, photo(7), utc(2026, 11, 24))
        move(
            h,
            ReportStatus.RESOLVED,
            utc(2026, 11, 24, 3),
            after_photo_id=after,
            note="Jalan ditutup warga",
        )
        # i: public; sent back once, resolved with a note that names the reporter and a
        # number, then rated with a comment.
        i = laporan("i", puspita, utc(2026, 11, 24, 1), public_=True, note="Lampu mati, 3456")
        move(i, ReportStatus.VERIFIED, utc(2026, 11, 24, 2))
        move(i, ReportStatus.FORWARDED, utc(2026, 11, 24, 2, 1))
        move(
            i,
            ReportStatus.VERIFIED,
            utc(2026, 11, 24, 5),
            note="bukan wilayah DEMO.01: salah alamat kami",
        )
        move(i, ReportStatus.FORWARDED, utc(2026, 11, 24, 6))
        move(
            i,
            ReportStatus.RESOLVED,
            utc(2026, 11, 25, 3),
            note="Sudah dibersihkan, terima kasih Puspita (0812-3456-7890)",
        )
        session.execute(
            update(Report)
            .where(Report.id == i.id)
            .values(rating=4, rating_comment="Cepat sekali", support_count=3)
        )
    return public


@dataclass
class Site:
    runtime: Runtime
    clock: FakeClock
    city: PublicCity
    app: Any
    web: Any


@pytest.fixture
async def site(db_url: str, tmp_path: Path, clock: FakeClock) -> AsyncIterator[Site]:
    """The public pages over the real app (no login), on SQLite and PostgreSQL."""
    settings = dashboard_settings(db_url, tmp_path)
    runtime = Runtime.from_settings(settings, clock=clock)
    city = seed_public_city(runtime)
    app = create_app(settings, runtime=runtime)
    async with http_client(app) as client:
        yield Site(runtime, clock, city, app, client)
    runtime.dispose()
