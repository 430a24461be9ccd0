"""/metrics and /healthz read the shared database: any web worker answers for every dispatcher."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from lapor.bot.channels.whatsapp import WhatsAppChannel, WhatsAppSender
from lapor.bot.runtime import Runtime
from lapor.bot.settings import load_settings
from lapor.bot.web import create_app
from lapor.store.db import transaction
from lapor.store.models import Outbox
from tests.fakes.twilio_api import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FakeTwilioAPI,
    InboundFactory,
    signed_form,
)

PUBLIC = "https://lapor.example.org"


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
    samples = _samples(text)
    assert samples[("lapor_send_latency_seconds", (("quantile", "0.5"),))] == 0.6
    assert samples[("lapor_send_latency_seconds", (("quantile", "0.99"),))] == 5.0
    # five telegram + the whatsapp one
    assert samples[("lapor_send_latency_seconds_count", ())] == 6
    for channel, reason in (
        ("telegram", "unreachable"),
        ("telegram", "retries_exhausted"),
        ("telegram", "rejected"),
        ("whatsapp", "delivery_63016"),
    ):
        key = ("lapor_outbox_failures", (("channel", channel), ("reason", reason)))
        assert samples[key] == 1, key
    assert samples[("lapor_outbox_lag_seconds", ())] == 42.0
    assert "# TYPE lapor_send_latency_seconds summary" in text
    assert "# TYPE lapor_outbox_failures gauge" in text
    assert health["outbox_lag_seconds"] == 42.0
    assert set(health) == {"status", "database", "outbox_lag_seconds", "pid"}


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, read by Prometheus's own text parser."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


FORGED_CODES = [
    '1"} 7\nevil 99',
    '63016",channel="x',
    '\\"}\n# TYPE',
]


@pytest.mark.parametrize("code", FORGED_CODES)
async def test_a_forged_error_code_stays_one_label_value(
    sqlite_url, tmp_path, clock, code: str
) -> None:  # type: ignore[no-untyped-def]
    """A status callback is signed by Twilio, but its ErrorCode is text from outside."""
    with FakeTwilioAPI() as twilio:
        settings = load_settings(
            _env_file=None,
            database_url=sqlite_url,
            media_dir=tmp_path / "media",
            twilio_account_sid=ACCOUNT_SID,
            twilio_auth_token=AUTH_TOKEN,
            twilio_whatsapp_from="whatsapp:+14155238886",
            twilio_api_base_url=twilio.base_url,
            public_base_url=PUBLIC,
        )
        runtime = Runtime.from_settings(settings, clock=clock)
        channel = WhatsAppChannel(runtime, settings)
        runtime.add_sender(WhatsAppSender(runtime, settings))
        app = create_app(settings, whatsapp=channel, runtime=runtime)
        f = InboundFactory()
        try:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url=PUBLIC
            ) as client:

                async def post(path: str, form: dict[str, str]) -> httpx.Response:
                    params, headers = signed_form(f"{PUBLIC}{path}", form)
                    return await client.post(path, data=params, headers=headers)

                assert (await post("/webhooks/whatsapp", f.text("halo"))).status_code == 200
                await runtime.dispatcher.drain()
                sid = twilio.messages[-1]["sid"]
                callback = f.status(sid, "undelivered", error_code=code)
                assert (await post("/webhooks/whatsapp/status", callback)).status_code == 200
                text = (await client.get("/metrics")).text
        finally:
            await channel.aclose()
            runtime.dispose()
    families = {family.name: family for family in text_string_to_metric_families(text)}
    assert set(families) == {
        "lapor_outbox_messages",
        "lapor_outbox_lag_seconds",
        "lapor_send_latency_seconds",
        "lapor_outbox_failures",
        "lapor_inbound_events",
    }
    failures = {
        (s.labels["channel"], s.labels["reason"]): s.value
        for s in families["lapor_outbox_failures"].samples
    }
    assert failures == {("whatsapp", f"delivery_{code[:16]}"): 1.0}
    inbound = families["lapor_inbound_events"].samples
    assert [(s.labels, s.value) for s in inbound] == [({"channel": "whatsapp"}, 1.0)]
