"""The Redis side of the seal log and of the sealer's queue of due sessions.

``rw:seals`` is the chain-wide, append-only log of seals and purges (canonical JSON, each entry
linking the one before by ``prev`` and signed); ``rw:seals:head`` is ``"<count>:<hash of the
last entry>"``; ``rw:seals:sid`` maps a session to the index of its seal, and ``purges:<sid>``
in the same hash lists the indexes of its purge entries (comma-separated), so an export finds
them without reading the log.

Redis's Lua has no SHA-256 and the key never leaves Python, so Python builds and signs each
entry for the head it read, and Redis appends it only if that head is still current (compare
and set); a writer that lost the race reads the new head, signs again and retries. A seal goes
in one script together with the session's seal-time chain entries (through the chain's own
``CAS_APPEND_LUA``): either the session is sealed with all of them or nothing was written, and a
session that has a seal never gets a second one.

``rw:t:seal`` (sid -> due ms) is the queue of sessions to seal, filled by the queue's Lua when a
session ends. A node claims a due session by moving its score to the end of a lease; if it dies
mid-seal the lease runs out and another node seals it.
"""

from __future__ import annotations

import json
from typing import Any, cast

from redis.asyncio import Redis

from window_server.evidence.store import CAS_APPEND_LUA
from window_server.store.keys import key

PURGES_FIELD = "purges:{sid}"  # in the ``seal_of`` hash

_SEAL = CAS_APPEND_LUA + """
local chain, head, seals, seals_head, seal_of, events = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local sid, chain_expected, log_expected, entry, log_new_head, seq = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local sealed = redis.call('HGET', seal_of, sid)
if sealed then return cjson.encode({sealed = tonumber(sealed)}) end
if (redis.call('GET', head) or '') ~= chain_expected then return cjson.encode({retry = 'chain'}) end
if (redis.call('GET', seals_head) or '') ~= log_expected then return cjson.encode({retry = 'log'}) end
-- the chain entries must link up from the head just checked, or none is written
local at = chain_expected
for i = 7, #ARGV, 3 do
  if ARGV[i] ~= at then return cjson.encode({err = 'entries do not link'}) end
  at = ARGV[i + 2]
end
for i = 7, #ARGV, 3 do cas_append(chain, head, ARGV[i], ARGV[i + 1], ARGV[i + 2]) end
redis.call('RPUSH', seals, entry)
redis.call('SET', seals_head, log_new_head)
redis.call('HSET', seal_of, sid, seq)
-- the session's own history says so (the sealed events.jsonl is what came before this)
local sealed_at = cjson.decode(entry).at
redis.call('XADD', events, '*', 'e', cjson.encode({sid = sid, act = 'sealed', by = 'system', ts = sealed_at,
                                                   seq = tonumber(seq)}))
return cjson.encode({ok = tonumber(seq)})
"""

_PURGE = """
local seals, seals_head, seal_of = KEYS[1], KEYS[2], KEYS[3]
local field, log_expected, entry, log_new_head, seq = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if (redis.call('GET', seals_head) or '') ~= log_expected then return cjson.encode({retry = 'log'}) end
redis.call('RPUSH', seals, entry)
redis.call('SET', seals_head, log_new_head)
local before = redis.call('HGET', seal_of, field)
redis.call('HSET', seal_of, field, before and (before .. ',' .. seq) or seq)
return cjson.encode({ok = tonumber(seq)})
"""

_CLAIM = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) <= tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
  return 1
