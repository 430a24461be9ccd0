"""Forged quick-reply buttons through the signed WhatsApp webhook, on both databases.

Twilio signs the form, but the ButtonPayload inside it is whatever the user's client sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from lapor.store.models import Contact, Report, ReportEvent
from tests.bot.test_whatsapp import WhatsAppRig, last_body, twilio, twilio_api, wa_settings
from tests.fakes.twilio_api import FakeTwilioAPI, InboundFactory

__all__ = ["twilio", "twilio_api"]  # fixtures

FORGED = [
    "rate:abc:1",
    "rate:99999999999999999999:1",
    "rate:2147483648:1",
    "v:1",
    "rr:1:x",
    "follow:abc",
    "menu:nope",
    "x" * 5000,
]


@pytest.fixture
async def rig(db_url, tmp_path, twilio: FakeTwilioAPI, clock) -> AsyncIterator[WhatsAppRig]:  # type: ignore[no-untyped-def]
    rig = WhatsAppRig(wa_settings(db_url, tmp_path, twilio), clock)
    yield rig
    await rig.aclose()


async def test_forged_button_payload_gets_a_polite_answer(
    rig: WhatsAppRig, twilio: FakeTwilioAPI
) -> None:
    f = InboundFactory()
    await rig.say(f.text("halo"))
    for payload in FORGED:
        response = await rig.say(f.button(payload, "1"))
        assert response.status_code == 200, payload
        assert "Tombol itu sudah tidak berlaku" in last_body(twilio), payload
    assert rig.count(Report) == 0 and rig.count(ReportEvent) == 0
    assert rig.count(Contact) == 1
