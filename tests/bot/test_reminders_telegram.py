"""A head linked on Telegram receives the quota reminder when the scheduled job runs."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from lapor.bot.scheduler import _job, build_scheduler, run_daily_reminders
from lapor.handlers.heads import hash_code
from lapor.store.db import make_engine, transaction
from lapor.store.models import Head, HeadInvite, Kelurahan
from tests.bot.conftest import TelegramRig
from tests.fakes.bot_api import FakeBotAPI, UpdateFactory

WIB = ZoneInfo("Asia/Jakarta")


async def test_linked_head_gets_the_reminder_at_the_scheduled_time(
    settings,
    clock,  # type: ignore[no-untyped-def]
    fake: FakeBotAPI,
) -> None:
    clock.now = datetime(2026, 11, 27, 9, 0, tzinfo=WIB)  # a Friday morning
    engine = make_engine(settings.database_url)
    with transaction(engine) as session:
        session.add(
            Kelurahan(
                code="31.71.01.1001",
                name="Gambir",
                kecamatan="Gambir",
                kota="Jakarta Pusat",
                latitude=-6.17,
                longitude=106.82,
                updated_at=clock(),
            )
        )
        session.flush()
        head = Head(
            name="Pak Budi",
            role="RT",
            rt="003",
            rw="005",
            kelurahan_code="31.71.01.1001",
            created_at=clock(),
            updated_at=clock(),
        )
        session.add(head)
        session.flush()
        session.add(
            HeadInvite(
                head_id=head.id,
                code_hash=hash_code("LINK234567"),
                created_at=clock(),
                expires_at=clock() + timedelta(days=3),
            )
        )
    engine.dispose()
    rig = TelegramRig(settings, clock)
    updates = UpdateFactory()
    async with rig.application:
        await rig.feed(updates.command("start", args="rtrw-LINK234567"))
        assert "Ketua RT 003/RW 005" in fake.sent_messages()[-1]["text"]
        jobs = build_scheduler(rig.runtime)
        trigger = jobs.get_job("quota-daily-reminder").trigger
        next_fire = trigger.get_next_fire_time(None, clock())
        assert next_fire == datetime(2026, 11, 27, 16, 0, tzinfo=WIB)
        clock.now = next_fire
        await _job(rig.runtime, run_daily_reminders)
        await rig.dispatcher.drain()
        reminder = fake.sent_messages(UpdateFactory.USER["id"])[-1]["text"]
        assert "Pak Budi" in reminder and "perlu 3 lagi" in reminder
        # The job running again in the same slot sends nothing new.
        count = len(fake.sent_messages())
        await _job(rig.runtime, run_daily_reminders)
        await rig.dispatcher.drain()
        assert len(fake.sent_messages()) == count
    rig.runtime.dispose()
