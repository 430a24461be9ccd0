"""Both ways in chat: officers' replies and progress photos, citizens' additions.

Table-driven over (action, status): each new action is allowed while the report is the
actor's business, refused to whoever it is not for, and too late once it is closed, with a
polite word and nothing changed. Anonymous both ways: staff never read a citizen's name or
number, citizens never an officer's.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from lapor.handlers.steps import Step
from lapor.handlers.types import GeoPoint, Outbound
from lapor.store.db import new_session, transaction
from lapor.store.models import Report, ReportEvent
from lapor.store.reports import public_events, remember_card
from tests.handlers.test_review import (
    ADMIN,
    GAMBIR_CHAT,
    OFFICER,
    SENEN_CHAT,
    STRANGER,
    VERIFIER,
    World,
    file,
    follow_nearby,
    to,
)
from tests.helpers import Chat, fake_photo

SITI, BUDI, OTHER = "7000000001", "7000000002", "7000000003"
GAMBIR_SIGNATURE = "Petugas Kelurahan Gambir (demo)"


def bring(world: World, report_id: int, status: str) -> None:
    """Move a freshly filed report to `status` the way staff do."""
    moves = {
        "submitted": [],
        "forwarded": [(ADMIN, VERIFIER, "v")],
        "in_progress": [(ADMIN, VERIFIER, "v"), (GAMBIR_CHAT, OFFICER, "p")],
        "resolved": [(ADMIN, VERIFIER, "v"), (GAMBIR_CHAT, OFFICER, "s")],
        "rejected": [(ADMIN, VERIFIER, "r"), (ADMIN, VERIFIER, "rr")],
    }[status]
    for chat, user, action in moves:
        payload = f"{action}:{report_id}" + (":0" if action == "rr" else "")
        world.press(chat, user, payload)
    if status == "resolved":
        world.photo(GAMBIR_CHAT, OFFICER, n=60)
    assert status_of(world, report_id) == status


def status_of(world: World, report_id: int) -> str:
    with new_session(world.engine) as session:
        report = session.get(Report, report_id)
        assert report is not None
        return report.status


def events(world: World, report_id: int, kind: str) -> int:
    with new_session(world.engine) as session:
        return session.execute(
            select(func.count())
            .select_from(ReportEvent)
            .where(ReportEvent.report_id == report_id, ReportEvent.kind == kind)
        ).scalar_one()


ALLOWED, TOO_LATE = "allowed", "too late"
OFFICER_ACTIONS = [
    # (who presses, in which chat, the button): the prompt each asks with when allowed
    ("group reply", GAMBIR_CHAT, OFFICER, "w", "tulis balasan"),
    ("group progress photo", GAMBIR_CHAT, OFFICER, "f", "foto progres"),
    ("admin reply", ADMIN, VERIFIER, "w", "tulis balasan"),
]
OUTCOMES = {
    # status: (group reply, group progress photo, admin reply, citizen addition)
    "submitted": (TOO_LATE, TOO_LATE, ALLOWED, ALLOWED),
    "forwarded": (ALLOWED, ALLOWED, ALLOWED, ALLOWED),
    "in_progress": (ALLOWED, ALLOWED, ALLOWED, ALLOWED),
    "resolved": (TOO_LATE, TOO_LATE, TOO_LATE, TOO_LATE),
    "rejected": (TOO_LATE, TOO_LATE, TOO_LATE, TOO_LATE),
}


@pytest.mark.parametrize(
    ("status", "action"),
    [(status, action) for status in OUTCOMES for action in range(3)],
    ids=lambda v: str(v),
)
def test_staff_actions_by_status(world: World, status: str, action: int) -> None:
    _name, chat, user, code, asks = OFFICER_ACTIONS[action]
    expected = OUTCOMES[status][action]
    siti = world.citizen(SITI)
    report_id = world.report(file(siti)).id
    bring(world, report_id, status)
    out = world.press(chat, user, f"{code}:{report_id}")
    assert len(out) == 1 and out[0].address == str(chat)
    if expected == ALLOWED:
        assert asks in out[0].text and out[0].force_reply
        out = (
            world.photo(chat, user, n=71)
            if code == "f"
            else world.say(chat, user, "Petugas sudah meninjau lokasi")
        )
        assert to(out, siti.address), "the reporter is told"
    else:
        assert "sudah diputuskan" in out[0].text and not out[0].force_reply
        out = world.say(chat, user, "Petugas sudah meninjau lokasi")
        assert not to(out, siti.address), "nothing reaches the citizen"
    told = 1 if expected == ALLOWED else 0
    kind = "progress" if code == "f" else "reply"
    extra = 1 if status == "resolved" and kind == "reply" else 0  # the closing note
    assert events(world, report_id, kind) == told + extra
    assert status_of(world, report_id) == status, "no status changes"


@pytest.mark.parametrize("status", list(OUTCOMES))
def test_citizen_addition_by_status(world: World, status: str) -> None:
    siti = world.citizen(SITI)
    ticket = file(siti)
    report_id = world.report(ticket).id
    bring(world, report_id, status)
    siti.text("/laporansaya")
    offered = f"add:{report_id}" in siti.payloads
    siti.choose(f"add:{report_id}")  # a stale or forged button is answered all the same
    allowed = OUTCOMES[status][3] == ALLOWED
    assert offered is allowed
    if allowed:
        assert siti.state == Step.ADD and "Tulis keterangan tambahan" in siti.said
        siti.text("Sekarang sampahnya makin banyak")
        assert "sudah diteruskan" in siti.said and siti.state == Step.IDLE
    else:
        assert "tidak bisa ditambah" in siti.said and siti.state == Step.IDLE
    assert events(world, report_id, "addition") == (1 if allowed else 0)


@pytest.mark.parametrize(
    ("who", "chat", "user", "payload", "refusal"),
    [
        ("officer of another kelurahan", SENEN_CHAT, OFFICER, "w", "bukan untuk grup ini"),
        ("officer of another kelurahan", SENEN_CHAT, OFFICER, "f", "bukan untuk grup ini"),
        ("not a verifier", ADMIN, STRANGER, "w", "hanya verifikator"),
        ("a forged id", GAMBIR_CHAT, OFFICER, "w:2147483647", "tidak dikenali"),
        ("a forged suffix", GAMBIR_CHAT, OFFICER, "f:{id}:9", "tidak dikenali"),
    ],
)
def test_staff_actions_refused(
    world: World, who: str, chat: int | str, user: int, payload: str, refusal: str
) -> None:
    siti = world.citizen(SITI)
    report_id = world.report(file(siti)).id
    bring(world, report_id, "forwarded")
    button = payload.format(id=report_id) if ":" in payload else f"{payload}:{report_id}"
    out = world.press(chat, user, button)
    assert len(out) == 1 and refusal in out[0].text and not out[0].force_reply
    world.say(chat, user, "halo")
    assert events(world, report_id, "reply") == 0 and events(world, report_id, "progress") == 0


def test_an_addition_to_someone_elses_report_is_refused(world: World) -> None:
    siti, other = world.citizen(SITI), world.citizen(OTHER)
    report_id = world.report(file(siti)).id
    other.choose(f"add:{report_id}")
    assert "laporan Anda sendiri" in other.said and other.state == Step.IDLE
    other.text("ini laporan saya")
    assert events(world, report_id, "addition") == 0


def test_too_late_when_closed_while_typing(world: World) -> None:
    """The button was pressed in time; the words came after another officer closed it."""
    siti = world.citizen(SITI)
    report_id = world.report(file(siti)).id
    bring(world, report_id, "in_progress")
    world.press(GAMBIR_CHAT, OFFICER, f"w:{report_id}")
    siti.text("/laporansaya")
    siti.choose(f"add:{report_id}")
    other_officer = OFFICER + 1
    world.press(GAMBIR_CHAT, other_officer, f"s:{report_id}")
    world.photo(GAMBIR_CHAT, other_officer, n=61)
    out = world.say(GAMBIR_CHAT, OFFICER, "Kami datang besok")
    assert "sudah diputuskan" in out[0].text and not to(out, siti.address)
    siti.text("Masih ada")
    assert "tidak bisa ditambah" in siti.said
    assert events(world, report_id, "addition") == 0
    assert events(world, report_id, "reply") == 1  # only the closing one


@pytest.mark.parametrize(
    ("send", "answer"),
    [
        ({"unsupported": "sticker"}, "stiker"),
        ({"text": "   "}, "kirim teks atau foto"),
        ({"photo_error": "format"}, "foto"),
        ({"location": True}, "kirim teks atau foto"),
    ],
)
def test_bad_input_for_an_addition_is_asked_again(world: World, send: dict, answer: str) -> None:
    siti = world.citizen(SITI)
    report_id = world.report(file(siti)).id
    siti.choose(f"add:{report_id}")
    if send.get("location"):
        send = {"location": GeoPoint(-6.17, 106.82)}
    siti.send(**send)
    assert answer in siti.said.lower() and siti.state == Step.ADD
    assert events(world, report_id, "addition") == 0


@pytest.mark.parametrize(
    ("pending", "send", "answer"),
    [
        ("w", {"text": ""}, "perlu berupa teks"),
        ("w", {"unsupported": "sticker"}, "perlu berupa teks"),
        ("f", {"unsupported": "sticker"}, "perlu foto"),
        ("f", {"text": "lagi dikerjakan"}, "perlu foto"),
        ("f", {"photo_error": "too_large"}, "perlu foto"),
    ],
)
def test_bad_input_for_a_reply_or_progress_photo_is_asked_again(
    world: World, pending: str, send: dict, answer: str
) -> None:
    siti = world.citizen(SITI)
    report_id = world.report(file(siti)).id
    bring(world, report_id, "forwarded")
    world.press(GAMBIR_CHAT, OFFICER, f"{pending}:{report_id}")
    out = world._group(GAMBIR_CHAT, OFFICER, **send)
    assert len(out) == 1 and answer in out[0].text and not to(out, siti.address)
    assert events(world, report_id, "reply") == 0 and events(world, report_id, "progress") == 0


def test_overlong_texts_are_cut_with_a_notice(world: World) -> None:
    siti = world.citizen(SITI)
    report_id = world.report(file(siti)).id
    bring(world, report_id, "forwarded")
    world.press(GAMBIR_CHAT, OFFICER, f"w:{report_id}")
    out = world.say(GAMBIR_CHAT, OFFICER, "a" * 5000)
    assert "dipotong" in out[0].text
    told = to(out, siti.address)[0].text
    assert "a" * 799 + "…" in told and "a" * 801 not in told
    siti.choose(f"add:{report_id}")
    siti.text("b" * 5000)
    assert "dipotong" in siti.said
    with new_session(world.engine) as session:
        addition = session.scalars(select(ReportEvent).where(ReportEvent.kind == "addition")).one()
    assert addition.note is not None and len(addition.note) == 1000


def _bodies(messages: list[Outbound]) -> str:
    return "\n".join(m.text + " " + " ".join(c.label for c in m.choices) for m in messages)


def test_anonymous_both_ways_and_shown_on_the_public_page(world: World) -> None:
    siti = world.citizen(SITI)
    budi = world.citizen(BUDI)
    ticket = file(siti)
    report_id = world.report(ticket).id
    follow_nearby(budi, report_id)
    world.press(ADMIN, VERIFIER, f"v:{report_id}")

    # The officer replies: reporter and follower read the office, never the officer.
    world.press(GAMBIR_CHAT, OFFICER, f"w:{report_id}", card="8801")
    out = world.say(GAMBIR_CHAT, OFFICER, "Besok pagi truk DLH datang")
    assert "terkirim ke 2 warga" in out[0].text
    for citizen in (siti, budi):
        told = to(out, citizen.address)
        assert len(told) == 1 and GAMBIR_SIGNATURE in told[0].text
        assert "Besok pagi truk DLH datang" in told[0].text and ticket in told[0].text
    # A progress photo, with its caption.
    world.press(GAMBIR_CHAT, OFFICER, f"f:{report_id}")
    out = world._group(GAMBIR_CHAT, OFFICER, photos=(fake_photo(72),), text="Separuh terangkut")
    assert world.report(ticket).status == "forwarded", "a progress photo closes nothing"
    for citizen in (siti, budi):
        told = to(out, citizen.address)[0]
        assert told.photo == fake_photo(72).path and "Separuh terangkut" in told.text

    # The reporter adds a photo: it answers the group card (the press told its id).
    siti.choose(f"add:{report_id}")
    siti.photo(fake_photo(73), caption="Sekarang ada tikus")
    relayed = to(siti.last, GAMBIR_CHAT)
    assert len(relayed) == 1 and relayed[0].reply_to == "8801"
    assert relayed[0].photo == fake_photo(73).path and ticket in relayed[0].text
    assert not to(siti.last, budi.address), "an addition is for the staff"

    staff_bound = [m for m in world.sent if m.address in (ADMIN, str(GAMBIR_CHAT))]
    citizen_bound = [m for m in world.sent if m.address in (siti.address, budi.address)]
    for secret in (SITI, BUDI, "user7000000001", "user7000000002"):
        assert secret not in _bodies(staff_bound), secret
    for secret in (str(OFFICER), f"user{OFFICER}", str(VERIFIER), f"user{VERIFIER}"):
        assert secret not in _bodies(citizen_bound), secret

    with new_session(world.engine) as session:
        shown = public_events(session, report_id)
    assert [(e.kind, e.note) for e in shown] == [
        ("reply", "Besok pagi truk DLH datang"),
        ("progress", "Separuh terangkut"),
    ]
    assert shown[1].photo_path == fake_photo(72).path
    assert "tikus" not in repr(shown), "a citizen's addition is never public"


def test_a_rahasia_report_has_no_public_events_and_replies_reach_its_reporter_only(
    world: World,
) -> None:
    siti = world.citizen(SITI)
    siti.text("/lapor")
    siti.choose("cat:sampah")
    siti.photo(fake_photo(5))
    siti.location(-6.175, 106.825)
    siti.choose("note:skip")
    siti.choose("confirm:private")
    report = world.report(re.search(r"JKT-\d{4}-\d{5}", siti.said).group(0))  # type: ignore[union-attr]
    assert report.public is False
    world.press(ADMIN, VERIFIER, f"w:{report.id}")
    out = world.say(ADMIN, VERIFIER, "Terima kasih, segera kami periksa")
    told = to(out, siti.address)
    assert len(told) == 1 and "Petugas verifikasi kota" in told[0].text
    with new_session(world.engine) as session:
        assert public_events(session, report.id) == []
    siti.choose(f"add:{report.id}")
    siti.text("Tambahan rahasia")
    admin = to(siti.last, ADMIN)
    assert len(admin) == 1 and "RAHASIA" in admin[0].text and "Tambahan rahasia" in admin[0].text


def test_an_addition_before_forwarding_answers_the_admin_card(world: World) -> None:
    """The dispatcher remembers a sent card's id; the addition goes to the verifiers."""
    siti = world.citizen(SITI)
    report_id = world.report(file(siti)).id
    with transaction(world.engine) as session:
        remember_card(session, report_id, "telegram", ADMIN, "4242")
    siti.choose(f"add:{report_id}")
    siti.text("Lokasinya di depan sekolah")
    relayed = to(siti.last, ADMIN)
    assert len(relayed) == 1 and relayed[0].reply_to == "4242"
    assert [c.payload for c in relayed[0].choices] == [f"w:{report_id}"]


