"""Where the shared chats are: the verifiers' admin chat and the kelurahan groups."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rooms:
    """`admin` is (channel, address) of the verifiers' chat, when there is one."""

    admin: tuple[str, str] | None = None
    # The offline console plays every role: kelurahan without a Telegram group get a
    # console room "#kel-<code>", and the console's verifier needs no registration.
    console: bool = False