end
return 0
"""


class SealStore:
    """The seal log, the session-to-seal index and the due queue."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._seal = redis.register_script(_SEAL)
        self._purge = redis.register_script(_PURGE)
        self._claim = redis.register_script(_CLAIM)

    # --- the seal log ------------------------------------------------------------------------

    async def log_head(self) -> str | None:
        """``"<count>:<hash>"`` of the seal log (None while it is empty)."""
        return cast(str | None, await self.redis.get(key("seals_head")))

    async def chain_head(self, sid: str) -> str | None:
        return cast(str | None, await self.redis.get(key("chain_head", sid=sid)))

    async def append_seal(
        self,
        sid: str,
        *,
        chain_expected: str,
        chain_entries: list[tuple[str, str, str]],
        log_expected: str,
        entry: str,
        log_new_head: str,
        seq: int,
    ) -> dict[str, Any]:
        """Chain ``chain_entries`` (expected head, entry JSON, new head) and log the seal, at once.

        Reply ``{ok: seq}``; ``{sealed: seq}`` when the session has a seal already (nothing
        written); ``{retry: "chain"|"log"}`` when a head moved since it was read.
        """
        keys = [key("chain", sid=sid), key("chain_head", sid=sid), key("seals"), key("seals_head"), key("seal_of"),
                key("session_events", sid=sid)]
        args: list[str | int] = [sid, chain_expected, log_expected, entry, log_new_head, seq]
        for triple in chain_entries:
            args.extend(triple)
        reply = json.loads(await self._seal(keys=keys, args=args))
        if "err" in reply:
            raise RuntimeError(f"session {sid}: seal refused by Redis: {reply['err']}")
        return cast(dict[str, Any], reply)

    async def append_purge(
        self, sid: str, *, log_expected: str, entry: str, log_new_head: str, seq: int
    ) -> dict[str, Any]:
        """Log a purge entry; reply ``{ok: seq}`` or ``{retry: "log"}``."""
        keys = [key("seals"), key("seals_head"), key("seal_of")]
        args: list[str | int] = [PURGES_FIELD.format(sid=sid), log_expected, entry, log_new_head, seq]
        return cast(dict[str, Any], json.loads(await self._purge(keys=keys, args=args)))

    async def seal_seq(self, sid: str) -> int | None:
        """The index in the seal log of the session's seal (None: not sealed)."""
        raw = await self.redis.hget(key("seal_of"), sid)
        return None if raw is None else int(raw)

    async def purge_seqs(self, sid: str) -> list[int]:
        raw = cast(str | None, await self.redis.hget(key("seal_of"), PURGES_FIELD.format(sid=sid)))
        return [int(x) for x in raw.split(",")] if raw else []

    async def entry(self, seq: int) -> dict[str, Any] | None:
        """The seal log's entry ``seq`` (None past the end)."""
        if seq < 0:
            return None
        raw = cast(str | None, await self.redis.lindex(key("seals"), seq))
        return None if raw is None else cast(dict[str, Any], json.loads(raw))

    async def entries(self, start: int, stop: int) -> list[str]:
        """Entries ``start..stop`` (inclusive) of the seal log as stored (canonical JSON)."""
        return cast(list[str], await self.redis.lrange(key("seals"), start, stop))

    async def log_length(self) -> int:
        return int(await self.redis.llen(key("seals")))

    async def sealed_sids(self) -> dict[str, int]:
        """Every sealed session and the index of its seal (for ``verify-log``)."""
        raw = cast(dict[str, str], await self.redis.hgetall(key("seal_of")))
        return {sid: int(seq) for sid, seq in raw.items() if not sid.startswith("purges:")}

    async def chain_entries(self, sid: str, count: int) -> list[str]:
        """The first ``count`` entries of the session's chain as stored."""
        if count <= 0:
            return []
        return cast(list[str], await self.redis.lrange(key("chain", sid=sid), 0, count - 1))

    # --- the session's state, as the sealer needs it -------------------------------------------

    async def is_active(self, sid: str) -> bool:
        """Whether the session is still open or may still be rated (the active set)."""
        return bool(await self.redis.sismember(key("active"), sid))

    # --- sessions due to be sealed -------------------------------------------------------------

    async def due(self, now: int, limit: int) -> list[str]:
        """Sessions whose seal is due by ``now``, earliest first."""
        return cast(list[str], await self.redis.zrangebyscore(key("seal_due"), "-inf", now, start=0, num=limit))

    async def claim(self, sid: str, now: int, until: int) -> bool:
        """Take a due session for sealing until ``until`` (ms); False if another node has it or it is gone."""
        return bool(await self._claim(keys=[key("seal_due")], args=[sid, now, until]))

    async def done(self, sid: str) -> None:
        """The session is sealed: out of the queue."""
        await self.redis.zrem(key("seal_due"), sid)

    async def schedule(self, sid: str, at: int) -> None:
        """Queue the session for sealing at ``at`` (ms)."""
        await self.redis.zadd(key("seal_due"), {sid: at})

    async def due_at(self, sid: str) -> int | None:
        score = await self.redis.zscore(key("seal_due"), sid)
        return None if score is None else int(score)
