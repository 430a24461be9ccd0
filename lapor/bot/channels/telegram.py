"""The Telegram channel: PTB as the client; updates in, rendered messages out.

What happens to a Telegram event is all here: `to_inbound` turns an `Update` into an
`Inbound` (photos downloaded through getFile and cleaned; image documents too; venues
become locations; live-location edits and edited messages are ignored); `TelegramSender`
renders an `Outbound` (choices as an inline keyboard, the location step as a reply
keyboard with a share-location button) and maps Telegram's errors onto the dispatcher's.
No business rule lives here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from typing import Any
from urllib.parse import urlsplit

import httpx
from telegram import (
    BotCommand,
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    Update,
)
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import Application, ApplicationBuilder, ContextTypes, TypeHandler

from lapor.bot.channels.download import handled_before, read_capped
from lapor.bot.dispatcher import (
    MigratedError,
    PermanentError,
    TransientError,
    UnreachableError,
)
from lapor.bot.runtime import Runtime
from lapor.bot.settings import Settings
from lapor.handlers.texts import t
from lapor.handlers.types import GeoPoint, Inbound, Outbound
from lapor.store.media import MAX_BYTES, BadImage, MediaStore

log = logging.getLogger(__name__)

CHANNEL = "telegram"
ALLOWED_UPDATES = [Update.MESSAGE, Update.EDITED_MESSAGE, Update.CALLBACK_QUERY]
CALLBACK_DATA_LIMIT = 64  # bytes, Telegram's limit on callback_data
CONCURRENT_UPDATES = 32
CAPTION_LIMIT = 1024  # Telegram's limits on a photo caption and a message text
TEXT_LIMIT = 4096
PINNED_MEMORY = 10_000
DOWNLOAD_S = 30.0  # one photo's whole download from the Bot API's file server

COMMANDS = {
    "id": [
        ("start", "Menu utama"),
        ("lapor", "Buat laporan"),
        ("saran", "Kirim saran"),
        ("apresiasi", "Kirim apresiasi"),
        ("laporansaya", "Laporan saya"),
        ("bahasa", "Ganti bahasa"),
        ("bantuan", "Bantuan"),
        ("batal", "Batalkan langkah ini"),
    ],
    "en": [
        ("start", "Main menu"),
        ("lapor", "New report"),
        ("saran", "Send a suggestion"),
        ("apresiasi", "Send an appreciation"),
        ("laporansaya", "My reports"),
        ("bahasa", "Change language"),
        ("bantuan", "Help"),
        ("batal", "Cancel this step"),
    ],
}

UNSUPPORTED_KINDS = (
    ("sticker", "sticker"),
    ("voice", "voice"),
    ("video_note", "video"),
    ("video", "video"),
    ("animation", "video"),
    ("audio", "audio"),
    ("contact", "contact"),
    ("poll", "poll"),
    ("dice", "other"),
    ("game", "other"),
)


# -- inbound ----------------------------------------------------------------------------------


class ChatLocks:
    """One lock per chat: different chats are handled in parallel, one chat in order.

    PTB handles one update at a time by default, so one slow photo download stalls every
    user. With concurrent updates, two messages from the same user (an album, a quick
    double tap) must still reach the conversation in the order they were sent.
    """

    def __init__(self) -> None:
        self._locks: dict[object, asyncio.Lock] = {}
        self._users: dict[object, int] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: object):  # type: ignore[no-untyped-def]
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key]
                del self._locks[key]

    def __len__(self) -> int:
        return len(self._locks)


class TelegramChannel:
    """Turns updates into events for the core. One per application."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.locks = ChatLocks()

    async def on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """PTB handler (polling): answer button presses, hand the event to the core."""
        await self.handle_update(update)

    async def handle_update(self, update: Update) -> None:
        # Take the chat's lock before the first await, so updates keep their arrival order.
        chat = update.effective_chat
        async with self.locks.hold(chat.id if chat else None):
            query = update.callback_query
            if query is not None:
                # Always answer, or the user's button keeps spinning.
                with contextlib.suppress(TelegramError):
                    await query.answer()
            inbound = await self.to_inbound(update)
            if inbound is not None:
                await self.runtime.handle(inbound)

    async def to_inbound(self, update: Update) -> Inbound | None:
        """The `Inbound` for an update, or None for updates the core does not take."""
        message_id = f"u{update.update_id}"
        query = update.callback_query
        if query is not None:
            chat = query.message.chat if query.message else None
            if chat is None or query.data is None or chat.type == "channel":
                return None
            group = chat.type != "private"
            return Inbound(
                channel=CHANNEL,
                address=str(chat.id),
                message_id=message_id,
                name=query.from_user.full_name,
                choice=query.data,
                telegram_id=query.from_user.id,
                group=group,
                sender=str(query.from_user.id),
                card_id=str(query.message.message_id) if query.message else None,
                chat_title=chat.title if group else None,
            )
        message = update.message
        # Edited messages and live-location updates (which arrive as edits) do not
        # re-run a step: the first version was already answered.
        if message is None or message.chat.type == "channel":
            return None
        group = message.chat.type != "private"
        if group and message.migrate_to_chat_id:
            return Inbound(
                channel=CHANNEL,
                address=str(message.chat.id),
                message_id=message_id,
                group=True,
                migrated_to=str(message.migrate_to_chat_id),
            )
        if group and not _for_us(message):
            return None  # officers chat among themselves; we only read what concerns us
        base: dict[str, Any] = {
            "channel": CHANNEL,
            "address": str(message.chat.id),
            "message_id": message_id,
            "name": message.from_user.full_name if message.from_user else None,
            "telegram_id": message.from_user.id if message.from_user else None,
            "group": group,
            "sender": str(message.from_user.id) if message.from_user else None,
            "chat_title": message.chat.title if group else None,
        }
        if message.photo or _image_document(message):
            return await self._photo_inbound(message, base)
        if message.venue is not None:
            venue = message.venue
            label = ", ".join(part for part in (venue.title, venue.address) if part)
            point = GeoPoint(venue.location.latitude, venue.location.longitude, label or None)
            return Inbound(**base, location=point)
        if message.location is not None:
            loc = message.location
            return Inbound(**base, location=GeoPoint(loc.latitude, loc.longitude))
        if message.text is not None:
            return Inbound(**base, text=message.text)
        if message.document is not None:
            return Inbound(**base, unsupported="document")
        for attribute, kind in UNSUPPORTED_KINDS:
            if getattr(message, attribute, None):
                return Inbound(**base, unsupported=kind)
        return Inbound(**base, unsupported="other")

    async def _photo_inbound(self, message: Message, base: dict[str, Any]) -> Inbound | None:
        if message.photo:
            largest = message.photo[-1]
            file_id, unique_id, size = largest.file_id, largest.file_unique_id, largest.file_size
        else:
            document = message.document
            assert document is not None
            file_id, unique_id, size = (
                document.file_id,
                document.file_unique_id,
                document.file_size,
            )
        caption = message.caption
        extra = {"text": caption, "media_group": message.media_group_id}
        if size is not None and size > MAX_BYTES:
            return Inbound(**base, photo_error="too_large", **extra)
        # A redelivered update (same update_id) had its photo stored the first time.
        if await handled_before(self.runtime, CHANNEL, base["message_id"]):
            return None
        try:
            telegram_file = await message.get_bot().get_file(file_id)
            if (telegram_file.file_size or 0) > MAX_BYTES:
                return Inbound(**base, photo_error="too_large", **extra)
            raw = await download_capped(telegram_file.file_path)
        except TelegramError as exc:
            log.warning("could not download a photo: %s", exc)
            return Inbound(**base, photo_error="download", **extra)
        except (httpx.HTTPError, DownloadError, TimeoutError) as exc:
            log.warning("could not download a photo: %s", type(exc).__name__)
            return Inbound(**base, photo_error="download", **extra)
        except BadImage as exc:
            return Inbound(**base, photo_error=exc.reason, **extra)
        try:
            photo = await self.runtime.accept_photo(raw, source_key=unique_id)
        except BadImage as exc:
            return Inbound(**base, photo_error=exc.reason, **extra)
        return Inbound(**base, photos=(photo,), **extra)


