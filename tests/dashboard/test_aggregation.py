"""The consumer's folds do not depend on delivery: order, duplicates, a second consumer, the bulk path."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from tests.dashboard.conftest import DAY
from tests.dashboard.test_api import samples
from tests.dashboard.test_scripted_day import EXPECTED_DAY, play_the_day
from tests.signaling.conftest import SECRET, token
from window_server.dashboard.aggregator import Aggregator, bulk_load
from window_server.dashboard.live import Viewers
from window_server.dashboard.rules import is_wrap_end
from window_server.dashboard.store import GROUP, STREAM, DashboardStore
from window_server.domain.auth import Role
from window_server.domain.metrics import PRESENCE
from window_server.runtime.redis_server import free_port
from window_server.store.client import make_redis
from window_server.store.events import read_entries
from window_server.store.keys import key


async def snapshot(redis: Redis) -> dict[str, Any]:
    """Every dashboard key and its value."""
    out: dict[str, Any] = {}
    async for k in redis.scan_iter(match="rw:dash:*", count=1000):
        kind = await redis.type(k)
        if kind == "hash":
            out[k] = await redis.hgetall(k)
        elif kind == "zset":
            out[k] = await redis.zrange(k, 0, -1, withscores=True)
        elif kind == "string":
            out[k] = await redis.get(k)
    return out


async def clear(redis: Redis) -> None:
    keys = [k async for k in redis.scan_iter(match="rw:dash:*", count=1000)]
    if keys:
        await redis.delete(*keys)


def counters(snap: dict[str, Any]) -> dict[str, Any]:
    """The aggregates proper (what the API sums): hashes per day, scope and view; zero cells dropped."""
    return {k: {f: v for f, v in h.items() if v != "0"} for k, h in snap.items() if k.startswith("rw:dash:agg:")}


async def test_shuffled_batches_duplicates_and_two_consumers_fold_to_the_same_aggregates(dash_factory: Any) -> None:
    d = await dash_factory()
    await play_the_day(d)
    await d.drained()
    redis = d.store.redis
    in_order = await snapshot(redis)
    assert counters(in_order)

    entries = await redis.xrange(STREAM)
    rng = random.Random(8)
    for trial in range(5):
        await clear(redis)
        shuffled = entries + rng.sample(entries, len(entries) // 3)  # a third delivered twice
        rng.shuffle(shuffled)
        first = Aggregator(DashboardStore(redis), d.dashboard.aggregator.folder, consumer=f"t{trial}-a")
        second = Aggregator(DashboardStore(redis), d.dashboard.aggregator.folder, consumer=f"t{trial}-b")
        i = 0
        while i < len(shuffled):  # two consumers take turns with batches of random size
            n = rng.randint(1, 7)
            await (first if rng.random() < 0.5 else second).process(shuffled[i:i + n])
            i += n
        again = await snapshot(redis)
        assert counters(again) == counters(in_order), trial
        assert again == in_order, trial  # indexes, records, reviews, presence and states too


async def test_the_bulk_path_writes_what_the_consumer_wrote(dash_factory: Any) -> None:
    d = await dash_factory()
    await play_the_day(d)
    await d.drained()
    redis = d.store.redis
    in_order = await snapshot(redis)
    sessions: dict[str, list[tuple[str, dict[str, str]]]] = defaultdict(list)
    for entry_id, ev in read_entries(await redis.xrange(STREAM)):
        if ev.get("act") != PRESENCE and ev.get("sid"):
            sessions[ev["sid"]].append((entry_id, ev))
    assert any(is_wrap_end(e) for evs in sessions.values() for _, e in evs)
    await clear(redis)
    n = await bulk_load(DashboardStore(redis), d.dashboard.aggregator.folder, sessions.items(), now_ms=d.store.now_ms())
    assert n == 7
    bulk = await snapshot(redis)
    assert counters(bulk) == counters(in_order)
    for k in in_order:
        # the bulk path folds sessions, not presence (the index, the day's changes)
        if not k.startswith((key("dash_presence"), "rw:dash:presday:")):
            assert bulk.get(k) == in_order[k], k


async def test_a_dead_consumers_pending_entries_are_claimed(dash_factory: Any) -> None:
    d = await dash_factory()
    redis = d.store.redis
    await d.drained()
    # A consumer that reads a batch and dies before it writes anything.
    await d.dashboard.aggregator.ensure_group()
    for task in d.dashboard.tasks[:1]:  # stop this node's consumer while the day is played
        task.cancel()
    await play_the_day(d)
    dead = await redis.xreadgroup(GROUP, "dead-node", {STREAM: ">"}, count=10_000)
    assert dead and dead[0][1]
    pending = await redis.xpending(STREAM, GROUP)
    assert pending["pending"] == len(dead[0][1])
    survivor = Aggregator(DashboardStore(redis), d.dashboard.aggregator.folder, consumer="survivor")
    await survivor.claim(min_idle_ms=0)  # idle time is Redis' own clock: take anything pending
    assert (await redis.xpending(STREAM, GROUP))["pending"] == 0
    await d.login("chief", Role.CHAIN_MANAGER)
    status, body = await d.get(f"/api/dashboard/kpis?from={DAY}", "chief")
    assert status == 200 and body["total"]["tickets"] == 7


async def test_two_nodes_share_the_folding_and_push_to_each_others_dashboards(dash_factory: Any,
                                                                           clients: Any) -> None:
    a = await dash_factory(secret=SECRET)
    b = await dash_factory(clock=a.clock, secret=SECRET)
    watcher = clients("/dashboard")
    await watcher.connect(b.srv.url, token(Role.MANAGER, "m", a.chain.intake, "/dashboard"))
    await a.at(0)
    await a.ticket("b0")  # made on node A, seen by a dashboard connected to node B
    pushed = await watcher.next("queue_update", lambda p: p["totals"]["waiting"] == 1)
    assert pushed["scope"] == a.chain.intake
    await a.queue.leave(await a.store.booth_session("b0") or "", "b0")
    await play_the_day(a)
    await a.drained()
    consumers = await a.store.redis.xinfo_consumers(STREAM, GROUP)
    assert len(consumers) == 2
    await b.login("chief", Role.CHAIN_MANAGER)
    status, body = await b.get(f"/api/dashboard/kpis?from={DAY}", "chief")
    expected = dict(EXPECTED_DAY)
    for name in ("tickets", "abandoned", "short_abandons"):  # b0 took a ticket and left at once
        expected[name] += 1
    expected["abandonment_rate"] = 3 / 8
    expected["service_level"] = 2 / 4  # b0 was a short abandon: out of the base
    assert body["total"] == expected


async def push_reads(d: Any) -> float:
    """The node's live-snapshot reads for pushes, from its /metrics."""
    async with d.srv.http.get(d.srv.url + "/metrics") as resp:
        return samples(await resp.text()).get(("rw_dashboard_push_reads_total", ()), 0.0)


