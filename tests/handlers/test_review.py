"""The whole path of a report: citizen -> verifiers -> kelurahan group -> citizen.

Driven through the conversation core with the demo registry's real spatial index; chats
are Telegram addresses, as the channel would give them.
"""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from lapor.handlers.context import CoreConfig
from lapor.handlers.core import Core
from lapor.handlers.review import GROUP_MESSAGES_PER_MINUTE, hash_code
from lapor.handlers.rooms import Rooms
from lapor.handlers.steps import Step
from lapor.handlers.types import Inbound, Outbound
from lapor.routing import ensure_demo_registry, load_index
from lapor.store.db import new_session, transaction
from lapor.store.models import (
    Contact,
    ContactEvent,
    GroupInvite,
    Kelurahan,
    Outbox,
    Report,
    ReportEvent,
    ReportFollower,
    Verifier,
)
from tests.helpers import Chat, fake_photo

ADMIN = "-1009000000001"
GAMBIR_CHAT = -1009000000101  # group of DEMO.01
SENEN_CHAT = -1009000000104  # group of DEMO.04
VERIFIER, OTHER_VERIFIER, STRANGER = 7_100_000_001, 7_100_000_002, 7_100_000_999
OFFICER = 7_200_000_001
INSIDE_GAMBIR = (-6.175, 106.825)
ON_GAMBIR_SENEN_BORDER = (-6.175, 106.8349)
OUTSIDE = (-6.40, 106.95)


class World:
    """One database, one core, many chats."""

    def __init__(self, engine, clock) -> None:  # type: ignore[no-untyped-def]
        self.engine = engine
        self.clock = clock
        with transaction(engine) as session:
            ensure_demo_registry(session, clock())
            index = load_index(session)
            for telegram_id in (VERIFIER, OTHER_VERIFIER):
                session.add(Verifier(telegram_id=telegram_id, name="v", added_at=clock()))
            session.execute(
                update(Kelurahan).where(Kelurahan.code == "DEMO.01").values(chat_id=GAMBIR_CHAT)
            )
            session.execute(
                update(Kelurahan).where(Kelurahan.code == "DEMO.04").values(chat_id=SENEN_CHAT)
            )
        self.core = Core(
            CoreConfig(), clock, rooms=Rooms(admin=("telegram", ADMIN)), locate=index.locate
        )
        self._n = 0
        self.sent: list[Outbound] = []

    def citizen(self, address: str = "7000000001") -> Chat:
        chat = Chat(self.engine, self.core, address=address, channel="telegram")
        original = chat.send

        def send(message_id=None, **fields):  # type: ignore[no-untyped-def]
            out = original(message_id, **fields)
            self.sent += out
            return out

        chat.send = send  # type: ignore[method-assign]
        return chat

    def press(self, chat: str | int, user: int, payload: str, card: str = "501") -> list[Outbound]:
        return self._group(chat, user, choice=payload, card_id=card)

    def say(self, chat: str | int, user: int, text: str) -> list[Outbound]:
        return self._group(chat, user, text=text)

    def photo(self, chat: str | int, user: int, n: int = 99) -> list[Outbound]:
        return self._group(chat, user, photos=(fake_photo(n),))

    def _group(self, chat: str | int, user: int, **fields) -> list[Outbound]:  # type: ignore[no-untyped-def]
        self._n += 1
        inbound = Inbound(
            channel="telegram",
            address=str(chat),
            message_id=f"g{self._n}",
            group=True,
            sender=str(user),
            telegram_id=user,
            name=f"user{user}",
            **fields,
        )
        with transaction(self.engine) as session:
            out = self.core.process(session, inbound)
        self.sent += out
        return out

    def report(self, ticket: str) -> Report:
        with new_session(self.engine) as session:
            return session.scalars(select(Report).where(Report.ticket == ticket)).one()

    def events(self, ticket: str) -> list[tuple[str | None, str]]:
        report = self.report(ticket)
        with new_session(self.engine) as session:
            rows = session.scalars(
                select(ReportEvent)
                .where(ReportEvent.report_id == report.id)
                .order_by(ReportEvent.id)
            )
            return [(e.from_status, e.to_status) for e in rows if e.from_status != e.to_status]


