"""The security trail: every refused HTTP request (401, 403) as an entry of ``rw:security``.

Who asked (a username, ``booth:<id>`` or ``-`` when nobody was authenticated), what (method and
path, never the query string or a body), when, from where (the client address) and the answer's
code. The stream is capped (``XADD MAXLEN ~``) so a flood of refusals cannot fill Redis; the
WARNING line that goes with each refusal is rate limited per client address, so it cannot fill
the log either. Nothing secret is written: no token, cookie, password or ID number.
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from window_server.domain.ratelimit import TokenBucket
from window_server.store.events import FIELD
from window_server.store.keys import key

log = logging.getLogger(__name__)

MAX_PATH = 200
ANONYMOUS = "-"


@dataclass(frozen=True)
class Refusal:
    """One refused request, as recorded."""

    who: str
    method: str
    path: str
    status: int
    code: str
    addr: str

    def fields(self, at_ms: int) -> dict[str, Any]:
        return {"at": at_ms, "who": self.who, "method": self.method, "path": self.path[:MAX_PATH],
                "status": self.status, "code": self.code, "addr": self.addr}


class LogBudget:
    """Per-client token buckets for log lines: ``burst`` at once, then ``per_minute``.

    Bounded: at most ``max_clients`` addresses are remembered, the least recently seen forgotten.
    """

    def __init__(self, *, burst: int = 5, per_minute: float = 10.0, max_clients: int = 4096,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.burst = burst
        self.rate = per_minute / 60.0
        self.max_clients = max_clients
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[TokenBucket, int]] = OrderedDict()  # bucket, suppressed

    def take(self, client: str) -> tuple[bool, int]:
        """(may log now, lines suppressed for this client since its last logged one)."""
        now = self.clock()
        known = self._buckets.pop(client, None)
        bucket, suppressed = known if known is not None else (TokenBucket(self.rate, self.burst, now), 0)
        if bucket.take(now):
            self._buckets[client] = (bucket, 0)
            allowed, count = True, suppressed
        else:
            self._buckets[client] = (bucket, suppressed + 1)
            allowed, count = False, suppressed + 1
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return allowed, count


class SecurityLog:
    """Writes refusals to ``rw:security`` and a rate-limited WARNING line."""

    def __init__(self, *, max_entries: int = 100_000, budget: LogBudget | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.max_entries = max_entries
        self.budget = budget or LogBudget()
        self.clock = clock

    async def refused(self, redis: Redis, refusal: Refusal) -> None:
        """Record one refusal; a Redis failure is logged, never raised (the answer goes out anyway)."""
        allowed, suppressed = self.budget.take(refusal.addr)
        if allowed:
            more = f" ({suppressed} more from this address not logged)" if suppressed else ""
            log.warning("refused %s %s %s %s who=%s from %s%s", refusal.status, refusal.code, refusal.method,
                        refusal.path[:MAX_PATH], refusal.who, refusal.addr, more)
        entry = json.dumps(refusal.fields(int(self.clock() * 1000)), ensure_ascii=False)
        try:
            await redis.xadd(key("security"), {FIELD: entry}, maxlen=self.max_entries, approximate=True)
        except (RedisError, OSError) as exc:
            log.warning("could not write the security trail: %s", exc)
