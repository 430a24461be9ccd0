"""The conversation core: one inbound event in, stored state and outbox rows out.

`Core.process` runs inside the caller's transaction. It records the event's receipt
(a redelivered event changes nothing twice), loads the conversation for (channel,
address), lets the current step respond, saves the new state and puts the replies in
the outbox. The caller commits once, so state, report and messages land together or
not at all.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Session

from lapor.handlers.citizen import MENU_PAYLOADS, parse_command, prompt, respond
from lapor.handlers.context import CoreConfig, Ctx, Reply, Turn, joined
from lapor.handlers.steps import Step, parse_step
from lapor.handlers.types import Clock, Inbound, Outbound
from lapor.store import chats
from lapor.store.outbox import OutgoingRow, enqueue


def utc_now() -> datetime:
    return datetime.now(UTC)


class Core:
    def __init__(self, config: CoreConfig | None = None, clock: Clock = utc_now) -> None:
        self.config = config or CoreConfig()
        self.clock = clock

    def process(self, session: Session, inbound: Inbound) -> list[Outbound]:
        """Handle one event in `session`'s transaction; returns what was queued to send."""
        now = self.clock()
        if not chats.first_receipt(session, inbound.channel, inbound.message_id, now):
            return []
        contact = chats.touch_contact(
            session,
            channel=inbound.channel,
            address=inbound.address,
            now=now,
            language=self.config.default_language,
            name=inbound.name,
            telegram_id=inbound.telegram_id,
        )
        conversation = chats.load_conversation(
            session, inbound.channel, inbound.address, contact.id, now
        )
        ctx = Ctx(session=session, contact=contact, config=self.config, now=now)

        step = parse_step(conversation.state)
        data = conversation.data
        expired = step is not Step.IDLE and now - conversation.updated_at > self.config.idle_timeout
        if expired:
            turn = self._fresh_start(ctx, inbound)
        else:
            turn = respond(ctx, step, data, inbound)
        chats.save_conversation(session, conversation, turn.step.value, turn.data, now)

        return self._send(session, inbound, turn.replies, contact.id, contact.language, now)

    def _send(
        self,
        session: Session,
        inbound: Inbound,
        replies: list[Reply],
        contact_id: int | None,
        language: str,
        now: datetime,
    ) -> list[Outbound]:
        """Queue the replies in this transaction; keys derive from the inbound event."""
        outbound = []
        rows = []
        for i, reply in enumerate(replies):
            channel, address = reply.to or (inbound.channel, inbound.address)
            message = Outbound(
                channel=channel,
                address=address,
                text=reply.text,
                choices=reply.choices,
                ask_location=reply.ask_location,
                photo=reply.photo,
                location=reply.location,
                edit=reply.edit,
                key=f"reply:{inbound.channel}:{inbound.address}:{inbound.message_id}:{i}",
                meta={"language": reply.language or language},
            )
            outbound.append(message)
            target = reply.contact_id if reply.to else contact_id
            rows.append(OutgoingRow(message.key, channel, address, message.to_payload(), target))
        enqueue(session, rows, now)
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
