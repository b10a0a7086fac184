"""Queue benchmark: offers per second and enqueue->offer latency on a real redis-server.

Set-up: a private redis-server (AOF everysec, as in production) on loopback; the demo chain's
22 centres; 200 specialists spread over them; 1,000 sessions waiting for matters across the
catalogue. Every specialist loops accept -> complete (wrap-up 0: available again at once and
offered the next session in the same call) while citizens keep the queue at 1,000 (one
enqueue per completion). A specialist left without an offer waits for one to be pushed, as
the signaling layer does: from the effects of a citizen's ticket or of the queue's clock
(run_ticker, as on every node). Two phases of ~10 s each:
1. saturation: as fast as the specialists can go -> offers/s (the throughput figure);
2. half load: the same loop paced at half the measured rate, while a probe citizen at a booth
   whose matter always has an idle specialist measures enqueue -> offer (the offer is made
   inside the enqueue). Latency at saturation only measures the client's own queueing.

Baselines measured in the same run with the same client and concurrency:
- raw EVAL/s: a minimal claim script (ZPOPMIN + HSET, the shape of an offer) called as fast as
  the same number of concurrent tasks can;
- raw round trip: PING p50;
- the client and Redis CPU one raw EVAL costs, printed next to what one offer costs (`cost:`),
  with the ratio each side's cost allows (docs/benchmarks.md explains the figures).
Afterwards the audit counts sessions lost or held twice (both must be 0).

Usage: .venv/bin/python bench/queue_bench.py [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from window_server.domain.routing import agent_pool
from window_server.queue.store import QueueStore, QueueTiming, Result
from window_server.queue.ticker import run_ticker
from window_server.runtime.catalogue import load_catalogue
from window_server.runtime.redis_server import EmbeddedRedis
from window_server.runtime.tasks import stop_tasks
from window_server.store.audit import audit
from window_server.store.client import make_redis

CLAIM = """
local m = redis.call('ZPOPMIN', KEYS[1])
if m[1] then redis.call('HSET', KEYS[2], m[1], ARGV[1]); redis.call('ZADD', KEYS[1], m[2], m[1]) end
return m[1]
"""
SPECIALISTS = 200
WAITING = 1000


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def redis_cpu(redis) -> float:
    """Seconds of CPU the Redis server has used so far (user + system)."""
    info = await redis.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def raw_baselines(redis, seconds: float, concurrency: int) -> tuple[float, float, float, float]:
    """raw EVAL/s, PING p50 (ms), and the CPU one raw EVAL costs this client and Redis (s)."""
    await redis.zadd("bench:q", {f"s{i}": i for i in range(WAITING)})
    sha = await redis.script_load(CLAIM)
    pings = []
    for _ in range(2000):
        t0 = time.perf_counter()
        await redis.ping()
        pings.append((time.perf_counter() - t0) * 1000)
    count = 0
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal count
        while time.perf_counter() < stop:
            await redis.evalsha(sha, 2, "bench:q", "bench:h", "a")
            count += 1

    t0, c0, r0 = time.perf_counter(), time.process_time(), await redis_cpu(redis)
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    rate = count / (time.perf_counter() - t0)
    client, server = (time.process_time() - c0) / count, (await redis_cpu(redis) - r0) / count
    await redis.delete("bench:q", "bench:h")
    return rate, statistics.median(pings), client, server


async def take_ticket(store: QueueStore, matter: Any, booth: str, *, elderly: bool) -> Result:
    """A citizen at a Huangpu booth asks for ``matter`` (every tenth in the priority lane)."""
    return await store.enqueue(booth=booth, intake_centre="sh-huangpu", matter=matter.code, region=matter.home_region,
                        lang="zh", priority="elderly" if elderly else "", source="walk_in", consent=True)


def _timing() -> QueueTiming:
    return QueueTiming(widen_ms=5_000, offer_ms=60_000, wrap_ms=0, heartbeat_ttl_ms=3_600_000)


async def specialists_load(url: str, seconds: float, pace: float | None) -> tuple[float, int, float, float]:
    """The 200 specialists' loop (accept -> complete -> the next offer, one new citizen per
    completion) for ``seconds``, as fast as possible or paced at ``pace`` offers/s. Returns
    offers/s, offers, seconds taken, and this client's CPU per offer (s).
    Every loop finishes its cycle before returning, so a later phase finds each specialist
    available or holding an offer."""
    catalogue = load_catalogue(None, None)
    matters = [m for m in catalogue.matters if m.code != "probe"]
    rng = random.Random(seconds)
    redis = make_redis(url, timeout=30, max_connections=256)
    store = QueueStore(redis, _timing(), time.time)
    centres = list(catalogue.centres)
    offers = 0
    next_slot = time.perf_counter()
    booth_no = 0
    gc.disable()  # the load generator's own collections would show up as queue latency

    async def paced() -> None:
        nonlocal next_slot
        if pace is None:
            return
        now = time.perf_counter()
        slot = max(now, next_slot)
        next_slot = slot + 1 / pace
        if slot > now:
            await asyncio.sleep(slot - now)

    # Offers reach a specialist the way the signaling layer pushes them: from the effects of
    # the call that made them (a citizen's ticket, the queue's clock), into that specialist's box.
    boxes: dict[str, asyncio.Future[str]] = {}

    def box(aid: str) -> asyncio.Future[str]:
        return boxes.setdefault(aid, asyncio.get_running_loop().create_future())

    async def deliver(fx: list[dict[str, Any]]) -> None:
        for e in fx:
            if e.get("kind") == "offer" and not box(e["agent"]).done():
                box(e["agent"]).set_result(e["sid"])

    async def citizen() -> None:
        nonlocal booth_no
        booth_no += 1
        res = await take_ticket(store, rng.choice(matters), f"b{pace}-{booth_no}", elderly=booth_no % 10 == 0)
        await deliver(res.fx)

    async def specialist(i: int, stop: float) -> None:
        nonlocal offers
        c = centres[i % len(centres)]
        aid = f"spec-{i:03d}"
        me = (await store.agent_login(aid, c.id, agent_pool(c.region, c.serves_regions), ("zh",))).ok
        offer = me.get("offer", "")
        if me.get("status") not in ("available", "offered"):
            offer = (await store.presence(aid, "available")).ok.get("offer", "")
        while time.perf_counter() < stop:
            if not offer:  # nothing this specialist may take yet (widening): wait for a push
                try:
                    offer = await asyncio.wait_for(asyncio.shield(box(aid)), stop - time.perf_counter())
                except TimeoutError:
                    break
                del boxes[aid]
                continue
            await paced()
            offers += 1
            await store.accept(aid, offer)
            res = await store.complete(aid, offer, "consultation")  # its next offer, if any, is in here
            await citizen()
            offer = next((e["sid"] for e in res.fx if e.get("kind") == "offer" and e["agent"] == aid), "")

    stop = time.perf_counter() + seconds  # set-up of the specialists is inside the window
    t0, c0 = time.perf_counter(), time.process_time()
    clock = asyncio.create_task(run_ticker(store, deliver))  # widening, as every node runs it
    await asyncio.gather(*(specialist(i, stop) for i in range(SPECIALISTS)))
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - c0
    await stop_tasks([clock])
    await redis.aclose()
    return offers / elapsed, offers, elapsed, cpu / max(offers, 1)


def _child(url: str, seconds: float, pace: float | None, out: Any) -> None:
    out.put("started")
    out.put(asyncio.run(specialists_load(url, seconds, pace)))


async def in_child(url: str, seconds: float, pace: float | None) -> asyncio.Future[tuple[float, int, float, float]]:
    """Start the specialists' load in a process of its own; once it runs, return a future of
    its figures."""
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=_child, args=(url, seconds, pace, out))
    proc.start()
    assert await asyncio.to_thread(out.get) == "started"

    async def figures() -> tuple[float, int, float, float]:
        result = await asyncio.to_thread(out.get)
        await asyncio.to_thread(proc.join)
        return result

    return asyncio.ensure_future(figures())


async def main(seconds: float) -> None:
    catalogue = load_catalogue(None, None)
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(Path(tmp)) as server:
        redis = make_redis(server.url, timeout=30, max_connections=256)
        store = QueueStore(redis, _timing(), time.time)
        await store.load()

        eval_rate, ping_ms, eval_client, eval_server = await raw_baselines(redis, 5.0, SPECIALISTS)
        print(f"baseline: raw EVAL (claim script) {eval_rate:,.0f}/s, PING p50 {ping_ms * 1000:.0f} µs")

        matters = [m for m in catalogue.matters if m.code != "probe"]
        booth_no = 0

        async def citizen() -> None:
            nonlocal booth_no
            booth_no += 1
            await take_ticket(store, rng.choice(matters), f"b{booth_no}", elderly=booth_no % 10 == 0)

        for _ in range(WAITING):
            await citizen()
        # the probe: a region of its own with an idle specialist waiting for each probe ticket
        await store.agent_login("probe-agent", "probe-centre", agent_pool("990000", ["990000"]), ("zh",))
        await store.presence("probe-agent", "available")

        # phase 1: saturation, the specialists in a process of their own
        half = seconds / 2
        r0 = await redis_cpu(redis)
        rate, p1_offers, elapsed, offer_client = await (await in_child(server.url, half + 1, None))
        offer_server = (await redis_cpu(redis) - r0) / p1_offers
        # phase 2: the same specialists paced at half that rate, while the probe measures here
        latencies: list[float] = []
        child = await in_child(server.url, half + 1, rate / 2)  # returns once its load runs
        probe_stop = time.perf_counter() + half
        gc.collect()
        gc.disable()  # this process only probes: its own collections are not the queue's latency
        n = 0
        while time.perf_counter() < probe_stop:
            n += 1
            t0 = time.perf_counter()
            res = await store.enqueue(booth=f"probe-{n}", intake_centre="sh-huangpu", matter="probe",
                                      region="990000", lang="zh", priority="", source="walk_in", consent=True)
            latencies.append((time.perf_counter() - t0) * 1000)
            assert res.ok["agent"] == "probe-agent", res.ok
            sid = res.ok["sid"]
            await store.accept("probe-agent", sid)
            await store.complete("probe-agent", sid, "consultation")
            await asyncio.sleep(0.01)
        gc.enable()
        paced_rate, _, _, _ = await child
        print(f"phase 1 (saturation): {rate:,.0f} offers/s; phase 2 (half load): {paced_rate:,.0f} offers/s "
              f"with {len(latencies)} probe tickets")
        centres = list(catalogue.centres)

        stats = await redis.info("commandstats")
        persistence = await redis.info("persistence")
        fork_us = (await redis.info("stats")).get("latest_fork_usec", 0)
        memory = (await redis.info("memory")).get("used_memory_human")
        report = await audit(redis)
        waiting = sum([await redis.zcard(k) async for k in redis.scan_iter(match="rw:q:*")])
        await redis.aclose()
    print(f"load: {SPECIALISTS} specialists, {len(centres)} centres, {waiting} sessions waiting at the end, "
          f"{p1_offers:,} offers in phase 1 ({elapsed:.1f} s); audit checked {report.sessions} open sessions")
    print(f"server: {memory} used; AOF rewrites {persistence.get('aof_rewrites', 0)}, last fork {fork_us / 1000:.1f} ms")
    # Where the ratio comes from: both sides run flat out, one core each. The client's cap is
    # what its CPU per offer allows against its CPU per raw EVAL (the baseline is client-bound);
    # Redis's cap is one core's worth of offers against the baseline.
    print(f"cost: an offer (3 calls) {offer_client * 1e6:.0f} µs of client CPU and {offer_server * 1e6:.0f} µs of "
          f"Redis CPU; a raw EVAL {eval_client * 1e6:.0f} µs client, {eval_server * 1e6:.0f} µs Redis -> "
          f"caps on the ratio: client {eval_client / offer_client:.2f}, "
          f"Redis {1 / offer_server / eval_rate:.2f}")
    for name in ("cmdstat_evalsha", "cmdstat_fcall"):
        st = stats.get(name, {})
        print(f"server: {name[8:]} {st.get('calls', 0)} calls, {st.get('usec_per_call', 0):.1f} µs each in Redis")
    inner = sorted(((v.get("usec", 0), k[8:], v) for k, v in stats.items()
                    if k not in ("cmdstat_evalsha", "cmdstat_fcall")), reverse=True)[:8]
    print("server: inside the functions, most time: " + ", ".join(
        f"{name} {usec / 1e6:.2f} s ({v.get('calls', 0)} calls, {v.get('usec_per_call', 0):.1f} µs)"
        for usec, name, v in inner))
    print(f"queue: offers/s {rate:,.0f}, raw EVAL/s {eval_rate:,.0f}, ratio {rate / eval_rate:.2f}, "
          f"enqueue->offer p50 {pct(latencies, 0.5):.2f} ms p99 {pct(latencies, 0.99):.2f} ms, "
          f"lost {len(report.lost)}, double {len(report.double)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    asyncio.run(main(parser.parse_args().seconds))
