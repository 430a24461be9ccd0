"""Fuzz: validly signed WhatsApp webhooks with random and boundary fields, on both databases.

Each example is one new WhatsApp user sending a short random conversation (texts, numbers,
locations, media, buttons, with hostile values in every field Twilio sends). Whatever they
send: no 5xx, every ticket a user was told about is a report stored under them, a refused
request (4xx) changes nothing, and no log line carries a phone number.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import count

import hypothesis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from starlette.testclient import TestClient

from lapor.bot.channels.whatsapp import WhatsAppChannel, WhatsAppSender
from lapor.bot.runtime import Runtime
from lapor.bot.web import create_app
from lapor.store.db import new_session
from lapor.store.models import (
    Contact,
    Conversation,
    InboundReceipt,
    Outbox,
    Report,
    ReportEvent,
)
from tests.bot.conftest import jpeg_bytes
from tests.bot.test_whatsapp import HOOK, PUBLIC, twilio, twilio_api, wa_settings
from tests.fakes.twilio_api import FakeTwilioAPI, InboundFactory, signed_form

__all__ = ["twilio", "twilio_api"]

TICKET = re.compile(r"JKT-\d{4}-\d{5}")

# Values that have broken parsers before: empty, huge, controls, NUL, numbers out of range.
WEIRD = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "nan",
            "inf",
            "-inf",
            "1e309",
            "-0",
            "99999999999999999999",
            "2147483648",
            "-1",
            "0x10",
            "1,5",
            "١٢",  # Arabic-Indic digits
            "\u202e1",
            "rate:abc:1",
            "rate:99999999999999999999:1",
            "rate:2147483648:1",
            "rr:2147483648:x",
            "add:2147483648",
            "add:abc",
            "add:1",
            "add:1:2",
            "w:1",
            "f:1",
            "cat:" + "x" * 300,
            "x" * 5000,
        ]
    ),
    st.text(max_size=300),
)
COORDINATE = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["-6.1754", "106.8272", "-6.2", "106.8"]),
    WEIRD,
)
TEXTS = st.one_of(
    st.sampled_from(["/start", "menu", "1", "2", "3", "4", "7", "12", "lewati", "BATAL", "MULAI"]),
    WEIRD,
)


@st.composite
def event(draw: st.DrawFn) -> tuple[str, dict[str, str]]:
    kind = draw(st.sampled_from(["text", "text", "location", "media", "button", "fields"]))
    if kind == "text":
        return kind, {"Body": draw(TEXTS)}
    if kind == "location":
        fields = {"Latitude": draw(COORDINATE), "Longitude": draw(COORDINATE)}
        if draw(st.booleans()):
            fields["Label"] = draw(WEIRD)
            fields["Address"] = draw(WEIRD)
        return kind, fields
    if kind == "media":
        count_ = draw(st.sampled_from(["1", "0", "3", "10", "11", "-1", "abc", "20000000", ""]))
        url = draw(st.sampled_from(["good", "missing", "weird"]))
        return kind, {
            "NumMedia": count_,
            "MediaUrl0": url,
            "MediaContentType0": draw(st.sampled_from(["image/jpeg", "image/webp", "", "x/y"])),
            "Body": draw(st.one_of(st.just(""), WEIRD)),
        }
    if kind == "button":
        return kind, {"ButtonPayload": draw(WEIRD), "ButtonText": draw(WEIRD)}
    # Any of the other fields Twilio sends, set to something odd.
    name = draw(st.sampled_from(["ProfileName", "MessageType", "WaId", "NumSegments", "Body"]))
    return kind, {name: draw(WEIRD)}


@st.composite
def report_flow(draw: st.DrawFn) -> list[tuple[str, dict[str, str]]]:
    """A whole report (menu, category, photo, pin, note, send) with hostile words in every
    field a citizen controls, odd events slipped in between and after."""
    steps: list[tuple[str, dict[str, str]]] = [
        ("text", {"Body": "/start"}),
        ("text", {"Body": "1"}),
        ("text", {"Body": draw(st.sampled_from(["1", "7", "12"]))}),
        ("media", {"NumMedia": "1", "MediaUrl0": "good", "MediaContentType0": "image/jpeg"}),
        (
            "location",
            {"Latitude": "-6.1754", "Longitude": "106.8272", "Label": draw(WEIRD)},
        ),
        ("text", {"Body": draw(WEIRD) or "lewati"}),
        ("text", {"Body": draw(st.sampled_from(["1", "2"]))}),
    ]
    for _ in range(draw(st.integers(0, 2))):
        steps.insert(draw(st.integers(1, len(steps))), draw(event()))
    return steps + draw(st.lists(event(), max_size=3))


class Rig:
    def __init__(self, db_url: str, tmp_path, twilio: FakeTwilioAPI) -> None:  # type: ignore[no-untyped-def]
        settings_ = wa_settings(db_url, tmp_path, twilio)
        self.runtime = Runtime.from_settings(settings_)
        self.channel = WhatsAppChannel(self.runtime, settings_)
        # Replies go out to the fake Twilio API too: the twilio client's own lines (which
        # quote the recipient) are part of the log that must carry no phone number.
        self.runtime.add_sender(WhatsAppSender(self.runtime, settings_))
        self.client = TestClient(
            create_app(settings_, whatsapp=self.channel),
            base_url=PUBLIC,
            raise_server_exceptions=False,
        )
        self.good_media = twilio.add_media("/media/fuzz.jpg", jpeg_bytes())
        self.missing_media = twilio.base_url.rstrip("/") + "/media/nothing-here.jpg"
        self.users = count(1)

    def counts(self) -> dict[str, int]:
        with new_session(self.runtime.engine) as session:
            return {
                model.__name__: session.execute(
                    select(func.count()).select_from(model)
                ).scalar_one()
                for model in (Report, Outbox, Contact, Conversation, InboundReceipt)
            }

    def post(self, form: dict[str, str]):  # type: ignore[no-untyped-def]
        params, headers = signed_form(HOOK, form)
        return self.client.post(HOOK.removeprefix(PUBLIC), data=params, headers=headers)


@pytest.fixture
def rig(db_url, tmp_path, twilio) -> Iterator[Rig]:  # type: ignore[no-untyped-def]
    rig = Rig(db_url, tmp_path, twilio)
    with rig.client:
        yield rig
        rig.client.portal.call(rig.channel.aclose)
    rig.runtime.dispose()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    events=st.one_of(report_flow(), report_flow(), st.lists(event(), min_size=1, max_size=8)),
    profile=st.one_of(st.just("Warga Fuzz"), WEIRD),
)
def test_signed_whatsapp_webhooks_never_fail(rig: Rig, events, profile) -> None:  # type: ignore[no-untyped-def]
    user = next(rig.users)
    forms = InboundFactory(wa_id=f"62811{user:08d}", profile=profile)
    for kind, fields in events:
        if fields.get("MediaUrl0") == "good":
            fields["MediaUrl0"] = rig.good_media
        elif fields.get("MediaUrl0") == "missing":
            fields["MediaUrl0"] = rig.missing_media
        message_type = {"location": "location", "button": "button", "media": "image"}
        form = forms._inbound(message_type.get(kind, "text"), fields.get("Body", ""), fields)
        before = rig.counts()
        response = rig.post(form)
        assert response.status_code < 500, (kind, fields, response.text[:300])
        if response.status_code >= 400:
            assert rig.counts() == before, (kind, fields)
    rig.client.portal.call(rig.runtime.dispatcher.drain)
    # Every ticket this user was told about (their own, or a similar one) is stored.
    address = forms.from_.removeprefix("whatsapp:")
    with new_session(rig.runtime.engine) as session:
        told = {
            ticket
            for payload in session.scalars(select(Outbox.payload).where(Outbox.address == address))
            for ticket in TICKET.findall(payload.get("text", ""))
        }
        stored = set(session.scalars(select(Report.ticket)))
    assert told <= stored, (told, stored)
    hypothesis.event(f"tickets told: {min(len(told), 1)}")


def _number_of(rig: Rig, address: str, prefix: str) -> int:
    with new_session(rig.runtime.engine) as session:
        last = session.scalars(
            select(Outbox.payload).where(Outbox.address == address).order_by(Outbox.id.desc())
        ).first()
    choices = [payload for _label, payload in (last or {}).get("choices", [])]
    found = [n for n, payload in enumerate(choices, 1) if payload.startswith(prefix)]
    return found[0] if found else 1


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    extra=st.tuples(
        st.one_of(
            st.tuples(st.just("text"), st.fixed_dictionaries({"Body": WEIRD})),
            st.just(
                (
                    "media",
                    {
                        "NumMedia": "1",
                        "MediaUrl0": "good",
                        "MediaContentType0": "image/jpeg",
                        "Body": "foto",
                    },
                )
            ),
        ),
        st.lists(event(), max_size=3),
    ).map(lambda pair: [pair[0], *pair[1]]),
)
def test_additions_through_whatsapp_never_fail(rig: Rig, extra) -> None:  # type: ignore[no-untyped-def]
    """A report, "Laporan saya", "Tambah keterangan/foto", then anything: no 5xx, and every
    addition stored is on the sender's own report, cut to fit."""
    user = next(rig.users)
    forms = InboundFactory(wa_id=f"62812{user:08d}", profile="Warga Fuzz")
    address = forms.from_.removeprefix("whatsapp:")
    # Earlier examples filed the same photo: "send anyway" when similar reports are offered.
    picks = [("pick", {"want": "dup:new"}), ("pick", {"want": "confirm:"})]
    mine = [("text", {"Body": "/laporansaya"}), ("pick", {"want": "add:"})]
    flow = [
        ("text", {"Body": "/lapor"}),
        ("text", {"Body": "1"}),
        ("media", {"NumMedia": "1", "MediaUrl0": "good", "MediaContentType0": "image/jpeg"}),
        ("location", {"Latitude": "-6.1754", "Longitude": "106.8272"}),
        ("text", {"Body": "lewati"}),
    ]
    for kind, fields in [*flow, *picks, *mine, *extra]:
        if kind == "pick":
            # The number of that choice in the list just shown, when it is there.
            kind, fields = "text", {"Body": str(_number_of(rig, address, fields["want"]))}
        if fields.get("MediaUrl0") == "good":
            fields["MediaUrl0"] = rig.good_media
        elif fields.get("MediaUrl0") == "missing":
            fields["MediaUrl0"] = rig.missing_media
        message_type = {"location": "location", "button": "button", "media": "image"}
        form = forms._inbound(message_type.get(kind, "text"), fields.get("Body", ""), fields)
        response = rig.post(form)
        assert response.status_code < 500, (kind, fields, response.text[:300])
    rig.client.portal.call(rig.runtime.dispatcher.drain)
    with new_session(rig.runtime.engine) as session:
        rows = session.execute(
            select(ReportEvent.note, Contact.address)
            .join(Report, Report.id == ReportEvent.report_id)
            .join(Contact, Contact.id == Report.reporter_id)
            .where(ReportEvent.kind == "addition", ReportEvent.actor == f"whatsapp:{address}")
        ).all()
    assert len(rows) <= len(extra)
    for note, owner in rows:
        assert owner == address, "an addition lands on the sender's own report only"
        assert note is None or len(note) <= 1000
    hypothesis.event(f"additions: {min(len(rows), 1)}")
