"""The RT/RW quota: periods in WIB, what counts, the cap, reminders, linking, statements."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from lapor.handlers.context import CoreConfig
from lapor.handlers.core import Core
from lapor.handlers.heads import (
    enqueue_daily_reminders,
    enqueue_monthly_summaries,
    hash_code,
    in_quiet_hours,
)
from lapor.incentives.quota import QuotaRules, standings, statement, statement_rows
from lapor.store.db import new_session, transaction
from lapor.store.models import Contact, Head, HeadInvite, Kelurahan, Outbox, Report
from tests.helpers import Chat

WIB = ZoneInfo("Asia/Jakarta")
RULES = QuotaRules()
QUIET = (time(21, 0), time(7, 0))
_tickets = itertools.count(1)


def wib(*args: int) -> datetime:
    return datetime(*args, tzinfo=WIB)


class Town:
    """Two kelurahan, an RT head and an RW head, each with a linked chat contact."""

    def __init__(self, engine) -> None:  # type: ignore[no-untyped-def]
        self.engine = engine
        now = datetime(2026, 11, 1, tzinfo=UTC)
        with transaction(engine) as session:
            for code, name in (("31.71.01.1001", "Gambir"), ("31.71.01.1002", "Cideng")):
                session.add(
                    Kelurahan(
                        code=code,
                        name=name,
                        kecamatan="Gambir",
                        kota="Jakarta Pusat",
                        latitude=-6.17,
                        longitude=106.82,
                        updated_at=now,
                    )
                )
            session.flush()
            self.rt_contact = self._contact(session, "telegram", "7000000101", now)
            self.rw_contact = self._contact(session, "whatsapp", "+6281200000002", now)
            self.rt = Head(
                name="Pak Budi",
                role="RT",
                rt="003",
                rw="005",
                kelurahan_code="31.71.01.1001",
                contact_id=self.rt_contact,
                created_at=now,
                updated_at=now,
            )
            self.rw = Head(
                name="Bu Sari",
                role="RW",
                rt="",
                rw="005",
                kelurahan_code="31.71.01.1001",
                contact_id=self.rw_contact,
                created_at=now,
                updated_at=now,
            )
            session.add_all([self.rt, self.rw])
            session.flush()
            self.rt_id, self.rw_id = self.rt.id, self.rw.id

    @staticmethod
    def _contact(session, channel: str, address: str, now: datetime) -> int:  # type: ignore[no-untyped-def]
        contact = Contact(channel=channel, address=address, created_at=now, last_inbound_at=now)
        session.add(contact)
        session.flush()
        return contact.id  # type: ignore[return-value]

    def report(
        self,
        contact_id: int,
        at: datetime,
        status: str = "verified",
        kelurahan: str = "31.71.01.1001",
        kind: str = "laporan",
    ) -> None:
        with transaction(self.engine) as session:
            session.add(
                Report(
                    ticket=f"T-{next(_tickets)}",
                    kind=kind,
                    status=status,
                    channel="telegram",
                    reporter_id=contact_id,
                    kelurahan_code=kelurahan,
                    created_at=at,
                    updated_at=at,
                )
            )

    def standing(self, head_id: int, day: date, rules: QuotaRules = RULES):  # type: ignore[no-untyped-def]
        with new_session(self.engine) as session:
            return next(s for s in standings(session, rules, day) if s.head_id == head_id)


@pytest.fixture
def town(engine) -> Town:  # type: ignore[no-untyped-def]
    return Town(engine)


def test_a_report_at_2330_wib_counts_for_that_day(town: Town) -> None:
    town.report(town.rt_contact, wib(2026, 11, 27, 23, 30))  # 16:30 UTC, same date either way
    town.report(town.rt_contact, wib(2026, 11, 28, 0, 30))  # 27 Nov 17:30 UTC: WIB's 28th
    assert town.standing(town.rt_id, date(2026, 11, 27)).today_counted == 1
    assert town.standing(town.rt_id, date(2026, 11, 28)).today_counted == 1
    assert town.standing(town.rt_id, date(2026, 11, 28)).month_counted == 2


def test_month_ends_in_wib(town: Town) -> None:
    town.report(town.rt_contact, wib(2026, 11, 30, 23, 59))
    town.report(town.rt_contact, wib(2026, 12, 1, 0, 1))  # still 30 Nov in UTC
    assert town.standing(town.rt_id, date(2026, 11, 30)).month_counted == 1
    assert town.standing(town.rt_id, date(2026, 12, 1)).month_counted == 1


def test_only_verified_reports_count(town: Town) -> None:
    day = wib(2026, 11, 20, 10)
    for status in ("verified", "forwarded", "in_progress", "resolved"):
        town.report(town.rt_contact, day, status)
    town.report(town.rt_contact, day, "submitted")
    town.report(town.rt_contact, day, "rejected")
    town.report(town.rt_contact, day, "duplicate")
    town.report(town.rt_contact, day, "acknowledged", kind="saran")  # not a laporan
    s = town.standing(town.rt_id, date(2026, 11, 20))
    assert (s.today_counted, s.today_waiting, s.today_not_counted) == (4, 1, 2)
    assert s.shortfall == 0


def test_a_report_verified_later_counts_for_the_day_it_was_submitted(town: Town, engine) -> None:  # type: ignore[no-untyped-def]
    town.report(town.rt_contact, wib(2026, 11, 20, 22), "submitted")
    assert town.standing(town.rt_id, date(2026, 11, 20)).today_counted == 0
    with transaction(engine) as session:  # verified on the 22nd
        session.execute(update(Report).values(status="verified", updated_at=wib(2026, 11, 22, 9)))
    assert town.standing(town.rt_id, date(2026, 11, 20)).today_counted == 1
    assert town.standing(town.rt_id, date(2026, 11, 22)).today_counted == 0


def test_own_kelurahan_rule(town: Town) -> None:
    town.report(town.rt_contact, wib(2026, 11, 5, 9), kelurahan="31.71.01.1002")
    town.report(town.rt_contact, wib(2026, 11, 5, 9))
    assert town.standing(town.rt_id, date(2026, 11, 5)).today_counted == 2
    strict = QuotaRules(own_kelurahan_only=True)
    assert town.standing(town.rt_id, date(2026, 11, 5), strict).today_counted == 1


def test_statement_matches_a_hand_computed_example(town: Town, engine) -> None:  # type: ignore[no-untyped-def]
    # RT head: 95 counted in November (cap 90) -> 90 x 10,000 + 75,000 = 975,000 (the
    # figure in the press). RW head: 12 counted, 3 rejected, 2 waiting ->
    # 12 x 12,500 + 75,000 = 225,000.
    for n in range(95):
        town.report(town.rt_contact, wib(2026, 11, 1 + n % 30, 9, n % 60))
    for n in range(12):
        town.report(town.rw_contact, wib(2026, 11, 2 + n, 10))
    for status in ("rejected", "rejected", "duplicate", "submitted", "submitted"):
        town.report(town.rw_contact, wib(2026, 11, 15, 10), status)
    town.report(town.rt_contact, wib(2026, 12, 1, 8))  # December: not in this statement
    with new_session(engine) as session:
        lines = statement(session, RULES, 2026, 11)
    by_head = {line.standing.head_id: line.standing for line in lines}
    rt, rw = by_head[town.rt_id], by_head[town.rw_id]
    assert (rt.month_counted, rt.paid_reports, rt.variable, rt.fixed, rt.allowance) == (
        95,
        90,
        900_000,
        75_000,
        975_000,
    )
    assert (rw.month_counted, rw.paid_reports, rw.variable, rw.allowance) == (
        12,
        12,
        150_000,
        225_000,
    )
    rows = statement_rows(lines)
    subtotal = next(r for r in rows if r[3] == "SUBTOTAL")
    total = rows[-1]
    assert subtotal[0] == "31.71.01.1001" and subtotal[12] == 975_000 + 225_000
    assert total[3] == "TOTAL" and total[12] == 1_200_000 and total[7] == 107


def test_one_query_for_all_heads(town: Town, engine) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import event

    statements: list[str] = []

    def count(*args) -> None:  # type: ignore[no-untyped-def]
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    try:
        with new_session(engine) as session:
            rows = standings(session, RULES, date(2026, 11, 20))
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(rows) == 2
    # One query reads every head's counts, one more finds the few the tally cannot answer
    # for (blocked, linked this month): none here, so no third.
    assert len([s for s in statements if "FROM head" in s]) == 2
    assert len([s for s in statements if "quota_tally" in s]) == 1


# -- reminders ----------------------------------------------------------------------------------


def reminders(engine, now: datetime, rules: QuotaRules = RULES) -> list[Outbox]:  # type: ignore[no-untyped-def]
    with transaction(engine) as session:
        enqueue_daily_reminders(session, rules, now, QUIET)
    with new_session(engine) as session:
        return list(session.scalars(select(Outbox).where(Outbox.key.like("reminder:daily:%"))))


def test_reminders_go_only_to_heads_below_the_minimum(town: Town, engine) -> None:  # type: ignore[no-untyped-def]
    for hour in (8, 9, 10):
        town.report(town.rw_contact, wib(2026, 11, 20, hour))  # the RW head did 3
    town.report(town.rt_contact, wib(2026, 11, 20, 8))  # the RT head did 1
    rows = reminders(engine, wib(2026, 11, 20, 16))
    assert [r.address for r in rows] == ["7000000101"]
    assert "perlu 2 lagi" in rows[0].payload["text"] and "1 laporan" in rows[0].payload["text"]
    assert rows[0].payload["meta"]["unsolicited"] is True
    assert rows[0].payload["meta"]["template"]["name"] == "quota_reminder"


def test_a_job_that_runs_twice_reminds_once(town: Town, engine) -> None:  # type: ignore[no-untyped-def]
    first = reminders(engine, wib(2026, 11, 20, 16))
    again = reminders(engine, wib(2026, 11, 20, 16, 5))
    assert len(first) == 2 and len(again) == 2
    tomorrow = reminders(engine, wib(2026, 11, 21, 16))
    assert len(tomorrow) == 4


def test_no_reminders_in_quiet_hours_nor_to_paused_or_opted_out_heads(town: Town, engine) -> None:  # type: ignore[no-untyped-def]
    assert reminders(engine, wib(2026, 11, 20, 22)) == []
    assert reminders(engine, wib(2026, 11, 20, 6, 59)) == []
    with transaction(engine) as session:
        session.execute(update(Head).where(Head.id == town.rt_id).values(reminders_paused=True))
        session.execute(update(Contact).where(Contact.id == town.rw_contact).values(opted_out=True))
    assert reminders(engine, wib(2026, 11, 20, 16)) == []


def test_quiet_hours_cross_midnight() -> None:
    assert in_quiet_hours(wib(2026, 1, 1, 23), *QUIET)
    assert in_quiet_hours(wib(2026, 1, 1, 3), *QUIET)
    assert not in_quiet_hours(wib(2026, 1, 1, 7), *QUIET)
    assert not in_quiet_hours(wib(2026, 1, 1, 16), *QUIET)


def test_monthly_summary_once_per_month(town: Town, engine) -> None:  # type: ignore[no-untyped-def]
    for n in range(4):
        town.report(town.rt_contact, wib(2026, 10, 10 + n, 9))
    for _ in range(2):
        with transaction(engine) as session:
            enqueue_monthly_summaries(session, RULES, wib(2026, 11, 1, 8))
    with new_session(engine) as session:
        rows = list(session.scalars(select(Outbox).where(Outbox.key.like("reminder:monthly:%"))))
    assert len(rows) == 2
    rt = next(r for r in rows if r.address == "7000000101")
    assert "Okt 2026" in rt.payload["text"] and "Rp 115.000" in rt.payload["text"]


def test_weekday_named_schedules_fire_on_the_right_days(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from lapor.bot.scheduler import daily_trigger
    from lapor.bot.settings import load_settings

    settings = load_settings(_env_file=None, reminder_days="mon-fri", reminder_time="16:00")
    trigger = daily_trigger(settings)
    fire = trigger.get_next_fire_time(None, wib(2026, 11, 27, 17))  # a Friday, after 16:00
    days = []
    for _ in range(5):
        days.append(fire.strftime("%a %H:%M"))
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    assert days == ["Mon 16:00", "Tue 16:00", "Wed 16:00", "Thu 16:00", "Fri 16:00"]
    from lapor.bot.settings import SettingsError

    with pytest.raises(SettingsError, match="REMINDER_DAYS"):
        load_settings(_env_file=None, reminder_days="1-5")


# -- linking ------------------------------------------------------------------------------------


@pytest.fixture
def invite(town: Town, engine, clock):  # type: ignore[no-untyped-def]
    def make(code: str, head_id: int, expires_in: timedelta = timedelta(days=1)) -> None:
        with transaction(engine) as session:
            session.add(
                HeadInvite(
                    head_id=head_id,
                    code_hash=hash_code(code),
                    created_at=clock(),
                    expires_at=clock() + expires_in,
                )
            )

    with transaction(engine) as session:  # the heads start unlinked
        session.execute(update(Head).values(contact_id=None))
    return make


def test_linking_by_deep_link_and_by_daftar(engine, clock, town: Town, invite) -> None:  # type: ignore[no-untyped-def]
    invite("ABCDE23456", town.rt_id)
    invite("ZXCVB98765", town.rw_id)
    core = Core(CoreConfig(), clock)
    telegram = Chat(engine, core, address="7000000555", channel="telegram")
    telegram.text("/start rtrw-ABCDE23456")
    assert "Ketua RT 003/RW 005" in telegram.said and "menu:quota" in telegram.payloads
    whatsapp = Chat(engine, core, address="+6281299999999", channel="whatsapp")
    whatsapp.text("DAFTAR zxcvb98765")
    assert "Ketua RW 005" in whatsapp.said
    whatsapp.text("/kuota")
    assert "Bulan ini: 0 terhitung" in whatsapp.said and "Kurang 3 lagi" in whatsapp.said
    whatsapp.text("/jeda")
    assert "dijeda" in whatsapp.said
    with new_session(engine) as session:
        assert session.get(Head, town.rw_id).reminders_paused is True  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("code", "expected"), [("NOPE000000", "tidak dikenal"), ("OLDOLD2345", "kedaluwarsa")]
)
def test_wrong_and_expired_codes_get_a_clear_reply(
    engine,
    clock,
    town: Town,
    invite,  # type: ignore[no-untyped-def]
    code: str,
    expected: str,
) -> None:
    invite("OLDOLD2345", town.rt_id, expires_in=timedelta(minutes=-1))
    chat = Chat(engine, Core(CoreConfig(), clock), address="7000000556", channel="telegram")
    chat.text(f"DAFTAR {code}")
    assert expected in chat.said
    with new_session(engine) as session:
        assert session.get(Head, town.rt_id).contact_id is None  # type: ignore[union-attr]


def test_a_used_code_cannot_link_another_account(engine, clock, town: Town, invite) -> None:  # type: ignore[no-untyped-def]
    invite("ONCE234567", town.rt_id)
    core = Core(CoreConfig(), clock)
    Chat(engine, core, address="7000000557", channel="telegram").text("DAFTAR ONCE234567")
    thief = Chat(engine, core, address="7000000558", channel="telegram")
    thief.text("DAFTAR ONCE234567")
    assert "sudah dipakai" in thief.said


def test_guessing_codes_is_slowed_down(engine, clock, town: Town, invite) -> None:  # type: ignore[no-untyped-def]
    invite("RIGHT23456", town.rt_id)
    chat = Chat(engine, Core(CoreConfig(), clock), address="7000000559", channel="telegram")
    for n in range(5):
        chat.text(f"DAFTAR GUESS{n:05d}")
    chat.text("DAFTAR RIGHT23456")
    assert "Terlalu banyak" in chat.said, "even the right code waits after five wrong ones"
    clock.advance(minutes=16)
    chat.text("DAFTAR RIGHT23456")
    assert "Terhubung" in chat.said


# -- counting from the link, and never while blocked ----------------------------------------------

# The three ways standings are read: the tally, and the month's reports summed (the
# own-kelurahan rule; the tally check). They must agree.
READS = {
    "tally": {"rules": RULES},
    "own kelurahan": {"rules": QuotaRules(own_kelurahan_only=True)},
    "summed": {"rules": RULES, "from_reports": True},
}
LINKED = wib(2026, 11, 20, 12)


@pytest.fixture
def linked_midday(town: Town, engine):  # type: ignore[no-untyped-def]
    """The RT head links at 12:00 on 20 November; their contact reported before, as a warga."""
    with transaction(engine) as session:
        session.execute(update(Head).where(Head.id == town.rt_id).values(linked_at=LINKED))
    for at, status in (
        (wib(2026, 10, 30, 9), "verified"),  # the month before
        (wib(2026, 11, 5, 9), "verified"),  # the same month, before
        (wib(2026, 11, 20, 9), "verified"),  # the same day, before
        (wib(2026, 11, 20, 11, 59), "submitted"),
        (wib(2026, 11, 20, 12), "verified"),  # the moment of linking: counts
        (wib(2026, 11, 20, 13), "submitted"),
        (wib(2026, 11, 21, 9), "rejected"),
        (wib(2026, 11, 22, 9), "verified"),
        (wib(2026, 12, 3, 9), "verified"),  # the month after
    ):
        town.report(town.rt_contact, at, status)
    return town


@pytest.mark.parametrize("read", READS)
@pytest.mark.parametrize(
    ("day", "expected"),
    [
        # today's counted, waiting, not counted; then the month's
        (date(2026, 10, 30), (0, 0, 0, 0, 0, 0)),
        (date(2026, 11, 5), (0, 0, 0, 2, 1, 1)),
        (date(2026, 11, 20), (1, 1, 0, 2, 1, 1)),
        (date(2026, 11, 21), (0, 0, 1, 2, 1, 1)),
        (date(2026, 11, 22), (1, 0, 0, 2, 1, 1)),
        (date(2026, 12, 3), (1, 0, 0, 1, 0, 0)),
    ],
)
def test_a_head_counts_from_the_moment_of_linking(
    linked_midday: Town,
    engine,
    read: str,
    day: date,
    expected: tuple[int, ...],  # type: ignore[no-untyped-def]
) -> None:
    options = READS[read]
    with new_session(engine) as session:
        found = standings(session, day=day, **options)  # type: ignore[arg-type]
    rt = next(s for s in found if s.head_id == linked_midday.rt_id)
    assert rt.counts == expected
    assert not rt.blocked
    rw = next(s for s in found if s.head_id == linked_midday.rw_id)
    assert rw.counts == (0,) * 6  # untouched by the other head's recount


def test_statement_reminders_and_kuota_agree_with_the_link(linked_midday: Town, engine) -> None:  # type: ignore[no-untyped-def]
    with new_session(engine) as session:
        lines = statement(session, RULES, 2026, 11)
    rt = next(line.standing for line in lines if line.standing.head_id == linked_midday.rt_id)
    assert (rt.month_counted, rt.paid_reports, rt.variable) == (2, 2, 20_000)
    # 16:00 on the day of linking: one counted report since, not the two of the whole day.
    rows = reminders(engine, wib(2026, 11, 20, 16))
    text = next(r for r in rows if r.address == "7000000101").payload["text"]
    assert "perlu 2 lagi" in text and "1 laporan" in text
    with transaction(engine) as session:
        enqueue_monthly_summaries(session, RULES, wib(2026, 12, 1, 8))
    with new_session(engine) as session:
        summary = session.scalars(
            select(Outbox).where(Outbox.key == f"reminder:monthly:2026-11:{linked_midday.rt_id}")
        ).one()
    assert "Rp 95.000" in summary.payload["text"]  # 2 x 10,000 + 75,000


def test_a_linked_head_sees_the_same_in_kuota(linked_midday: Town, engine) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import FakeClock

    core = Core(CoreConfig(), FakeClock(wib(2026, 11, 20, 16).astimezone(UTC)))
    chat = Chat(engine, core, address="7000000101", channel="telegram")
    chat.text("/kuota")
    assert "Hari ini: 1 terhitung, 1 menunggu" in chat.said
    assert "Bulan ini: 2 terhitung" in chat.said


@pytest.mark.parametrize("read", READS)
def test_a_blocked_head_counts_nothing_and_is_marked(town: Town, engine, read: str) -> None:  # type: ignore[no-untyped-def]
    for hour in (8, 9, 10):
        town.report(town.rw_contact, wib(2026, 11, 20, hour))
    town.report(town.rt_contact, wib(2026, 11, 20, 8))
    with transaction(engine) as session:
        session.execute(update(Contact).where(Contact.id == town.rw_contact).values(blocked=True))
    options = READS[read]
    with new_session(engine) as session:
        found = {s.head_id: s for s in standings(session, day=date(2026, 11, 20), **options)}  # type: ignore[arg-type]
    rw, rt = found[town.rw_id], found[town.rt_id]
    assert rw.blocked and rw.counts == (0,) * 6 and rw.variable == 0
    assert not rt.blocked and rt.counts == (1, 0, 0, 1, 0, 0)


def test_a_blocked_head_in_the_statement_and_reminders(town: Town, engine) -> None:  # type: ignore[no-untyped-def]
    for hour in (8, 9, 10):
        town.report(town.rw_contact, wib(2026, 11, 20, hour))
    with transaction(engine) as session:
        session.execute(update(Contact).where(Contact.id == town.rw_contact).values(blocked=True))
    with new_session(engine) as session:
        rows = statement_rows(statement(session, RULES, 2026, 11))
    rw = next(row for row in rows if row[2] == town.rw_id)
    # Nothing counted, the fixed part not deducted, and finance can see why.
    assert (rw[7], rw[8], rw[10], rw[11], rw[12], rw[13]) == (0, 0, 0, 75_000, 75_000, "yes")
    assert [r.address for r in reminders(engine, wib(2026, 11, 20, 16))] == ["7000000101"]


# -- the statement on the command line ------------------------------------------------------------


@pytest.fixture
def lapor(engine, db_url: str, monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    """`lapor ...` on the test's database; `code` is the exit code expected."""
    from typer.testing import CliRunner

    from lapor.bot.cli import app

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", db_url)

    def run(*args: str, code: int = 0) -> str:
        result = CliRunner().invoke(app, list(args))
        assert result.exit_code == code, result.output
        return result.output

    return run


