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
import ipaddress
import json
import logging
import math
import warnings
from collections import OrderedDict
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from telegram import (
    BotCommand,
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyParameters,
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
from telegram.warnings import PTBUserWarning

from lapor.bot.channels.download import handled_before, read_capped
from lapor.bot.channels.telegram_http import AiohttpRequest
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
# A webhook body larger than this is not an update Telegram sends (a message's text is at
# most 4096 characters); it is refused before it is read in full.
MAX_UPDATE_BYTES = 256 * 1024
# Telegram's deepest updates (a button on a replied-to message) nest about 8 levels.
MAX_UPDATE_DEPTH = 20

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
        # One session for every photo download: its connections are kept, and making a
        # client (an SSL context) costs more than the download of a photo over loopback.
        self._files: aiohttp.ClientSession | None = None

    def _file_client(self) -> aiohttp.ClientSession:
        if self._files is None or self._files.closed:
            self._files = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(sock_connect=20, sock_read=20)
            )
        return self._files

    async def aclose(self) -> None:
        if self._files is not None:
            await self._files.close()
            self._files = None

    async def on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """PTB handler (polling): answer button presses, hand the event to the core."""
        # Telegram types what it delivers, but hold polled updates to the webhook's check:
        # text PostgreSQL cannot store would otherwise fail the same step again and again.
        if not is_update(update.to_dict()):
            log.warning("update %s is not one lapor can read: ignored", update.update_id)
            if update.callback_query is not None:
                with contextlib.suppress(TelegramError):
                    await update.callback_query.answer()
            return
        await self.handle_update(update)

    async def handle_update(self, update: Update, *, answered: bool = False) -> None:
        """Hand an update to the core. `answered`: its button press is answered by the
        caller (the webhook answers in its HTTP response, which costs no request)."""
        # Take the chat's lock before the first await, so updates keep their arrival order.
        chat = update.effective_chat
        # Kinds we do not read are not checked at the edge: their chat id may be anything.
        key = chat.id if chat is not None and isinstance(chat.id, int) else None
        async with self.locks.hold(key):
            query = update.callback_query
            if query is not None and not answered:
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
            raw = await download_capped(self._file_client(), telegram_file.file_path)
        except TelegramError as exc:
            log.warning("could not download a photo: %s", exc)
            return Inbound(**base, photo_error="download", **extra)
        except (aiohttp.ClientError, DownloadError, TimeoutError) as exc:
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


async def download_capped(
    client: aiohttp.ClientSession, url: str | None, max_bytes: int = MAX_BYTES
) -> bytes:
    """A file from the Bot API's file URL, read as it streams and dropped past `max_bytes`.

    getFile's file_size may be missing or smaller than the file (PTB's download helpers
    then read all of it into memory, 50 MB as readily as 5): the cap holds whatever it
    says. `DOWNLOAD_S` bounds the whole download, however slowly the bytes come.
    """
    if not url or not url.startswith(("https://", "http://")):
        raise DownloadError("no file URL")
    async with (
        asyncio.timeout(DOWNLOAD_S),
        client.get(url, allow_redirects=False) as response,
    ):
        if response.status != 200:
            raise DownloadError(f"HTTP {response.status}")
        declared = response.headers.get("content-length", "")
        return await read_capped(declared, response.content.iter_chunked(64 * 1024), max_bytes)


# -- webhook bodies ---------------------------------------------------------------------------
#
# PTB's `Update.de_json` takes almost anything: a chat id "abc" became an address the
# dispatcher then failed on, text 123 reached the conversation as a number. So a webhook
# body is checked here first, on the fields `to_inbound` reads, with Telegram's own types.
# Update kinds lapor does not read are let through as they are (and ignored).

Check = Callable[[Any], bool]
_INT64 = range(-(2**63), 2**63)
# Unix times PTB can turn into a datetime (year 9999 is about 2**38).
_DATES = range(0, 2**37)


