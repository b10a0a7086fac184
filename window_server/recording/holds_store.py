"""The Redis side of holds and of the retention purge's bookkeeping.

A session is under a hold while a manager's legal hold is set on it (``rw:holds``: sid -> JSON
``{by, at, reason}``) or its bad review's follow-up is open (the dashboard's
``rw:dash:reviews:open:chain``, filled and emptied by the dashboard's own scripts). Setting or
lifting a legal hold and the event that says so (``hold_set`` / ``hold_lifted`` in the chain-wide
log and the session's own stream, shaped as the queue's annotations are) are one script: there
is never a hold without its event, nor an event without the change.

The purge of recordings claims a session for a while in its recording hash (``purging``: until
when, in ms) so two nodes running the purge at once do not both purge it; the claim is left
behind once the recording is marked purged (a purged recording is never claimed again).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, cast

from redis.asyncio import Redis

from window_server.store.client import acked_script
from window_server.store.keys import key

#: The dashboard's chain-wide scope (``dashboard.rules.CHAIN``): every open bad review is in its
#: index. Named here, not imported: the dashboard imports the HTTP layer, which imports this.
REVIEW_SCOPE = "chain"
SCAN_COUNT = 500

# KEYS: holds, the chain log, the session's stream, the session. ARGV: sid, act, hold JSON ('' to
# lift), by, why, now (ms, kept a string: cjson would write 1.8e+12). Reply: 'unknown_session',
# 'not_held' (a lift without a hold), or the hold before the change ('' when there was none).
_HOLD = """
local holds, events, stream, session = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local sid, act, hold, by, why, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local state = redis.call('HGET', session, 'state')
if not state then return 'unknown_session' end
local before = redis.call('HGET', holds, sid) or ''
if hold == '' then
  if before == '' then return 'not_held' end
  redis.call('HDEL', holds, sid)
else
  redis.call('HSET', holds, sid, hold)
end
local e = cjson.encode({sid = sid, act = act, from = state, to = state, by = by, why = why, ts = now})
local id = redis.call('XADD', events, '*', 'e', e)
redis.call('XADD', stream, id, 'e', e)
return before
"""

# KEYS: the session's recording hash. ARGV: now, until (ms). 1: claimed; 0: purged already, or
# another node's claim has not run out.
_CLAIM = """
local rec = KEYS[1]
if redis.call('EXISTS', rec) == 0 or redis.call('HGET', rec, 'state') == 'purged' then return 0 end
local held = tonumber(redis.call('HGET', rec, 'purging') or '0')
if held > tonumber(ARGV[1]) then return 0 end
redis.call('HSET', rec, 'purging', ARGV[2])
return 1
"""

# KEYS: the chain log, the session's stream, the session. ARGV: sid, act, by, why, now, extra JSON.
_EVENT = """
local state = redis.call('HGET', KEYS[3], 'state') or ''
local ev = cjson.decode(ARGV[6])
ev.sid, ev.act, ev.from, ev.to, ev.by, ev.why, ev.ts = ARGV[1], ARGV[2], state, state, ARGV[3], ARGV[4], ARGV[5]
local e = cjson.encode(ev)
local id = redis.call('XADD', KEYS[1], '*', 'e', e)
redis.call('XADD', KEYS[2], id, 'e', e)
return id
"""


class UnknownSession(LookupError):
    """The hold names a session that does not exist."""


class HoldsStore:
    """Legal holds, open bad reviews, and the purge's claims and events."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._hold = redis.register_script(_HOLD)
        self._claim = redis.register_script(_CLAIM)
        self._event = redis.register_script(_EVENT)

    # --- legal holds -----------------------------------------------------------------------------

    async def legal(self, sid: str) -> dict[str, Any] | None:
        """The session's legal hold ``{by, at, reason}``, or None."""
        raw = cast(str | None, await self.redis.hget(key("holds"), sid))
        return None if raw is None else cast(dict[str, Any], json.loads(raw))

    async def set_legal(self, sid: str, *, by: str, reason: str, now: int) -> dict[str, Any] | None:
        """Set (or replace) the legal hold and log ``hold_set``; return the hold it replaced."""
        hold = json.dumps({"by": by, "at": now, "reason": reason}, ensure_ascii=False)
        before = await self._change(sid, "hold_set", hold, by=by, why=reason, now=now)
        return json.loads(before) if before else None

    async def lift_legal(self, sid: str, *, by: str, now: int) -> dict[str, Any] | None:
        """Lift the legal hold and log ``hold_lifted``; return the hold lifted (None: there was none)."""
        before = await self._change(sid, "hold_lifted", "", by=by, why="", now=now)
        return None if before == "not_held" else cast(dict[str, Any], json.loads(before))

    async def _change(self, sid: str, act: str, hold: str, *, by: str, why: str, now: int) -> str:
        keys = [key("holds"), key("events"), key("session_events", sid=sid), key("session", sid=sid)]
        reply = str(await acked_script(self.redis, self._hold, keys, [sid, act, hold, by, why, now]))
        if reply == "unknown_session":
            raise UnknownSession(sid)
        return reply

    # --- bad reviews -------------------------------------------------------------------------------

    async def review_due(self, sid: str) -> int | None:
        """The next deadline (ms) of the session's open bad-review follow-up; None when none is open."""
        score = await self.redis.zscore(key("dash_reviews_open", scope=REVIEW_SCOPE), sid)
        return None if score is None else int(score)

    # --- what holds a session ------------------------------------------------------------------------

    async def holds(self, sids: Sequence[str]) -> dict[str, str]:
        """The sessions of ``sids`` under a hold -> why: ``legal hold`` or ``open bad review``."""
        out: dict[str, str] = {}
        if not sids:
            return out
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hmget(key("holds"), list(sids))
            for sid in sids:
                pipe.zscore(key("dash_reviews_open", scope=REVIEW_SCOPE), sid)
            legal, *reviews = await pipe.execute()
        for sid, hold, review in zip(sids, legal, reviews, strict=True):
            if hold is not None:
                out[sid] = "legal hold"
            elif review is not None:
                out[sid] = "open bad review"
        return out

    # --- the purge of recordings ---------------------------------------------------------------------

    async def recorded_sids(self) -> list[str]:
        """Every session with a recording hash (sorted): a SCAN, for the purge."""
        pattern = key("recording", sid="*")
        head, tail = pattern.split("*")
        shape = re.compile(re.escape(head) + r"([A-Za-z0-9_-]{1,32})" + re.escape(tail))
        found = set()
        async for k in self.redis.scan_iter(match=pattern, count=SCAN_COUNT, _type="HASH"):
            if m := shape.fullmatch(cast(str, k)):
                found.add(m.group(1))
        return sorted(found)

    async def claim_purge(self, sid: str, now: int, until: int) -> bool:
        """Take the session's recording for purging until ``until`` (ms); False: purged, or another has it."""
        return bool(await self._claim(keys=[key("recording", sid=sid)], args=[now, until]))

    async def log_event(self, sid: str, act: str, *, by: str, why: str, now: int,
                        extra: dict[str, Any] | None = None) -> None:
        """Append an annotation-shaped event (state unchanged) to the chain log and the session's stream."""
        keys = [key("events"), key("session_events", sid=sid), key("session", sid=sid)]
        fields = {k: str(v) for k, v in (extra or {}).items()}  # event fields are strings (as the queue's)
        await self._event(keys=keys, args=[sid, act, by, why, now, json.dumps(fields, ensure_ascii=False)])

