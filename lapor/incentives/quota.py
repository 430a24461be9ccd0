"""The RT/RW quota of Kepgub DKI 903/2016, its standings and allowance statements.

The decree asked every RT and RW head for at least three Qlue reports a day, paid a
variable allowance per report (Rp 10,000 for an RT head, Rp 12,500 for an RW head) up to
a monthly maximum (90 reports), on top of fixed components such as Rp 75,000 of phone
credit; rejected reports did not count. It was revoked within months after protests that
it rewarded quantity and burdened volunteers, so every number here is a setting, only
verified reports count, and nothing is ever deducted automatically.

Periods are WIB calendar days and months: a report counts for the period in which it was
submitted, even when it is verified later. A head's reports count from the moment their
chat account was linked (`Head.linked_at`): what the contact filed before, as a citizen,
was not filed as a head. While the contact is blocked, nothing counts.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, Select, and_, case, func, literal, or_, select
from sqlalchemy.orm import aliased
from sqlmodel import Session

from lapor.store.lifecycle import ReportKind, ReportStatus
from lapor.store.models import TALLY_SPAN, Contact, Head, Kelurahan, QuotaTally, Report

# A report counts once a verifier accepted it, whatever happened after.
COUNTED = (
    ReportStatus.VERIFIED.value,
    ReportStatus.FORWARDED.value,
    ReportStatus.IN_PROGRESS.value,
    ReportStatus.RESOLVED.value,
)
WAITING = (ReportStatus.SUBMITTED.value,)
NOT_COUNTED = (ReportStatus.REJECTED.value, ReportStatus.DUPLICATE.value)


@dataclass(frozen=True)
class QuotaRules:
    """The decree's numbers as defaults; every one is an operator setting."""

    period: str = "day"  # the minimum applies per "day" or per "month"
    minimum: int = 3
    rate_rt: int = 10_000
    rate_rw: int = 12_500
    monthly_cap: int = 90  # counted reports paid per month
    fixed_rt: int = 75_000  # phone credit
    fixed_rw: int = 75_000
    own_kelurahan_only: bool = False
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Jakarta"))

    def rate(self, role: str) -> int:
        return self.rate_rw if role == "RW" else self.rate_rt

    def fixed(self, role: str) -> int:
        return self.fixed_rw if role == "RW" else self.fixed_rt


def day_key(day: date) -> int:
    """A day as the tally keeps it: 20261128 (and its month is that // 100: 202611)."""
    return day.year * 10_000 + day.month * 100 + day.day


@dataclass(frozen=True)
class Period:
    """A WIB day and its month, as UTC instants for the database."""

    day: date
    day_start: datetime
    day_end: datetime
    month_start: datetime
    month_end: datetime

    @classmethod
    def of(cls, day: date, timezone: ZoneInfo) -> Period:
        def at(d: date) -> datetime:
            return datetime.combine(d, time(0, 0), tzinfo=timezone)

        first = day.replace(day=1)
        last = day.replace(day=calendar.monthrange(day.year, day.month)[1])
        return cls(
            day=day,
            day_start=at(day),
            day_end=at(day + timedelta(days=1)),
            month_start=at(first),
            month_end=at(last + timedelta(days=1)),
        )

    @property
    def day_key(self) -> int:
        return day_key(self.day)

    @property
    def month_key(self) -> int:
        """The month as the tally keeps it: 202611."""
        return self.day_key // 100

    def is_wib(self) -> bool:
        """Whether these are WIB days (UTC+7), the periods the tally is kept in."""
        wib = timedelta(hours=7)
        bounds = (self.day_start, self.day_end, self.month_start, self.month_end)
        return all(moment.utcoffset() == wib for moment in bounds)


def unit_label(role: str, rt: str, rw: str) -> str:
    """A head's unit as people write it: "RT 003/RW 005", or "RW 005" for an RW head."""
    return f"RW {rw}" if role == "RW" else f"RT {rt}/RW {rw}"


@dataclass(slots=True)
class Standing:
    head_id: int
    name: str
    role: str
    rt: str
    rw: str
    kelurahan_code: str
    contact_id: int | None
    reminders_paused: bool
    today_counted: int
    today_waiting: int
    today_not_counted: int
    month_counted: int
    month_waiting: int
    month_not_counted: int
    rules: QuotaRules
    # The linked contact is blocked (abuse): the standing counts nothing while it is.
    blocked: bool = False

    def set_counts(self, *counts: int) -> None:
        """Replace the six counts (today's, then the month's), in the order of `counts`."""
        (
            self.today_counted,
            self.today_waiting,
            self.today_not_counted,
            self.month_counted,
            self.month_waiting,
            self.month_not_counted,
        ) = counts

    @property
    def counts(self) -> tuple[int, int, int, int, int, int]:
        """Today's, then the month's counted, waiting and not counted reports."""
        return (
            self.today_counted,
            self.today_waiting,
            self.today_not_counted,
            self.month_counted,
            self.month_waiting,
            self.month_not_counted,
        )

    @property
    def unit(self) -> str:
        return unit_label(self.role, self.rt, self.rw)

    @property
    def shortfall(self) -> int:
        """How many more counted reports the period's minimum asks for (never negative)."""
        done = self.today_counted if self.rules.period == "day" else self.month_counted
        return max(0, self.rules.minimum - done)

    @property
    def paid_reports(self) -> int:
        return min(self.month_counted, self.rules.monthly_cap)

    @property
    def variable(self) -> int:
        return self.paid_reports * self.rules.rate(self.role)

    @property
    def fixed(self) -> int:
        return self.rules.fixed(self.role)

    @property
    def allowance(self) -> int:
        return self.variable + self.fixed


