"""Figures for the city monitoring dashboard: an overview of recent days and the kelurahan league.

The city has millions of reports, so the database does the counting: every figure is one
statement with GROUP BY (or window functions) over `report` and `report_event`, and Python
only reshapes a few hundred result rows. Times come from `report_event`, the audit trail.

Only laporan count, everywhere but `Overview.by_kind`: saran and apresiasi have no category
and are never forwarded, so they would only dilute the other figures.

Medians are exact and computed in SQL by the same statement on SQLite and PostgreSQL: the
values are ranked with `row_number()` and `count()` windows and the middle one or two are
averaged (what `percentile_cont(0.5)` and `statistics.median` give). PostgreSQL's
`percentile_cont` would not run on SQLite, and one statement for both is what makes both
give the same answer.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    Float,
    Integer,
    and_,
    case,
    cast,
    extract,
    func,
    or_,
    select,
)
from sqlalchemy.orm import aliased
from sqlalchemy.sql.expression import ColumnElement, Select, Subquery
from sqlmodel import Session

from lapor.store.lifecycle import OPEN_STATUSES, EventKind, ReportKind, ReportStatus
from lapor.store.models import Category, Kelurahan, Report, ReportEvent

NO_CATEGORY = "Tanpa kategori"

LAPORAN = ReportKind.LAPORAN.value
SUBMITTED = ReportStatus.SUBMITTED.value
FORWARDED = ReportStatus.FORWARDED.value
RESOLVED = ReportStatus.RESOLVED.value
# The verifiers' decision on a new laporan: accepted, rejected or merged into another.
DECIDED = (ReportStatus.VERIFIED.value, ReportStatus.REJECTED.value, ReportStatus.DUPLICATE.value)
# What a kelurahan still owes, and everything it was handed (owed or done).
OWED = (FORWARDED, ReportStatus.IN_PROGRESS.value)
HANDED = (*OWED, RESOLVED)
# A kelurahan's first move on a forwarded report: taking it up, or resolving it at once.
ACTED = (ReportStatus.IN_PROGRESS.value, RESOLVED)
OPEN = tuple(s.value for s in ReportStatus if s in OPEN_STATUSES)

# Per-day counts are grouped by quarter hour and folded into local days in Python. Every
# time zone offset in use is a whole number of quarter hours, so a quarter hour never
# straddles a local midnight: the fold is exact in any zone, DST included, while the
# database needs no time zone support (SQLite has none).
_BUCKET_S = 900


@dataclass(frozen=True)
class Overview:
    """The dashboard's front page for a window of `days` WIB days ending today.

    Counts (`by_status`, `by_category`, `per_day`, `sla_breaches`) are about the laporan
    *submitted* in the window, `by_kind` about every report submitted in it. The medians are
    about the decisions and resolutions *made* in the window, whenever the laporan came in:
    a backlog cleared this month shows in this month's times instead of vanishing from them.
    `by_category` lists categories with at least one laporan, most first (ties by name).
    """

    by_status: dict[str, int]
    by_kind: dict[str, int]
    by_category: list[tuple[str, int]]
    per_day: list[tuple[date, int]]
    # Submission -> the review decision (verified, rejected or duplicate), over laporan
    # decided in the window: a rejection is as much an answer to the citizen as a verification.
    median_verify_hours: float | None
    # Submission -> the last time it was resolved, over laporan resolved now whose last
    # resolution fell in the window (a fix reopened by a poor rating counts when redone).
    median_resolve_hours: float | None
    # Laporan submitted in the window whose verification or follow-up deadline was breached.
    sla_breaches: int
    # How many decisions / resolutions the medians are taken over.
    verify_count: int = 0
    resolve_count: int = 0

    @property
    def first_day(self) -> date:
        return self.per_day[0][0]

    @property
    def last_day(self) -> date:
        return self.per_day[-1][0]


@dataclass(frozen=True)
class LeagueRow:
    """One kelurahan's standing; see `league` for which reports count."""

    code: str
    name: str
    kecamatan: str
    kota: str
    open: int
    resolved: int
    total: int
    resolved_share: float | None
    # Forwarding -> the kelurahan's first move (in progress, or resolved straight away),
    # the "response time" of the Jakarta lurah ranking.
    median_response_hours: float | None
    average_rating: float | None
    # Laporan of the kelurahan whose follow-up deadline was breached (the verification
    # deadline is the verifiers', not the kelurahan's).
    sla_breaches: int
    responses: int = 0
    ratings: int = 0


