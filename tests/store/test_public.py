"""The rule for what the public sees, and the words of an officer's note a page may show."""

from __future__ import annotations

import pytest

from lapor.store.models import Report
from lapor.store.public import HIDDEN, is_shown, normal_ticket, page_url, public_note


@pytest.mark.parametrize(
    ("note", "reporter", "expected"),
    [
        ("Sudah diangkut", None, "Sudah diangkut"),
        ("Hubungi 0812-3456-7890 bila kambuh", None, f"Hubungi {HIDDEN} bila kambuh"),
        ("wa +62 812 3456 7890", None, f"wa {HIDDEN}"),
        ("nomor 081234567890.", None, f"nomor {HIDDEN}."),
        ("Terkait JKT-2611-00042, sudah", None, "Terkait JKT-2611-00042, sudah"),
        ("Selesai 12.30, 3 truk", None, "Selesai 12.30, 3 truk"),
        ("Terima kasih Bu Siti Aminah", "Siti Aminah", f"Terima kasih Bu {HIDDEN}"),
        ("Terima kasih bu siti", "Siti Aminah", f"Terima kasih bu {HIDDEN}"),
        ("Jalan Aminah-Raya", "Al", "Jalan Aminah-Raya"),  # too short a name to look for
        ("0812 3456 7890", None, HIDDEN),
        ("", None, None),
        (None, None, None),
    ],
)
def test_an_officers_note_loses_numbers_and_the_reporters_name(
    note: str | None, reporter: str | None, expected: str | None
) -> None:
    assert public_note(note, reporter) == expected


@pytest.mark.parametrize(
    ("kind", "public", "status", "shown"),
    [
        ("laporan", True, "submitted", True),
        ("laporan", True, "resolved", True),
        ("laporan", True, "duplicate", True),  # as a pointer to its original
        ("laporan", True, "rejected", False),
        ("laporan", False, "resolved", False),  # rahasia
        ("saran", True, "acknowledged", False),
        ("apresiasi", True, "submitted", False),
    ],
)
def test_the_rule_for_a_loaded_report(kind: str, public: bool, status: str, shown: bool) -> None:
    report = Report(ticket="JKT-2611-00001", kind=kind, public=public, status=status)
    assert is_shown(report) is shown


def test_tickets_and_page_addresses() -> None:
    assert normal_ticket("jkt-2611-00001") == "JKT-2611-00001"
    for bad in ("", " JKT-2611-00001", "JKT 2611", "JKT/2611", "x" * 25, "jkt\n"):
        assert normal_ticket(bad) is None, bad
    assert page_url("https://lapor.example/", "JKT-1") == "https://lapor.example/r/JKT-1"
    assert page_url(None, "JKT-1") is None and page_url("", "JKT-1") is None
