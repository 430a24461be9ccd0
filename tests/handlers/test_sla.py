"""Deadlines (SP4N-LAPOR!): the working-time calendar, and the scan's reminders and escalations.

Reports are made with the store's own functions (create, transition) and the clock is moved
across weekends and Indonesian public holidays; each scan is one committed transaction.
"""

from __future__ import annotations

import threading
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from lapor.handlers.rooms import Rooms
from lapor.handlers.sla import (
    SlaConfig,
    SlaCounts,
    WorkingCalendar,
    check_deadlines,
    when,
    working_days_text,
)
from lapor.routing import ensure_demo_registry
from lapor.store import chats
from lapor.store import reports as report_store
from lapor.store.db import new_session, transaction
from lapor.store.lifecycle import ReportKind, ReportStatus
from lapor.store.models import KecamatanChat, Kelurahan, Outbox, Report, ReportEvent
from tests.helpers import fake_photo

WIB = ZoneInfo("Asia/Jakarta")
CALENDAR = WorkingCalendar()
ADMIN = ("telegram", "-1009000000001")
GAMBIR_GROUP = -1009000000101  # Kel. Gambir (demo), DEMO.01, Kec. Gambir (demo)
KECAMATAN_GAMBIR = -1009000000901
ROOMS = Rooms(admin=ADMIN)
CONFIG = SlaConfig()
QUIET = SlaConfig(quiet=(time(21), time(7)))
MINUTE = timedelta(minutes=1)


def wib(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=WIB)


def government_holidays(year: int) -> set[date]:
    """What the library itself lists as cuti bersama (empty where it has no such category)."""
    supported = holidays.country_holidays("ID", years=[]).supported_categories
    if "government" not in supported:
        return set()
    return set(holidays.country_holidays("ID", years=year, categories=("government",)))


# -- the calendar -------------------------------------------------------------------------------


def test_the_library_knows_the_holidays_we_rely_on() -> None:
    public = holidays.country_holidays("ID", years=2026)
    assert date(2026, 8, 17) in public  # Hari Kemerdekaan, a Monday in 2026
    assert date(2026, 12, 25) in public  # Christmas, a Friday
    assert not CALENDAR.is_working_day(date(2026, 8, 17))
    assert not CALENDAR.is_working_day(date(2026, 12, 25))
    assert not CALENDAR.is_working_day(date(2026, 11, 28))  # Saturday
    assert CALENDAR.is_working_day(date(2026, 11, 27))  # an ordinary Friday
    # Cuti bersama: days off by default, working days when the operator leaves them out.
    joint = government_holidays(2026)
    public_only = WorkingCalendar(joint_holidays=False)
    for day in joint:
        assert not CALENDAR.is_working_day(day)
        if day.weekday() < 5 and day not in public:
            assert public_only.is_working_day(day)


def test_a_weekend_does_not_count() -> None:
    friday = wib(2026, 11, 27, 10)
    # Friday 14 h, Monday 24 h, Tuesday 24 h, then 10 h on Wednesday.
    assert CALENDAR.deadline(friday, 3) == wib(2026, 12, 2, 10)
    assert CALENDAR.elapsed_working_days(friday, wib(2026, 11, 30, 0)) == pytest.approx(14 / 24)
    assert CALENDAR.elapsed_working_days(friday, wib(2026, 11, 29, 23)) == pytest.approx(14 / 24)
    assert CALENDAR.elapsed_working_days(friday, wib(2026, 12, 2, 10)) == pytest.approx(3)


def test_independence_day_does_not_count() -> None:
    friday = wib(2026, 8, 14, 9)
    # Friday 15 h; Saturday, Sunday and Monday 17 August are days off; 9 h on Tuesday.
    assert CALENDAR.deadline(friday, 1) == wib(2026, 8, 18, 9)
    assert CALENDAR.elapsed_working_days(friday, wib(2026, 8, 18, 0)) == pytest.approx(15 / 24)


def test_christmas_and_what_the_library_says_about_cuti_bersama() -> None:
    wednesday = wib(2026, 12, 23, 12)
    joint_24th = date(2026, 12, 24) in government_holidays(2026)
    # Wednesday 12 h, [Thursday 24 h unless cuti bersama], Friday 25th Christmas off, the
    # weekend off, then Monday and Tuesday.
    if joint_24th:
        assert CALENDAR.deadline(wednesday, 3) == wib(2026, 12, 30, 12)
    else:
        assert CALENDAR.deadline(wednesday, 3) == wib(2026, 12, 29, 12)
    assert WorkingCalendar(joint_holidays=False).deadline(wednesday, 3) == wib(2026, 12, 29, 12)


