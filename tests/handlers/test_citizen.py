"""The conversation core, step by step and misstep by misstep, for every kind."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from lapor.handlers.context import CoreConfig
from lapor.handlers.core import Core
from lapor.handlers.steps import Step
from lapor.store.db import new_session
from lapor.store.models import (
    Category,
    Contact,
    Outbox,
    Photo,
    Report,
    ReportEvent,
    ReportPhoto,
)
from tests.helpers import Chat, fake_photo

TICKET = re.compile(r"^JKT-\d{4}-\d{5}$")


@pytest.fixture
def core(clock) -> Core:  # type: ignore[no-untyped-def]
    return Core(CoreConfig(), clock)


@pytest.fixture
def chat(engine, core) -> Chat:  # type: ignore[no-untyped-def]
    return Chat(engine, core)


def count(engine, model) -> int:  # type: ignore[no-untyped-def]
    with new_session(engine) as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def test_start_shows_the_menu(chat: Chat) -> None:
    chat.text("/start")
    assert "Halo" in chat.said
    assert chat.payloads == [
        "menu:report",
        "menu:saran",
        "menu:apresiasi",
        "menu:mine",
        "menu:help",
        "menu:lang",
    ]
    assert chat.state == Step.IDLE


def test_full_report_is_stored_with_ticket_event_and_photo(chat: Chat, engine) -> None:  # type: ignore[no-untyped-def]
    chat.text("/start")
    chat.text("1")  # "Buat laporan" by number
    assert chat.state == Step.CATEGORY
    assert "cat:sampah" in chat.payloads and "cat:lainnya" in chat.payloads
    chat.text("banjir")  # a category by its label
    assert chat.state == Step.PHOTO and "Banjir" in chat.said
    chat.photo(fake_photo(1))
    assert chat.state == Step.LOCATION
    assert chat.last[0].ask_location and "(1/3)" in chat.said
    chat.location(-6.2, 106.85)
    assert chat.state == Step.NOTE
    chat.text("Air setinggi lutut sejak pagi")
    assert chat.state == Step.CONFIRM
    assert "Banjir" in chat.said and "-6.20000, 106.85000" in chat.said
    assert "Air setinggi lutut" in chat.said
    chat.choose("confirm:yes")
    assert chat.state == Step.IDLE
    ticket = re.search(r"JKT-\d{4}-\d{5}", chat.said).group(0)  # type: ignore[union-attr]

    with new_session(engine) as session:
        report = session.scalars(select(Report)).one()
        assert report.ticket == ticket and TICKET.match(ticket)
        assert (report.kind, report.status) == ("laporan", "submitted")
        category = session.get(Category, report.category_id)
        assert category is not None and category.slug == "banjir"
        assert (report.latitude, report.longitude) == (-6.2, 106.85)
        assert report.note == "Air setinggi lutut sejak pagi"
        events = session.scalars(select(ReportEvent)).all()
        assert [(e.from_status, e.to_status) for e in events] == [(None, "submitted")]
        assert session.scalars(select(ReportPhoto)).one().report_id == report.id
        assert report.created_at.tzinfo is not None
    # Every reply went to the outbox in the same transactions.
    assert count(engine, Outbox) == 7


def test_ticket_numbers_count_up_per_wib_month(engine, clock) -> None:  # type: ignore[no-untyped-def]
    core = Core(CoreConfig(), clock)
    first = Chat(engine, core, address="a").file_report()
    second = Chat(engine, core, address="b").file_report()
    assert first.endswith("-00001") and second.endswith("-00002")
    assert first.startswith("JKT-2611-")
    # 30 Nov 18:00 UTC is already 1 December in Jakarta (UTC+7): a new month, a new count.
    clock.now = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)
    third = Chat(engine, core, address="c").file_report()
    assert third == "JKT-2612-00001"


def test_redelivered_event_changes_nothing(chat: Chat, engine) -> None:  # type: ignore[no-untyped-def]
    chat.send(message_id="update-1", text="/lapor")
    assert chat.state == Step.CATEGORY
    assert chat.send(message_id="update-1", text="/lapor") == []
    chat.choose("cat:sampah")
    assert chat.send(message_id="update-1", text="/lapor") == []
    assert chat.state == Step.PHOTO
    assert count(engine, Outbox) == 2


@pytest.mark.parametrize(
    ("setup", "event", "expected", "step"),
    [
        ([], {"unsupported": "sticker"}, "stiker", Step.IDLE),
        (["/lapor"], {"location": "pin"}, "kategori", Step.CATEGORY),
        (["/lapor"], {"text": "99"}, "kategori", Step.CATEGORY),
        (["/lapor", "cat:sampah"], {"unsupported": "sticker"}, "stiker", Step.PHOTO),
        (["/lapor", "cat:sampah"], {"text": "ini fotonya"}, "perlu foto", Step.PHOTO),
        (["/lapor", "cat:sampah"], {"location": "pin"}, "perlu foto", Step.PHOTO),
        (["/lapor", "cat:sampah"], {"photo_error": "truncated"}, "rusak", Step.PHOTO),
        (["/lapor", "cat:sampah"], {"photo_error": "format"}, "JPEG", Step.PHOTO),
        (
            ["/lapor", "cat:sampah", "photo"],
            {"text": "Jl. Sudirman"},
            "perlu lokasi",
            Step.LOCATION,
        ),
        (["/lapor", "cat:sampah", "photo"], {"unsupported": "voice"}, "pesan suara", Step.LOCATION),
        (["/lapor", "cat:sampah", "photo", "pin"], {"location": "pin"}, "teks", Step.NOTE),
        (["/lapor", "cat:sampah", "photo", "pin"], {"photo": True}, "teks", Step.NOTE),
        (
            ["/lapor", "cat:sampah", "photo", "pin", "note:skip"],
            {"photo": True},
            "Kirim laporan",
            Step.CONFIRM,
        ),
        (
            ["/lapor", "cat:sampah", "photo", "pin", "note:skip"],
            {"text": "ya"},
            "Kirim laporan",
            Step.CONFIRM,
        ),
        (
            ["/lapor", "cat:sampah", "photo", "pin", "note:skip"],
            {"choice": "cat:banjir"},
            "tidak berlaku",
            Step.CONFIRM,
        ),
        (["/saran"], {"location": "pin"}, "Lokasi ditambahkan", Step.FEEDBACK_TEXT),
        (["/saran"], {"unsupported": "sticker"}, "stiker", Step.FEEDBACK_TEXT),
        (["/saran", "Tambah taman"], {"unsupported": "poll"}, "polling", Step.FEEDBACK_CONFIRM),
        ([], {"text": "/tidakada"}, "Halo", Step.IDLE),
    ],
)
def test_input_that_does_not_fit_gets_a_reprompt_and_changes_nothing(
    sqlite_engine,
    clock,
    setup,
    event,
    expected,
    step,  # type: ignore[no-untyped-def]
) -> None:
    chat = Chat(sqlite_engine, Core(CoreConfig(), clock))
    for action in setup:
        if action == "photo":
            chat.photo(fake_photo(1))
        elif action == "pin":
            chat.location()
        elif ":" in action and not action.startswith("/"):
            chat.choose(action)
        else:
            chat.text(action)
    before = count(sqlite_engine, Report), count(sqlite_engine, Photo)
    if event.get("location") == "pin":
        chat.location()
    elif event.get("photo"):
        chat.photo(fake_photo(2))
    else:
        chat.send(**event)
    assert expected in chat.said
    assert chat.state == step
    assert len(chat.last) == 1, "a re-prompt is one message"
    assert (count(sqlite_engine, Report), count(sqlite_engine, Photo)) == before


@pytest.mark.parametrize("steps", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("word", ["/batal", "/cancel", "batal", "cancel"])
def test_cancel_at_any_step_stores_nothing(sqlite_engine, clock, steps: int, word: str) -> None:  # type: ignore[no-untyped-def]
    chat = Chat(sqlite_engine, Core(CoreConfig(), clock))
    script = [
        lambda: chat.text("/lapor"),
        lambda: chat.choose("cat:sampah"),
        lambda: chat.photo(fake_photo(1)),
        lambda: chat.location(),
        lambda: chat.choose("note:skip"),
    ]
    for action in script[:steps]:
        action()
    chat.text(word)
    assert "Dibatalkan" in chat.said
    assert chat.state == Step.IDLE
    assert count(sqlite_engine, Report) == 0 and count(sqlite_engine, Photo) == 0


def test_cancel_button_works_like_the_command(chat: Chat) -> None:
    chat.text("/lapor")
    chat.choose("cancel")
    assert chat.state == Step.IDLE and "Dibatalkan" in chat.said


def test_idle_timeout_gives_a_polite_fresh_start(chat: Chat, clock, engine) -> None:  # type: ignore[no-untyped-def]
    chat.text("/lapor")
    chat.choose("cat:sampah")
    chat.photo(fake_photo(1))
    clock.advance(minutes=29)
    chat.text("masih di sini")  # within the timeout: still at the location step
    assert chat.state == Step.LOCATION and "perlu lokasi" in chat.said
    clock.advance(minutes=31)
    chat.location()
    assert "berakhir" in chat.said and "30 menit" in chat.said
    assert chat.state == Step.IDLE
    assert "menu:report" in chat.payloads
    # A command after the timeout still does what it says, after the notice.
    chat.text("/lapor")
    chat.choose("cat:sampah")
    clock.advance(hours=2)
    chat.text("/saran")
    assert "berakhir" in chat.said and chat.state == Step.FEEDBACK_TEXT
    assert count(engine, Report) == 0


def test_album_is_one_step_and_keeps_three_photos(chat: Chat, engine) -> None:  # type: ignore[no-untyped-def]
    chat.text("/lapor")
    chat.choose("cat:sampah")
    replies = [chat.photo(fake_photo(i), group="album-1") for i in range(1, 6)]
    assert len(replies[0]) == 1 and "(1/3)" in replies[0][0].text
    assert all(r == [] for r in replies[1:]), "the rest of an album is silent"
    chat.location()
    chat.choose("note:skip")
    assert "Foto: 3" in chat.said
    chat.choose("confirm:yes")
    assert count(engine, ReportPhoto) == 3


def test_more_photos_after_the_first_are_counted_and_capped(chat: Chat) -> None:
    chat.text("/lapor")
    chat.choose("cat:sampah")
    chat.photo(fake_photo(1))
    chat.photo(fake_photo(2))
    assert "(2/3)" in chat.said and chat.state == Step.LOCATION
    chat.photo(fake_photo(3))
    chat.photo(fake_photo(4))
    assert "Sudah 3 foto" in chat.said and chat.state == Step.LOCATION


def test_caption_becomes_the_note_and_can_be_kept(chat: Chat, engine) -> None:  # type: ignore[no-untyped-def]
    chat.text("/lapor")
    chat.choose("cat:jalan-rusak")
    chat.photo(fake_photo(1), caption="Lubang besar di depan sekolah")
    chat.location()
    assert "Lubang besar" in chat.said and "note:skip" in chat.payloads
    chat.text("lewati")  # the Skip label, typed
    chat.choose("confirm:yes")
    with new_session(engine) as session:
        assert session.scalars(select(Report)).one().note == "Lubang besar di depan sekolah"


def test_location_from_photo_exif_can_be_used(chat: Chat, engine) -> None:  # type: ignore[no-untyped-def]
    chat.text("/lapor")
    chat.choose("cat:sampah")
    chat.photo(fake_photo(1, gps=(-6.3, 106.9)))
    assert "loc:photo" in chat.payloads
    chat.choose("loc:photo")
    assert chat.state == Step.NOTE
    chat.choose("note:skip")
    chat.choose("confirm:yes")
    with new_session(engine) as session:
        report = session.scalars(select(Report)).one()
        assert (report.latitude, report.longitude) == (-6.3, 106.9)
        photo = session.scalars(select(Photo)).one()
        assert (photo.gps_lat, photo.gps_lon) == (-6.3, 106.9)


def test_invalid_coordinates_are_refused(chat: Chat) -> None:
    chat.text("/lapor")
    chat.choose("cat:sampah")
    chat.photo(fake_photo(1))
    chat.location(123.0, 500.0)
    assert "tidak valid" in chat.said and chat.state == Step.LOCATION


def test_note_too_long_is_refused(chat: Chat) -> None:
    chat.text("/lapor")
    chat.choose("cat:sampah")
    chat.photo(fake_photo(1))
    chat.location()
    chat.text("x" * 1001)
    assert "terlalu panjang" in chat.said and chat.state == Step.NOTE


@pytest.mark.parametrize("kind", ["saran", "apresiasi"])
def test_saran_and_apresiasi_are_stored_as_their_kind(chat: Chat, engine, kind: str) -> None:  # type: ignore[no-untyped-def]
    chat.text(f"/{kind}")
    assert chat.state == Step.FEEDBACK_TEXT
    chat.photo(fake_photo(7))  # a photo without caption is kept; the text is still needed
    assert chat.state == Step.FEEDBACK_TEXT and "Foto ditambahkan" in chat.said
    chat.text("Petugas kebersihan di Menteng sangat rajin")
    assert chat.state == Step.FEEDBACK_CONFIRM
    chat.location()
    assert "Lokasi ditambahkan" in chat.said
    chat.choose("fb:send")
    assert chat.state == Step.IDLE and "Terima kasih" in chat.said
    with new_session(engine) as session:
        report = session.scalars(select(Report)).one()
        assert report.kind == kind and report.category_id is None
        assert report.note == "Petugas kebersihan di Menteng sangat rajin"
        assert report.latitude == -6.1754
        assert TICKET.match(report.ticket)
    assert count(engine, ReportPhoto) == 1


def test_saran_text_only(chat: Chat, engine) -> None:  # type: ignore[no-untyped-def]
    chat.text("/saran")
    chat.text("Tambah halte di Jl. Kemang")
    chat.text("2")  # "Batal" is the second choice at the confirm step
    assert chat.state == Step.IDLE and count(engine, Report) == 0
    chat.text("/saran")
    chat.text("Tambah halte di Jl. Kemang")
    chat.text("1")
    assert count(engine, Report) == 1


def test_my_reports_lists_latest_with_status_label_and_date(chat: Chat) -> None:
    chat.text("/laporansaya")
    assert "belum punya laporan" in chat.said
    ticket = chat.file_report(category="cat:lampu-jalan")
    chat.choose("menu:mine")
    assert ticket in chat.said
    assert "Lampu Jalan" in chat.said and "Menunggu verifikasi" in chat.said
    assert "28 Nov 2026" in chat.said


def test_my_reports_shows_only_the_senders_reports(engine, core) -> None:  # type: ignore[no-untyped-def]
    siti, budi = Chat(engine, core, address="siti"), Chat(engine, core, address="budi")
    ticket = siti.file_report()
    budi.text("/laporansaya")
    assert ticket not in budi.said and "belum punya" in budi.said


def test_language_is_remembered_and_resumes_the_draft(chat: Chat, engine) -> None:  # type: ignore[no-untyped-def]
    chat.text("/lapor")
    chat.choose("cat:sampah")
    chat.text("/bahasa")
    assert chat.state == Step.LANGUAGE
    chat.text("2")  # English
    assert "Language set to English" in chat.said
    assert chat.state == Step.PHOTO, "changing language keeps the draft"
    chat.photo(fake_photo(1))
    assert "Share the problem's location" in chat.said
    chat.location()
    chat.choose("note:skip")
    chat.choose("confirm:yes")
    assert "Thank you" in chat.said
    chat.choose("menu:mine")
    assert "Awaiting verification" in chat.said
    with new_session(engine) as session:
        assert session.scalars(select(Contact)).one().language == "en"


def test_help_keeps_the_current_step(chat: Chat) -> None:
    chat.text("/lapor")
    chat.choose("cat:sampah")
    chat.text("/bantuan")
    assert "/laporansaya" in chat.said and "kirim foto" in chat.said.lower()
    assert chat.state == Step.PHOTO


def test_disabled_category_is_not_offered_nor_accepted(chat: Chat, engine) -> None:  # type: ignore[no-untyped-def]
    with new_session(engine) as session:
        category = session.scalars(select(Category).where(Category.slug == "kebakaran")).one()
        category.active = False
        session.add(category)
        session.commit()
    chat.text("/lapor")
    assert "cat:kebakaran" not in chat.payloads
    chat.choose("cat:kebakaran")
    assert chat.state == Step.CATEGORY


def test_unknown_stored_state_restarts_safely(chat: Chat, engine) -> None:  # type: ignore[no-untyped-def]
    from lapor.store.models import Conversation

    chat.text("/lapor")
    with new_session(engine) as session:
        conversation = session.scalars(select(Conversation)).one()
        conversation.state = "from.a.future.version"
        session.add(conversation)
        session.commit()
    chat.text("halo")
    assert chat.state == Step.IDLE and "menu:report" in chat.payloads


def _at_location(chat: Chat) -> None:
    chat.photo(fake_photo(1))
    assert chat.state == Step.LOCATION


def _text_at_photo(chat: Chat) -> None:
    chat.text("ini fotonya")
    assert chat.state == Step.PHOTO


@pytest.mark.parametrize(
    ("act", "channel", "names", "never"),
    [
        # The location prompt: Telegram's button and pin, WhatsApp's attachment, /loc.
        (_at_location, "telegram", ["📍 Kirim lokasi", "📎"], "/loc"),
        (_at_location, "whatsapp", ["📎 (lampiran) → Lokasi"], "📍 Kirim lokasi"),
        (_at_location, "console", ["/loc"], "📍 Kirim lokasi"),
        # Text where a photo is wanted: the camera button, or /photo PATH on the console.
        (_text_at_photo, "telegram", ["tombol kamera"], "/photo"),
        (_text_at_photo, "whatsapp", ["tombol kamera"], "/photo"),
        (_text_at_photo, "console", ["/photo PATH"], "tombol kamera"),
    ],
)
def test_prompts_name_what_each_channel_can_do(
    engine, core, act, channel: str, names: list[str], never: str
) -> None:  # type: ignore[no-untyped-def]
    chat = Chat(engine, core, channel=channel)
    chat.text("/lapor")
    chat.choose("cat:sampah")
    act(chat)
    for name in names:
        assert name in chat.said
    assert never not in chat.said
