"""The Redis side of the dashboards: every command and script they send, and nothing else.

The aggregates, records, bad reviews, presence index and state counts are the dashboard's own
keys (``rw:dash:*``); the queues, offers, transfers, pools and session hashes it reads are the
queue's, read here as they are (one pipeline for the live structures). The Lua is in
``dashboard/lua/``: ``vadd.lua`` (a vector of counts added to a hash field) is prepended to the
consumer's batch write (``apply.lua``) and to the bulk path's (``bulk_vadd.lua``);
``review_step.lua`` records a bad review's follow-up step.

The client decodes replies (``store.client``): redis-py types them ``bytes | str``, they are
str, cast once here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from window_server.domain.routing import Tier
from window_server.store.client import acked_script
from window_server.store.keys import key

#: The dashboard's consumer group on the chain's event log.
GROUP = "rw-dashboard"
STREAM = key("events")

Entries = list[tuple[str, dict[str, str] | None]]


def _lua(name: str) -> str:
    return resources.files("window_server.dashboard").joinpath("lua", name).read_text(encoding="utf-8")


@dataclass(frozen=True)
class LiveRead:
    """The live structures as read in one round trip (``DashboardStore.live``)."""

    queued: list[str]  # every queue's members, queue by queue, oldest first
    offered: list[str]
    transfers: list[str]
    presence: dict[str, str]  # aid -> JSON
    states: dict[str, str]  # state -> sessions in it
    totals: list[dict[str, str]]  # per scope: today's totals hash
    reviews: list[tuple[int, int]]  # per scope: (open, overdue)
    pools: list[tuple[int, int, int]]  # per queue: (own available, partner available, staff)


@dataclass(frozen=True)
class SpecialistsRead:
    """A centre's specialists as read in one round trip (``DashboardStore.specialists``)."""

    agents: list[list[str | None]]  # per specialist: status, since, session (the queue's own hash)
    names: list[str | None]  # per specialist: display name
    changes: list[str]  # the centre's presence changes of the day (JSON)
    counts: list[str | None]  # per specialist: the day's counts "n,n,…" (COUNTS order)


