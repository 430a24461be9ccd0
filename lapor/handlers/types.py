"""The contract between the conversation core and the channels.

A channel turns a native event into an `Inbound` and renders an `Outbound`; nothing
else crosses. Choices carry payloads, not labels, so a Telegram button, a WhatsApp "2"
and a console "2" all reach the core as the same choice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lapor.store.text import clean

Clock = Callable[[], datetime]  # returns an aware UTC datetime


@dataclass(frozen=True)
class GeoPoint:
    latitude: float
    longitude: float
    label: str | None = None

    def __post_init__(self) -> None:
        if self.label is not None:
            object.__setattr__(self, "label", clean(self.label))

    def is_valid(self) -> bool:
        return -90.0 <= self.latitude <= 90.0 and -180.0 <= self.longitude <= 180.0


@dataclass(frozen=True)
class PhotoIn:
    """A photo the channel has fetched, cleaned (no EXIF) and stored under MEDIA_DIR."""

    sha256: str
    dhash: str
    width: int
    height: int
    size: int
    path: str
    source_format: str
    gps: tuple[float, float] | None = None
    source_key: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "dhash": self.dhash,
            "width": self.width,
            "height": self.height,
            "size": self.size,
            "path": self.path,
            "source_format": self.source_format,
            "gps": list(self.gps) if self.gps else None,
            "source_key": self.source_key,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PhotoIn:
        gps = data.get("gps")
        return cls(
            sha256=data["sha256"],
            dhash=data["dhash"],
            width=data["width"],
            height=data["height"],
            size=data["size"],
            path=data["path"],
            source_format=data["source_format"],
            gps=(float(gps[0]), float(gps[1])) if gps else None,
            source_key=data.get("source_key"),
        )


@dataclass(frozen=True)
class Inbound:
    """One user event, whatever the platform.

    `message_id` identifies the event on its channel (Telegram update_id, Twilio
    MessageSid); a redelivered event with the same id is handled once.
    `photo_error` says the channel received an image it could not accept (the core
    explains politely); `unsupported` names a kind of message we cannot read (sticker,
    voice note, ...).
    """

    channel: str
    address: str
    message_id: str
    name: str | None = None
    text: str | None = None
    photos: tuple[PhotoIn, ...] = ()
    photo_error: str | None = None
    location: GeoPoint | None = None
    choice: str | None = None
    media_group: str | None = None
    unsupported: str | None = None
    telegram_id: int | None = None
    # Group chats (the admin chat, kelurahan groups): several people share one address,
    # so the person acting is `sender`, and a pressed button names the card it sat on.
    group: bool = False
    sender: str | None = None
    card_id: str | None = None
    chat_title: str | None = None
    # A group became a supergroup: this chat's new id.
    migrated_to: str | None = None

    def __post_init__(self) -> None:
        # The one door every channel's events pass: what people typed is normalised here
        # (no NUL or other controls, no lone surrogates, NFC) before any step reads it.
        for name in ("text", "name", "chat_title", "choice"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, clean(value))


@dataclass(frozen=True)
class Choice:
    label: str
    payload: str


@dataclass(frozen=True)
class Outbound:
    """One message to send. `key` is its idempotency key in the outbox."""

    channel: str
    address: str
    text: str
    choices: tuple[Choice, ...] = ()
    ask_location: bool = False
    photo: str | None = None
    location: GeoPoint | None = None
    key: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    # Edit an earlier message (a verifier's card) instead of sending a new one.
    edit: str | None = None
    force_reply: bool = False
    # The platform message this one answers (Telegram: a report's card in a group).
    reply_to: str | None = None
    # A web page the message is about (label, URL): a button on Telegram, a line of text
    # elsewhere. The report's public page, when PUBLIC_BASE_URL is set.
    link: tuple[str, str] | None = None

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"text": self.text}
        if self.choices:
            payload["choices"] = [[c.label, c.payload] for c in self.choices]
        if self.ask_location:
            payload["ask_location"] = True
        if self.photo:
            payload["photo"] = self.photo
        if self.location:
            payload["location"] = [self.location.latitude, self.location.longitude]
        if self.meta:
            payload["meta"] = self.meta
        if self.edit:
            payload["edit"] = self.edit
        if self.force_reply:
            payload["force_reply"] = True
        if self.reply_to:
            payload["reply_to"] = self.reply_to
        if self.link:
            payload["link"] = list(self.link)
        return payload

    @classmethod
    def from_payload(
        cls, channel: str, address: str, payload: dict[str, Any], key: str = ""
    ) -> Outbound:
        loc = payload.get("location")
        link = payload.get("link")
        return cls(
            channel=channel,
            address=address,
            text=payload.get("text", ""),
            choices=tuple(Choice(label, value) for label, value in payload.get("choices", [])),
            ask_location=bool(payload.get("ask_location", False)),
            photo=payload.get("photo"),
            location=GeoPoint(float(loc[0]), float(loc[1])) if loc else None,
            key=key,
            meta=payload.get("meta", {}),
            edit=payload.get("edit"),
            force_reply=bool(payload.get("force_reply", False)),
            reply_to=payload.get("reply_to"),
            link=(str(link[0]), str(link[1])) if link else None,
        )
