"""Reading a platform's file download without trusting the size it declares."""

from __future__ import annotations

import httpx

from lapor.store.media import MAX_BYTES, BadImage


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