def test_submitted_on_a_saturday_starts_on_monday_morning() -> None:
    saturday = wib(2026, 11, 28, 10)
    assert CALENDAR.elapsed_working_days(saturday, wib(2026, 11, 30, 0)) == 0
    assert CALENDAR.elapsed_working_days(saturday, wib(2026, 11, 30, 12)) == pytest.approx(0.5)
    assert CALENDAR.deadline(saturday, 1.5) == wib(2026, 12, 1, 12)
    assert CALENDAR.deadline(saturday, 3) == wib(2026, 12, 3, 0)


def test_fractional_days() -> None:
    monday = wib(2026, 11, 30, 0)
    assert CALENDAR.deadline(monday, 1.5) == wib(2026, 12, 1, 12)
    assert CALENDAR.deadline(monday, 0.25) == wib(2026, 11, 30, 6)
    # Friday evening: 4 h left that day, the other 2 h on Monday.
    assert CALENDAR.deadline(wib(2026, 11, 27, 20), 0.25) == wib(2026, 11, 30, 2)
    assert CALENDAR.deadline(monday, 0) == monday


@settings(max_examples=200, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 1)),
    days=st.floats(min_value=0.01, max_value=15, allow_nan=False),
)
def test_deadline_and_elapsed_agree(start: datetime, days: float) -> None:
    begin = start.replace(tzinfo=WIB)
    end = CALENDAR.deadline(begin, days)
    assert CALENDAR.elapsed_working_days(begin, end) == pytest.approx(days, abs=1e-6)
    # The deadline falls on a working day (or at the midnight that ends one).
    assert CALENDAR.is_working_day((end - timedelta(microseconds=1)).astimezone(WIB).date())


def test_an_unknown_country_is_refused() -> None:
    with pytest.raises(ValueError, match="XX"):
        WorkingCalendar(country="XX")


def test_how_times_and_waits_read() -> None:
    assert when(wib(2026, 12, 30, 12), WIB, "id") == "30 Des 2026 12:00 WIB"
    assert when(wib(2026, 12, 30, 12), WIB, "en") == "30 Dec 2026 12:00 WIB"
    assert working_days_text(2.54, "id") == "2,5 hari kerja"
    assert working_days_text(3.0, "en") == "3 working days"
    assert working_days_text(1.0, "en") == "1 working day"


# -- the scan -----------------------------------------------------------------------------------


