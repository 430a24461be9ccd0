"""The conversation core: one inbound event in, stored state and outbox rows out.

`Core.process` runs inside the caller's transaction. It records the event's receipt
(a redelivered event changes nothing twice), loads the conversation for (channel,
address), lets the current step respond, saves the new state and puts the replies in
the outbox. The caller commits once, so state, report and messages land together or
not at all.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session

from lapor.handlers import payloads, review
from lapor.handlers.citizen import match_choice, parse_command, prompt, respond
from lapor.handlers.context import (
    SHOWN,
    CoreConfig,
    Ctx,
    Reply,
    Turn,
    joined,
    shown_choices,
    shown_value,
)
from lapor.handlers.payloads import MENU_PAYLOADS
from lapor.handlers.rooms import Rooms
from lapor.handlers.steps import Step, parse_step
from lapor.handlers.types import Choice, Clock, Inbound, Outbound
from lapor.store import chats
from lapor.store.models import Report
from lapor.store.outbox import OutgoingRow, enqueue, release_held


def _meta(reply: Reply, language: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"language": reply.language or language}
    if reply.template is not None:
        name, variables = reply.template
        meta["template"] = {"name": name, "variables": list(variables)}
    if reply.card_of is not None:
        meta["card"] = reply.card_of
    return meta


def utc_now() -> datetime:
    return datetime.now(UTC)


class Core:
    def __init__(
        self,
        config: CoreConfig | None = None,
        clock: Clock = utc_now,
        *,
        rooms: Rooms | None = None,
        locate: Callable[[float, float], Any] | None = None,
    ) -> None:
        self.config = config or CoreConfig()
        self.clock = clock
        self.rooms = rooms or Rooms()
        self.locate = locate

    def _ctx(self, session: Session, contact: chats.ContactInfo, now: datetime) -> Ctx:
        return Ctx(
            session=session,
            contact=contact,
            config=self.config,
            now=now,
            rooms=self.rooms,
            locate=self.locate,
        )

    def process(self, session: Session, inbound: Inbound) -> list[Outbound]:
        """Handle one event in `session`'s transaction; returns what was queued to send."""
        now = self.clock()
        if not chats.first_receipt(session, inbound.channel, inbound.message_id, now):
            return []
        if inbound.group or (inbound.channel, inbound.address) == self.rooms.admin:
            return self._group(session, inbound, now)
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
        # Whatever waited for this user to write (WhatsApp's 24-hour window) goes out now.
        release_held(session, inbound.channel, inbound.address, now)
        ctx = self._ctx(session, contact, now)

        step = parse_step(conversation.state)
        data = {k: v for k, v in conversation.data.items() if k != SHOWN}
        shown = shown_choices(conversation.data)
        expired = step is not Step.IDLE and now - conversation.updated_at > self.config.idle_timeout
        if expired:
            turn = self._fresh_start(ctx, inbound, shown)
        else:
            turn = respond(ctx, step, data, inbound, shown)
        saved = dict(turn.data)
        after = _shown_after(turn.replies, (inbound.channel, inbound.address), shown)
        if after is not None:
            saved[SHOWN] = shown_value(after)
        chats.save_conversation(session, conversation, turn.step.value, saved, now)
        replies = list(turn.replies)
        for report_id in turn.created:
            report = session.get(Report, report_id)
            if report is not None:
                # The similar reports the citizen was shown: verifiers see them on the card.
                similar = [item["ticket"] for item in data.get("similar", [])]
                replies += review.admin_card(ctx, report, self.rooms, similar)
        return self._send(session, inbound, replies, contact.id, contact.language, now)

    def filed(
        self, session: Session, contact: chats.ContactInfo, report: Report, event_id: str
    ) -> list[Outbound]:
        """A report filed outside any conversation (the Open311 API): the verifiers get its
        card as they get a chat report's, queued in the caller's transaction."""
        now = self.clock()
        ctx = self._ctx(session, contact, now)
        replies = review.admin_card(ctx, report, self.rooms, [])
        event = Inbound(channel=contact.channel, address=contact.address, message_id=event_id)
        return self._send(session, event, replies, contact.id, contact.language, now)

    def _group(self, session: Session, inbound: Inbound, now: datetime) -> list[Outbound]:
        """The admin chat and kelurahan groups: each member's pending answer is their own."""
        if inbound.migrated_to:
            chats.migrate_chat(session, inbound.channel, inbound.address, inbound.migrated_to)
            return []
        group = chats.touch_contact(
            session,
            channel=inbound.channel,
            address=inbound.address,
            now=now,
            language=self.config.default_language,
            name=inbound.chat_title,
        )
        ctx = self._ctx(session, group, now)
        member_address = f"{inbound.address}/{inbound.sender or '-'}"[:64]
        member = chats.load_conversation(session, inbound.channel, member_address, None, now)
        pending = member.data if member.state == "review" else {}
        if pending and now - member.updated_at > self.config.idle_timeout:
            pending = {}
        if (inbound.channel, inbound.address) == self.rooms.admin:
            result = review.on_admin(ctx, inbound, self.rooms, pending)
        else:
            kelurahan = review.kelurahan_of_room(session, inbound.channel, inbound.address)
            if (inbound.text or "").strip().casefold().startswith("/kelurahan"):
                code = (inbound.text or "").strip().split(maxsplit=1)
                replies = review.bind_group(
                    ctx, inbound, code[1] if len(code) > 1 else "", self.rooms
                )
                result = review.MemberTurn("idle", {}, replies)
            elif kelurahan is None:
                return []  # a group we do not serve: stay quiet
            else:
                result = review.on_group(ctx, inbound, kelurahan, self.rooms, pending)
        if result.state != member.state or result.data != member.data or pending:
            chats.save_conversation(session, member, result.state, result.data, now)
        return self._send(session, inbound, result.replies, group.id, group.language, now)

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
                force_reply=reply.force_reply,
                reply_to=reply.reply_to,
                link=reply.link,
                key=f"reply:{inbound.channel}:{inbound.address}:{inbound.message_id}:{i}",
                meta=_meta(reply, language),
            )
            outbound.append(message)
            target = reply.contact_id if reply.to else contact_id
            rows.append(OutgoingRow(message.key, channel, address, message.to_payload(), target))
        enqueue(session, rows, now)
        return outbound

    def _fresh_start(
        self, ctx: Ctx, inbound: Inbound, shown: tuple[Choice, ...] | None = None
    ) -> Turn:
        """After the idle timeout: say the draft is gone; commands still do what they say,
        and so does a rating, which never expires."""
        minutes = int(self.config.idle_timeout.total_seconds() // 60)
        notice = ctx.t("expired", minutes=minutes)
        command, _ = parse_command(inbound.text)
        picked = inbound.choice or match_choice(inbound.text, shown or ())
        rating = isinstance(payloads.parse(picked), payloads.Rate | payloads.AskRating)
        if (command and command != "unknown") or inbound.choice in MENU_PAYLOADS or rating:
            turn = respond(ctx, Step.IDLE, {}, inbound, shown)
            first, *rest = turn.replies or [Reply("")]
            return Turn(turn.step, turn.data, [joined(notice, first), *rest])
        return Turn(Step.IDLE, {}, [joined(notice, prompt(ctx, Step.IDLE, {}))])


def _shown_after(
    replies: list[Reply], sender: tuple[str, str], before: tuple[Choice, ...] | None
) -> tuple[Choice, ...] | None:
    """The numbered list the sender sees last once these replies are out.

    The last reply to the sender that has choices; none when the replies had none (a
    number then selects nothing); unchanged when nothing was said to the sender.
    """
    mine = [r for r in replies if r.to is None or r.to == sender]
    if not mine:
        return before
    listed = [r for r in mine if r.choices]
    return listed[-1].choices if listed else ()