def _int_in(values: range) -> Check:
    def check(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value in values

    return check


def _is(kind: type) -> Check:
    return lambda value: isinstance(value, kind)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _list_of(item: Check) -> Check:
    return lambda value: isinstance(value, list) and all(item(v) for v in value)


def _object(required: dict[str, Check], optional: dict[str, Check] | None = None) -> Check:
    """A JSON object with these fields; absent (or null) optional fields are fine."""

    def check(value: Any) -> bool:
        if not isinstance(value, dict):
            return False
        if any(name not in value or not test(value[name]) for name, test in required.items()):
            return False
        return all(
            value.get(name) is None or test(value[name]) for name, test in (optional or {}).items()
        )

    return check


def _str(value: Any) -> bool:
    """A string. What is in it is cleaned where every channel's text is (store.text): a NUL
    or a lone surrogate in what a person typed is no reason to drop their message."""
    return isinstance(value, str)


_int64 = _int_in(_INT64)
_user = _object(
    {"id": _int64, "is_bot": _is(bool), "first_name": _str},
    {"last_name": _str, "username": _str, "language_code": _str},
)
_chat = _object({"id": _int64, "type": _str}, {"title": _str, "username": _str, "first_name": _str})
_photo_size = _object(
    {"file_id": _str, "file_unique_id": _str, "width": _int64, "height": _int64},
    {"file_size": _int64},
)
_document = _object(
    {"file_id": _str, "file_unique_id": _str},
    {"mime_type": _str, "file_name": _str, "file_size": _int64, "thumbnail": _photo_size},
)
_location = _object({"latitude": _number, "longitude": _number}, {"live_period": _int64})
_venue = _object({"location": _location, "title": _str, "address": _str})
_entity = _object({"type": _str, "offset": _int64, "length": _int64})
_MESSAGE_FIELDS: dict[str, Check] = {
    "from": _user,
    "edit_date": _int_in(_DATES),
    "text": _str,
    "caption": _str,
    "entities": _list_of(_entity),
    "caption_entities": _list_of(_entity),
    "media_group_id": _str,
    "migrate_to_chat_id": _int64,
    "photo": _list_of(_photo_size),
    "document": _document,
    "location": _location,
    "venue": _venue,
}


def _message(value: Any) -> bool:
    return _message_check(value)


# A replied-to message is a message too (the depth cap bounds the recursion).
_message_check = _object(
    {"message_id": _int64, "date": _int_in(_DATES), "chat": _chat},
    {**_MESSAGE_FIELDS, "reply_to_message": _message},
)


_callback_query = _object(
    {"id": _str, "from": _user},
    {"message": _message, "data": _str, "chat_instance": _str, "inline_message_id": _str},
)
_update = _object(
    {"update_id": _int_in(range(0, 2**63))},
    {"message": _message, "edited_message": _message, "callback_query": _callback_query},
)


def _depth(value: Any) -> int:
    """How deeply arrays and objects nest, without recursing (a body can nest 100,000 deep)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, depth)
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)
    return deepest


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def is_update(data: Any) -> bool:
    """Whether decoded JSON is an update with Telegram's types on every field lapor reads."""
    return isinstance(data, dict) and _depth(data) <= MAX_UPDATE_DEPTH and _update(data)


def read_update(body: bytes) -> dict[str, Any] | None:
    """A webhook body as an update dict fit for `Update.de_json`, or None when it is not one."""
    try:
        data = json.loads(body, parse_constant=_no_constants)
    except (ValueError, RecursionError):
        # RecursionError: nesting deeper than the decoder's stack, which is not an update.
        return None
    return data if is_update(data) else None


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
    link = []
    if message.link is not None and _button_link(message):
        link = [[InlineKeyboardButton(message.link[0], url=message.link[1])]]
    if not message.choices:
        return InlineKeyboardMarkup(link) if link else None
    buttons = []
    for choice in message.choices:
        if len(choice.payload.encode()) > CALLBACK_DATA_LIMIT:
            raise ValueError(f"callback data over {CALLBACK_DATA_LIMIT} bytes: {choice.payload}")
        buttons.append(InlineKeyboardButton(choice.label, callback_data=choice.payload))
    # Long lists (the categories) in two columns, so they fit on a phone screen.
    width = 2 if len(buttons) > 6 else 1
    rows = [buttons[i : i + width] for i in range(0, len(buttons), width)]
    return InlineKeyboardMarkup(rows + link)


def _button_link(message: Outbound) -> bool:
    """Whether the message's link can be a URL button. Telegram refuses buttons to hosts it
    cannot reach (localhost, bare addresses: "Wrong HTTP URL"), which would lose the whole
    message; such a link, and one beside a reply keyboard, goes in the text instead."""
    if message.link is None or message.ask_location or message.force_reply:
        return False
    host = urlsplit(message.link[1]).hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return "." in host and message.link[1].startswith("https://")
    return False


def message_text(message: Outbound) -> str:
    """The text as sent: with the link's URL when it is not a button."""
    if message.link is None or _button_link(message):
        return message.text
    return f"{message.text}\n\n{message.link[0]}: {message.link[1]}"


# TelegramSender._call asks for sendMessage/sendPhoto by name on purpose.
warnings.filterwarnings(
    "ignore", message=r"Please use 'Bot\.send(Message|Photo)' instead", category=PTBUserWarning
)


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
            # Threaded under the card it answers; sent anyway if that card was deleted.
            reply = (
                ReplyParameters(int(message.reply_to), allow_sending_without_reply=True)
                if message.reply_to and message.reply_to.isdecimal()
                else None
            )
            if message.photo:
                params: dict[str, Any] = {
                    "chat_id": chat_id,
                    "photo": InputFile(self.media.open_bytes(message.photo)),
                }
                text = message_text(message)
                if text:
                    params["caption"] = text[:CAPTION_LIMIT]
                sent = await self._call("sendPhoto", params, markup, reply)
            else:
                params = {"chat_id": chat_id, "text": message_text(message)[:TEXT_LIMIT]}
                sent = await self._call("sendMessage", params, markup, reply)
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
        return str(sent["message_id"])

    async def _call(
        self, method: str, params: dict[str, Any], markup: Any, reply: Any
    ) -> dict[str, Any]:
        """One Bot API call whose answer stays a dict: only its message_id is read, and
        building PTB's `Message` from it was a tenth of a step's CPU (PTB's hint to use
        its `send_*` method instead is silenced for these two names, below)."""
        if markup is not None:
            params["reply_markup"] = markup
        if reply is not None:
            params["reply_parameters"] = reply
        result = await self.bot.do_api_request(method, api_kwargs=params)
        if not isinstance(result, dict) or not isinstance(result.get("message_id"), int):
            raise PermanentError(f"{method}: no message_id in Telegram's answer")
        return result

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
    builder = (
        ApplicationBuilder()
        .token(token)
        .concurrent_updates(CONCURRENT_UPDATES)
        # Every send goes through this transport: see telegram_http for why not httpx.
        .request(AiohttpRequest())
    )
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