class Town:
    """The demo registry with Gambir's group and kecamatan chat bound, and one citizen."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._photo = 0
        start = wib(2026, 1, 1)
        with transaction(engine) as session:
            ensure_demo_registry(session, start)
            session.execute(
                update(Kelurahan).where(Kelurahan.code == "DEMO.01").values(chat_id=GAMBIR_GROUP)
            )
            session.add(
                KecamatanChat(kecamatan="Gambir (demo)", chat_id=KECAMATAN_GAMBIR, bound_at=start)
            )
            self.citizen = chats.touch_contact(
                session, channel="telegram", address="7000000001", now=start, language="id"
            )

    def file(
        self, at: datetime, kind: ReportKind = ReportKind.LAPORAN, kelurahan: str = "DEMO.01"
    ) -> int:
        self._photo += 1
        laporan = kind is ReportKind.LAPORAN
        with transaction(self.engine) as session:
            report = report_store.create_report(
                session,
                kind=kind,
                reporter=self.citizen,
                now=at,
                local_now=at.astimezone(WIB),
                ticket_prefix="JKT",
                category_slug="sampah" if laporan else None,
                note="Sampah menumpuk",
                location=(-6.175, 106.825) if laporan else None,
                photos=[fake_photo(self._photo).to_dict()] if laporan else [],
                kelurahan_code=kelurahan,
            )
            return report.id  # type: ignore[return-value]

    def move(self, report_id: int, target: ReportStatus, at: datetime, **fields: object) -> None:
        with transaction(self.engine) as session:
            moved = report_store.transition(
                session, report_id, target, now=at, actor="test", **fields
            )
            assert moved is not None, f"{report_id} could not move to {target}"

    def forward(self, report_id: int, at: datetime) -> None:
        """Verified, then forwarded, as review.forward does it."""
        self.move(report_id, ReportStatus.VERIFIED, at - timedelta(minutes=5))
        self.move(report_id, ReportStatus.FORWARDED, at)

    def scan(self, at: datetime, config: SlaConfig = CONFIG, rooms: Rooms = ROOMS) -> SlaCounts:
        with transaction(self.engine) as session:
            return check_deadlines(session, at, config, rooms)

    def outbox(self, report_id: int | None = None) -> list[Outbox]:
        with new_session(self.engine) as session:
            rows = session.scalars(
                select(Outbox).where(Outbox.key.like("sla:%")).order_by(Outbox.id)
            ).all()
        if report_id is None:
            return list(rows)
        return [r for r in rows if r.key.split(":")[3] == str(report_id)]

    def report(self, report_id: int) -> Report:
        with new_session(self.engine) as session:
            report = session.get(Report, report_id)
            assert report is not None
            return report

    def forward_event(self, report_id: int) -> int:
        with new_session(self.engine) as session:
            return session.scalars(
                select(ReportEvent.id)
                .where(ReportEvent.report_id == report_id, ReportEvent.to_status == "forwarded")
                .order_by(ReportEvent.id.desc())
            ).first()  # type: ignore[return-value]


@pytest.fixture
def town(engine: Engine) -> Town:
    return Town(engine)


def test_verification_reminder_then_escalation_once_each(town: Town) -> None:
    submitted = wib(2026, 12, 23, 12)  # Wednesday before Christmas
    waiting = town.file(submitted)
    verified_early = town.file(submitted + MINUTE)
    rejected = town.file(submitted + 2 * MINUTE)
    saran = town.file(submitted, kind=ReportKind.SARAN)
    apresiasi = town.file(submitted, kind=ReportKind.APRESIASI)
    town.move(verified_early, ReportStatus.VERIFIED, wib(2026, 12, 23, 15))
    town.move(rejected, ReportStatus.REJECTED, wib(2026, 12, 23, 16), rejection_reason="x")
    half = CALENDAR.deadline(submitted, 1.5)
    breach = CALENDAR.deadline(submitted, 3)
    ticket = town.report(waiting).ticket

    # Four and a half calendar days later, but Christmas and a weekend came between.
    assert half > wib(2026, 12, 28, 6)
    assert town.scan(wib(2026, 12, 28, 6)) == SlaCounts()
    assert town.scan(half - MINUTE) == SlaCounts()
    assert town.outbox() == []

    counts = town.scan(half + MINUTE)
    assert counts == SlaCounts(verify_reminders=1, messages=1)
    [reminder] = town.outbox()
    assert reminder.key == f"sla:verify:half:{waiting}"
    assert (reminder.channel, reminder.address) == ADMIN
    text = reminder.payload["text"]
    assert ticket in text and "menunggu verifikasi sejak 23 Des 2026 12:00 WIB" in text
    assert "Sampah" in text and "Kel. Gambir (demo), Kec. Gambir (demo)" in text
    assert "1,5 hari kerja" in text
    assert f"Batas verifikasi: {when(breach, WIB, 'id')}" in text
    assert reminder.payload["meta"] == {"language": "id"}

    # The job runs again (a restart, a second scheduler): nothing new.
    assert town.scan(half + MINUTE) == SlaCounts()
    assert town.scan(breach - MINUTE) == SlaCounts()
    assert len(town.outbox()) == 1
    assert town.report(waiting).verify_breached_at is None

    counts = town.scan(breach + MINUTE)
    assert counts == SlaCounts(verify_breaches=1, messages=1)
    escalation = town.outbox()[-1]
    assert escalation.key == f"sla:verify:breach:{waiting}"
    assert (escalation.channel, escalation.address) == ADMIN
    assert ticket in escalation.payload["text"]
    assert "ditandai terlambat di dasbor" in escalation.payload["text"]
    assert "3 hari kerja" in escalation.payload["text"]
    assert town.report(waiting).verify_breached_at == breach

    assert town.scan(breach + MINUTE) == SlaCounts()
    assert town.scan(breach + timedelta(days=30)) == SlaCounts()
    assert len(town.outbox()) == 2
    for quiet_report in (verified_early, rejected, saran, apresiasi):
        assert town.outbox(quiet_report) == []
        assert town.report(quiet_report).verify_breached_at is None
    # Decided at last: a breach stays on the record.
    town.move(waiting, ReportStatus.VERIFIED, breach + timedelta(days=31))
    assert town.report(waiting).verify_breached_at == breach


def test_followup_reminder_to_the_group_escalation_to_admin_and_kecamatan(town: Town) -> None:
    forwarded = wib(2026, 8, 14, 9)  # Friday before Independence Day (Monday 17 August)
    gambir = town.file(wib(2026, 8, 13, 9))
    menteng = town.file(wib(2026, 8, 13, 9), kelurahan="DEMO.02")  # no group, no kecamatan chat
    taken = town.file(wib(2026, 8, 13, 9))
    for report_id in (gambir, menteng, taken):
        town.forward(report_id, forwarded)
    town.move(taken, ReportStatus.IN_PROGRESS, wib(2026, 8, 18, 10))
    half = CALENDAR.deadline(forwarded, 2.5)
    breach = CALENDAR.deadline(forwarded, 5)
    assert half == wib(2026, 8, 19, 21) and breach == wib(2026, 8, 24, 9)
    event = town.forward_event(gambir)

    # The verification reminders came and went long ago (verified within a day): none.
    assert town.scan(wib(2026, 8, 17, 12), QUIET) == SlaCounts()
    # Half time falls at 21:00, in quiet hours: the reminder waits for the morning.
    assert town.scan(half + MINUTE, QUIET) == SlaCounts()
    counts = town.scan(wib(2026, 8, 20, 7, 5), QUIET)
    assert counts == SlaCounts(followup_reminders=2, messages=2)
    assert town.scan(wib(2026, 8, 20, 7, 20), QUIET) == SlaCounts()

    [to_group] = town.outbox(gambir)
    assert to_group.key == f"sla:followup:half:{gambir}:{event}"
    assert (to_group.channel, to_group.address) == ("telegram", str(GAMBIR_GROUP))
    text = to_group.payload["text"]
    assert town.report(gambir).ticket in text and "14 Agu 2026 09:00 WIB" in text
    assert "Batas tindak lanjut: 24 Agu 2026 09:00 WIB" in text and "/buka" in text
    [to_admin] = town.outbox(menteng)
    assert (to_admin.channel, to_admin.address) == ADMIN
    assert "Kel. Menteng (demo)" in to_admin.payload["text"]
    assert "tidak punya grup terhubung" in to_admin.payload["text"]

    assert town.scan(breach - MINUTE, QUIET) == SlaCounts()
    counts = town.scan(breach + MINUTE, QUIET)
    assert counts == SlaCounts(followup_breaches=2, messages=3)
    escalations = {
        (row.key, row.channel, row.address)
        for row in town.outbox()
        if row.key.startswith("sla:followup:breach:")
    }
    menteng_event = town.forward_event(menteng)
    assert escalations == {
        (f"sla:followup:breach:{gambir}:{event}", *ADMIN),
        (f"sla:followup:breach:{gambir}:{event}:kecamatan", "telegram", str(KECAMATAN_GAMBIR)),
        (f"sla:followup:breach:{menteng}:{menteng_event}", *ADMIN),
    }
    breach_text = town.outbox(gambir)[-1].payload["text"]
    assert "Kel. Gambir (demo)" in breach_text and "ditandai terlambat di dasbor" in breach_text
    assert town.report(gambir).followup_breached_at == breach
    assert town.report(menteng).followup_breached_at == breach

    assert town.scan(breach + 2 * MINUTE, QUIET) == SlaCounts()
    assert len(town.outbox()) == 5
    assert town.outbox(taken) == []
    assert town.report(taken).followup_breached_at is None


def test_a_reforwarded_report_starts_again_for_its_new_kelurahan(town: Town) -> None:
    report_id = town.file(wib(2026, 11, 27, 9), kelurahan="DEMO.04")
    first = wib(2026, 11, 30, 9)  # Monday
    town.forward(report_id, first)
    first_event = town.forward_event(report_id)
    first_breach = CALENDAR.deadline(first, 5)
    assert first_breach == wib(2026, 12, 7, 9)
    town.scan(CALENDAR.deadline(first, 2.5) + MINUTE)
    town.scan(first_breach + MINUTE)
    assert [r.key for r in town.outbox()] == [
        f"sla:followup:half:{report_id}:{first_event}",
        f"sla:followup:breach:{report_id}:{first_event}",
    ]
    assert town.report(report_id).followup_breached_at == first_breach

    # "Bukan wilayah kami": back to the verifiers, re-routed to Gambir, forwarded again.
    town.move(report_id, ReportStatus.VERIFIED, wib(2026, 12, 7, 11), group_chat_id=None)
    with transaction(town.engine) as session:
        session.execute(
            update(Report).where(Report.id == report_id).values(kelurahan_code="DEMO.01")
        )
    second = wib(2026, 12, 7, 12)
    town.move(report_id, ReportStatus.FORWARDED, second)
    second_event = town.forward_event(report_id)
    assert second_event != first_event
    # An event that changes no status (a note, a block) is not a forward.
    with transaction(town.engine) as session:
        report_store.record_event(
            session,
            town.report(report_id),
            now=wib(2026, 12, 8, 10),
            actor="test",
            note="a note",
        )

    half = CALENDAR.deadline(second, 2.5)
    assert half == wib(2026, 12, 10, 0)
    assert town.scan(half - MINUTE) == SlaCounts()
    assert town.scan(half + MINUTE) == SlaCounts(followup_reminders=1, messages=1)
    reminder = town.outbox()[-1]
    assert reminder.key == f"sla:followup:half:{report_id}:{second_event}"
    assert reminder.address == str(GAMBIR_GROUP)

    breach = CALENDAR.deadline(second, 5)
    assert town.scan(breach - MINUTE) == SlaCounts()
    assert town.scan(breach + MINUTE) == SlaCounts(followup_breaches=1, messages=2)
    assert town.scan(breach + 2 * MINUTE) == SlaCounts()
    assert {r.key for r in town.outbox()[-2:]} == {
        f"sla:followup:breach:{report_id}:{second_event}",
        f"sla:followup:breach:{report_id}:{second_event}:kecamatan",
    }
    # The mark is this forward's breach; the first one is in the outbox and the events.
    assert town.report(report_id).followup_breached_at == breach


def test_escalations_ignore_quiet_hours_and_need_no_admin_chat_to_be_marked(town: Town) -> None:
    submitted = wib(2026, 11, 30, 22)  # Monday night
    report_id = town.file(submitted)
    breach = CALENDAR.deadline(submitted, 3)
    assert breach == wib(2026, 12, 3, 22)
    assert town.scan(breach + MINUTE, QUIET) == SlaCounts(verify_breaches=1, messages=1)
    assert town.outbox(report_id)[-1].key == f"sla:verify:breach:{report_id}"

    # Without an admin chat the breach is still marked, with nothing to send.
    other = town.file(submitted)
    assert town.scan(breach + MINUTE, rooms=Rooms()) == SlaCounts(verify_breaches=1)
    assert town.report(other).verify_breached_at == breach
    assert town.outbox(other) == []


def test_settings_shorter_deadlines_and_console_rooms(town: Town) -> None:
    """Fractional settings work, and offline the console plays the admin and the groups."""
    config = SlaConfig(verify_days=0.5, followup_days=1)
    rooms = Rooms(admin=("console", "#admin"), console=True)
    monday = wib(2026, 11, 30, 8)
    report_id = town.file(monday, kelurahan="DEMO.03")  # no Telegram group
    town.scan(monday + timedelta(hours=6, minutes=1), config, rooms)
    assert [(r.channel, r.address) for r in town.outbox(report_id)] == [("console", "#admin")]
    town.forward(report_id, wib(2026, 11, 30, 15))
    town.scan(wib(2026, 12, 1, 3, 1), config, rooms)
    assert (town.outbox()[-1].channel, town.outbox()[-1].address) == ("console", "#kel-DEMO.03")


def test_two_schedulers_at_once_queue_each_step_once(town: Town) -> None:
    """A second scan that starts before the first commits adds nothing (both databases)."""
    submitted = wib(2026, 11, 30, 8)
    late = town.file(submitted)
    halfway = town.file(submitted + timedelta(days=1))
    at = CALENDAR.deadline(submitted, 3) + MINUTE
    assert CALENDAR.deadline(submitted + timedelta(days=1), 1.5) < at
    results: list[SlaCounts] = []
    with transaction(town.engine) as first:
        results.append(check_deadlines(first, at, CONFIG, ROOMS))
        second = threading.Thread(target=lambda: results.append(town.scan(at)))
        second.start()
        second.join(timeout=0.5)  # it waits for the first one's locks (or its keys)
    second.join(timeout=30)
    assert results == [SlaCounts(verify_reminders=1, verify_breaches=1, messages=2), SlaCounts()]
    assert [r.key for r in town.outbox()] == [
        f"sla:verify:half:{halfway}",
        f"sla:verify:breach:{late}",
    ]
