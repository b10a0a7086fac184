"""The Redis side of recordings: segments, chunks (chained as evidence in the same call), state.

``rw:s:<sid>:rec`` holds the recording's state (``segments`` count, the ``open`` segment, an
``error`` once chunks could not be stored, ``finalized``); ``rw:s:<sid>:rec:<n>`` holds one
segment: ``meta`` (JSON) and ``c:<seq>`` per stored chunk (JSON: sha256, size, t, from, at). A
chunk's record and its evidence-chain entry are written in one script, so a chunk is either
stored and chained or neither.
"""

from __future__ import annotations

import json
from typing import Any, cast

from redis.asyncio import Redis

from window_server.evidence.store import CAS_APPEND_LUA, MAX_RETRIES, ChainContended, next_entry
from window_server.store.client import acked_script
from window_server.store.keys import key

_START = """
local rec, session, seal_of, prefix, sid = KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2]
local held, meta = cjson.decode(ARGV[3]), cjson.decode(ARGV[4])
local now = tonumber(ARGV[5])
local state = redis.call('HGET', session, 'state')
if not state then return cjson.encode({err = 'unknown_session'}) end
if redis.call('HEXISTS', seal_of, sid) == 1 then return cjson.encode({err = 'recording_closed'}) end
if not held[state] then return cjson.encode({err = 'illegal_transition', state = state}) end
local open = redis.call('HGET', rec, 'open') or ''
if open ~= '' then
  local k = prefix .. open
  local m = cjson.decode(redis.call('HGET', k, 'meta'))
  if m.ended_by == nil or m.ended_by == '' then
    m.ended_by = 'next_segment'
    m.ended_at = now
    redis.call('HSET', k, 'meta', cjson.encode(m))
  end
end
local n = redis.call('HINCRBY', rec, 'segments', 1) - 1
meta.n = n
meta.started_at = now
redis.call('HSET', prefix .. n, 'meta', cjson.encode(meta))
redis.call('HSET', rec, 'open', tostring(n), 'state', 'recording')
for i = 6, #ARGV do redis.call('ZADD', ARGV[i], 'NX', now, sid) end
return cjson.encode({ok = meta})
"""

_CHUNK = CAS_APPEND_LUA + """
local seg, seal_of, chain, head, sid = KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1]
local field, chunk, sha = ARGV[2], ARGV[3], ARGV[4]
if redis.call('HEXISTS', seal_of, sid) == 1 then return cjson.encode({err = 'recording_closed'}) end
local raw = redis.call('HGET', seg, 'meta')
if not raw then return cjson.encode({err = 'unknown_segment'}) end
local m = cjson.decode(raw)
local seq = tonumber(ARGV[8])
if m.count ~= nil and seq >= tonumber(m.count) then return cjson.encode({err = 'recording_closed'}) end
local existing = redis.call('HGET', seg, field)
if existing then
  if cjson.decode(existing).sha256 == sha then return cjson.encode({dup = cjson.decode(existing)}) end
  return cjson.encode({err = 'chunk_conflict'})
end
if not cas_append(chain, head, ARGV[5], ARGV[6], ARGV[7]) then return cjson.encode({retry = true}) end
redis.call('HSET', seg, field, chunk)
return cjson.encode({ok = cjson.decode(chunk)})
"""

_END = """
local rec, seg, n = KEYS[1], KEYS[2], ARGV[1]
local raw = redis.call('HGET', seg, 'meta')
if not raw then return cjson.encode({err = 'unknown_segment'}) end
local m = cjson.decode(raw)
if m.count == nil then
  m.count, m.end_t, m.ended_at = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
  if m.ended_by == nil or m.ended_by == '' then m.ended_by = 'end' end
  redis.call('HSET', seg, 'meta', cjson.encode(m))
end
if redis.call('HGET', rec, 'open') == n then redis.call('HSET', rec, 'open', '') end
return cjson.encode({ok = m})
"""


