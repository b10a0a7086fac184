"""Fold ``rw:events`` into the dashboard's aggregates: one consumer group, a consumer per node.

Every node reads the group ``rw-dashboard`` with XREADGROUP, so each event is delivered to one
node. Delivery order across nodes is not log order, so a session is never folded event by event:
for every session a batch touches, the consumer reads the session's own stream (which holds all
its transitions, in log order), adds the ``wrap_end`` events it has seen for it (those are only
in the global log), refolds the session from scratch with the metrics module, and stores the
*difference* between the session's cells before and after. The write is one Lua call that
first checks the session's stored record is still the one read (compare-and-set), then adds the
differences, updates the indexes and XACKs the batch: all or nothing. A duplicate delivery
(a claimed entry, a retried batch) refolds to the same facts and adds nothing.

A consumer that dies leaves its entries pending; any node's consumer claims entries idle for
``CLAIM_IDLE_MS`` with XAUTOCLAIM and folds them (again, harmlessly). With Redis down the loop
logs once and retries; pages keep showing the last figures and the live ones come back with it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from redis.exceptions import RedisError

from window_server.dashboard.rules import (
    BAD_LEVELS,
    CHAIN,
    DAY_MS,
    LAYOUT,
    Cell,
    FoldConfig,
    Record,
    ReviewPolicy,
    SessionView,
    Vector,
    add,
    cells,
    derive,
    diff,
    encode,
    id_key,
    is_wrap_end,
    local_day,
    max_id,
    next_due,
    review_centre,
    review_fields,
    review_scopes,
    view_scopes,
)
from window_server.dashboard.store import GROUP, STREAM, DashboardStore
from window_server.domain.catalogue import Catalogue
from window_server.domain.metrics import PRESENCE
from window_server.runtime.tasks import cancelled, pause
from window_server.store.events import read_entries
from window_server.store.keys import key

log = logging.getLogger(__name__)

#: A session's record lives this long after its last change (sessions end within hours).
RECORD_TTL_MS = 14 * DAY_MS
#: A session first seen this long after its enqueue was counted before its record expired.
STALE_MS = RECORD_TTL_MS - DAY_MS
#: Pending entries idle this long belong to a consumer presumed dead: claim them.
CLAIM_IDLE_MS = 30_000
CLAIM_EVERY_S = 10.0
MAX_ATTEMPTS = 8
SESSION_EVENTS_CAP = 2000
#: A centre's presence changes of one day are kept this long (today's occupancy needs only today).
PRESENCE_DAY_TTL_MS = 3 * DAY_MS

@dataclass
class Plan:
    """What one batch writes; ``centres`` are the scopes it changed (for live pushes)."""

    cas: list[list[str]] = field(default_factory=list)
    sets: list[list[Any]] = field(default_factory=list)
    incr: dict[Cell, Vector] = field(default_factory=dict)
    zadd: list[list[Any]] = field(default_factory=list)
    hset: list[list[Any]] = field(default_factory=list)
    state: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    pres: list[list[str]] = field(default_factory=list)
    expire: list[list[str]] = field(default_factory=list)
    ack: list[str] = field(default_factory=list)
    centres: set[str] = field(default_factory=set)

    def add(self, changes: dict[Cell, Vector]) -> None:
        for cell, v in changes.items():
            self.incr[cell] = add(self.incr[cell], v) if cell in self.incr else v

    def increments(self) -> list[list[Any]]:
        """The counter changes as [key, group, "n,n,…"], cells that cancelled out left out."""
        keys: dict[tuple[str, str, str], str] = {}
        out = []
        for (day, scope, dim, group), v in self.incr.items():
            if any(v):
                k = keys.get((day, scope, dim))
                if k is None:
                    k = keys[(day, scope, dim)] = key("dash_agg", layout=LAYOUT, day=day, scope=scope, dim=dim)
                out.append([k, group, encode(v)])
        return out

    def to_json(self) -> str:
        return json.dumps(
            {
                "cas": self.cas, "set": self.sets, "incr": self.increments(), "zadd": self.zadd,
                "hset": self.hset, "state": [[s, str(v)] for s, v in self.state.items() if v],
                "pres": self.pres, "expire": self.expire, "ack": self.ack,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )


class Folder:
    """Turns a session's events into the plan's changes (no I/O)."""

    def __init__(self, cfg: FoldConfig, tz: ZoneInfo, policy: ReviewPolicy, catalogue: Catalogue) -> None:
        self.cfg = cfg
        self.tz = tz
        self.policy = policy
        self.catalogue = catalogue

    def province(self, centre: str) -> str:
        return self.catalogue.centre(centre).province if self.catalogue.has_centre(centre) else ""

    def session(
        self,
        plan: Plan,
        sid: str,
        stored: str | None,
        stream: Sequence[tuple[str, dict[str, str]]],
        wraps: Iterable[tuple[str, dict[str, str]]] = (),
        *,
        keep_record: bool = True,
    ) -> None:
        """Refold one session and add the difference to what was counted for it to ``plan``."""
        rec = Record.load(stored) if stored else None
        known = dict(rec.wraps) if rec else {}
        new_wraps = {i: e for i, e in wraps if i not in known}
        known.update(new_wraps)
        events = [*stream, *known.items()]
        if not events:
            return
        last = max_id(i for i, _ in events)
        if rec is not None and not new_wraps and id_key(last) <= id_key(rec.last or "0-0"):
            return  # nothing new (a duplicate delivery)
        view = derive(events)
        if view is None:
            return  # its enqueue is not in the log (trimmed): nothing to count
        before_view = rec.view if rec else None
        if rec is None and max(int(e.get("ts", 0)) for _, e in events) - view.facts.enq > STALE_MS:
            log.info("session=%s: its record expired long ago; not counted again", sid)
            return
        before = cells(before_view, rec.cfg if rec else self.cfg, self.tz)
        after = cells(view, self.cfg, self.tz)
        plan.add(diff(before, after) if before else after)
        old_state = before_view.state if before_view else ""
        if old_state != view.state:
            if old_state:
                plan.state[old_state] -= 1
            plan.state[view.state] += 1
        f = view.facts
        day = next(iter(after))[0]
        old_scopes = set(view_scopes(before_view))
        now_scopes = view_scopes(view)
        new_scopes = [s for s in now_scopes if s not in old_scopes]
        for s in new_scopes:
            plan.zadd.append([key("dash_sessions", day=day, scope=s), str(f.enq), sid])
        was_rated = bool(before_view and before_view.facts.level)
        if f.level and view.rated_at is not None:
            for s in now_scopes if not was_rated else new_scopes:
                plan.zadd.append([key("dash_ratings", day=day, scope=s), str(view.rated_at), sid])
            if f.level in BAD_LEVELS and not was_rated:
                self._bad_review(plan, sid, view)
        plan.centres.update(s for s in (*old_scopes, *now_scopes) if s != CHAIN)
        # The centres that may serve its region see their queue change too.
        region = next((e.get("region", "") for _, e in events if e.get("act") == "enqueue"), "")
        plan.centres.update(c.id for c in self.catalogue.centres_serving(region))
        if keep_record:
            wrap_list = sorted(known.items(), key=lambda e: id_key(e[0]))
            plan.cas.append([key("dash_record", sid=sid), stored or ""])
            plan.sets.append([key("dash_record", sid=sid), Record(view, self.cfg, last, wrap_list).dump(),
                             str(RECORD_TTL_MS)])

    def _bad_review(self, plan: Plan, sid: str, view: SessionView) -> None:
        f = view.facts
        # Attributed to the centre that completed the session (its province's deadlines): rules.review_centre.
        fields = review_fields(view, self.province(review_centre(view)), f.agent, self.policy)
        fields["sid"] = sid
        flat: list[str] = []
        for k, v in fields.items():
            flat += [k, v]
        plan.hset.append([key("dash_review", sid=sid), flat])
        due = next_due(fields)
        for s in review_scopes(fields):
            plan.zadd.append([key("dash_reviews", scope=s), fields["rated_at"], sid])
            plan.zadd.append([key("dash_reviews_open", scope=s), str(due), sid])

    def presence(self, plan: Plan, entry_id: str, ev: dict[str, str]) -> None:
        """Keep the presence index: the newest presence event of each specialist wins."""
        aid = ev.get("aid", "")
        if not aid:
            return
        centre = ev.get("centre", "")
        ts = int(ev.get("ts", 0) or 0)
        value = {"status": ev.get("to", ""), "centre": centre, "since": ts, "id": entry_id}
        plan.pres.append([aid, entry_id, json.dumps(value, separators=(",", ":"))])
        if centre:
            plan.centres.add(centre)
            # The centre's presence changes of the day, for its specialists' occupancy (metrics.occupancy);
            # a duplicate delivery adds the same member again: nothing.
            k = key("dash_presday", day=local_day(ts, self.tz), centre=centre)
            change = {"aid": aid, "from": ev.get("from", ""), "to": ev.get("to", ""), "ts": str(ts), "id": entry_id}
            plan.zadd.append([k, str(ts), json.dumps(change, separators=(",", ":"), sort_keys=True)])
            plan.expire.append([k, str(PRESENCE_DAY_TTL_MS)])


class Aggregator:
    """This node's consumer of the dashboard group."""

    def __init__(
        self,
        store: DashboardStore,
        folder: Folder,
        *,
        consumer: str,
        on_change: Callable[[set[str]], None] | None = None,
        on_events: Callable[[list[dict[str, str]]], None] | None = None,
        block_ms: int = 1000,
        batch: int = 100,
    ) -> None:
        self.store = store
        self.folder = folder
        self.consumer = consumer
        self.on_change = on_change
        self.on_events = on_events
        self.block_ms = block_ms
        self.batch = batch
        self._progress = asyncio.Condition()
        self._group_ready = False

    async def ensure_group(self) -> None:
        """Create the group at the start of the log (a new deployment folds all history)."""
        if await self.store.create_group():
            log.info("dashboard: consumer group %s created on %s", GROUP, STREAM)
        self._group_ready = True

    async def run(self) -> None:
        """Read, fold and acknowledge until cancelled; Redis trouble is logged and retried."""
        loop = asyncio.get_running_loop()
        claim_at = 0.0
        failing = False
        while True:
            if cancelled():  # a cancel swallowed by a blocking read (Python 3.11 asyncio.timeout)
                raise asyncio.CancelledError
            try:
                if not self._group_ready:
                    await self.ensure_group()
                if loop.time() >= claim_at:
                    claim_at = loop.time() + CLAIM_EVERY_S
                    await self.claim()
                entries = await self.store.read_group(self.consumer, self.batch, self.block_ms)
                if failing:
                    log.info("dashboard consumer: Redis answers again")
                    failing = False
                if entries:
                    await self.process(entries)
            except (RedisError, OSError) as exc:
                if cancelled():
                    raise asyncio.CancelledError from exc
                if "NOGROUP" in str(exc):
                    self._group_ready = False
                if not failing:
                    log.warning("dashboard consumer: Redis unavailable (%s); retrying", type(exc).__name__)
                    failing = True
                await pause(1.0)
            except Exception:
                if cancelled():
                    raise asyncio.CancelledError from None
                log.exception("dashboard consumer: a batch failed; its entries stay pending")
                await pause(1.0)

    async def claim(self, min_idle_ms: int = CLAIM_IDLE_MS) -> None:
        """Fold entries another consumer took and never acknowledged (it died)."""
        start = "0-0"
        while True:
            nxt, entries = await self.store.autoclaim(self.consumer, min_idle_ms, start, self.batch)
            if entries:
                log.info("dashboard consumer: claimed %d pending entries", len(entries))
                await self.process(entries)
            if nxt == "0-0" or not entries:
                return
            start = nxt

    async def process(self, entries: Sequence[tuple[str, dict[str, str] | None]]) -> None:
        """Fold one batch and acknowledge it in the same atomic write."""
        batch = [(i, ev) for i, ev in read_entries(entries) if ev]
        sids: set[str] = set()
        wraps: dict[str, list[tuple[str, dict[str, str]]]] = defaultdict(list)
        presence: list[tuple[str, dict[str, str]]] = []
        for entry_id, ev in batch:
            if ev.get("act") == PRESENCE:
                presence.append((entry_id, ev))
            elif sid := ev.get("sid"):
                sids.add(sid)
                if is_wrap_end(ev):
                    wraps[sid].append((entry_id, ev))
        ordered = sorted(sids)
        for _attempt in range(MAX_ATTEMPTS):
            plan = Plan(ack=[i for i, _ in entries])
            if ordered:
                replies = await self.store.records_and_streams(ordered, SESSION_EVENTS_CAP)
                for sid, (stored, stream) in zip(ordered, replies, strict=True):
                    self.folder.session(plan, sid, stored, read_entries(stream), wraps.get(sid, ()))
            for entry_id, ev in presence:
                self.folder.presence(plan, entry_id, ev)
            if await self.store.apply(plan.to_json()):
                break
        else:
            log.warning("dashboard consumer: %d entries kept meeting concurrent writes; left pending",
                        len(entries))
            return
        if self.on_events is not None:
            self.on_events([ev for _, ev in batch])
        if self.on_change is not None and plan.centres | {CHAIN}:
            self.on_change(plan.centres)
        async with self._progress:
            self._progress.notify_all()

    async def group_info(self) -> dict[str, Any] | None:
        """The group's XINFO GROUPS entry (None before it exists)."""
        return await self.store.group_info()

    async def drained(self) -> None:
        """Wait until the group has delivered and acknowledged every entry of the log.

        Callers bound the wait with ``asyncio.timeout`` (tests, the benchmark).
        """
        while True:
            last = await self.store.last_generated_id()
            g = await self.store.group_info()
            if g and g["pending"] == 0 and g["last-delivered-id"] == last:
                return
            async with self._progress:
                try:
                    async with asyncio.timeout(0.05):
                        await self._progress.wait()
                except TimeoutError:
                    pass


