"""The Redis adapter of the queue: one FCALL per change, errors mapped to domain errors.

The Lua library is written one file per concept in ``queue/lua/`` and loaded as one library
(``FUNCTION LOAD REPLACE``) at start, its files concatenated in the order of ``LUA_PARTS``. It
gets every table it uses from Python (``lua_tables``: transitions, keys, states, actions,
presence statuses, lanes, tiers, held/final/ended states, error codes), so each fact lives in
one place. Every session transition a call made is logged here at INFO (``_log_transitions``). Every call passes ``now`` (ms) and the timing settings explicitly. Under load,
calls that queue up behind others go to Redis together, one round trip for several
(``batch.py``); each still runs, succeeds or fails on its own.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from importlib import resources
from typing import Any, cast
from zoneinfo import ZoneInfo

from redis.asyncio import Redis

from window_server.domain import errors
from window_server.domain.presence import BUSY_STATUSES, MISSES_BEFORE_AWAY, Presence
from window_server.domain.routing import LANE_SPAN, Lane, PoolEntry, Tier
from window_server.domain.session import (
    ENDED_STATES,
    FINAL_STATES,
    HELD_STATES,
    Action,
    State,
    TransferMode,
    transitions_table,
)
from window_server.queue.batch import Batcher
from window_server.runtime.outage import Outage
from window_server.store.events import read_entries
from window_server.store.keys import KEYS, key

log = logging.getLogger(__name__)

LIBRARY = "rw"


@dataclass(frozen=True)
class QueueTiming:
    """The queue's clocks, in milliseconds (built from settings)."""

    widen_ms: int = 60_000
    offer_ms: int = 20_000
    decline_memory_ms: int = 120_000
    wrap_ms: int = 60_000
    grace_ms: int = 60_000
    transfer_ms: int = 120_000
    heartbeat_ttl_ms: int = 30_000
    rating_ms: int = 86_400_000  # a completed session may be rated this long, then it closes
    seal_grace_ms: int = 30_000  # after a session ends, its evidence is sealed this much later
    call_back_ms: int = 180_000  # a seated ticket called back is claimed at a booth within this, or no-show
    call_ahead: int = 1  # a seated ticket is called back when fewer than this many wait ahead of it


@dataclass
class Result:
    """What one queue call changed: its answer and the effects to push to clients."""

    ok: dict[str, Any]
    fx: list[dict[str, Any]] = field(default_factory=list)


class StoreError(errors.RemoteWindowError):
    """A queue call failed with a stable code; ``state`` is the session's state, if any."""


#: The library's files (``queue/lua/<part>.lua``) in load order: each may use the locals of
#: those before it (Lua locals are visible only below their definition).
LUA_PARTS = (
    "prelude",  # the tables from Python, constants
    "helpers",  # keys, named reads, errors, effects, the event log, transition()
    "presence",  # a specialist's status and pools: set_presence()
    "library",  # run/register and rw_batch: from here on, functions are registered
    "routing",  # who is offered what: offer, match_session, match_agent, widening, enqueue
    "wrap_up",  # the wrap-up after a session
    "transfers",  # rw_transfer and how a transfer ends
    "rating",  # the citizen's rating and its window
    "reconnect",  # media lost and back, the reconnect grace
    "agents",  # sign-in, heartbeat, presence by hand, sign-out and a lost specialist
    "sessions",  # the session lifecycle: enqueue, accept, decline, complete, leave, no-show, notes
    "hall",  # the hall: sitting down with a slip, the call-back and its claim or no-show, help calls
    "tick",  # everything that happens because time passed
    "materials",  # stills, verdicts, capture requests, views, retention
    "outcomes",  # issue 18: the delivery address (the missing list is rw_complete's)
    "conversation",  # issue 18: the text beside the video (chat) and the citizen's hang-up
    "guests",  # issue 19: guests of a live session, reviewers' invitations, departments' marks
    "take",  # issue 19: a specialist takes a waiting session from their queue list (helper C)
)


