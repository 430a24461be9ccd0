"""The deadline check is a scheduler job every SLA_CHECK_MINUTES, queueing through the outbox."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select

from lapor.bot.runtime import Runtime
from lapor.bot.scheduler import build_scheduler, sla_config
from lapor.bot.settings import Settings, load_settings
from lapor.handlers.sla import SlaCounts
from lapor.routing import ensure_demo_registry
from lapor.store import chats
from lapor.store import reports as report_store
from lapor.store.db import new_session, transaction
from lapor.store.lifecycle import ReportKind
from lapor.store.models import Outbox, Report
from tests.conftest import FakeClock
from tests.helpers import fake_photo

WIB = ZoneInfo("Asia/Jakarta")
ADMIN_CHAT = -1009000000001


def _settings(sqlite_url: str, tmp_path: Path, **overrides: object) -> Settings:
    return load_settings(
        _env_file=None,
        database_url=sqlite_url,
        media_dir=tmp_path / "media",
        telegram_admin_chat_id=ADMIN_CHAT,
        **overrides,
    )


def _submit(runtime: Runtime, at: datetime) -> int:
    with transaction(runtime.engine) as session:
        ensure_demo_registry(session, at)
        citizen = chats.touch_contact(
            session, channel="telegram", address="7000000001", now=at, language="id"
        )
        report = report_store.create_report(
            session,
            kind=ReportKind.LAPORAN,
            reporter=citizen,
            now=at,
            local_now=at.astimezone(WIB),
            ticket_prefix="JKT",
            category_slug="sampah",
            note=None,
            location=(-6.175, 106.825),
            photos=[fake_photo(1).to_dict()],
            kelurahan_code="DEMO.01",
        )
        return report.id  # type: ignore[return-value]


def test_the_job_runs_every_sla_check_minutes(sqlite_url: str, tmp_path: Path) -> None:
    for minutes in (15, 5):
        settings = _settings(sqlite_url, tmp_path, sla_check_minutes=minutes)
        runtime = Runtime.from_settings(settings)
        try:
            job = build_scheduler(runtime).get_job("sla-check")
            assert isinstance(job.trigger, IntervalTrigger)
            assert job.trigger.interval == timedelta(minutes=minutes)
            first = job.trigger.get_next_fire_time(None, datetime.now(WIB))
            second = job.trigger.get_next_fire_time(first, first + timedelta(seconds=1))
            assert second - first == timedelta(minutes=minutes)
        finally:
            runtime.dispose()


def test_an_unknown_holiday_country_stops_start_up(sqlite_url: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ZZ"):
        sla_config(_settings(sqlite_url, tmp_path, holiday_country="ZZ"))


async def test_the_job_queues_the_reminder_once(
    sqlite_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    runtime = Runtime.from_settings(_settings(sqlite_url, tmp_path), clock=clock)
    try:
        submitted = datetime(2026, 11, 30, 8, tzinfo=WIB)  # Monday
        report_id = _submit(runtime, submitted)
        job = build_scheduler(runtime).get_job("sla-check")

        clock.now = datetime(2026, 12, 1, 19, 59, tzinfo=WIB)  # 1.5 working days less a minute
        await job.func(*job.args)
        clock.now += timedelta(minutes=2)
        await job.func(*job.args)
        await job.func(*job.args)  # the next tick, or a second scheduler: nothing new
        with new_session(runtime.engine) as session:
            rows = session.scalars(select(Outbox).where(Outbox.key.like("sla:%"))).all()
        assert [(r.key, r.channel, r.address, r.status) for r in rows] == [
            (f"sla:verify:half:{report_id}", "telegram", str(ADMIN_CHAT), "pending")
        ]

        clock.now = datetime(2026, 12, 3, 8, 1, tzinfo=WIB)
        counts = await runtime.run_db(job.args[1], runtime)
        assert counts == SlaCounts(verify_breaches=1, messages=1)
        with new_session(runtime.engine) as session:
            report = session.get(Report, report_id)
            assert report is not None
            assert report.verify_breached_at == datetime(2026, 12, 3, 8, tzinfo=WIB)
    finally:
        runtime.dispose()
