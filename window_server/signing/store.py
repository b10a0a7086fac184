"""The Redis side of signing: sign requests, and signatures chained as evidence in the same call.

``rw:s:<sid>:signreq`` (HASH request id -> JSON ``{id, doc, sha256, at, by, state, document, …}``)
holds every sign request of a session; ``state`` is pending, signed, declined or replaced (a newer
request came). ``rw:s:<sid>:signatures`` (LIST) holds every signature, oldest first; its place is
its number ``n``. A signature's record, its three evidence-chain entries (the strokes, the PDF, the
record's canonical JSON) and its request's new state are written by one script, so a signature is stored and chained or
not at all; the bytes are on disk (fsynced) before the script runs.
"""

from __future__ import annotations

import json
from typing import Any, cast

from redis.asyncio import Redis

from window_server.evidence.store import CAS_APPEND_LUA, MAX_RETRIES, ChainContended, next_entry
from window_server.store.client import acked_script
from window_server.store.keys import key

#: The evidence chain's kinds of a signature's items (docs/recording.md, the package).
STROKES_KIND = "signature_strokes"  # signatures/<n>.strokes.json
PDF_KIND = "signature"  # signatures/<n>.pdf
RECORD_KIND = "signature_record"  # signatures/<n>.json: the record, with the document's text

_REQUEST = """
local session, requests = KEYS[1], KEYS[2]
local agent, held, request, id = ARGV[1], cjson.decode(ARGV[2]), ARGV[3], ARGV[4]
local state = redis.call('HGET', session, 'state')
if not state then return cjson.encode({err = 'unknown_session'}) end
if not held[state] then return cjson.encode({err = 'illegal_transition', state = state}) end
if redis.call('HGET', session, 'agent') ~= agent then return cjson.encode({err = 'not_your_session'}) end
local all = redis.call('HGETALL', requests)
for i = 1, #all, 2 do
  local r = cjson.decode(all[i + 1])
  if r.state == 'pending' then
    r.state = 'replaced'
    redis.call('HSET', requests, all[i], cjson.encode(r))
  end
end
redis.call('HSET', requests, id, request)
return cjson.encode({ok = {booth = redis.call('HGET', session, 'booth') or ''}})
"""

_DECLINE = """
local session, requests = KEYS[1], KEYS[2]
local booth, held, id, now = ARGV[1], cjson.decode(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local state = redis.call('HGET', session, 'state')
if not state then return cjson.encode({err = 'unknown_session'}) end
if redis.call('HGET', session, 'booth') ~= booth then return cjson.encode({err = 'not_member'}) end
if not held[state] then return cjson.encode({err = 'illegal_transition', state = state}) end
local raw = redis.call('HGET', requests, id)
if not raw then return cjson.encode({err = 'unknown_sign_request'}) end
local r = cjson.decode(raw)
if r.state ~= 'pending' then return cjson.encode({err = 'sign_request_closed', state = r.state}) end
r.state = 'declined'
r.declined_at = now
redis.call('HSET', requests, id, cjson.encode(r))
return cjson.encode({ok = {doc = r.doc, agent = redis.call('HGET', session, 'agent') or ''}})
"""

_SIGN = CAS_APPEND_LUA + """
local session, requests, signatures, chain, head = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local booth, held, id, n, record = ARGV[1], cjson.decode(ARGV[2]), ARGV[3], tonumber(ARGV[4]), ARGV[5]
local entries, strokes_sha = cjson.decode(ARGV[6]), ARGV[7]
local state = redis.call('HGET', session, 'state')
if not state then return cjson.encode({err = 'unknown_session'}) end
if redis.call('HGET', session, 'booth') ~= booth then return cjson.encode({err = 'not_member'}) end
if not held[state] then return cjson.encode({err = 'illegal_transition', state = state}) end
local raw = redis.call('HGET', requests, id)
if not raw then return cjson.encode({err = 'unknown_sign_request'}) end
local r = cjson.decode(raw)
if r.state == 'signed' and r.strokes_sha256 == strokes_sha then
  return cjson.encode({dup = cjson.decode(redis.call('LINDEX', signatures, r.n))})
end
if r.state ~= 'pending' then return cjson.encode({err = 'sign_request_closed', state = r.state}) end
if redis.call('LLEN', signatures) ~= n then return cjson.encode({err = 'sign_request_closed', state = 'renumbered'}) end
for i, e in ipairs(entries) do
  -- the first link decides (a recording chunk may have moved the head); the others follow it
  if not cas_append(chain, head, e[1], e[2], e[3]) then return cjson.encode({retry = true}) end
end
redis.call('RPUSH', signatures, record)
local rec = cjson.decode(record)
r.state = 'signed'
r.n = n
r.signature = rec.id
r.strokes_sha256 = strokes_sha
redis.call('HSET', requests, id, cjson.encode(r))
return cjson.encode({ok = rec, agent = redis.call('HGET', session, 'agent') or ''})
"""


