"""RT/RW heads in the chat: linking their account, /kuota, pausing reminders, reminders.

A head links by a one-time code from the kelurahan: Telegram's deep link
`t.me/<bot>?start=rtrw-<code>` or, on any channel, `DAFTAR <code>`. Wrong codes are
counted per contact; after a few the contact has to wait, so codes cannot be guessed.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlmodel import Session

from lapor.handlers.context import Ctx, Reply
from lapor.handlers.texts import month_name, t
from lapor.incentives.quota import (
    QuotaRules,
    local_day,
    rupiah,
    standing_for_contact,
    standings,
)
from lapor.store.codes import hash_code
from lapor.store.models import Contact, ContactEvent, Head, HeadInvite, Kelurahan, Outbox
from lapor.store.outbox import OutgoingRow, enqueue

LINK_PREFIX = "rtrw-"
WRONG_CODES_ALLOWED = 5
WRONG_CODE_WINDOW = timedelta(minutes=15)


def head_of(session: Session, contact_id: int) -> Head | None:
    return session.scalars(select(Head).where(Head.contact_id == contact_id)).first()


def _kelurahan_name(session: Session, code: str) -> str:
    kelurahan = session.get(Kelurahan, code)
    return kelurahan.name if kelurahan else code


def _unit(head: Head) -> str:
    return f"RW {head.rw}" if head.role == "RW" else f"RT {head.rt}/RW {head.rw}"


def link(ctx: Ctx, code: str) -> Reply:
    """Link the sender's contact to the head the one-time code was issued for."""
    session, contact_id = ctx.session, ctx.contact.id
    since = ctx.now - WRONG_CODE_WINDOW
    wrong = session.execute(
        select(func.count())
        .select_from(ContactEvent)
        .where(
            ContactEvent.contact_id == contact_id,
            ContactEvent.action == "link_failed",
            ContactEvent.at >= since,
        )
    ).scalar_one()
    if wrong >= WRONG_CODES_ALLOWED:
        minutes = int(WRONG_CODE_WINDOW.total_seconds() // 60)
        return Reply(ctx.t("head.code_slow", minutes=minutes))
    existing = head_of(session, contact_id)
    if existing is not None:
        return Reply(
            ctx.t(
                "head.already",
                unit=_unit(existing),
                kelurahan=_kelurahan_name(session, existing.kelurahan_code),
            )
        )
    invite = session.scalars(
        select(HeadInvite).where(HeadInvite.code_hash == hash_code(code)).with_for_update()
    ).first()
    problem = None
    if invite is None:
        problem = "head.code_unknown"
    elif invite.used_at is not None:
        problem = "head.code_used"
    elif invite.expires_at <= ctx.now:
        problem = "head.code_expired"
    if problem is not None:
        session.add(
            ContactEvent(
                contact_id=contact_id, at=ctx.now, actor="self", action="link_failed", note=problem
            )
        )
        return Reply(ctx.t(problem))
    assert invite is not None
    head = session.get(Head, invite.head_id)
    if head is None:
        return Reply(ctx.t("head.code_unknown"))
    session.execute(update(HeadInvite).where(HeadInvite.id == invite.id).values(used_at=ctx.now))
    # A head who links a new phone leaves the old one behind.
    session.execute(
        update(Head)
        .where(Head.id == head.id)
        .values(contact_id=contact_id, linked_at=ctx.now, updated_at=ctx.now)
    )
    session.add(
        ContactEvent(
            contact_id=contact_id, at=ctx.now, actor="self", action="link", note=f"head {head.id}"
        )
    )
    return Reply(
        ctx.t(
            "head.linked", unit=_unit(head), kelurahan=_kelurahan_name(session, head.kelurahan_code)
        )
    )


def quota_text(ctx: Ctx, rules: QuotaRules) -> str:
    """/kuota: today's and this month's counts, the shortfall, the estimated allowance."""
    standing = standing_for_contact(ctx.session, rules, ctx.contact.id, local_day(ctx.now, rules))
    if standing is None:
        return ctx.t("head.not_head")
    if standing.shortfall:
        shortfall = ctx.t("head.shortfall", n=standing.shortfall, minimum=rules.minimum)
    else:
        shortfall = ctx.t("head.met", minimum=rules.minimum)
    return ctx.t(
        "head.quota",
        unit=standing.unit,
        kelurahan=_kelurahan_name(ctx.session, standing.kelurahan_code),
        today=standing.today_counted,
        today_waiting=standing.today_waiting,
        today_rejected=standing.today_not_counted,
        shortfall=shortfall,
        month=standing.month_counted,
        cap=rules.monthly_cap,
        month_waiting=standing.month_waiting,
        month_rejected=standing.month_not_counted,
        allowance=rupiah(standing.allowance),
        paid=standing.paid_reports,
        rate=rupiah(rules.rate(standing.role)),
        fixed=rupiah(standing.fixed),
    )


def pause(ctx: Ctx, paused: bool) -> Reply:
    head = head_of(ctx.session, ctx.contact.id)
    if head is None:
        return Reply(ctx.t("head.not_head"))
    ctx.session.execute(
        update(Head).where(Head.id == head.id).values(reminders_paused=paused, updated_at=ctx.now)
    )
    return Reply(ctx.t("head.paused" if paused else "head.resumed"))


# -- reminders ----------------------------------------------------------------------------------


def in_quiet_hours(moment: datetime, start: time, end: time) -> bool:
    """Quiet hours may cross midnight (21:00-07:00)."""
    now = moment.time()
    if start <= end:
        return start <= now < end
    return now >= start or now < end


def _reachable_contacts(session: Session, ids: list[int]) -> dict[int, Any]:
    """Linked contacts a reminder may go to: reachable, not blocked, not opted out."""
    found: dict[int, Any] = {}
    for chunk in range(0, len(ids), 5000):
        rows = session.execute(
            select(Contact.id, Contact.channel, Contact.address, Contact.language).where(
                Contact.id.in_(ids[chunk : chunk + 5000]),
                Contact.reachable,
                Contact.blocked.is_(False),
                Contact.opted_out.is_(False),
            )
        )
        found.update({row.id: row for row in rows})
    return found


def enqueue_daily_reminders(
    session: Session, rules: QuotaRules, now: datetime, quiet: tuple[time, time]
) -> int:
    """Remind heads below today's minimum; once per head per day, however often this runs."""
    local = now.astimezone(rules.timezone)
    if in_quiet_hours(local, *quiet):
        return 0
    prefix = f"reminder:daily:{local.date()}:"
    # A second run of the same slot skips who was reminded already (the outbox key would
    # too, but cheaper not to build the message); keys of one day share a prefix.
    done = set(
        session.scalars(
            select(Outbox.key).where(Outbox.key >= prefix, Outbox.key < prefix[:-1] + ";")
        )
    )
    due = [
        s
        for s in standings(session, rules, local.date(), linked_only=True)
        if s.shortfall and not s.reminders_paused and f"{prefix}{s.head_id}" not in done
    ]
    contacts = _reachable_contacts(session, [s.contact_id for s in due if s.contact_id])
    rows = []
    for s in due:
        contact = contacts.get(s.contact_id)
        if contact is None:
            continue
        text = t(
            contact.language,
            "reminder.daily",
            name=s.name,
            done=s.today_counted,
            minimum=rules.minimum,
            n=s.shortfall,
            waiting=s.today_waiting,
        )
        rows.append(
            _reminder(
                f"{prefix}{s.head_id}",
                contact,
                text,
                ("quota_reminder", (s.name, str(s.today_counted), str(s.shortfall))),
            )
        )
    return enqueue(session, rows, now) if rows else 0


def enqueue_monthly_summaries(session: Session, rules: QuotaRules, now: datetime) -> int:
    """Last month's counted reports and allowance, to every linked head, once per month."""
    local = now.astimezone(rules.timezone)
    last_day = local.date().replace(day=1) - timedelta(days=1)
    found = standings(session, rules, last_day, linked_only=True)
    contacts = _reachable_contacts(session, [s.contact_id for s in found if s.contact_id])
    rows = []
    for s in found:
        contact = contacts.get(s.contact_id)
        if contact is None:
            continue
        month = f"{month_name(last_day.month, contact.language)} {last_day.year}"
        text = t(
            contact.language,
            "reminder.monthly",
            month=month,
            unit=s.unit,
            counted=s.month_counted,
            paid=s.paid_reports,
            allowance=rupiah(s.allowance),
        )
        key = f"reminder:monthly:{last_day:%Y-%m}:{s.head_id}"
        rows.append(
            _reminder(
                key,
                contact,
                text,
                ("quota_summary", (s.name, month, str(s.month_counted), rupiah(s.allowance))),
            )
        )
    return enqueue(session, rows, now) if rows else 0


def _reminder(
    key: str, contact: Any, text: str, template: tuple[str, tuple[str, ...]]
) -> OutgoingRow:
    name, variables = template
    payload = {
        "text": text,
        "meta": {
            "language": contact.language,
            "unsolicited": True,
            "template": {"name": name, "variables": list(variables)},
        },
    }
    return OutgoingRow(key, contact.channel, contact.address, payload, contact.id)