def _members(enum: Any) -> dict[str, Any]:
    return {m.name: m.value for m in enum}


def _set(values: Any) -> dict[str, bool]:
    return {str(v): True for v in sorted(values)}


def lua_tables() -> dict[str, dict[str, Any] | list[Any]]:
    """Every table the Lua library uses, by its Lua name: the facts it must not spell out itself."""
    return {
        "T": transitions_table(),  # state -> {action -> state}; "" is a new session
        "K": KEYS,
        "C": {"lane_span": LANE_SPAN, "misses_before_away": MISSES_BEFORE_AWAY},
        "S": _members(State),  # S.WAITING == "waiting"
        "A": _members(Action),
        "P": _members(Presence),
        "LANE": _members(Lane),
        "LANES": sorted(lane.value for lane in Lane),  # served in this order
        "TIER": _members(Tier),
        "MODE": _members(TransferMode),
        "HELD": _set(HELD_STATES),  # a specialist holds the session: notes, materials, verdicts
        "FINAL": _set(FINAL_STATES),  # the session leaves the active set
        "ENDED": _set(ENDED_STATES),  # not (or no longer) open for its booth: it may start another
        "BUSY": _set(BUSY_STATUSES),  # presence a hand switch may not leave
        "E": {c.code: c.code for c in errors.CODES.values() if not c.connect},  # what fail() may answer
    }


def library_source() -> str:
    """The Lua library: its parts concatenated, the Python tables rendered in."""
    folder = resources.files("window_server.queue").joinpath("lua")
    text = "\n".join(folder.joinpath(f"{part}.lua").read_text(encoding="utf-8") for part in LUA_PARTS)
    tables = "\n".join(f"local {name} = {lua_literal(value)}" for name, value in lua_tables().items())
    return f"#!lua name={LIBRARY}\n" + text.replace("__TABLES__", tables, 1)