class SigningStore:
    """Sign requests and signatures in Redis."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._request = redis.register_script(_REQUEST)
        self._decline = redis.register_script(_DECLINE)
        self._sign = redis.register_script(_SIGN)

    async def add_request(self, sid: str, agent: str, request: dict[str, Any], *, held: list[str]) -> dict[str, Any]:
        """Record a pending request (older pending ones are replaced): ``{ok: {booth}}`` or ``{err, state?}``."""
        keys = [key("session", sid=sid), key("sign_requests", sid=sid)]
        args = [agent, json.dumps({s: True for s in held}), json.dumps(request, ensure_ascii=False), request["id"]]
        return cast(dict[str, Any], json.loads(await acked_script(self.redis, self._request, keys, args)))

    async def decline(self, sid: str, booth: str, request_id: str, *, held: list[str], now: int) -> dict[str, Any]:
        keys = [key("session", sid=sid), key("sign_requests", sid=sid)]
        args: list[str | int] = [booth, json.dumps({s: True for s in held}), request_id, now]
        return cast(dict[str, Any], json.loads(await acked_script(self.redis, self._decline, keys, args)))

    async def add_signature(self, sid: str, booth: str, record: dict[str, Any], *, record_sha256: str,
                            held: list[str]) -> dict[str, Any]:
        """Record a signature and chain its strokes, PDF and record, in one step: ``{ok}``, ``{dup}`` or ``{err}``.

        ``record["n"]`` must be the signatures' count when the script runs (its stamp says so), else
        ``sign_request_closed``; a chain head that moved (a recording chunk) is read again and retried.
        """
        keys = [key("session", sid=sid), key("sign_requests", sid=sid), key("signatures", sid=sid),
                key("chain", sid=sid), key("chain_head", sid=sid)]
        n = int(record["n"])
        items = ((STROKES_KIND, record["strokes_sha256"]), (PDF_KIND, record["pdf_sha256"]),
                 (RECORD_KIND, record_sha256))
        for _ in range(MAX_RETRIES):
            cur = cast(str | None, await self.redis.get(keys[4]))
            entries = []
            for kind, sha in items:
                expected, entry, cur = next_entry(cur, kind=kind, ref=str(n), sha256=sha, at=int(record["at"]))
                entries.append([expected, entry, cur])
            args: list[str | int] = [booth, json.dumps({s: True for s in held}), record["request_id"], n,
                    json.dumps(record, ensure_ascii=False), json.dumps(entries), record["strokes_sha256"]]
            reply = json.loads(await acked_script(self.redis, self._sign, keys, args))
            if not reply.get("retry"):
                return cast(dict[str, Any], reply)
        raise ChainContended(f"session {sid}: the evidence chain kept moving")

    async def request(self, sid: str, request_id: str) -> dict[str, Any] | None:
        raw = cast(str | None, await self.redis.hget(key("sign_requests", sid=sid), request_id))
        return None if raw is None else cast(dict[str, Any], json.loads(raw))

    async def requests(self, sid: str) -> list[dict[str, Any]]:
        """Every sign request of the session, oldest first."""
        raw = cast(dict[str, str], await self.redis.hgetall(key("sign_requests", sid=sid)))
        return sorted((json.loads(v) for v in raw.values()), key=lambda r: (int(r.get("at") or 0), r["id"]))

    async def list(self, sid: str) -> list[dict[str, Any]]:
        """Every signature of the session, oldest first (what the sealer puts in ``signatures.json``)."""
        raw = cast(list[str], await self.redis.lrange(key("signatures", sid=sid), 0, -1))
        return [json.loads(r) for r in raw]
