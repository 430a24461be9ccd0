"""Scheduled jobs (APScheduler 3.11, Asia/Jakarta): RT/RW reminders and monthly summaries,
and the deadline (SLA) check every few minutes.

Jobs are rebuilt from settings at every start, so the job store is memory; what must not
happen twice is guarded in the database instead: each reminder has an outbox key per head
and slot, so a job that runs twice (a restart, two schedulers) enqueues nothing new. The
deadline check is the same: its reminders have outbox keys per report, and a breach is
claimed by a conditional update of the report's breach mark.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from lapor.bot.runtime import Runtime
from lapor.bot.settings import Settings
from lapor.handlers.heads import enqueue_daily_reminders, enqueue_monthly_summaries
from lapor.handlers.sla import SlaConfig, SlaCounts, WorkingCalendar, check_deadlines
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


def sla_trigger(settings: Settings) -> IntervalTrigger:
    return IntervalTrigger(minutes=settings.sla_check_minutes, timezone=ZoneInfo(settings.timezone))


def sla_config(settings: Settings) -> SlaConfig:
    """Deadlines from settings; an unknown HOLIDAY_COUNTRY fails here, at start-up."""
    return SlaConfig(
        calendar=WorkingCalendar(
            settings.holiday_country,
            ZoneInfo(settings.timezone),
            joint_holidays=settings.sla_joint_holidays,
        ),
        verify_days=settings.sla_verify_days,
        followup_days=settings.sla_followup_days,
        language=settings.default_language,
        quiet=settings.quiet(),
    )


def run_sla_check(runtime: Runtime, config: SlaConfig | None = None) -> SlaCounts:
    config = config or sla_config(runtime.settings)
    with transaction(runtime.engine) as session:
        counts = check_deadlines(session, runtime.clock(), config, runtime.core.rooms)
    if counts.messages or counts.verify_breaches or counts.followup_breaches:
        log.info("deadlines: %s", counts)
    return counts


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
    scheduler.add_job(
        _job,
        sla_trigger(settings),
        args=[runtime, partial(run_sla_check, config=sla_config(settings))],
        id="sla-check",
        replace_existing=True,
    )
    return scheduler
