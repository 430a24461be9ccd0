"""Downloads from a platform: skipped for redeliveries, and never trusted for their size."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator
from typing import Any

import httpx

from lapor.store.chats import seen_receipt
from lapor.store.db import new_session
from lapor.store.media import MAX_BYTES, BadImage


class HostRefused(Exception):
    """A host lapor will not fetch from: it resolves nowhere (`unknown`) or into our own
    network (loopback, private, link-local: cloud metadata at 169.254.169.254)."""

    def __init__(self, unknown: bool) -> None:
        super().__init__("unknown host" if unknown else "a private or local address")
        self.unknown = unknown


async def require_public_host(url: httpx.URL) -> None:
    """Refuse a URL whose host resolves, now, anywhere but the public internet.

    Whoever names a URL for lapor to fetch (an API client's media_url, a redirect from a
    platform's media link) could otherwise make it read internal services (server-side
    request forgery). Checked at every hop, on the addresses the name resolves to now.
    """
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(url.host, port)
    except (OSError, UnicodeError):  # a host the resolver cannot even encode
        raise HostRefused(unknown=True) from None
    for info in infos:
        if not ipaddress.ip_address(info[4][0]).is_global:
            raise HostRefused(unknown=False)


async def handled_before(runtime: Any, channel: str, key: str) -> bool:
    """Whether this inbound event was handled already (its receipt is stored).

    The core drops a redelivery anyway; asking first spares its download, so replaying an
    update is no way to make us fetch the same file over and over.
    """

    def read() -> bool:
        with new_session(runtime.engine) as session:
            return seen_receipt(session, channel, key)

    return await runtime.run_db(read)


async def read_capped(
    declared: str, chunks: AsyncIterator[bytes], max_bytes: int = MAX_BYTES
) -> bytes:
    """A streamed body (`chunks`, with its Content-Length header `declared`), abandoned as
    soon as it passes `max_bytes`.

    A declared size (Content-Length, Telegram's file_size) may be missing or smaller than
    the file: only counting the bytes as they arrive keeps a large file out of memory.
    """
    if declared.isdigit() and int(declared) > max_bytes:
        raise BadImage("too_large", f"{declared} bytes")
    parts, size = [], 0
    async for chunk in chunks:
        size += len(chunk)
        if size > max_bytes:
            raise BadImage("too_large", f"over {max_bytes} bytes")
        parts.append(chunk)
    return b"".join(parts)