class DashboardStore:
    """Reads for pages, pushes and exports; the consumer's group reads and atomic batch write;
    the bad reviews' follow-up; the viewers' leases."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        vadd = _lua("vadd.lua")
        self._review_step = redis.register_script(_lua("review_step.lua"))
        self._apply = redis.register_script(vadd + _lua("apply.lua"))
        self._bulk_vadd = redis.register_script(vadd + _lua("bulk_vadd.lua"))

    # --- live ------------------------------------------------------------------------------------

    async def live(
        self, queues: Sequence[tuple[str, str]], scopes: Sequence[str], *, layout: str, day: str, dim: str, now: int
    ) -> LiveRead:
        """Queues, offers, transfers, presence, state counts; per scope the day's ``dim`` aggregate and its
        open and overdue bad reviews; the pools per queue: one pipeline."""
        async with self.redis.pipeline(transaction=False) as p:
            for region, lang in queues:
                p.zrange(key("queue", region=region, lang=lang), 0, -1, withscores=True)
            p.zrange(key("offers"), 0, -1)
            p.zrange(key("transfer_deadlines"), 0, -1)
            p.hgetall(key("dash_presence"))
            p.hgetall(key("dash_states"))
            for scope in scopes:
                p.hgetall(key("dash_agg", layout=layout, day=day, scope=scope, dim=dim))
                p.zcard(key("dash_reviews_open", scope=scope))
                p.zcount(key("dash_reviews_open", scope=scope), "-inf", now)
            for region, lang in queues:
                p.zcard(key("available", region=region, tier=Tier.OWN.value, lang=lang))
                p.zcard(key("available", region=region, tier=Tier.PARTNER.value, lang=lang))
                p.scard(key("staff", region=region, lang=lang))
            r: list[Any] = await p.execute()
        nq = len(queues)
        i, n = nq + 4, len(scopes)
        scoped = [r[i + 3 * j: i + 3 * j + 3] for j in range(n)]
        i += 3 * n
        return LiveRead(
            queued=[sid for members in r[:nq] for sid, _score in members],
            offered=r[nq], transfers=r[nq + 1], presence=r[nq + 2], states=r[nq + 3],
            totals=[s[0] for s in scoped],
            reviews=[(int(s[1]), int(s[2])) for s in scoped],
            pools=[(int(r[i + 3 * j]), int(r[i + 3 * j + 1]), int(r[i + 3 * j + 2])) for j in range(nq)],
        )

    async def sessions(self, sids: Sequence[str], fields: Sequence[str]) -> list[list[str | None]]:
        """The ``fields`` of each session's hash, in one pipeline."""
        async with self.redis.pipeline(transaction=False) as p:
            for sid in sids:
                p.hmget(key("session", sid=sid), list(fields))
            return cast(list[list[str | None]], await p.execute())

    async def presence(self) -> dict[str, str]:
        """The presence index: specialist -> JSON {status, centre, since, id}."""
        return cast(dict[str, str], await self.redis.hgetall(key("dash_presence")))

    async def specialists(self, aids: Sequence[str], *, layout: str, day: str, centre: str,
                          dim: str) -> SpecialistsRead:
        """Each specialist's queue presence (status, since, session) and display name, the centre's
        presence changes of ``day`` and the chain's per-specialist counts of ``day``: one pipeline."""
        async with self.redis.pipeline(transaction=False) as p:
            for aid in aids:
                p.hmget(key("agent", aid=aid), ["status", "since", "session"])
                p.hget(key("user", username=aid), "name")
            p.zrange(key("dash_presday", day=day, centre=centre), 0, -1)
            if aids:
                p.hmget(key("dash_agg", layout=layout, day=day, scope="chain", dim=dim), list(aids))
            r: list[Any] = await p.execute()
        n = len(aids)
        return SpecialistsRead(
            agents=[r[2 * i] for i in range(n)], names=[r[2 * i + 1] for i in range(n)],
            changes=r[2 * n], counts=r[2 * n + 1] if aids else [],
        )

    async def user_names(self, usernames: Sequence[str]) -> list[str | None]:
        """Each user's display name (None for none), in one pipeline."""
        async with self.redis.pipeline(transaction=False) as p:
            for u in usernames:
                p.hget(key("user", username=u), "name")
            return cast(list[str | None], await p.execute())

    # --- aggregates ------------------------------------------------------------------------------

    async def aggregates(
        self, cells: Iterable[tuple[str, str, str]], layout: str, reviews_of: str | None = None, now: int = 0
    ) -> tuple[list[dict[str, str]], tuple[int, int]]:
        """The aggregate hashes of (day, scope, dim) ``cells``, and the open and overdue bad reviews of
        scope ``reviews_of`` (0, 0 when None), in one pipeline."""
        async with self.redis.pipeline(transaction=False) as p:
            n = 0
            for day, scope, dim in cells:
                p.hgetall(key("dash_agg", layout=layout, day=day, scope=scope, dim=dim))
                n += 1
            if reviews_of is not None:
                p.zcard(key("dash_reviews_open", scope=reviews_of))
                p.zcount(key("dash_reviews_open", scope=reviews_of), "-inf", now)
            r: list[Any] = await p.execute()
        counts = (int(r[n]), int(r[n + 1])) if reviews_of is not None else (0, 0)
        return r[:n], counts

    # --- bad reviews -----------------------------------------------------------------------------

    async def review_ids(self, scope: str, status: str, now: int, limit: int) -> list[str]:
        """Bad reviews of a scope: all (newest rating first), or open ones by next deadline
        (``overdue``: only those past it at ``now``)."""
        if status == "all":
            return cast(list[str], await self.redis.zrevrange(key("dash_reviews", scope=scope), 0, limit - 1))
        hi: int | str = now if status == "overdue" else "+inf"
        return cast(list[str], await self.redis.zrangebyscore(key("dash_reviews_open", scope=scope), "-inf", hi,
                                                              0, limit))

    async def reviews_with_comments(self, sids: Sequence[str]) -> list[tuple[dict[str, str], str | None]]:
        """Each bad review with its session's rating comment, in one pipeline."""
        async with self.redis.pipeline(transaction=False) as p:
            for sid in sids:
                p.hgetall(key("dash_review", sid=sid))
                p.hget(key("session", sid=sid), "rating_comment")
            r: list[Any] = await p.execute()
        return [(r[2 * i], r[2 * i + 1]) for i in range(len(sids))]

    async def review(self, sid: str) -> dict[str, str]:
        """A bad review's hash ({} if none)."""
        return cast(dict[str, str], await self.redis.hgetall(key("dash_review", sid=sid)))

    async def record_step(self, sid: str, scopes: Iterable[str], step: str, prev: str, by: str, now: int,
                          note: str) -> str:
        """Record a follow-up step atomically: ``ok``, ``not_found``, ``already_recorded`` or ``out_of_order``."""
        keys = [key("dash_review", sid=sid), key("events"), key("session_events", sid=sid), key("session", sid=sid),
                *(key("dash_reviews_open", scope=s) for s in scopes)]
        return str(await acked_script(self.redis, self._review_step, keys, [step, prev, by, str(now), note]))

    # --- exports ---------------------------------------------------------------------------------

    async def index_chunk(self, index: str, day: str, scope: str, start: int, count: int) -> list[str]:
        """Members ``start`` .. ``start + count - 1`` of a per-day index (``dash_sessions``, ``dash_ratings``)."""
        return cast(list[str], await self.redis.zrange(key(index, day=day, scope=scope), start, start + count - 1))

    async def export_rows(self, sids: Sequence[str]) -> list[tuple[dict[str, str], str | None, dict[str, str]]]:
        """Each session's hash, folded record (None once expired) and bad review, in one pipeline."""
        async with self.redis.pipeline(transaction=False) as p:
            for sid in sids:
                p.hgetall(key("session", sid=sid))
                p.get(key("dash_record", sid=sid))
                p.hgetall(key("dash_review", sid=sid))
            r: list[Any] = await p.execute()
        return [(r[3 * i], r[3 * i + 1], r[3 * i + 2]) for i in range(len(sids))]

    # --- the consumer ----------------------------------------------------------------------------

    async def create_group(self) -> bool:
        """Create the group at the start of the log; False if it exists already."""
        try:
            await self.redis.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
            return False
        return True

    async def read_group(self, consumer: str, count: int, block_ms: int) -> Entries:
        """The next entries of the log delivered to ``consumer`` (waits up to ``block_ms``)."""
        reply = await self.redis.xreadgroup(GROUP, consumer, {STREAM: ">"}, count=count, block=block_ms)
        return [e for _stream, entries in cast(list[tuple[str, Entries]], reply or []) for e in entries]

    async def autoclaim(self, consumer: str, min_idle_ms: int, start: str, count: int) -> tuple[str, Entries]:
        """Claim entries pending longer than ``min_idle_ms`` from ``start``: the next start and the entries."""
        reply = await self.redis.xautoclaim(STREAM, GROUP, consumer, min_idle_ms, start, count=count)
        return str(reply[0]), cast(Entries, reply[1])

    async def records_and_streams(self, sids: Sequence[str], cap: int) -> list[tuple[str | None, Entries]]:
        """Each session's stored record and its own stream (at most ``cap`` entries), in one pipeline."""
        async with self.redis.pipeline(transaction=False) as p:
            for sid in sids:
                p.get(key("dash_record", sid=sid))
                p.xrange(key("session_events", sid=sid), "-", "+", count=cap)
            r: list[Any] = await p.execute()
        return [(r[2 * i], r[2 * i + 1]) for i in range(len(sids))]

    async def apply(self, plan_json: str) -> bool:
        """Write a batch's plan and acknowledge its entries, all or nothing; False if a record changed."""
        done = await self._apply(keys=[STREAM, key("dash_presence"), key("dash_states")], args=[GROUP, plan_json])
        return bool(int(done))

    async def group_info(self) -> dict[str, Any] | None:
        """The group's XINFO GROUPS entry (None before it exists)."""
        try:
            groups: list[dict[str, Any]] = await self.redis.xinfo_groups(STREAM)
        except ResponseError:  # no stream yet
            return None
        return next((dict(g) for g in groups if g["name"] == GROUP), None)

    async def last_generated_id(self) -> str:
        """The id of the log's newest entry."""
        return str((await self.redis.xinfo_stream(STREAM))["last-generated-id"])

    async def bulk_write(self, calls: Sequence[tuple[str, Any]], per_pipeline: int) -> None:
        """Carry out the bulk path's writes in pipelines of ``per_pipeline`` calls: ``vadd`` (key, [field,
        vector, …]), ``zadd`` (key, mapping), ``set`` (key, value, px), ``hset`` (key, mapping), ``state``
        (state, delta)."""
        step = max(1, per_pipeline)
        for start in range(0, len(calls), step):  # pipelines of bounded size: no reply waits too long
            async with self.redis.pipeline(transaction=False) as p:
                for name, a in calls[start:start + step]:
                    if name == "vadd":
                        await self._bulk_vadd(keys=[a[0]], args=a[1], client=p)
                    elif name == "zadd":
                        p.zadd(a[0], a[1])
                    elif name == "set":
                        p.set(a[0], a[1], px=a[2])
                    elif name == "hset":
                        p.hset(a[0], mapping=a[1])
                    else:
                        p.hincrby(key("dash_states"), a[0], a[1])
                await p.execute()

    # --- viewers ---------------------------------------------------------------------------------

    async def set_viewer(self, node: str, entry: str) -> None:
        """Write a node's rooms and lease (JSON)."""
        await self.redis.hset(key("dash_viewers"), node, entry)

    async def drop_viewers(self, *nodes: str) -> None:
        await self.redis.hdel(key("dash_viewers"), *nodes)

    async def viewers(self) -> dict[str, str]:
        """Node -> JSON {rooms, until}."""
        return cast(dict[str, str], await self.redis.hgetall(key("dash_viewers")))
