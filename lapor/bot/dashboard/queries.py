"""What the dashboard reads: the filtered report list, one report in full, stored photos.

Lists never carry a reporter's name or address: only the detail page does, one report at
a time, so a CSV that leaves the office cannot become a list of citizens' phone numbers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session

from lapor.store.lifecycle import OPEN_STATUSES, STATUSES, ReportKind, ReportStatus
from lapor.store.models import (
    Category,
    Contact,
    Kelurahan,
    Photo,
    Report,
    ReportEvent,
    ReportPhoto,
)

PAGE_SIZE = 50
CSV_CHUNK = 1000

# The channels reports arrive on; labels are what staff call them.
CHANNELS: dict[str, str] = {
    "telegram": "Telegram",
    "whatsapp": "WhatsApp",
    "open311": "Open311",
    "console": "Konsol",
}
KINDS: dict[str, str] = {
    ReportKind.LAPORAN.value: "Laporan",
    ReportKind.SARAN.value: "Saran",
    ReportKind.APRESIASI.value: "Apresiasi",
}
# "open" is not a status but the family the map counts: every report still being worked on.
OPEN = "open"
STATUS_CHOICES: dict[str, str] = {
    OPEN: "Semua yang belum selesai",
    **{s.value: info.label_id for s, info in STATUSES.items()},
}

_CODE = re.compile(r"^[A-Za-z0-9._-]{1,40}$")
# The days a filter may name. lapor holds no report outside them, and a day's bounds (its
# WIB midnight in UTC, the next day's midnight) stay far inside what datetime can hold.
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2099, 12, 31)
# Ids are 32-bit INTEGER columns: PostgreSQL refuses a larger number outright.
MAX_ID = 2**31 - 1
# A page number: ASCII digits only (isdigit() passes "²", which int() refuses).
PAGE_NUMBER = re.compile(r"[0-9]{1,6}")


class FilterError(ValueError):
    """Filter values that make no sense; `messages` are shown to the user as they are."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


@dataclass(frozen=True)
class ReportFilters:
    status: str | None = None
    kind: str | None = None
    category: str | None = None  # slug
    kelurahan: str | None = None  # code
    date_from: date | None = None  # WIB calendar days, inclusive
    date_to: date | None = None
    channel: str | None = None
    sla: bool = False  # only reports that missed a deadline
    page: int = 1

    def params(self, **override: Any) -> dict[str, str]:
        """The filters as query parameters (empty ones left out), for links and the CSV."""
        values = replace(self, **override)
        out = {
            "status": values.status,
            "kind": values.kind,
            "category": values.category,
            "kelurahan": values.kelurahan,
            "from": values.date_from.isoformat() if values.date_from else None,
            "to": values.date_to.isoformat() if values.date_to else None,
            "channel": values.channel,
            "sla": "1" if values.sla else None,
            "page": str(values.page) if values.page != 1 else None,
        }
        return {k: v for k, v in out.items() if v}

    def query(self, **override: Any) -> str:
        return urlencode(self.params(**override))

    @property
    def active(self) -> bool:
        return self.params(page=1) != {}


def _day(value: str, label: str, errors: list[str]) -> date | None:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        errors.append(
            f"Tanggal {label} '{value}' tidak valid: gunakan TTTT-BB-HH, mis. 2026-11-28."
        )
        return None
    if not FIRST_DAY <= day <= LAST_DAY:
        errors.append(
            f"Tanggal {label} '{value}' di luar jangkauan: pilih antara "
            f"{FIRST_DAY.isoformat()} dan {LAST_DAY.isoformat()}."
        )
        return None
    return day