def lua_literal(value: Any) -> str:
    """Render a dict or list of strings, numbers and booleans as a Lua table constructor (cjson
    is not loaded yet when a function library's top level runs)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"[{lua_literal(k)}] = {lua_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "{" + ", ".join(lua_literal(v) for v in value) + "}"
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string of ASCII text is a valid Lua string
    if isinstance(value, bool | int | float):
        return str(value).lower() if isinstance(value, bool) else repr(value)
    raise TypeError(f"cannot render {type(value).__name__} for Lua")


def _error(code: str, message: str, state: str | None) -> errors.RemoteWindowError:
    """A Lua ``fail()`` as its registered exception (domain/errors.py: class, status, field)."""
    exc = errors.coded(code, message)
    exc.state = state  # type: ignore[attr-defined]
    return exc


def _by_role(by: str) -> str:
    """Who made a change, as a role: the router, the system, a booth or a specialist."""
    if by in ("router", "system"):
        return by
    return "booth" if by.startswith("booth:") else "agent" if by else "system"


def _log_transitions(fx: list[dict[str, Any]]) -> None:
    """Log each session transition of a call, ``session RW… waiting -> offered (offer by router)``.

    Ids, states, the act and who by role only: never a reason (``why`` may be free text).
    ``from`` and ``by`` come from Lua for this line and are not part of the effect.
    """
    for e in fx:
        if e.get("kind") == "session":
            old, by = e.pop("from", ""), e.pop("by", "")
            if log.isEnabledFor(logging.INFO):
                log.info("session %s %s -> %s (%s by %s)", e.get("sid"), old or "new", e.get("state"),
                         e.get("act"), _by_role(by))


class QueueStore:
    """Sessions, queues and presence in Redis, changed only through the Lua functions."""

    def __init__(
        self,
        redis: Redis,
        timing: QueueTiming,
        clock: Callable[[], float],
        tz: str = "Asia/Shanghai",
    ) -> None:
        self.redis = redis
        self.timing = timing
        self.clock = clock
        self.tz = ZoneInfo(tz)
        cfg = json.dumps(asdict(timing))  # the same in every call: sent beside it, decoded once
        self._day: tuple[int, int, str] = (0, 0, "")  # [start, end) ms of the local day, and its name
        self.batcher = Batcher(redis, self.load, cfg)  # calls that queue up behind others go together
        self.outage = Outage()  # marked by the node's background loops when Redis fails (ticker.py)

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def day(self, now_ms: int) -> str:
        """The local date of ``now_ms`` as YYYYMMDD (session and ticket numbers restart daily)."""
        start, end, name = self._day
        if not start <= now_ms < end:
            local = datetime.fromtimestamp(now_ms / 1000, self.tz)
            midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
            start = int(midnight.timestamp() * 1000)
            end = int((midnight + timedelta(days=1)).timestamp() * 1000)  # wall-clock midnight
            name = local.strftime("%Y%m%d")
            self._day = (start, end, name)
        return name

    async def load(self) -> None:
        """Load (or replace) the Lua library; safe to run on every node at start."""
        await self.redis.function_load(library_source(), replace=True)

    async def call(self, fn: str, *, durable: bool = True, **args: Any) -> Result:
        """Run one Redis function with ``now`` and the timings; raise its error as a domain error.

        ``durable`` (every call whose answer a client is given): with RW_REDIS_WAIT_REPLICAS the
        answer waits until that many replicas hold the change, else ``unavailable``
        (``store.client.acked``). False for the queue's own work: ticks, heartbeats, reads.
        """
        now = args.pop("now", None) or self.now_ms()
        rest = ", " + json.dumps(args, ensure_ascii=False)[1:] if args else "}"
        payload = f'{{"now": {json.dumps(now)}{rest}'
        raw = await self.batcher.call(fn, payload, durable=durable)
        reply = json.loads(raw)
        if "err" in reply:
            raise _error(reply["err"], reply.get("msg", reply["err"]), reply.get("state"))
        fx = reply.get("fx") or []
        if not isinstance(fx, list):
            fx = []  # an empty Lua table encodes as {}
        _log_transitions(fx)
        return Result(reply.get("ok") or {}, fx)

    # --- booth side -----------------------------------------------------------------------

    async def enqueue(
        self,
        *,
        booth: str,
        intake_centre: str,
        matter: str,
        region: str,
        lang: str,
        priority: str,
        source: str,
        consent: bool,
        now: int | None = None,
        status_code: str = "",
    ) -> Result:
        now = now or self.now_ms()
        return await self.call(
            "rw_enqueue", now=now, day=self.day(now), booth=booth, intake_centre=intake_centre, matter=matter,
            region=region, lang=lang, priority=priority, source=source, consent=consent,
            status_code=status_code,
        )

    async def leave(self, sid: str, booth: str, reason: str = "", now: int | None = None) -> Result:
        return await self.call("rw_leave", now=now, sid=sid, booth=booth, reason=reason)

    async def rate(self, sid: str, booth: str, level: int, comment: str = "", now: int | None = None) -> Result:
        return await self.call("rw_rate", now=now, sid=sid, booth=booth, level=level, comment=comment)

    async def media(self, sid: str, party: str, what: str, by: str = "system", now: int | None = None) -> Result:
        return await self.call("rw_media", now=now, sid=sid, party=party, what=what, by=by)

    # --- specialist side --------------------------------------------------------------------

    async def agent_login(
        self, aid: str, centre: str, pool: tuple[PoolEntry, ...], langs: tuple[str, ...], now: int | None = None
    ) -> Result:
        entries = [{"region": e.region, "tier": e.tier.value} for e in pool]
        return await self.call("rw_agent_login", now=now, aid=aid, centre=centre, pool=entries, langs=list(langs))

    async def heartbeat(self, aid: str, now: int | None = None) -> Result:
        return await self.call("rw_heartbeat", durable=False, now=now, aid=aid)

    async def presence(self, aid: str, status: str, now: int | None = None) -> Result:
        return await self.call("rw_presence", now=now, aid=aid, status=status)

    async def logout(self, aid: str, now: int | None = None) -> Result:
        return await self.call("rw_logout", now=now, aid=aid)

    async def accept(self, aid: str, sid: str, now: int | None = None) -> Result:
        return await self.call("rw_accept", now=now, aid=aid, sid=sid)

    # --- console (issue 19, helper C) ---
    async def take(self, aid: str, sid: str, now: int | None = None) -> Result:
        return await self.call("rw_take", now=now, aid=aid, sid=sid)

    async def takeable(self, aid: str, sids: list[str], now: int | None = None) -> list[str]:
        """Per session of ``sids``: '' when ``aid`` may take it now, else the code rw_take would fail with."""
        if not sids:
            return []
        why = (await self.call("rw_takeable", durable=False, now=now, aid=aid, sids=sids)).ok.get("why") or []
        return [str(w) for w in why] if isinstance(why, list) else []
    # --- end console ---

    async def decline(self, aid: str, sid: str, reason: str = "", now: int | None = None) -> Result:
        return await self.call("rw_decline", now=now, aid=aid, sid=sid, reason=reason)

    async def transfer(
        self,
        aid: str,
        sid: str,
        *,
        reason: str,
        mode: str,
        to_agent: str = "",
        to_centre: str = "",
        now: int | None = None,
    ) -> Result:
        return await self.call(
            "rw_transfer", now=now, aid=aid, sid=sid, reason=reason, mode=mode,
            to_agent=to_agent, to_centre=to_centre,
        )

    async def complete(
        self,
        aid: str,
        sid: str,
        outcome: str,
        case_number: str = "",
        require_identity: bool = False,
        now: int | None = None,
        *,
        missing: list[dict[str, str]] | None = None,
        missing_note: str = "",
        require_address: bool = False,
    ) -> Result:
        extra: dict[str, Any] = {}
        if missing:  # issue 18: stored with the completion ([{kind, how}]), its note in the same call
            extra = {"missing": json.dumps(missing, ensure_ascii=False), "missing_note": missing_note,
                     "missing_kinds": ",".join(m["kind"] for m in missing),
                     "missing_hows": ",".join(m["how"] for m in missing)}
        return await self.call(
            "rw_complete", now=now, aid=aid, sid=sid, outcome=outcome, case_number=case_number,
            require_identity=require_identity, require_address=require_address, **extra,
        )

    async def delivery(self, aid: str, sid: str, full: dict[str, str], masked: dict[str, str],
                       now: int | None = None) -> Result:
        """Issue 18: the delivery address, full in ``rw:s:<sid>:private`` (field ``delivery``), masked on
        the session and in its history (act ``delivery_address``): one call (``rw_delivery``)."""
        return await self.call(
            "rw_delivery", now=now, aid=aid, sid=sid, field="delivery", act="delivery_address",
            full=json.dumps(full, ensure_ascii=False), masked=json.dumps(masked, ensure_ascii=False), event=masked,
        )

    async def no_show(self, aid: str, sid: str, reason: str = "", now: int | None = None) -> Result:
        return await self.call("rw_no_show", now=now, aid=aid, sid=sid, reason=reason)

    async def annotate(
        self,
        aid: str,
        sid: str,
        act: str,
        *,
        text: str = "",
        data: dict[str, Any] | None = None,
        event: dict[str, str] | None = None,
        now: int | None = None,
    ) -> Result:
        return await self.call(
            "rw_annotate", now=now, aid=aid, sid=sid, act=act, text=text, data=data or {}, event=event or {}
        )

    async def open_rating_windows(self) -> int:
        """Give completed sessions without a rating window one (from before it existed); return how many."""
        return int((await self.call("rw_rating_backfill", durable=False)).ok.get("count", 0))

    async def tick(self, limit: int = 100, now: int | None = None, *, forgive: bool = False) -> Result:
        """Carry out everything due by ``now``: offer timeouts, widening, lost heartbeats, grace.

        ``forgive`` (the first tick after a Redis outage) first renews every heartbeat to ``now``:
        those nobody could write while Redis was down do not count as lost presence.
        """
        if forgive:
            return await self.call("rw_tick", durable=False, now=now, limit=limit, forgive=True)
        return await self.call("rw_tick", durable=False, now=now, limit=limit)

    # --- reading ----------------------------------------------------------------------------

    # The client decodes replies (``store.client``): redis-py types them ``bytes | str``, they are str.
    async def _fields(self, hash_key: str) -> dict[str, str]:
        return cast(dict[str, str], await self.redis.hgetall(hash_key))

    async def session(self, sid: str) -> dict[str, str]:
        """The stored fields of one session ({} if unknown)."""
        return await self._fields(key("session", sid=sid))

    async def session_fields(self, sid: str, fields: list[str]) -> list[str | None]:
        """Some fields of one session (None for each if unknown)."""
        return cast(list[str | None], await self.redis.hmget(key("session", sid=sid), fields))

    async def session_field(self, sid: str, name: str) -> str | None:
        """One field of one session."""
        return cast(str | None, await self.redis.hget(key("session", sid=sid), name))

    async def session_ids(self) -> list[str]:
        """Every session whose hash exists (the session numbers, sorted): a SCAN, for batch jobs."""
        pattern = key("session", sid="*")
        prefix = pattern[:-1]
        sids = set()
        async for k in self.redis.scan_iter(match=pattern, count=500, _type="HASH"):
            rest = cast(str, k)[len(prefix):]
            if ":" not in rest:  # rw:s:<sid>, not one of its side keys
                sids.add(rest)
        return sorted(sids)

    async def active_sessions(self) -> set[str]:
        """The sessions still open or awaiting a rating (the active set)."""
        return cast(set[str], await self.redis.smembers(key("active")))

    async def agent(self, aid: str) -> dict[str, str]:
        return await self._fields(key("agent", aid=aid))

    async def agents_field(self, aids: list[str], name: str) -> list[str | None]:
        """One field of each specialist, in one round trip."""
        async with self.redis.pipeline(transaction=False) as p:
            for aid in aids:
                p.hget(key("agent", aid=aid), name)
            return cast(list[str | None], await p.execute())

    async def session_events(self, sid: str) -> list[dict[str, str]]:
        """The session's own event stream, oldest first."""
        reply = cast(list[tuple[str, dict[str, str] | None]], await self.redis.xrange(key("session_events", sid=sid)))
        return [ev for _id, ev in read_entries(reply)]

    async def notes(self, sid: str) -> list[dict[str, Any]]:
        return [json.loads(n) for n in await self.redis.lrange(key("notes", sid=sid), 0, -1)]

    # --- conversation (issue 18, helper C): chat and hang-up --------------------------------

    async def chat(self, sid: str, party: str, who: str, text: str, quick: str = "", *, cap: int,
                   now: int | None = None) -> Result:
        """Keep one message of the specialist holding ``sid`` or of its booth (``party``), atomically."""
        return await self.call("rw_chat", now=now, sid=sid, party=party, who=who, text=text, quick=quick, cap=cap)

    async def chat_log(self, sid: str) -> list[dict[str, Any]]:
        """The session's messages, oldest first."""
        return [json.loads(m) for m in await self.redis.lrange(key("chat", sid=sid), 0, -1)]

    async def hang_up(self, sid: str, booth: str, now: int | None = None) -> Result:
        """The citizen ends the call at the booth: completed, no outcome (``rw_hang_up``)."""
        return await self.call("rw_hang_up", now=now, sid=sid, booth=booth)

    async def booth_session(self, booth: str) -> str | None:
        """The open session of a booth, if any (a reloaded kiosk page resumes it)."""
        return cast(str | None, await self.redis.get(key("booth_session", booth=booth)))

