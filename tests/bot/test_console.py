"""`lapor console`: the whole citizen flow in a terminal, no token, no network."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from sqlalchemy import select

from lapor.bot.channels.console import Role, to_inbound
from lapor.store.db import make_engine, new_session
from lapor.store.models import Photo, Report


def _console(script: str, url: str, tmp_path: Path, user: str = "siti") -> str:
    """`lapor console --user USER` fed `script`, as a person types it (no token set)."""
    env = {**os.environ, "DATABASE_URL": url, "MEDIA_DIR": str(tmp_path / "media")}
    env.pop("TELEGRAM_BOT_TOKEN", None)
    result = subprocess.run(
        [sys.executable, "-m", "lapor.bot.cli", "console", "--user", user],
        input=script,
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_console_files_a_report_lists_it_and_stores_a_suggestion(tmp_path) -> None:  # type: ignore[no-untyped-def]
    photo = tmp_path / "jalan.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (800, 600), (120, 120, 120)).save(photo, exif=exif)
    script = "\n".join(
        [
            "/start",
            "1",
            "jalan rusak",
            f"/photo {photo}",
            "/loc -6.1754 106.8272",
            "Lubang di lajur kiri",
            "1",
            "/laporansaya",
            "/saran",
            "Perbanyak tempat sampah",
            "1",
            "/photo /tidak/ada.jpg",
            "/keluar",
        ]
    )
    url = f"sqlite:///{tmp_path / 'console.db'}"
    out = _console(script, url, tmp_path)
    tickets = re.findall(r"JKT-\d{4}-\d{5}", out)
    assert tickets, out
    assert "Laporan terakhir Anda" in out and "Jalan Rusak" in out
    assert "Terima kasih atas saran Anda" in out
    engine = make_engine(url)
    with new_session(engine) as session:
        kinds = sorted(r.kind for r in session.scalars(select(Report)))
        assert kinds == ["laporan", "saran"]
        stored = session.scalars(select(Photo)).one()
        assert (stored.width, stored.height) == (600, 800), "orientation applied"
        path = tmp_path / "media" / stored.path
        with Image.open(io.BytesIO(path.read_bytes())) as image:
            assert not image.getexif()
    engine.dispose()


def test_console_plays_every_role_along_the_whole_path(tmp_path) -> None:  # type: ignore[no-untyped-def]
    before, after = tmp_path / "before.jpg", tmp_path / "after.jpg"
    Image.new("RGB", (640, 480), (150, 30, 30)).save(before)
    Image.new("RGB", (640, 480), (30, 150, 30)).save(after)
    script = "\n".join(
        [
            "/as wa",
            "halo",
            "1",
            "1",
            f"/photo {before}",
            "/loc -6.175 106.825",
            "1",  # Lewati (no note)
            "1",  # Kirim (public)
            "/as verifier",
            "1",
            "/as kelurahan DEMO.01",
            "1",
            "1",
            f"/photo {after}",
            "/as wa",
            "5",
            "/keluar",
        ]
    )
    url = f"sqlite:///{tmp_path / 'roles.db'}"
    out = _console(script, url, tmp_path, user="budi")
    assert "Balas dengan angka" in out, "the WhatsApp user sees numbered lists"
    assert "[#admin]" in out and "[#kel-DEMO.01]" in out
    assert "Kel. Gambir (demo)" in out
    assert "Terima kasih atas penilaian Anda (5/5)" in out
    engine = make_engine(url)
    with new_session(engine) as session:
        report = session.scalars(select(Report)).one()
        assert (report.channel, report.status, report.rating) == ("whatsapp", "resolved", 5)
        assert report.kelurahan_code == "DEMO.01" and report.after_photo_id is not None
    engine.dispose()


def run_console(tmp_path, script: list[str], name: str = "roles") -> tuple[str, str]:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / f'{name}.db'}"
    return _console("\n".join(script), url, tmp_path, user="rina"), url


def test_console_acts_on_any_card_with_buka_and_answers_in_every_room(tmp_path) -> None:  # type: ignore[no-untyped-def]
    first, second = tmp_path / "first.jpg", tmp_path / "second.jpg"
    Image.new("RGB", (640, 480), (200, 20, 20)).save(first)
    Image.new("RGB", (640, 480), (20, 20, 200)).save(second)
    # Tickets count per WIB month: the console runs on the real clock.
    month = datetime.now(ZoneInfo("Asia/Jakarta")).strftime("JKT-%y%m-")
    older, newer = f"{month}00001", f"{month}00002"
    script = [
        "/as wa",
        "/lapor",
        "1",
        "/photo /tidak/ada.jpg",  # a typo in the path
        f"/photo {first}",
        "/loc -6.175 106.825",
        "1",  # Lewati
        "1",  # Kirim (public)
        "/lapor",
        "2",
        f"/photo {second}",
        "/loc -6.1755 106.8255",
        "1",
        "2",  # Kirim (rahasia)
        "/as verifier",
        "halo",  # nothing is asked: a hint, not silence
        "/bantuan",
        f"/buka {older}",  # the older card; the newest is the second report's
        "1",  # Verifikasi, on the card just opened
        "/as kelurahan DEMO.01",
        "apa kabar",
        "/bantuan",
        f"/buka {older}",
        "1",  # Proses
        "/keluar",
    ]
    out, url = run_console(tmp_path, script)
    assert "berkasnya tidak ditemukan" in out and "gagal diunduh" not in out
    assert out.count("Tidak ada jawaban yang sedang diminta") == 2, out
    assert "/buka NOMOR-TIKET menampilkan kartu laporan mana pun" in out
    assert "Di grup kelurahan" in out
    engine = make_engine(url)
    with new_session(engine) as session:
        status = {r.ticket: r.status for r in session.scalars(select(Report))}
    engine.dispose()
    assert status == {older: "in_progress", newer: "submitted"}, out


@pytest.mark.parametrize(
    ("line", "choice"),
    [("1", "v:1"), ("2", "r:1"), ("0", None), ("3", None), ("9" * 5000, None)],
    ids=["first", "second", "zero", "past the list", "5,000 digits"],
)
async def test_a_number_in_a_room_picks_a_button_of_the_latest_card(
    line: str, choice: str | None
) -> None:
    """Past the list, or longer than int() takes (4,300 digits), a number is plain text."""
    room = Role("#admin", group=True)
    inbound = await to_inbound(
        None,  # type: ignore[arg-type]  # numbers and text need no runtime
        "verifier",
        None,
        line,
        room,
        {"#admin": ("v:1", "r:1")},
        {"#admin": "7"},
    )
    assert inbound.choice == choice
    assert inbound.text == (None if choice else line)


def test_console_officer_reply_progress_photo_and_citizen_addition(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """One terminal plays citizen, verifier and officer: both ways in chat, offline."""
    photo = tmp_path / "sampah.jpg"
    Image.new("RGB", (800, 600), (90, 140, 60)).save(photo)
    progress = tmp_path / "progres.jpg"
    Image.new("RGB", (800, 600), (200, 200, 30)).save(progress)
    script = "\n".join(
        [
            "/start",
            "1",
            "sampah",
            f"/photo {photo}",
            "/loc -6.1754 106.8272",
            "Tumpukan di trotoar",
            "1",
            "/as verifier",
            "1",  # Verifikasi
            "/as kelurahan DEMO.01",
            "4",  # Balas warga
            "Truk datang besok pagi",
            "5",  # Foto progres
            f"/photo {progress} Separuh terangkut",
            "/as warga",
            "/laporansaya",
            "1",  # Tambah keterangan/foto
            "Masih ada sisa di got",
            "/keluar",
        ]
    )
    url = f"sqlite:///{tmp_path / 'console.db'}"
    out = _console(script, url, tmp_path)
    ticket = re.search(r"JKT-\d{4}-\d{5}", out).group(0)  # type: ignore[union-attr]
    assert "Petugas Kelurahan Gambir (demo) membalas" in out and "Truk datang besok pagi" in out
    assert "Foto progres dari Petugas Kelurahan Gambir (demo)" in out
    assert "Separuh terangkut" in out
    assert f"Pelapor {ticket} menambahkan: Masih ada sisa di got" in out, out[-3000:]
