"""The inbound budget of one engine.io connection: frames and bytes per second, strikes, then closed.

Every frame a client sends is charged here before engine.io or socket.io decode it, whatever it
is (an event, a ping, garbage), so nothing a client sends escapes the budget. No protocol event
takes binary attachments, so a binary frame or a packet that announces attachments closes the
connection at once: socket.io never starts assembling one. Frames over the budget and garbage
are dropped and count as strikes; at ``max_strikes`` the connection is closed.

``LogThrottle`` keeps what one client can make us log small: a few lines per minute, then a count.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from window_server.domain.ratelimit import TokenBucket

log = logging.getLogger(__name__)

#: engine.io packet types a client may send (open, close, ping, pong, message, upgrade, noop)
_EIO_TYPES = frozenset("0123456")
#: socket.io packet types that announce binary attachments (BINARY_EVENT, BINARY_ACK)
_BINARY_TYPES = frozenset("56")


class Verdict(StrEnum):
    ADMIT = "admit"  # pass the frame on
    DROP = "drop"  # ignore it (a strike was counted)
    CLOSE = "close"  # close the connection


@dataclass(frozen=True)
class Limits:
    frames_per_second: float
    frame_burst: int
    bytes_per_second: float
    byte_burst: int
    max_strikes: int


class Budget:
    """Two token buckets (frames, bytes) and a strike count; ``now`` is injected (seconds)."""

    def __init__(self, limits: Limits, now: float) -> None:
        self.limits = limits
        self.frames = TokenBucket(limits.frames_per_second, limits.frame_burst, now)
        self.bytes = TokenBucket(limits.bytes_per_second, limits.byte_burst, now)
        self.strikes = 0
        self.closed_for: str | None = None

    def charge(self, nbytes: int, now: float) -> Verdict:
        """Charge one inbound frame of ``nbytes``."""
        if self.closed_for is not None:
            return Verdict.CLOSE
        if nbytes > self.limits.byte_burst:
            return self.refuse(f"a frame of {nbytes} bytes, more than the byte burst")
        if self.frames.level(now) >= 1 and self.bytes.level(now) >= nbytes:  # both, or neither
            self.frames.spend(1)
            self.bytes.spend(nbytes)
            return Verdict.ADMIT
        return self.strike("over the frame or byte budget")

    def strike(self, why: str) -> Verdict:
        """Count one misdeed; the last one allowed closes the connection."""
        if self.closed_for is not None:
            return Verdict.CLOSE
        self.strikes += 1
        if self.strikes >= self.limits.max_strikes:
            return self.refuse(f"{why} ({self.strikes} strikes)")
        return Verdict.DROP

    def refuse(self, why: str) -> Verdict:
        """Close the connection for ``why``; everything after is refused too."""
        if self.closed_for is None:
            self.closed_for = why
        return Verdict.CLOSE


class LogThrottle:
    """Log lines caused by one client's input: the first ``limit`` per ``window`` seconds, then a count."""

    def __init__(self, logger: logging.Logger, context: str, limit: int = 5, window: float = 60.0) -> None:
        self.logger, self.context, self.limit, self.window = logger, context, limit, window
        self.start: float | None = None
        self.lines = self.held = 0
        self.held_level = logging.DEBUG

    def log(self, level: int, msg: str, *args: Any, now: float | None = None, exc_info: bool = False) -> None:
        now = time.monotonic() if now is None else now
        if self.start is None or now - self.start >= self.window:
            self.flush(now)
            self.start, self.lines = now, 0
        if self.lines < self.limit:
            self.lines += 1
            self.logger.log(level, msg, *args, exc_info=exc_info)
        else:
            self.held += 1
            self.held_level = max(self.held_level, level)

    def flush(self, now: float | None = None) -> None:
        """Log how many lines were held back, if any (at a window's end, or when the connection ends)."""
        if self.held:
            self.logger.log(self.held_level, "%s: %d more such lines held back", self.context, self.held)
        self.held, self.held_level = 0, logging.DEBUG


def _size(data: str | bytes) -> int:
    return len(data) if isinstance(data, bytes | bytearray) else len(data.encode("utf-8", "surrogatepass"))


class Door:
    """The inbound side of one engine.io connection: its budget, the frame checks, a throttled log."""

    def __init__(self, eio_sid: str, limits: Limits, now: float) -> None:
        self.eio_sid = eio_sid
        self.budget = Budget(limits, now)
        self.log = LogThrottle(log, f"conn={eio_sid}")
        self.websocket = False  # frames are charged in the websocket reader; polling messages here
        self.transport: Any = None  # the websocket, once there is one
        self.warned = False
        self.shut = False  # the close has been started

    def frame(self, data: str | bytes, now: float) -> Verdict:
        """A websocket frame, before engine.io decodes it: charge it, refuse binary and undecodable ones."""
        self.websocket = True
        verdict = self.budget.charge(_size(data), now)
        if verdict is Verdict.ADMIT:
            if not isinstance(data, str) or data[:1] == "b":  # "b": a base64 binary message
                verdict = self.budget.refuse("a binary frame (no event takes attachments)")
            elif data[:1] not in _EIO_TYPES:  # also the empty frame
                verdict = self.garbage("an undecodable engine.io frame")
        return self._closing(verdict)

    def message(self, data: str | bytes, now: float) -> Verdict:
        """An engine.io message, before socket.io decodes it: refuse attachments (charge it if polling)."""
        verdict = Verdict.ADMIT if self.websocket else self.budget.charge(_size(data), now)
        if verdict is Verdict.ADMIT and (not isinstance(data, str) or data[:1] in _BINARY_TYPES):
            verdict = self.budget.refuse("a binary attachment (no event takes attachments)")
        return self._closing(verdict)

    def garbage(self, what: str) -> Verdict:
        """Something undecodable: one throttled line (never the content, it may hold a token), a strike."""
        self.log.log(logging.INFO, "garbage from conn=%s: %s", self.eio_sid, what)
        return self._closing(self.budget.strike("garbage"))

    def _closing(self, verdict: Verdict) -> Verdict:
        if verdict is Verdict.CLOSE and not self.warned:  # one warning per closed connection
            self.warned = True
            self.log.flush()
            log.warning("closing connection %s: %s", self.eio_sid, self.budget.closed_for)
        return verdict
