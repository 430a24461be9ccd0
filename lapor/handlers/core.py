"""The conversation core: one inbound event in, stored state and outbox rows out.

`Core.process` runs inside the caller's transaction. It records the event's receipt
(a redelivered event changes nothing twice), loads the conversation for (channel,
address), lets the current step respond, saves the new state and puts the replies in
the outbox. The caller commits once, so state, report and messages land together or
not at all.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlmodel import Session

from lapor.handlers.citizen import (
    MENU_PAYLOADS,
    CoreConfig,
    Ctx,
    Reply,
    Turn,
    joined,
    parse_command,
    prompt,
    respond,
)
from lapor.handlers.steps import Step, parse_step
from lapor.handlers.types import Clock, Inbound, Outbound
from lapor.store.models import Contact, Conversation, InboundReceipt
from lapor.store.outbox import OutgoingRow, enqueue
from lapor.store.upsert import insert_for


def utc_now() -> datetime:
    return datetime.now(UTC)


class Core:
    def __init__(self, config: CoreConfig | None = None, clock: Clock = utc_now) -> None:
        self.config = config or CoreConfig()
        self.clock = clock

    def process(self, session: Session, inbound: Inbound) -> list[Outbound]:
        """Handle one event in `session`'s transaction; returns what was queued to send."""
        now = self.clock()
        if not _first_receipt(session, inbound, now):
            return []
        contact = self._contact(session, inbound, now)
        conversation = _conversation(session, contact, now)
        ctx = Ctx(session=session, contact=contact, config=self.config, now=now)

        step = parse_step(conversation.state)
        data = dict(conversation.data or {})
        expired = step is not Step.IDLE and now - conversation.updated_at > self.config.idle_timeout
        if expired:
            turn = self._fresh_start(ctx, inbound)
        else:
            turn = respond(ctx, step, data, inbound)

        conversation.state = turn.step.value
        conversation.data = turn.data
        conversation.updated_at = now
        session.add(conversation)

        outbound = [
            Outbound(
                channel=inbound.channel,
                address=inbound.address,
                text=reply.text,
                choices=reply.choices,
                ask_location=reply.ask_location,
                key=f"reply:{inbound.channel}:{inbound.address}:{inbound.message_id}:{i}",
                meta={"language": contact.language},
            )
            for i, reply in enumerate(turn.replies)
        ]
        enqueue(
            session,
            [
                OutgoingRow(
                    key=o.key,
                    channel=o.channel,
                    address=o.address,
                    payload=o.to_payload(),
                    contact_id=contact.id,
                )
                for o in outbound
            ],
            now,
        )
        return outbound

    def _fresh_start(self, ctx: Ctx, inbound: Inbound) -> Turn:
        """After the idle timeout: say the draft is gone; commands still do what they say."""
        minutes = int(self.config.idle_timeout.total_seconds() // 60)
        notice = ctx.t("expired", minutes=minutes)
        command, _ = parse_command(inbound.text)
        if (command and command != "unknown") or inbound.choice in MENU_PAYLOADS:
            turn = respond(ctx, Step.IDLE, {}, inbound)
            first, *rest = turn.replies or [Reply("")]
            return Turn(turn.step, turn.data, [joined(notice, first), *rest])
        return Turn(Step.IDLE, {}, [joined(notice, prompt(ctx, Step.IDLE, {}))])

    def _contact(self, session: Session, inbound: Inbound, now: datetime) -> Contact:
        query = select(Contact).where(
            Contact.channel == inbound.channel, Contact.address == inbound.address
        )
        contact = session.scalars(query).first()
        if contact is None:
            session.execute(
                insert_for(session, Contact)
                .values(
                    channel=inbound.channel,
                    address=inbound.address,
                    language=self.config.default_language,
                    reachable=True,
                    created_at=now,
                )
                .on_conflict_do_nothing(index_elements=["channel", "address"])
            )
            contact = session.scalars(query).one()
        contact.last_inbound_at = now
        # A user who writes to us again has unblocked the bot.
        contact.reachable = True
        contact.unreachable_reason = None
        if inbound.name and inbound.name != contact.name:
            contact.name = inbound.name[:128]
        if inbound.telegram_id is not None:
            contact.telegram_id = inbound.telegram_id
        session.add(contact)
        return contact


def _first_receipt(session: Session, inbound: Inbound, now: datetime) -> bool:
    stmt = (
        insert_for(session, InboundReceipt)
        .values(channel=inbound.channel, key=inbound.message_id[:80], received_at=now)
        .on_conflict_do_nothing(index_elements=["channel", "key"])
        .returning(InboundReceipt.key)
    )
    # RETURNING, not rowcount: drivers disagree on rowcount for ON CONFLICT DO NOTHING.
    return session.execute(stmt).first() is not None


def _conversation(session: Session, contact: Contact, now: datetime) -> Conversation:
    """The contact's conversation row, locked for this transaction (PostgreSQL)."""
    query = (
        select(Conversation)
        .where(Conversation.channel == contact.channel, Conversation.address == contact.address)
        .with_for_update()
    )
    conversation = session.scalars(query).first()
    if conversation is None:
        session.execute(
            insert_for(session, Conversation)
            .values(
                channel=contact.channel,
                address=contact.address,
                contact_id=contact.id,
                state=Step.IDLE.value,
                data={},
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["channel", "address"])
        )
        conversation = session.scalars(query).one()
    return conversation
