"""The quota tally the triggers keep: it follows every change, is filled on upgrade, checks."""

from __future__ import annotations

import multiprocessing
import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from alembic import command
from sqlalchemy import delete, select, text, update
from typer.testing import CliRunner

from lapor.bot.cli import app
from lapor.incentives.quota import QuotaRules, standings
from lapor.incentives.tally import differences, expected_tally, rebuild
from lapor.store.db import make_engine, new_session, transaction
from lapor.store.lifecycle import ReportStatus
from lapor.store.migrate import alembic_config
from lapor.store.models import TALLY_SPAN, Contact, QuotaTally, Report
from tests.conftest import own_processes
from tests.incentives.test_quota import Town, wib

STATUSES = [s.value for s in ReportStatus]
# Around WIB midnights (17:00 UTC) and a month end, where a wrong zone shows.
MOMENTS = [
    wib(2026, 11, 27, 23, 59),
    wib(2026, 11, 28, 0, 0),
    wib(2026, 11, 28, 6, 59),
    wib(2026, 11, 28, 7, 0),
    wib(2026, 11, 30, 23, 30),
    wib(2026, 12, 1, 0, 30),
    wib(2026, 12, 1, 12, 0),
]
DAYS = sorted({m.date() for m in MOMENTS} | {date(2026, 11, 29)})


def both_ways(engine, day: date) -> tuple[list, list]:  # type: ignore[no-untyped-def]
    def numbers(rows: list) -> list:
        return [(s.head_id, *s.counts) for s in rows]

    with new_session(engine) as session:
        tallied = standings(session, QuotaRules(), day)
        summed = standings(session, QuotaRules(), day, from_reports=True)
    return numbers(tallied), numbers(summed)


def test_the_tally_follows_every_change_to_reports(engine) -> None:  # type: ignore[no-untyped-def]
    town = Town(engine)
    with transaction(engine) as session:
        citizen = Contact(channel="telegram", address="7000000999", created_at=MOMENTS[0])
        session.add(citizen)
        session.flush()
        contacts = [town.rt_contact, town.rw_contact, citizen.id]
    rng = random.Random(903)
    for step in range(160):
        with new_session(engine) as session:
            ids = list(session.scalars(select(Report.id)))
        action = rng.choice(["add", "add", "add", "status", "time", "kind", "who", "drop"])
        if action == "add" or not ids:
            town.report(
                rng.choice(contacts),
                rng.choice(MOMENTS),
                rng.choice(STATUSES),
                kind=rng.choice(["laporan", "laporan", "laporan", "saran"]),
            )
            continue
        chosen = rng.choice(ids)
        change = {
            "status": {"status": rng.choice(STATUSES)},
            "time": {"created_at": rng.choice(MOMENTS)},
            "kind": {"kind": rng.choice(["laporan", "saran", "apresiasi"])},
            "who": {"reporter_id": rng.choice(contacts)},
        }
        with transaction(engine) as session:
            if action == "drop":
                session.execute(delete(Report).where(Report.id == chosen))
            else:
                session.execute(update(Report).where(Report.id == chosen).values(change[action]))
        if step % 40 == 39:
            with transaction(engine) as session:  # many rows in one statement
                session.execute(update(Report).where(Report.id % 3 == 0).values(status="verified"))
            with new_session(engine) as session:
                assert differences(session) == []
    with new_session(engine) as session:
        assert differences(session) == []
        assert sum(c for c, _, _ in expected_tally(session).values()) > 0
    for day in DAYS:
        tallied, summed = both_ways(engine, day)
        assert tallied == summed, day


def test_the_tally_keeps_wib_days_and_months(engine) -> None:  # type: ignore[no-untyped-def]
    town = Town(engine)
    town.report(town.rt_contact, wib(2026, 11, 30, 23, 30))  # 16:30 UTC on the 30th
    town.report(town.rt_contact, wib(2026, 12, 1, 0, 30), "submitted")  # 17:30 UTC, 30th
    town.report(town.rt_contact, wib(2026, 12, 1, 9, 0), "rejected")
    with new_session(engine) as session:
        rows = session.execute(
            select(QuotaTally.period, QuotaTally.counted, QuotaTally.waiting)
            .add_columns(QuotaTally.not_counted)
            .where(QuotaTally.contact_id == town.rt_contact)
            .order_by(QuotaTally.period)
        ).all()
        ids = set(session.scalars(select(QuotaTally.id)))
    assert [tuple(r) for r in rows] == [
        (202611, 1, 0, 0),
        (202612, 0, 1, 1),
        (20261130, 1, 0, 0),
        (20261201, 0, 1, 1),
    ]
    assert 20261201 * TALLY_SPAN + town.rt_contact in ids


