"""Response-time deadlines (SP4N-LAPOR!): a reminder at half time, an escalation at breach.

SP4N-LAPOR!, the national complaint system, gives the administrator 3 working days to
verify a complaint and the institution it is sent to 5 working days to follow it up.
Here that is: a laporan is verified within `verify_days` working days of submission, and
a forwarded one is taken in hand (`in_progress`) by its kelurahan within `followup_days`
working days of the latest forward. Both are settings (SLA_VERIFY_DAYS, SLA_FOLLOWUP_DAYS).

Working time counts only working days in WIB: not Saturdays, Sundays, public holidays, nor
cuti bersama (see `WorkingCalendar`). A report filed on Saturday starts counting on Monday
at 00:00. Half time is when half the working time has passed.

`check_deadlines` runs from the scheduler. Each step happens once per report however often
it runs, or however many schedulers run it: reminders have outbox keys, and a breach is
claimed by a conditional UPDATE of its mark (`verify_breached_at`, `followup_breached_at`)
in the transaction that queues the escalation. A mark holds the deadline that was missed
and is never cleared; `followup_breached_at` is the latest forward's missed deadline (a
re-forwarded report that misses its new deadline too gets the new one, and its outbox keys
carry the forward's event id, so each forward has its own reminder and escalation).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import holidays
from sqlalchemy import func, or_, select, update
from sqlmodel import Session

from lapor.handlers.heads import in_quiet_hours
from lapor.handlers.review import CONSOLE_GROUP_PREFIX
from lapor.handlers.rooms import Rooms
from lapor.handlers.texts import day_text, t
from lapor.handlers.types import Outbound
from lapor.store.lifecycle import ReportKind, ReportStatus
from lapor.store.models import Category, KecamatanChat, Kelurahan, Outbox, Report, ReportEvent
from lapor.store.outbox import OutgoingRow, enqueue

DAY = timedelta(days=1)
DAY_SECONDS = 86_400.0
# The `holidays` library's categories: "public" are the national holidays; "government"
# are the cuti bersama (joint leave days decreed for civil servants each year).
PUBLIC, JOINT = "public", "government"
_KEY_CHUNK = 1000


# -- the working-time calendar ------------------------------------------------------------------


@lru_cache(maxsize=256)
def _holidays(country: str, year: int, joint: bool) -> frozenset[date]:
    """One country's days off in one year; cached, a scan asks for the same years often."""
    supported = set(holidays.country_holidays(country, years=[]).supported_categories)
    wanted = {PUBLIC, JOINT} if joint else {PUBLIC}
    categories = tuple(sorted(wanted & supported)) or (PUBLIC,)
    return frozenset(holidays.country_holidays(country, years=year, categories=categories))


@dataclass(frozen=True)
class WorkingCalendar:
    """Working days of the offices that answer reports, and working time between instants.

    Days off: Saturday, Sunday, and the holidays of `country` from the `holidays` library.
    With `joint_holidays` (the default) cuti bersama count as days off too: they are decreed
    for civil servants (SKB 3 Menteri), so kelurahan and city offices are closed or skeleton-
    staffed on them. The library lists them in its "government" category (for Indonesia:
    e.g. 2026-12-24, Christmas Joint Holiday); its default "public" category leaves them out.
    Indonesia has no "observed" holidays moved off weekends, so there is nothing to decide
    there. Years the library has no decree for yet simply have no cuti bersama.

    One working day is 24 hours of a working day's time, in `timezone` (WIB: no daylight
    saving, so every day is 24 hours long).
    """

    country: str = "ID"
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Jakarta"))
    joint_holidays: bool = True

    def __post_init__(self) -> None:
        try:
            holidays.country_holidays(self.country, years=[])
        except NotImplementedError:
            known = f"the holidays library does not know country {self.country!r}"
            raise ValueError(known) from None

    def holidays_in(self, year: int) -> frozenset[date]:
        return _holidays(self.country, year, self.joint_holidays)

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self.holidays_in(day.year)

    def _bounds(self, day: date) -> tuple[datetime, datetime]:
        """The day's local midnight to the next, in UTC."""
        start = datetime.combine(day, time(), self.timezone).astimezone(UTC)
        end = datetime.combine(day + DAY, time(), self.timezone).astimezone(UTC)
        return start, end

    def elapsed_working_days(self, start: datetime, now: datetime) -> float:
        """Working time from `start` to `now`, in working days (0.5 = twelve hours)."""
        if now <= start:
            return 0.0
        seconds = 0.0
        day = start.astimezone(self.timezone).date()
        last = now.astimezone(self.timezone).date()
        while day <= last:
            if self.is_working_day(day):
                low, high = self._bounds(day)
                overlap = (min(high, now) - max(low, start)).total_seconds()
                seconds += max(overlap, 0.0)
            day += DAY
        return seconds / DAY_SECONDS

    def deadline(self, start: datetime, working_days: float) -> datetime:
        """The instant at which `working_days` of working time have passed since `start`."""
        remaining = working_days * DAY_SECONDS
        cursor = start.astimezone(UTC)
        if remaining <= 0:
            return cursor
        day = start.astimezone(self.timezone).date()
        while True:
            _low, high = self._bounds(day)
            if self.is_working_day(day):
                available = (high - cursor).total_seconds()
                if remaining <= available:
                    return cursor + timedelta(seconds=remaining)
                remaining -= available
            cursor, day = high, day + DAY


