"""`lapor web --workers N`: one listening socket, N worker processes, restarted if they die.

The pre-fork shape of gunicorn and uvicorn's supervisor: the parent binds the port once
and hands the socket to each worker (`--fd`), so the kernel spreads connections over them
and a worker that dies (a crash, the OOM killer, SIGKILL) takes only its own requests with
it; Telegram and Twilio redeliver those. Each worker is a whole `lapor web` (webhooks, the
dashboard, a dispatcher), so nothing is shared but the database.
"""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

log = logging.getLogger(__name__)

# A worker that dies this soon after starting is failing to start, not crashing: wait
# before the next try instead of spinning.
QUICK_DEATH_S = 5.0
RESTART_PAUSE_S = 2.0
STOP_GRACE_S = 20.0


def listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only when
    # the listening socket says it is TCP, else every response waits on a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def worker_command(sock: socket.socket, extra: Sequence[str] = ()) -> list[str]:
    return [sys.executable, "-m", "lapor.bot.cli", "web", "--fd", str(sock.fileno()), *extra]


class Supervisor:
    """Keeps `count` workers alive until SIGTERM or SIGINT, then stops them gracefully."""

    def __init__(self, sock: socket.socket, count: int, command: list[str]) -> None:
        self.sock = sock
        self.count = count
        self.command = command
        self.workers: dict[int, subprocess.Popen[bytes]] = {}
        self.started_at: dict[int, float] = {}
        self.stopping = False

    def _start(self, slot: int) -> None:
        process = subprocess.Popen(self.command, pass_fds=[self.sock.fileno()])
        self.workers[slot] = process
        self.started_at[slot] = time.monotonic()
        log.info("web worker %s started (pid %s)", slot, process.pid)

    def _stop(self, *_: object) -> None:
        self.stopping = True

    def run(self, sleep: Callable[[float], None] = time.sleep) -> int:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        for slot in range(self.count):
            self._start(slot)
        while not self.stopping:
            for slot, process in list(self.workers.items()):
                code = process.poll()
                if code is None:
                    continue
                lived = time.monotonic() - self.started_at[slot]
                log.warning(
                    "web worker %s (pid %s) exited with %s after %.1f s; starting another",
                    slot,
                    process.pid,
                    code,
                    lived,
                )
                if lived < QUICK_DEATH_S:
                    sleep(RESTART_PAUSE_S)
                if not self.stopping:
                    self._start(slot)
            sleep(0.2)
        return self._shutdown()

    def _shutdown(self) -> int:
        for process in self.workers.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        failed = 0
        for process in self.workers.values():
            try:
                code = process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                process.kill()
                code = process.wait()
            failed += code != 0
        self.sock.close()
        return 1 if failed else 0