def test_a_draft_survives_an_addition(world: World) -> None:
    siti = world.citizen(SITI)
    report_id = world.report(file(siti)).id
    siti.text("/lapor")
    siti.choose("cat:sampah")
    siti.choose(f"add:{report_id}")
    siti.text("Tambahan")
    assert siti.state == Step.PHOTO and "foto" in siti.said.lower()


def test_console_citizen_addition_names_the_ticket(world: World) -> None:
    """Channels without threads get a message that names the ticket."""
    console = Chat(world.engine, world.core, address="6281200000000", channel="console")
    ticket = console.file_report()
    report_id = world.report(ticket).id
    console.text("/laporansaya")
    number = console.payloads.index(f"add:{report_id}") + 1
    console.text(str(number))
    console.text("Sudah seminggu")
    relayed = to(console.last, ADMIN)
    assert len(relayed) == 1 and ticket in relayed[0].text and relayed[0].reply_to is None


def test_a_photo_sent_for_a_reply_is_a_progress_photo(world: World) -> None:
    siti = world.citizen(SITI)
    report_id = world.report(file(siti)).id
    bring(world, report_id, "in_progress")
    world.press(GAMBIR_CHAT, OFFICER, f"w:{report_id}")
    out = world._group(GAMBIR_CHAT, OFFICER, photos=(fake_photo(74),), text="Dikerjakan")
    told = to(out, siti.address)
    assert len(told) == 1 and told[0].photo == fake_photo(74).path and "Dikerjakan" in told[0].text
    assert events(world, report_id, "progress") == 1 and events(world, report_id, "reply") == 0
    assert status_of(world, report_id) == "in_progress"


def test_a_long_caption_on_an_added_photo_fits_telegrams_caption(world: World) -> None:
    siti = world.citizen(SITI)
    report_id = world.report(file(siti)).id
    bring(world, report_id, "forwarded")
    siti.choose(f"add:{report_id}")
    siti.photo(fake_photo(75), caption="c" * 1000)
    relayed = to(siti.last, GAMBIR_CHAT)[0]
    assert relayed.photo and len(relayed.text) <= 1024 and relayed.text.endswith("…")
    with new_session(world.engine) as session:
        note = session.scalars(select(ReportEvent.note).where(ReportEvent.kind == "addition")).one()
    assert note == "c" * 1000, "the whole note is kept"