# -- the scan -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlaConfig:
    calendar: WorkingCalendar = field(default_factory=WorkingCalendar)
    # SP4N-LAPOR!: verified within 3 working days of submission.
    verify_days: float = 3.0
    # SP4N-LAPOR!: followed up within 5 working days of being sent to the institution.
    followup_days: float = 5.0
    # Staff chats read the deployment's language, not a citizen's.
    language: str = "id"
    # Quiet hours hold half-time reminders (a nudge is as useful at 07:00); escalations and
    # breach marks are never held.
    quiet: tuple[time, time] | None = None


@dataclass
class SlaCounts:
    """What one scan did: reminders queued, breaches marked and escalated, messages queued."""

    verify_reminders: int = 0
    verify_breaches: int = 0
    followup_reminders: int = 0
    followup_breaches: int = 0
    messages: int = 0


@dataclass(frozen=True)
class _Due:
    """A report of one stage whose clock started at `start`, with what its messages say."""

    report_id: int
    ticket: str
    start: datetime
    category: str
    place: str
    half: datetime
    breach: datetime


def check_deadlines(session: Session, now: datetime, config: SlaConfig, rooms: Rooms) -> SlaCounts:
    """Queue the reminders and escalations that are due at `now`; mark breached reports.

    One selection query per stage. Per-report work (the breach claim) only for reports
    that crossed their deadline. The caller commits.
    """
    counts = SlaCounts()
    quiet = config.quiet is not None and in_quiet_hours(
        now.astimezone(config.calendar.timezone), *config.quiet
    )
    _verification(session, now, config, rooms, quiet, counts)
    _followup(session, now, config, rooms, quiet, counts)
    return counts


def _verification(
    session: Session, now: datetime, config: SlaConfig, rooms: Rooms, quiet: bool, counts: SlaCounts
) -> None:
    """Laporan still `submitted`: half time -> the admin chat; breach -> escalation there."""
    # Working time never runs faster than the clock: nothing newer than half the calendar
    # time can be at half time, so the database leaves those out.
    rows = session.execute(
        select(
            Report.id,
            Report.ticket,
            Report.created_at,
            Report.latitude,
            Report.longitude,
            Category.name_id,
            Category.name_en,
            Kelurahan.name.label("kelurahan"),
            Kelurahan.kecamatan,
        )
        .outerjoin(Category, Category.id == Report.category_id)
        .outerjoin(Kelurahan, Kelurahan.code == Report.kelurahan_code)
        .where(
            Report.kind == ReportKind.LAPORAN.value,
            Report.status == ReportStatus.SUBMITTED.value,
            Report.verify_breached_at.is_(None),
            Report.created_at <= now - timedelta(days=config.verify_days / 2),
        )
        .order_by(Report.id)
    ).all()
    due = [_due(row, row.created_at, config.verify_days, config) for row in rows]
    halves = [d for d in due if d.half <= now < d.breach]
    reminders: list[OutgoingRow] = []
    if halves and not quiet and rooms.admin is not None:
        sent = _existing(session, [f"sla:verify:half:{d.report_id}" for d in halves])
        for d in halves:
            key = f"sla:verify:half:{d.report_id}"
            if key not in sent:
                text = _text("sla.verify.half", d, now, config)
                reminders.append(_row(key, rooms.admin, text, config.language))
    counts.verify_reminders = enqueue(session, reminders, now) if reminders else 0
    escalations: list[OutgoingRow] = []
    for d in (d for d in due if d.breach <= now):
        claimed = session.execute(
            update(Report)
            .where(
                Report.id == d.report_id,
                Report.status == ReportStatus.SUBMITTED.value,
                Report.verify_breached_at.is_(None),
            )
            .values(verify_breached_at=d.breach)
            .returning(Report.id)
            .execution_options(synchronize_session=False)
        ).first()
        if claimed is None:
            continue  # decided meanwhile, or another scheduler got there first
        counts.verify_breaches += 1
        if rooms.admin is not None:
            key = f"sla:verify:breach:{d.report_id}"
            text = _text("sla.verify.breach", d, now, config)
            escalations.append(_row(key, rooms.admin, text, config.language))
    added = enqueue(session, escalations, now) if escalations else 0
    counts.messages += counts.verify_reminders + added


