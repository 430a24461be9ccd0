"""Fuzz: whatever an officer sends after "Balas warga" or "Foto progres", and whatever a
citizen sends after "Tambah keterangan/foto", on both databases.

No exception, no status change, at most one event per message, every stored text cut to
its limit, and nothing but the office's name reaches the citizen.
"""

from __future__ import annotations

from itertools import count

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from lapor.handlers.review import REPLY_MAX
from lapor.handlers.types import GeoPoint
from lapor.store.db import new_session
from lapor.store.models import Report, ReportEvent
from tests.handlers.test_review import ADMIN, GAMBIR_CHAT, OFFICER, VERIFIER, World, file, to
from tests.helpers import fake_photo

TEXT = st.one_of(
    st.sampled_from(["", " ", "\x00", "\u202e", "/batal", "1", "x" * 5000, "w:1", "add:1"]),
    st.text(max_size=1200),
)


@st.composite
def message(draw: st.DrawFn) -> dict:
    kind = draw(st.sampled_from(["text", "photo", "sticker", "location", "bad_photo", "button"]))
    if kind == "text":
        return {"text": draw(TEXT)}
    if kind == "photo":
        return {"photos": (fake_photo(draw(st.integers(100, 110))),), "text": draw(TEXT)}
    if kind == "sticker":
        return {"unsupported": "sticker"}
    if kind == "location":
        return {"location": GeoPoint(draw(st.floats(-91, 91)), draw(st.floats(-181, 181)))}
    if kind == "bad_photo":
        return {"photo_error": draw(st.sampled_from(["format", "too_large", "download", "?"]))}
    return {"choice": draw(st.one_of(TEXT, st.sampled_from(["w:1", "f:1", "add:1", "cancel"])))}


def _events(world: World, report_id: int) -> int:
    with new_session(world.engine) as session:
        return session.execute(
            select(func.count())
            .select_from(ReportEvent)
            .where(ReportEvent.report_id == report_id, ReportEvent.kind != "status")
        ).scalar_one()


@pytest.fixture
def world(engine, clock) -> World:  # type: ignore[no-untyped-def]
    """The staff-side handler tests' city (tests/handlers/test_review.py)."""
    return World(engine, clock)


_citizens = count(1)
FUZZ = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(action=st.sampled_from(["w", "f"]), sent=st.lists(message(), min_size=1, max_size=4))
def test_officer_input_after_reply_or_progress(world: World, action: str, sent: list) -> None:  # type: ignore[type-arg]
    citizen = world.citizen(f"70100{next(_citizens):05d}")
    report_id = world.report(file(citizen, n=next(_citizens) + 1000)).id
    world.press(ADMIN, VERIFIER, f"v:{report_id}")
    world.press(GAMBIR_CHAT, OFFICER, f"{action}:{report_id}")
    before = _events(world, report_id)
    for fields in sent:
        out = world._group(GAMBIR_CHAT, OFFICER, **fields)
        for message_ in to(out, citizen.address):
            assert "Petugas Kelurahan Gambir (demo)" in message_.text
            assert str(OFFICER) not in message_.text
    with new_session(world.engine) as session:
        notes = session.scalars(
            select(ReportEvent.note).where(
                ReportEvent.report_id == report_id, ReportEvent.kind != "status"
            )
        ).all()
    assert _events(world, report_id) - before <= len(sent)
    assert all(note is None or len(note) <= REPLY_MAX for note in notes)
    with new_session(world.engine) as session:
        assert session.get(Report, report_id).status == "forwarded"  # type: ignore[union-attr]


@FUZZ
@given(sent=st.lists(message(), min_size=1, max_size=4))
def test_citizen_input_after_add(world: World, sent: list) -> None:  # type: ignore[type-arg]
    citizen = world.citizen(f"70200{next(_citizens):05d}")
    report_id = world.report(file(citizen, n=next(_citizens) + 2000)).id
    citizen.choose(f"add:{report_id}")
    for fields in sent:
        citizen.send(**fields)
        for message_ in citizen.last:
            if message_.address != citizen.address:
                assert citizen.address not in message_.text
    with new_session(world.engine) as session:
        notes = session.scalars(
            select(ReportEvent.note).where(
                ReportEvent.report_id == report_id, ReportEvent.kind == "addition"
            )
        ).all()
    assert len(notes) <= len(sent)
    assert all(note is None or len(note) <= 1000 for note in notes)
