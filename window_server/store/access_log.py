"""The access log: every view or download of a recording, still, materials PDF or evidence package.

One entry per attempt, granted or refused: who (a username or ``booth:<id>``, ``-`` when nobody
was authenticated), their role and centre, what (``action`` and ``item``), of which session, from
where (the client address) and, for a refusal, the answer's code. It is written before anything
is served: if it cannot be written, nothing is served. Each entry goes to three streams in one
MULTI: the chain-wide one (``rw:access``, capped), the session's and the person's, so a manager
reads either view without a scan.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import Redis

from window_server.store.events import FIELD
from window_server.store.keys import key

MAX_ENTRIES = 1_000_000  # the chain-wide stream, approximately (XADD MAXLEN ~)
MAX_READ = 10_000
ACTIONS = ("recording", "recording_list", "still", "pdf", "evidence", "signature", "signature_list")


@dataclass(frozen=True)
class Access:
    """One attempt to see something of a session."""

    who: str
    role: str
    centre: str
    action: str
    sid: str
    item: str
    addr: str
    allowed: bool
    code: str = ""

    def fields(self, at_ms: int) -> dict[str, Any]:
        return {"at": at_ms, "who": self.who, "role": self.role, "centre": self.centre, "action": self.action,
                "sid": self.sid, "item": self.item, "addr": self.addr, "allowed": self.allowed, "code": self.code}


class AccessLog:
    """Write and read the access log."""

    def __init__(self, redis: Redis, clock: Callable[[], float]) -> None:
        self.redis = redis
        self.clock = clock

    async def record(self, access: Access) -> None:
        entry: dict[Any, Any] = {FIELD: json.dumps(access.fields(int(self.clock() * 1000)), ensure_ascii=False)}
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(key("access"), entry, maxlen=MAX_ENTRIES, approximate=True)
            pipe.xadd(key("session_access", sid=access.sid), entry)
            pipe.xadd(key("user_access", who=access.who), entry, maxlen=MAX_READ, approximate=True)
            await pipe.execute()

    async def by_session(self, sid: str, limit: int = MAX_READ) -> list[dict[str, Any]]:
        return await self._read(key("session_access", sid=sid), limit)

    async def by_person(self, who: str, limit: int = MAX_READ) -> list[dict[str, Any]]:
        return await self._read(key("user_access", who=who), limit)

    async def _read(self, stream: str, limit: int) -> list[dict[str, Any]]:
        """Newest first."""
        reply = cast(list[tuple[str, dict[str, str]]], await self.redis.xrevrange(stream, count=min(limit, MAX_READ)))
        return [json.loads(fields[FIELD]) for _, fields in reply if FIELD in fields]
