"""Serve an ASGI app on 127.0.0.1 in a background thread: the base of our platform fakes."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

import uvicorn


class _PromptServer(uvicorn.Server):
    """uvicorn that stops as soon as it is told to.

    uvicorn looks at `should_exit` every 0.1 s and then gives open connections a fixed 0.1 s
    to notice the shutdown: 0.2 s for every server a test starts and stops (each Open311
    test starts one). Here `stop()` wakes the loop, and connections are watched every few
    milliseconds until they finish, within the same grace period.
    """

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.wake = asyncio.Event()

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), 0.1)

    async def shutdown(self, sockets: list[Any] | None = None) -> None:
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        deadline = time.monotonic() + self.config.timeout_graceful_shutdown
        state = self.server_state
        while (state.connections or state.tasks) and not self.force_exit:
            if time.monotonic() > deadline:
                for task in state.tasks:
                    task.cancel(msg="Task cancelled, timeout graceful shutdown exceeded")
                break
            await asyncio.sleep(0.002)
        for server in self.servers:
            await server.wait_closed()
        if not self.force_exit:
            await self.lifespan.shutdown()


class LoopbackServer:
    """uvicorn on a free loopback port, in its own thread and event loop."""

    def __init__(self, app: Any, name: str) -> None:
        self.app = app
        self.name = name
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: _PromptServer | None = None
        self._port: int | None = None
        self._error: BaseException | None = None

    def start(self, on_loop: Callable[[asyncio.AbstractEventLoop], None] | None = None) -> None:
        """Start serving; `on_loop` runs first inside the server's event loop."""
        if self._thread is not None:
            raise RuntimeError(f"{self.name} already started")
        # Let uvicorn bind port 0 itself: a socket handed over with ``sockets=[...]`` must be
        # created with proto=IPPROTO_TCP or asyncio skips TCP_NODELAY on accepted connections
        # and every response waits ~40 ms for a delayed ACK.
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=0,
            log_level="warning",
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        self._server = server = _PromptServer(config)
        self._error = None

        async def serve() -> None:
            self.loop = asyncio.get_running_loop()
            if on_loop is not None:
                on_loop(self.loop)
            await server.serve()

        def run() -> None:
            try:
                asyncio.run(serve())
            except BaseException as exc:  # surfaced by start()
                self._error = exc

        self._thread = threading.Thread(target=run, name=self.name, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} failed to start: {self._error!r}")
            time.sleep(0.005)
        self._port = server.servers[0].sockets[0].getsockname()[1]
        self._thread.name = f"{self.name}:{self._port}"

    def call_soon(self, callback: Callable[[], None]) -> None:
        """Run `callback` in the server's loop (e.g. to wake long polls before stopping)."""
        if self.loop is not None and not self.loop.is_closed():
            with contextlib.suppress(RuntimeError):  # loop closed meanwhile
                self.loop.call_soon_threadsafe(callback)

    def stop(self) -> None:
        thread, server = self._thread, self._server
        if thread is None or server is None:
            return
        server.should_exit = True
        self.call_soon(server.wake.set)
        thread.join(timeout=10)
        if thread.is_alive():  # pragma: no cover - should not happen
            server.force_exit = True
            thread.join(timeout=5)
        self._thread = self._server = self.loop = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError(f"{self.name} not started")
        return self._port
