"""The web app: webhooks (Telegram now; WhatsApp and the dashboard later) and a health check."""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from lapor.bot.settings import Settings

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def create_app(settings: Settings, telegram: tuple[Any, Any] | None = None) -> Starlette:
    """Build the app. `telegram` is (bot, TelegramChannel) when the webhook is served."""
    routes = [Route("/healthz", _healthz, methods=["GET"])]
    if telegram is not None:
        from lapor.bot.channels.telegram import webhook_path

        routes.append(
            Route(webhook_path(settings), _telegram_endpoint(settings, *telegram), methods=["POST"])
        )
    return Starlette(routes=routes)


async def _healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


def _telegram_endpoint(settings: Settings, bot: Any, channel: Any):  # type: ignore[no-untyped-def]
    from telegram import Update

    expected = (settings.webhook_secret() or "").encode()

    async def endpoint(request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        # Without a matching secret anyone who finds the URL could post fake updates.
        if not expected or not hmac.compare_digest(given, expected):
            log.warning("Telegram webhook call without the right secret from %s", request.client)
            return PlainTextResponse("forbidden", status_code=403)
        try:
            data = json.loads(await request.body())
            update = Update.de_json(data, bot)
        except (ValueError, TypeError, KeyError):
            return PlainTextResponse("bad update", status_code=400)
        # Handled before answering: if storing fails, Telegram gets a 500 and redelivers;
        # the update_id receipt makes a redelivery that did get stored change nothing.
        await channel.handle_update(update)
        return JSONResponse({"ok": True})

    return endpoint
