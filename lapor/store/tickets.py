"""Public ticket numbers: PREFIX-YYMM-NNNNN, counted per month in WIB."""

from __future__ import annotations

import contextlib
from datetime import datetime

from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import IntegrityError, ProgrammingError
from sqlmodel import Session

from lapor.store.models import TicketCounter
from lapor.store.upsert import insert_for


def next_ticket(session: Session, prefix: str, local_now: datetime) -> str:
    """Take the next number of the month, safe across workers.

    The month is the local (WIB) one, since that is the calendar citizens and the
    kelurahan read tickets by; five digits hold a month of Qlue-scale traffic
    (~3,000 a day) and grow to six when a month goes past 99,999.

    PostgreSQL: from the month's sequence (migration 0012), which locks nothing, so
    reports confirmed at the same moment do not wait on each other. SQLite: one upsert of
    the month's counter row (its single writer holds the whole database anyway).
    """
    period = local_now.strftime("%y%m")
    if session.get_bind().dialect.name == "postgresql":
        _sequence_ready(session.get_bind().engine, period)
        number = session.execute(select(func.lapor_ticket_number(period))).scalar_one()
        return f"{prefix}-{period}-{number:05d}"
    stmt = (
        insert_for(session, TicketCounter)
        .values(period=period, last=1)
        .on_conflict_do_update(index_elements=["period"], set_={"last": TicketCounter.last + 1})
        .returning(TicketCounter.last)
    )
    number = session.execute(stmt).scalar_one()
    return f"{prefix}-{period}-{number:05d}"


_READY: set[tuple[str, str]] = set()  # (database, period) whose sequence this process made sure of


def _sequence_ready(engine: Engine, period: str) -> None:
    """Make the month's sequence on a connection of its own, committed at once.

    `lapor_ticket_number` would make it too, but inside the confirm's transaction, and every
    other confirm of the month's first minute would wait for that commit.
    """
    key = (engine.url.render_as_string(hide_password=True), period)
    if key in _READY or not period.isdigit():
        return
    with (
        contextlib.suppress(IntegrityError, ProgrammingError),
        engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn,
    ):
        conn.execute(text(f'CREATE SEQUENCE IF NOT EXISTS "ticket_{period}"'))
    _READY.add(key)
