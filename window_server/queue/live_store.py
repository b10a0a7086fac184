"""The Redis reads and writes of the queue's live handlers (booth, agent, device namespaces).

Nothing here changes queue state (that is ``QueueService`` and its Lua): these are the read
models the handlers push (positions, the queue view, session membership) and the node's own
records beside the queue (booth heartbeats, the device agent's capabilities). Each read model
is one round trip, or two when the second depends on the first.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, cast

from redis.asyncio import Redis

from window_server.domain import errors
from window_server.domain.routing import estimate_wait_s
from window_server.store.keys import key

_MEMBERS = ("state", "agent", "booth", "offer_agent", "guests")  # guests: issue 19 (guests/store.py, "gid=user,…")


class LiveStore:
    """Read models and the node's side records for the live handlers."""

    def __init__(self, redis: Redis, default_aht_s: float) -> None:
        self.redis = redis
        self.default_aht_s = default_aht_s

    # --- membership --------------------------------------------------------------------------

    async def members(self, sid: str) -> dict[str, str]:
        """Who belongs to a session: state, agent, booth, offer_agent, guests ('' when none)."""
        values = cast(list[str | None], await self.redis.hmget(key("session", sid=sid), list(_MEMBERS)))
        if values[0] is None:
            raise errors.NotFound(f"no session {sid}", code="unknown_session", field="sid")
        return dict(zip(_MEMBERS, (v or "" for v in values), strict=True))

    async def agent_centre(self, aid: str) -> str:
        return cast(str | None, await self.redis.hget(key("agent", aid=aid), "centre")) or ""

    async def agent_no(self, aid: str) -> str:
        """The specialist's service number (工号) from their account ('' if none): what a booth is
        shown of who serves it, never the name or username (accounts/store.py writes it)."""
        return cast(str | None, await self.redis.hget(key("user", username=aid), "staff_no")) or ""

    # --- positions ---------------------------------------------------------------------------

    def _aht(self, recent: list[str]) -> float:
        return (sum(int(x) for x in recent) / len(recent) / 1000) if recent else self.default_aht_s

    async def position(self, sid: str) -> dict[str, Any]:
        """The booth's live place in the queue, as pushed in queue_position (two round trips)."""
        fields = cast(list[str | None], await self.redis.hmget(
            key("session", sid=sid), ["state", "qkey", "region", "lang", "wide"]))
        state, qkey, region, lang, wide = fields
        if state != "waiting" or not qkey:
            return {"sid": sid, "position": None, "ahead": None, "eta_s": None, "wide": wide == "1"}
        async with self.redis.pipeline(transaction=False) as p:
            p.zrank(qkey, sid)
            # a waiting session was created with its region and language (sessions.lua)
            p.scard(key("staff", region=cast(str, region), lang=cast(str, lang)))
            p.lrange(key("recent_handling"), 0, 19)
            rank, staff, recent = await p.execute()
        ahead = int(rank or 0)
        return {"sid": sid, "position": ahead + 1, "ahead": ahead,
                "eta_s": estimate_wait_s(self._aht(recent), ahead, int(staff)), "wide": wide == "1"}

    async def queue_positions(self, region: str, lang: str) -> list[tuple[str, dict[str, Any]]]:
        """(booth, queue_position payload) of every waiting session of one queue (two round trips)."""
        sids = cast(list[str], await self.redis.zrange(key("queue", region=region, lang=lang), 0, -1))
        if not sids:
            return []
        async with self.redis.pipeline(transaction=False) as p:
            for sid in sids:
                p.hmget(key("session", sid=sid), ["booth", "wide"])
            p.scard(key("staff", region=region, lang=lang))
            p.lrange(key("recent_handling"), 0, 19)
            rows = await p.execute()
        staff, aht = int(rows[-2]), self._aht(rows[-1])
        out = []
        for ahead, (sid, (booth, wide)) in enumerate(zip(sids, rows[:-2], strict=True)):
            if booth:
                out.append((booth, {"sid": sid, "position": ahead + 1, "ahead": ahead,
                                    "eta_s": estimate_wait_s(aht, ahead, staff), "wide": wide == "1"}))
        return out

    async def queue_view(self, aid: str, pool: list[dict[str, str]], langs: list[str], now: int,
                         limit: int) -> list[dict[str, Any]]:
        """The sessions waiting in a specialist's pool, oldest first, as the console lists them.

        One pipelined round trip for the queues, one for their sessions and this specialist's
        declines (not one per queue). Partner centres see a session once the router widened it;
        a session the router will not offer this specialist while it remembers the decline is
        marked ``declined``.
        """
        queues = [(entry, lang) for entry in pool for lang in langs]
        if not queues:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for entry, lang in queues:
                pipe.zrange(key("queue", region=entry["region"], lang=lang), 0, limit - 1, withscores=True)
            queued: list[list[tuple[str, float]]] = await pipe.execute()
        listed = [(entry, sid, score) for (entry, _lang), rows in zip(queues, queued, strict=True)
                  for sid, score in rows]
        if not listed:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for _entry, sid, _score in listed:
                pipe.hgetall(key("session", sid=sid))
                pipe.hget(key("declined", sid=sid), aid)
            found = await pipe.execute()
        rows: list[tuple[float, str, dict[str, str], bool]] = []
        for (entry, sid, score), s, declined_until in zip(listed, found[0::2], found[1::2], strict=True):
            if entry["tier"] != "own" and s.get("wide") != "1":
                continue
            rows.append((score, sid, s, bool(declined_until) and int(declined_until) > now))
        rows.sort(key=lambda r: (r[0], r[1]))
        return [
            {"sid": sid, "ticket": s.get("ticket", ""), "matter": s.get("matter", ""),
             "intake_centre": s.get("intake_centre", ""), "region": s.get("region", ""), "lang": s.get("lang", ""),
             "priority": s.get("priority", ""), "waited_s": (now - int(s.get("enq", now))) / 1000,
             "wide": s.get("wide") == "1", "declined": declined, "state": s.get("state", "")}
            for _score, sid, s, declined in rows[:limit]]

    # --- the node's side records ---------------------------------------------------------------

    async def booths_seen(self, booths: Iterable[str], now_ms: int) -> None:
        """Stamp the booths connected to this node as seen now."""
        stamps = {b: now_ms for b in booths}
        if stamps:
            await self.redis.zadd(key("booth_heartbeats"), stamps)

    async def device_online(self, booth: str, cameras: list[dict[str, Any]], version: str) -> None:
        await self.redis.hset(key("device", booth=booth), mapping={
            "cameras": json.dumps(cameras), "version": version, "online": "1"})

    async def device_offline(self, booth: str) -> None:
        await self.redis.hset(key("device", booth=booth), "online", "0")

    async def device_cameras(self, booth: str) -> list[dict[str, Any]] | None:
        """The cameras of the booth's device agent if it is online, else None."""
        device = cast(dict[str, str], await self.redis.hgetall(key("device", booth=booth)))
        if device.get("online") != "1":
            return None
        cameras: list[dict[str, Any]] = json.loads(device.get("cameras") or "[]")
        return cameras
