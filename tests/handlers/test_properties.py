"""Property tests: any sequence of events from several users leaves a consistent store."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from lapor.handlers.context import CoreConfig
from lapor.handlers.core import Core
from lapor.handlers.steps import Step
from lapor.handlers.types import GeoPoint, Inbound
from lapor.store.db import make_engine, new_session, transaction
from lapor.store.migrate import upgrade_engine
from lapor.store.models import Conversation, Outbox, Report, ReportPhoto
from tests.conftest import FakeClock
from tests.helpers import fake_photo

PAYLOADS = [
    "menu:report",
    "menu:saran",
    "menu:apresiasi",
    "menu:mine",
    "menu:help",
    "menu:lang",
    "menu:home",
    "cancel",
    "cat:sampah",
    "cat:banjir",
    "cat:tidak-ada",
    "note:skip",
    "confirm:yes",
    "fb:send",
    "lang:id",
    "lang:en",
    "loc:photo",
    "garbage",
    "",
]
TEXTS = [
    "/start",
    "/lapor",
    "/saran",
    "/apresiasi",
    "/laporansaya",
    "/bahasa",
    "/bantuan",
    "/batal",
    "/cancel",
    "/tidakada",
    "menu",
    "batal",
    "1",
    "2",
    "3",
    "13",
    "0",
    "99",
    "Sampah",
    "lewati",
    "Kirim",
    "Kirim laporan",
    "English",
    "",
    "   ",
]

events = st.one_of(
    st.tuples(st.just("text"), st.one_of(st.sampled_from(TEXTS), st.text(max_size=1200))),
    st.tuples(st.just("choice"), st.sampled_from(PAYLOADS)),
    st.tuples(
        st.just("photo"),
        st.tuples(st.integers(1, 50), st.sampled_from([None, "g1", "g2"]), st.booleans()),
    ),
    st.tuples(st.just("photo_error"), st.sampled_from(["format", "bomb", "truncated", "odd"])),
    st.tuples(st.just("location"), st.tuples(st.floats(-100, 100), st.floats(-200, 200))),
    st.tuples(st.just("unsupported"), st.sampled_from(["sticker", "voice", "poll", "weird"])),
    st.tuples(st.just("wait"), st.integers(1, 45)),
    st.tuples(st.just("redeliver"), st.none()),
)


@pytest.fixture(scope="module")
def shared_engine() -> Iterator[Engine]:
    engine = make_engine("sqlite://")
    upgrade_engine(engine)
    yield engine
    engine.dispose()


_run = itertools.count()
_confirmed: list[int] = []


HAPPY = [
    ("text", "/lapor"),
    ("choice", "cat:sampah"),
    ("photo", (1, None, False)),
    ("location", (-6.2, 106.8)),
    ("choice", "note:skip"),
    ("choice", "confirm:yes"),
    ("text", "/saran"),
    ("text", "Tambah taman"),
    ("choice", "fb:send"),
]


@st.composite
def flowish(draw: st.DrawFn) -> list:
    """The happy path with noise between its steps, so reports actually get confirmed."""
    script = []
    for step in HAPPY:
        script += draw(st.lists(st.tuples(st.integers(0, 2), events), max_size=2))
        script.append((draw(st.integers(0, 2)), step))
    return script


# The check below reads what this test recorded: the two run in one process, one after the
# other (one xdist group), when the suite runs on several workers.
@pytest.mark.xdist_group("store-properties")
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    script=st.one_of(
        st.lists(st.tuples(st.integers(0, 2), events), min_size=1, max_size=40), flowish()
    )
)
def test_any_sequence_keeps_the_store_consistent(shared_engine: Engine, script) -> None:  # type: ignore[no-untyped-def]
    run = next(_run)
    clock = FakeClock()
    core = Core(CoreConfig(), clock)
    users = [f"p{run}-{n}" for n in range(3)]
    last_id: dict[str, str] = {}
    for index, (user, (kind, value)) in enumerate(script):
        address = users[user]
        if kind == "wait":
            clock.advance(minutes=value)
            continue
        message_id = f"{address}-{index}"
        fields: dict = {}
        if kind == "redeliver":
            if address not in last_id:
                continue
            message_id = last_id[address]
            fields["text"] = "/start"
        elif kind == "text":
            fields["text"] = value
        elif kind == "choice":
            fields["choice"] = value
        elif kind == "photo":
            n, group, gps = value
            fields["photos"] = (fake_photo(n, gps=(-6.2, 106.8) if gps else None),)
            fields["media_group"] = group
        elif kind == "photo_error":
            fields["photo_error"] = value
        elif kind == "location":
            fields["location"] = GeoPoint(latitude=value[0], longitude=value[1])
        elif kind == "unsupported":
            fields["unsupported"] = value
        last_id[address] = message_id
        inbound = Inbound(channel="console", address=address, message_id=message_id, **fields)
        with transaction(shared_engine) as session:
            outbound = core.process(session, inbound)
        for message in outbound:
            assert message.text.strip(), "every reply says something"
            payloads = [c.payload for c in message.choices]
            assert len(payloads) == len(set(payloads))

    with new_session(shared_engine) as session:
        for conversation in session.scalars(
            select(Conversation).where(Conversation.address.in_(users))
        ):
            assert conversation.state in {s.value for s in Step}
        reports = session.scalars(
            select(Report).where(Report.channel == "console", Report.ticket.is_not(None))
        ).all()
        _confirmed.append(len(reports))
        for report in reports:
            if report.kind == "laporan":
                photos = session.execute(
                    select(func.count())
                    .select_from(ReportPhoto)
                    .where(ReportPhoto.report_id == report.id)
                ).scalar_one()
                assert report.category_id is not None
                assert 1 <= photos <= 3
                assert report.latitude is not None and -90 <= report.latitude <= 90
                assert report.longitude is not None and -180 <= report.longitude <= 180
            else:
                assert report.note and report.note.strip()
            assert report.status == "submitted"
        assert (
            session.execute(
                select(func.count()).select_from(Outbox).where(Outbox.status != "pending")
            ).scalar_one()
            == 0
        )


@pytest.mark.xdist_group("store-properties")
def test_the_property_run_confirmed_reports(shared_engine: Engine) -> None:
    """Guards the test above against only ever exploring dead ends. On a worker that did
    not run it first (parallel runs), it runs the search here."""
    if not _confirmed:
        test_any_sequence_keeps_the_store_consistent(shared_engine)
    assert sum(_confirmed) > 20