async def test_nothing_is_read_for_dashboards_nobody_watches(dash_factory: Any, clients: Any) -> None:
    a = await dash_factory(secret=SECRET)
    b = await dash_factory(clock=a.clock, secret=SECRET)
    await a.at(0)
    await a.ticket("b0")  # no dashboard open on any node
    await a.drained()  # folded, and so marked changed, by one of the nodes
    async with asyncio.timeout(10):
        await a.dashboard.pusher.settled()
        await b.dashboard.pusher.settled()
    assert await push_reads(a) == 0 and await push_reads(b) == 0

    watcher = clients("/dashboard")  # a page opened on node B later still shows that change
    await watcher.connect(b.srv.url, token(Role.MANAGER, "m", a.chain.intake, "/dashboard"))
    await watcher.next("queue_update", lambda p: p["totals"]["waiting"] == 1)
    await a.ticket("b1")  # and a change on node A reaches it
    await watcher.next("queue_update", lambda p: p["totals"]["waiting"] == 2)
    assert await push_reads(a) + await push_reads(b) >= 2


async def test_viewers_are_counted_per_room_across_nodes_with_a_lease(redis: Redis) -> None:
    now = [1000.0]
    one, two = (Viewers(DashboardStore(redis), node, lease_s=30, clock=lambda: now[0]) for node in ("n1", "n2"))
    await asyncio.gather(one.joined("chain"), one.joined("centre:x"), one.joined("centre:x"))
    await two.joined("centre:y")
    assert await one.watched() == await two.watched() == {"chain", "centre:x", "centre:y"}
    await one.left("centre:x")  # one page of two closed: still watched
    await one.left("chain")
    assert await two.watched() == {"centre:x", "centre:y"}
    await one.left("centre:x")
    assert await two.watched() == {"centre:y"}
    now[0] += 31  # node two died without a word: its lease runs out, and its entry goes
    assert await one.watched() == set()
    assert await redis.hlen(key("dash_viewers")) == 0


async def test_a_page_refused_because_redis_is_gone_is_not_counted() -> None:
    gone = make_redis(f"redis://127.0.0.1:{free_port()}/0", timeout=1)  # nothing listens there
    viewers = Viewers(DashboardStore(gone), "n1")
    with pytest.raises((RedisError, OSError)):
        await viewers.joined("chain")
    assert not viewers.local
    await gone.aclose()
