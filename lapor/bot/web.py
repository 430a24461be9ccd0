"""The web app: webhooks (Telegram, WhatsApp), the dashboard, Open311, the public pages,
health and metrics."""

from __future__ import annotations

import hmac
import logging
import os
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl

from prometheus_client import generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from lapor.bot.settings import Settings

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# The classic text format (what every Prometheus version reads), as before.
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def create_app(
    settings: Settings,
    telegram: tuple[Any, Any] | None = None,
    whatsapp: Any | None = None,
    runtime: Any | None = None,
) -> Starlette:
    """Build the app. `telegram` is (bot, TelegramChannel) when its webhook is served;
    `whatsapp` a WhatsAppChannel when Twilio is configured; with `runtime`, /healthz checks
    the database and the outbox, and /metrics reports them."""
    routes: list[BaseRoute] = [Route("/healthz", _health(runtime), methods=["GET"])]
    if runtime is not None:
        from lapor.bot import dashboard, open311, public

        routes.append(Route("/metrics", _metrics(runtime), methods=["GET"]))
        routes += open311.routes(settings, runtime)
        routes += dashboard.routes(settings, runtime)
        routes += public.routes(settings, runtime)
    if telegram is not None:
        from lapor.bot.channels.telegram import webhook_path

        routes.append(
            Route(webhook_path(settings), _telegram_endpoint(settings, *telegram), methods=["POST"])
        )
    if whatsapp is not None:
        routes += [
            Route("/webhooks/whatsapp", _twilio(whatsapp.handle_form, whatsapp), methods=["POST"]),
            Route(
                "/webhooks/whatsapp/status",
                _twilio(whatsapp.record_status, whatsapp),
                methods=["POST"],
            ),
            Route("/media/{path:path}", _media(settings, whatsapp.runtime), methods=["GET"]),
        ]
    return Starlette(routes=routes)


async def _signed_form(request: Request, channel: Any) -> dict[str, str] | None:
    """The form Twilio posted, if its signature matches the URL it called; else None.

    The signature covers every field Twilio sent, including ones we do not read: validate
    the form as received, unfiltered.
    """
    body = (await request.body()).decode("utf-8", errors="replace")
    form = dict(parse_qsl(body, keep_blank_values=True))
    url = channel.public_url(request.url.path, request.url.query)
    signature = request.headers.get("X-Twilio-Signature")
    if not channel.signature_ok(url, form, signature):
        log.warning("WhatsApp webhook with a missing or wrong signature from %s", request.client)
        return None
    return form


def _twilio(handle: Any, channel: Any):  # type: ignore[no-untyped-def]
    """A Twilio webhook: 403 unless signed; else `handle(form)`, then empty TwiML.

    Handled before answering: a failure is a 500, and Twilio retries.
    """

    async def endpoint(request: Request) -> Response:
        form = await _signed_form(request, channel)
        if form is None:
            return PlainTextResponse("forbidden", status_code=403)
        await handle(form)
        return Response(EMPTY_TWIML, media_type="text/xml")

    return endpoint


def _media(settings: Settings, runtime: Any):  # type: ignore[no-untyped-def]
    """Stored photos for Twilio to fetch: only with our signature, only our files."""
    from lapor.bot.channels.whatsapp import media_signature

    secret = settings.twilio_token() or ""

    async def endpoint(request: Request) -> Response:
        path = request.path_params["path"]
        given = request.query_params.get("sig", "")
        if not secret or not hmac.compare_digest(given, media_signature(secret, path)):
            return PlainTextResponse("forbidden", status_code=403)
        try:
            data = runtime.media.open_bytes(path)
        except (ValueError, OSError):
            return PlainTextResponse("not found", status_code=404)
        return Response(data, media_type="image/jpeg")

    return endpoint


# Send latency is read over the messages sent this recently (queued -> handed over).
LATENCY_WINDOW = timedelta(minutes=5)
LATENCY_SAMPLE = 10_000
UNDELIVERED = "delivery_status IN ('failed', 'undelivered')"


def _lag(session: Any, now: Any) -> float:
    """Age of the oldest message due and not sent: one seek on the due-rows index."""
    from sqlalchemy import func, select

    from lapor.store.models import Outbox

    oldest = session.execute(
        select(func.min(Outbox.next_attempt_at)).where(
            Outbox.status == "pending", Outbox.next_attempt_at <= now
        )
    ).scalar()
    return max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0


def _health_state(runtime: Any) -> float:
    from lapor.store.db import new_session

    with new_session(runtime.engine) as session:
        return _lag(session, runtime.clock())


def _outbox_state(runtime: Any) -> dict[str, Any]:
    """Read from the database, not this process: any worker answers for all dispatchers.

    Each figure is an index read (status; sent_at; the partial index of undelivered
    messages), not a pass over every message ever sent: a scrape must not hold up the
    updates queued behind it on SQLite's one database thread.
    """
    from sqlalchemy import case, func, select, text

    from lapor.store.db import new_session
    from lapor.store.models import Outbox

    now = runtime.clock()
    with new_session(runtime.engine) as session:
        depth = dict(
            session.execute(select(Outbox.status, func.count()).group_by(Outbox.status)).all()
        )
        lag = _lag(session, now)
        recent = session.execute(
            select(Outbox.created_at, Outbox.sent_at)
            .where(Outbox.sent_at >= now - LATENCY_WINDOW)
            .order_by(Outbox.sent_at.desc())
            .limit(LATENCY_SAMPLE)
        ).all()
        reason = case(
            (Outbox.last_error.like("unreachable%"), "unreachable"),
            (Outbox.attempts >= runtime.settings.dispatch_max_attempts, "retries_exhausted"),
            else_="rejected",
        )
        failed = session.execute(
            select(Outbox.channel, reason, func.count())
            .where(Outbox.status == "failed")
            .group_by(Outbox.channel, reason)
        ).all()
        undelivered = session.execute(
            select(Outbox.channel, Outbox.delivery_error, func.count())
            # The partial index's own condition, literally: a planner can only use a
            # partial index when it can prove the query's WHERE implies it (not with
            # bound parameters).
            .where(text(UNDELIVERED))
            .group_by(Outbox.channel, Outbox.delivery_error)
        ).all()
    latencies = sorted(max((sent - created).total_seconds(), 0.0) for created, sent in recent)
    failures: Counter[tuple[str, str]] = Counter(
        {(channel, why): count for channel, why, count in failed}
    )
    for channel, code, count in undelivered:
        failures[(channel, f"delivery_{code or 'unknown'}")] += count
    return {"depth": depth, "lag_seconds": lag, "latencies": latencies, "failures": failures}