def _followup(
    session: Session, now: datetime, config: SlaConfig, rooms: Rooms, quiet: bool, counts: SlaCounts
) -> None:
    """Laporan still `forwarded`: half time -> the kelurahan group (or the admin chat when
    it has none); breach -> escalation to the admin chat and the kecamatan's chat."""
    # The clock starts at the latest real forward: a report sent back ("bukan wilayah
    # kami") and re-routed starts again for its new kelurahan. Events that change no status
    # (a rating, a block) repeat the current status as from and to: not forwards.
    latest = (
        select(ReportEvent.report_id, func.max(ReportEvent.id).label("event_id"))
        .join(Report, Report.id == ReportEvent.report_id)
        .where(
            Report.kind == ReportKind.LAPORAN.value,
            Report.status == ReportStatus.FORWARDED.value,
            ReportEvent.to_status == ReportStatus.FORWARDED.value,
            ReportEvent.from_status != ReportStatus.FORWARDED.value,
        )
        .group_by(ReportEvent.report_id)
        .subquery()
    )
    rows = session.execute(
        select(
            Report.id,
            Report.ticket,
            Report.latitude,
            Report.longitude,
            ReportEvent.id.label("event_id"),
            ReportEvent.at.label("forwarded_at"),
            Category.name_id,
            Category.name_en,
            Kelurahan.code.label("kelurahan_code"),
            Kelurahan.name.label("kelurahan"),
            Kelurahan.kecamatan,
            Kelurahan.chat_id.label("group_chat"),
            KecamatanChat.chat_id.label("kecamatan_chat"),
        )
        .select_from(latest)
        .join(Report, Report.id == latest.c.report_id)
        .join(ReportEvent, ReportEvent.id == latest.c.event_id)
        .outerjoin(Category, Category.id == Report.category_id)
        .outerjoin(Kelurahan, Kelurahan.code == Report.kelurahan_code)
        .outerjoin(KecamatanChat, KecamatanChat.kecamatan == Kelurahan.kecamatan)
        .where(
            ReportEvent.at <= now - timedelta(days=config.followup_days / 2),
            # A mark from an earlier forward does not cover this one.
            or_(
                Report.followup_breached_at.is_(None),
                Report.followup_breached_at < ReportEvent.at,
            ),
        )
        .order_by(Report.id)
    ).all()
    found = [(row, _due(row, row.forwarded_at, config.followup_days, config)) for row in rows]
    halves = [(row, d) for row, d in found if d.half <= now < d.breach]
    reminders: list[OutgoingRow] = []
    if halves and not quiet:
        keys = {d.report_id: f"sla:followup:half:{d.report_id}:{row.event_id}" for row, d in halves}
        sent = _existing(session, keys.values())
        for row, d in halves:
            key = keys[d.report_id]
            if key in sent:
                continue
            room = _group_room(row.kelurahan_code, row.group_chat, rooms)
            kelurahan = row.kelurahan or "-"
            if room is not None:
                text = _text("sla.followup.half", d, now, config, kelurahan=kelurahan)
            elif rooms.admin is not None:
                room = rooms.admin
                text = _text("sla.followup.half_admin", d, now, config, kelurahan=kelurahan)
            else:
                continue
            reminders.append(_row(key, room, text, config.language))
    counts.followup_reminders = enqueue(session, reminders, now) if reminders else 0
    escalations: list[OutgoingRow] = []
    for row, d in ((row, d) for row, d in found if d.breach <= now):
        claimed = session.execute(
            update(Report)
            .where(
                Report.id == d.report_id,
                Report.status == ReportStatus.FORWARDED.value,
                or_(
                    Report.followup_breached_at.is_(None),
                    Report.followup_breached_at < row.forwarded_at,
                ),
            )
            .values(followup_breached_at=d.breach)
            .returning(Report.id)
            .execution_options(synchronize_session=False)
        ).first()
        if claimed is None:
            continue
        counts.followup_breaches += 1
        text = _text("sla.followup.breach", d, now, config, kelurahan=row.kelurahan or "-")
        key = f"sla:followup:breach:{d.report_id}:{row.event_id}"
        if rooms.admin is not None:
            escalations.append(_row(key, rooms.admin, text, config.language))
        if row.kecamatan_chat is not None:
            kecamatan = ("telegram", str(row.kecamatan_chat))
            escalations.append(_row(f"{key}:kecamatan", kecamatan, text, config.language))
    added = enqueue(session, escalations, now) if escalations else 0
    counts.messages += counts.followup_reminders + added


