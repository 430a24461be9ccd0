"""Verifiers in the admin chat, officers in kelurahan groups, and what citizens are told.

A report goes: citizen -> admin card -> verifier decides -> kelurahan group card ->
officers mark it in progress and done (with an after-photo) -> the citizen rates it.
Every move is a conditional transition in the store (two presses, one winner), one
`report_event`, and a message to the reporter and the report's followers.

Group chats are shared: the person acting is `inbound.sender`, and a verifier typing a
rejection reason has a small conversation of their own, addressed "<chat>/<member>".
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlmodel import Session

from lapor.handlers import payloads
from lapor.handlers.context import SHOWN, Ctx, Reply, category_name, page_link, shown_value
from lapor.handlers.payloads import ADMIN_ACTIONS, GROUP_ACTIONS, Action, Staff
from lapor.handlers.rooms import Rooms
from lapor.handlers.texts import t
from lapor.handlers.types import Choice, GeoPoint, Inbound, PhotoIn
from lapor.store import chats
from lapor.store import reports as report_store
from lapor.store.codes import hash_code
from lapor.store.lifecycle import OPEN_STATUSES, EventKind, ReportKind, ReportStatus, status_label
from lapor.store.models import (
    Category,
    Contact,
    ContactEvent,
    GroupInvite,
    Kelurahan,
    Outbox,
    Report,
    Verifier,
)
from lapor.store.text import fit

# Telegram allows about 20 messages a minute into one group. A card is two messages (the
# pin, then the photo with its buttons); once the last minute's messages leave no room for
# another card and the digest, the rest wait, combined, in one digest per minute.
GROUP_MESSAGES_PER_MINUTE = 20
DIGEST_WINDOW = timedelta(seconds=60)
CONSOLE_GROUP_PREFIX = "#kel-"
# A reply or a progress photo's caption: a few lines on a phone, well within Telegram's 1,024
# characters of a photo's caption with the ticket and signature around it.
REPLY_MAX = 800
# A citizen's addition under a photo, with the ticket and the rahasia mark around it.
ADDITION_CAPTION_MAX = 900
# Where a report is the kelurahan's business: its group can act on it and talk about it.
GROUP_STATUSES = frozenset({ReportStatus.FORWARDED.value, ReportStatus.IN_PROGRESS.value})


def staff(ctx: Ctx) -> str:
    """Cards and group messages are for staff: in the deployment's language, not a citizen's."""
    return ctx.config.default_language


def map_link(latitude: float | None, longitude: float | None) -> str:
    if latitude is None or longitude is None:
        return "-"
    return (
        f"https://www.openstreetmap.org/?mlat={latitude:.6f}&mlon={longitude:.6f}"
        f"#map=18/{latitude:.6f}/{longitude:.6f}"
    )


def group_room(kelurahan: Kelurahan, rooms: Rooms) -> tuple[str, str] | None:
    """The chat a kelurahan's reports go to, or None while no group is bound."""
    if kelurahan.chat_id is not None:
        return ("telegram", str(kelurahan.chat_id))
    if rooms.console:
        return ("console", f"{CONSOLE_GROUP_PREFIX}{kelurahan.code}")
    return None


def kelurahan_of_room(session: Session, channel: str, address: str) -> Kelurahan | None:
    if channel == "telegram":
        try:
            chat_id = int(address)
        except ValueError:
            return None
        return session.scalars(select(Kelurahan).where(Kelurahan.chat_id == chat_id)).first()
    if channel == "console" and address.startswith(CONSOLE_GROUP_PREFIX):
        return session.get(Kelurahan, address.removeprefix(CONSOLE_GROUP_PREFIX))
    return None


# -- telling citizens ---------------------------------------------------------------------------


def tell_audience(
    ctx: Ctx,
    report: Report,
    extra_key: str | None = None,
    *,
    photo: str | None = None,
    rate: bool = False,
    officer_note: str | None = None,
    **values: object,
) -> list[Reply]:
    """One message per person following the report: the reporter and its followers (a
    rahasia report has none). `officer_note` is what the officer wrote, without who."""

    def message(contact: Contact) -> tuple[str, tuple[Choice, ...]]:
        lang = contact.language
        text = t(
            lang, "status.update", ticket=report.ticket, status=status_label(report.status, lang)
        )
        if extra_key:
            text += " " + t(lang, extra_key, **values)
        if officer_note:
            text += "\n" + t(lang, "status.officer_note", note=officer_note)
        choices: tuple[Choice, ...] = ()
        if rate and contact.id == report.reporter_id:
            text += "\n\n" + t(lang, "rate.prompt")
            choices = tuple(Choice(str(n), payloads.rate(report.id, n)) for n in payloads.RATINGS)
            _offer(ctx, contact, choices)
        return text, choices

    return _to_audience(ctx, report, message, photo=photo, with_link=True)


def _to_audience(
    ctx: Ctx,
    report: Report,
    message: Callable[[Contact], tuple[str, tuple[Choice, ...]]],
    *,
    photo: str | None,
    with_link: bool,
) -> list[Reply]:
    """`message(contact)` for each reachable person following the report, in their own
    language, with the status template WhatsApp needs outside its 24-hour window."""
    replies = []
    for contact in report_store.audience(ctx.session, report):
        if not contact.reachable:
            continue
        lang = contact.language
        text, choices = message(contact)
        replies.append(
            Reply(
                text,
                choices,
                to=(contact.channel, contact.address),
                photo=photo,
                language=lang,
                contact_id=contact.id,
                template=("status_update", (report.ticket, status_label(report.status, lang))),
                link=page_link(ctx.config, report, lang) if with_link else None,
            )
        )
    return replies


def _offer(ctx: Ctx, contact: Contact, choices: tuple[Choice, ...]) -> None:
    """The contact's next typed number answers these choices (WhatsApp and console), in
    whatever step they are: the draft, and the clock that expires it, are left alone."""
    conversation = chats.load_conversation(
        ctx.session, contact.channel, contact.address, contact.id, ctx.now
    )
    data = {**conversation.data, SHOWN: shown_value(choices)}
    chats.save_conversation(
        ctx.session, conversation, conversation.state, data, conversation.updated_at
    )


# -- cards ------------------------------------------------------------------------------------


def _category(ctx: Ctx, report: Report) -> str:
    if report.category_id is None:
        return t(staff(ctx), f"kind.{report.kind}")
    category = ctx.session.get(Category, report.category_id)
    return category_name(category, staff(ctx)) if category else "-"


def _place(ctx: Ctx, report: Report) -> str:
    if report.kelurahan_code:
        kelurahan = ctx.session.get(Kelurahan, report.kelurahan_code)
        if kelurahan:
            return f"Kel. {kelurahan.name}, Kec. {kelurahan.kecamatan}"
    if report.latitude is not None:
        return f"{report.latitude:.5f}, {report.longitude:.5f}"
    return "-"


