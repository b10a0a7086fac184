"""What durable acknowledgements cost: an acknowledged queue write with ``WAIT 1`` and without.

Set-up: a real redis-server primary and one replica on loopback (AOF everysec on both, as in
deploy/), the queue's Lua library loaded. A booth joining the queue (``QueueStore.enqueue``, one
FCALL) is the acknowledged write. In the same run, alternating blocks so drift hits both alike:
- PING round trip on the same client (the floor of any Redis call);
- enqueue with ``RW_REDIS_WAIT_REPLICAS=0`` (acknowledged when the primary has it);
- enqueue with ``RW_REDIS_WAIT_REPLICAS=1`` (FCALL and WAIT 1 in one pipeline, one connection);
one at a time (latency), then with 16 writers at once (throughput, where the queue's group
commit batches calls and one WAIT covers a batch).

Usage: .venv/bin/python bench/wait_cost.py [--writes 3000]   (runs in well under a minute)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import redis as redis_sync

from window_server.queue.store import QueueStore, QueueTiming
from window_server.runtime.redis_server import die_with_parent, free_port
from window_server.store.client import Client, NotReplicated, make_redis

BLOCKS = 5  # alternating blocks per variant


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


@contextlib.contextmanager
def primary_and_replica(root: Path) -> Iterator[tuple[int, int]]:
    """A primary and its replica (AOF everysec) on free ports; both stopped on exit."""
    procs: list[subprocess.Popen[bytes]] = []
    ports = free_port(), free_port()
    try:
        for i, port in enumerate(ports):
            data = root / f"redis{i + 1}"
            data.mkdir()
            conf = data / "redis.conf"
            text = (f"port {port}\nbind 127.0.0.1\ndir {data}\nappendonly yes\nappendfsync everysec\n"
                    "save \"\"\nrepl-diskless-sync yes\nrepl-diskless-sync-delay 0\n")
            if i:
                text += f"replicaof 127.0.0.1 {ports[0]}\n"
            conf.write_text(text)
            log = (data / "redis.log").open("ab")
            procs.append(subprocess.Popen(["redis-server", str(conf)], stdout=log, stderr=subprocess.STDOUT,
                                          preexec_fn=die_with_parent))
            log.close()
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(redis_sync.RedisError, OSError), \
                    redis_sync.Redis(port=ports[0], socket_timeout=1) as r:
                if r.info("replication").get("slave0", {}).get("state") == "online" and r.wait(1, 100) >= 1:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("the replica did not sync within 20 s")
            time.sleep(0.05)
        yield ports
    finally:
        for p in reversed(procs):  # the replica first: a primary stopping waits for its replicas
            p.terminate()
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)


async def timed(n: int, op: Callable[[], Awaitable[object]]) -> list[float]:
    """``n`` calls of ``op`` one after the other: each one's latency in ms."""
    out = []
    for _ in range(n):
        t = time.perf_counter()
        await op()
        out.append((time.perf_counter() - t) * 1000)
    return out


async def concurrent(n: int, writers: int, op: Callable[[], Awaitable[object]]) -> tuple[float, list[float]]:
    """``n`` calls by ``writers`` tasks at once: calls per second and each call's latency in ms."""
    lat: list[float] = []
    left = itertools.count()

    async def writer() -> None:
        while next(left) < n:
            t = time.perf_counter()
            await op()
            lat.append((time.perf_counter() - t) * 1000)

    t0 = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(writers)))
    return n / (time.perf_counter() - t0), lat


async def run(writes: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, primary_and_replica(Path(tmp)) as (primary, _replica):
        url = f"redis://127.0.0.1:{primary}/0"
        plain, durable = make_redis(url, timeout=5), make_redis(url, timeout=5, wait_replicas=1, wait_ms=500)
        clients: dict[str, Client] = {"WAIT 0": plain, "WAIT 1": durable}
        stores = {name: QueueStore(c, QueueTiming(), time.time) for name, c in clients.items()}
        await stores["WAIT 0"].load()
        booths = itertools.count()
        refused = {name: 0 for name in clients}  # answered unavailable: too few replicas in time

        def enqueue(name: str) -> Callable[[], Awaitable[object]]:
            async def op() -> object:
                try:
                    return await stores[name].enqueue(booth=f"b{next(booths)}", intake_centre="sh-huangpu",
                                                      matter="m-320500", region="320500", lang="zh",
                                                      priority="", source="walk_in", consent=True)
                except NotReplicated:
                    refused[name] += 1
                    return None
            return op

        await timed(200, enqueue("WAIT 1"))  # warm up: connections, the library, the replica link
        await timed(200, enqueue("WAIT 0"))
        refused["WAIT 1"] = 0
        ping: list[float] = []
        seq: dict[str, list[float]] = {"WAIT 0": [], "WAIT 1": []}
        per = max(1, writes // BLOCKS)
        for _ in range(BLOCKS):
            ping += await timed(per, plain.ping)
            for name in stores:
                seq[name] += await timed(per, enqueue(name))
        rate: dict[str, float] = {}
        conc: dict[str, list[float]] = {}
        for name in stores:
            rate[name], conc[name] = await concurrent(writes * 2, 16, enqueue(name))
        with redis_sync.Redis(port=primary) as r:
            info = r.info("replication")
        for c in clients.values():
            await c.aclose()

    print(f"primary + 1 replica on loopback, AOF everysec; {writes} writes per variant one at a time, "
          f"{writes * 2} by 16 writers (replicas connected at the end: {info['connected_slaves']}; "
          f"WAIT 1 writes answered unavailable: {refused['WAIT 1']})")
    print(f"{'':28}{'p50 ms':>9}{'p99 ms':>9}")
    print(f"{'PING round trip':28}{pct(ping, 0.5):9.3f}{pct(ping, 0.99):9.3f}")
    for name in seq:
        print(f"{'enqueue, ' + name + ', 1 at a time':28}{pct(seq[name], 0.5):9.3f}{pct(seq[name], 0.99):9.3f}")
    for name in conc:
        print(f"{'enqueue, ' + name + ', 16 at once':28}{pct(conc[name], 0.5):9.3f}{pct(conc[name], 0.99):9.3f}"
              f"   {rate[name]:7.0f} writes/s")
    d50 = pct(seq["WAIT 1"], 0.5) - pct(seq["WAIT 0"], 0.5)
    d99 = pct(seq["WAIT 1"], 0.99) - pct(seq["WAIT 0"], 0.99)
    print(f"wait_cost: WAIT 1 adds p50 {d50:+.3f} ms, p99 {d99:+.3f} ms per acknowledged write "
          f"(PING p50 {pct(ping, 0.5):.3f} ms); throughput at 16 writers "
          f"{rate['WAIT 1'] / rate['WAIT 0']:.2f}x of WAIT 0")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=3000)
    asyncio.run(run(parser.parse_args().writes))


if __name__ == "__main__":
    main()