class RecordingStore:
    """Segments, chunks and the recording's state in Redis."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._start = redis.register_script(_START)
        self._chunk = redis.register_script(_CHUNK)
        self._end = redis.register_script(_END)

    async def start_segment(self, sid: str, meta: dict[str, Any], *, held: list[str], now: int,
                            agents: list[str], centres: list[str]) -> dict[str, Any]:
        """Open segment n+1 (closing an open one); reply ``{ok: meta}`` or ``{err, state?}``."""
        keys = [key("recording", sid=sid), key("session", sid=sid), key("seal_of")]
        indexes = [key("rec_all")] + [key("rec_by_agent", aid=a) for a in agents if a] + [
            key("rec_by_centre", centre=c) for c in centres if c]
        args: list[str | int] = [key("rec_segment", sid=sid, n=""), sid, json.dumps({s: True for s in held}),
                json.dumps(meta, ensure_ascii=False), now, *indexes]
        return cast(dict[str, Any], json.loads(await acked_script(self.redis, self._start, keys, args)))

    async def add_chunk(self, sid: str, n: int, seq: int, chunk: dict[str, Any], at: int) -> dict[str, Any]:
        """Record a stored chunk and chain it, in one step; reply ``{ok}``, ``{dup}`` or ``{err}``."""
        keys = [key("rec_segment", sid=sid, n=str(n)), key("seal_of"), key("chain", sid=sid),
                key("chain_head", sid=sid)]
        for _ in range(MAX_RETRIES):
            head = cast(str | None, await self.redis.get(keys[3]))
            expected, entry, new_head = next_entry(head, kind="chunk", ref=f"seg{n}/{seq}", sha256=chunk["sha256"], at=at)
            reply = json.loads(await acked_script(self.redis, self._chunk, keys, [
                sid, f"c:{seq}", json.dumps(chunk), chunk["sha256"], expected, entry, new_head, seq]))
            if not reply.get("retry"):
                return cast(dict[str, Any], reply)
        raise ChainContended(f"session {sid}: the evidence chain kept moving")

    async def end_segment(self, sid: str, n: int, *, count: int, t: int, now: int) -> dict[str, Any]:
        keys = [key("recording", sid=sid), key("rec_segment", sid=sid, n=str(n))]
        return cast(dict[str, Any], json.loads(await acked_script(self.redis, self._end, keys, [str(n), count, t, now])))

    async def fail(self, sid: str, error: str, now: int) -> bool:
        """Mark the recording failed; return whether it was not failed before."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(key("recording", sid=sid), "error", error)
            pipe.hset(key("recording", sid=sid), mapping={"state": "failed", "failed_at": now})
            pipe.zadd(key("rec_incomplete"), {sid: now})
            first, *_ = await pipe.execute()
        return bool(first)

    async def finalize(self, sid: str, state: str, now: int) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key("recording", sid=sid), mapping={"state": state, "finalized": now, "open": ""})
            if state in ("incomplete", "failed"):
                pipe.zadd(key("rec_incomplete"), {sid: now})
            await pipe.execute()

    async def mark_purged(self, sid: str, now: int) -> None:
        await self.redis.hset(key("recording", sid=sid), mapping={"state": "purged", "purged": now})

    async def recording(self, sid: str) -> dict[str, str]:
        return cast(dict[str, str], await self.redis.hgetall(key("recording", sid=sid)))

    async def segments(self, sid: str, count: int) -> list[tuple[dict[str, Any], dict[int, dict[str, Any]]]]:
        """Each segment's meta and its chunks by seq."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for n in range(count):
                pipe.hgetall(key("rec_segment", sid=sid, n=str(n)))
            replies = cast(list[dict[str, str]], await pipe.execute())
        out = []
        for fields in replies:
            if "meta" not in fields:
                continue
            chunks = {int(f[2:]): json.loads(v) for f, v in fields.items() if f.startswith("c:")}
            out.append((json.loads(fields["meta"]), chunks))
        return out

    async def sealed(self, sid: str) -> bool:
        return bool(await self.redis.hexists(key("seal_of"), sid))

    async def listed(self, index: str, limit: int, **parts: str) -> list[tuple[str, int]]:
        """Newest first: (sid, ms) of an index (``rec_by_agent``/``rec_by_centre``/``rec_incomplete``)."""
        reply = cast(list[tuple[str, float]],
                     await self.redis.zrevrange(key(index, **parts), 0, limit - 1, withscores=True))
        return [(m, int(score)) for m, score in reply]

    async def states(self, sids: list[str]) -> list[str]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for sid in sids:
                pipe.hget(key("recording", sid=sid), "state")
            return [str(s or "") for s in await pipe.execute()]
