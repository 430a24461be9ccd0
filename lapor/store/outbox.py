"""Outbox queue operations: enqueue in the caller's transaction, claim with a lease, record.

A dispatcher claims due rows (status `pending`, or `sending` whose lease ran out because a
dispatcher died mid-send), commits the claim, sends without holding any row lock, then
records the outcome. On PostgreSQL several dispatchers claim with FOR UPDATE SKIP LOCKED
so no two take the same row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import and_, bindparam, func, literal_column, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import UnaryExpression
from sqlalchemy.sql.operators import custom_op
from sqlmodel import Session

from lapor.store.models import UNSENT, Contact, Outbox

PENDING = "pending"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
CANCELLED = "cancelled"
# WhatsApp outside its 24-hour window with no approved template: kept until the user
# writes again, then sent.
HELD = "held"
ANALYZE_AFTER = 1000
OUTBOX_STATUSES = frozenset({PENDING, SENDING, SENT, FAILED, CANCELLED, HELD})


@dataclass(frozen=True)
class OutgoingRow:
    key: str
    channel: str
    address: str
    payload: dict[str, Any]
    contact_id: int | None = None


@dataclass(frozen=True)
class Claimed:
    """A leased outbox row, detached from any session."""

    id: int
    key: str
    channel: str
    address: str
    payload: dict[str, Any]
    attempts: int


_table = Outbox.__table__  # type: ignore[attr-defined]


@lru_cache(maxsize=4)
def _statements(dialect: str) -> dict[str, Any]:
    """Statements built once per dialect: SQLAlchemy then reuses their compiled form.

    The outbox is on every message's path; building (and compiling) these per call cost
    more than the database work itself.
    """
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    c = _table.c
    earlier = _table.alias("earlier")
    blocked = (
        select(earlier.c.id)
        .where(
            earlier.c.channel == c.channel,
            earlier.c.address == c.address,
            earlier.c.id < c.id,
            # Literal, as the partial index ix_outbox_unsent_chat states it: a planner uses
            # a partial index only when it can see the query implies its condition.
            text(f"earlier.{UNSENT}"),
        )
        .exists()
    )
    due = or_(
        and_(c.status == PENDING, c.next_attempt_at <= bindparam("now")),
        and_(c.status == SENDING, c.lease_until <= bindparam("now")),
    )
    channel: Any = c.channel
    if dialect == "sqlite":
        # SQLite's planner (no statistics) drives the claim by an equality on the first
        # column of ix_outbox_chat: with one channel that walks every row ever sent
        # (100,000 sent rows: 190 ms per claim, on every message's path). The unary +
        # takes the channel off the index, so ix_outbox_due finds the due rows (< 1 ms).
        channel = UnaryExpression(c.channel, operator=custom_op("+"), type_=c.channel.type)
    claim = (
        select(c.id, c.key, c.channel, c.address, c.payload, c.attempts)
        .where(due, ~blocked, channel.in_(bindparam("channels", expanding=True)))
        .order_by(c.id)
        .limit(bindparam("limit"))
    )
    if dialect == "postgresql":
        # Several dispatchers: each skips rows another one is claiming right now.
        claim = claim.with_for_update(skip_locked=True)
    head_of_chat = select(func.min(c.next_attempt_at)).where(
        c.status == PENDING,
        ~blocked,
        c.channel.in_(bindparam("channels", expanding=True)),
    )
    return {
        "next_due": head_of_chat,
        "enqueue": insert(_table)
        .values(status=literal_column(f"'{PENDING}'"), attempts=literal_column("0"))
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(c.id),
        "claim": claim,
        "lease": update(_table)
        .where(c.id.in_(bindparam("ids", expanding=True)))
        .values(status=SENDING, lease_until=bindparam("lease_until"), attempts=c.attempts + 1),
        "release_held": update(_table)
        .where(
            c.channel == bindparam("held_channel"),
            c.address == bindparam("held_address"),
            c.status == HELD,
        )
        .values(status=PENDING, next_attempt_at=bindparam("release_at")),
        "sent": update(_table)
        .where(c.id == bindparam("row_id"))
        .values(
            status=SENT,
            sent_at=bindparam("sent_at"),
            provider_id=bindparam("provider_id"),
            lease_until=None,
        ),
    }


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def enqueue(session: Session, rows: Iterable[OutgoingRow], now: datetime) -> int:
    """Add messages to the outbox; a key already there is skipped (idempotent)."""
    # Only what differs per row; the rest are the columns' defaults or NULL. Every value
    # here is processed per row, which is most of the time of a burst of 30,000 reminders.
    values = [
        {
            "key": row.key,
            "channel": row.channel,
            "address": row.address,
            "payload": row.payload,
            "contact_id": row.contact_id,
            "next_attempt_at": now,
            "created_at": now,
        }
        for row in rows
    ]
    if not values:
        return 0
    statement = _statements(_dialect(session))["enqueue"]
    # RETURNING, not rowcount: drivers disagree on rowcount for ON CONFLICT DO NOTHING.
    if len(values) == 1:
        return len(session.execute(statement, values[0]).all())
    added = len(session.execute(statement, values).all())
    if added >= ANALYZE_AFTER and _dialect(session) == "postgresql":
        # A fresh table that was never analyzed looks empty to the planner, which then
        # plans the claim as if it were: quadratic on the first big batch (reminders).
        session.execute(text("ANALYZE outbox"))
    return added


def claim_due(
    session: Session,
    now: datetime,
    *,
    limit: int = 100,
    lease: timedelta = timedelta(seconds=60),
    channels: Sequence[str] | None = None,
) -> list[Claimed]:
    """Lease up to `limit` due messages, oldest first. The caller commits, then sends.

    Per-chat order: a message waits while an older one to the same chat is unsent
    (waiting for a retry, or being sent by another dispatcher).
    """
    statements = _statements(_dialect(session))
    if channels is None:
        channels = sorted(set(session.execute(select(_table.c.channel).distinct()).scalars()))
    if not channels:
        return []
    found = session.execute(
        statements["claim"], {"now": now, "channels": list(channels), "limit": limit}
    ).all()
    if not found:
        return []
    session.execute(
        statements["lease"], {"ids": [row.id for row in found], "lease_until": now + lease}
    )
    return [
        Claimed(row.id, row.key, row.channel, row.address, row.payload, row.attempts + 1)
        for row in found
    ]


def mark_sent(session: Session, row_id: int, now: datetime, provider_id: str | None) -> None:
    mark_sent_many(session, [(row_id, provider_id)], now)


def mark_sent_many(session: Session, sent: Sequence[tuple[int, str | None]], now: datetime) -> None:
    if sent:
        session.execute(
            _statements(_dialect(session))["sent"],
            [{"row_id": i, "provider_id": p, "sent_at": now} for i, p in sent],
        )


def mark_retry(session: Session, row_id: int, error: str, next_attempt_at: datetime) -> None:
    session.execute(
        update(Outbox)
        .where(Outbox.id == row_id)
        .values(
            status=PENDING,
            last_error=error[:2000],
            next_attempt_at=next_attempt_at,
            lease_until=None,
        )
    )


def next_due(session: Session, channels: Sequence[str]) -> datetime | None:
    """When the next message can go (the dispatcher sleeps until then).

    Only the first unsent message of each chat counts: the ones behind it wait for it.
    """
    if not channels:
        return None
    return session.execute(
        _statements(_dialect(session))["next_due"], {"channels": list(channels)}
    ).scalar()


def release(
    session: Session, row_ids: Sequence[int], now: datetime, error: str | None = None
) -> None:
    """Give claimed rows back untried, due at `now` (an earlier message to the same chat
    failed, or the platform's pace asks to wait); `error` is what the platform said."""
    if row_ids:
        values: dict[str, Any] = {
            "status": PENDING,
            "attempts": Outbox.attempts - 1,
            "lease_until": None,
            "next_attempt_at": now,
        }
        if error:
            values["last_error"] = error[:2000]
        session.execute(update(Outbox).where(Outbox.id.in_(row_ids)).values(**values))


def hold(session: Session, row_id: int, reason: str) -> None:
    session.execute(
        update(Outbox)
        .where(Outbox.id == row_id)
        .values(status=HELD, last_error=reason[:2000], lease_until=None)
    )


def release_held(session: Session, channel: str, address: str, now: datetime) -> int:
    """The user wrote: what was held for them goes out now, in the order it was written.

    Runs for every inbound event, so it is a cached Core statement on the chat index.
    """
    result = session.connection().execute(
        _statements(_dialect(session))["release_held"],
        {"held_channel": channel, "held_address": address, "release_at": now},
    )
    return result.rowcount or 0


def mark_failed(session: Session, row_id: int, error: str) -> None:
    session.execute(
        update(Outbox)
        .where(Outbox.id == row_id)
        .values(status=FAILED, last_error=error[:2000], lease_until=None)
    )


def mark_unreachable(session: Session, channel: str, address: str, reason: str) -> int:
    """The platform refused the recipient (blocked the bot, chat gone): stop trying.

    Flags the contact and cancels its other pending messages; returns how many.
    """
    session.execute(
        update(Contact)
        .where(Contact.channel == channel, Contact.address == address)
        .values(reachable=False, unreachable_reason=reason)
    )
    result = session.execute(
        update(Outbox)
        .where(Outbox.channel == channel, Outbox.address == address, Outbox.status == PENDING)
        .values(status=CANCELLED, last_error=f"recipient unreachable: {reason}"[:2000])
    )
    return result.rowcount or 0


def purge(session: Session, before: datetime) -> int:
    """Delete finished messages created before `before`; returns how many.

    The claim query walks the outbox's indexes, so years of sent rows slow every claim;
    the history that matters (reports, their events) lives elsewhere.
    """
    from sqlalchemy import delete

    result = session.execute(
        delete(Outbox).where(
            Outbox.status.in_((SENT, CANCELLED, FAILED)), Outbox.created_at < before
        )
    )
    return result.rowcount or 0
