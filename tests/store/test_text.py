"""Text as the database keeps it: cleaned at the edge, cut to its column by the store."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from lapor.store.chats import touch_contact
from lapor.store.db import new_session, transaction
from lapor.store.models import Contact, Report, ReportEvent
from lapor.store.text import ELLIPSIS, clean, fit

NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        ("biasa saja", "biasa saja"),
        ("a\x00b", "ab"),  # PostgreSQL refuses NUL in text
        ("tab\tand\nnewline", "tab\tand\nnewline"),  # kept: people use them
        ("windows\r\nline", "windows\nline"),
        ("old mac\rline", "old mac\nline"),
        ("\x01\x08\x0b\x0c\x0e\x1f\x7f\x85\x9f", ""),  # C0, DEL, C1
        ("\x1b[31mmerah", "[31mmerah"),  # an ANSI escape loses its ESC
        ("x\ud800y\udfffz", "x\ufffdy\ufffdz"),  # lone surrogates cannot be UTF-8
        ("Cafe\u0301", "Caf\u00e9"),  # NFC
        ("a\ufffeb\uffff", "ab"),  # XML 1.0 forbids these
        (
            "\U0001f44d\U0001f3fd \u202eRTL\u202c \u200d",
            "\U0001f44d\U0001f3fd \u202eRTL\u202c \u200d",
        ),
    ],
)
def test_clean(raw: str, cleaned: str) -> None:
    assert clean(raw) == cleaned
    assert clean(cleaned) == cleaned  # idempotent


@pytest.mark.parametrize(
    ("value", "limit", "result"),
    [
        ("pendek", 10, "pendek"),
        ("tepat", 5, "tepat"),
        ("terlalu panjang", 10, "terlalu p" + ELLIPSIS),
        ("kata  panjang", 7, "kata" + ELLIPSIS),  # no space before the ellipsis,
        ("abcdef", 1, "a"),
        ("abcdef", 0, ""),
    ],
)
def test_fit(value: str, limit: int, result: str) -> None:
    assert fit(value, limit) == result
    assert len(fit(value, limit)) <= limit


def test_every_write_is_cleaned_and_cut_to_its_column(engine) -> None:  # type: ignore[no-untyped-def]
    """Core statements (the contact upsert) and ORM objects (a report, its event) alike."""
    name = "N\x00ama " * 60  # 360 characters with NULs, for a varchar(128)
    label = "L\x00" * 400  # for a varchar(200)
    actor = "open311:" + "x" * 80 + "@contoh.go.id"  # for a varchar(64)
    with transaction(engine) as session:
        contact = touch_contact(
            session, channel="telegram", address="42", now=NOW, language="id", name=name
        )
        report = Report(
            ticket="JKT-2611-00001",
            kind="laporan",
            note="catatan\x00 dengan NUL",
            location_label=label,
            rejection_reason="R" * 500,
            status="submitted",
            channel="telegram",
            reporter_id=contact.id,
            created_at=NOW,
            updated_at=NOW,
        )
        session.add(report)
        session.flush()
        session.add(
            ReportEvent(
                report_id=report.id, at=NOW, to_status="submitted", actor=actor, note="\x00"
            )
        )
    with new_session(engine) as session:
        stored_name = session.scalars(select(Contact.name)).one()
        report = session.scalars(select(Report)).one()
        event = session.scalars(select(ReportEvent)).one()
    assert stored_name is not None and len(stored_name) == 128 and "\x00" not in stored_name
    assert stored_name.endswith(ELLIPSIS)
    assert report.note == "catatan dengan NUL"
    assert report.location_label == "L" * 199 + ELLIPSIS
    assert report.rejection_reason is not None and len(report.rejection_reason) == 300
    assert len(event.actor) == 64 and event.actor.startswith("open311:")
    assert event.note == ""
