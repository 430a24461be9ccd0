"""Button payloads: every kind lapor sends reads back as itself; forged ones change nothing.

Telegram clients can send any callback_data and WhatsApp any ButtonPayload, so a payload
is untrusted input: ids beyond the 32-bit columns, letters where a number belongs, an index
past the list. Each forged payload is pressed on every surface (a Telegram private chat,
the admin chat, a kelurahan group, a WhatsApp button, WhatsApp typed text) and must get a
polite answer and leave every report, follower and contact as it was.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from lapor.handlers import payloads
from lapor.handlers.context import SHOWN
from lapor.handlers.payloads import (
    Action,
    CategoryPick,
    Follow,
    KelurahanPick,
    Language,
    Menu,
    Rate,
    Staff,
    Word,
    parse,
)
from lapor.store.db import new_session
from lapor.store.models import Contact, Conversation, Kelurahan, Report, ReportEvent, ReportFollower
from tests.handlers.test_review import ADMIN, GAMBIR_CHAT, OFFICER, VERIFIER, World, file
from tests.helpers import Chat

# -- every payload lapor sends parses back to what it means ---------------------------------

SENT = [
    ("menu:report", Menu("report")),
    ("menu:quota", Menu("quota")),
    ("cancel", Menu("cancel")),
    ("note:skip", Word("note:skip")),
    ("confirm:private", Word("confirm:private")),
    ("fb:send", Word("fb:send")),
    ("loc:photo", Word("loc:photo")),
    ("dup:new", Word("dup:new")),
    (payloads.language("en"), Language("en")),
    (payloads.category("jalan-rusak"), CategoryPick("jalan-rusak")),
    (payloads.kelurahan("31.71.01.1001"), KelurahanPick("31.71.01.1001")),
    (payloads.kelurahan("KEL 01:A"), KelurahanPick("KEL 01:A")),
    (payloads.follow(42), Follow(42)),
    (payloads.rate(2**31 - 1, 5), Rate(2**31 - 1, 5)),
    (payloads.rate(1, 1), Rate(1, 1)),
    (payloads.staff(Action.VERIFY, 7), Staff(Action.VERIFY, 7)),
    (payloads.staff(Action.ACKNOWLEDGE, 7), Staff(Action.ACKNOWLEDGE, 7)),
    (payloads.staff(Action.REROUTE, 7), Staff(Action.REROUTE, 7)),
    (payloads.staff(Action.REJECT_REASON, 7, 3), Staff(Action.REJECT_REASON, 7, reason=3)),
    (
        payloads.staff(Action.SET_CATEGORY, 7, "banjir"),
        Staff(Action.SET_CATEGORY, 7, category="banjir"),
    ),
    (payloads.staff(Action.PROGRESS, 7), Staff(Action.PROGRESS, 7)),
    (payloads.staff(Action.DONE, 7), Staff(Action.DONE, 7)),
    (payloads.staff(Action.NOT_OURS, 7), Staff(Action.NOT_OURS, 7)),
]


@pytest.mark.parametrize(("payload", "expected"), SENT, ids=[p for p, _ in SENT])
def test_sent_payload_reads_back(payload: str, expected: object) -> None:
    assert parse(payload) == expected


def test_every_action_and_word_is_written_the_way_it_is_read() -> None:
    for action in Action:
        extra = {Action.REJECT_REASON: 0, Action.SET_CATEGORY: "sampah"}.get(action)
        parsed = parse(payloads.staff(action, 1, extra))
        assert isinstance(parsed, Staff) and parsed.action is action
    for word in payloads.WORDS:
        assert parse(word) == Word(word)
    for payload, action in payloads.MENU_PAYLOADS.items():
        assert parse(payload) == Menu(action)


# Forged and out-of-range payloads; "{id}" is a real, resolved report.
FORGED = [
    "rate:abc:1",
    "rate:99999999999999999999:1",
    "rate:2147483648:1",
    "rate:0:1",
    "rate:-1:3",
    "rate:1e3:1",
    "rate: 1:1",
    "rate:٣:1",
    "rate:{id}:0",
    "rate:{id}:6",
    "rate:{id}:x",
    "rate:{id}:",
    "rate:{id}:3:9",
    "rate:{id}",
    "v:abc",
    "v:99999999999999999999",
    "v:2147483648",
    "v:-1",
    "v:",
    "v",
    "v:{id}:x",
    "rr:{id}:x",
    "rr:{id}:99",
    "rr:{id}:4",
    "rr:{id}:-1",
    "rr:{id}",
    "rr:2147483648:0",
    "cc:{id}:",
    "cc:{id}:NOT A SLUG",
    "cc:99999999999999999999:sampah",
    "p:99999999999999999999",
    "s:abc",
    "n:2147483648",
    "ack:{id}:{id}",
    "follow:99999999999999999999",
    "follow:abc",
    "cat:",
    "cat:../../etc",
    "kel:",
    "kel:" + "x" * 21,
    "lang:xx",
    "menu:nope",
    "x" * 65,
    ":",
    "::",
    "\x00",
    "💥" * 17,
]


@pytest.mark.parametrize("payload", FORGED)
def test_forged_payload_parses_to_nothing(payload: str) -> None:
    assert parse(payload.replace("{id}", "5")) is None


# -- every forged payload on every surface -----------------------------------------------------

WHATSAPP_USER = "+6281234567001"


def _snapshot(world: World) -> dict[str, Any]:
    """Everything a press could change: reports, their history, followers, contacts, groups."""
    with new_session(world.engine) as session:
        return {
            "reports": [
                (r.id, r.status, r.rating, r.category_id, r.kelurahan_code, r.rejection_reason)
                for r in session.scalars(select(Report).order_by(Report.id))
            ],
            "events": session.scalars(select(ReportEvent.id).order_by(ReportEvent.id)).all(),
            "followers": session.execute(
                select(ReportFollower.report_id, ReportFollower.contact_id).order_by(
                    ReportFollower.report_id, ReportFollower.contact_id
                )
            ).all(),
            "contacts": session.execute(
                select(Contact.id, Contact.blocked, Contact.language, Contact.opted_out).order_by(
                    Contact.id
                )
            ).all(),
            "groups": session.execute(
                select(Kelurahan.code, Kelurahan.chat_id).order_by(Kelurahan.code)
            ).all(),
        }


def _conversation(world: World, channel: str, address: str) -> tuple[str, Any] | None:
    with new_session(world.engine) as session:
        row = session.scalars(
            select(Conversation).where(
                Conversation.channel == channel, Conversation.address == address
            )
        ).first()
        if row is None:
            return None
        # Which numbered list the user saw last is bookkeeping: a reply shows a new one.
        return row.state, {k: v for k, v in row.data.items() if k != SHOWN}


@pytest.fixture
def resolved(engine, clock) -> tuple[World, Chat, int]:  # type: ignore[no-untyped-def]
    """A report that went the whole way: its reporter is waiting to rate it."""
    world = World(engine, clock)
    siti = world.citizen()
    ticket = file(siti)
    report_id = world.report(ticket).id
    world.press(ADMIN, VERIFIER, f"v:{report_id}")
    world.press(GAMBIR_CHAT, OFFICER, f"s:{report_id}")
    world.photo(GAMBIR_CHAT, OFFICER)
    assert world.report(ticket).status == "resolved"
    return world, siti, report_id


SURFACES = ["telegram private", "admin chat", "kelurahan group", "whatsapp button", "whatsapp text"]


@pytest.mark.parametrize("surface", SURFACES)
def test_forged_payload_gets_a_polite_answer_and_changes_nothing(
    resolved: tuple[World, Chat, int], surface: str
) -> None:
    world, siti, report_id = resolved
    whatsapp = Chat(world.engine, world.core, address=WHATSAPP_USER, channel="whatsapp")
    whatsapp.text("menu")
    for template in FORGED:
        payload = template.replace("{id}", str(report_id))
        before = _snapshot(world)
        if surface == "telegram private":
            where = ("telegram", siti.address)
            state = _conversation(world, *where)
            out = siti.choose(payload)
            expected = "Tombol itu sudah tidak berlaku"
        elif surface == "admin chat":
            where = ("telegram", f"{ADMIN}/{VERIFIER}")
            state = _conversation(world, *where)
            out = world.press(ADMIN, VERIFIER, payload)
            expected = "Tombol itu tidak dikenali"
        elif surface == "kelurahan group":
            where = ("telegram", f"{GAMBIR_CHAT}/{OFFICER}")
            state = _conversation(world, *where)
            out = world.press(GAMBIR_CHAT, OFFICER, payload)
            expected = "Tombol itu tidak dikenali"
        elif surface == "whatsapp button":
            where = ("whatsapp", WHATSAPP_USER)
            state = _conversation(world, *where)
            out = whatsapp.choose(payload)
            expected = "Tombol itu sudah tidak berlaku"
        else:
            where, state = None, None
            out = whatsapp.text(payload)
            expected = None  # typed text is not a button: the step answers it as text
        assert _snapshot(world) == before, payload
        assert len(out) == 1, (payload, [o.text for o in out])
        if expected is not None:
            assert expected in out[0].text, (payload, out[0].text)
            assert _conversation(world, *where) == state, payload
    # The real buttons still work afterwards: nothing was left half-done.
    siti.choose(f"rate:{report_id}:4")
    assert world.report(_ticket(world, report_id)).rating == 4


def _ticket(world: World, report_id: int) -> str:
    with new_session(world.engine) as session:
        report = session.get(Report, report_id)
        assert report is not None
        return report.ticket


# 5,000 digits: past Python's limit on converting a decimal string to an int.
TYPED = ["2147483648", "99999999999999999999", "9" * 5000, "0", "-1", "٣", "rate:1:5", "v:1"]


@pytest.mark.parametrize("text", TYPED, ids=[t[:20] for t in TYPED])
def test_typed_numbers_and_payload_lookalikes_are_text(
    resolved: tuple[World, Chat, int], text: str
) -> None:
    """At the rating step a typed number picks a rating; anything else is not a choice."""
    world, siti, _ = resolved
    before = _snapshot(world)
    out = siti.text(text)
    assert len(out) == 1
    assert _snapshot(world) == before
