"""What anyone may see without logging in: the one rule for a public report, and the reads
of the public pages (a report's page, its photos, the map's pins, a kelurahan's feed).

The rule (`shown`) is the reporter's choice at confirm: a laporan filed as public, not
rejected. Saran, apresiasi, rahasia and rejected reports are never read here, not even by
ticket, and nothing that names a citizen (a contact's name, phone number or chat id, their
note, their rating comment) is selected. Open311 shows the same reports through this rule.

What a public page says about a report's history is its status changes with their dates,
and the one thing officers write that lapor already relays to everyone who follows a
report: the note sent with the resolution. Other event notes (a verifier's reason, a
kelurahan sending a report back, a citizen's rating comment) stay with the staff. A note
shown is stripped of anything shaped like a phone number and of the reporter's name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import aliased
from sqlalchemy.orm.util import AliasedClass
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session

from lapor.store.lifecycle import OPEN_STATUSES, ReportKind, ReportStatus
from lapor.store.models import (
    Category,
    Contact,
    Kelurahan,
    Photo,
    Report,
    ReportEvent,
    ReportPhoto,
)

# Tickets are "JKT-2611-00042": letters, digits and dashes. Anything else is no ticket.
TICKET = re.compile(r"[A-Za-z0-9-]{1,24}")
# Kelurahan codes as the registry imports them (BPS codes, "DEMO.01").
KELURAHAN_CODE = re.compile(r"[A-Za-z0-9._-]{1,20}")
AFTER = "sesudah"
# A run of at least 8 digits, possibly with spaces, dots or dashes between them and a
# leading plus: what a phone number looks like when someone types it into a note. Not
# inside a word or a ticket ("JKT-2611-00042" stays).
_PHONE_LIKE = re.compile(r"(?<![\w-])\+?\d(?:[ .-]?\d){7,}(?![\w-])")
HIDDEN = "[disembunyikan]"
# Public notes come from resolutions: an officer closing the work (forwarded or in progress
# to resolved). A rating noted as resolved -> resolved is the citizen's, not an officer's.
_OFFICER_NOTE_FROM = (ReportStatus.FORWARDED.value, ReportStatus.IN_PROGRESS.value)


def shown(report: type[Report] | AliasedClass[Report] = Report) -> ColumnElement[bool]:
    """The reports anyone may see: public laporan that were not rejected."""
    return and_(
        report.kind == ReportKind.LAPORAN.value,
        report.public.is_(True),
        report.status != ReportStatus.REJECTED.value,
    )


def is_shown(report: Report) -> bool:
    """`shown`, for a report already loaded (the same three conditions)."""
    return (
        report.kind == ReportKind.LAPORAN.value
        and bool(report.public)
        and report.status != ReportStatus.REJECTED.value
    )


PAGE_PATH = "/r/"


def page_url(base: str | None, ticket: str) -> str | None:
    """The public page of `ticket` under `base` (PUBLIC_BASE_URL), or None without one."""
    if not base:
        return None
    return f"{base.rstrip('/')}{PAGE_PATH}{ticket}"


def normal_ticket(ticket: str) -> str | None:
    """`ticket` as stored (upper case), or None when it cannot be one (spaces included:
    a page has one address)."""
    return ticket.upper() if TICKET.fullmatch(ticket) else None


def public_note(note: str | None, reporter_name: str | None = None) -> str | None:
    """An officer's note fit for a public page: phone-like numbers and the reporter's name
    replaced by "[disembunyikan]"; None when nothing is left."""
    if not note:
        return None
    text = _PHONE_LIKE.sub(HIDDEN, note)
    name = (reporter_name or "").strip()
    if len(name) >= 3:
        text = re.sub(re.escape(name), HIDDEN, text, flags=re.IGNORECASE)
        for part in name.split():
            if len(part) >= 3:
                text = re.sub(rf"\b{re.escape(part)}\b", HIDDEN, text, flags=re.IGNORECASE)
    return text.strip() or None


@dataclass(frozen=True)
class PublicEvent:
    """A status change as the public sees it: when, to what, and an officer's note."""

    at: datetime
    status: str
    note: str | None = None


