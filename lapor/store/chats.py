"""Per-message bookkeeping: receipts, contacts and conversation state.

These run for every inbound event, so they are Core statements built once per dialect
(the ORM's unit of work cost more than the database did), one round trip each.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from lapor.store.models import Contact, Conversation, InboundReceipt, Kelurahan, Outbox, Report

_contact = Contact.__table__  # type: ignore[attr-defined]
_conversation = Conversation.__table__  # type: ignore[attr-defined]
_receipt = InboundReceipt.__table__  # type: ignore[attr-defined]


@dataclass
class ContactInfo:
    """A contact as one message sees it (a plain record: cheaper than an ORM instance)."""

    id: int
    channel: str
    address: str
    telegram_id: int | None
    name: str | None
    language: str
    reachable: bool
    unreachable_reason: str | None
    blocked: bool
    blocked_reason: str | None
    opted_out: bool
    created_at: datetime
    last_inbound_at: datetime | None


@dataclass
class ConversationState:
    id: int
    state: str
    data: dict[str, Any]
    updated_at: datetime


@lru_cache(maxsize=4)
def _statements(dialect: str) -> dict[str, Any]:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    contact_insert = insert(_contact)
    excluded = contact_insert.excluded
    c = _contact.c
    conversation = select(
        _conversation.c.id, _conversation.c.state, _conversation.c.data, _conversation.c.updated_at
    ).where(
        _conversation.c.channel == bindparam("channel"),
        _conversation.c.address == bindparam("address"),
    )
    if dialect == "postgresql":
        # Two workers with updates of one chat: the second waits for the first's commit.
        conversation = conversation.with_for_update()
    return {
        # RETURNING, not rowcount: drivers disagree on rowcount for ON CONFLICT DO NOTHING.
        "receipt": insert(_receipt)
        .on_conflict_do_nothing(index_elements=["channel", "key"])
        .returning(_receipt.c.key),
        "contact": contact_insert.on_conflict_do_update(
            index_elements=["channel", "address"],
            set_={
                "last_inbound_at": excluded.last_inbound_at,
                # A user who writes to us again has unblocked the bot (a contact with no
                # chat at all, an Open311 reporter, stays unreachable).
                "reachable": excluded.reachable,
                "unreachable_reason": excluded.unreachable_reason,
                "name": func.coalesce(excluded.name, c.name),
                "telegram_id": func.coalesce(excluded.telegram_id, c.telegram_id),
            },
        ).returning(*_contact.c),
        "conversation": conversation,
        "conversation_insert": insert(_conversation).on_conflict_do_nothing(
            index_elements=["channel", "address"]
        ),
        "conversation_save": update(_conversation)
        .where(_conversation.c.id == bindparam("conversation_id"))
        .values(
            state=bindparam("state"), data=bindparam("data"), updated_at=bindparam("updated_at")
        ),
    }


def _run(session: Session, name: str, params: Any) -> Any:
    statements = _statements(session.get_bind().dialect.name)
    return session.connection().execute(statements[name], params)


def first_receipt(session: Session, channel: str, key: str, now: datetime) -> bool:
    """Record an inbound event's id; False when it was handled before (a redelivery)."""
    row = _run(session, "receipt", {"channel": channel, "key": key[:80], "received_at": now})
    return row.first() is not None


def seen_receipt(session: Session, channel: str, key: str) -> bool:
    """Whether an inbound event was handled already (read-only: a channel asks before
    costly work, such as a download, that a redelivery would repeat for nothing)."""
    row = session.execute(
        select(_receipt.c.key).where(_receipt.c.channel == channel, _receipt.c.key == key[:80])
    ).first()
    return row is not None


def touch_contact(
    session: Session,
    *,
    channel: str,
    address: str,
    now: datetime,
    language: str,
    name: str | None = None,
    telegram_id: int | None = None,
    no_chat: str | None = None,
) -> ContactInfo:
    """The contact for (channel, address), created on first contact; marks it reachable.

    `no_chat` says why a contact can never be written to (an API reporter): it is kept
    unreachable, so nothing is ever queued for it.
    """
    row = _run(
        session,
        "contact",
        {
            "channel": channel,
            "address": address,
            "telegram_id": telegram_id,
            "name": name or None,
            "language": language,
            "reachable": no_chat is None,
            "unreachable_reason": no_chat,
            "blocked": False,
            "blocked_reason": None,
            "opted_out": False,
            "created_at": now,
            "last_inbound_at": now,
        },
    ).one()
    return ContactInfo(**row._asdict())


def set_language(session: Session, contact: ContactInfo, language: str) -> None:
    session.execute(update(Contact).where(Contact.id == contact.id).values(language=language))
    contact.language = language


def set_opted_out(session: Session, contact: ContactInfo, opted_out: bool) -> None:
    session.execute(update(Contact).where(Contact.id == contact.id).values(opted_out=opted_out))
    contact.opted_out = opted_out


def load_conversation(
    session: Session, channel: str, address: str, contact_id: int | None, now: datetime
) -> ConversationState:
    """The conversation row (locked on PostgreSQL until commit), created when missing."""
    params = {"channel": channel, "address": address}
    row = _run(session, "conversation", params).first()
    if row is None:
        _run(
            session,
            "conversation_insert",
            {**params, "contact_id": contact_id, "state": "idle", "data": {}, "updated_at": now},
        )
        row = _run(session, "conversation", params).one()
    return ConversationState(row.id, row.state, dict(row.data or {}), row.updated_at)


def save_conversation(
    session: Session,
    conversation: ConversationState,
    state: str,
    data: dict[str, Any],
    now: datetime,
) -> None:
    _run(
        session,
        "conversation_save",
        {"conversation_id": conversation.id, "state": state, "data": data, "updated_at": now},
    )


def migrate_chat(session: Session, channel: str, old: str, new: str) -> None:
    """A chat got a new address (a Telegram group became a supergroup).

    Its unsent messages follow it, and a kelurahan group keeps its binding and reports.
    """
    session.execute(
        update(Outbox)
        .where(
            Outbox.channel == channel,
            Outbox.address == old,
            Outbox.status.in_(("pending", "sending", "held")),
        )
        .values(address=new)
    )
    if channel != "telegram":
        return
    old_id, new_id = int(old), int(new)
    session.execute(update(Kelurahan).where(Kelurahan.chat_id == old_id).values(chat_id=new_id))
    session.execute(
        update(Report).where(Report.group_chat_id == old_id).values(group_chat_id=new_id)
    )
