"""The console channel: the same conversation in a terminal, with no token and no network.

Type text; `/photo PATH [caption]` sends an image; `/loc LAT LON` shares a location;
answer choices by their number; `/keluar` (or `/quit`, Ctrl-D) leaves.

One person can play every role: `/as warga` (the default), `/as wa` (a WhatsApp user,
rendered as WhatsApp shows it), `/as verifier` (the admin
chat, "#admin") and `/as kelurahan CODE` (that kelurahan's group, "#kel-CODE"). Every
message lapor sends is printed, prefixed with its room, so the whole path of a report
can be followed in one terminal.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from lapor.bot.runtime import CONSOLE_ADMIN, Runtime
from lapor.handlers import payloads
from lapor.handlers.review import CONSOLE_GROUP_PREFIX
from lapor.handlers.types import GeoPoint, Inbound, Outbound
from lapor.store.media import BadImage

CHANNEL = "console"
QUIT = frozenset({"/keluar", "/quit", "/exit"})


class ConsoleSender:
    """Renders an outbound message as text: choices numbered, a hint for locations."""

    channel = CHANNEL

    def __init__(self, out: TextIO, me: str = "") -> None:
        self.out = out
        self.me = me
        self.last_choices: dict[str, tuple[str, ...]] = {}
        self.last_card: dict[str, str] = {}
        self._sent = 0

    async def send(self, message: Outbound) -> str | None:
        if message.choices:
            self.last_choices[message.address] = tuple(c.payload for c in message.choices)
        room = "" if message.address == self.me else message.address
        self.out.write(render(message, room) + "\n")
        self.out.flush()
        if message.edit:
            return message.edit
        self._sent += 1
        if message.choices:
            self.last_card[message.address] = str(self._sent)
        return str(self._sent)


def render(message: Outbound, room: str = "") -> str:
    head = f"[{room}] " if room else ""
    if message.edit:
        head += "(diperbarui / updated) "
    lines = [
        f"lapor> {head}{line}" if i == 0 else f"       {line}"
        for i, line in enumerate(message.text.splitlines() or [""])
    ]
    for number, choice in enumerate(message.choices, start=1):
        lines.append(f"       {number:>2}. {choice.label}")
    if message.link:
        lines.append(f"       [{message.link[0]}: {message.link[1]}]")
    if message.photo:
        lines.append(f"       [foto / photo: {message.photo}]")
    if message.location:
        lines.append(
            f"       [lokasi / location: {message.location.latitude:.5f}, "
            f"{message.location.longitude:.5f}]"
        )
    return "\n".join(lines)


@dataclass
class Role:
    """Who the person at the terminal is playing, and in which room."""

    address: str
    group: bool = False
    channel: str = CHANNEL


class WhatsAppPreview:
    """`/as wa`: a WhatsApp user's messages, rendered exactly as WhatsApp would show them."""

    channel = "whatsapp"

    def __init__(self, out: TextIO) -> None:
        self.out = out

    async def send(self, message: Outbound) -> str | None:
        from lapor.bot.channels.whatsapp import render_text

        lines = render_text(message).splitlines() or [""]
        self.out.write(
            "\n".join(
                [f"wa>    [{message.address}] {lines[0]}", *(f"       {x}" for x in lines[1:])]
            )
            + "\n"
        )
        if message.photo:
            self.out.write(f"       [foto / photo: {message.photo}]\n")
        self.out.flush()
        return None


async def to_inbound(
    runtime: Runtime,
    address: str,
    name: str | None,
    line: str,
    role: Role | None = None,
    last_choices: dict[str, tuple[str, ...]] | None = None,
    last_card: dict[str, str] | None = None,
) -> Inbound:
    """Turn one typed line into an event for the core."""
    role = role or Role(address)
    event: dict = {
        "channel": role.channel,
        "address": role.address,
        "message_id": uuid.uuid4().hex,
        "name": name,
    }
    if role.group:
        event.update(group=True, sender=address)
        # In a room the numbers answer the latest card's buttons.
        offered = (last_choices or {}).get(role.address, ())
        number = payloads.typed_number(line)
        if number is not None and 0 < number <= len(offered):
            card = (last_card or {}).get(role.address)
            return Inbound(**event, choice=offered[number - 1], card_id=card)
    words = line.strip().split(maxsplit=1)
    head = words[0].casefold() if words else ""
    rest = words[1] if len(words) > 1 else ""
    if head == "/photo":
        path_text, _, caption = rest.partition(" ")
        path = Path(path_text).expanduser()
        try:
            raw = path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return Inbound(**event, photo_error="missing")  # a typo in the path, usually
        except OSError:
            return Inbound(**event, photo_error="download")
        try:
            photo = await runtime.accept_photo(raw, source_key=None)
        except BadImage as exc:
            return Inbound(**event, photo_error=exc.reason)
        return Inbound(**event, photos=(photo,), text=caption.strip() or None)
    if head == "/loc":
        parts = rest.replace(",", " ").split()
        try:
            lat, lon = float(parts[0]), float(parts[1])
        except (IndexError, ValueError):
            return Inbound(**event, text=line)
        return Inbound(**event, location=GeoPoint(latitude=lat, longitude=lon))
    return Inbound(**event, text=line)


async def chat(
    runtime: Runtime,
    address: str,
    name: str | None = None,
    lines: TextIO = sys.stdin,
    out: TextIO = sys.stdout,
) -> None:
    """Read lines until end of input, handling each and printing the replies."""
    sender = ConsoleSender(out, me=address)
    runtime.add_sender(sender)
    if "whatsapp" not in runtime.senders:
        runtime.add_sender(WhatsAppPreview(out))
    dispatcher = runtime.dispatcher
    role = Role(address)
    out.write(
        "lapor console. Ketik /start untuk mulai; /photo PATH, /loc LAT LON, /keluar.\n"
        "Peran / roles: /as warga, /as wa, /as verifier, /as kelurahan KODE.\n"
        "(Type /start to begin; /photo PATH, /loc LAT LON, /quit.)\n"
    )
    out.flush()
    await dispatcher.drain()
    interactive = lines.isatty()
    while True:
        if interactive:
            out.write("anda> ")
            out.flush()
        line = await asyncio.to_thread(lines.readline)
        if not line:
            break
        line = line.strip()
        if not line:
            continue
        if line.casefold() in QUIT:
            break
        if line.casefold().startswith("/as"):
            role = _switch(line, address, out) or role
            continue
        inbound = await to_inbound(
            runtime, address, name, line, role, sender.last_choices, sender.last_card
        )
        await runtime.handle(inbound)
        await dispatcher.drain()


def _switch(line: str, me: str, out: TextIO) -> Role | None:
    words = line.split()
    kind = words[1].casefold() if len(words) > 1 else ""
    if kind == "warga":
        role = Role(me)
    elif kind == "verifier":
        role = Role(CONSOLE_ADMIN, group=True)
    elif kind == "kelurahan" and len(words) > 2:
        role = Role(f"{CONSOLE_GROUP_PREFIX}{words[2]}", group=True)
    elif kind in ("wa", "whatsapp"):
        role = Role(f"+62-{me}", channel="whatsapp")
    else:
        out.write("lapor> /as warga | /as wa | /as verifier | /as kelurahan KODE\n")
        return None
    out.write(f"lapor> sekarang sebagai / now playing: {role.address}\n")
    out.flush()
    return role
