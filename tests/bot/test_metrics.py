"""/metrics and /healthz read the shared database: any web worker answers for every dispatcher."""

from __future__ import annotations

from datetime import timedelta

import httpx

from lapor.bot.runtime import Runtime
from lapor.bot.settings import load_settings
from lapor.bot.web import create_app
from lapor.store.db import transaction
from lapor.store.models import Outbox


def _row(key: str, clock, **fields) -> Outbox:  # type: ignore[no-untyped-def]
    values = {
        "key": key,
        "channel": "telegram",
        "address": "1",
        "payload": {"text": key},
        "created_at": clock(),
        "next_attempt_at": clock(),
    }
    values.update(fields)
    return Outbox(**values)


async def test_metrics_give_send_latency_and_failures_by_reason(db_url, tmp_path, clock) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings(
        database_url=db_url, media_dir=tmp_path / "media", dispatch_max_attempts=3
    )
    runtime = Runtime.from_settings(settings)
    runtime.clock = clock
    now = clock()
    with transaction(runtime.engine) as session:
        for n, seconds in enumerate([0.2, 0.4, 0.6, 0.8, 5.0]):
            session.add(
                _row(
                    f"sent{n}",
                    clock,
                    status="sent",
                    created_at=now - timedelta(seconds=seconds + 1),
                    sent_at=now - timedelta(seconds=1),
                )
            )
        # Sent long ago: outside the latency window.
        session.add(
            _row(
                "old",
                clock,
                status="sent",
                created_at=now - timedelta(hours=2),
                sent_at=now - timedelta(hours=1),
            )
        )
        session.add(_row("gone", clock, status="failed", last_error="unreachable: blocked"))
        session.add(_row("tired", clock, status="failed", attempts=3, last_error="timed out"))
        session.add(_row("bad", clock, status="failed", attempts=1, last_error="400 bad"))
        session.add(
            _row(
                "wa",
                clock,
                channel="whatsapp",
                status="sent",
                sent_at=now,
                delivery_status="undelivered",
                delivery_error="63016",
            )
        )
        session.add(_row("due", clock, next_attempt_at=now - timedelta(seconds=42)))
    try:
        transport = httpx.ASGITransport(app=create_app(settings, runtime=runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://lapor") as client:
            text = (await client.get("/metrics")).text
            health = (await client.get("/healthz")).json()
    finally:
        runtime.dispose()
    lines = set(text.splitlines())
    assert 'lapor_send_latency_seconds{quantile="0.5"} 0.600' in lines
    assert 'lapor_send_latency_seconds{quantile="0.99"} 5.000' in lines
    assert "lapor_send_latency_seconds_count 6" in lines  # five telegram + the whatsapp one
    assert 'lapor_outbox_failures{channel="telegram",reason="unreachable"} 1' in lines
    assert 'lapor_outbox_failures{channel="telegram",reason="retries_exhausted"} 1' in lines
    assert 'lapor_outbox_failures{channel="telegram",reason="rejected"} 1' in lines
    assert 'lapor_outbox_failures{channel="whatsapp",reason="delivery_63016"} 1' in lines
    assert "lapor_outbox_lag_seconds 42.000" in lines
    assert health["outbox_lag_seconds"] == 42.0
    assert set(health) == {"status", "database", "outbox_lag_seconds", "pid"}