def _photo_path(ctx: Ctx, report: Report) -> str | None:
    photo = report_store.first_photo(ctx.session, report.id)
    return photo.path if photo else None


def admin_card_text(ctx: Ctx, report: Report, similar: list[str] | None = None) -> str:
    history = ctx.session.execute(
        select(func.count())
        .select_from(Report)
        .where(Report.reporter_id == report.reporter_id, Report.id != report.id)
    ).scalar_one()
    note = (report.note or "-")[:300]
    similar_text = t(staff(ctx), "card.similar", tickets=", ".join(similar)) if similar else ""
    return _private_mark(ctx, report) + t(
        staff(ctx),
        "card.admin",
        ticket=report.ticket,
        kind=t(staff(ctx), f"kind.{report.kind}"),
        category=_category(ctx, report),
        note=note,
        kelurahan=_place(ctx, report),
        map=map_link(report.latitude, report.longitude),
        channel=report.channel,
        history=history,
        similar=similar_text,
    )


def admin_buttons(ctx: Ctx, report: Report) -> tuple[Choice, ...]:
    if report.kind != ReportKind.LAPORAN.value:
        return (
            Choice(
                t(staff(ctx), "card.acknowledge"), payloads.staff(Action.ACKNOWLEDGE, report.id)
            ),
            Choice(t(staff(ctx), "card.block"), payloads.staff(Action.BLOCK, report.id)),
            Choice(t(staff(ctx), "card.reply"), payloads.staff(Action.REPLY, report.id)),
        )
    return (
        Choice(t(staff(ctx), "card.verify"), payloads.staff(Action.VERIFY, report.id)),
        Choice(t(staff(ctx), "card.reject"), payloads.staff(Action.REJECT, report.id)),
        Choice(t(staff(ctx), "card.recategorise"), payloads.staff(Action.RECATEGORISE, report.id)),
        Choice(t(staff(ctx), "card.duplicate"), payloads.staff(Action.DUPLICATE, report.id)),
        Choice(t(staff(ctx), "card.block"), payloads.staff(Action.BLOCK, report.id)),
        Choice(t(staff(ctx), "card.reply"), payloads.staff(Action.REPLY, report.id)),
    )


def admin_card(ctx: Ctx, report: Report, rooms: Rooms, similar: list[str]) -> list[Reply]:
    """The card verifiers decide on; nothing when no admin chat is configured."""
    if rooms.admin is None:
        return []
    return [
        Reply(
            admin_card_text(ctx, report, similar),
            admin_buttons(ctx, report),
            to=rooms.admin,
            photo=_photo_path(ctx, report),
            card_of=report.id,
        )
    ]


def _decided(
    ctx: Ctx,
    report: Report,
    card: str | None,
    decision: str,
    who: str,
    rooms: Rooms,
    buttons: tuple[Choice, ...] = (),
) -> list[Reply]:
    """Edit the admin card to show what was decided and by whom."""
    if card is None or rooms.admin is None:
        return []
    text = admin_card_text(ctx, report) + t(staff(ctx), "card.decided", decision=decision, who=who)
    return [Reply(text, buttons, to=rooms.admin, photo=_photo_path(ctx, report), edit=card)]


def _private_mark(ctx: Ctx, report: Report) -> str:
    """The first line of a rahasia laporan's cards, so no officer mistakes it for public."""
    if report.public or report.kind != ReportKind.LAPORAN.value:
        return ""
    return t(staff(ctx), "card.private") + "\n"


def group_card_text(ctx: Ctx, report: Report) -> str:
    return _private_mark(ctx, report) + t(
        staff(ctx),
        "group.card",
        ticket=report.ticket,
        category=_category(ctx, report),
        note=(report.note or "-")[:300],
        place=_place(ctx, report),
        map=map_link(report.latitude, report.longitude),
        support=report.support_count + 1,
    )


def group_buttons(ctx: Ctx, report: Report) -> tuple[Choice, ...]:
    """The buttons a group card has in the report's status: Proses only before work starts;
    none once the report has left the group (resolved, sent back)."""
    if report.status not in GROUP_STATUSES:
        return ()
    buttons = (
        Choice(t(staff(ctx), "group.progress"), payloads.staff(Action.PROGRESS, report.id)),
        Choice(t(staff(ctx), "group.done"), payloads.staff(Action.DONE, report.id)),
        Choice(t(staff(ctx), "group.not_ours"), payloads.staff(Action.NOT_OURS, report.id)),
        Choice(t(staff(ctx), "group.reply"), payloads.staff(Action.REPLY, report.id)),
        Choice(
            t(staff(ctx), "group.progress_photo"), payloads.staff(Action.PROGRESS_PHOTO, report.id)
        ),
    )
    if report.status == ReportStatus.IN_PROGRESS.value:
        return buttons[1:]
    return buttons


def group_card(ctx: Ctx, report: Report, room: tuple[str, str]) -> Reply:
    """What officers receive: photo, pin, ticket, category, note; never who reported it."""
    point = GeoPoint(report.latitude, report.longitude) if report.latitude is not None else None
    return Reply(
        group_card_text(ctx, report),
        group_buttons(ctx, report),
        to=room,
        photo=_photo_path(ctx, report),
        location=point,
        card_of=report.id,
    )


# -- forwarding -------------------------------------------------------------------------------


def forward(ctx: Ctx, report: Report, rooms: Rooms, actor: str) -> tuple[str, list[Reply]]:
    """Send a verified report to its kelurahan's group; returns (decision text, replies)."""
    if not report.kelurahan_code:
        return t(staff(ctx), "decision.unrouted"), []
    kelurahan = ctx.session.get(Kelurahan, report.kelurahan_code)
    if kelurahan is None:
        return t(staff(ctx), "decision.unrouted"), []
    room = group_room(kelurahan, rooms)
    if room is None:
        notice = []
        if rooms.admin is not None:
            notice = [
                Reply(
                    t(
                        staff(ctx),
                        "review.waiting",
                        ticket=report.ticket,
                        kelurahan=kelurahan.name,
                        code=kelurahan.code,
                    ),
                    to=rooms.admin,
                )
            ]
        return t(staff(ctx), "decision.waiting", kelurahan=kelurahan.name), notice
    moved = report_store.transition(
        ctx.session,
        report.id,
        ReportStatus.FORWARDED,
        now=ctx.now,
        actor=actor,
        note=f"kelurahan {kelurahan.code}",
        allowed_from=[ReportStatus.VERIFIED],
        group_chat_id=int(room[1]) if room[0] == "telegram" else None,
    )
    if moved is None:
        return t(staff(ctx), "decision.verified"), []
    card = deliver_to_group(ctx, moved, room)
    replies = [card] if card is not None else []
    replies += tell_audience(ctx, moved, "status.forwarded", kelurahan=kelurahan.name)
    return t(staff(ctx), "decision.forwarded", kelurahan=kelurahan.name), replies


