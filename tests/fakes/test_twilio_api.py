"""Tests of the fake Twilio API, driven by the real twilio client (no network)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from tests.fakes.twilio_api import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FakeTwilioAPI,
    InboundFactory,
    RewritingHttpClient,
    signed_form,
    twilio_client,
)

USER = "whatsapp:+6281234567890"
SENDER = "whatsapp:+14155238886"
WEBHOOK = "https://lapor.example.org/twilio/whatsapp"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeTwilioAPI]:
    with FakeTwilioAPI() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeTwilioAPI) -> FakeTwilioAPI:
    server.reset()
    return server


@pytest.fixture(scope="module")
def client(server: FakeTwilioAPI) -> Client:
    return twilio_client(server)


def test_start_stop_joins_thread() -> None:
    fake = FakeTwilioAPI()
    fake.start()
    port = fake.port
    assert fake.base_url == f"http://127.0.0.1:{port}"
    assert httpx.get(f"{fake.base_url}/nope").status_code == 404
    fake.stop()
    assert f"FakeTwilioAPI:{port}" not in {t.name for t in threading.enumerate()}
    fake.stop()  # idempotent


def test_create_whatsapp_message(fake: FakeTwilioAPI, client: Client) -> None:
    msg = client.messages.create(to=USER, from_=SENDER, body="hi")
    assert msg.sid.startswith("SM") and len(msg.sid) == 34
    assert msg.status == "queued"
    assert msg.to == USER and msg.from_ == SENDER and msg.body == "hi"
    assert msg.account_sid == ACCOUNT_SID
    assert msg.direction == "outbound-api"
    assert msg.date_created is not None and msg.date_created.tzinfo is not None
    assert msg.error_code is None and msg.price is None
    assert msg.num_media == "0"
    assert msg.uri == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{msg.sid}.json"
    assert msg.subresource_uris["media"].endswith(f"/Messages/{msg.sid}/Media.json")
    [rec] = fake.messages
    assert rec == {
        "To": USER,
        "From": SENDER,
        "Body": "hi",
        "sid": msg.sid,
        "error_code": None,
        "http_status": 201,
    }
    assert fake.sent_to("+6281234567890") == [rec]
    assert fake.sent_to(USER) == [rec]
    assert fake.sent_to("+620000") == []


def test_create_with_messaging_service_and_status_callback(
    fake: FakeTwilioAPI, client: Client
) -> None:
    msg = client.messages.create(
        to=USER,
        messaging_service_sid="MG" + "1" * 32,
        body="hello",
        status_callback="https://lapor.example.org/twilio/status",
    )
    assert msg.status == "accepted" and msg.from_ is None
    assert msg.messaging_service_sid == "MG" + "1" * 32
    rec = fake.messages[0]
    assert rec["StatusCallback"] == "https://lapor.example.org/twilio/status"
    assert "From" not in rec


def test_create_with_template(fake: FakeTwilioAPI, client: Client) -> None:
    variables = json.dumps({"1": "LPR-0042", "2": "diterima"})
    msg = client.messages.create(
        to=USER, from_=SENDER, content_sid="HX" + "a" * 32, content_variables=variables
    )
    assert msg.sid.startswith("SM")
    rec = fake.messages[0]
    assert rec["ContentSid"] == "HX" + "a" * 32
    assert json.loads(rec["ContentVariables"]) == {"1": "LPR-0042", "2": "diterima"}
    assert "Body" not in rec


def test_create_with_media_urls_recorded_as_list(fake: FakeTwilioAPI, client: Client) -> None:
    urls = ["https://lapor.example.org/m/1.jpg", "https://lapor.example.org/m/2.jpg"]
    msg = client.messages.create(to=USER, from_=SENDER, media_url=urls)
    assert msg.num_media == "2"
    client.messages.create(to=USER, from_=SENDER, media_url=[urls[0]], body="one")
    first, second = fake.messages
    assert first["MediaUrl"] == urls
    assert second["MediaUrl"] == [urls[0]]


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"to": "", "from_": SENDER, "body": "x"}, 21604),
        ({"to": USER, "body": "x"}, 21603),
        ({"to": USER, "from_": SENDER}, 21602),
    ],
)
def test_validation_errors(fake: FakeTwilioAPI, client: Client, kwargs: dict, code: int) -> None:
    with pytest.raises(TwilioRestException) as info:
        client.messages.create(**kwargs)
    assert (info.value.code, info.value.status) == (code, 400)
    assert fake.messages[0]["error_code"] == code
    assert fake.messages[0]["sid"] is None


@pytest.mark.parametrize(
    ("code", "status", "expected_status"),
    [
        (21610, None, 400),
        (63016, None, 400),
        (21211, None, 400),
        (20429, None, 429),
        (20429, 429, 429),
        (20500, 500, 500),
        (20500, None, 500),
        (30001, 503, 503),
    ],
)
def test_fail_next(
    fake: FakeTwilioAPI, client: Client, code: int, status: int | None, expected_status: int
) -> None:
    fake.fail_next(code, status=status)
    with pytest.raises(TwilioRestException) as info:
        client.messages.create(to=USER, from_=SENDER, body="hi")
    assert info.value.code == code
    assert info.value.status == expected_status
    assert f"errors/{code}" not in info.value.msg  # more_info is not part of msg
    # one-shot: the next one goes through
    ok = client.messages.create(to=USER, from_=SENDER, body="hi")
    failed, sent = fake.messages
    assert (failed["sid"], failed["error_code"], failed["http_status"]) == (
        None,
        code,
        expected_status,
    )
    assert sent["sid"] == ok.sid and sent["error_code"] is None
    assert fake.sent_to(USER, accepted_only=True) == [sent]
    assert len(fake.sent_to(USER)) == 2


def test_fail_next_error_body_shape(fake: FakeTwilioAPI) -> None:
    fake.fail_next(21610)
    r = httpx.post(
        f"{fake.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json",
        data={"To": USER, "From": SENDER, "Body": "hi"},
        auth=(ACCOUNT_SID, AUTH_TOKEN),
    )
    assert r.status_code == 400
    assert r.json() == {
        "code": 21610,
        "message": "Attempt to send to unsubscribed recipient",
        "more_info": "https://www.twilio.com/docs/errors/21610",
        "status": 400,
    }


def test_fail_next_for_one_recipient_and_times(fake: FakeTwilioAPI, client: Client) -> None:
    other = "whatsapp:+6289999999999"
    fake.fail_next(21610, to="+6281234567890", times=2)
    assert client.messages.create(to=other, from_=SENDER, body="a").sid
    for _ in range(2):
        with pytest.raises(TwilioRestException):
            client.messages.create(to=USER, from_=SENDER, body="b")
    assert client.messages.create(to=USER, from_=SENDER, body="c").sid
    assert [m["error_code"] for m in fake.sent_to(USER)] == [21610, 21610, None]
    assert fake.sent_to(other)[0]["error_code"] is None


def test_reset_clears_messages_and_rules(fake: FakeTwilioAPI, client: Client) -> None:
    client.messages.create(to=USER, from_=SENDER, body="before")
    fake.fail_next(21610)
    fake.reset()
    assert fake.messages == [] and fake.media_requests == []
    assert client.messages.create(to=USER, from_=SENDER, body="x").sid
    assert len(fake.messages) == 1


def test_wrong_credentials(fake: FakeTwilioAPI) -> None:
    wrong = Client(ACCOUNT_SID, "wrong-token", http_client=RewritingHttpClient(fake.base_url))
    with pytest.raises(TwilioRestException) as info:
        wrong.messages.create(to=USER, from_=SENDER, body="hi")
    assert (info.value.status, info.value.code) == (401, 20003)
    assert fake.messages[0]["error_code"] == 20003


def test_other_account_sid_is_404(fake: FakeTwilioAPI) -> None:
    r = httpx.post(
        f"{fake.base_url}/2010-04-01/Accounts/AC{'1' * 32}/Messages.json",
        data={"To": USER, "From": SENDER, "Body": "hi"},
        auth=(ACCOUNT_SID, AUTH_TOKEN),
    )
    assert r.status_code == 404 and r.json()["code"] == 20404


def test_unknown_route_is_json_404(fake: FakeTwilioAPI) -> None:
    r = httpx.get(f"{fake.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["code"] == 20404 and r.json()["status"] == 404


def test_wait_for(fake: FakeTwilioAPI, client: Client) -> None:
    def send_later() -> None:
        client.messages.create(to=USER, from_=SENDER, body="late")

    t = threading.Timer(0.05, send_later)
    t.start()
    fake.wait_for(lambda msgs: any(m.get("Body") == "late" for m in msgs), timeout=5)
    t.join()
    with pytest.raises(AssertionError, match="1 message create request"):
        fake.wait_for(lambda msgs: len(msgs) > 1, timeout=0.05)


def test_media_needs_auth_and_redirects_to_cdn(fake: FakeTwilioAPI) -> None:
    url = fake.add_media("pothole.jpg", b"\xff\xd8jpeg-bytes", "image/jpeg")
    assert url.startswith(f"{fake.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM")
    assert "/Media/ME" in url

    assert httpx.get(url).status_code == 401
    assert httpx.get(url, auth=(ACCOUNT_SID, "wrong")).status_code == 401

    r = httpx.get(url, auth=(ACCOUNT_SID, AUTH_TOKEN), follow_redirects=False)
    assert r.status_code == 307
    location = r.headers["location"]
    assert location.startswith(f"{fake.base_url}/cdn/")
    assert r.content == b""

    r = httpx.get(url, auth=(ACCOUNT_SID, AUTH_TOKEN), follow_redirects=True)
    assert r.status_code == 200
    assert r.content == b"\xff\xd8jpeg-bytes"
    assert r.headers["content-type"] == "image/jpeg"

    cdn = httpx.get(location)  # the CDN needs no auth
    assert cdn.status_code == 200 and cdn.content == b"\xff\xd8jpeg-bytes"

    reqs = fake.media_requests
    assert [(r["kind"], r["had_auth"], r["status"]) for r in reqs] == [
        ("media", False, 401),
        ("media", True, 401),
        ("media", True, 307),
        ("media", True, 307),
        ("cdn", True, 200),  # httpx keeps auth on a same-origin redirect
        ("cdn", False, 200),
    ]
    assert reqs[0]["path"] == url.removeprefix(fake.base_url)


def test_media_with_explicit_path_and_unknown_media(fake: FakeTwilioAPI) -> None:
    path = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM{'2' * 32}/Media/ME{'3' * 32}"
    url = fake.add_media(path, b"%PDF-1.4", "application/pdf")
    assert url == fake.base_url + path
    r = httpx.get(url, auth=(ACCOUNT_SID, AUTH_TOKEN), follow_redirects=True)
    assert (r.content, r.headers["content-type"]) == (b"%PDF-1.4", "application/pdf")
    missing = path.replace("ME3", "ME4")
    assert httpx.get(fake.base_url + missing, auth=(ACCOUNT_SID, AUTH_TOKEN)).status_code == 404
    assert httpx.get(f"{fake.base_url}/cdn/nope").status_code == 404


def test_signed_form_validates() -> None:
    params = InboundFactory().text("Jalan berlubang di depan pasar")
    form, headers = signed_form(WEBHOOK, params)
    assert form == params
    signature = headers["X-Twilio-Signature"]
    validator = RequestValidator(AUTH_TOKEN)
    assert validator.validate(WEBHOOK, form, signature)
    assert validator.validate("https://lapor.example.org:443/twilio/whatsapp", form, signature)
    assert not validator.validate(WEBHOOK, {**form, "Body": "changed"}, signature)
    assert not validator.validate(WEBHOOK, {**form, "Extra": "1"}, signature)
    assert not validator.validate(WEBHOOK + "?x=1", form, signature)
    assert not validator.validate("https://other.example.org/twilio/whatsapp", form, signature)
    assert not RequestValidator("other-token").validate(WEBHOOK, form, signature)
    _, other = signed_form(WEBHOOK, params, auth_token="other-token")
    assert other["X-Twilio-Signature"] != signature


BASE_KEYS = {
    "SmsMessageSid",
    "NumMedia",
    "ProfileName",
    "MessageType",
    "SmsSid",
    "WaId",
    "SmsStatus",
    "Body",
    "To",
    "NumSegments",
    "ReferralNumMedia",
    "MessageSid",
    "AccountSid",
    "From",
    "ApiVersion",
    "ChannelMetadata",
}


def _check_base(form: dict[str, str], message_type: str) -> None:
    assert form.keys() >= BASE_KEYS
    assert all(isinstance(v, str) for v in form.values())
    assert form["MessageType"] == message_type
    assert form["From"] == "whatsapp:+6281234567890"
    assert form["To"] == "whatsapp:+14155238886"
    assert form["WaId"] == "6281234567890"
    assert form["ProfileName"] == "Siti"
    assert form["SmsStatus"] == "received"
    assert form["AccountSid"] == ACCOUNT_SID
    assert form["ApiVersion"] == "2010-04-01"
    assert form["SmsMessageSid"] == form["SmsSid"] == form["MessageSid"]
    assert json.loads(form["ChannelMetadata"]) == {
        "type": "whatsapp",
        "data": {"context": {"ProfileName": "Siti", "WaId": "6281234567890"}},
    }


def test_inbound_text() -> None:
    f = InboundFactory()
    a, b = f.text("halo"), f.text("halo")
    _check_base(a, "text")
    assert a["Body"] == "halo" and a["NumMedia"] == "0" and a["NumSegments"] == "1"
    assert a["MessageSid"].startswith("SM") and len(a["MessageSid"]) == 34
    assert a["MessageSid"] != b["MessageSid"]
    fixed = f.text("lagi", MessageSid="SM" + "f" * 32)
    assert fixed["MessageSid"] == fixed["SmsSid"] == fixed["SmsMessageSid"] == "SM" + "f" * 32
    other = InboundFactory(wa_id="628111", profile="Budi").text("x")
    assert other["From"] == "whatsapp:+628111" and other["ProfileName"] == "Budi"


def test_inbound_location() -> None:
    f = InboundFactory()
    loc = f.location(-6.2, 106.816666)
    _check_base(loc, "location")
    assert (loc["Body"], loc["Latitude"], loc["Longitude"]) == ("", "-6.2", "106.816666")
    assert "Address" not in loc and "Label" not in loc
    venue = f.location(-6.2, 106.8, address="Jl. Sudirman", label="Pasar")
    assert (venue["Address"], venue["Label"]) == ("Jl. Sudirman", "Pasar")


@pytest.mark.parametrize(
    ("content_type", "message_type"),
    [
        ("image/jpeg", "image"),
        ("video/mp4", "video"),
        ("audio/ogg", "audio"),
        ("application/pdf", "document"),
    ],
)
def test_inbound_media(content_type: str, message_type: str) -> None:
    m = InboundFactory().media(
        [("https://api.twilio.com/a", content_type), ("https://api.twilio.com/b", "image/png")],
        body="lihat",
    )
    _check_base(m, message_type)
    assert m["NumMedia"] == "2" and m["Body"] == "lihat"
    assert m["MediaUrl0"] == "https://api.twilio.com/a"
    assert m["MediaContentType0"] == content_type
    assert m["MediaUrl1"] == "https://api.twilio.com/b"
    assert m["MediaContentType1"] == "image/png"
    assert m["MessageSid"].startswith("MM")


def test_inbound_button_unknown_status() -> None:
    f = InboundFactory()
    b = f.button("CONFIRM_LPR-0042", "Ya, benar")
    _check_base(b, "button")
    assert (b["ButtonPayload"], b["ButtonText"], b["Body"]) == (
        "CONFIRM_LPR-0042",
        "Ya, benar",
        "Ya, benar",
    )
    u = f.unknown()
    _check_base(u, "reaction")
    assert u["Body"] == ""
    assert f.unknown("sticker")["MessageType"] == "sticker"

    s = f.status("SM" + "1" * 32, "delivered")
    assert {
        "MessageSid",
        "MessageStatus",
        "SmsSid",
        "SmsStatus",
        "AccountSid",
        "From",
        "To",
        "ChannelPrefix",
        "ApiVersion",
    } <= s.keys()
    assert s["MessageSid"] == s["SmsSid"] == "SM" + "1" * 32
    assert s["MessageStatus"] == s["SmsStatus"] == "delivered"
    assert (s["From"], s["To"]) == ("whatsapp:+14155238886", "whatsapp:+6281234567890")
    assert s["ChannelPrefix"] == "whatsapp"
    assert "ErrorCode" not in s
    failed = f.status("SM" + "1" * 32, "failed", error_code="63016")
    assert failed["ErrorCode"] == "63016"


def test_inbound_posts_through_a_real_webhook_shape(fake: FakeTwilioAPI) -> None:
    """The media URL from add_media fits InboundFactory.media and is downloadable."""
    url = fake.add_media("photo.jpg", b"img", "image/jpeg")
    form = InboundFactory().media([(url, "image/jpeg")])
    r = httpx.get(form["MediaUrl0"], auth=(ACCOUNT_SID, AUTH_TOKEN), follow_redirects=True)
    assert r.content == b"img"


def test_rewriting_http_client_records_request(fake: FakeTwilioAPI, client: Client) -> None:
    client.messages.create(to=USER, from_=SENDER, body="hdr")
    last = client.http_client._test_only_last_request
    assert last.url.startswith(fake.base_url + "/2010-04-01/Accounts/")
    assert last.headers["User-Agent"].startswith("twilio-python/")
    assert last.headers["Content-Type"] == "application/x-www-form-urlencoded"
