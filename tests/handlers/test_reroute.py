"""Re-routing by name: forgiving about case, accents and partial names; helpful when not."""

from __future__ import annotations

import pytest

from tests.handlers.test_review import (
    ADMIN,
    GAMBIR_CHAT,
    OFFICER,
    VERIFIER,
    World,
    file,
    to,
)


def sent_back(world: World) -> tuple[str, int]:
    siti = world.citizen()
    ticket = file(siti)
    report_id = world.report(ticket).id
    world.press(ADMIN, VERIFIER, f"v:{report_id}")
    world.press(GAMBIR_CHAT, OFFICER, f"n:{report_id}")
    world.say(GAMBIR_CHAT, OFFICER, "Bukan wilayah kami")
    world.press(ADMIN, VERIFIER, f"fw:{report_id}")
    return ticket, report_id


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("petojo", "DEMO.05"),
        ("PETOJO", "DEMO.05"),
        ("Pétojo", "DEMO.05"),
        ("Kel. Petojo (demo)", "DEMO.05"),
        ("demo.04", "DEMO.04"),
        ("tanah", "DEMO.03"),  # the start of a name
        ("abang", "DEMO.03"),  # a part of a name
        ("Méntèng", "DEMO.02"),
    ],
)
def test_a_kelurahan_typed_loosely_is_found(world: World, typed: str, code: str) -> None:
    ticket, _ = sent_back(world)
    world.say(ADMIN, VERIFIER, typed)
    assert world.report(ticket).kelurahan_code == code


@pytest.mark.parametrize(
    ("typed", "offered"),
    [
        ("Menteg", ["Menteng (demo)"]),  # a typo: the closest names
        ("Snen", ["Senen (demo)"]),
        ("demo", ["Gambir (demo)", "Menteng (demo)", "Petojo (demo)"]),  # several match
        ("xyzzy", []),
    ],
)
def test_no_single_match_changes_nothing_and_offers_names(
    world: World, typed: str, offered: list[str]
) -> None:
    ticket, _ = sent_back(world)
    out = to(world.say(ADMIN, VERIFIER, typed), ADMIN)
    moved = world.report(ticket)
    assert (moved.status, moved.kelurahan_code) == ("verified", "DEMO.01")
    assert len(out) == 1 and out[0].choices[0].payload == "cancel"
    for name in offered:
        assert name in out[0].text
    if not offered:
        assert "tidak ditemukan" in out[0].text
