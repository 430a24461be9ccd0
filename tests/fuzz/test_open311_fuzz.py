"""Random and boundary input through the real Open311 app, on SQLite and PostgreSQL.

Whatever a client sends (query strings, path segments, form and JSON bodies), the answer is
never a 5xx, an error is in the spec's shape (and XML parses), and nothing is written
unless a POST answers 200. Media URLs are drawn from a set that never leaves the machine.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from lapor.bot.runtime import Runtime
from lapor.bot.settings import load_settings
from lapor.bot.web import create_app
from lapor.routing import ensure_demo_registry
from lapor.store import open311 as open311_store
from lapor.store.db import transaction
from lapor.store.models import Contact, Outbox, Photo, Report
from tests.bot.test_open311 import ADMIN, GAMBIR, JURISDICTION, count, photos
from tests.conftest import FakeClock
from tests.fakes.loopback import LoopbackServer

__all__ = ["photos"]  # the photo host fixture of the Open311 tests

# A few seconds per database: each example is one request (a filed one runs the photo
# pipeline too).
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
PREFIX = "/open311/v2"
# The spec's parameters and fields, and a few it does not know.
QUERY_NAMES = ["jurisdiction_id", "service_request_id", "service_code", "status", "start_date"]
QUERY_NAMES += ["end_date", "page", "api_key"]
FIELDS = ["jurisdiction_id", "api_key", "service_code", "lat", "long", "address_string"]
FIELDS += ["address_id", "description", "email", "phone", "device_id", "account_id"]
FIELDS += ["first_name", "last_name", "media_url", "attribute[kedalaman]", "extra"]
# Stand-ins for what only the fixtures know.
KEY = "<api key>"
PHOTO = "<photo url>"

BOUNDARY = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "\x0b",
        "\x1f",
        "\ufffe",
        "\uffff",
        "é",
        "²",
        "１",
        "9999-12-31",
        "0001-01-01",
        "9999-12-31T23:59:59-23:59",
        "2026-11-28",
        "2026-11-28T00:00:00+07:00",
        "2026-11-28T00:00:00Z",
        "-1",
        "0",
        "1e400",
        "nan",
        "-inf",
        "-6.1754",
        "106.8272",
        "95",
        "open",
        "closed",
        "open,closed",
        ",,,",
        "sampah",
        "banjir,sampah",
        "JKT-2611-00001",
        "jkt-2611-00001,JKT-2611-00002",
        JURISDICTION,
        "bandung.go.id",
        "x" * 300,
        "%00",
        "<b>&amp;</b>",
    ]
)
# Anything a URL or a form can carry (lone surrogates cannot be encoded into one).
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
VALUE = st.one_of(BOUNDARY, TEXT)
QUERY = st.lists(
    st.tuples(st.one_of(st.sampled_from(QUERY_NAMES), TEXT), VALUE),
    max_size=6,
)
# Never a URL that could reach beyond this machine: ours, malformed ones, closed ports.
MEDIA = st.one_of(
    st.sampled_from(
        [
            PHOTO,
            "<missing photo>",
            "<not a photo>",
            "http://127.0.0.1:1/x.jpg",
            "http://" + "a" * 300 + "/x.jpg",
            "http://" + "a" * 64 + ".test/x.jpg",
            "http://127.0.0.1:99999/x.jpg",
            "http://[::1/x.jpg",
            "ftp://127.0.0.1/x.jpg",
            "http://127.0.0.1/\x00",
            "",
        ]
    ),
    TEXT.filter(lambda text: not text.strip().lower().startswith("http")),
)
JSON_VALUE = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        VALUE,
        st.sampled_from(["\ud800", "\udfff", "a\udc00b"]),
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)),
    max_leaves=8,
)


def _changes(value: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Up to three fields set to `value` (media_url to MEDIA), or removed (None)."""
    names = st.lists(st.sampled_from(FIELDS), max_size=3, unique=True)
    return names.flatmap(
        lambda chosen: st.fixed_dictionaries(
            {n: st.one_of(st.none(), MEDIA if n == "media_url" else value) for n in chosen}
        )
    )


FORM_BODY = st.tuples(st.booleans(), _changes(VALUE))
JSON_BODY = st.tuples(st.booleans(), _changes(JSON_VALUE))
RAW_JSON = st.one_of(
    st.binary(max_size=200),
    st.integers(1, 40_000).map(lambda depth: b"[" * depth + b"]" * depth),
    st.integers(1, 40_000).map(lambda depth: b'{"a":' * depth + b"1" + b"}" * depth),
)