def standings(
    session: Session,
    rules: QuotaRules,
    day: date,
    *,
    head_ids: list[int] | None = None,
    linked_only: bool = False,
    from_reports: bool = False,
) -> list[Standing]:
    """Every active head's counts for `day` and its month, in one query, in unit order.

    Read from the tally the triggers keep (two primary-key lookups per head) when the
    periods are WIB's; the own-kelurahan rule and other time zones sum the month's reports
    instead (one grouped join, still one query), as does `from_reports` (to check the
    tally). Either way not a query per head: 32,700 heads is the size of Jakarta.

    The tally counts a contact's reports and cannot tell those filed before the head
    linked it. One more query finds the exceptions: heads linked since the month began (a
    few, against the whole city), summed from their reports in a third query, and blocked
    heads, who count nothing.
    """
    period = Period.of(day, rules.timezone)
    summed = from_reports or rules.own_kelurahan_only or not period.is_wib()
    query = _from_reports(rules, period) if summed else _from_tally(period)
    query = query.where(Head.active).order_by(*UNIT_ORDER)
    if head_ids is not None:
        query = query.where(Head.id.in_(head_ids))
    if linked_only:
        query = query.where(Head.contact_id.is_not(None))
    # Core rows, not ORM rows: 32,700 heads make the ORM's result layer visible.
    connection = session.connection()
    found = [Standing(*row, rules=rules) for row in connection.execute(query)]
    exceptions = connection.execute(_exceptions(period, head_ids)).all()
    if not exceptions:
        return found
    wanted = {row.id for row in exceptions}
    by_id = {s.head_id: s for s in found if s.head_id in wanted}
    recent = [row.id for row in exceptions if row.linked_recently and row.id in by_id]
    if recent and not summed:
        query = _from_reports(rules, period).where(Head.id.in_(recent))
        counts = slice(len(HEAD_COLUMNS), len(HEAD_COLUMNS) + 6)
        for row in connection.execute(query):
            by_id[row.id].set_counts(*row[counts])
    for row in exceptions:
        standing = by_id.get(row.id)
        if row.blocked and standing is not None:
            standing.blocked = True
            standing.set_counts(0, 0, 0, 0, 0, 0)
    return found


def _exceptions(period: Period, head_ids: list[int] | None) -> Select:
    """The few heads the tally cannot answer for: blocked, or linked after the month began.

    One pass over the heads that returns a handful of rows, cheaper than carrying two more
    columns through the standings of every head (at 32,700 heads, about half the cost).
    """
    linked_recently = Head.linked_at > period.month_start
    query = (
        select(
            Head.id,
            func.coalesce(Contact.blocked, False).label("blocked"),
            func.coalesce(linked_recently, False).label("linked_recently"),
        )
        .outerjoin(Contact, Contact.id == Head.contact_id)
        .where(Head.active, or_(Contact.blocked.is_(True), linked_recently))
    )
    if head_ids is not None:
        query = query.where(Head.id.in_(head_ids))
    return query


HEAD_COLUMNS = (
    Head.id,
    Head.name,
    Head.role,
    Head.rt,
    Head.rw,
    Head.kelurahan_code,
    Head.contact_id,
    Head.reminders_paused,
)
# Kelurahan, RW, then its RW head ("" sorts first) and its RTs: the order of the unique
# index on the unit, so the database reads it in order instead of sorting.
UNIT_ORDER = (Head.kelurahan_code, Head.rw, Head.rt, Head.role)


def _from_tally(period: Period) -> Select:
    day, month = aliased(QuotaTally), aliased(QuotaTally)

    def rows_of(tally, period_key: int):  # type: ignore[no-untyped-def]
        first = period_key * TALLY_SPAN
        return and_(
            tally.id == literal(first, BigInteger) + Head.contact_id,
            # The period's rows are one range of ids. SQLite looks each head up anyway;
            # PostgreSQL, without the range, hashes the whole tally twice (1.3 s at
            # 870,000 rows instead of 0.18 s).
            tally.id >= first,
            tally.id < first + TALLY_SPAN,
        )

    return (
        select(
            *HEAD_COLUMNS,
            *(
                func.coalesce(getattr(row, name), 0)
                for row in (day, month)
                for name in ("counted", "waiting", "not_counted")
            ),
        )
        .select_from(Head)
        .outerjoin(day, rows_of(day, period.day_key))
        .outerjoin(month, rows_of(month, period.month_key))
    )


