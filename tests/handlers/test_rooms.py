"""/buka and /bantuan in the verifiers' chat and the kelurahan groups (Telegram rooms)."""

from __future__ import annotations

import pytest

from tests.handlers.test_review import (
    ADMIN,
    GAMBIR_CHAT,
    OFFICER,
    STRANGER,
    VERIFIER,
    World,
    file,
)


@pytest.mark.parametrize(
    ("moves", "buttons", "status"),
    [
        ([], ["v", "r", "c", "d", "b", "w"], "Menunggu verifikasi"),
        (["v", "s", "photo"], [], "Selesai"),
        (["r"], ["rr", "rr", "rr", "rr", "cancel"], None),  # a reason is being asked: unchanged
    ],
)
def test_buka_in_the_admin_chat_shows_any_card_with_the_buttons_that_still_apply(
    world: World, moves: list[str], buttons: list[str], status: str | None
) -> None:
    ticket = file(world.citizen())
    report_id = world.report(ticket).id
    for move in moves:
        if move == "v":
            world.press(ADMIN, VERIFIER, f"v:{report_id}")
        elif move == "s":
            world.press(GAMBIR_CHAT, OFFICER, f"s:{report_id}")
        elif move == "photo":
            world.photo(GAMBIR_CHAT, OFFICER)
        elif move == "r":
            world.press(ADMIN, VERIFIER, f"r:{report_id}")
    if status is None:  # /buka while a reason is pending is a command, not the reason
        out = world.say(ADMIN, VERIFIER, f"/buka {ticket}")
        assert world.report(ticket).status == "submitted"
        buttons = ["v", "r", "c", "d", "b", "w"]
        status = "Menunggu verifikasi"
    else:
        out = world.say(ADMIN, VERIFIER, f"/buka@lapor_bot {ticket.lower()}")
    assert len(out) == 1 and out[0].address == ADMIN
    assert ticket in out[0].text and f"Status: {status}" in out[0].text
    assert [c.payload.split(":")[0] for c in out[0].choices] == buttons


@pytest.mark.parametrize(
    ("who", "text", "expected"),
    [
        (VERIFIER, "/buka JKT-9999-00001", "tidak ditemukan"),
        (VERIFIER, "/bantuan", "/buka NOMOR-TIKET"),
        (STRANGER, "/buka JKT-9999-00001", "hanya verifikator"),
        (VERIFIER, "halo semua", None),  # people talk in a Telegram group: no answer
    ],
)
def test_admin_chat_commands_and_talk(world: World, who: int, text: str, expected) -> None:  # type: ignore[no-untyped-def]
    out = world.say(ADMIN, who, text)
    if expected is None:
        assert out == []
    else:
        assert len(out) == 1 and expected in out[0].text


def test_bantuan_in_a_group_keeps_the_answer_being_asked_for(world: World) -> None:
    ticket = file(world.citizen())
    report_id = world.report(ticket).id
    world.press(ADMIN, VERIFIER, f"v:{report_id}")
    world.press(GAMBIR_CHAT, OFFICER, f"s:{report_id}")
    out = world.say(GAMBIR_CHAT, OFFICER, "/bantuan")
    assert "Di grup kelurahan" in out[0].text
    world.photo(GAMBIR_CHAT, OFFICER)  # still the after-photo it was waiting for
    assert world.report(ticket).status == "resolved"
