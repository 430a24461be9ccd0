"""Open311 GeoReport v2: API keys, the API's reporters, and the reports it may show.

What the API shows is decided by `store.public.shown`, the one rule for every public
surface: a laporan whose reporter chose to make it public.
Saran, apresiasi, rahasia (non-public) and rejected reports never leave this module, not
even by ticket, and nothing that names a person (contact name, phone, address) is selected.
A duplicate is shown only as a pointer to its original: its ticket, service, dates and
status, with the original's ticket when that one is shown too; its note, place and photo
are not (the original carries the problem).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, exists, func, select, update
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session

from lapor.store.chats import ContactInfo, touch_contact
from lapor.store.codes import hash_code
from lapor.store.lifecycle import OPEN_STATUSES, ReportStatus
from lapor.store.models import (
    ApiKey,
    Category,
    Contact,
    Kelurahan,
    Photo,
    Report,
    ReportPhoto,
)
from lapor.store.public import shown

CHANNEL = "open311"
# The API's reporters have no chat: status changes must never be queued for them.
NO_CHAT = "open311: no chat"
OPEN = "open"
CLOSED = "closed"


# -- keys ---------------------------------------------------------------------------------------


def new_api_key() -> str:
    """A key for one client. `hash_code` folds case, so 32 random bytes keep ~200 bits."""
    return secrets.token_urlsafe(32)


def new_token() -> str:
    return secrets.token_urlsafe(24)


def add_key(session: Session, name: str, key: str, now: datetime) -> ApiKey:
    api_key = ApiKey(name=name, key_hash=hash_code(key), active=True, created_at=now)
    session.add(api_key)
    session.flush()
    return api_key


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


def revoke_key(session: Session, key_id: int) -> bool:
    result = session.execute(update(ApiKey).where(ApiKey.id == key_id).values(active=False))
    return bool(result.rowcount)


def active_key_id(session: Session, key: str) -> int | None:
    """The id of the active key `key`, or None (unknown, revoked or empty)."""
    if not key.strip():
        return None
    return session.execute(
        select(ApiKey.id).where(ApiKey.key_hash == hash_code(key), ApiKey.active.is_(True))
    ).scalar()


def use_key(session: Session, key_id: int, now: datetime) -> bool:
    """Record a use; False when the key was revoked meanwhile."""
    result = session.execute(
        update(ApiKey).where(ApiKey.id == key_id, ApiKey.active.is_(True)).values(last_used_at=now)
    )
    return result.rowcount == 1


# -- the API's reporters ------------------------------------------------------------------------


def reporter_address(key_id: int, who: str | None) -> str:
    """One contact per key and person the client names (so verifiers can block one of them)."""
    return f"key{key_id}:{(who or '').strip() or 'anon'}"[:64]


def api_contact(session: Session, address: str, name: str | None, now: datetime) -> ContactInfo:
    """The contact for an API reporter: it has no chat, so it stays unreachable and
    `tell_audience` and reminders always skip it."""
    return touch_contact(
        session,
        channel=CHANNEL,
        address=address,
        now=now,
        language="id",
        name=name,
        no_chat=NO_CHAT,
    )


def api_reporter(session: Session, address: str) -> tuple[int, bool] | None:
    """(contact id, blocked) of the API reporter at `address`, if it filed before."""
    row = session.execute(
        select(Contact.id, Contact.blocked).where(
            Contact.channel == CHANNEL, Contact.address == address
        )
    ).first()
    return None if row is None else (row[0], row[1])


def _filed_with_key(key_id: int) -> ColumnElement[bool]:
    """Reports filed with key `key_id`. No column links a report to its key: the address of
    every reporter the key files for starts with it (`reporter_address`)."""
    reporters = select(Contact.id).where(
        Contact.channel == CHANNEL, Contact.address.startswith(f"key{key_id}:", autoescape=True)
    )
    return Report.reporter_id.in_(reporters)


def _filed(key_id: int | None, contact_id: int | None) -> ColumnElement[bool]:
    if contact_id is not None:
        return Report.reporter_id == contact_id
    if key_id is not None:
        return _filed_with_key(key_id)
    raise ValueError("a key or a contact is needed")


def key_count_since(session: Session, key_id: int, since: datetime) -> int:
    """Reports filed with key `key_id` since `since` (every reporter it named)."""
    return session.execute(
        select(func.count())
        .select_from(Report)
        .where(_filed_with_key(key_id), Report.created_at >= since)
    ).scalar_one()


def nth_filed_since(
    session: Session,
    since: datetime,
    n: int,
    *,
    key_id: int | None = None,
    contact_id: int | None = None,
) -> datetime | None:
    """When the `n`-th oldest (from 0) report since `since` by the key or the contact was
    filed: the window has room again once that one leaves it."""
    return session.execute(
        select(Report.created_at)
        .where(_filed(key_id, contact_id), Report.created_at >= since)
        .order_by(Report.created_at, Report.id)
        .offset(max(0, n))
        .limit(1)
    ).scalar()


def active_service(session: Session, code: str) -> Category | None:
    return session.scalars(
        select(Category).where(Category.slug == code, Category.active.is_(True))
    ).first()


# -- what the API shows -------------------------------------------------------------------------


def open311_status(status: str) -> str:
    """GeoReport has two states: ours are open while someone still has to act."""
    return OPEN if ReportStatus(status) in OPEN_STATUSES else CLOSED


@dataclass(frozen=True)
class PublicRequest:
    """A public laporan as the API shows it: no reporter, no chat, no internal ids."""

    ticket: str
    status: str
    duplicate_of: str | None
    service_code: str | None
    service_name: str | None
    note: str | None
    kelurahan: str | None
    address: str | None
    latitude: float | None
    longitude: float | None
    has_photo: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class RequestQuery:
    """GET requests' filters. `tickets`, when given, overrides the others (as the spec says)."""

    tickets: Sequence[str] = ()
    service_codes: Sequence[str] = ()
    statuses: Sequence[str] = ()
    start: datetime | None = None
    end: datetime | None = None
    limit: int = 1000