# -- helpers ------------------------------------------------------------------------------------


def _due(row: Any, start: datetime, days: float, config: SlaConfig) -> _Due:
    calendar = config.calendar
    return _Due(
        report_id=row.id,
        ticket=row.ticket,
        start=start,
        category=_category(row, config.language),
        place=_place(row),
        half=calendar.deadline(start, days / 2),
        breach=calendar.deadline(start, days),
    )


def _category(row: Any, lang: str) -> str:
    name = row.name_en if lang == "en" else row.name_id
    return name or "-"


def _place(row: Any) -> str:
    """As on the cards: the kelurahan and kecamatan, else the coordinates."""
    if row.kelurahan:
        return f"Kel. {row.kelurahan}, Kec. {row.kecamatan}"
    if row.latitude is not None and row.longitude is not None:
        return f"{row.latitude:.5f}, {row.longitude:.5f}"
    return "-"


def _group_room(code: str | None, chat_id: int | None, rooms: Rooms) -> tuple[str, str] | None:
    """The kelurahan's group, as `review.group_room` finds it (console rooms offline)."""
    if chat_id is not None:
        return ("telegram", str(chat_id))
    if rooms.console and code:
        return ("console", f"{CONSOLE_GROUP_PREFIX}{code}")
    return None


def _existing(session: Session, keys: Iterable[str]) -> set[str]:
    """Which of these outbox keys are there already (a cheaper skip than ON CONFLICT)."""
    wanted = list(keys)
    found: set[str] = set()
    for i in range(0, len(wanted), _KEY_CHUNK):
        chunk = wanted[i : i + _KEY_CHUNK]
        found.update(session.scalars(select(Outbox.key).where(Outbox.key.in_(chunk))))
    return found


def _text(key: str, d: _Due, now: datetime, config: SlaConfig, **values: object) -> str:
    lang = config.language
    return t(
        lang,
        key,
        ticket=d.ticket,
        category=d.category,
        place=d.place,
        since=when(d.start, config.calendar.timezone, lang),
        waited=working_days_text(config.calendar.elapsed_working_days(d.start, now), lang),
        deadline=when(d.breach, config.calendar.timezone, lang),
        **values,
    )


def when(moment: datetime, timezone: ZoneInfo, lang: str) -> str:
    """'3 Des 2026 10:00 WIB': staff read local time with its zone's name."""
    local = moment.astimezone(timezone)
    return f"{day_text(local.date(), lang)} {local:%H:%M} {local.tzname()}"


def working_days_text(days: float, lang: str) -> str:
    """'2,5 hari kerja' / '2.5 working days', to a tenth of a day."""
    number = f"{round(days, 1):.1f}".removesuffix(".0")
    if lang != "en":
        number = number.replace(".", ",")
    return t(lang, "sla.day" if number == "1" else "sla.days", n=number)


def _row(key: str, room: Sequence[str], text: str, lang: str) -> OutgoingRow:
    """A staff-chat message, in the payload shape the channels render (`Outbound`)."""
    channel, address = room
    message = Outbound(channel, address, text, key=key, meta={"language": lang})
    return OutgoingRow(key, channel, address, message.to_payload())