def _from_reports(rules: QuotaRules, period: Period) -> Select:
    in_day = and_(Report.created_at >= period.day_start, Report.created_at < period.day_end)

    def tally(condition, statuses: tuple[str, ...]):  # type: ignore[no-untyped-def]
        return func.coalesce(
            func.sum(case((and_(condition, Report.status.in_(statuses)), 1), else_=0)), 0
        )

    join = and_(
        Report.reporter_id == Head.contact_id,
        Report.kind == ReportKind.LAPORAN.value,
        Report.created_at >= period.month_start,
        Report.created_at < period.month_end,
        # Only what the contact filed as a head (no time: linked before lapor kept it).
        or_(Head.linked_at.is_(None), Report.created_at >= Head.linked_at),
    )
    if rules.own_kelurahan_only:
        join = and_(join, Report.kelurahan_code == Head.kelurahan_code)
    in_month = Report.id.is_not(None)
    return (
        select(
            *HEAD_COLUMNS,
            *(
                tally(when, statuses)
                for when in (in_day, in_month)
                for statuses in (COUNTED, WAITING, NOT_COUNTED)
            ),
        )
        .select_from(Head)
        .outerjoin(Report, join)
        .group_by(Head.id)
    )


def standing_for_contact(
    session: Session, rules: QuotaRules, contact_id: int, day: date
) -> Standing | None:
    head_id = session.scalars(select(Head.id).where(Head.contact_id == contact_id)).first()
    if head_id is None:
        return None
    found = standings(session, rules, day, head_ids=[head_id])
    return found[0] if found else None


def local_day(now: datetime, rules: QuotaRules) -> date:
    return now.astimezone(rules.timezone).date()


@dataclass(frozen=True)
class StatementLine:
    standing: Standing
    kelurahan: str


def statement(session: Session, rules: QuotaRules, year: int, month: int) -> list[StatementLine]:
    """A month's allowance per head (only counted reports, capped), ordered by kelurahan."""
    last = date(year, month, calendar.monthrange(year, month)[1])
    names = dict(session.execute(select(Kelurahan.code, Kelurahan.name)).all())
    return [
        StatementLine(s, names.get(s.kelurahan_code, s.kelurahan_code))
        for s in standings(session, rules, last)
    ]


def rupiah(amount: int) -> str:
    """Rp 1.200.000: Indonesian thousands separators."""
    return "Rp " + f"{amount:,}".replace(",", ".")


STATEMENT_COLUMNS = (
    "kelurahan_code",
    "kelurahan",
    "head_id",
    "role",
    "rw",
    "rt",
    "name",
    "counted_reports",
    "paid_reports",
    "rate",
    "variable_allowance",
    "fixed_allowance",
    "total",
    # "yes": the head's contact is blocked, so no report counts (the fixed part is not
    # deducted: lapor never deducts; finance decides).
    "blocked",
)


def statement_rows(lines: list[StatementLine]) -> list[list[object]]:
    """The statement as rows: one per head, a subtotal after each kelurahan, a grand total."""
    rows: list[list[object]] = []
    grand = [0, 0, 0, 0, 0]

    def subtotal(code: str, name: str, sums: list[int]) -> list[object]:
        return [code, name, "", "SUBTOTAL", "", "", "", sums[0], sums[1], "", *sums[2:], ""]

    current: tuple[str, str] | None = None
    sums = [0, 0, 0, 0, 0]
    for line in lines:
        s = line.standing
        key = (s.kelurahan_code, line.kelurahan)
        if current is not None and key != current:
            rows.append(subtotal(*current, sums))
            sums = [0, 0, 0, 0, 0]
        current = key
        values = [s.month_counted, s.paid_reports, s.variable, s.fixed, s.allowance]
        sums = [a + b for a, b in zip(sums, values, strict=True)]
        grand = [a + b for a, b in zip(grand, values, strict=True)]
        rows.append(
            [
                s.kelurahan_code,
                line.kelurahan,
                s.head_id,
                s.role,
                s.rw,
                s.rt,
                s.name,
                s.month_counted,
                s.paid_reports,
                s.rules.rate(s.role),
                s.variable,
                s.fixed,
                s.allowance,
                "yes" if s.blocked else "",
            ]
        )
    if current is not None:
        rows.append(subtotal(*current, sums))
    rows.append(["", "", "", "TOTAL", "", "", "", grand[0], grand[1], "", *grand[2:], ""])
    return rows
