"""Sending pace per platform, so the platform never has to say 429.

Telegram's documented limits: about 30 messages a second overall, one a second to one
chat, 20 a minute to one group. Twilio: a configured number per second per sender (80 by
default; the sandbox allows one every 3 s). A sliding window per scope, measured on the
dispatcher's clock so tests move time instead of sleeping. The limits hold per process; with
several dispatchers give each a share (the settings are per process).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Rate:
    """At most `count` messages in any `seconds` long window."""

    count: int
    seconds: float


@dataclass(frozen=True)
class ChannelLimits:
    overall: Rate | None = None
    private_chat: Rate | None = None
    group_chat: Rate | None = None


def telegram_limits(
    overall: float = 30, per_chat: float = 1, group_per_minute: float = 20
) -> ChannelLimits:
    # A short burst to one chat (a reply and a notification) is fine; a stream is not:
    # three in three seconds keeps the average at one a second.
    return ChannelLimits(
        overall=Rate(max(int(overall), 1), 1.0),
        private_chat=Rate(3, 3.0 / per_chat),
        group_chat=Rate(max(int(group_per_minute), 1), 60.0),
    )


def twilio_limits(per_second: float = 80) -> ChannelLimits:
    if per_second >= 1:
        return ChannelLimits(overall=Rate(int(per_second), 1.0))
    return ChannelLimits(overall=Rate(1, 1.0 / per_second))  # the sandbox: one per 3 s


class _Window:
    """The send times of the current window: a sliding log, exact at any instant."""

    __slots__ = ("rate", "times")

    def __init__(self, rate: Rate) -> None:
        self.rate = rate
        self.times: deque[float] = deque()

    def wait(self, now: float, sends: int = 1) -> float:
        """Seconds until `sends` more sends fit in the window (0: now)."""
        while self.times and self.times[0] <= now - self.rate.seconds:
            self.times.popleft()
        sends = min(sends, self.rate.count)
        excess = len(self.times) + sends - self.rate.count
        if excess <= 0:
            return 0.0
        return self.times[excess - 1] + self.rate.seconds - now

    def take(self, now: float, sends: int = 1) -> None:
        self.times.extend([now] * sends)


class Pacer:
    def __init__(self, limits: dict[str, ChannelLimits], seconds: Callable[[], float]) -> None:
        self.limits = limits
        self.seconds = seconds
        self._windows: dict[tuple[str, str], _Window] = {}

    def _window(self, key: tuple[str, str], rate: Rate) -> _Window:
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = _Window(rate)
        return window

    def overall_wait(self, channel: str) -> float:
        """Seconds until the channel's overall window has room (0: it has now)."""
        limits = self.limits.get(channel)
        if limits is None or limits.overall is None:
            return 0.0
        return self._window((channel, ""), limits.overall).wait(self.seconds())

    def reserve(self, channel: str, address: str, sends: int = 1) -> float:
        """Take `sends` slots for (channel, address), or say how many seconds to wait.

        A message may be more than one platform call (a Telegram card with its pin is a
        location and then the card): each call counts against the platform's limits.
        """
        limits = self.limits.get(channel)
        if limits is None:
            return 0.0
        now = self.seconds()
        windows = []
        if limits.overall is not None:
            windows.append(self._window((channel, ""), limits.overall))
        # Telegram group and supergroup ids are negative; private chats positive.
        chat_rate = limits.group_chat if address.startswith("-") else limits.private_chat
        if chat_rate is not None:
            windows.append(self._window((channel, address), chat_rate))
        wait = max((w.wait(now, sends) for w in windows), default=0.0)
        if wait <= 0:
            for window in windows:
                window.take(now, sends)
            return 0.0
        return wait