def deliver_to_group(ctx: Ctx, report: Report, room: tuple[str, str]) -> Reply | None:
    """A card, or, in a burst, a line in this minute's digest for the group."""
    since = ctx.now - DIGEST_WINDOW
    recent = ctx.session.scalars(
        select(Outbox.payload).where(
            Outbox.channel == room[0], Outbox.address == room[1], Outbox.created_at >= since
        )
    ).all()
    used = sum(2 if payload.get("location") else 1 for payload in recent)
    if used + 2 + 1 <= GROUP_MESSAGES_PER_MINUTE:  # this card, and room for the digest
        return group_card(ctx, report, room)
    line = f"• {report.ticket} · {_category(ctx, report)} · {_place(ctx, report)}"
    digest = ctx.session.scalars(
        select(Outbox)
        .where(
            Outbox.channel == room[0],
            Outbox.address == room[1],
            Outbox.status == "pending",
            Outbox.key.like("digest:%"),
        )
        .order_by(Outbox.id.desc())
        .limit(1)
        .with_for_update()
    ).first()
    if digest is not None:
        lines = [*digest.payload.get("meta", {}).get("lines", []), line]
        payload = dict(digest.payload)
        payload["text"] = t(staff(ctx), "group.digest", count=len(lines), lines="\n".join(lines))
        payload["meta"] = {**payload.get("meta", {}), "lines": lines}
        ctx.session.execute(update(Outbox).where(Outbox.id == digest.id).values(payload=payload))
        return None
    # A new digest, held until the window has passed so it can gather the rest of the burst.
    ctx.session.add(
        Outbox(
            key=f"digest:{room[0]}:{room[1]}:{report.id}",
            channel=room[0],
            address=room[1],
            payload={
                "text": t(staff(ctx), "group.digest", count=1, lines=line),
                "meta": {"lines": [line], "language": staff(ctx)},
            },
            status="pending",
            next_attempt_at=ctx.now + DIGEST_WINDOW,
            created_at=ctx.now,
        )
    )
    return None


def forward_waiting(ctx: Ctx, kelurahan: Kelurahan, rooms: Rooms) -> list[Reply]:
    """After a group is bound: everything verified and waiting for it goes out now."""
    waiting = ctx.session.scalars(
        select(Report)
        .where(Report.kelurahan_code == kelurahan.code, Report.status == "verified")
        .order_by(Report.id)
    ).all()
    replies: list[Reply] = []
    for report in waiting:
        _decision, more = forward(ctx, report, rooms, "system:group-bound")
        replies += more
    return replies


# -- the admin chat -----------------------------------------------------------------------------


def _who(inbound: Inbound) -> str:
    return inbound.name or inbound.sender or "?"


def _actor(inbound: Inbound) -> str:
    return f"{inbound.channel}:{inbound.sender or inbound.address}"


def is_verifier(session: Session, inbound: Inbound, rooms: Rooms) -> bool:
    if inbound.channel == "console" and rooms.console:
        return True
    if inbound.telegram_id is None:
        return False
    verifier = session.get(Verifier, inbound.telegram_id)
    return bool(verifier and verifier.active)


def _bad_button(ctx: Ctx) -> MemberTurn:
    """A button lapor did not send, or one whose report is gone: say so, change nothing."""
    return MemberTurn("idle", {}, [Reply(t(staff(ctx), "review.bad_button"))])


@dataclass
class MemberTurn:
    """What a group member's own small conversation becomes, and what to say."""

    state: str
    data: dict[str, Any]
    replies: list[Reply]


def on_admin(ctx: Ctx, inbound: Inbound, rooms: Rooms, member: dict[str, Any]) -> MemberTurn:
    """Buttons and follow-up answers in the verifiers' chat."""
    choice = inbound.choice
    pending = member.get("action")
    text = (inbound.text or "").strip()
    command, argument = _room_command(text)
    if command is None and choice is None and not pending:
        if _console_room(inbound, rooms) and text:
            # Nobody else is in a console room: an unanswered line would look like a hang.
            return MemberTurn("idle", {}, [Reply(t(staff(ctx), "review.console_hint"))])
        return MemberTurn("idle", {}, [])  # people talk in groups; only our buttons matter
    if not is_verifier(ctx.session, inbound, rooms):
        refusal = t(staff(ctx), "review.not_verifier", name=_who(inbound))
        return MemberTurn("idle", {}, [Reply(refusal)])
    if command == "help":
        return _help(ctx, member, "review.help")
    if command == "open":
        return MemberTurn("idle", {}, _open_admin_card(ctx, argument))
    if choice == payloads.CANCEL or text.casefold() in ("/batal", "batal"):
        return MemberTurn("idle", {}, [Reply(t(staff(ctx), "review.cancelled"))] if pending else [])
    if choice is not None:
        button = payloads.parse(choice)
        if not isinstance(button, Staff) or button.action not in ADMIN_ACTIONS:
            return _bad_button(ctx)
        report = ctx.session.get(Report, button.report_id)
        if report is None:
            return _bad_button(ctx)
        card = inbound.card_id or member.get("card")
        return _admin_action(ctx, inbound, rooms, button, report, card)
    report = ctx.session.get(Report, member.get("report"))
    if report is None:
        return MemberTurn("idle", {}, [])
    return _admin_answer(ctx, inbound, rooms, pending, report, text, member)


ROOM_COMMANDS = {"/buka": "open", "/open": "open", "/bantuan": "help", "/help": "help"}


def _room_command(text: str) -> tuple[str | None, str]:
    """ "/buka@lapor_bot JKT-2611-00042" -> ("open", "JKT-2611-00042")."""
    head, _, rest = text.partition(" ")
    return ROOM_COMMANDS.get(head.split("@", 1)[0].casefold()), rest.strip()


def _help(ctx: Ctx, member: dict[str, Any], key: str) -> MemberTurn:
    """Help in a room; an answer being asked for is still awaited afterwards."""
    state = "review" if member.get("action") else "idle"
    return MemberTurn(state, member if member.get("action") else {}, [Reply(t(staff(ctx), key))])


def _console_room(inbound: Inbound, rooms: Rooms) -> bool:
    return inbound.channel == "console" and rooms.console