def test_other_time_zones_sum_the_reports_in_their_own_days(engine) -> None:  # type: ignore[no-untyped-def]
    town = Town(engine)
    town.report(town.rt_contact, wib(2026, 11, 27, 23, 30))  # 00:30 on the 28th in WITA
    wita = QuotaRules(timezone=ZoneInfo("Asia/Makassar"))
    with new_session(engine) as session:
        (wib_day,) = standings(session, QuotaRules(), date(2026, 11, 27), head_ids=[town.rt_id])
        (wita_day,) = standings(session, wita, date(2026, 11, 28), head_ids=[town.rt_id])
        (wita_before,) = standings(session, wita, date(2026, 11, 27), head_ids=[town.rt_id])
    assert (wib_day.today_counted, wita_day.today_counted, wita_before.today_counted) == (1, 1, 0)


def test_the_upgrade_fills_the_tally_from_reports_already_there(db_url: str) -> None:
    config = alembic_config(db_url)
    command.downgrade(config, "0008")
    engine = make_engine(db_url)
    try:
        town = Town(engine)
        for n, moment in enumerate(MOMENTS * 3):
            town.report(town.rw_contact if n % 2 else town.rt_contact, moment, STATUSES[n % 8])
        town.report(town.rt_contact, MOMENTS[0], kind="saran")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM report")).scalar_one() == 22
        command.upgrade(config, "head")
        with new_session(engine) as session:
            assert differences(session) == []
            assert len(expected_tally(session)) > 4
        for day in DAYS:
            tallied, summed = both_ways(engine, day)
            assert tallied == summed, day
    finally:
        engine.dispose()


def test_a_damaged_tally_is_found_and_rebuilt(engine) -> None:  # type: ignore[no-untyped-def]
    town = Town(engine)
    for moment in MOMENTS:
        town.report(town.rt_contact, moment)
    with transaction(engine) as session:
        session.execute(text("UPDATE quota_tally SET counted = counted + 5 WHERE period > 300000"))
        session.execute(text("DELETE FROM quota_tally WHERE period = 202612"))
    with new_session(engine) as session:
        wrong = differences(session)
    assert len(wrong) == 4 + 1  # four WIB days, one month
    month = next(d for d in wrong if d.period == 202612)
    assert (month.expected, month.found) == ((2, 0, 0), (0, 0, 0))
    with transaction(engine) as session:
        assert rebuild(session) == 4 + 2
    with new_session(engine) as session:
        assert differences(session) == []


def _file_reports(url: str, contact_id: int, worker: int, count: int) -> None:
    engine = make_engine(url)
    at = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
    for n in range(count):
        with transaction(engine) as session:
            session.add(
                Report(
                    ticket=f"W{worker}-{n}",
                    kind="laporan",
                    status="submitted",
                    channel="telegram",
                    reporter_id=contact_id,
                    created_at=at + timedelta(seconds=n),
                    updated_at=at,
                )
            )
        with transaction(engine) as session:  # and verified right away
            session.execute(
                update(Report).where(Report.ticket == f"W{worker}-{n}").values(status="verified")
            )
    engine.dispose()


@own_processes
def test_concurrent_writers_lose_no_count(db_url: str) -> None:
    engine = make_engine(db_url)
    town = Town(engine)
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_file_reports, args=(db_url, town.rt_contact, w, 25))
        for w in range(4)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    with new_session(engine) as session:
        assert differences(session) == []
        day = session.get(QuotaTally, 20261128 * TALLY_SPAN + town.rt_contact)
        assert day is not None and (day.counted, day.waiting) == (100, 0)
    engine.dispose()


def test_the_tally_command_checks_and_rebuilds(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    engine = make_engine(url)
    town = Town(engine)
    town.report(town.rt_contact, MOMENTS[1])
    result = runner.invoke(app, ["incentives", "tally"])
    assert result.exit_code == 0 and "agrees" in result.output
    with transaction(engine) as session:
        session.execute(text("UPDATE quota_tally SET waiting = 2"))
    engine.dispose()
    result = runner.invoke(app, ["incentives", "tally"])
    assert result.exit_code == 1
    assert "2 rows disagree" in result.output and "--rebuild" in result.output
    assert "period 20261128" in result.output and "1/2/0, reports say 1/0/0" in result.output
    result = runner.invoke(app, ["incentives", "tally", "--rebuild"])
    assert result.exit_code == 0 and "2 rows" in result.output
    assert "agrees" in runner.invoke(app, ["incentives", "tally"]).output