@dataclass
class Fuzz:
    client: httpx.Client
    engine: Engine
    key: str
    photos: str

    def rows(self) -> list[int]:
        return [count(self.engine, model) for model in (Report, Contact, Outbox, Photo)]

    def body(self, start_valid: bool, changes: dict[str, Any]) -> dict[str, Any]:
        """A valid filing or nothing, with `changes` applied, stand-ins replaced."""
        body: dict[str, Any] = {}
        if start_valid:
            body = {
                "api_key": KEY,
                "service_code": "sampah",
                "lat": str(GAMBIR[0]),
                "long": str(GAMBIR[1]),
                "media_url": PHOTO,
                "email": "warga@example.org",
                "description": "Sampah menumpuk",
            }
        body.update(changes)
        stand_ins = {
            KEY: self.key,
            PHOTO: f"{self.photos}/gps.jpg",
            "<missing photo>": f"{self.photos}/missing.jpg",
            "<not a photo>": f"{self.photos}/text.jpg",
        }
        # None stays: JSON sends it as null (absent to lapor), a form leaves the field out.
        return {
            name: stand_ins.get(value, value) if isinstance(value, str) else value
            for name, value in body.items()
        }


def check(response: httpx.Response, fmt: str) -> None:
    """No 5xx; an Open311 error is [{code, description}] with the answer's status."""
    assert response.status_code < 500, response.text
    if response.status_code < 400 or fmt not in ("json", "xml"):
        return
    if not response.headers.get("content-type", "").startswith(("application/json", "text/xml")):
        return  # the router's own 404 for a path that is no endpoint
    if fmt == "json":
        [error] = response.json()
        assert set(error) == {"code", "description"}
        assert error["code"] == response.status_code
    else:
        root = ET.fromstring(response.content)
        assert root.tag == "errors"
        assert root.findtext("error/code") == str(response.status_code)


@pytest.fixture
def fuzz(db_url: str, engine: Engine, clock: FakeClock, tmp_path, photos: str) -> Iterator[Fuzz]:  # type: ignore[no-untyped-def]
    config = load_settings(
        _env_file=None,
        database_url=db_url,
        media_dir=tmp_path / "media",
        telegram_admin_chat_id=int(ADMIN),
        open311_jurisdiction=JURISDICTION,
        open311_media_private=True,  # the photos are served on loopback
    )
    key = open311_store.new_api_key()
    with transaction(engine) as session:
        ensure_demo_registry(session, clock())
        open311_store.add_key(session, "Aplikasi mitra", key, clock())
    runtime = Runtime.from_settings(config, clock=clock)
    server = LoopbackServer(create_app(config, runtime=runtime), "lapor-web")
    server.start()
    with httpx.Client(base_url=f"http://127.0.0.1:{server.port}") as client:
        yield Fuzz(client, engine, key, photos)
    server.stop()
    runtime.dispose()


@FUZZ
@given(fmt=st.sampled_from(["json", "xml"]), query=QUERY)
def test_any_query_of_requests_is_answered(fuzz: Fuzz, fmt: str, query: list[tuple]) -> None:
    before = fuzz.rows()
    check(fuzz.client.get(f"{PREFIX}/requests.{fmt}", params=query), fmt)
    assert fuzz.rows() == before


@FUZZ
@given(
    endpoint=st.sampled_from(
        [
            "requests/{}.json",
            "requests/{}.xml",
            "services/{}.json",
            "services/{}.xml",
            "tokens/{}.json",
            "media/{}.jpg",
        ]
    ),
    segment=st.one_of(BOUNDARY, TEXT).filter(bool),
    query=QUERY,
)
def test_any_path_segment_is_answered(
    fuzz: Fuzz, endpoint: str, segment: str, query: list[tuple]
) -> None:
    before = fuzz.rows()
    path = f"{PREFIX}/" + endpoint.format(quote(segment, safe=""))
    check(fuzz.client.get(path, params=query), endpoint.rsplit(".", 1)[1])
    assert fuzz.rows() == before


def _filed(fuzz: Fuzz, before: list[int], response: httpx.Response) -> None:
    """A 200 filed exactly one report; anything else wrote nothing at all."""
    after = fuzz.rows()
    if response.status_code == 200:
        assert after[0] == before[0] + 1
        assert all(a >= b for a, b in zip(after, before, strict=True))
    else:
        assert after == before


@FUZZ
@given(fmt=st.sampled_from(["json", "xml"]), body=FORM_BODY)
def test_any_form_post_is_answered_and_writes_all_or_nothing(
    fuzz: Fuzz, fmt: str, body: tuple[bool, dict[str, Any]]
) -> None:
    before = fuzz.rows()
    data = {name: str(value) for name, value in fuzz.body(*body).items() if value is not None}
    response = fuzz.client.post(f"{PREFIX}/requests.{fmt}", data=data)
    check(response, fmt)
    _filed(fuzz, before, response)


@FUZZ
@given(fmt=st.sampled_from(["json", "xml"]), body=JSON_BODY, raw=st.none() | RAW_JSON)
def test_any_json_post_is_answered_and_writes_all_or_nothing(
    fuzz: Fuzz, fmt: str, body: tuple[bool, dict[str, Any]], raw: bytes | None
) -> None:
    before = fuzz.rows()
    content = raw if raw is not None else json.dumps(fuzz.body(*body)).encode()
    response = fuzz.client.post(
        f"{PREFIX}/requests.{fmt}", content=content, headers={"content-type": "application/json"}
    )
    check(response, fmt)
    _filed(fuzz, before, response)