def day_window(now: datetime, tz: ZoneInfo, days: int) -> tuple[date, date, datetime, datetime]:
    """(first day, last day, start, end) of the `days` local days ending with today's.

    `start` is the first day's local midnight and `end` the next midnight after today, both
    aware; the window is [start, end).
    """
    if days < 1:
        raise ValueError("days must be at least 1")
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    last = now.astimezone(tz).date()
    first = last - timedelta(days=days - 1)
    start = datetime.combine(first, time(0), tzinfo=tz)
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=tz)
    return first, last, start, end


def overview(session: Session, now: datetime, tz: ZoneInfo, days: int = 30) -> Overview:
    """The overview of the last `days` local days (today included), in five queries."""
    first, last, start, end = day_window(now, tz, days)
    submitted = and_(Report.created_at >= start, Report.created_at < end)

    # Statuses, kinds and breaches come from one pass over the window's reports.
    breached = or_(Report.verify_breached_at.is_not(None), Report.followup_breached_at.is_not(None))
    rows = session.execute(
        select(
            Report.kind,
            Report.status,
            func.count(),
            func.coalesce(func.sum(case((breached, 1), else_=0)), 0),
        )
        .where(submitted)
        .group_by(Report.kind, Report.status)
    ).all()
    by_kind = {kind.value: 0 for kind in ReportKind}
    by_status = {status.value: 0 for status in ReportStatus}
    sla_breaches = 0
    for kind, status, count, breaches in rows:
        by_kind[kind] = by_kind.get(kind, 0) + count
        if kind == LAPORAN:
            by_status[status] = by_status.get(status, 0) + count
            sla_breaches += int(breaches)

    name = func.coalesce(Category.name_id, NO_CATEGORY)
    by_category = [
        (label, count)
        for label, count in session.execute(
            select(name, func.count())
            .select_from(Report)
            .outerjoin(Category, Category.id == Report.category_id)
            .where(submitted, Report.kind == LAPORAN)
            .group_by(name)
            .order_by(func.count().desc(), name)
        )
    ]

    verify, verify_count = _one_median(session, _verify_hours(session, start, end))
    resolve, resolve_count = _one_median(session, _resolve_hours(session, start, end))
    return Overview(
        by_status=by_status,
        by_kind=by_kind,
        by_category=by_category,
        per_day=_per_day(session, tz, first, last, start, end),
        median_verify_hours=verify,
        median_resolve_hours=resolve,
        sla_breaches=sla_breaches,
        verify_count=verify_count,
        resolve_count=resolve_count,
    )


def _per_day(
    session: Session, tz: ZoneInfo, first: date, last: date, start: datetime, end: datetime
) -> list[tuple[date, int]]:
    """Laporan submitted per local day, oldest first, days without any included."""
    dialect = _dialect(session)
    origin = int(start.timestamp())
    bucket = (_epoch_seconds(dialect, Report.created_at) - origin) // _BUCKET_S
    rows = session.execute(
        select(bucket, func.count())
        .where(Report.kind == LAPORAN, Report.created_at >= start, Report.created_at < end)
        .group_by(bucket)
    ).all()
    counts: Counter[date] = Counter()
    for index, count in rows:
        instant = datetime.fromtimestamp(origin + int(index) * _BUCKET_S, tz)
        counts[instant.date()] += count
    days = (last - first).days + 1
    return [(day, counts[day]) for day in (first + timedelta(days=k) for k in range(days))]


def _verify_hours(session: Session, start: datetime, end: datetime) -> Subquery:
    """Hours from submission to the review decision, for laporan decided in [start, end)."""
    decision = aliased(ReportEvent)
    creation = aliased(ReportEvent)
    return (
        select(_hours(_dialect(session), creation.at, decision.at).label("hours"))
        .select_from(decision)
        .join(Report, Report.id == decision.report_id)
        .join(
            creation,
            and_(
                creation.report_id == decision.report_id,
                creation.from_status.is_(None),
                creation.to_status == SUBMITTED,
            ),
        )
        .where(
            Report.kind == LAPORAN,
            # A report leaves `submitted` once (nothing leads back to it): one row each.
            decision.from_status == SUBMITTED,
            decision.to_status.in_(DECIDED),
            _is_change(decision),
            decision.at >= start,
            decision.at < end,
        )
        .subquery()
    )


