"""Downloads from a platform: skipped for redeliveries, and never trusted for their size."""

from __future__ import annotations

from typing import Any

import httpx

from lapor.store.chats import seen_receipt
from lapor.store.db import new_session
from lapor.store.media import MAX_BYTES, BadImage


async def handled_before(runtime: Any, channel: str, key: str) -> bool:
    """Whether this inbound event was handled already (its receipt is stored).

    The core drops a redelivery anyway; asking first spares its download, so replaying an
    update is no way to make us fetch the same file over and over.
    """

    def read() -> bool:
        with new_session(runtime.engine) as session:
            return seen_receipt(session, channel, key)

    return await runtime.run_db(read)


async def read_capped(response: httpx.Response, max_bytes: int = MAX_BYTES) -> bytes:
    """The body of a streamed response, abandoned as soon as it passes `max_bytes`.

    A declared size (Content-Length, Telegram's file_size) may be missing or smaller than
    the file: only counting the bytes as they arrive keeps a large file out of memory.
    """
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise BadImage("too_large", f"{declared} bytes")
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise BadImage("too_large", f"over {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
