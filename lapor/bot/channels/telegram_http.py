"""python-telegram-bot's requests over aiohttp: what every reply to Telegram goes through.

PTB's default transport (httpx over httpcore and anyio) spent about 2.5 ms of CPU on one
`sendMessage` to a loopback Bot API with 16 sends in flight, aiohttp 0.4 ms: its connection
pool hands out a kept-alive connection without probing every idle one (httpcore asks each
socket whether it is readable, through anyio's attribute lookups, on every request), and
its HTTP parser is compiled. Each conversation step sends at least one message, so this was
the largest single cost of a step (bench/webhook.py).

PTB keeps everything that concerns the Bot API itself (encoding parameters, reading the
answer, turning errors into `RetryAfter`, `Forbidden`, `BadRequest` ...); a request class
only moves bytes, so this one is small. Timeouts follow PTB's meaning: per call, or the
defaults given here; `connect` includes the wait for a free connection (aiohttp has no
separate pool timeout).
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData


class AiohttpRequest(BaseRequest):
    """A `BaseRequest` for `ApplicationBuilder().request(...)` on one aiohttp session."""

    __slots__ = ("_connections", "_defaults", "_session")

    def __init__(
        self,
        connections: int = 256,
        *,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        self._connections = connections
        self._defaults = {
            "read": read_timeout,
            "write": write_timeout,
            "connect": connect_timeout,
            "pool": pool_timeout,
            "media_write": media_write_timeout,
        }
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._defaults["read"]

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections),
                headers={"User-Agent": self.USER_AGENT},
                # Bot API URLs carry the token: never in a redirect's log or error message.
                raise_for_status=False,
            )

    async def shutdown(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data is not None and request_data.contains_files
        read = self._given(read_timeout, "read")
        write = self._given(write_timeout, "media_write" if files else "write")
        connect = self._given(connect_timeout, "connect")
        pool = self._given(pool_timeout, "pool")
        # aiohttp times reading per socket read and connecting including the pool wait;
        # a write has no clock of its own, so the whole call is bounded by all four.
        parts = [t for t in (read, write, connect, pool) if t is not None]
        timeout = aiohttp.ClientTimeout(
            total=sum(parts) if len(parts) == 4 else None,
            sock_connect=connect,
            connect=None if connect is None or pool is None else connect + pool,
            sock_read=read,
        )
        try:
            async with self._session.request(
                method, url, data=_body(request_data), timeout=timeout, allow_redirects=False
            ) as response:
                return response.status, await response.read()
        except TimeoutError as exc:
            raise TimedOut from exc
        except asyncio.CancelledError:
            raise
        except aiohttp.ClientError as exc:
            # The class name only: aiohttp's messages may quote the URL, and with it the token.
            raise NetworkError(f"aiohttp.{type(exc).__name__}") from exc

    def _given(self, value: ODVInput[float], name: str) -> float | None:
        return self._defaults[name] if isinstance(value, DefaultValue) else value


def _body(request_data: RequestData | None) -> Any:
    """Parameters as a form (as PTB's own transport sends them), files as multipart."""
    if request_data is None:
        return None
    if not request_data.contains_files:
        return request_data.json_parameters
    form = aiohttp.FormData()
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, part in request_data.multipart_data.items():
        filename, content, *rest = part
        kind = rest[0] if rest else "application/octet-stream"
        form.add_field(name, content, filename=filename, content_type=kind)
    return form