def _resolve_hours(session: Session, start: datetime, end: datetime) -> Subquery:
    """Hours from submission to the last resolution, for laporan resolved now, in [start, end)."""
    event = aliased(ReportEvent)
    creation = aliased(ReportEvent)
    # Restricting events to the window before taking the latest is the same as taking the
    # latest and keeping it when it is in the window, and reads far fewer rows.
    latest = (
        select(event.report_id, func.max(event.at).label("at"))
        .where(
            event.to_status == RESOLVED,
            _is_change(event),  # a rating is noted as resolved -> resolved: not a resolution
            event.at >= start,
            event.at < end,
        )
        .group_by(event.report_id)
        .subquery()
    )
    return (
        select(_hours(_dialect(session), creation.at, latest.c.at).label("hours"))
        .select_from(latest)
        .join(Report, Report.id == latest.c.report_id)
        .join(
            creation,
            and_(
                creation.report_id == latest.c.report_id,
                creation.from_status.is_(None),
                creation.to_status == SUBMITTED,
            ),
        )
        .where(Report.kind == LAPORAN, Report.status == RESOLVED)
        .subquery()
    )


def league(session: Session, since: datetime | None = None) -> list[LeagueRow]:
    """Every kelurahan of the registry (zeros included), ranked: resolved share desc (None last),
    then median response asc (None last), then name.

    A laporan counts for the kelurahan it is routed to now (`kelurahan_code`); with `since`,
    only laporan submitted at or after it count, in every column. `total` is what reached
    the kelurahan and is still its business (forwarded, in progress or resolved), `open` the
    part of it not yet resolved. One statement: the registry left-joined to the per-kelurahan
    counts and to the per-kelurahan median response.
    """
    scope = [Report.kind == LAPORAN, Report.kelurahan_code.is_not(None)]
    if since is not None:
        scope.append(Report.created_at >= since)

    def tally(condition: ColumnElement[bool]) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    counts = (
        select(
            Report.kelurahan_code.label("code"),
            tally(Report.status.in_(OWED)).label("open"),
            tally(Report.status == RESOLVED).label("resolved"),
            tally(Report.status.in_(HANDED)).label("total"),
            # Averaged as floating point on both databases (PostgreSQL's numeric AVG
            # would round differently from SQLite's).
            func.avg(cast(Report.rating, Float)).label("rating"),
            func.count(Report.rating).label("ratings"),
            tally(Report.followup_breached_at.is_not(None)).label("breaches"),
        )
        .where(*scope)
        .group_by(Report.kelurahan_code)
        .subquery()
    )
    response = _median(_response_hours(session, scope), by="code").subquery()
    rows = session.execute(
        select(
            Kelurahan.code,
            Kelurahan.name,
            Kelurahan.kecamatan,
            Kelurahan.kota,
            counts.c.open,
            counts.c.resolved,
            counts.c.total,
            counts.c.rating,
            counts.c.ratings,
            counts.c.breaches,
            response.c.median,
            response.c.n,
        )
        .outerjoin(counts, counts.c.code == Kelurahan.code)
        .outerjoin(response, response.c.code == Kelurahan.code)
    ).all()
    table = [
        LeagueRow(
            code=row.code,
            name=row.name,
            kecamatan=row.kecamatan,
            kota=row.kota,
            open=int(row.open or 0),
            resolved=int(row.resolved or 0),
            total=int(row.total or 0),
            resolved_share=(row.resolved / row.total) if row.total else None,
            median_response_hours=_clean(row.median),
            average_rating=None if row.rating is None else float(row.rating),
            sla_breaches=int(row.breaches or 0),
            responses=int(row.n or 0),
            ratings=int(row.ratings or 0),
        )
        for row in rows
    ]
    table.sort(
        key=lambda r: (
            r.resolved_share is None,
            -(r.resolved_share or 0.0),
            r.median_response_hours is None,
            r.median_response_hours or 0.0,
            r.name,
            r.code,
        )
    )
    return table