async def bulk_load(
    store: DashboardStore,
    folder: Folder,
    sessions: Iterable[tuple[str, Sequence[tuple[str, dict[str, str]]]]],
    *,
    now_ms: int,
    per_call: int = 1000,
    pipeline_calls: int = 50,
) -> int:
    """Fold whole sessions' logs (wrap-ups included) without the stream: imports and seeding.

    The same ``Folder.session`` as the consumer, over sessions whose records do not exist yet;
    the differences are summed in memory and written per key with pipelines. Records are kept
    only for sessions recent enough that more events could still arrive. Not atomic and not for
    sessions the consumer has folded already. Returns the sessions folded.
    """
    plan = Plan()
    n = 0
    for sid, events in sessions:
        stream = [(i, e) for i, e in events if not is_wrap_end(e)]
        wrap_list = [(i, e) for i, e in events if is_wrap_end(e)]
        enq = min((int(e["ts"]) for _, e in events), default=now_ms)
        folder.session(plan, sid, None, stream, wrap_list, keep_record=now_ms - enq < STALE_MS)
        n += 1
    counters: dict[str, list[str]] = defaultdict(list)
    for k, f, v in plan.increments():
        counters[k] += [f, v]
    members: dict[str, dict[str, float]] = defaultdict(dict)
    for k, score, member in plan.zadd:
        members[k][member] = float(score)
    calls: list[tuple[str, Any]] = []
    for k, args in counters.items():
        calls += [("vadd", (k, args[i:i + per_call])) for i in range(0, len(args), per_call)]
    for k, mapping in members.items():
        items = list(mapping.items())
        calls += [("zadd", (k, dict(items[i:i + per_call]))) for i in range(0, len(items), per_call)]
    calls += [("set", (k, v, int(px))) for k, v, px in plan.sets]
    calls += [("hset", (k, dict(zip(flat[::2], flat[1::2], strict=True)))) for k, flat in plan.hset]
    calls += [("state", (s, v)) for s, v in plan.state.items() if v]
    await store.bulk_write(calls, pipeline_calls)
    return n
