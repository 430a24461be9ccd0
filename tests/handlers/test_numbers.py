"""Typed numbers do what their labels say, in every message that shows a numbered list.

WhatsApp and the console render choices as a numbered list and send back what the user
types; the core maps a typed "2" to a choice. The walk below goes through every step of
every citizen flow (and the notices staff actions send), and at each numbered list it
types every number and presses the same choice as a button, from the same stored state
(each attempt is rolled back): both must end in the same step with the same replies.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable

import pytest
from sqlalchemy import select

from lapor.handlers.steps import Step
from lapor.handlers.types import Inbound, Outbound
from lapor.store.db import new_session
from lapor.store.models import Conversation
from tests.handlers.test_review import (
    ADMIN,
    GAMBIR_CHAT,
    INSIDE_GAMBIR,
    OFFICER,
    ON_GAMBIR_SENEN_BORDER,
    VERIFIER,
    World,
    to,
)
from tests.helpers import Chat, fake_photo

_ids = itertools.count(1)
TICKET = re.compile(r"JKT-\d{4}-\d{5}")
ID = re.compile(r":\d+")
Outcome = tuple[str, list[tuple[str, str, list[str], str | None]]]


def attempt(world: World, chat: Chat, **fields: object) -> Outcome:
    """What one event would do: the next step and every message, then rolled back."""
    inbound = Inbound(
        channel=chat.channel, address=chat.address, message_id=f"try{next(_ids)}", **fields
    )
    with new_session(world.engine) as session:
        try:
            out = world.core.process(session, inbound)
            state = session.scalars(
                select(Conversation.state).where(
                    Conversation.channel == chat.channel, Conversation.address == chat.address
                )
            ).one()
        finally:
            session.rollback()
    # PostgreSQL does not roll sequences back: a report made twice gets two ids and tickets.
    return state, [
        (m.address, TICKET.sub("T", m.text), [ID.sub(":N", c.payload) for c in m.choices], m.photo)
        for m in out
    ]


class Walk:
    """A citizen whose every message is kept, so the latest numbered list is known."""

    def __init__(self, world: World, channel: str) -> None:
        self.world = world
        self.chat = Chat(world.engine, world.core, address=f"{channel}-warga", channel=channel)
        self.seen: list[Outbound] = []
        self.checked: list[str] = []

    def do(self, action: Callable[[], list[Outbound]]) -> None:
        before = len(self.world.sent)
        out = action()
        self.seen += to([*out, *self.world.sent[before:]], self.chat.address)
        self.check()

    def staff(self, action: Callable[[], list[Outbound]]) -> None:
        self.seen += to(action(), self.chat.address)
        self.check()

    def check(self) -> None:
        """Every number of the latest list against a press of the choice it labels."""
        listed = [m for m in self.seen if m.choices]
        assert listed, "the walk expects a numbered list by now"
        latest = listed[-1]
        for n, choice in enumerate(latest.choices, start=1):
            typed = attempt(self.world, self.chat, text=str(n))
            pressed = attempt(self.world, self.chat, choice=choice.payload)
            assert typed == pressed, f"{n}. {choice.label} under {latest.text[:60]!r}"
        self.checked.append(latest.text.splitlines()[0])


@pytest.mark.parametrize("channel", ["whatsapp", "console"])
def test_every_number_in_every_list_does_what_its_label_says(engine, clock, channel) -> None:  # type: ignore[no-untyped-def]
    world = World(engine, clock)
    neighbour = world.citizen("7000000009")  # a public report the walk will be offered
    for step in ("/lapor", "cat:sampah", "photo", "border", "kel:DEMO.01", "note:skip"):
        if step == "photo":
            neighbour.photo(fake_photo(500))
        elif step == "border":
            neighbour.location(*ON_GAMBIR_SENEN_BORDER)
        else:
            neighbour.send(**({"text": step} if step.startswith("/") else {"choice": step}))
    neighbour.choose("confirm:yes")
    walk = Walk(world, channel)
    chat = walk.chat

    walk.do(lambda: chat.text("/start"))  # the menu
    walk.do(lambda: chat.text("/bahasa"))  # the languages
    walk.do(lambda: chat.choose("lang:id"))  # back to the menu
    walk.do(lambda: chat.text("/lapor"))  # categories
    walk.do(lambda: chat.choose("cat:sampah"))  # photo (Batal)
    walk.do(lambda: chat.photo(fake_photo(501, gps=INSIDE_GAMBIR)))  # location, photo's own
    walk.do(lambda: chat.location(*ON_GAMBIR_SENEN_BORDER))  # which kelurahan
    walk.do(lambda: chat.choose("kel:DEMO.01"))  # note (Lewati)
    walk.do(lambda: chat.location())  # not a note: said so, with the same choices
    walk.do(lambda: chat.text("/bantuan"))  # help, and the step again
    walk.do(lambda: chat.choose("note:skip"))  # a similar report: follow or not
    assert chat.state == Step.SIMILAR
    walk.do(lambda: chat.choose("dup:new"))  # public, rahasia, Batal
    walk.do(lambda: chat.choose("confirm:yes"))  # the ticket
    ticket = re.search(r"JKT-\d{4}-\d{5}", chat.said).group(0)  # type: ignore[union-attr]
    walk.do(lambda: chat.choose("menu:mine"))  # Laporan saya

    walk.do(lambda: chat.text("/lapor"))  # the same problem again: follow this time
    walk.do(lambda: chat.choose("cat:sampah"))
    walk.do(lambda: chat.photo(fake_photo(502)))
    walk.do(lambda: chat.location(*ON_GAMBIR_SENEN_BORDER))
    walk.do(lambda: chat.choose("kel:DEMO.01"))
    walk.do(lambda: chat.choose("note:skip"))
    follow = next(p for p in chat.payloads if p.startswith("follow:"))
    walk.do(lambda: chat.choose(follow))  # followed
    walk.do(lambda: chat.choose("menu:mine"))  # Laporan saya, with the followed one

    walk.do(lambda: chat.text("/saran"))  # saran text (Batal)
    walk.do(lambda: chat.text("Tambah tempat sampah di taman"))  # send or cancel
    walk.do(lambda: chat.choose("fb:send"))  # done
    walk.do(lambda: chat.text("/apresiasi"))
    walk.do(lambda: chat.text("Petugas cepat sekali"))
    walk.do(lambda: chat.text("batal"))  # cancelled, and the menu

    # Resolved while the citizen is in the middle of another report.
    report_id = world.report(ticket).id
    walk.do(lambda: chat.text("/lapor"))
    walk.staff(lambda: world.press(ADMIN, VERIFIER, f"v:{report_id}"))
    walk.staff(lambda: world.press(GAMBIR_CHAT, OFFICER, f"s:{report_id}"))
    walk.staff(lambda: world.photo(GAMBIR_CHAT, OFFICER))  # the rating list
    walk.do(lambda: chat.text("/laporansaya"))  # "Beri nilai" for the unrated report
    walk.do(lambda: chat.choose(f"rating:{report_id}"))  # 1-5
    walk.do(lambda: chat.choose(f"rate:{report_id}:2"))  # the comment (Batal)
    walk.do(lambda: chat.text("Masih ada sampah"))  # thanks, and the categories again
    assert chat.state == Step.CATEGORY, "the draft survived the rating"
    assert len(walk.checked) == 36