def _open_admin_card(ctx: Ctx, ticket: str) -> list[Reply]:
    """`/buka TICKET` in the admin chat: any report's card again, with the buttons its
    status still allows, so an older card can be acted on (the console's numbers answer
    the newest card)."""
    report = report_store.by_ticket(ctx.session, ticket) if ticket else None
    if report is None:
        return [Reply(t(staff(ctx), "review.open_bad", given=ticket[:40] or "-"))]
    buttons: tuple[Choice, ...] = ()
    if report.status == ReportStatus.SUBMITTED.value:
        buttons = admin_buttons(ctx, report)
    elif report.status == ReportStatus.VERIFIED.value:
        buttons = (
            Choice(t(staff(ctx), "card.reroute"), payloads.staff(Action.REROUTE, report.id)),
            Choice(t(staff(ctx), "card.reply"), payloads.staff(Action.REPLY, report.id)),
        )
    elif report.status in OPEN_STATUSES:
        buttons = (Choice(t(staff(ctx), "card.reply"), payloads.staff(Action.REPLY, report.id)),)
    status = t(staff(ctx), "card.status", status=status_label(report.status, staff(ctx)))
    text = admin_card_text(ctx, report) + status
    return [Reply(text, buttons, photo=_photo_path(ctx, report))]


def _too_late(ctx: Ctx, report: Report) -> MemberTurn:
    return MemberTurn(
        "idle",
        {},
        [
            Reply(
                t(
                    staff(ctx),
                    "decision.too_late",
                    ticket=report.ticket,
                    status=status_label(report.status, staff(ctx)),
                )
            )
        ],
    )


def _admin_action(
    ctx: Ctx,
    inbound: Inbound,
    rooms: Rooms,
    button: Staff,
    report: Report,
    card: str | None,
) -> MemberTurn:
    lang = staff(ctx)
    action = button.action
    cancel = Choice(t(lang, "cancel"), payloads.CANCEL)
    ask = {"report": report.id, "card": card}
    if action is Action.VERIFY:
        moved = _move(
            ctx,
            inbound,
            report,
            ReportStatus.VERIFIED,
            allowed_from=[ReportStatus.SUBMITTED],
        )
        if moved is None:
            return _too_late(ctx, report)
        replies = tell_audience(ctx, moved)
        decision, more = forward(ctx, moved, rooms, _actor(inbound))
        buttons: tuple[Choice, ...] = ()
        if moved.kelurahan_code is None:
            buttons = (Choice(t(lang, "card.reroute"), payloads.staff(Action.REROUTE, moved.id)),)
        ctx.session.refresh(moved)
        return MemberTurn(
            "idle",
            {},
            [*_decided(ctx, moved, card, decision, _who(inbound), rooms, buttons), *replies, *more],
        )
    if action is Action.ACKNOWLEDGE:
        moved = _move(
            ctx,
            inbound,
            report,
            ReportStatus.ACKNOWLEDGED,
            allowed_from=[ReportStatus.SUBMITTED],
        )
        if moved is None:
            return _too_late(ctx, report)
        return MemberTurn(
            "idle",
            {},
            [
                *_decided(ctx, moved, card, t(lang, "decision.acknowledged"), _who(inbound), rooms),
                *tell_audience(ctx, moved, "status.acknowledged"),
            ],
        )
    if action is Action.REJECT:
        if report.status != ReportStatus.SUBMITTED.value:
            return _too_late(ctx, report)
        reasons = payloads.rejection_reasons(lang)
        choices = tuple(
            Choice(r, payloads.staff(Action.REJECT_REASON, report.id, i))
            for i, r in enumerate(reasons)
        )
        prompt = Reply(t(lang, "review.reason_prompt", ticket=report.ticket), (*choices, cancel))
        return MemberTurn("review", {**ask, "action": "reject"}, [prompt])
    if action is Action.REJECT_REASON:
        assert button.reason is not None  # parse only gives an index within every language
        reason = payloads.rejection_reasons(lang)[button.reason]
        return _reject(ctx, inbound, rooms, report, reason, card)
    if action is Action.RECATEGORISE:
        choices = tuple(
            Choice(category_name(c, lang), payloads.staff(Action.SET_CATEGORY, report.id, c.slug))
            for c in ctx.categories
        )
        prompt = Reply(t(lang, "review.category_prompt", ticket=report.ticket), (*choices, cancel))
        return MemberTurn("review", {**ask, "action": "category"}, [prompt])
    if action is Action.SET_CATEGORY:
        category = next((c for c in ctx.categories if c.slug == button.category), None)
        if category is None or report.status not in ("submitted", "verified"):
            return _too_late(ctx, report)
        _amend(ctx, inbound, report, f"category -> {category.slug}", category_id=category.id)
        decision = t(lang, "decision.recategorised", category=category_name(category, lang))
        text = admin_card_text(ctx, report) + t(
            lang, "card.decided", decision=decision, who=_who(inbound)
        )
        edit = (
            [
                Reply(
                    text,
                    admin_buttons(ctx, report),
                    to=rooms.admin,
                    photo=_photo_path(ctx, report),
                    edit=card,
                )
            ]
            if card and rooms.admin
            else []
        )
        return MemberTurn("idle", {}, edit)
    if action is Action.DUPLICATE:
        if report.status != ReportStatus.SUBMITTED.value:
            return _too_late(ctx, report)
        prompt = Reply(t(lang, "review.duplicate_prompt", ticket=report.ticket), force_reply=True)
        return MemberTurn("review", {**ask, "action": "duplicate"}, [prompt])
    if action is Action.BLOCK:
        prompt = Reply(t(lang, "review.block_prompt", ticket=report.ticket), force_reply=True)
        return MemberTurn("review", {**ask, "action": "block"}, [prompt])
    if action is Action.REPLY:
        return ask_reply(ctx, inbound, report, card, CITY_SIGNATURE, OPEN_STATUSES)
    if action is Action.REROUTE:
        if report.status != ReportStatus.VERIFIED.value:
            return _too_late(ctx, report)
        prompt = Reply(t(lang, "review.route_prompt", ticket=report.ticket), force_reply=True)
        return MemberTurn("review", {**ask, "action": "route"}, [prompt])
    return MemberTurn("idle", {}, [])


def _move(
    ctx: Ctx, inbound: Inbound, report: Report, target: ReportStatus, **kwargs: Any
) -> Report | None:
    """A person in a group moves a report; None when someone else got there first."""
    return report_store.transition(
        ctx.session, report.id, target, now=ctx.now, actor=_actor(inbound), **kwargs
    )


def _amend(ctx: Ctx, inbound: Inbound, report: Report, note: str, **values: Any) -> None:
    """Change a report without changing its status; the change stays in its history."""
    ctx.session.execute(update(Report).where(Report.id == report.id).values(**values))
    report_store.record_event(ctx.session, report, now=ctx.now, actor=_actor(inbound), note=note)
    ctx.session.refresh(report)


