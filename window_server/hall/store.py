"""The hall's Redis side: its changes are the queue library's functions (``queue/lua/hall.lua``),
its reads the hall's own keys (seated and called tickets, help calls) and the booths' sessions."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import Redis

from window_server.queue.store import QueueStore, Result
from window_server.store.keys import key


@dataclass(frozen=True)
class Call:
    """A ticket the hall is calling back."""

    sid: str
    ticket: str
    deadline: int
    called: int


@dataclass(frozen=True)
class HelpCall:
    """A booth calling the hall's staff."""

    booth: str
    since: int
    reason: str
    sid: str


class HallStore:
    """Seated tickets, call-backs and help calls of the halls, in Redis."""

    def __init__(self, redis: Redis, queue: QueueStore) -> None:
        self.redis = redis
        self.queue = queue  # its call(): the hall's changes are functions of the queue library

    def now_ms(self) -> int:
        return self.queue.now_ms()

    # --- changes (one atomic function each) ---------------------------------------------------

    async def sit_down(self, sid: str, booth: str) -> Result:
        return await self.queue.call("rw_sit_down", sid=sid, booth=booth)

    async def claim(self, sid: str, booth: str, centre: str) -> Result:
        return await self.queue.call("rw_claim_ticket", sid=sid, booth=booth, centre=centre)

    async def call_staff(self, centre: str, booth: str, reason: str, on: bool) -> Result:
        return await self.queue.call("rw_call_staff", centre=centre, booth=booth, reason=reason, on=on)

    async def staff_ack(self, centre: str, booth: str, by: str) -> Result:
        return await self.queue.call("rw_staff_ack", centre=centre, booth=booth, by=by)

    # --- reads ----------------------------------------------------------------------------------

    async def calls(self, centre: str) -> list[Call]:
        """The tickets the hall is calling now, the earliest called first."""
        pairs = cast(list[tuple[str, float]],
                     await self.redis.zrange(key("hall_called", centre=centre), 0, -1, withscores=True))
        if not pairs:
            return []
        async with self.redis.pipeline(transaction=False) as p:
            for sid, _deadline in pairs:
                p.hmget(key("session", sid=sid), ["ticket", "called"])
            rows = cast(list[list[str | None]], await p.execute())
        out = [Call(sid, row[0] or "", int(deadline), int(row[1] or 0))
               for (sid, deadline), row in zip(pairs, rows, strict=True) if row[0]]
        return sorted(out, key=lambda c: (c.called, c.ticket))

    async def seated_count(self, centre: str) -> int:
        """Seated tickets of the hall, called or not."""
        return int(await self.redis.zcard(key("hall_seated", centre=centre)))

    async def booth_states(self, booths: list[str]) -> dict[str, tuple[str, str]]:
        """Each booth's open session's (state, ticket); ('', '') for a booth without one."""
        async with self.redis.pipeline(transaction=False) as p:
            for b in booths:
                p.get(key("booth_session", booth=b))
            sids = cast(list[str | None], await p.execute())
        async with self.redis.pipeline(transaction=False) as p:
            for sid in sids:
                p.hmget(key("session", sid=sid or "-"), ["state", "ticket"])
            rows = cast(list[list[str | None]], await p.execute())
        return {b: ((row[0] or "") if sid else "", (row[1] or "") if sid else "")
                for b, sid, row in zip(booths, sids, rows, strict=True)}

    async def help_calls(self, centre: str) -> list[HelpCall]:
        """The hall's booths calling its staff, the longest waiting first."""
        raw = cast(dict[str, str], await self.redis.hgetall(key("hall_help", centre=centre)))
        out = []
        for booth, text in raw.items():
            d: dict[str, Any] = json.loads(text)
            out.append(HelpCall(booth, int(d.get("since") or 0), str(d.get("reason") or ""), str(d.get("sid") or "")))
        return sorted(out, key=lambda h: (h.since, h.booth))

    async def help_call(self, centre: str, booth: str) -> HelpCall | None:
        """One booth's help call, if it has one."""
        text = cast(str | None, await self.redis.hget(key("hall_help", centre=centre), booth))
        if not text:
            return None
        d: dict[str, Any] = json.loads(text)
        return HelpCall(booth, int(d.get("since") or 0), str(d.get("reason") or ""), str(d.get("sid") or ""))