def to(messages: list[Outbound], address: str | int) -> list[Outbound]:
    return [m for m in messages if m.address == str(address)]


def file(citizen: Chat, point=INSIDE_GAMBIR, category: str = "cat:sampah", n: int = 1) -> str:  # type: ignore[no-untyped-def]
    citizen.text("/lapor")
    citizen.choose(category)
    citizen.photo(fake_photo(n))
    citizen.location(*point)
    citizen.choose("note:skip")
    if citizen.state == Step.SIMILAR:
        citizen.choose("dup:new")
    citizen.choose("confirm:yes")
    return re.search(r"JKT-\d{4}-\d{5}", citizen.said).group(0)  # type: ignore[union-attr]


def follow_nearby(citizen: Chat, report_id: int) -> None:
    """Start a report a few metres from Gambir's and follow that one when it is offered."""
    citizen.text("/lapor")
    citizen.choose("cat:sampah")
    citizen.photo(fake_photo(3))
    citizen.location(INSIDE_GAMBIR[0] + 0.001, INSIDE_GAMBIR[1])
    citizen.choose("note:skip")
    citizen.choose(f"follow:{report_id}")


def test_the_whole_path_and_back(world: World) -> None:
    siti = world.citizen()
    siti.text("/lapor")
    siti.choose("cat:sampah")
    siti.photo(fake_photo(1))
    siti.location(*INSIDE_GAMBIR)
    assert "Kel. Gambir (demo)" in siti.said, "the citizen is told which kelurahan"
    siti.choose("note:skip")
    siti.choose("confirm:yes")
    ticket = re.search(r"JKT-\d{4}-\d{5}", siti.said).group(0)  # type: ignore[union-attr]
    card = to(siti.last, ADMIN)
    assert len(card) == 1 and ticket in card[0].text and card[0].photo
    assert [c.payload.split(":")[0] for c in card[0].choices] == ["v", "r", "c", "d", "b", "w"]
    assert siti.address not in card[0].text, "no phone or chat id on the card"
    report = world.report(ticket)
    assert report.kelurahan_code == "DEMO.01" and report.public is True

    # Someone who is not a verifier presses: a refusal, nothing changes.
    refused = world.press(ADMIN, STRANGER, f"v:{report.id}")
    assert "hanya verifikator" in refused[0].text
    assert world.report(ticket).status == "submitted"

    out = world.press(ADMIN, VERIFIER, f"v:{report.id}")
    assert world.report(ticket).status == "forwarded"
    edit = [m for m in to(out, ADMIN) if m.edit == "501"]
    assert edit and "Terverifikasi, diteruskan ke Kel. Gambir (demo)" in edit[0].text
    assert "user7100000001" in edit[0].text, "the card says who decided"
    group_card = to(out, GAMBIR_CHAT)[0]
    assert ticket in group_card.text and group_card.location is not None and group_card.photo
    assert [c.payload.split(":")[0] for c in group_card.choices] == ["p", "s", "n", "w", "f"]
    assert "Siti" not in group_card.text and siti.address not in group_card.text
    told = [m.text for m in to(out, siti.address)]
    assert any("Terverifikasi" in t for t in told) and any("Diteruskan" in t for t in told)

    out = world.press(GAMBIR_CHAT, OFFICER, f"p:{report.id}", card="777")
    assert world.report(ticket).status == "in_progress"
    assert any("Diproses" in m.text for m in to(out, siti.address))

    out = world.press(GAMBIR_CHAT, OFFICER, f"s:{report.id}", card="777")
    assert out[0].force_reply and "foto sesudah" in out[0].text
    assert world.report(ticket).status == "in_progress", "not resolved without a photo"
    out = world.say(GAMBIR_CHAT, OFFICER, "sudah beres")
    assert "perlu foto" in out[0].text
    out = world.photo(GAMBIR_CHAT, OFFICER, n=55)
    resolved = world.report(ticket)
    assert resolved.status == "resolved" and resolved.after_photo_id is not None
    news = to(out, siti.address)[0]
    assert news.photo and "Selesai" in news.text
    assert [c.payload for c in news.choices][:2] == [f"rate:{report.id}:1", f"rate:{report.id}:2"]

    siti.text("2")  # a number answers the rating question (WhatsApp and console style)
    assert siti.state == Step.RATING_COMMENT
    siti.text("Sampahnya masih menumpuk di sudut")
    reopened = world.report(ticket)
    assert reopened.status == "in_progress" and reopened.rating == 2
    assert reopened.rating_comment == "Sampahnya masih menumpuk di sudut"
    group_note = to(siti.last, GAMBIR_CHAT)[0]
    assert "dibuka kembali" in group_note.text and "masih menumpuk" in group_note.text
    assert world.events(ticket) == [
        (None, "submitted"),
        ("submitted", "verified"),
        ("verified", "forwarded"),
        ("forwarded", "in_progress"),
        ("in_progress", "resolved"),
        ("resolved", "in_progress"),
    ]


