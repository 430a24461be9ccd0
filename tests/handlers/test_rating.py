"""The rating stays askable: at any step, without losing a draft, and from "Laporan saya"."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from lapor.handlers.steps import Step
from lapor.store.db import new_session
from lapor.store.models import Conversation
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
from tests.helpers import Chat, fake_photo


def resolve(world: World, ticket: str) -> list:  # type: ignore[type-arg]
    report_id = world.report(ticket).id
    world.press(ADMIN, VERIFIER, f"v:{report_id}")
    world.press(GAMBIR_CHAT, OFFICER, f"s:{report_id}")
    return world.photo(GAMBIR_CHAT, OFFICER)


def draft(chat: Chat) -> dict:  # type: ignore[type-arg]
    with new_session(chat.engine) as session:
        row = session.scalars(
            select(Conversation).where(Conversation.address == chat.address)
        ).one()
        return {k: v for k, v in row.data.items() if k != "shown"}


DRAFTS: dict[str, tuple[list[Callable[[Chat], object]], Step]] = {
    "idle": ([], Step.IDLE),
    "category": ([lambda c: c.text("/lapor")], Step.CATEGORY),
    "location": (
        [
            lambda c: c.text("/lapor"),
            lambda c: c.choose("cat:banjir"),
            lambda c: c.photo(fake_photo(9)),
        ],
        Step.LOCATION,
    ),
    "saran text": (
        [lambda c: c.text("/saran"), lambda c: c.text("Tambah taman")],
        Step.FEEDBACK_CONFIRM,
    ),
}


@pytest.mark.parametrize("how", ["button", "typed number"])
@pytest.mark.parametrize("where", list(DRAFTS))
def test_a_rating_at_any_step_keeps_the_draft(world: World, where: str, how: str) -> None:
    siti = world.citizen()
    ticket = file(siti)
    report_id = world.report(ticket).id
    steps, step = DRAFTS[where]
    for act in steps:
        act(siti)
    before = draft(siti)
    notice = to(resolve(world, ticket), siti.address)[0]
    assert [c.payload for c in notice.choices][-1] == f"rate:{report_id}:5"
    if how == "button":
        siti.choose(f"rate:{report_id}:4")
    else:
        siti.text("4")
    assert "4/5" in siti.said and world.report(ticket).rating == 4
    assert siti.state == step and draft(siti) == before, "the draft is where it was"
    if step is not Step.IDLE:
        assert siti.payloads, "the interrupted step is asked again, with its choices"


def test_a_low_rating_mid_draft_takes_a_comment_then_returns_to_the_draft(world: World) -> None:
    siti = world.citizen()
    ticket = file(siti)
    siti.text("/lapor")
    siti.choose("cat:banjir")
    resolve(world, ticket)
    siti.text("1")
    assert siti.state == Step.RATING_COMMENT
    siti.text("Masih bocor")
    assert world.report(ticket).status == "in_progress"
    assert siti.state == Step.PHOTO and "Banjir" in siti.said


def test_my_reports_offers_the_rating_later_and_lists_followed_reports(world: World) -> None:
    siti, budi = world.citizen("7000000001"), world.citizen("7000000002")
    ticket = file(siti)
    report_id = world.report(ticket).id
    follow_nearby(budi, report_id)
    budi.text("/laporansaya")
    assert ticket in budi.said and "(diikuti)" in budi.said, "a follower sees what they follow"
    assert f"rating:{report_id}" not in budi.payloads

    resolve(world, ticket)
    siti.text("Halo")  # anything else: the rating question is not lost for good
    siti.text("/laporansaya")
    assert f"rating:{report_id}" in siti.payloads and "Beri nilai" in siti.last[0].choices[0].label
    number = siti.payloads.index(f"rating:{report_id}") + 1
    siti.text(str(number))
    assert ticket in siti.said and siti.payloads[:5] == [
        f"rate:{report_id}:{n}" for n in range(1, 6)
    ]
    siti.text("5")
    assert "5/5" in siti.said and world.report(ticket).rating == 5
    siti.text("/laporansaya")
    assert f"rating:{report_id}" not in siti.payloads, "rated once: no longer offered"
    budi.choose(f"rating:{report_id}")
    assert "hanya dapat diberikan oleh pelapor" in budi.said


@pytest.mark.parametrize(("acknowledged", "label"), [(False, "Diterima"), (True, "Sudah dibaca")])
def test_saran_in_my_reports_is_received_or_read_never_awaiting_verification(
    world: World, acknowledged: bool, label: str
) -> None:
    siti = world.citizen()
    siti.text("/saran")
    siti.text("Tambah tempat sampah")
    siti.choose("fb:send")
    if acknowledged:
        card = to(siti.last, ADMIN)[0]
        world.press(ADMIN, VERIFIER, card.choices[0].payload)
    siti.text("/laporansaya")
    assert label in siti.said and "Menunggu verifikasi" not in siti.said
