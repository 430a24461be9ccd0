"""Scheduled jobs (APScheduler 3.11, Asia/Jakarta): RT/RW reminders and monthly summaries.

Jobs are rebuilt from settings at every start, so the job store is memory; what must not
happen twice is guarded in the database instead: each reminder has an outbox key per head
and slot, so a job that runs twice (a restart, two schedulers) enqueues nothing new.
"""

from __future__ import annotations

import logging
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from lapor.bot.runtime import Runtime
from lapor.bot.settings import Settings
from lapor.handlers.heads import enqueue_daily_reminders, enqueue_monthly_summaries
from lapor.store.db import transaction

log = logging.getLogger(__name__)

# A daily job missed by a restart still runs within the hour (PTB's JobQueue gives 1 s).
MISFIRE_GRACE = 3600


def daily_trigger(settings: Settings) -> CronTrigger:
    hour, minute = (int(x) for x in settings.reminder_time.split(":"))
    # Weekday names, never numbers: APScheduler counts Monday as 0, cron as 1.
    return CronTrigger(
        day_of_week=settings.reminder_days,
        hour=hour,
        minute=minute,
        timezone=ZoneInfo(settings.timezone),
    )


def monthly_trigger(settings: Settings) -> CronTrigger:
    hour, minute = (int(x) for x in settings.summary_time.split(":"))
    return CronTrigger(
        day=settings.summary_day, hour=hour, minute=minute, timezone=ZoneInfo(settings.timezone)
    )


def run_daily_reminders(runtime: Runtime) -> int:
    settings = runtime.settings
    with transaction(runtime.engine) as session:
        count = enqueue_daily_reminders(
            session, settings.quota_rules(), runtime.clock(), settings.quiet()
        )
    log.info("daily quota reminders queued: %s", count)
    return count


def run_monthly_summaries(runtime: Runtime) -> int:
    with transaction(runtime.engine) as session:
        count = enqueue_monthly_summaries(session, runtime.settings.quota_rules(), runtime.clock())
    log.info("monthly quota summaries queued: %s", count)
    return count


async def _job(runtime: Runtime, function: Any) -> None:
    await runtime.run_db(function, runtime)
    if runtime._dispatcher is not None:
        runtime._dispatcher.wake.set()


def build_scheduler(runtime: Runtime) -> AsyncIOScheduler:
    settings = runtime.settings
    scheduler = AsyncIOScheduler(
        timezone=ZoneInfo(settings.timezone),
        job_defaults={"coalesce": True, "misfire_grace_time": MISFIRE_GRACE, "max_instances": 1},
    )
    scheduler.add_job(
        _job,
        daily_trigger(settings),
        args=[runtime, run_daily_reminders],
        id="quota-daily-reminder",
        replace_existing=True,
    )
    scheduler.add_job(
        _job,
        monthly_trigger(settings),
        args=[runtime, run_monthly_summaries],
        id="quota-monthly-summary",
        replace_existing=True,
    )
    return scheduler
