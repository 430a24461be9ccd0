"""Button payloads: the one place that writes them and reads them back.

A payload travels to the user's client and returns as Telegram `callback_data` or
WhatsApp's `ButtonPayload`; the Bot API docs warn that clients can send arbitrary data in
that field. So nothing else splits a choice string: `parse` turns a payload into a typed
value, with every id in the range of its column and every index within its list, or
into None, and each step answers None with its polite "not understood".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from lapor.handlers.texts import LANGUAGES, t
from lapor.routing.registry import MAX_CODE

# Report ids are INTEGER columns: 32-bit and positive, on SQLite as on PostgreSQL.
MAX_ID = 2**31 - 1
RATINGS = range(1, 6)
# Telegram's limit on callback_data; a longer payload was never one of ours.
MAX_BYTES = 64

_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")  # as `lapor categories add` accepts
_NUMBER = re.compile(r"[0-9]{1,10}")  # ASCII digits only: int() also takes "٣", "+3", " 3"


# -- the citizen's buttons -------------------------------------------------------------------

MENU_PAYLOADS = {
    "menu:report": "report",
    "menu:saran": "saran",
    "menu:apresiasi": "apresiasi",
    "menu:mine": "mine",
    "menu:help": "help",
    "menu:lang": "language",
    "menu:home": "menu",
    "menu:quota": "quota",
    "cancel": "cancel",
}
CANCEL = "cancel"
LOCATION_FROM_PHOTO = "loc:photo"
NOTE_SKIP = "note:skip"
SEND_ANYWAY = "dup:new"
CONFIRM_PUBLIC = "confirm:yes"
CONFIRM_PRIVATE = "confirm:private"
FEEDBACK_SEND = "fb:send"
# Buttons that carry nothing but their own name.
WORDS = frozenset(
    {LOCATION_FROM_PHOTO, NOTE_SKIP, SEND_ANYWAY, CONFIRM_PUBLIC, CONFIRM_PRIVATE, FEEDBACK_SEND}
)


@dataclass(frozen=True)
class Menu:
    """A menu entry (or Cancel): a global action that works at every step."""

    action: str


@dataclass(frozen=True)
class Word:
    """A button that means one thing at its step: skip the note, send, confirm."""

    word: str


@dataclass(frozen=True)
class Language:
    code: str


@dataclass(frozen=True)
class CategoryPick:
    slug: str


@dataclass(frozen=True)
class KelurahanPick:
    code: str


@dataclass(frozen=True)
class Follow:
    report_id: int


@dataclass(frozen=True)
class Rate:
    report_id: int
    rating: int


@dataclass(frozen=True)
class AddTo:
    """ "Tambah keterangan/foto" under Laporan saya: add a note or a photo to this report."""

    report_id: int


@dataclass(frozen=True)
class AskRating:
    """ "Beri nilai" under Laporan saya: ask for the 1-5 rating of this report."""

    report_id: int


# -- staff buttons (the admin chat, kelurahan groups) ----------------------------------------


class Action(StrEnum):
    """What a staff button does. The values are the codes on cards already sent: keep them."""

    VERIFY = "v"
    REJECT = "r"
    REJECT_REASON = "rr"
    RECATEGORISE = "c"
    SET_CATEGORY = "cc"
    DUPLICATE = "d"
    BLOCK = "b"
    ACKNOWLEDGE = "ack"
    REROUTE = "fw"
    PROGRESS = "p"
    DONE = "s"
    NOT_OURS = "n"
    REPLY = "w"  # "Balas warga": words to the reporter and followers, status unchanged
    PROGRESS_PHOTO = "f"  # "Foto progres": a photo of the work, the report staying open


ADMIN_ACTIONS = frozenset(
    {
        Action.VERIFY,
        Action.REJECT,
        Action.REJECT_REASON,
        Action.RECATEGORISE,
        Action.SET_CATEGORY,
        Action.DUPLICATE,
        Action.BLOCK,
        Action.ACKNOWLEDGE,
        Action.REROUTE,
        Action.REPLY,
    }
)
GROUP_ACTIONS = frozenset(
    {Action.PROGRESS, Action.DONE, Action.NOT_OURS, Action.REPLY, Action.PROGRESS_PHOTO}
)


def rejection_reasons(language: str) -> list[str]:
    """The preset reasons a verifier picks from, in the order of their buttons."""
    return t(language, "review.reasons").split("|")


# An index must name a reason in every language: staff language is a setting that can change
# between the card being sent and the button being pressed.
REASON_COUNT = min(len(rejection_reasons(language)) for language in LANGUAGES)


@dataclass(frozen=True)
class Staff:
    """A button on a card: the action, the report, and the reason or category it names."""

    action: Action
    report_id: int
    reason: int | None = None
    category: str | None = None


Payload = (
    Menu
    | Word
    | Language
    | CategoryPick
    | KelurahanPick
    | Follow
    | Rate
    | AskRating
    | AddTo
    | Staff
)


# -- writing ------------------------------------------------------------------------------------


def language(code: str) -> str:
    return f"lang:{code}"


def category(slug: str) -> str:
    return f"cat:{slug}"


def kelurahan(code: str) -> str:
    return f"kel:{code}"


def follow(report_id: int) -> str:
    return f"follow:{report_id}"


def rate(report_id: int, rating: int) -> str:
    return f"rate:{report_id}:{rating}"


def ask_rating(report_id: int) -> str:
    return f"rating:{report_id}"


def add_to(report_id: int) -> str:
    return f"add:{report_id}"


def staff(action: Action, report_id: int, extra: int | str | None = None) -> str:
    return f"{action.value}:{report_id}" + (f":{extra}" if extra is not None else "")


# -- reading ------------------------------------------------------------------------------------


def typed_number(text: str) -> int | None:
    """A number a person typed to pick from a list ("2"), or None.

    ASCII digits only ("²" and "٣" are digits to Python but not numbers people type), and
    at most three of them: no list is that long, and int() refuses 4,300 digits and more.
    """
    text = text.strip()
    if text.isascii() and text.isdecimal() and len(text) <= 3:
        return int(text)
    return None


def _id(text: str) -> int | None:
    if not _NUMBER.fullmatch(text):
        return None
    value = int(text)
    return value if 1 <= value <= MAX_ID else None


def _staff(action: Action, rest: list[str]) -> Staff | None:
    if not rest:
        return None
    report_id = _id(rest[0])
    if report_id is None:
        return None
    extra = rest[1:]
    if action is Action.REJECT_REASON:
        if len(extra) != 1 or not _NUMBER.fullmatch(extra[0]):
            return None
        index = int(extra[0])
        return Staff(action, report_id, reason=index) if index < REASON_COUNT else None
    if action is Action.SET_CATEGORY:
        if len(extra) != 1 or not _SLUG.fullmatch(extra[0]):
            return None
        return Staff(action, report_id, category=extra[0])
    return None if extra else Staff(action, report_id)


def parse(payload: str | None) -> Payload | None:
    """The typed value of a payload, or None for anything lapor never sends."""
    if not payload or len(payload.encode("utf-8", errors="replace")) > MAX_BYTES:
        return None
    if payload in MENU_PAYLOADS:
        return Menu(MENU_PAYLOADS[payload])
    if payload in WORDS:
        return Word(payload)
    head, _, rest = payload.partition(":")
    if head == "lang":
        return Language(rest) if rest in LANGUAGES else None
    if head == "cat":
        return CategoryPick(rest) if _SLUG.fullmatch(rest) else None
    if head == "kel":
        # Operators choose codes freely (spaces, colons): the step compares it with its options.
        return KelurahanPick(rest) if 0 < len(rest) <= MAX_CODE else None
    if head == "follow":
        report_id = _id(rest)
        return Follow(report_id) if report_id is not None else None
    if head == "rating":
        report_id = _id(rest)
        return AskRating(report_id) if report_id is not None else None
    if head == "add":
        report_id = _id(rest)
        return AddTo(report_id) if report_id is not None else None
    if head == "rate":
        report_id, _, value = rest.partition(":")
        found = _id(report_id)
        if found is None or not _NUMBER.fullmatch(value) or int(value) not in RATINGS:
            return None
        return Rate(found, int(value))
    try:
        action = Action(head)
    except ValueError:
        return None
    return _staff(action, rest.split(":") if rest else [])