def test_statement_table_has_a_header_and_whole_units(town: Town, engine, lapor) -> None:  # type: ignore[no-untyped-def]
    for n in range(12):
        town.report(town.rt_contact, wib(2026, 11, 2 + n, 9))
    town.report(town.rw_contact, wib(2026, 11, 3, 9))
    with transaction(engine) as session:
        session.execute(update(Contact).where(Contact.id == town.rw_contact).values(blocked=True))
    lines = lapor("incentives", "statement", "--month", "2026-11", "--format", "table")
    assert lines.splitlines() == [
        "kelurahan      unit           name               counted  paid    variable       fixed"
        "       total",
        "31.71.01.1001  RW 005         Bu Sari (blocked)        0     0        Rp 0   Rp 75.000"
        "   Rp 75.000",
        "31.71.01.1001  RT 003/RW 005  Pak Budi                12    12  Rp 120.000   Rp 75.000"
        "  Rp 195.000",
        "31.71.01.1001  SUBTOTAL       Gambir                  12    12  Rp 120.000  Rp 150.000"
        "  Rp 270.000",
        "               TOTAL                                  12    12  Rp 120.000  Rp 150.000"
        "  Rp 270.000",
    ]
    csv_header = lapor("incentives", "statement", "--month", "2026-11").splitlines()[0]
    assert csv_header.lstrip("\ufeff").endswith(",fixed_allowance,total,blocked")
    assert "--format: csv or table" in lapor(
        "incentives", "statement", "--month", "2026-11", "--format", "xml", code=2
    )
