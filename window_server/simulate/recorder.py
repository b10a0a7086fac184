"""The ack recorder: every emit -> ack round trip (ms) and every error code the simulator met."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from window_server.simulate.wire import AckTimeout, Link, LinkClosed


class Refused(Exception):
    """The server acknowledged with ``{"error": {code, message}}`` (or something unexpected)."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code


@dataclass
class AckRecorder:
    """Round trips of acknowledged events (ms, in arrival order) and error counts by code.

    Codes are the server's (``illegal_transition``, ``offer_expired`` …) and the simulator's own
    for what never got an answer: ``ack_timeout``, ``disconnected``, ``http_<status>``.
    """

    acks: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)

    def error(self, code: str) -> None:
        self.errors[code] += 1

    async def ask(self, link: Link, event: str, data: Any = None, limit_s: float = 10.0) -> dict[str, Any]:
        """Emit ``event``, record the round trip, return the ack's ``ok``; raise ``Refused`` otherwise."""
        try:
            rtt, reply = await link.ask(event, data, limit_s)
        except AckTimeout:
            self.error("ack_timeout")
            raise Refused("ack_timeout", f"{event}: no ack within {limit_s:g} s") from None
        except LinkClosed:
            self.error("disconnected")
            raise Refused("disconnected", f"{event}: the socket closed") from None
        self.acks.append(rtt)
        if isinstance(reply, dict) and isinstance(reply.get("ok"), dict):
            ok: dict[str, Any] = reply["ok"]
            return ok
        err = reply.get("error") if isinstance(reply, dict) else None
        code = str(err.get("code", "bad_ack")) if isinstance(err, dict) else "bad_ack"
        self.error(code)
        raise Refused(code, str(err.get("message", "")) if isinstance(err, dict) else "")


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1, nearest rank) of ``values``; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