def test_good_rating_closes_without_reopening(world: World) -> None:
    siti = world.citizen()
    ticket = file(siti)
    report_id = world.report(ticket).id
    world.press(ADMIN, VERIFIER, f"v:{report_id}")
    world.press(GAMBIR_CHAT, OFFICER, f"s:{report_id}")
    world.photo(GAMBIR_CHAT, OFFICER)
    siti.choose(f"rate:{report_id}:5")
    assert "5/5" in siti.said and world.report(ticket).status == "resolved"
    # Only the reporter rates, only once it is resolved.
    budi = world.citizen("7000000002")
    budi.choose(f"rate:{report_id}:1")
    assert "hanya dapat diberikan oleh pelapor" in budi.said
    assert world.report(ticket).rating == 5


@pytest.mark.parametrize(
    ("how", "reason"), [("preset", "Foto tidak jelas"), ("typed", "Ini iklan, bukan laporan")]
)
def test_rejection_with_a_reason_the_citizen_sees(world: World, how: str, reason: str) -> None:
    siti = world.citizen()
    ticket = file(siti)
    report_id = world.report(ticket).id
    out = world.press(ADMIN, VERIFIER, f"r:{report_id}")
    assert [c.payload for c in out[0].choices][:4] == [f"rr:{report_id}:{i}" for i in range(4)]
    if how == "preset":
        out = world.press(ADMIN, VERIFIER, f"rr:{report_id}:0")
    else:
        assert world.say(ADMIN, OTHER_VERIFIER, reason) == [], "another verifier's text is not it"
        out = world.say(ADMIN, VERIFIER, reason)
    rejected = world.report(ticket)
    assert rejected.status == "rejected" and rejected.rejection_reason == reason
    told = to(out, siti.address)[0].text
    assert "Ditolak" in told and reason in told
    assert any(m.edit == "501" and "Ditolak" in m.text for m in to(out, ADMIN))


