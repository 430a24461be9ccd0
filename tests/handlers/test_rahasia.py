"""A rahasia (private) report is seen by its reporter and the staff, and nobody else."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from lapor.handlers.steps import Step
from lapor.store.db import new_session, transaction
from lapor.store.models import Contact, ReportFollower
from tests.handlers.test_review import (
    ADMIN,
    GAMBIR_CHAT,
    INSIDE_GAMBIR,
    OFFICER,
    VERIFIER,
    World,
    file,
    to,
)
from tests.helpers import Chat, fake_photo

NEARBY = (INSIDE_GAMBIR[0] + 0.001, INSIDE_GAMBIR[1])  # about 110 m away


def file_as(citizen: Chat, visibility: str, n: int = 1) -> str:
    """A laporan sent as public ("confirm:yes") or rahasia ("confirm:private")."""
    citizen.text("/lapor")
    citizen.choose("cat:sampah")
    citizen.photo(fake_photo(n))
    citizen.location(*INSIDE_GAMBIR)
    citizen.choose("note:skip")
    citizen.choose(visibility)
    return re.search(r"JKT-\d{4}-\d{5}", citizen.said).group(0)  # type: ignore[union-attr]


def start_similar(budi: Chat, point: tuple[float, float], n: int) -> None:
    budi.text("/lapor")
    budi.choose("cat:sampah")
    budi.photo(fake_photo(n))
    budi.location(*point)
    budi.choose("note:skip")


@pytest.mark.parametrize(
    ("visibility", "offered"), [("confirm:yes", True), ("confirm:private", False)]
)
@pytest.mark.parametrize(
    ("how", "point", "photo"),
    [("nearby", NEARBY, 2), ("same photo far away", (-6.195, 106.84), 1)],
)
def test_only_public_reports_are_offered_as_similar(
    world: World, visibility: str, offered: bool, how: str, point, photo: int
) -> None:  # type: ignore[no-untyped-def]
    ticket = file_as(world.citizen("7000000001"), visibility, n=1)
    budi = world.citizen("7000000002")
    start_similar(budi, point, photo)
    assert (ticket in budi.said) is offered, how
    assert (budi.state == Step.SIMILAR) is offered
    if not offered:
        assert budi.state == Step.CONFIRM


def test_a_rahasia_report_tells_only_its_reporter_even_with_an_old_follower(world: World) -> None:
    siti, budi = world.citizen("7000000001"), world.citizen("7000000002")
    ticket = file_as(siti, "confirm:private")
    report_id = world.report(ticket).id
    budi.text("/start")
    with transaction(world.engine) as session:  # a follower recorded before the rule
        budi_id = session.scalars(select(Contact.id).where(Contact.address == budi.address)).one()
        session.add(
            ReportFollower(report_id=report_id, contact_id=budi_id, created_at=world.clock())
        )
    out = world.press(ADMIN, VERIFIER, f"v:{report_id}")
    assert to(out, siti.address) and not to(out, budi.address)
    world.press(GAMBIR_CHAT, OFFICER, f"s:{report_id}")
    out = world.photo(GAMBIR_CHAT, OFFICER)
    assert to(out, siti.address)[0].photo, "the reporter gets the after-photo"
    assert not to(out, budi.address), "nobody else gets it"
    budi.text("/laporansaya")
    assert ticket not in budi.said


def test_a_duplicate_of_a_rahasia_report_does_not_follow_it(world: World) -> None:
    siti, budi = world.citizen("7000000001"), world.citizen("7000000002")
    original = file_as(siti, "confirm:private", n=1)
    copy = file(budi, INSIDE_GAMBIR, n=7)
    world.press(ADMIN, VERIFIER, f"d:{world.report(copy).id}")
    out = world.say(ADMIN, VERIFIER, original)
    assert world.report(copy).status == "duplicate"
    told = to(out, budi.address)[0].text
    assert original not in told and "laporan lain" in told
    with new_session(world.engine) as session:
        assert session.scalars(select(ReportFollower)).first() is None
    out = world.press(ADMIN, VERIFIER, f"v:{world.report(original).id}")
    assert not to(out, budi.address)


@pytest.mark.parametrize(
    ("visibility", "marked"), [("confirm:private", True), ("confirm:yes", False)]
)
def test_staff_cards_mark_a_rahasia_report(world: World, visibility: str, marked: bool) -> None:
    siti = world.citizen("7000000001")
    ticket = file_as(siti, visibility)
    admin_card = to(siti.last, ADMIN)[0].text
    out = world.press(ADMIN, VERIFIER, f"v:{world.report(ticket).id}")
    group_card = to(out, GAMBIR_CHAT)[0].text
    edited = [m.text for m in to(out, ADMIN) if m.edit]
    for text in (admin_card, group_card, *edited):
        assert ("RAHASIA" in text) is marked, text
