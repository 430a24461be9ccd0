"""Two workers, one user: updates of the same conversation never interleave.

A citizen double-taps "Kirim" and Telegram delivers both callbacks to two web workers at
once. The conversation row is locked for the whole transaction (FOR UPDATE on PostgreSQL,
BEGIN IMMEDIATE on SQLite), so the second handler sees the first one's result (the draft
is gone) instead of the same draft: one report, never two.
"""

from __future__ import annotations

import threading

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from lapor.handlers.context import CoreConfig
from lapor.handlers.core import Core
from lapor.store.db import new_session
from lapor.store.models import Contact, Report
from tests.helpers import Chat, fake_photo

USERS = 8


def _to_confirm(chat: Chat, n: int) -> None:
    chat.text("/lapor")
    chat.choose("cat:sampah")
    chat.photo(fake_photo(1000 + n))
    chat.location(lat=-6.10 - n * 0.01, lon=106.80)  # a kilometre apart: nothing similar
    chat.choose("note:skip")
    if chat.state == "report.similar":
        chat.choose("dup:new")
    assert "confirm:yes" in chat.payloads, chat.said


def test_a_double_tap_on_two_workers_files_one_report(engine: Engine, clock) -> None:  # type: ignore[no-untyped-def]
    workers = [Core(CoreConfig(), clock), Core(CoreConfig(), clock)]
    addresses = [f"62812000{n:05d}" for n in range(USERS)]
    for n, address in enumerate(addresses):
        _to_confirm(Chat(engine, workers[0], address), n)

    replies: dict[str, list[str]] = {address: [] for address in addresses}
    errors: list[BaseException] = []

    def tap(worker: Core, address: str, barrier: threading.Barrier) -> None:
        chat = Chat(engine, worker, address)
        try:
            barrier.wait(timeout=10)
            chat.choose("confirm:yes")
            replies[address].append(chat.said)
        except BaseException as exc:
            errors.append(exc)

    threads = []
    for address in addresses:
        barrier = threading.Barrier(2)
        threads += [
            threading.Thread(target=tap, args=(worker, address, barrier)) for worker in workers
        ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors

    with new_session(engine) as session:
        per_user = dict(
            session.execute(
                select(Contact.address, func.count(Report.id))
                .join(Report, Report.reporter_id == Contact.id)
                .group_by(Contact.address)
            ).all()
        )
    assert per_user == {address: 1 for address in addresses}
    for address in addresses:
        assert len(replies[address]) == 2
        assert sum("tiket " in said for said in replies[address]) == 1, replies[address]
        assert Chat(engine, workers[1], address).state == "idle"