class DownloadError(Exception):
    """A file could not be fetched (not a photo problem)."""


async def download_capped(url: str | None, max_bytes: int = MAX_BYTES) -> bytes:
    """A file from the Bot API's file URL, read as it streams and dropped past `max_bytes`.

    getFile's file_size may be missing or smaller than the file (PTB's download helpers
    then read all of it into memory, 50 MB as readily as 5): the cap holds whatever it
    says. `DOWNLOAD_S` bounds the whole download, however slowly the bytes come.
    """
    if not url or not url.startswith(("https://", "http://")):
        raise DownloadError("no file URL")
    async with (
        asyncio.timeout(DOWNLOAD_S),
        httpx.AsyncClient(timeout=20) as client,
        client.stream("GET", url) as response,
    ):
        if response.status_code != 200:
            raise DownloadError(f"HTTP {response.status_code}")
        return await read_capped(response, max_bytes)


def _for_us(message: Message) -> bool:
    """In a group: commands, photos (an after-photo) and replies to the bot concern us.

    With privacy mode on (the default for bots) Telegram only delivers these anyway.
    """
    if message.text and message.text.startswith("/"):
        return True
    if message.photo or _image_document(message):
        return True
    replied = message.reply_to_message
    return bool(replied and replied.from_user and replied.from_user.is_bot)