def parse_filters(
    params: Mapping[str, str], *, categories: Mapping[str, str], kelurahan: Mapping[str, str]
) -> ReportFilters:
    """Read the list's query parameters; raises `FilterError` naming every bad value.

    `categories` and `kelurahan` are the known slugs and codes: a value that is not one
    of them is a mistake to point out, not a filter that silently matches nothing.
    """
    errors: list[str] = []

    def value(name: str) -> str | None:
        raw = params.get(name, "").strip()
        return raw or None

    status = value("status")
    if status is not None and status not in STATUS_CHOICES:
        errors.append(f"Status '{status}' tidak dikenal.")
    kind = value("kind")
    if kind is not None and kind not in KINDS:
        errors.append(f"Jenis '{kind}' tidak dikenal (laporan, saran atau apresiasi).")
    category = value("category")
    if category is not None and category not in categories:
        errors.append(f"Kategori '{category}' tidak dikenal.")
    code = value("kelurahan")
    if code is not None and code not in kelurahan:
        errors.append(f"Kelurahan dengan kode '{code}' tidak ada di daftar.")
    channel = value("channel")
    if channel is not None and channel not in CHANNELS:
        errors.append(f"Kanal '{channel}' tidak dikenal.")
    raw_from, raw_to = value("from"), value("to")
    date_from = _day(raw_from, "mulai", errors) if raw_from else None
    date_to = _day(raw_to, "akhir", errors) if raw_to else None
    if date_from and date_to and date_from > date_to:
        errors.append("Tanggal mulai jatuh setelah tanggal akhir.")
    sla = value("sla")
    if sla not in (None, "1"):
        errors.append("Nilai 'sla' hanya boleh 1.")
    page = 1
    raw_page = value("page")
    if raw_page is not None:
        if PAGE_NUMBER.fullmatch(raw_page) and int(raw_page) > 0:
            page = int(raw_page)
        else:
            errors.append(f"Halaman '{raw_page}' tidak valid.")
    if errors:
        raise FilterError(errors)
    return ReportFilters(
        status=status,
        kind=kind,
        category=category,
        kelurahan=code,
        date_from=date_from,
        date_to=date_to,
        channel=channel,
        sla=sla == "1",
        page=page,
    )


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=zone)


def _conditions(filters: ReportFilters, zone: ZoneInfo) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if filters.status == OPEN:
        where.append(Report.status.in_([s.value for s in OPEN_STATUSES]))
    elif filters.status:
        where.append(Report.status == filters.status)
    if filters.kind:
        where.append(Report.kind == filters.kind)
    if filters.category:
        where.append(Category.slug == filters.category)
    if filters.kelurahan:
        where.append(Report.kelurahan_code == filters.kelurahan)
    if filters.channel:
        where.append(Report.channel == filters.channel)
    if filters.date_from:
        where.append(Report.created_at >= _local_midnight(filters.date_from, zone))
    if filters.date_to:
        end = _local_midnight(filters.date_to + timedelta(days=1), zone)
        where.append(Report.created_at < end)
    if filters.sla:
        where.append(
            or_(Report.verify_breached_at.is_not(None), Report.followup_breached_at.is_not(None))
        )
    return where


@dataclass(frozen=True)
class ReportRow:
    """One line of the list or the CSV: no reporter, no note, nothing personal."""

    id: int
    ticket: str
    created_at: datetime
    kind: str
    category_slug: str | None
    category: str | None
    kelurahan_code: str | None
    kelurahan: str | None
    status: str
    channel: str
    latitude: float | None
    longitude: float | None
    verify_breached_at: datetime | None
    followup_breached_at: datetime | None
    # The reporter's choice at confirm; a rahasia laporan is marked for staff in the list.
    public: bool = False

    @property
    def private(self) -> bool:
        return self.kind == "laporan" and not self.public

    @property
    def sla_breached(self) -> bool:
        return self.verify_breached_at is not None or self.followup_breached_at is not None

    @property
    def status_label(self) -> str:
        try:
            return STATUSES[ReportStatus(self.status)].label_id
        except ValueError:
            return self.status


_ROW_COLUMNS = (
    Report.id,
    Report.ticket,
    Report.created_at,
    Report.kind,
    Category.slug,
    Category.name_id,
    Report.kelurahan_code,
    Kelurahan.name,
    Report.status,
    Report.channel,
    Report.latitude,
    Report.longitude,
    Report.verify_breached_at,
    Report.followup_breached_at,
    Report.public,
)


def _base(filters: ReportFilters, zone: ZoneInfo, *columns: Any) -> Any:
    return (
        select(*columns)
        .select_from(Report)
        .outerjoin(Category, Category.id == Report.category_id)
        .outerjoin(Kelurahan, Kelurahan.code == Report.kelurahan_code)
        .where(*_conditions(filters, zone))
    )


@dataclass(frozen=True)
class ReportPage:
    rows: list[ReportRow]
    total: int
    page: int
    pages: int


