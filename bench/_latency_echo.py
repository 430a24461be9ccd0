"""The bare baseline of `bench/latency.py`: a Telegram webhook that echoes, and nothing else.

A Starlette app served by uvicorn (as `lapor web` serves its app): POST /telegram/webhook
checks `X-Telegram-Bot-Api-Secret-Token`, parses the update with PTB's `Update.de_json`
and awaits `bot.send_message(chat_id, "ok")` before answering 200. The bot comes from
`ApplicationBuilder`, as lapor's does (same HTTP client and connection pool). No database,
no lapor import: this is what the bare libraries cost for the same trip.

Run by the benchmark, never by hand:

    python bench/_latency_echo.py --port PORT   # with TELEGRAM_BOT_TOKEN,
                                                # TELEGRAM_API_BASE_URL, TELEGRAM_WEBHOOK_SECRET
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import json
import os

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from telegram import Update
from telegram.ext import ApplicationBuilder

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
WEBHOOK_PATH = "/telegram/webhook"


async def main(port: int) -> None:
    base = os.environ["TELEGRAM_API_BASE_URL"].rstrip("/")
    secret = os.environ["TELEGRAM_WEBHOOK_SECRET"].encode()
    application = (
        ApplicationBuilder()
        .token(os.environ["TELEGRAM_BOT_TOKEN"])
        .base_url(base + "/bot")
        .base_file_url(base + "/file/bot")
        .build()
    )
    await application.initialize()
    bot = application.bot

    async def webhook(request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, secret):
            return PlainTextResponse("forbidden", status_code=403)
        update = Update.de_json(json.loads(await request.body()), bot)
        chat = update.effective_chat
        if chat is not None:
            await bot.send_message(chat.id, "ok")
        return JSONResponse({"ok": True})

    async def health(request: Request) -> Response:
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[
            Route("/healthz", health, methods=["GET"]),
            Route(WEBHOOK_PATH, webhook, methods=["POST"]),
        ]
    )
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    try:
        await uvicorn.Server(config).serve()  # until SIGTERM
    finally:
        await application.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(main(parser.parse_args().port))