def test_two_verifiers_at_once_one_decision_wins(world: World) -> None:
    ticket = file(world.citizen())
    report_id = world.report(ticket).id
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def press(user: int, payload: str) -> None:
        barrier.wait()
        try:
            world.press(ADMIN, user, payload)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=press, args=(VERIFIER, f"v:{report_id}")),
        threading.Thread(target=press, args=(OTHER_VERIFIER, f"rr:{report_id}:1")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    decisions = [e for e in world.events(ticket) if e[0] == "submitted"]
    assert len(decisions) == 1, decisions
    loser = "rejected" if decisions[0][1] == "verified" else "verified"
    assert world.report(ticket).status != loser


def test_second_press_is_too_late_and_changes_nothing(world: World) -> None:
    ticket = file(world.citizen())
    report_id = world.report(ticket).id
    world.press(ADMIN, VERIFIER, f"v:{report_id}")
    out = world.press(ADMIN, OTHER_VERIFIER, f"rr:{report_id}:0")
    assert "sudah diputuskan" in out[0].text
    assert world.report(ticket).status == "forwarded"


def test_duplicate_marking_makes_the_reporter_follow_the_original(world: World) -> None:
    siti, budi = world.citizen("7000000001"), world.citizen("7000000002")
    original = file(siti)
    budi.text("/lapor")
    budi.choose("cat:banjir")  # another category: not offered as similar
    budi.photo(fake_photo(2))
    budi.location(*INSIDE_GAMBIR)
    budi.choose("note:skip")
    budi.choose("confirm:yes")
    copy = re.search(r"JKT-\d{4}-\d{5}", budi.said).group(0)  # type: ignore[union-attr]
    copy_id = world.report(copy).id
    world.press(ADMIN, VERIFIER, f"d:{copy_id}")
    out = world.say(ADMIN, VERIFIER, "JKT-9999-00001")
    assert "tidak ditemukan" in out[0].text and world.report(copy).status == "submitted"
    out = world.say(ADMIN, VERIFIER, original.lower())
    marked = world.report(copy)
    assert marked.status == "duplicate" and marked.duplicate_of_id == world.report(original).id
    assert original in to(out, budi.address)[0].text
    assert world.report(original).support_count == 1
    out = world.press(ADMIN, VERIFIER, f"v:{world.report(original).id}")
    assert to(out, budi.address), "the duplicate's reporter hears about the original"


def test_following_a_similar_report_instead_of_repeating_it(world: World) -> None:
    siti, budi = world.citizen("7000000001"), world.citizen("7000000002")
    original = file(siti)
    budi.text("/lapor")
    budi.choose("cat:sampah")
    budi.photo(fake_photo(3))
    budi.location(INSIDE_GAMBIR[0] + 0.001, INSIDE_GAMBIR[1])  # ~110 m away
    budi.choose("note:skip")
    assert budi.state == Step.SIMILAR and original in budi.said
    report_id = world.report(original).id
    budi.choose(f"follow:{report_id}")
    assert budi.state == Step.IDLE and "mengikuti" in budi.said
    with new_session(world.engine) as session:
        assert session.execute(select(func.count()).select_from(Report)).scalar_one() == 1
        assert session.execute(select(func.count()).select_from(ReportFollower)).scalar_one() == 1
    assert world.report(original).support_count == 1
    out = world.press(ADMIN, VERIFIER, f"v:{report_id}")
    assert to(out, budi.address) and to(out, siti.address)
    assert "Dukungan warga: 2" in to(out, GAMBIR_CHAT)[0].text


def test_same_photo_elsewhere_is_offered_as_similar(world: World) -> None:
    siti, budi = world.citizen("7000000001"), world.citizen("7000000002")
    original = file(siti, n=42)
    budi.text("/lapor")
    budi.choose("cat:jalan-rusak")
    budi.photo(fake_photo(42))  # the same picture, sent again from far away
    budi.location(-6.195, 106.84)
    budi.choose("note:skip")
    assert budi.state == Step.SIMILAR and original in budi.said and "foto sama" in budi.said


def test_outside_the_service_area_asks_again(world: World) -> None:
    siti = world.citizen()
    siti.text("/lapor")
    siti.choose("cat:sampah")
    siti.photo(fake_photo(1))
    siti.location(*OUTSIDE)
    assert "luar wilayah layanan" in siti.said and siti.state == Step.LOCATION
    siti.location(*INSIDE_GAMBIR)
    assert siti.state == Step.NOTE


def test_on_a_border_the_citizen_picks_the_kelurahan(world: World) -> None:
    siti = world.citizen()
    siti.text("/lapor")
    siti.choose("cat:sampah")
    siti.photo(fake_photo(1))
    siti.location(*ON_GAMBIR_SENEN_BORDER)
    assert siti.state == Step.KELURAHAN
    assert set(siti.payloads) >= {"kel:DEMO.01", "kel:DEMO.04"}
    siti.text("ya")
    assert siti.state == Step.KELURAHAN, "a button is needed"
    siti.choose("kel:DEMO.04")
    assert "Senen" in siti.said and siti.state == Step.NOTE
    siti.choose("note:skip")
    siti.choose("confirm:private")
    ticket = re.search(r"JKT-\d{4}-\d{5}", siti.said).group(0)  # type: ignore[union-attr]
    report = world.report(ticket)
    assert report.kelurahan_code == "DEMO.04" and report.public is False
    out = world.press(ADMIN, VERIFIER, f"v:{report.id}")
    assert to(out, SENEN_CHAT)


def test_only_the_kelurahan_of_the_report_can_act_on_it(world: World) -> None:
    ticket = file(world.citizen())
    report_id = world.report(ticket).id
    world.press(ADMIN, VERIFIER, f"v:{report_id}")
    out = world.press(SENEN_CHAT, OFFICER, f"p:{report_id}")
    assert "bukan untuk grup ini" in out[0].text
    assert world.report(ticket).status == "forwarded"
    assert world.press(-100123, OFFICER, f"p:{report_id}") == [], "an unknown group is ignored"


def test_not_our_area_goes_back_to_verifiers_and_on_to_the_right_group(world: World) -> None:
    siti = world.citizen()
    ticket = file(siti)
    report_id = world.report(ticket).id
    world.press(ADMIN, VERIFIER, f"v:{report_id}")
    world.press(GAMBIR_CHAT, OFFICER, f"n:{report_id}")
    out = world.say(GAMBIR_CHAT, OFFICER, "Itu wilayah Senen")
    assert world.report(ticket).status == "verified"
    back = to(out, ADMIN)[0]
    assert "Itu wilayah Senen" in back.text and back.choices[0].payload == f"fw:{report_id}"
    world.press(ADMIN, VERIFIER, f"fw:{report_id}")
    out = world.say(ADMIN, VERIFIER, "senen (demo)")
    moved = world.report(ticket)
    assert moved.status == "forwarded" and moved.kelurahan_code == "DEMO.04"
    assert to(out, SENEN_CHAT)


def test_kelurahan_without_a_group_waits_then_binds_with_a_one_time_code(world: World) -> None:
    siti = world.citizen()
    ticket = file(siti, point=(-6.195, 106.8375))  # Menteng (demo): no group yet
    report_id = world.report(ticket).id
    out = world.press(ADMIN, VERIFIER, f"v:{report_id}")
    assert world.report(ticket).status == "verified"
    assert any("menunggu" in m.text.lower() for m in to(out, ADMIN))
    with transaction(world.engine) as session:
        for code, expires in (("GOOD-CODE", 1), ("OLD-CODE", -1)):
            session.add(
                GroupInvite(
                    kelurahan_code="DEMO.02",
                    code_hash=hash_code(code),
                    created_at=world.clock(),
                    expires_at=world.clock() + timedelta(hours=expires),
                )
            )
    group = -1009000000102
    assert "tidak berlaku" in world.say(group, OFFICER, "/kelurahan WRONG")[0].text
    assert "tidak berlaku" in world.say(group, OFFICER, "/kelurahan OLD-CODE")[0].text
    out = world.say(group, OFFICER, "/kelurahan@lapor_bot good-code")
    assert "Menteng (demo)" in out[0].text
    assert world.report(ticket).status == "forwarded" and to(out, group)
    assert "tidak berlaku" in world.say(-100555, OFFICER, "/kelurahan GOOD-CODE")[0].text


def test_group_migrated_to_a_supergroup_keeps_its_binding(world: World) -> None:
    new_id = -1009999999101
    world._group(GAMBIR_CHAT, OFFICER, migrated_to=str(new_id))
    ticket = file(world.citizen())
    out = world.press(ADMIN, VERIFIER, f"v:{world.report(ticket).id}")
    assert to(out, new_id) and not to(out, GAMBIR_CHAT)
    out = world.press(new_id, OFFICER, f"p:{world.report(ticket).id}")
    assert world.report(ticket).status == "in_progress"


def test_saran_is_acknowledged_not_forwarded(world: World) -> None:
    siti = world.citizen()
    siti.text("/saran")
    siti.text("Tambah bangku di taman")
    siti.choose("fb:send")
    card = to(siti.last, ADMIN)[0]
    assert [c.payload.split(":")[0] for c in card.choices] == ["ack", "b", "w"]
    report_id = int(card.choices[0].payload.split(":")[1])
    out = world.press(ADMIN, VERIFIER, f"ack:{report_id}")
    assert "sudah dibaca" in to(out, siti.address)[0].text
    assert not to(out, GAMBIR_CHAT)
    with new_session(world.engine) as session:
        assert session.get(Report, report_id).status == "acknowledged"  # type: ignore[union-attr]


def test_blocked_reporter_is_told_politely_and_nothing_is_forwarded(world: World) -> None:
    siti = world.citizen()
    ticket = file(siti)
    report_id = world.report(ticket).id
    world.press(ADMIN, VERIFIER, f"b:{report_id}")
    out = world.say(ADMIN, VERIFIER, "Mengirim foto tidak pantas berulang kali")
    assert "diblokir" in to(out, ADMIN)[0].text.lower()
    assert "dibatasi" in to(out, siti.address)[0].text
    siti.text("/lapor")
    assert "dibatasi" in siti.said and siti.state == Step.IDLE
    siti.text("/laporansaya")
    assert ticket in siti.said, "a blocked citizen can still read their reports"
    with new_session(world.engine) as session:
        contact = session.scalars(select(Contact).where(Contact.address == siti.address)).one()
        assert contact.blocked
        assert session.scalars(select(ContactEvent.action)).all() == ["block"]


def test_blocking_an_unreachable_reporter_queues_nothing_for_them(world: World) -> None:
    siti = world.citizen()
    ticket = file(siti)
    report_id = world.report(ticket).id
    with transaction(world.engine) as session:
        contact = session.scalars(select(Contact).where(Contact.address == siti.address)).one()
        contact.reachable = False  # she blocked the bot after reporting
    world.press(ADMIN, VERIFIER, f"b:{report_id}")
    out = world.say(ADMIN, VERIFIER, "Foto tidak pantas")
    assert "diblokir" in to(out, ADMIN)[0].text.lower()
    assert to(out, siti.address) == []


def test_too_many_reports_in_an_hour_get_a_polite_no(world: World) -> None:
    siti = world.citizen()
    for n in range(5):
        file(siti, point=(-6.170 - n * 0.002, 106.818), n=n + 1, category="cat:banjir")
        world.clock.advance(minutes=1)
    siti.text("/lapor")
    assert "satu jam terakhir" in siti.said and siti.state == Step.IDLE
    world.clock.advance(hours=1)
    siti.text("/lapor")
    assert siti.state == Step.CATEGORY


def test_a_burst_for_one_group_is_combined_into_a_digest(world: World) -> None:
    tickets = []
    for n in range(50):
        citizen = world.citizen(f"70000010{n:02d}")
        tickets.append(
            file(
                citizen,
                point=(-6.166 - n * 0.0003, 106.816 + n * 0.0003),
                n=100 + n,
                category="cat:lampu-jalan",
            )
        )
    for ticket in tickets:
        world.press(ADMIN, VERIFIER, f"v:{world.report(ticket).id}")
    with new_session(world.engine) as session:
        rows = session.scalars(
            select(Outbox).where(Outbox.address == str(GAMBIR_CHAT)).order_by(Outbox.id)
        ).all()
    cards = [r for r in rows if not r.key.startswith("digest:")]
    digests = [r for r in rows if r.key.startswith("digest:")]
    messages = sum(2 if r.payload.get("location") else 1 for r in cards)
    assert messages + len(digests) <= GROUP_MESSAGES_PER_MINUTE and len(digests) == 1
    assert digests[0].next_attempt_at >= world.clock() + timedelta(seconds=60)
    shown = " ".join(r.payload["text"] for r in rows)
    assert all(t in shown for t in tickets), "none lost"
    assert "/buka" in digests[0].payload["text"]
    late = tickets[-1]
    out = world.say(GAMBIR_CHAT, OFFICER, f"/buka {late}")
    assert late in out[0].text and [c.payload[0] for c in out[0].choices] == [
        "p",
        "s",
        "n",
        "w",
        "f",
    ]