def _reject(
    ctx: Ctx, inbound: Inbound, rooms: Rooms, report: Report, reason: str, card: str | None
) -> MemberTurn:
    moved = _move(
        ctx,
        inbound,
        report,
        ReportStatus.REJECTED,
        note=reason,
        allowed_from=[ReportStatus.SUBMITTED],
        rejection_reason=reason[:300],
    )
    if moved is None:
        return _too_late(ctx, report)
    decision = t(staff(ctx), "decision.rejected", reason=reason)
    return MemberTurn(
        "idle",
        {},
        [
            *_decided(ctx, moved, card, decision, _who(inbound), rooms),
            *tell_audience(ctx, moved, "status.rejected", reason=reason),
        ],
    )


def _admin_answer(
    ctx: Ctx,
    inbound: Inbound,
    rooms: Rooms,
    pending: str,
    report: Report,
    text: str,
    member: dict[str, Any],
) -> MemberTurn:
    """The text a verifier types after pressing a button that needs more."""
    card = member.get("card")
    if pending == "reply":
        return on_reply_text(ctx, inbound, report, member, CITY_SIGNATURE, OPEN_STATUSES)
    if not text:
        return MemberTurn("review", member, [])
    if pending == "reject":
        return _reject(ctx, inbound, rooms, report, text[:300], card)
    if pending == "duplicate":
        original = report_store.by_ticket(ctx.session, text)
        usable = (
            original is not None
            and original.id != report.id
            and original.kind == ReportKind.LAPORAN.value
            and original.status not in ("rejected", "duplicate")
        )
        if not usable:
            again = Reply(
                t(staff(ctx), "review.duplicate_bad", given=text[:40]),
                (Choice(t(staff(ctx), "cancel"), payloads.CANCEL),),
            )
            return MemberTurn("review", member, [again])
        assert original is not None
        moved = _move(
            ctx,
            inbound,
            report,
            ReportStatus.DUPLICATE,
            note=original.ticket,
            allowed_from=[ReportStatus.SUBMITTED],
            duplicate_of_id=original.id,
        )
        if moved is None:
            return _too_late(ctx, report)
        # The reporter, and whoever followed the duplicate, now follow the original.
        for contact in report_store.audience(ctx.session, moved):
            report_store.follow(ctx.session, original, contact.id, ctx.now)
        decision = t(staff(ctx), "decision.duplicate", original=original.ticket)
        # A rahasia original is not followed, so its ticket is not promised to anyone.
        told = (
            tell_audience(ctx, moved, "status.duplicate", original=original.ticket)
            if original.public
            else tell_audience(ctx, moved, "status.duplicate_private")
        )
        return MemberTurn(
            "idle", {}, [*_decided(ctx, moved, card, decision, _who(inbound), rooms), *told]
        )
    if pending == "block":
        reason = text[:300]
        contact = ctx.session.get(Contact, report.reporter_id)
        if contact is not None:
            ctx.session.execute(
                update(Contact)
                .where(Contact.id == contact.id)
                .values(blocked=True, blocked_reason=reason)
            )
            ctx.session.add(
                ContactEvent(
                    contact_id=contact.id,
                    at=ctx.now,
                    actor=_actor(inbound),
                    action="block",
                    note=f"{report.ticket}: {reason}",
                )
            )
            report_store.record_event(
                ctx.session,
                report,
                now=ctx.now,
                actor=_actor(inbound),
                note=f"reporter blocked: {reason}",
            )
        decision = t(staff(ctx), "decision.blocked", reason=reason)
        replies = _decided(ctx, report, card, decision, _who(inbound), rooms)
        # An unreachable contact (blocked the bot; an Open311 reporter has no chat at all)
        # is not told: the message could never leave the outbox.
        if contact is not None and contact.reachable:
            replies.append(
                Reply(
                    t(contact.language, "blocked", reason=f" ({reason})"),
                    to=(contact.channel, contact.address),
                    language=contact.language,
                    contact_id=contact.id,
                )
            )
        return MemberTurn("idle", {}, replies)
    if pending == "route":
        match = find_kelurahan(ctx.session, text)
        kelurahan = match.found
        if kelurahan is None:
            if match.ambiguous:
                names = ", ".join(match.ambiguous)
                said = t(staff(ctx), "review.route_ambiguous", given=text[:60], names=names)
            else:
                said = t(staff(ctx), "review.route_bad", given=text[:60])
                if match.close:
                    said += " " + t(staff(ctx), "review.route_close", names=", ".join(match.close))
            again = Reply(said, (Choice(t(staff(ctx), "cancel"), payloads.CANCEL),))
            return MemberTurn("review", member, [again])
        _amend(ctx, inbound, report, f"routed to {kelurahan.code}", kelurahan_code=kelurahan.code)
        decision, more = forward(ctx, report, rooms, _actor(inbound))
        ctx.session.refresh(report)
        return MemberTurn(
            "idle", {}, [*_decided(ctx, report, card, decision, _who(inbound), rooms), *more]
        )
    return MemberTurn("idle", {}, [])


@dataclass(frozen=True)
class KelurahanMatch:
    """A verifier's typed kelurahan: the one meant, or the names to offer instead."""

    found: Kelurahan | None
    ambiguous: list[str]
    close: list[str]


def find_kelurahan(session: Session, text: str) -> KelurahanMatch:
    """By code, or by name loosely: regardless of case and accents ("petojo", "Pétojo"),
    with or without "Kel." and "(demo)", by the start or a part of the name; spellings
    differ (Tanjung Priok / Tanjung Priuk). Several matches, or none, give names to offer."""
    wanted = text.strip()
    found = session.get(Kelurahan, wanted) or session.get(Kelurahan, wanted.upper())
    if found is not None:
        return KelurahanMatch(found, [], [])
    key = _loose(wanted)
    if not key:
        return KelurahanMatch(None, [], [])
    every = list(session.scalars(select(Kelurahan).order_by(Kelurahan.name)))
    keyed = [(_loose(k.name), _loose(_bare(k.name)), k) for k in every]
    for matches in (
        [k for full, bare, k in keyed if key in (full, bare)],
        [k for full, bare, k in keyed if full.startswith(key) or bare.startswith(key)],
        [k for full, bare, k in keyed if key in full],
    ):
        if len(matches) == 1:
            return KelurahanMatch(matches[0], [], [])
        if matches:
            return KelurahanMatch(None, [k.name for k in matches[:5]], [])
    names = {bare: k.name for _full, bare, k in keyed}
    close = difflib.get_close_matches(key, list(names), n=3, cutoff=0.6)
    return KelurahanMatch(None, [], [names[c] for c in close])