def _image_document(message: Message) -> bool:
    document = message.document
    return bool(document and (document.mime_type or "").startswith("image/"))


# -- outbound ---------------------------------------------------------------------------------


def render_markup(message: Outbound, language: str = "id") -> Any:
    """Inline buttons for choices; a reply keyboard with a location button at that step."""
    if message.force_reply and not message.choices:
        return ForceReply(selective=False)
    if message.ask_location:
        rows = [[KeyboardButton(t(language, "location.button"), request_location=True)]]
        rows += [[KeyboardButton(choice.label)] for choice in message.choices]
        return ReplyKeyboardMarkup(rows, resize_keyboard=True, one_time_keyboard=True)
    if not message.choices:
        return None
    buttons = []
    for choice in message.choices:
        if len(choice.payload.encode()) > CALLBACK_DATA_LIMIT:
            raise ValueError(f"callback data over {CALLBACK_DATA_LIMIT} bytes: {choice.payload}")
        buttons.append(InlineKeyboardButton(choice.label, callback_data=choice.payload))
    # Long lists (the categories) in two columns, so they fit on a phone screen.
    width = 2 if len(buttons) > 6 else 1
    rows = [buttons[i : i + width] for i in range(0, len(buttons), width)]
    return InlineKeyboardMarkup(rows)


