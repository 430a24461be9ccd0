"""Running lapor: the configured channels, the web app, the dispatcher, until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from typing import Any

from lapor.bot.runtime import Runtime
from lapor.bot.settings import Settings
from lapor.bot.web import create_app

log = logging.getLogger(__name__)


def stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return stop


async def serve(
    settings: Settings,
    stop: asyncio.Event | None = None,
    *,
    web_only: bool = False,
    scheduler: bool = True,
    sock: socket.socket | None = None,
) -> None:
    """Telegram (polling, or its webhook), WhatsApp webhooks and the dispatcher.

    `web_only` (`lapor web`) serves webhooks and never polls: the shape for several web
    workers behind a load balancer.
    """
    stop = stop or stop_on_signals()
    runtime = Runtime.from_settings(settings)
    application = None
    telegram_channel = None
    whatsapp_channel = None
    if settings.token():
        from lapor.bot.channels.telegram import attach, build_application

        application = build_application(settings)
        telegram_channel = attach(runtime, application)
    if settings.whatsapp_enabled():
        from lapor.bot.channels.whatsapp import WhatsAppChannel, WhatsAppSender

        whatsapp_channel = WhatsAppChannel(runtime, settings)
        runtime.add_sender(WhatsAppSender(runtime, settings))
    webhook = bool(application and settings.telegram_webhook_url)
    sending = asyncio.create_task(runtime.dispatcher.run(stop))
    jobs = None
    leadership = None
    if scheduler and not web_only:
        from lapor.bot.leader import Leadership, lead_when_possible
        from lapor.bot.scheduler import build_scheduler

        jobs = build_scheduler(runtime)
        leadership = Leadership(runtime.engine)
        electing = asyncio.create_task(lead_when_possible(leadership, stop, jobs.start))
    try:
        async with contextlib.AsyncExitStack() as stack:
            if application is not None:
                await stack.enter_async_context(application)
                await _start_telegram(settings, application, webhook, web_only, stack)
            # The web app serves webhooks, and the dashboard, Open311 and the public pages
            # for the embedded default too, so one `lapor run` is a whole installation.
            # With PUBLIC_BASE_URL set citizens get links to their reports' pages: serve them.
            dashboard = bool(settings.dashboard_secret())
            public = bool(settings.public_base_url)
            if webhook or whatsapp_channel is not None or web_only or dashboard or public:
                telegram = (application.bot, telegram_channel) if webhook and application else None
                app = create_app(
                    settings, telegram=telegram, whatsapp=whatsapp_channel, runtime=runtime
                )
                await _serve_web(settings, app, stop, sock)
            else:
                await stop.wait()
    finally:
        stop.set()
        if jobs is not None:
            await electing
            if jobs.running:
                jobs.shutdown(wait=False)
        if leadership is not None:
            leadership.release()
        await sending
        if whatsapp_channel is not None:
            await whatsapp_channel.aclose()
        if telegram_channel is not None:
            await telegram_channel.aclose()
        runtime.dispose()


async def _start_telegram(
    settings: Settings,
    application: Any,
    webhook: bool,
    web_only: bool,
    stack: contextlib.AsyncExitStack,
) -> None:
    from lapor.bot.channels.telegram import ALLOWED_UPDATES, set_commands

    await set_commands(application)
    if webhook:
        await application.bot.set_webhook(
            settings.telegram_webhook_url,
            secret_token=settings.webhook_secret(),
            allowed_updates=ALLOWED_UPDATES,
        )
        return
    if web_only:
        return
    await application.bot.delete_webhook()
    await application.start()
    assert application.updater is not None
    await application.updater.start_polling(allowed_updates=ALLOWED_UPDATES)
    log.info("polling Telegram for updates")

    async def stop_polling() -> None:
        await application.updater.stop()
        await application.stop()

    stack.push_async_callback(stop_polling)


async def _serve_web(
    settings: Settings, app: Any, stop: asyncio.Event, sock: socket.socket | None = None
) -> None:
    """uvicorn until `stop`; on `sock` when a supervisor shares one port among workers."""
    import uvicorn

    # log_config=None: uvicorn's records go to our root handler, which redacts them, not to
    # handlers of its own that would print a failing request's phone numbers as they are.
    config = uvicorn.Config(
        app,
        host=settings.web_host,
        port=settings.web_port,
        log_level="warning",
        log_config=None,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve(sockets=[sock] if sock is not None else None))
    log.info("web app (webhooks) on %s:%s", settings.web_host, settings.web_port)
    await stop.wait()
    server.should_exit = True
    await task


async def dispatch_only(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """`lapor dispatch`: the configured senders and the dispatcher, nothing else."""
    stop = stop or stop_on_signals()
    runtime = Runtime.from_settings(settings)
    async with contextlib.AsyncExitStack() as stack:
        if settings.token():
            from lapor.bot.channels.telegram import TelegramSender, build_application

            application = build_application(settings)
            await stack.enter_async_context(application)
            runtime.add_sender(TelegramSender(application.bot, runtime.media))
        if settings.whatsapp_enabled():
            from lapor.bot.channels.whatsapp import WhatsAppSender

            runtime.add_sender(WhatsAppSender(runtime, settings))
        try:
            await runtime.dispatcher.run(stop)
        finally:
            runtime.dispose()