@dataclass(frozen=True)
class PublicPlace:
    code: str
    name: str
    kecamatan: str
    kota: str


@dataclass(frozen=True)
class PublicReport:
    """One public laporan's page. A duplicate shows only its pointer to the original."""

    ticket: str
    status: str
    category: str | None
    kelurahan: PublicPlace | None
    # The agency that holds the report, once agencies exist; the kelurahan until then.
    agency: str | None
    latitude: float | None
    longitude: float | None
    created_at: datetime
    updated_at: datetime
    support_count: int
    rating: int | None
    photos: int  # before-photos, numbered 1..photos
    has_after: bool
    timeline: tuple[PublicEvent, ...]
    duplicate_of: str | None = None  # the original's ticket, when the original is shown

    @property
    def duplicate(self) -> bool:
        return self.status == ReportStatus.DUPLICATE.value

    @property
    def open(self) -> bool:
        return ReportStatus(self.status) in OPEN_STATUSES


def public_report(session: Session, ticket: str) -> PublicReport | None:
    """The public page of `ticket`, or None when it does not exist or is not shown."""
    wanted = normal_ticket(ticket)
    if wanted is None:
        return None
    original = aliased(Report)
    row = session.execute(
        select(Report, Category.name_id, Kelurahan, original.ticket, Contact.name)
        .outerjoin(Category, Category.id == Report.category_id)
        .outerjoin(Kelurahan, Kelurahan.code == Report.kelurahan_code)
        .outerjoin(original, and_(original.id == Report.duplicate_of_id, shown(original)))
        .outerjoin(Contact, Contact.id == Report.reporter_id)
        .where(Report.ticket == wanted, shown())
    ).first()
    if row is None:
        return None
    report, category, kelurahan, duplicate_of, reporter_name = row
    events = session.execute(
        select(ReportEvent.at, ReportEvent.from_status, ReportEvent.to_status, ReportEvent.note)
        .where(
            ReportEvent.report_id == report.id,
            or_(
                ReportEvent.from_status.is_(None),
                ReportEvent.from_status != ReportEvent.to_status,
            ),
        )
        .order_by(ReportEvent.at, ReportEvent.id)
    ).all()
    timeline = tuple(
        PublicEvent(
            at,
            to_status,
            public_note(note, reporter_name)
            if to_status == ReportStatus.RESOLVED.value and from_status in _OFFICER_NOTE_FROM
            else None,
        )
        for at, from_status, to_status, note in events
    )
    if report.status == ReportStatus.DUPLICATE.value:
        # A pointer only: its place, photos and figures are the original's business.
        return PublicReport(
            ticket=report.ticket,
            status=report.status,
            category=category,
            kelurahan=None,
            agency=None,
            latitude=None,
            longitude=None,
            created_at=report.created_at,
            updated_at=report.updated_at,
            support_count=0,
            rating=None,
            photos=0,
            has_after=False,
            timeline=timeline,
            duplicate_of=duplicate_of,
        )
    photos = session.execute(
        select(ReportPhoto.position).where(ReportPhoto.report_id == report.id)
    ).all()
    place = (
        PublicPlace(kelurahan.code, kelurahan.name, kelurahan.kecamatan, kelurahan.kota)
        if kelurahan is not None
        else None
    )
    return PublicReport(
        ticket=report.ticket,
        status=report.status,
        category=category,
        kelurahan=place,
        agency=f"Kelurahan {place.name}" if place else None,
        latitude=report.latitude,
        longitude=report.longitude,
        created_at=report.created_at,
        updated_at=report.updated_at,
        support_count=report.support_count,
        rating=report.rating,
        photos=len(photos),
        has_after=report.after_photo_id is not None,
        timeline=timeline,
    )


