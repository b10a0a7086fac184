"""Issue 18's reads: the session a status page code opens, and a session's delivery address.

The writes are the queue's Lua (``rw_enqueue`` writes the code with the session, ``rw_delivery``
the address, ``rw_complete`` the missing list); these are plain reads beside them.
"""

from __future__ import annotations

import json
from typing import Any, cast

from redis.asyncio import Redis

from window_server.domain.outcomes import PUBLIC_FIELDS
from window_server.store.keys import key

DELIVERY_FIELD = "delivery"  # in rw:s:<sid>:private (full) and rw:s:<sid> (masked)


class OutcomesStore:
    """Status codes and delivery addresses in Redis."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def public_fields(self, code: str) -> dict[str, str] | None:
        """The status page's fields of the session ``code`` opens (None: no such code)."""
        sid = cast(str | None, await self.redis.get(key("status_code", code=code)))
        if not sid:
            return None
        values = cast(list[str | None], await self.redis.hmget(key("session", sid=sid), list(PUBLIC_FIELDS)))
        if values[0] is None:
            return None
        return {f: v or "" for f, v in zip(PUBLIC_FIELDS, values, strict=True)}

    async def delivery(self, sid: str) -> dict[str, Any] | None:
        """The delivery address in full (recipient, phone, address), or None."""
        raw = cast(str | None, await self.redis.hget(key("material_private", sid=sid), DELIVERY_FIELD))
        return cast(dict[str, Any], json.loads(raw)) if raw else None