def _response_hours(session: Session, scope: list[ColumnElement[bool]]) -> Subquery:
    """(code, hours) from forwarding to the kelurahan's first move, one row per laporan.

    The forwarding a move answers is the status change just before it (`lag`), so a report
    sent back ("bukan wilayah kami") and forwarded again is timed from the second forwarding.
    Of several moves (taken up, sent back, forwarded and taken up again) the latest counts:
    it answers the forwarding to the kelurahan the report belongs to now.
    """
    event = aliased(ReportEvent)
    changes = (
        select(
            Report.kelurahan_code.label("code"),
            event.id,
            event.report_id,
            event.at,
            event.from_status,
            event.to_status,
            func.lag(event.at)
            .over(partition_by=event.report_id, order_by=(event.at, event.id))
            .label("previous_at"),
        )
        .select_from(event)
        .join(Report, Report.id == event.report_id)
        .where(*scope, event.to_status.in_(HANDED), _is_change(event))
        .subquery()
    )
    moves = (
        select(
            changes.c.code,
            _hours(_dialect(session), changes.c.previous_at, changes.c.at).label("hours"),
            func.row_number()
            .over(
                partition_by=changes.c.report_id,
                order_by=(changes.c.at.desc(), changes.c.id.desc()),
            )
            .label("latest"),
        )
        .where(changes.c.from_status == FORWARDED, changes.c.to_status.in_(ACTED))
        .subquery()
    )
    return select(moves.c.code, moves.c.hours).where(moves.c.latest == 1).subquery()


def open_by_kelurahan(session: Session) -> dict[str, int]:
    """Open laporan (submitted..in_progress, i.e. the lifecycle's open family) per kelurahan code.

    Every kelurahan of the registry is a key (0 when nothing is open), so the map and the
    tables can index it directly; laporan routed to a code no longer in the registry are left
    out, as they have nowhere to be drawn.
    """
    rows = session.execute(
        select(
            Kelurahan.code,
            func.count(Report.id),
        )
        .outerjoin(
            Report,
            and_(
                Report.kelurahan_code == Kelurahan.code,
                Report.kind == LAPORAN,
                Report.status.in_(OPEN),
            ),
        )
        .group_by(Kelurahan.code)
    ).all()
    return {code: int(count) for code, count in rows}


# --------------------------------------------------------------------------- helpers


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _is_change(event: Any) -> ColumnElement[bool]:
    """A status change, not a note, a reply, a progress photo or a citizen's addition kept
    in the history (`record_event` writes them with from == to, and their own kind)."""
    return and_(
        event.kind == EventKind.STATUS.value,
        or_(event.from_status.is_(None), event.from_status != event.to_status),
    )


def _hours(dialect: str, start: Any, end: Any) -> ColumnElement[float]:
    """`end - start` in hours, as a float, on either database."""
    if dialect == "postgresql":
        return cast(extract("epoch", end - start), Float) / 3600.0
    # SQLite keeps UTC text; julianday() reads it to the millisecond.
    return (func.julianday(end) - func.julianday(start)) * 24.0


def _epoch_seconds(dialect: str, column: Any) -> ColumnElement[int]:
    """Whole seconds since 1970 (UTC) of a stored instant, as an integer."""
    if dialect == "postgresql":
        return cast(func.floor(extract("epoch", column)), BigInteger)
    return cast(func.strftime("%s", column), Integer)


def _median(values: Subquery, by: str | None = None) -> Select[Any]:
    """The exact median of `values.c.hours` (per `by` column when given), and how many.

    Ranks 1..n sorted by value; the middle ranks are those with n <= 2*rank <= n+2 (one of
    them for odd n, two for even n), and their average is the median.
    """
    value = values.c.hours
    partition = [values.c[by]] if by else []
    ranked = (
        select(
            *partition,
            value.label("v"),
            func.row_number().over(partition_by=partition or None, order_by=value).label("rank"),
            func.count().over(partition_by=partition or None).label("n"),
        )
        .where(value.is_not(None))
        .subquery()
    )
    middle = (2 * ranked.c.rank).between(ranked.c.n, ranked.c.n + 2)
    keys = [ranked.c[by]] if by else []
    return (
        select(*keys, func.avg(ranked.c.v).label("median"), func.max(ranked.c.n).label("n"))
        .where(middle)
        .group_by(*keys)
    )


def _one_median(session: Session, values: Subquery) -> tuple[float | None, int]:
    median, n = session.execute(_median(values)).one()
    return _clean(median), int(n or 0)


def _clean(hours: Any) -> float | None:
    """Hours rounded to 6 decimals (3.6 ms): SQLite's julianday() arithmetic leaves float
    noise far below that, and rounding it away makes both databases print the same figure."""
    return None if hours is None else round(float(hours), 6)