def _bare(name: str) -> str:
    """ "Petojo (demo)" -> "Petojo": the part in brackets is not what people type."""
    return re.sub(r"\([^)]*\)", " ", name)


def _loose(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    cleaned = "".join(ch for ch in plain if ch.isalnum())
    for prefix in ("kelurahan", "kel"):
        cleaned = cleaned.removeprefix(prefix)
    return cleaned.replace("u", "o")


# -- kelurahan groups -------------------------------------------------------------------------


OFFICER_NOTE_MAX = 500  # relayed to citizens under the resolved notice: a few lines at most


def bind_group(ctx: Ctx, inbound: Inbound, code: str, rooms: Rooms) -> list[Reply]:
    """`/kelurahan <one-time code>` in a group: that group receives the kelurahan's reports."""
    invite = ctx.session.scalars(
        select(GroupInvite).where(GroupInvite.code_hash == hash_code(code)).with_for_update()
    ).first()
    if invite is None or invite.used_at is not None or invite.expires_at <= ctx.now:
        return [Reply(t(staff(ctx), "group.bind_bad"))]
    kelurahan = ctx.session.get(Kelurahan, invite.kelurahan_code)
    if kelurahan is None or inbound.channel != "telegram":
        return [Reply(t(staff(ctx), "group.bind_bad"))]
    chat_id = int(inbound.address)
    ctx.session.execute(
        update(GroupInvite)
        .where(GroupInvite.id == invite.id)
        .values(used_at=ctx.now, used_by_chat=chat_id)
    )
    # One group per kelurahan; a group serves one kelurahan (rebinding moves it).
    ctx.session.execute(
        update(Kelurahan)
        .where(Kelurahan.chat_id == chat_id, Kelurahan.code != kelurahan.code)
        .values(chat_id=None, chat_title=None, bound_at=None)
    )
    ctx.session.execute(
        update(Kelurahan)
        .where(Kelurahan.code == kelurahan.code)
        .values(
            chat_id=chat_id, chat_title=(inbound.chat_title or "")[:200] or None, bound_at=ctx.now
        )
    )
    ctx.session.refresh(kelurahan)
    bound = Reply(
        t(staff(ctx), "group.bound", kelurahan=kelurahan.name, kecamatan=kelurahan.kecamatan)
    )
    return [bound, *forward_waiting(ctx, kelurahan, rooms)]


def on_group(
    ctx: Ctx, inbound: Inbound, kelurahan: Kelurahan, rooms: Rooms, member: dict[str, Any]
) -> MemberTurn:
    """Buttons and follow-ups in a kelurahan's group."""
    choice = inbound.choice
    pending = member.get("action")
    text = (inbound.text or "").strip()
    command, argument = _room_command(text)
    if command == "open":
        return MemberTurn("idle", {}, _open_card(ctx, kelurahan, argument, inbound))
    if command == "help":
        return _help(ctx, member, "group.help")
    if choice == payloads.CANCEL or text.casefold() in ("/batal", "batal"):
        return MemberTurn("idle", {}, [Reply(t(staff(ctx), "review.cancelled"))] if pending else [])
    if choice is None and not pending and text and _console_room(inbound, rooms):
        return MemberTurn("idle", {}, [Reply(t(staff(ctx), "review.console_hint"))])
    if choice is not None:
        button = payloads.parse(choice)
        if not isinstance(button, Staff) or button.action not in GROUP_ACTIONS:
            return _bad_button(ctx)
        report = ctx.session.get(Report, button.report_id)
        if report is None:
            return _bad_button(ctx)
        if report.kelurahan_code != kelurahan.code or report.status not in GROUP_STATUSES:
            refusal = t(staff(ctx), "group.not_member", name=_who(inbound), ticket=report.ticket)
            if report.kelurahan_code == kelurahan.code:
                refusal = t(
                    staff(ctx),
                    "decision.too_late",
                    ticket=report.ticket,
                    status=status_label(report.status, staff(ctx)),
                )
            return MemberTurn("idle", {}, [Reply(refusal)])
        card = inbound.card_id
        if card and report.group_message_id is None and inbound.channel == "telegram":
            # A card sent before its id was kept: the press tells it.
            report_store.remember_card(ctx.session, report.id, "telegram", inbound.address, card)
        signature = kelurahan_signature(kelurahan)
        if button.action is Action.REPLY:
            return ask_reply(ctx, inbound, report, card, signature, GROUP_STATUSES)
        if button.action is Action.PROGRESS_PHOTO:
            return ask_progress_photo(ctx, inbound, report, card)
        if button.action is Action.PROGRESS:
            moved = _move(
                ctx,
                inbound,
                report,
                ReportStatus.IN_PROGRESS,
                allowed_from=[ReportStatus.FORWARDED],
            )
            if moved is None:
                return _too_late(ctx, report)
            return MemberTurn(
                "idle",
                {},
                [
                    *_group_decided(ctx, moved, inbound, card, t(staff(ctx), "group.in_progress")),
                    *tell_audience(ctx, moved, "status.in_progress"),
                ],
            )
        ask = {"report": report.id, "card": card}
        if button.action is Action.DONE:
            prompt = t(
                staff(ctx), "group.after_photo_prompt", name=_who(inbound), ticket=report.ticket
            )
            return MemberTurn(
                "review", {**ask, "action": "after_photo"}, [Reply(prompt, force_reply=True)]
            )
        prompt = t(staff(ctx), "group.bounce_prompt", name=_who(inbound), ticket=report.ticket)
        return MemberTurn("review", {**ask, "action": "bounce"}, [Reply(prompt, force_reply=True)])
    if not pending:
        return MemberTurn("idle", {}, [])
    report = ctx.session.get(Report, member.get("report"))
    if report is None:
        return MemberTurn("idle", {}, [])
    if pending == "reply" and inbound.photos:
        # A photo where words were asked for: a progress photo, its caption the words.
        return on_progress_photo(ctx, inbound, report, member, kelurahan_signature(kelurahan))
    if pending == "reply":
        signature = kelurahan_signature(kelurahan)
        return on_reply_text(ctx, inbound, report, member, signature, GROUP_STATUSES)
    if pending == "progress_photo":
        return on_progress_photo(ctx, inbound, report, member, kelurahan_signature(kelurahan))
    if pending == "after_photo":
        if not inbound.photos:
            if inbound.photo_error or text:
                again = t(staff(ctx), "group.after_photo_expected", ticket=report.ticket)
                if text and not inbound.photo_error:
                    # What the officer writes before the photo is the closing note.
                    member = {**member, "note": _officer_note(member.get("note"), text)}
                    again += " " + t(staff(ctx), "group.note_kept")
                return MemberTurn("review", member, [Reply(again)])
            return MemberTurn("review", member, [])
        note = _officer_note(member.get("note"), text) or None
        photo_id = report_store.upsert_photo(ctx.session, inbound.photos[0].to_dict(), ctx.now)
        moved = _move(
            ctx,
            inbound,
            report,
            ReportStatus.RESOLVED,
            note=note,
            allowed_from=[ReportStatus.FORWARDED, ReportStatus.IN_PROGRESS],
            after_photo_id=photo_id,
        )
        if moved is None:
            return _too_late(ctx, report)
        # The fix as the public page shows it: the officers' words and the after-photo.
        report_store.record_event(
            ctx.session,
            moved,
            now=ctx.now,
            actor=_actor(inbound),
            note=note,
            kind=EventKind.REPLY,
            photo_id=photo_id,
        )
        return MemberTurn(
            "idle",
            {},
            [
                *_group_decided(
                    ctx, moved, inbound, member.get("card"), t(staff(ctx), "group.resolved")
                ),
                *tell_audience(
                    ctx,
                    moved,
                    "status.resolved",
                    photo=inbound.photos[0].path,
                    rate=True,
                    officer_note=note,
                ),
            ],
        )
    if pending == "bounce":
        if not text:
            return MemberTurn("review", member, [])
        reason = text[:300]
        moved = _move(
            ctx,
            inbound,
            report,
            ReportStatus.VERIFIED,
            note=f"bukan wilayah {kelurahan.code}: {reason}",
            allowed_from=[ReportStatus.FORWARDED, ReportStatus.IN_PROGRESS],
            group_chat_id=None,
        )
        if moved is None:
            return _too_late(ctx, report)
        replies = _group_decided(
            ctx, moved, inbound, member.get("card"), t(staff(ctx), "group.returned", reason=reason)
        )
        if rooms.admin is not None:
            replies.append(
                Reply(
                    t(
                        staff(ctx),
                        "review.returned",
                        ticket=moved.ticket,
                        kelurahan=kelurahan.name,
                        reason=reason,
                    ),
                    (
                        Choice(
                            t(staff(ctx), "card.reroute"), payloads.staff(Action.REROUTE, moved.id)
                        ),
                    ),
                    to=rooms.admin,
                )
            )
        replies += tell_audience(ctx, moved, "status.returned")
        return MemberTurn("idle", {}, replies)
    return MemberTurn("idle", {}, [])


def _officer_note(earlier: str | None, text: str) -> str:
    """The officer's words on a fix: text sent before the after-photo, then its caption."""
    parts = [part for part in (earlier, text.strip()) if part]
    return " ".join(parts)[:OFFICER_NOTE_MAX]


def _group_decided(
    ctx: Ctx, report: Report, inbound: Inbound, card: str | None, decision: str
) -> list[Reply]:
    if card is None:
        return []
    text = group_card_text(ctx, report) + t(
        staff(ctx), "group.decided", decision=decision, who=_who(inbound)
    )
    buttons: tuple[Choice, ...] = ()
    if report.status == ReportStatus.IN_PROGRESS.value:
        buttons = group_buttons(ctx, report)
    return [Reply(text, buttons, photo=_photo_path(ctx, report), edit=card)]


def _open_card(ctx: Ctx, kelurahan: Kelurahan, ticket: str, inbound: Inbound) -> list[Reply]:
    """`/buka TICKET`: the full card of a report that arrived in a digest."""
    report = report_store.by_ticket(ctx.session, ticket) if ticket else None
    if (
        report is None
        or report.kelurahan_code != kelurahan.code
        or report.status not in GROUP_STATUSES
    ):
        return [Reply(t(staff(ctx), "group.open_bad", given=ticket[:40] or "-"))]
    card = group_card(ctx, report, (inbound.channel, inbound.address))
    return [
        Reply(card.text, card.choices, photo=card.photo, location=card.location, card_of=report.id)
    ]


# -- talking about a report: officers' replies, progress photos, citizens' additions ---------------
#
# Anonymous both ways: citizens read "Petugas Kelurahan X" (never an officer's name or
# number), officers read the ticket (never the citizen's). Each is a `report_event` of its
# own kind, so response times still count status changes only. Each action is a named
# function, ready for a table of staff actions.


@dataclass(frozen=True)
class Signature:
    """Who the citizens are told wrote: an office, never a person."""

    key: str
    kelurahan: str = ""

    def text(self, language: str) -> str:
        return t(language, self.key, kelurahan=self.kelurahan)


CITY_SIGNATURE = Signature("signature.city")


def kelurahan_signature(kelurahan: Kelurahan) -> Signature:
    return Signature("signature.kelurahan", kelurahan.name)


def _fitted(text: str, limit: int) -> tuple[str, bool]:
    """`text` cut to `limit` (with an ellipsis), and whether it had to be."""
    return fit(text, limit), len(text) > limit


def tell_conversation(
    ctx: Ctx,
    report: Report,
    key: str,
    signature: Signature,
    *,
    note: str | None = None,
    photo: str | None = None,
) -> list[Reply]:
    """A reply or a progress photo for the reporter and the followers (a rahasia report has
    none), each in their own language, signed by the office."""

    def message(contact: Contact) -> tuple[str, tuple[Choice, ...]]:
        lang = contact.language
        text = t(lang, key, who=signature.text(lang), ticket=report.ticket, note=note or "")
        if note and key == "status.progress":
            text += f"\n“{note}”"
        return text, ()

    return _to_audience(ctx, report, message, photo=photo, with_link=False)


def ask_reply(
    ctx: Ctx,
    inbound: Inbound,
    report: Report,
    card: str | None,
    signature: Signature,
    allowed: frozenset[str],
) -> MemberTurn:
    """ "Balas warga": ask the officer (or verifier) for the words, as a reply."""
    if report.status not in allowed:
        return _too_late(ctx, report)
    prompt = t(
        staff(ctx),
        "group.reply_prompt",
        name=_who(inbound),
        ticket=report.ticket,
        who=signature.text(staff(ctx)),
    )
    ask = {"report": report.id, "card": card, "action": "reply"}
    return MemberTurn("review", ask, [Reply(prompt, force_reply=True)])


def ask_progress_photo(ctx: Ctx, inbound: Inbound, report: Report, card: str | None) -> MemberTurn:
    """ "Foto progres": ask for a photo of the work; the report stays open."""
    if report.status not in GROUP_STATUSES:
        return _too_late(ctx, report)
    prompt = t(staff(ctx), "group.progress_prompt", name=_who(inbound), ticket=report.ticket)
    ask = {"report": report.id, "card": card, "action": "progress_photo"}
    return MemberTurn("review", ask, [Reply(prompt, force_reply=True)])


def on_reply_text(
    ctx: Ctx,
    inbound: Inbound,
    report: Report,
    member: dict[str, Any],
    signature: Signature,
    allowed: frozenset[str],
) -> MemberTurn:
    """The words of a reply; anything else (a sticker, a pin, a photo, nothing) is asked
    again."""
    text = (inbound.text or "").strip()
    if not text or inbound.photos or inbound.photo_error:
        again = t(staff(ctx), "group.reply_expected", ticket=report.ticket)
        return MemberTurn("review", member, [Reply(again)])
    return send_reply(ctx, inbound, report, text, signature, allowed)


def send_reply(
    ctx: Ctx,
    inbound: Inbound,
    report: Report,
    text: str,
    signature: Signature,
    allowed: frozenset[str],
) -> MemberTurn:
    """Keep the reply in the report's history and tell the reporter and followers."""
    ctx.session.refresh(report)
    if report.status not in allowed:
        return _too_late(ctx, report)  # closed while the officer was typing
    note, cut = _fitted(text, REPLY_MAX)
    report_store.record_event(
        ctx.session, report, now=ctx.now, actor=_actor(inbound), note=note, kind=EventKind.REPLY
    )
    told = tell_conversation(ctx, report, "status.reply", signature, note=note)
    said = t(staff(ctx), "group.reply_sent", ticket=report.ticket, count=len(told))
    if cut:
        said += " " + t(staff(ctx), "group.cut", max=REPLY_MAX)
    return MemberTurn("idle", {}, [Reply(said), *told])


def on_progress_photo(
    ctx: Ctx,
    inbound: Inbound,
    report: Report,
    member: dict[str, Any],
    signature: Signature,
) -> MemberTurn:
    """The photo of the work in progress; text before it is kept as its caption."""
    text = (inbound.text or "").strip()
    if not inbound.photos:
        again = t(staff(ctx), "group.progress_expected", ticket=report.ticket)
        if text and not inbound.photo_error:
            member = {**member, "note": _officer_note(member.get("note"), text)}
            again += " " + t(staff(ctx), "group.note_kept")
        return MemberTurn("review", member, [Reply(again)])
    caption = " ".join(part for part in (member.get("note"), text) if part)
    return send_progress_photo(ctx, inbound, report, inbound.photos[0], caption, signature)


def send_progress_photo(
    ctx: Ctx,
    inbound: Inbound,
    report: Report,
    photo: PhotoIn,
    caption: str,
    signature: Signature,
) -> MemberTurn:
    """Keep the progress photo (already cleaned, no EXIF) in the history; tell the audience."""
    ctx.session.refresh(report)
    if report.status not in GROUP_STATUSES:
        return _too_late(ctx, report)
    note, cut = _fitted(caption, REPLY_MAX)
    photo_id = report_store.upsert_photo(ctx.session, photo.to_dict(), ctx.now)
    report_store.record_event(
        ctx.session,
        report,
        now=ctx.now,
        actor=_actor(inbound),
        note=note or None,
        kind=EventKind.PROGRESS,
        photo_id=photo_id,
    )
    told = tell_conversation(
        ctx, report, "status.progress", signature, note=note or None, photo=photo.path
    )
    said = t(staff(ctx), "group.progress_sent", ticket=report.ticket, count=len(told))
    if cut:
        said += " " + t(staff(ctx), "group.cut", max=REPLY_MAX)
    return MemberTurn("idle", {}, [Reply(said), *told])


def relay_addition(
    ctx: Ctx, report: Report, note: str | None, photo: str | None, rooms: Rooms
) -> list[Reply]:
    """What a citizen added, for the staff handling the report now: the kelurahan group once
    forwarded, else the admin chat. On Telegram it answers the report's card (threaded under
    it); everywhere it names the ticket. Never the citizen's name or number."""
    room: tuple[str, str] | None = None
    reply_to: int | None = None
    kelurahan = ctx.session.get(Kelurahan, report.kelurahan_code) if report.kelurahan_code else None
    if kelurahan is not None and report.status in GROUP_STATUSES:
        room = group_room(kelurahan, rooms)
        if room is not None and str(report.group_chat_id) == room[1]:
            reply_to = report.group_message_id
    if room is None:
        room, reply_to = rooms.admin, report.admin_message_id
    if room is None:
        return []
    if note and photo:
        # Telegram cuts a photo's caption at 1,024 characters: the whole note is in the history.
        note = fit(note, ADDITION_CAPTION_MAX)
    text = _private_mark(ctx, report) + t(
        staff(ctx),
        "group.addition",
        ticket=report.ticket,
        note=note or t(staff(ctx), "group.addition_photo"),
    )
    button = Choice(
        t(staff(ctx), "group.reply" if room != rooms.admin else "card.reply"),
        payloads.staff(Action.REPLY, report.id),
    )
    return [
        Reply(
            text,
            (button,),
            to=room,
            photo=photo,
            reply_to=str(reply_to) if reply_to and room[0] == "telegram" else None,
        )
    ]


# -- the citizen's rating ---------------------------------------------------------------------


def rate(ctx: Ctx, report: Report, rating: int, comment: str | None, rooms: Rooms) -> list[Reply]:
    """Store a rating; 1 or 2 with a comment reopens the report in its group."""
    ctx.session.execute(
        update(Report).where(Report.id == report.id).values(rating=rating, rating_comment=comment)
    )
    report_store.record_event(
        ctx.session,
        report,
        now=ctx.now,
        actor=f"{ctx.contact.channel}:{ctx.contact.address}",
        note=f"rating {rating}/5" + (f": {comment}" if comment else ""),
    )
    thanks = Reply(t(ctx.lang, "rate.thanks", rating=rating))
    if rating > 2 or comment is None:
        return [thanks]
    moved = report_store.transition(
        ctx.session,
        report.id,
        ReportStatus.IN_PROGRESS,
        now=ctx.now,
        actor=f"{ctx.contact.channel}:{ctx.contact.address}",
        note=f"reopened: {comment}",
        allowed_from=[ReportStatus.RESOLVED],
    )
    if moved is None:
        return [thanks]
    replies = [thanks]
    kelurahan = ctx.session.get(Kelurahan, moved.kelurahan_code) if moved.kelurahan_code else None
    room = group_room(kelurahan, rooms) if kelurahan else None
    if room is not None:
        buttons = group_buttons(ctx, moved)
        replies.append(
            Reply(
                t(
                    staff(ctx),
                    "group.reopened",
                    ticket=moved.ticket,
                    rating=rating,
                    comment=comment,
                ),
                buttons,
                to=room,
                photo=_photo_path(ctx, moved),
            )
        )
    replies += tell_audience(ctx, moved, "status.reopened")
    return replies
