"""The Redis side of the evidence chain: ``rw:s:<sid>:chain`` (entries) and ``…:chainhead``.

Redis's Lua has no SHA-256, so Python builds each entry and its hash and Redis appends it only if
the head is still the one the entry links (compare and set); a writer that lost the race reads
the new head and tries again. Other stores that must record a fact and chain it in one step
(recording chunks) use ``CAS_APPEND_LUA`` inside their own script.
"""

from __future__ import annotations

import json
from typing import Any, cast

from redis.asyncio import Redis

from window_server.evidence.chain import canonical, entry_hash, format_head, make_entry, parse_head
from window_server.store.keys import key

MAX_RETRIES = 64

#: Lua: append ARGV[2] (an entry) to KEYS[1] and set KEYS[2] to ARGV[3] if KEYS[2] is ARGV[1].
CAS_APPEND_LUA = """
local function cas_append(chain, head, expected, entry, new_head)
  local current = redis.call('GET', head) or ''
  if current ~= expected then return false end
  redis.call('RPUSH', chain, entry)
  redis.call('SET', head, new_head)
  return true
end
"""

_APPEND = CAS_APPEND_LUA + """
if cas_append(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3]) then return 1 end
return 0
"""


class ChainContended(RuntimeError):
    """The chain's head kept moving under the writer (``MAX_RETRIES`` tries)."""


def next_entry(head_raw: str | None, *, kind: str, ref: str, sha256: str, at: int) -> tuple[str, str, str]:
    """(expected head, entry JSON, new head) for appending one item after ``head_raw``."""
    count, prev = parse_head(head_raw)
    entry = make_entry(n=count, kind=kind, ref=ref, sha256=sha256, at=at, prev=prev)
    return head_raw or "", canonical(entry).decode(), format_head(count + 1, entry_hash(entry))


class EvidenceStore:
    """Append to and read a session's evidence chain."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._append = redis.register_script(_APPEND)

    async def head(self, sid: str) -> str | None:
        return cast(str | None, await self.redis.get(key("chain_head", sid=sid)))

    async def append(self, sid: str, kind: str, ref: str, sha256: str, at: int) -> dict[str, Any]:
        """Chain one item; return its entry."""
        keys = [key("chain", sid=sid), key("chain_head", sid=sid)]
        for _ in range(MAX_RETRIES):
            expected, entry, new_head = next_entry(await self.head(sid), kind=kind, ref=ref, sha256=sha256, at=at)
            if await self._append(keys=keys, args=[expected, entry, new_head]):
                return cast(dict[str, Any], json.loads(entry))
        raise ChainContended(f"session {sid}: the evidence chain kept moving")

    async def chain(self, sid: str) -> list[dict[str, Any]]:
        raw = cast(list[str], await self.redis.lrange(key("chain", sid=sid), 0, -1))
        return [json.loads(r) for r in raw]
