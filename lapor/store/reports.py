"""Creating reports and reading them back for their reporters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from lapor.store.lifecycle import ReportKind, ReportStatus, check_transition
from lapor.store.models import Category, Contact, Photo, Report, ReportEvent, ReportPhoto
from lapor.store.tickets import next_ticket
from lapor.store.upsert import insert_for


def upsert_photo(session: Session, photo: Mapping[str, Any], now: datetime) -> int:
    """The id of the stored photo with this content, inserting it the first time."""
    gps = photo.get("gps")
    stmt = (
        insert_for(session, Photo)
        .values(
            sha256=photo["sha256"],
            dhash=photo["dhash"],
            width=photo["width"],
            height=photo["height"],
            size=photo["size"],
            path=photo["path"],
            source_format=photo["source_format"],
            gps_lat=gps[0] if gps else None,
            gps_lon=gps[1] if gps else None,
            source_key=photo.get("source_key"),
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["sha256"])
    )
    session.execute(stmt)
    return session.execute(select(Photo.id).where(Photo.sha256 == photo["sha256"])).scalar_one()


def create_report(
    session: Session,
    *,
    kind: ReportKind,
    reporter: Contact,
    now: datetime,
    local_now: datetime,
    ticket_prefix: str,
    category_slug: str | None,
    note: str | None,
    location: Sequence[Any] | None,
    photos: Sequence[Mapping[str, Any]],
) -> Report:
    """Store a submitted report, its photos and its first event; returns it with its ticket.

    `location` is (latitude, longitude[, label]). A laporan must have a category, a
    photo and a location; that is checked here as well as in the conversation, because
    a report missing one of them is useless to the kelurahan.
    """
    category_id = None
    if category_slug is not None:
        category_id = session.execute(
            select(Category.id).where(Category.slug == category_slug)
        ).scalar_one()
    if kind is ReportKind.LAPORAN and (category_id is None or not photos or not location):
        raise ValueError("a laporan needs a category, a photo and a location")
    check_transition(None, ReportStatus.SUBMITTED)
    report = Report(
        ticket=next_ticket(session, ticket_prefix, local_now),
        kind=kind.value,
        category_id=category_id,
        note=note,
        latitude=location[0] if location else None,
        longitude=location[1] if location else None,
        location_label=(location[2] if location and len(location) > 2 else None),
        status=ReportStatus.SUBMITTED.value,
        channel=reporter.channel,
        reporter_id=reporter.id,
        created_at=now,
        updated_at=now,
    )
    session.add(report)
    session.flush()
    for position, photo in enumerate(photos):
        photo_id = upsert_photo(session, photo, now)
        session.add(ReportPhoto(report_id=report.id, position=position, photo_id=photo_id))
    session.add(
        ReportEvent(
            report_id=report.id,
            at=now,
            from_status=None,
            to_status=ReportStatus.SUBMITTED.value,
            actor_contact_id=reporter.id,
            actor=f"{reporter.channel}:{reporter.address}",
        )
    )
    session.flush()
    return report


def latest_for_contact(
    session: Session, contact_id: int | None, limit: int
) -> list[tuple[Report, Category | None]]:
    query = (
        select(Report, Category)
        .outerjoin(Category, Category.id == Report.category_id)
        .where(Report.reporter_id == contact_id)
        .order_by(Report.created_at.desc(), Report.id.desc())
        .limit(limit)
    )
    return [(row[0], row[1]) for row in session.execute(query)]