class TelegramSender:
    channel = CHANNEL

    def __init__(self, bot: Any, media: MediaStore) -> None:
        self.bot = bot
        self.media = media
        # Cards whose pin went out while the card itself did not (a 429 between the two
        # calls): the retry sends only the card. Bounded; a retry in another process may
        # still repeat a pin, which is harmless.
        self._pinned: OrderedDict[str, None] = OrderedDict()

    def calls(self, message: Outbound) -> int:
        """Platform calls this message takes: a card with a pin is a location, then the card."""
        return 2 if message.location and not message.edit else 1

    async def send(self, message: Outbound) -> str | None:
        chat_id = int(message.address)
        language = "en" if message.meta.get("language") == "en" else "id"
        markup = render_markup(message, language)
        try:
            if message.edit:
                return await self._edit(chat_id, message, markup)
            if message.location and message.key not in self._pinned:
                await self.bot.send_location(
                    chat_id,
                    latitude=message.location.latitude,
                    longitude=message.location.longitude,
                )
                if message.key:
                    self._pinned[message.key] = None
                    while len(self._pinned) > PINNED_MEMORY:
                        self._pinned.popitem(last=False)
            if message.photo:
                sent = await self.bot.send_photo(
                    chat_id,
                    photo=self.media.open_bytes(message.photo),
                    caption=message.text[:CAPTION_LIMIT] or None,
                    reply_markup=markup,
                )
            else:
                sent = await self.bot.send_message(
                    chat_id, message.text[:TEXT_LIMIT], reply_markup=markup
                )
        except RetryAfter as exc:
            raise TransientError(str(exc), retry_after=_seconds(exc.retry_after)) from exc
        except ChatMigrated as exc:
            raise MigratedError(str(exc), str(exc.new_chat_id)) from exc
        except Forbidden as exc:
            raise UnreachableError(str(exc)) from exc
        except BadRequest as exc:
            if "chat not found" in str(exc).lower():
                raise UnreachableError(str(exc)) from exc
            raise PermanentError(str(exc)) from exc
        except (TimedOut, NetworkError) as exc:
            raise TransientError(str(exc)) from exc
        except TelegramError as exc:
            raise TransientError(str(exc)) from exc
        if message.key:
            self._pinned.pop(message.key, None)
        return str(sent.message_id)

    async def _edit(self, chat_id: int, message: Outbound, markup: Any) -> str | None:
        """Edit a card in place: its caption when it is a photo card, else its text."""
        assert message.edit is not None
        message_id = int(message.edit)
        try:
            if message.photo:
                await self.bot.edit_message_caption(
                    chat_id=chat_id,
                    message_id=message_id,
                    caption=message.text[:CAPTION_LIMIT],
                    reply_markup=markup,
                )
            else:
                await self.bot.edit_message_text(
                    message.text[:TEXT_LIMIT],
                    chat_id=chat_id,
                    message_id=message_id,
                    reply_markup=markup,
                )
        except BadRequest as exc:
            # Pressing twice produces the same content; Telegram calls that an error.
            if "not modified" not in str(exc).lower():
                raise
        return message.edit


def _seconds(value: Any) -> float:
    return value.total_seconds() if hasattr(value, "total_seconds") else float(value)


# -- the application --------------------------------------------------------------------------


def build_application(settings: Settings) -> Application:
    token = settings.token()
    if not token:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    # Updates of different chats run concurrently; ChatLocks keeps each chat in order.
    builder = ApplicationBuilder().token(token).concurrent_updates(CONCURRENT_UPDATES)
    if settings.telegram_api_base_url:
        builder = builder.base_url(settings.telegram_api_base_url.rstrip("/") + "/bot")
    if settings.telegram_file_base_url:
        builder = builder.base_file_url(settings.telegram_file_base_url.rstrip("/") + "/file/bot")
    elif settings.telegram_api_base_url:
        base = settings.telegram_api_base_url.rstrip("/")
        builder = builder.base_file_url(base + "/file/bot")
    return builder.build()


def attach(runtime: Runtime, application: Application) -> TelegramChannel:
    """Wire the channel into an application and the runtime's dispatcher."""
    channel = TelegramChannel(runtime)
    application.add_handler(TypeHandler(Update, channel.on_update))
    runtime.add_sender(TelegramSender(application.bot, runtime.media))
    return channel


async def set_commands(application: Application) -> None:
    bot = application.bot
    await bot.set_my_commands([BotCommand(c, d) for c, d in COMMANDS["id"]])
    await bot.set_my_commands([BotCommand(c, d) for c, d in COMMANDS["en"]], language_code="en")


def webhook_path(settings: Settings) -> str:
    path = urlsplit(settings.telegram_webhook_url or "").path
    return path or "/telegram/webhook"