def public_photo_path(session: Session, ticket: str, which: str) -> str | None:
    """The stored (cleaned) photo `which` ("1".."3", or "sesudah") of a shown laporan that
    is not a duplicate; None for anything else."""
    wanted = normal_ticket(ticket)
    if wanted is None:
        return None
    scope = and_(Report.ticket == wanted, shown(), Report.status != ReportStatus.DUPLICATE.value)
    if which == AFTER:
        query = select(Photo.path).join(Report, Report.after_photo_id == Photo.id)
        return session.execute(query.where(scope).limit(1)).scalar()
    if which not in ("1", "2", "3"):
        return None
    paths = (
        session.execute(
            select(Photo.path)
            .join(ReportPhoto, ReportPhoto.photo_id == Photo.id)
            .join(Report, Report.id == ReportPhoto.report_id)
            .where(scope)
            .order_by(ReportPhoto.position)
        )
        .scalars()
        .all()
    )
    number = int(which)
    return paths[number - 1] if number <= len(paths) else None


# -- the map and the feeds ------------------------------------------------------------------


@dataclass(frozen=True)
class Pin:
    """A shown laporan on the map: where it is, what it is, whether it is still open."""

    ticket: str
    latitude: float
    longitude: float
    status: str
    category: str | None

    @property
    def open(self) -> bool:
        return ReportStatus(self.status) in OPEN_STATUSES


OPEN = "open"
RESOLVED = "resolved"


def map_pins(
    session: Session,
    *,
    resolved_since: datetime,
    status: str | None = None,
    category: str | None = None,
    bounds: tuple[float, float, float, float] | None = None,
) -> list[Pin]:
    """Open laporan, and those resolved since `resolved_since`, that are shown and placed.

    `status` is OPEN, RESOLVED or None (both); `category` a slug; `bounds` (lon_min,
    lat_min, lon_max, lat_max) keeps to the part of the city being looked at. Duplicates
    are not pins: their originals are.
    """
    open_values = [s.value for s in OPEN_STATUSES]
    wanted = []
    if status in (None, OPEN):
        wanted.append(Report.status.in_(open_values))
    if status in (None, RESOLVED):
        wanted.append(
            and_(
                Report.status == ReportStatus.RESOLVED.value,
                Report.updated_at >= resolved_since,
            )
        )
    query = (
        select(Report.ticket, Report.latitude, Report.longitude, Report.status, Category.name_id)
        .outerjoin(Category, Category.id == Report.category_id)
        .where(
            shown(),
            or_(*wanted),
            Report.latitude.is_not(None),
            Report.longitude.is_not(None),
        )
    )
    if category is not None:
        query = query.where(Category.slug == category)
    if bounds is not None:
        lon_min, lat_min, lon_max, lat_max = bounds
        query = query.where(
            Report.longitude.between(lon_min, lon_max), Report.latitude.between(lat_min, lat_max)
        )
    query = query.order_by(Report.created_at.desc(), Report.id.desc())
    return [Pin(*row) for row in session.execute(query)]


@dataclass(frozen=True)
class FeedEntry:
    ticket: str
    status: str
    category: str | None
    created_at: datetime
    updated_at: datetime


def kelurahan_feed(session: Session, code: str, limit: int = 50) -> list[FeedEntry] | None:
    """The newest shown laporan of kelurahan `code` (not duplicates), newest first; None
    when there is no such kelurahan."""
    if not KELURAHAN_CODE.fullmatch(code) or session.get(Kelurahan, code) is None:
        return None
    rows = session.execute(
        select(Report.ticket, Report.status, Category.name_id, Report.created_at, Report.updated_at)
        .outerjoin(Category, Category.id == Report.category_id)
        .where(
            shown(),
            Report.kelurahan_code == code,
            Report.status != ReportStatus.DUPLICATE.value,
        )
        .order_by(Report.created_at.desc(), Report.id.desc())
        .limit(limit)
    ).all()
    return [FeedEntry(*row) for row in rows]
