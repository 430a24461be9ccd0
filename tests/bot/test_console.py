"""`lapor console`: the whole citizen flow in a terminal, no token, no network."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys

import pytest
from PIL import Image
from sqlalchemy import select

from lapor.bot.channels.console import Role, to_inbound
from lapor.store.db import make_engine, new_session
from lapor.store.models import Photo, Report


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
    env = {**os.environ, "DATABASE_URL": url, "MEDIA_DIR": str(tmp_path / "media")}
    env.pop("TELEGRAM_BOT_TOKEN", None)
    result = subprocess.run(
        [sys.executable, "-m", "lapor.bot.cli", "console", "--user", "siti"],
        input=script,
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
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
    env = {**os.environ, "DATABASE_URL": url, "MEDIA_DIR": str(tmp_path / "media")}
    result = subprocess.run(
        [sys.executable, "-m", "lapor.bot.cli", "console", "--user", "budi"],
        input=script,
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
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