def list_reports(session: Session, filters: ReportFilters, zone: ZoneInfo) -> ReportPage:
    """One page of the filtered list, newest first."""
    total = session.execute(_base(filters, zone, func.count(Report.id))).scalar_one()
    pages = max(1, -(-total // PAGE_SIZE))
    query = (
        _base(filters, zone, *_ROW_COLUMNS)
        .order_by(Report.created_at.desc(), Report.id.desc())
        .offset((filters.page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    )
    rows = [ReportRow(*row) for row in session.execute(query)]
    return ReportPage(rows, total, filters.page, pages)


def report_chunk(
    session: Session,
    filters: ReportFilters,
    zone: ZoneInfo,
    after: tuple[datetime, int] | None,
    size: int = CSV_CHUNK,
) -> list[ReportRow]:
    """The next `size` rows of the whole filtered list after `after` (keyset, newest first).

    Keyset rather than OFFSET: the CSV of a year of reports reads each row once, and a
    report arriving while it streams does not shift the rows still to come.
    """
    query = _base(filters, zone, *_ROW_COLUMNS)
    if after is not None:
        at, report_id = after
        query = query.where(
            or_(Report.created_at < at, and_(Report.created_at == at, Report.id < report_id))
        )
    query = query.order_by(Report.created_at.desc(), Report.id.desc()).limit(size)
    return [ReportRow(*row) for row in session.execute(query)]


def filter_choices(session: Session) -> tuple[dict[str, str], dict[str, str]]:
    """Known category slugs and kelurahan codes with their names, for the filter form."""
    categories = dict(
        session.execute(select(Category.slug, Category.name_id).order_by(Category.position)).all()
    )
    kelurahan = dict(
        session.execute(select(Kelurahan.code, Kelurahan.name).order_by(Kelurahan.name)).all()
    )
    return categories, kelurahan


# -- one report ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    from_status: str | None
    to_status: str
    actor: str
    actor_name: str | None
    note: str | None


@dataclass
class ReportDetail:
    report: Report
    category: str | None
    kelurahan: Kelurahan | None
    reporter: Contact | None
    photo_ids: list[int]
    timeline: list[TimelineEntry]
    duplicate_of: str | None = None
    duplicates: list[str] = field(default_factory=list)


def report_detail(session: Session, ticket: str) -> ReportDetail | None:
    if not _CODE.fullmatch(ticket):
        return None
    report = session.scalars(select(Report).where(Report.ticket == ticket.upper())).first()
    if report is None:
        return None
    category = (
        session.execute(select(Category.name_id).where(Category.id == report.category_id))
        .scalars()
        .first()
    )
    kelurahan = session.get(Kelurahan, report.kelurahan_code) if report.kelurahan_code else None
    photo_ids = list(
        session.scalars(
            select(ReportPhoto.photo_id)
            .where(ReportPhoto.report_id == report.id)
            .order_by(ReportPhoto.position)
        )
    )
    events = session.execute(
        select(ReportEvent, Contact.name)
        .outerjoin(Contact, Contact.id == ReportEvent.actor_contact_id)
        .where(ReportEvent.report_id == report.id)
        .order_by(ReportEvent.at, ReportEvent.id)
    ).all()
    timeline = [
        TimelineEntry(e.at, e.from_status, e.to_status, e.actor, name, e.note) for e, name in events
    ]
    duplicate_of = None
    if report.duplicate_of_id is not None:
        duplicate_of = session.scalars(
            select(Report.ticket).where(Report.id == report.duplicate_of_id)
        ).first()
    duplicates = list(
        session.scalars(
            select(Report.ticket).where(Report.duplicate_of_id == report.id).order_by(Report.id)
        )
    )
    return ReportDetail(
        report=report,
        category=category,
        kelurahan=kelurahan,
        reporter=session.get(Contact, report.reporter_id),
        photo_ids=photo_ids,
        timeline=timeline,
        duplicate_of=duplicate_of,
        duplicates=duplicates,
    )


def photo_path(session: Session, photo_id: int) -> str | None:
    if not 0 < photo_id <= MAX_ID:
        return None  # no such row, and PostgreSQL would refuse the comparison
    return session.scalars(select(Photo.path).where(Photo.id == photo_id)).first()
