"""Test helpers that drive the conversation core the way a channel does."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from lapor.handlers.core import Core
from lapor.handlers.types import GeoPoint, Inbound, Outbound, PhotoIn
from lapor.store.db import new_session, transaction
from lapor.store.models import Conversation

_ids = itertools.count(1)


def fake_photo(n: int = 1, gps: tuple[float, float] | None = None) -> PhotoIn:
    """A photo as a channel hands it over (already cleaned and stored)."""
    digest = f"{n:064x}"
    # Different pictures have unrelated perceptual hashes (about 32 bits apart).
    perceptual = hashlib.sha256(f"picture {n}".encode()).hexdigest()[:16]
    return PhotoIn(
        sha256=digest,
        dhash=perceptual,
        width=1200,
        height=900,
        size=120_000,
        path=f"{digest[:2]}/{digest[2:4]}/{digest}.jpg",
        source_format="JPEG",
        gps=gps,
    )


class Chat:
    """One user talking to the core; every call is one committed transaction."""

    def __init__(
        self, engine: Engine, core: Core, address: str = "6281234567890", channel: str = "console"
    ) -> None:
        self.engine = engine
        self.core = core
        self.address = address
        self.channel = channel
        self.last: list[Outbound] = []

    def send(self, message_id: str | None = None, **fields: Any) -> list[Outbound]:
        inbound = Inbound(
            channel=self.channel,
            address=self.address,
            message_id=message_id or f"m{next(_ids)}",
            **fields,
        )
        with transaction(self.engine) as session:
            self.last = self.core.process(session, inbound)
        return self.last

    def text(self, text: str) -> list[Outbound]:
        return self.send(text=text)

    def choose(self, payload: str) -> list[Outbound]:
        return self.send(choice=payload)

    def photo(self, *photos: PhotoIn, caption: str | None = None, group: str | None = None):  # type: ignore[no-untyped-def]
        return self.send(photos=photos, text=caption, media_group=group)

    def location(self, lat: float = -6.1754, lon: float = 106.8272) -> list[Outbound]:
        return self.send(location=GeoPoint(latitude=lat, longitude=lon))

    @property
    def said(self) -> str:
        return "\n".join(o.text for o in self.last)

    @property
    def payloads(self) -> list[str]:
        return [c.payload for o in self.last for c in o.choices]

    @property
    def state(self) -> str:
        with new_session(self.engine) as session:
            conversation = session.scalars(
                select(Conversation).where(
                    Conversation.channel == self.channel, Conversation.address == self.address
                )
            ).first()
            return conversation.state if conversation else "idle"

    def file_report(self, category: str = "cat:sampah", note: str | None = "Dekat halte") -> str:
        """Walk the whole report flow; returns the ticket from the final reply."""
        self.text("/lapor")
        self.choose(category)
        self.photo(fake_photo(next(_ids)))
        self.location()
        if note:
            self.text(note)
        else:
            self.choose("note:skip")
        if self.state == "report.similar":
            self.choose("dup:new")
        self.choose("confirm:yes")
        return self.said.split("tiket ")[1].split(".")[0] if "tiket " in self.said else ""


def stop_process(process: subprocess.Popen[str], timeout: float = 20) -> str:
    """Stop a `lapor` command the way an operator does (SIGTERM); its output.

    Killed only if it does not stop in time, so a test sees both its exit code and its logs.
    """
    process.send_signal(signal.SIGTERM)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return output


@contextlib.contextmanager
def serving_in_thread(app: Any) -> Iterator[str]:
    """`app` served by uvicorn on 127.0.0.1 (a free port) in a background thread, for a
    browser to visit; yields its base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def artifacts_folder(tmp_path: Path, name: str) -> Path:
    """Where a browser test leaves its screenshots: LAPOR_TEST_ARTIFACTS, else tmp_path."""
    folder = Path(os.environ.get("LAPOR_TEST_ARTIFACTS") or tmp_path) / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder
