"""WhatsApp through Twilio: signed webhooks in, the real twilio client out, both on loopback."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from sqlalchemy import func, select

from lapor.bot.channels.whatsapp import WhatsAppChannel, WhatsAppSender, media_url, render_text
from lapor.bot.runtime import Runtime
from lapor.bot.settings import Settings, load_settings
from lapor.bot.web import create_app
from lapor.handlers.types import Choice, Outbound
from lapor.store.db import new_session
from lapor.store.models import Contact, InboundReceipt, Outbox, Report
from tests.bot.conftest import jpeg_bytes
from tests.conftest import FakeClock
from tests.fakes.twilio_api import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FakeTwilioAPI,
    InboundFactory,
    signed_form,
)

PUBLIC = "https://lapor.example.org"
HOOK = f"{PUBLIC}/webhooks/whatsapp"
STATUS_HOOK = f"{PUBLIC}/webhooks/whatsapp/status"
USER = "whatsapp:+6281234567890"
TEMPLATE_SID = "HX" + "a" * 32


@pytest.fixture(scope="module")
def twilio_api() -> Iterator[FakeTwilioAPI]:
    with FakeTwilioAPI() as fake:
        yield fake


@pytest.fixture
def twilio(twilio_api: FakeTwilioAPI) -> FakeTwilioAPI:
    twilio_api.reset()
    return twilio_api


def wa_settings(sqlite_url: str, tmp_path, twilio: FakeTwilioAPI, **extra) -> Settings:  # type: ignore[no-untyped-def]
    return load_settings(
        _env_file=None,
        database_url=sqlite_url,
        media_dir=tmp_path / "media",
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_whatsapp_from="whatsapp:+14155238886",
        twilio_api_base_url=twilio.base_url,
        public_base_url=PUBLIC,
        **extra,
    )


class WhatsAppRig:
    def __init__(self, settings: Settings, clock: FakeClock) -> None:
        self.runtime = Runtime.from_settings(settings, clock=clock)
        self.channel = WhatsAppChannel(self.runtime, settings)
        self.runtime.add_sender(WhatsAppSender(self.runtime, settings))
        self.app = create_app(settings, whatsapp=self.channel)
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url=PUBLIC
        )

    async def post(
        self, form: dict[str, str], url: str = HOOK, *, signature: str | None = "ok"
    ) -> httpx.Response:
        params, headers = signed_form(url, form)
        if signature != "ok":
            headers = {} if signature is None else {"X-Twilio-Signature": signature}
        path = url.removeprefix(PUBLIC)
        return await self.client.post(path, data=params, headers=headers)

    async def say(self, form: dict[str, str]) -> httpx.Response:
        self.runtime.clock.advance(seconds=1)  # type: ignore[attr-defined]  # a person's pace
        response = await self.post(form)
        await self.runtime.dispatcher.drain()
        return response

    def count(self, model) -> int:  # type: ignore[no-untyped-def]
        with new_session(self.runtime.engine) as session:
            return session.execute(select(func.count()).select_from(model)).scalar_one()

    async def aclose(self) -> None:
        await self.client.aclose()
        await self.channel.aclose()
        self.runtime.dispose()


@pytest.fixture
async def rig(sqlite_url, tmp_path, twilio, clock) -> AsyncIterator[WhatsAppRig]:  # type: ignore[no-untyped-def]
    rig = WhatsAppRig(wa_settings(sqlite_url, tmp_path, twilio), clock)
    yield rig
    await rig.aclose()


def last_body(twilio: FakeTwilioAPI) -> str:
    return twilio.sent_to(USER, accepted_only=True)[-1].get("Body", "")


# -- inbound forms, table-driven ---------------------------------------------------------------


def _cases(twilio: FakeTwilioAPI) -> list[tuple[str, dict[str, str], dict | None]]:
    jpeg = twilio.add_media("/media/one.jpg", jpeg_bytes())
    png = twilio.add_media("/media/two.jpg", jpeg_bytes((0, 0, 200)))
    audio = twilio.add_media("/media/voice.ogg", b"OggS....", "audio/ogg")
    f = InboundFactory()
    return [
        ("text", f.text("halo"), {"text": "halo"}),
        (
            "location with empty body",
            f.location(-6.1754, 106.8272, label="Monas"),
            {"location": (-6.1754, 106.8272), "label": "Monas"},
        ),
        ("media only", f.media([(jpeg, "image/jpeg")]), {"photos": 1, "text": None}),
        (
            "two media with caption",
            f.media([(jpeg, "image/jpeg"), (png, "image/jpeg")], body="banjir"),
            {"photos": 2, "text": "banjir"},
        ),
        ("voice note", f.media([(audio, "audio/ogg")]), {"unsupported": "voice"}),
        ("button tap", f.button("confirm:yes", "Kirim"), {"choice": "confirm:yes"}),
        ("unknown message type", f.unknown("reaction"), {"unsupported": "other"}),
        ("missing From", {k: v for k, v in f.text("x").items() if k != "From"}, None),
    ]


async def test_forms_become_the_right_inbound(rig: WhatsAppRig, twilio: FakeTwilioAPI) -> None:
    for name, form, expected in _cases(twilio):
        inbound = await rig.channel.to_inbound(form)
        if expected is None:
            assert inbound is None, name
            continue
        assert inbound is not None, name
        assert inbound.channel == "whatsapp" and inbound.address == "+6281234567890", name
        assert inbound.message_id == form["MessageSid"] and inbound.name == "Siti", name
        for key, value in expected.items():
            if key == "photos":
                assert len(inbound.photos) == value, name
            elif key == "location":
                assert inbound.location is not None, name
                assert (inbound.location.latitude, inbound.location.longitude) == value, name
            elif key == "label":
                assert inbound.location is not None and inbound.location.label == value, name
            else:
                assert getattr(inbound, key) == value, (name, key)
    # Media is fetched with basic auth, through the redirect to the CDN.
    kinds = [(r["kind"], r["had_auth"]) for r in twilio.media_requests]
    assert ("media", True) in kinds and any(kind == "cdn" for kind, _ in kinds)


async def test_media_that_is_not_an_image_is_refused_politely(
    rig: WhatsAppRig, twilio: FakeTwilioAPI
) -> None:
    lying = twilio.add_media("/media/lie.jpg", b"not an image at all", "image/jpeg")
    inbound = await rig.channel.to_inbound(InboundFactory().media([(lying, "image/jpeg")]))
    assert inbound is not None and inbound.photo_error == "format" and not inbound.photos


# -- media downloads: credentials, redirects, deadline, counts --------------------------------


@pytest.fixture(scope="module")
def stranger() -> Iterator[FakeTwilioAPI]:
    """Another server on loopback that would happily serve (and log) the same media."""
    with FakeTwilioAPI() as fake:
        yield fake


def _hostile_urls(twilio: FakeTwilioAPI, stranger: FakeTwilioAPI) -> dict[str, str]:
    path = "/2010-04-01/Accounts/AC/Messages/MM1/Media/ME1"
    twilio.add_media(path, jpeg_bytes())
    stranger.add_media(path, jpeg_bytes())
    return {
        "another port on loopback": f"{stranger.base_url}{path}",
        "our gateway under another name": f"http://localhost:{twilio.port}{path}",
        "cloud metadata": "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "someone else's https host": f"https://media.example.org{path}",
        "not http at all": "file:///etc/passwd",
        "not a url": "http://[::1",
    }


HOSTILE = [
    "another port on loopback",
    "our gateway under another name",
    "cloud metadata",
    "someone else's https host",
    "not http at all",
    "not a url",
]


@pytest.mark.parametrize("name", HOSTILE)
async def test_media_from_any_host_but_twilios_is_refused_without_sending_credentials(
    rig: WhatsAppRig, twilio: FakeTwilioAPI, stranger: FakeTwilioAPI, name: str
) -> None:
    stranger.reset()
    url = _hostile_urls(twilio, stranger)[name]
    inbound = await rig.channel.to_inbound(InboundFactory().media([(url, "image/jpeg")]))
    assert inbound is not None and inbound.photo_error == "download" and not inbound.photos
    assert twilio.media_requests == [] and stranger.media_requests == []


async def test_the_redirect_to_the_cdn_carries_no_credentials(
    rig: WhatsAppRig, twilio: FakeTwilioAPI
) -> None:
    url = twilio.add_media("/media/cdn.jpg", jpeg_bytes())
    twilio.cdn_base_url = f"http://localhost:{twilio.port}"  # the CDN: a host of its own
    inbound = await rig.channel.to_inbound(InboundFactory().media([(url, "image/jpeg")]))
    assert inbound is not None and len(inbound.photos) == 1
    hops = [(r["kind"], r["had_auth"]) for r in twilio.media_requests]
    assert hops == [("media", True), ("cdn", False)]


@pytest.mark.parametrize(
    ("location", "allowed"),
    [
        ("https://api.twilio.com/2010-04-01/Accounts/AC/Media/ME1", True),
        ("/2010-04-01/Accounts/AC/Media/ME2", True),
        ("https://93.184.215.14/cdn/abc", True),  # a public https host (Twilio's CDN's kind)
        ("http://93.184.215.14/cdn/abc", False),  # plain http
        ("https://127.0.0.1/cdn/abc", False),
        ("https://169.254.169.254/latest/meta-data", False),
        ("https://10.1.2.3/internal", False),
        ("https://[::1]/x", False),
        ("file:///etc/passwd", False),
        ("", False),
    ],
)
async def test_redirects_from_twilio_lead_only_to_public_https_hosts(
    sqlite_url, tmp_path, clock, location: str, allowed: bool
) -> None:  # type: ignore[no-untyped-def]
    from lapor.bot.channels.whatsapp import MediaError

    settings = load_settings(
        _env_file=None,
        database_url=sqlite_url,
        media_dir=tmp_path / "media",
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_whatsapp_from="whatsapp:+14155238886",
        public_base_url=PUBLIC,
    )
    runtime = Runtime.from_settings(settings, clock=clock)
    channel = WhatsAppChannel(runtime, settings)
    here = httpx.URL("https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM1/Media/ME1")
    try:
        if allowed:
            target = await channel._redirect(here, location)
            assert target == here.join(location)
        else:
            with pytest.raises(MediaError):
                await channel._redirect(here, location or None)
    finally:
        await channel.aclose()
        runtime.dispose()


async def test_a_trickling_download_gives_up_at_the_deadline(
    sqlite_url, tmp_path, twilio: FakeTwilioAPI, clock
) -> None:  # type: ignore[no-untyped-def]
    import time

    settings = wa_settings(sqlite_url, tmp_path, twilio, twilio_media_timeout_seconds=1)
    rig = WhatsAppRig(settings, clock)
    slow = twilio.add_media("/media/slow.jpg", jpeg_bytes(), trickle=30)
    try:
        started = time.monotonic()
        inbound = await rig.channel.to_inbound(InboundFactory().media([(slow, "image/jpeg")]))
        elapsed = time.monotonic() - started
    finally:
        await rig.aclose()
    assert inbound is not None and inbound.photo_error == "download"
    assert elapsed < 5, f"held for {elapsed:.1f} s"


class CountingForm(dict):
    """A webhook form that counts how often it is read."""

    reads = 0

    def get(self, *args):  # type: ignore[no-untyped-def]
        self.reads += 1
        return super().get(*args)


@pytest.mark.parametrize(
    ("num_media", "expected"),
    [
        ("20000000", {"photos": 1}),  # Twilio's own limit is 10
        ("abc", {"unsupported": "other"}),
        ("-3", {"unsupported": "other"}),
        ("1e9", {"unsupported": "other"}),
        ("9" * 5000, {"unsupported": "other"}),
        ("1", {"photos": 1}),
    ],
)
async def test_num_media_is_parsed_safely_and_capped(
    rig: WhatsAppRig, twilio: FakeTwilioAPI, num_media: str, expected: dict
) -> None:
    photo = twilio.add_media("/media/count.jpg", jpeg_bytes())
    form = InboundFactory().media([(photo, "image/jpeg")], MessageType="image")
    form = CountingForm({**form, "NumMedia": num_media})
    inbound = await rig.channel.to_inbound(form)
    assert inbound is not None
    if "photos" in expected:
        assert len(inbound.photos) == expected["photos"]
    else:
        assert inbound.unsupported == expected["unsupported"] and not inbound.photos
    assert form.reads < 100, f"{form.reads} reads of the form"


# -- signatures --------------------------------------------------------------------------------


@pytest.mark.parametrize("signature", [None, "forged", "different-url"])
async def test_unsigned_or_forged_requests_change_nothing(
    rig: WhatsAppRig, signature: str | None
) -> None:
    form = InboundFactory().text("/start")
    if signature == "different-url":
        _params, headers = signed_form("https://evil.example.org/webhooks/whatsapp", form)
        response = await rig.post(form, signature=headers["X-Twilio-Signature"])
    else:
        response = await rig.post(form, signature=signature)
    assert response.status_code == 403
    assert rig.count(InboundReceipt) == 0 and rig.count(Outbox) == 0 and rig.count(Contact) == 0


async def test_a_field_twilio_added_is_covered_by_the_signature(rig: WhatsAppRig) -> None:
    form = {**InboundFactory().text("/start"), "SomeNewTwilioField": "value"}
    response = await rig.post(form)
    assert response.status_code == 200 and rig.count(InboundReceipt) == 1


async def test_redelivered_message_sid_changes_nothing(
    rig: WhatsAppRig, twilio: FakeTwilioAPI
) -> None:
    form = InboundFactory().text("/lapor")
    first = await rig.say(form)
    assert first.status_code == 200 and first.text.startswith("<?xml")
    assert (await rig.say(form)).status_code == 200
    assert len(twilio.sent_to(USER)) == 1 and rig.count(InboundReceipt) == 1


async def test_a_redelivered_photo_message_is_not_downloaded_again(
    rig: WhatsAppRig, twilio: FakeTwilioAPI
) -> None:
    photo = twilio.add_media("/media/again.jpg", jpeg_bytes())
    form = InboundFactory().media([(photo, "image/jpeg")])
    for _ in range(3):
        assert (await rig.say(form)).status_code == 200
    assert [r["kind"] for r in twilio.media_requests].count("media") == 1
    assert rig.count(InboundReceipt) == 1


# -- the conversation over WhatsApp ------------------------------------------------------------


async def test_full_report_and_my_reports_over_whatsapp(
    rig: WhatsAppRig, twilio: FakeTwilioAPI
) -> None:
    f = InboundFactory()
    photo = twilio.add_media("/media/report.jpg", jpeg_bytes())
    await rig.say(f.text("halo"))
    menu = last_body(twilio)
    assert "1. Buat laporan" in menu and "Balas dengan angka" in menu
    await rig.say(f.text("1"))
    assert "1. Sampah" in last_body(twilio)
    await rig.say(f.text("sampah"))
    await rig.say(f.media([(photo, "image/jpeg")]))
    assert "📎" in last_body(twilio) and "Lokasi" in last_body(twilio)
    await rig.say(f.location(-6.175, 106.825))
    await rig.say(f.text("Tumpukan sampah di trotoar"))
    if "Tetap kirim" in last_body(twilio):
        await rig.say(f.text("dup:new"))
    await rig.say(f.text("1"))
    ticket = re.search(r"JKT-\d{4}-\d{5}", last_body(twilio))
    assert ticket, last_body(twilio)
    await rig.say(f.text("/laporansaya"))
    assert ticket.group(0) in last_body(twilio) and "Menunggu verifikasi" in last_body(twilio)
    with new_session(rig.runtime.engine) as session:
        report = session.scalars(select(Report)).one()
        assert report.channel == "whatsapp" and report.note == "Tumpukan sampah di trotoar"
    sent = twilio.sent_to(USER, accepted_only=True)
    assert all(m["From"] == "whatsapp:+14155238886" for m in sent)
    assert all(m["StatusCallback"] == STATUS_HOOK for m in sent)


async def test_batal_cancels_and_berhenti_opts_out(rig: WhatsAppRig, twilio: FakeTwilioAPI) -> None:
    f = InboundFactory()
    await rig.say(f.text("/lapor"))
    await rig.say(f.text("BATAL"))
    assert "Dibatalkan" in last_body(twilio)
    await rig.say(f.text("BERHENTI"))
    with new_session(rig.runtime.engine) as session:
        assert session.scalars(select(Contact.opted_out)).one() is True
    await rig.say(f.text("MULAI"))
    with new_session(rig.runtime.engine) as session:
        assert session.scalars(select(Contact.opted_out)).one() is False


def test_choices_render_as_a_numbered_list() -> None:
    message = Outbound(
        "whatsapp",
        "+62",
        "Pilih:",
        choices=(Choice("Ya", "y"), Choice("Tidak", "n")),
        meta={"language": "en"},
    )
    text = render_text(message)
    assert "1. Ya\n2. Tidak" in text and "Reply with the number" in text


# -- the 24-hour window ------------------------------------------------------------------------


async def _reported(rig: WhatsAppRig, twilio: FakeTwilioAPI) -> Report:
    f = InboundFactory()
    photo = twilio.add_media("/media/w.jpg", jpeg_bytes())
    for form in (
        f.text("/lapor"),
        f.text("1"),
        f.media([(photo, "image/jpeg")]),
        f.location(-6.175, 106.825),
        f.text("/batal"),
    ):
        await rig.say(form)
    await rig.say(f.text("/saran"))
    await rig.say(f.text("Tambah taman bermain"))
    await rig.say(f.text("1"))
    with new_session(rig.runtime.engine) as session:
        return session.scalars(select(Report)).one()


async def _acknowledge(rig: WhatsAppRig, report: Report) -> None:
    """A verifier acknowledges it: the citizen gets a status update (a notification)."""
    from lapor.handlers.types import Inbound
    from lapor.store.db import transaction
    from lapor.store.models import Verifier

    core = rig.runtime.core
    with transaction(rig.runtime.engine) as session:
        session.add(Verifier(telegram_id=7_100_000_001, added_at=rig.runtime.clock()))
    core.rooms = type(core.rooms)(admin=("telegram", "-100777"))
    with transaction(rig.runtime.engine) as session:
        core.process(
            session,
            Inbound(
                channel="telegram",
                address="-100777",
                message_id="ack-1",
                group=True,
                sender="7100000001",
                telegram_id=7_100_000_001,
                choice=f"ack:{report.id}",
            ),
        )
    await rig.runtime.dispatcher.drain()


async def test_inside_24_hours_a_notification_is_free_text(
    rig: WhatsAppRig, twilio: FakeTwilioAPI
) -> None:
    report = await _reported(rig, twilio)
    await _acknowledge(rig, report)
    assert "sudah dibaca" in last_body(twilio)


async def test_after_25_hours_a_notification_goes_as_a_template(
    sqlite_url,
    tmp_path,
    twilio: FakeTwilioAPI,
    clock,  # type: ignore[no-untyped-def]
) -> None:
    settings = wa_settings(
        sqlite_url, tmp_path, twilio, whatsapp_templates={"status_update": TEMPLATE_SID}
    )
    rig = WhatsAppRig(settings, clock)
    try:
        report = await _reported(rig, twilio)
        clock.advance(hours=25)
        await _acknowledge(rig, report)
        last = twilio.sent_to(USER, accepted_only=True)[-1]
        assert last["ContentSid"] == TEMPLATE_SID and "Body" not in last
        assert report.ticket in last["ContentVariables"]
    finally:
        await rig.aclose()


async def test_after_25_hours_without_a_template_the_message_waits_for_the_user(
    rig: WhatsAppRig,
    twilio: FakeTwilioAPI,
    clock,  # type: ignore[no-untyped-def]
) -> None:
    report = await _reported(rig, twilio)
    clock.advance(hours=25)
    before = len(twilio.sent_to(USER))
    await _acknowledge(rig, report)
    assert len(twilio.sent_to(USER)) == before, "no free text outside the window"
    with new_session(rig.runtime.engine) as session:
        assert "held" in set(session.scalars(select(Outbox.status)))
    await rig.say(InboundFactory().text("halo"))
    bodies = [m.get("Body", "") for m in twilio.sent_to(USER, accepted_only=True)[before:]]
    assert any("sudah dibaca" in b for b in bodies), bodies
    with new_session(rig.runtime.engine) as session:
        assert "held" not in set(session.scalars(select(Outbox.status)))


# -- errors and status callbacks ---------------------------------------------------------------


async def test_opted_out_recipient_becomes_unreachable(
    rig: WhatsAppRig, twilio: FakeTwilioAPI
) -> None:
    twilio.fail_next(21610)
    await rig.say(InboundFactory().text("halo"))
    with new_session(rig.runtime.engine) as session:
        assert session.scalars(select(Contact.reachable)).one() is False
        row = session.scalars(select(Outbox)).one()
        assert row.status == "failed" and "21610" in (row.last_error or "")


@pytest.mark.parametrize(
    ("code", "status", "attempts"),
    # A rate limit costs no attempt (a burst must not use them up); a 5xx does.
    [(20429, 429, 0), (20500, 500, 1)],
)
async def test_rate_limits_and_server_errors_are_retried(
    rig: WhatsAppRig, twilio: FakeTwilioAPI, clock, code: int, status: int, attempts: int
) -> None:  # type: ignore[no-untyped-def]
    twilio.fail_next(code, status=status)
    await rig.say(InboundFactory().text("halo"))
    with new_session(rig.runtime.engine) as session:
        row = session.scalars(select(Outbox)).one()
        assert row.status == "pending" and str(code) in (row.last_error or "")
        assert row.attempts == attempts
    clock.advance(seconds=30)
    await rig.runtime.dispatcher.drain()
    assert len(twilio.sent_to(USER, accepted_only=True)) == 1


async def test_status_callbacks_keep_the_furthest_status(
    rig: WhatsAppRig, twilio: FakeTwilioAPI
) -> None:
    await rig.say(InboundFactory().text("halo"))
    sid = twilio.sent_to(USER, accepted_only=True)[-1]["sid"]
    f = InboundFactory()
    for status in ("delivered", "sent", "read", "delivered"):
        response = await rig.post(f.status(sid, status), url=STATUS_HOOK)
        assert response.status_code == 200
    forged = await rig.post(f.status(sid, "failed"), url=STATUS_HOOK, signature="forged")
    assert forged.status_code == 403
    with new_session(rig.runtime.engine) as session:
        assert session.scalars(select(Outbox.delivery_status)).one() == "read"


async def test_photos_are_served_to_twilio_only_with_our_signature(rig: WhatsAppRig) -> None:
    photo = rig.runtime.accept_photo_sync(jpeg_bytes())
    url = media_url(rig.runtime.settings, photo.path).removeprefix(PUBLIC)
    ok = await rig.client.get(url)
    assert ok.status_code == 200 and ok.content[:2] == b"\xff\xd8"
    assert (await rig.client.get(url.split("?")[0])).status_code == 403
    assert (await rig.client.get(url[:-3] + "000")).status_code == 403
