"""The console channel: the same conversation in a terminal, with no token and no network.

Type text; `/photo PATH [caption]` sends an image; `/loc LAT LON` shares a location;
answer choices by their number; `/keluar` (or `/quit`, Ctrl-D) leaves.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path
from typing import TextIO

from lapor.bot.runtime import Runtime
from lapor.handlers.types import GeoPoint, Inbound, Outbound
from lapor.store.media import BadImage

CHANNEL = "console"
QUIT = frozenset({"/keluar", "/quit", "/exit"})


class ConsoleSender:
    """Renders an outbound message as text: choices numbered, a hint for locations."""

    channel = CHANNEL

    def __init__(self, out: TextIO) -> None:
        self.out = out

    async def send(self, message: Outbound) -> str | None:
        self.out.write(render(message) + "\n")
        self.out.flush()
        return None


def render(message: Outbound) -> str:
    lines = [
        f"lapor> {line}" if i == 0 else f"       {line}"
        for i, line in enumerate(message.text.splitlines() or [""])
    ]
    for number, choice in enumerate(message.choices, start=1):
        lines.append(f"       {number:>2}. {choice.label}")
    if message.ask_location:
        lines.append("       (bagikan lokasi / share a location: /loc LAT LON)")
    if message.photo:
        lines.append(f"       [foto / photo: {message.photo}]")
    if message.location:
        lines.append(
            f"       [lokasi / location: {message.location.latitude:.5f}, "
            f"{message.location.longitude:.5f}]"
        )
    return "\n".join(lines)


async def to_inbound(runtime: Runtime, address: str, name: str | None, line: str) -> Inbound:
    """Turn one typed line into an event for the core."""
    event = {"channel": CHANNEL, "address": address, "message_id": uuid.uuid4().hex, "name": name}
    words = line.strip().split(maxsplit=1)
    head = words[0].casefold() if words else ""
    rest = words[1] if len(words) > 1 else ""
    if head == "/photo":
        path_text, _, caption = rest.partition(" ")
        path = Path(path_text).expanduser()
        try:
            raw = path.read_bytes()
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
    runtime.add_sender(ConsoleSender(out))
    dispatcher = runtime.dispatcher
    out.write(
        "lapor console. Ketik /start untuk mulai; /photo PATH, /loc LAT LON, /keluar.\n"
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
        await runtime.handle(await to_inbound(runtime, address, name, line))
        await dispatcher.drain()
