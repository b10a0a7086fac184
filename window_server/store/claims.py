"""Connection claims in Redis: which socket (``<node>:<sid>``) is a booth's, agent's or device's current one.

The hub asks these through its ``Claims`` protocol (``signaling/hub.py``); a reload or another
tab claims the subject anew, and only the socket that still holds the claim may end it.
"""

from __future__ import annotations

from typing import cast

from redis.asyncio import Redis

from window_server.store.keys import key

# Compare-and-delete: only the socket that is still a subject's current one may end it.
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
# Compare-and-set ('' = absent): a socket claims its subject again after a Redis outage.
_REPLACE = ("if (redis.call('GET', KEYS[1]) or '') == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) "
            "return 1 end return 0")


class ConnectionClaims:
    """The ``rw:conn:<role>:<subject>`` strings, changed only by compare-and-set when contended."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._release = redis.register_script(_RELEASE)
        self._replace = redis.register_script(_REPLACE)

    async def claim(self, role: str, subject: str, owner: str) -> None:
        await self.redis.set(key("connection", role=role, subject=subject), owner)

    async def release(self, role: str, subject: str, owner: str) -> bool:
        return bool(await self._release(keys=[key("connection", role=role, subject=subject)], args=[owner]))

    async def current(self, role: str, subject: str) -> str:
        return cast(str | None, await self.redis.get(key("connection", role=role, subject=subject))) or ""

    async def replace(self, role: str, subject: str, expected: str, owner: str) -> bool:
        return bool(await self._replace(keys=[key("connection", role=role, subject=subject)],
                                        args=[expected, owner]))
