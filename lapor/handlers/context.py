"""What every handler works with: the configuration, the event context, replies, turns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import Session

from lapor.handlers.payloads import Payload
from lapor.handlers.rooms import Rooms
from lapor.handlers.steps import Step
from lapor.handlers.texts import t
from lapor.handlers.types import Choice, GeoPoint, Inbound
from lapor.incentives.quota import QuotaRules
from lapor.store.chats import ContactInfo
from lapor.store.models import Category, Head, Report
from lapor.store.public import is_shown, page_url


@dataclass(frozen=True)
class CoreConfig:
    ticket_prefix: str = "JKT"
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Jakarta"))
    idle_timeout: timedelta = timedelta(minutes=30)
    default_language: str = "id"
    max_photos: int = 3  # as FixMyStreet: enough to show the problem, little to moderate
    max_note: int = 1000
    my_reports_limit: int = 5
    # Qlue's points-chasers flooded kelurahan with junk: a few reports an hour per contact.
    reports_per_hour: int = 5
    reports_per_day: int = 20
    # Similar reports offered before confirming (FixMyStreet shows nearby ones, too).
    similar_radius_m: float = 250.0
    similar_days: int = 30
    similar_photo_bits: int = 10
    quota: QuotaRules = field(default_factory=QuotaRules)
    # Where the public pages are served (PUBLIC_BASE_URL): citizens get their report's link.
    public_base_url: str | None = None


@dataclass(frozen=True)
class Reply:
    """A message to send. Without `to` it answers the sender; otherwise it goes to
    (channel, address): a verifier card, a kelurahan group, a follower."""

    text: str
    choices: tuple[Choice, ...] = ()
    ask_location: bool = False
    to: tuple[str, str] | None = None
    photo: str | None = None
    location: GeoPoint | None = None
    edit: str | None = None
    language: str | None = None
    contact_id: int | None = None
    # In a group, ask for the answer as a reply: bots in privacy mode see only replies.
    force_reply: bool = False
    # For channels that need pre-approved text outside a conversation (WhatsApp's 24-hour
    # window): the template's name and its variables, in order.
    template: tuple[str, tuple[str, ...]] | None = None
    # Post as a reply to this platform message (a report's card), so Telegram threads it.
    reply_to: str | None = None
    # This message is the card of that report: once sent, its message id is remembered.
    card_of: int | None = None
    # A web page the message is about: (label, URL).
    link: tuple[str, str] | None = None


@dataclass
class Turn:
    step: Step
    data: dict[str, Any]
    replies: list[Reply]
    # Reports this turn created: the core posts their cards to the verifiers.
    created: list[int] = field(default_factory=list)


@dataclass
class Event:
    """An inbound event with its choice resolved against the choices last offered.

    `payload` is the choice read by `payloads.parse`: steps look at it, never at the string.
    """

    inbound: Inbound
    choice: str | None
    command: str | None
    text: str | None
    payload: Payload | None = None


@dataclass
class Ctx:
    session: Session
    contact: ContactInfo
    config: CoreConfig
    now: datetime
    rooms: Rooms = field(default_factory=Rooms)
    # routing.KelurahanIndex.locate, when a kelurahan registry is loaded.
    locate: Callable[[float, float], Any] | None = None
    _categories: list[Category] | None = None
    _is_head: bool | None = None

    @property
    def is_head(self) -> bool:
        """Whether the sender is a linked RT/RW head (they see "Kuota saya" in the menu)."""
        if self._is_head is None:
            self._is_head = (
                self.session.execute(
                    select(Head.id).where(Head.contact_id == self.contact.id).limit(1)
                ).first()
                is not None
            )
        return self._is_head

    @property
    def categories(self) -> list[Category]:
        """Active categories, read once per event (several steps look at them)."""
        if self._categories is None:
            self._categories = active_categories(self.session)
        return self._categories

    @property
    def lang(self) -> str:
        return self.contact.language

    def t(self, key: str, **values: object) -> str:
        return t(self.lang, key, **values)


def page_link(config: CoreConfig, report: Report, lang: str) -> tuple[str, str] | None:
    """The report's public page as a (label, URL) link, for the citizens told about it; None
    without PUBLIC_BASE_URL, and for a report the public may not see (rahasia, rejected,
    saran, apresiasi), whose page would only say "not found"."""
    url = page_url(config.public_base_url, report.ticket)
    if url is None or not is_shown(report):
        return None
    return (t(lang, "public.link"), url)


def active_categories(session: Session) -> list[Category]:
    query = select(Category).where(Category.active).order_by(Category.position, Category.id)
    return list(session.scalars(query))


def category_name(category: Category, lang: str) -> str:
    return category.name_en if lang == "en" else category.name_id


# The conversation data's key for the numbered list the user last saw. On WhatsApp and in
# the console a typed number answers that list, whichever step the conversation is in:
# "1" under a ticket must open "Laporan saya", not the menu's first item.
SHOWN = "shown"


def shown_choices(data: dict[str, Any]) -> tuple[Choice, ...] | None:
    """The list stored under SHOWN, or None when nothing was recorded (older state)."""
    stored = data.get(SHOWN)
    if stored is None:
        return None
    return tuple(Choice(str(label), str(payload)) for label, payload in stored)


def shown_value(choices: tuple[Choice, ...]) -> list[list[str]]:
    return [[c.label, c.payload] for c in choices]


def joined(notice: str, reply: Reply) -> Reply:
    """One message instead of two: Telegram allows one message per second per chat."""
    return replace(reply, text=f"{notice}\n\n{reply.text}")
