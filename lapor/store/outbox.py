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
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import aliased
from sqlmodel import Session

from lapor.store.models import Contact, Outbox
from lapor.store.upsert import insert_for

PENDING = "pending"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
CANCELLED = "cancelled"
OUTBOX_STATUSES = frozenset({PENDING, SENDING, SENT, FAILED, CANCELLED})


@dataclass(frozen=True)
class OutgoingRow:
    key: str
    channel: str
    address: str
    payload: dict[str, Any]
    contact_id: int | None = None


def enqueue(session: Session, rows: Iterable[OutgoingRow], now: datetime) -> int:
    """Add messages to the outbox; a key already there is skipped (idempotent)."""
    values = [
        {
            "key": row.key,
            "channel": row.channel,
            "address": row.address,
            "payload": row.payload,
            "contact_id": row.contact_id,
            "status": PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for row in rows
    ]
    if not values:
        return 0
    stmt = (
        insert_for(session, Outbox)
        .values(values)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(Outbox.id)
    )
    # RETURNING, not rowcount: drivers disagree on rowcount for ON CONFLICT DO NOTHING.
    return len(session.execute(stmt).all())


def claim_due(
    session: Session,
    now: datetime,
    *,
    limit: int = 100,
    lease: timedelta = timedelta(seconds=60),
    channels: Sequence[str] | None = None,
) -> list[Outbox]:
    """Lease up to `limit` due messages, oldest first. The caller commits, then sends."""
    due = or_(
        and_(Outbox.status == PENDING, Outbox.next_attempt_at <= now),
        and_(Outbox.status == SENDING, Outbox.lease_until <= now),
    )
    # Per-chat order: a message waits while an older one to the same chat is unsent
    # (waiting for a retry, or being sent by another dispatcher).
    earlier = aliased(Outbox)
    blocked = (
        select(earlier.id)
        .where(
            earlier.channel == Outbox.channel,
            earlier.address == Outbox.address,
            earlier.id < Outbox.id,
            earlier.status.in_((PENDING, SENDING)),
        )
        .exists()
    )
    query = select(Outbox).where(due, ~blocked).order_by(Outbox.id).limit(limit)
    if channels is not None:
        query = query.where(Outbox.channel.in_(channels))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = list(session.scalars(query))
    for row in rows:
        row.status = SENDING
        row.lease_until = now + lease
        row.attempts += 1
    session.flush()
    return rows


def mark_sent(session: Session, row_id: int, now: datetime, provider_id: str | None) -> None:
    session.execute(
        update(Outbox)
        .where(Outbox.id == row_id)
        .values(status=SENT, sent_at=now, provider_id=provider_id, lease_until=None)
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
        .values(reachable=False, unreachable_reason=reason[:200])
    )
    result = session.execute(
        update(Outbox)
        .where(Outbox.channel == channel, Outbox.address == address, Outbox.status == PENDING)
        .values(status=CANCELLED, last_error=f"recipient unreachable: {reason}"[:2000])
    )
    return result.rowcount or 0