def _public() -> Select:
    original = aliased(Report)
    has_photo = exists().where(ReportPhoto.report_id == Report.id)
    return (
        select(
            Report.ticket,
            Report.status,
            original.ticket.label("duplicate_of"),
            Category.slug.label("service_code"),
            Category.name_id.label("service_name"),
            Report.note,
            Kelurahan.name.label("kelurahan"),
            Report.location_label.label("address"),
            Report.latitude,
            Report.longitude,
            has_photo.label("has_photo"),
            Report.created_at,
            Report.updated_at,
        )
        .outerjoin(Category, Category.id == Report.category_id)
        .outerjoin(Kelurahan, Kelurahan.code == Report.kelurahan_code)
        # A duplicate names its original only when the API shows the original too.
        .outerjoin(original, and_(original.id == Report.duplicate_of_id, shown(original)))
        .where(shown())
    )


def _request(row: Any) -> PublicRequest:
    item = PublicRequest(**row._asdict())
    if item.status != ReportStatus.DUPLICATE.value:
        return item
    # A duplicate points to its original and shows nothing of its own beyond that.
    return replace(
        item,
        note=None,
        kelurahan=None,
        address=None,
        latitude=None,
        longitude=None,
        has_photo=False,
    )


def _rows(session: Session, query: Select) -> list[PublicRequest]:
    return [_request(row) for row in session.execute(query)]


def public_requests(session: Session, q: RequestQuery) -> list[PublicRequest]:
    """Newest first, at most `q.limit`."""
    query = _public()
    if q.tickets:
        query = query.where(Report.ticket.in_([t.strip().upper() for t in q.tickets]))
    else:
        if q.service_codes:
            query = query.where(Category.slug.in_(list(q.service_codes)))
        wanted = set(q.statuses)
        open_values = [s.value for s in OPEN_STATUSES]
        if wanted == {OPEN}:
            query = query.where(Report.status.in_(open_values))
        elif wanted == {CLOSED}:
            query = query.where(Report.status.not_in(open_values))
        if q.start is not None:
            query = query.where(Report.created_at >= q.start)
        if q.end is not None:
            query = query.where(Report.created_at <= q.end)
    query = query.order_by(Report.created_at.desc(), Report.id.desc()).limit(q.limit)
    return _rows(session, query)


def public_request(session: Session, ticket: str) -> PublicRequest | None:
    found = _rows(session, _public().where(Report.ticket == ticket.strip().upper()))
    return found[0] if found else None


def ticket_for_token(session: Session, token: str) -> str | None:
    return session.execute(
        select(Report.ticket).where(Report.open311_token == token, shown())
    ).scalar()


def public_photo_path(session: Session, ticket: str) -> str | None:
    """The stored (EXIF-free) first photo of a shown laporan (not a duplicate's), or None."""
    return session.execute(
        select(Photo.path)
        .join(ReportPhoto, ReportPhoto.photo_id == Photo.id)
        .join(Report, Report.id == ReportPhoto.report_id)
        .where(
            Report.ticket == ticket.strip().upper(),
            shown(),
            Report.status != ReportStatus.DUPLICATE.value,
        )
        .order_by(ReportPhoto.position)
        .limit(1)
    ).scalar()
