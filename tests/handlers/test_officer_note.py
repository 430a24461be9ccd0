"""What an officer writes when closing a report is kept and relayed, without who wrote it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from lapor.store.db import new_session
from lapor.store.models import ReportEvent
from tests.handlers.test_review import (
    ADMIN,
    GAMBIR_CHAT,
    OFFICER,
    VERIFIER,
    World,
    file,
    follow_nearby,
    to,
)
from tests.helpers import fake_photo


@pytest.mark.parametrize(
    ("before", "caption", "note"),
    [
        ([], "Sampah sudah diangkut truk DLH", "Sampah sudah diangkut truk DLH"),
        (["Sudah dibersihkan"], None, "Sudah dibersihkan"),
        (["Sudah dibersihkan"], "pagi ini", "Sudah dibersihkan pagi ini"),
        ([], None, None),
    ],
)
def test_the_officers_note_is_stored_and_told_to_reporter_and_followers(
    world: World, before: list[str], caption: str | None, note: str | None
) -> None:
    siti, budi = world.citizen("7000000001"), world.citizen("7000000002")
    ticket = file(siti)
    report_id = world.report(ticket).id
    follow_nearby(budi, report_id)
    world.press(ADMIN, VERIFIER, f"v:{report_id}")
    world.press(GAMBIR_CHAT, OFFICER, f"s:{report_id}")
    for text in before:
        out = world.say(GAMBIR_CHAT, OFFICER, text)
        assert "perlu foto" in out[0].text and "disimpan" in out[0].text
    out = world._group(GAMBIR_CHAT, OFFICER, photos=(fake_photo(77),), text=caption)
    assert world.report(ticket).status == "resolved"
    with new_session(world.engine) as session:
        event = session.scalars(
            select(ReportEvent).where(
                ReportEvent.report_id == report_id,
                ReportEvent.to_status == "resolved",
                ReportEvent.kind == "status",
            )
        ).one()
        reply = session.scalars(
            select(ReportEvent).where(
                ReportEvent.report_id == report_id, ReportEvent.kind == "reply"
            )
        ).one()
    assert event.note == note
    assert reply.note == note and reply.photo_id is not None, "the fix, as the public page shows it"
    for citizen in (siti, budi):
        told = to(out, citizen.address)[0].text
        assert (f"Catatan petugas: “{note}”" in told) is (note is not None), told
        assert f"user{OFFICER}" not in told and str(OFFICER) not in told
