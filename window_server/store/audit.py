"""Check that every open session is in exactly one place and no specialist holds two.

Used by the tests after races, by the queue benchmark (its ``lost`` and ``double`` figures) and
by operators (``python -m window_server audit``). It scans, so it is not for hot paths.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import cast

from redis.asyncio import Redis

from window_server.store.keys import key


@dataclass
class AuditReport:
    sessions: int = 0
    agents: int = 0
    lost: list[str] = field(default_factory=list)  # open sessions that are nowhere
    double: list[str] = field(default_factory=list)  # sessions or specialists in two places
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.double or self.problems)


# The client decodes replies (``store.client``): redis-py types them ``bytes | str``, they are str.
async def _scan(redis: Redis, pattern: str) -> list[str]:
    return [cast(str, k) async for k in redis.scan_iter(match=pattern, count=1000)]


async def _members(redis: Redis, zkey: str) -> list[str]:
    return cast(list[str], await redis.zrange(zkey, 0, -1))


async def _hash(redis: Redis, hkey: str) -> dict[str, str]:
    return cast(dict[str, str], await redis.hgetall(hkey))


async def audit(redis: Redis) -> AuditReport:
    """Scan sessions, queues, timers and specialists; report anything out of place."""
    report = AuditReport()
    queued: Counter[str] = Counter()
    for q in await _scan(redis, key("queue", region="*", lang="*")):
        queued.update(await _members(redis, q))
    offers = set(await _members(redis, key("offers")))
    grace = set(await _members(redis, key("grace")))
    holding: Counter[str] = Counter()
    offered_to: Counter[str] = Counter()
    agents: dict[str, dict[str, str]] = {}
    for ak in await _scan(redis, key("agent", aid="*")):
        a = await _hash(redis, ak)
        agents[a["aid"]] = a
        if a.get("session"):
            holding[a["session"]] += 1
        if a.get("offer"):
            offered_to[a["offer"]] += 1
    report.agents = len(agents)

    for sid in cast(set[str], await redis.smembers(key("active"))):
        report.sessions += 1
        s = await _hash(redis, key("session", sid=sid))
        state = s.get("state", "")
        places = queued[sid] + holding[sid]
        if state == "waiting":
            if queued[sid] == 0:
                report.lost.append(sid)
            elif places > 1 or sid in offers:
                report.double.append(sid)
        elif state == "offered":
            aid = s.get("offer_agent", "")
            if sid not in offers or offered_to[sid] != 1 or agents.get(aid, {}).get("offer") != sid:
                report.lost.append(sid)
            elif places > 0:
                report.double.append(sid)
        elif state in ("in_service", "transferring", "reconnecting"):
            aid = s.get("agent", "")
            if queued[sid] or holding[sid] > 1 or offered_to[sid] > 1:
                report.double.append(sid)
            elif agents.get(aid, {}).get("session") != sid:
                report.lost.append(sid)
            if state == "reconnecting" and sid not in grace:
                report.problems.append(f"{sid} reconnecting without a grace timer")
        elif state == "completed" and places:
            report.double.append(sid)
    for aid, a in agents.items():
        status = a.get("status")
        if status == "offered" and not a.get("offer"):
            report.problems.append(f"specialist {aid} is offered nothing")
        if status == "available" and (a.get("session") or a.get("offer")):
            report.double.append(f"agent:{aid}")
    return report