def _quantile(ordered: list[float], q: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _health(runtime: Any | None):  # type: ignore[no-untyped-def]
    async def endpoint(request: Request) -> Response:
        if runtime is None:
            return PlainTextResponse("ok")
        try:
            lag = await runtime.run_db(_health_state, runtime)
        except Exception as exc:  # the database is unreachable: say so, plainly
            log.error("health check failed: %s", type(exc).__name__)
            return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
        return JSONResponse(
            {
                "status": "ok",
                "database": "ok",
                "outbox_lag_seconds": round(lag, 3),
                # Which process answered: behind `lapor web --workers N` there are several.
                "pid": os.getpid(),
            }
        )

    return endpoint


class _Metrics:
    """The figures of one scrape as Prometheus metric families.

    Rendered by prometheus_client, which escapes label values: a label comes from data
    others control (a Twilio status callback's ErrorCode), and written by hand a quote and a
    newline in it would close the label and add a line of the sender's choosing.
    """

    def __init__(self, state: dict[str, Any], handled: Counter[str]) -> None:
        self.state = state
        self.handled = handled

    def collect(self) -> Iterator[Metric]:
        state = self.state
        depth = GaugeMetricFamily(
            "lapor_outbox_messages", "Outbox messages by status.", labels=["status"]
        )
        for status, count in sorted(state["depth"].items()):
            depth.add_metric([str(status)], count)
        yield depth
        yield GaugeMetricFamily(
            "lapor_outbox_lag_seconds",
            "Age of the oldest message due and not yet sent.",
            value=round(state["lag_seconds"], 3),
        )
        latency = Metric(
            "lapor_send_latency_seconds",
            "Queued to handed to the platform, messages sent in the last 5 minutes.",
            "summary",
        )
        for q in (0.5, 0.9, 0.99):
            value = round(_quantile(state["latencies"], q), 3)
            latency.add_sample("lapor_send_latency_seconds", {"quantile": str(q)}, value)
        latency.add_sample("lapor_send_latency_seconds_count", {}, len(state["latencies"]))
        yield latency
        failures = GaugeMetricFamily(
            "lapor_outbox_failures",
            "Messages that failed, by channel and reason (Twilio delivery errors by their code).",
            labels=["channel", "reason"],
        )
        for (channel, reason), count in sorted(state["failures"].items()):
            failures.add_metric([str(channel), str(reason)], count)
        yield failures
        inbound = CounterMetricFamily(
            "lapor_inbound_events",
            "Inbound events handled by this process.",
            labels=["channel"],
        )
        for channel, count in sorted(self.handled.items()):
            inbound.add_metric([channel], count)
        yield inbound


def _metrics(runtime: Any):  # type: ignore[no-untyped-def]
    """Prometheus text format: outbox depth by status, dispatcher lag, send latency,
    failures by reason, handled events."""

    async def endpoint(request: Request) -> Response:
        state = await runtime.run_db(_outbox_state, runtime)
        body = generate_latest(_Metrics(state, runtime.handled))  # type: ignore[arg-type]
        return Response(body, media_type=METRICS_CONTENT_TYPE)

    return endpoint


async def _capped_body(request: Request, limit: int) -> bytes | None:
    """The request body, or None as soon as it is longer than `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdecimal() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _telegram_endpoint(settings: Settings, bot: Any, channel: Any):  # type: ignore[no-untyped-def]
    from telegram import Update

    from lapor.bot.channels.telegram import MAX_UPDATE_BYTES, read_update

    expected = (settings.webhook_secret() or "").encode()

    async def endpoint(request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        # Without a matching secret anyone who finds the URL could post fake updates.
        if not expected or not hmac.compare_digest(given, expected):
            log.warning("Telegram webhook call without the right secret from %s", request.client)
            return PlainTextResponse("forbidden", status_code=403)
        body = await _capped_body(request, MAX_UPDATE_BYTES)
        if body is None:
            return PlainTextResponse("update too large", status_code=413)
        data = read_update(body)
        if data is None:
            log.warning("Telegram webhook body that is not an update, from %s", request.client)
            return PlainTextResponse("bad update", status_code=400)
        try:
            update = Update.de_json(data, bot)
        except Exception as exc:  # PTB's parser on a kind we do not check: still bad input
            log.warning("Telegram update PTB could not read: %s", type(exc).__name__)
            return PlainTextResponse("bad update", status_code=400)
        # Handled before answering: if storing fails, Telegram gets a 500 and redelivers;
        # the update_id receipt makes a redelivery that did get stored change nothing.
        query = update.callback_query
        await channel.handle_update(update, answered=query is not None)
        if query is not None:
            # Telegram takes one Bot API call as the answer to a webhook: the button
            # press is answered without a request of our own.
            return JSONResponse({"method": "answerCallbackQuery", "callback_query_id": query.id})
        return JSONResponse({"ok": True})

    return endpoint
