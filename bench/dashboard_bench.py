"""Dashboard benchmark: queue change -> visible on connected dashboards, and API cost vs history.

Set-up: a private redis-server (AOF everysec) on loopback; one window_server node in its own
process (demo chain, demo accounts); 50 dashboards connected to it over socket.io /dashboard
(40 chain managers in the ``chain`` room, 10 managers each in their centre's room), each its own
staff account registered as ``users add`` would, each connect with a fresh single-use token.

1. Change -> visible. This process changes the queue ~200 times a second through the real
   queue functions (citizens at random halls take tickets; each leaves about a second later),
   exactly as another node would: the server learns of them only from the event log, through
   its dashboard consumer, and pushes ``queue_update`` coalesced (<= 5/s per room). A change
   committed at ``t`` is visible to a dashboard when the first push whose figures were read
   after ``t`` (its ``as_of``) arrives; the latency is that arrival minus ``t``, for every
   change and every dashboard that should see it (all changes for chain rooms; changes at
   their own hall for centre rooms).
2. API cost vs history. 1,000 historical sessions are folded over the 30 days before today
   (the documented bulk path), then the dashboard API is timed (live figures, KPIs by centre
   over the 30 days, today's chart series); then 99,000 more sessions are added and it is
   timed again. The ratio of the medians should stay near 1 (flat cost).

Baseline for 1, measured in the same run before redis and the node start (nothing else of ours
loads the machine): the transport floor. A bare python-socketio AsyncServer on aiohttp in a
process of its own (loopback, websocket, no permessage-deflate, as ``signaling.server``; no
Redis manager, no auth, no queue) broadcasts a timestamped ``queue_update`` of a chain push's
size to the same number of dashboards, connected with the same client code, at the node's push
rate (``dashboard_push_seconds``) for 10 s; the latency is arrival minus the sender's
``time.time()``, for every (push, dashboard) pair.

Usage: .venv/bin/python bench/dashboard_bench.py [--seconds 15] [--rate 200] [--dashboards 50]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import math
import multiprocessing
import os
import random
import secrets
import socket
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import socketio
from aiohttp import web
from engineio.async_drivers import aiohttp as aiohttp_driver

from window_server.accounts.store import AccountStore
from window_server.app import queue_timing
from window_server.dashboard.aggregator import Folder, bulk_load
from window_server.dashboard.history import synthetic_sessions
from window_server.dashboard.service import fold_config, load_review_policy
from window_server.dashboard.store import DashboardStore
from window_server.domain.auth import Principal, Role, sign_connect_token
from window_server.queue.service import QueueService
from window_server.queue.store import QueueStore
from window_server.runtime.catalogue import load_catalogue
from window_server.runtime.redis_server import EmbeddedRedis
from window_server.settings import build_settings
from window_server.store.client import make_redis

SECRET = secrets.token_hex(32)  # 256 random bits, as RW_SECRET must be outside demo mode
HISTORY_DAYS = 30
#: JSON size of a chain room's ``queue_update`` under this load (measured ~13 KB; a centre's ~2.6 KB).
QUEUE_UPDATE_BYTES = 13_000
BASELINE_SECONDS = 10.0


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Dashboard:
    """One connected dashboard and the pushes it received: (as_of ms, arrival s)."""

    role: Role
    centre: str
    username: str
    sio: socketio.AsyncClient = field(default_factory=lambda: socketio.AsyncClient(reconnection=False))
    pushes: list[tuple[float, float]] = field(default_factory=list)
    gen: int = 0
    """The account's generation (``register``); the baseline's bare server checks no token."""

    async def register(self, accounts: AccountStore) -> None:
        """Create this dashboard's staff account, as ``users add`` would."""
        user = await accounts.add_user(self.username, secrets.token_urlsafe(24), self.role, self.centre)
        self.gen = user.generation

    async def connect(self, url: str) -> None:
        # A fresh token for every connect: signaling spends its nonce.
        principal = Principal(self.role, self.username, self.centre)
        token = sign_connect_token(SECRET.encode(), principal, "/dashboard", int(time.time() * 1000), 300,
                                   secrets.token_hex(8), gen=self.gen)

        async def on_update(payload: dict[str, Any]) -> None:
            self.pushes.append((float(payload["as_of"]), time.time()))

        self.sio.on("queue_update", on_update, namespace="/dashboard")
        await self.sio.connect(url, namespaces=["/dashboard"], auth={"token": token}, transports=["websocket"],
                               wait_timeout=10)


def visible_latencies(board: Dashboard, changes: list[tuple[float, str]]) -> list[float]:
    """For each change this dashboard should see: arrival of the first push read after it, minus it."""
    as_of = [a for a, _ in board.pushes]
    out = []
    for t, centre in changes:
        if board.role is not Role.CHAIN_MANAGER and centre != board.centre:
            continue
        i = bisect.bisect_left(as_of, math.ceil(t * 1000))
        if i < len(as_of):
            out.append((board.pushes[i][1] - t) * 1000)
    return out


async def drive(service: QueueService, catalogue: Any, rate: float, seconds: float) -> list[tuple[float, str]]:
    """Change the queue ``rate`` times a second: tickets, and leaves a second later."""
    rng = random.Random(7)
    matters = [m.code for m in catalogue.matters if catalogue.centres_serving(m.home_region)]
    centres = [c.id for c in catalogue.centres]
    changes: list[tuple[float, str]] = []
    pending: list[tuple[float, str, str, str]] = []  # (leave at, sid, booth, centre)
    start = time.perf_counter()
    n = 0
    while (elapsed := time.perf_counter() - start) < seconds:
        due = start + n / rate
        if due > time.perf_counter():
            await asyncio.sleep(due - time.perf_counter())
        if pending and pending[0][0] <= time.time():
            _, sid, booth, centre = pending.pop(0)
            await service.leave(sid, booth)
        else:
            centre = rng.choice(centres)
            booth = f"bench-{n}"
            res = await service.request_service(booth=booth, intake_centre=centre, matter=rng.choice(matters),
                                                consent=True)
            pending.append((time.time() + 1.0, res.ok["sid"], booth, centre))
        changes.append((time.time(), centre))
        n += 1
    del elapsed
    for _, sid, booth, _centre in pending:  # leave the queue empty for the API part
        await service.leave(sid, booth)
    return changes


class _PlainWebSocket(aiohttp_driver.WebSocket):  # type: ignore[misc]
    """engine.io's aiohttp websocket without permessage-deflate, as the node's (``signaling.server``)."""

    async def __call__(self, environ: dict[str, Any]) -> Any:
        self._sock = web.WebSocketResponse(max_msg_size=self.server.max_http_buffer_size, compress=False)
        await self._sock.prepare(environ["aiohttp.request"])
        self.environ = environ
        await self.handler(self)
        return self._sock


async def bare_broadcast(port: int, clients: int, rate: float, seconds: float, out: Any) -> None:
    """The baseline's server: once ``clients`` are connected to /dashboard, broadcast a timestamped
    ``queue_update`` of QUEUE_UPDATE_BYTES to all of them ``rate`` times a second."""
    settings = build_settings({})
    sio = socketio.AsyncServer(async_mode="aiohttp", max_http_buffer_size=settings.max_message_bytes,
                               ping_interval=settings.ping_interval_seconds, ping_timeout=settings.ping_timeout_seconds,
                               transports=["websocket", "polling"])
    sio.eio._async = {**sio.eio._async, "websocket": _PlainWebSocket}
    connected = 0
    everyone = asyncio.Event()

    async def on_connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
        nonlocal connected
        connected += 1
        if connected == clients:
            everyone.set()

    sio.on("connect", on_connect, namespace="/dashboard")
    centres: list[dict[str, Any]] = []  # filler shaped like the figures of a push
    while len(json.dumps(centres)) < QUEUE_UPDATE_BYTES:
        centres.append({"centre": f"centre-{len(centres)}", "waiting": 3, "longest_wait_s": 41.5,
                        "agents": {"available": 2, "in_service": 1, "away": 0}, "alarms": []})
    app = web.Application()
    sio.attach(app)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
    out.put("listening")
    await everyone.wait()
    await asyncio.sleep(0.5)  # the last client's connect completes
    start = time.perf_counter()
    for n in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))
        await sio.emit("queue_update", {"as_of": time.time() * 1000, "centres": centres}, namespace="/dashboard")
    out.put("done")
    await asyncio.Event().wait()  # until terminated


def _bare_server(port: int, clients: int, rate: float, seconds: float, out: Any) -> None:
    asyncio.run(bare_broadcast(port, clients, rate, seconds, out))


async def broadcast_baseline(clients: int, rate: float, seconds: float) -> list[float]:
    """Emit -> received (ms) for every (broadcast, client) pair from the bare server in a child process."""
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    port = free_port()
    proc = ctx.Process(target=_bare_server, args=(port, clients, rate, seconds, out))
    proc.start()
    try:
        assert await asyncio.to_thread(out.get, timeout=30) == "listening"
        boards = [Dashboard(Role.CHAIN_MANAGER, "", f"bench-{i}") for i in range(clients)]
        for b in boards:
            await b.connect(f"http://127.0.0.1:{port}")
        assert await asyncio.to_thread(out.get, timeout=seconds + 30) == "done"
        await asyncio.sleep(1.0)  # the last broadcast's arrivals
        for b in boards:
            await b.sio.disconnect()
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.join)
    return [(arrival - as_of / 1000) * 1000 for b in boards for as_of, arrival in b.pushes]


async def time_api(http: aiohttp.ClientSession, url: str, first: date, last: date, rounds: int) -> float:
    """Median time of one round: live figures, KPIs by centre over the range, today's series."""
    paths = ["/api/dashboard/live", f"/api/dashboard/kpis?from={first}&to={last}&group=centre",
             "/api/dashboard/series"]
    times = []
    for i in range(rounds + 5):
        t0 = time.perf_counter()
        for p in paths:
            async with http.get(url + p) as resp:
                assert resp.status == 200, await resp.text()
                await resp.read()
        if i >= 5:  # warm-up rounds left out
            times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


async def main(seconds: float, rate: float, dashboards: int) -> None:
    catalogue = load_catalogue(None, None)
    settings = build_settings({})
    tz = ZoneInfo(settings.timezone)
    raw = await broadcast_baseline(dashboards, 1 / settings.dashboard_push_seconds, BASELINE_SECONDS)
    raw50, raw99 = pct(raw, 0.5), pct(raw, 0.99)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(Path(tmp)) as server:
        env = {**os.environ, "REDIS_URL": server.url, "RW_PORT": str(port), "RW_SECRET": SECRET, "RW_DEMO": "true",
               "RW_LOG_LEVEL": "WARNING", "RW_DATA_DIR": str(Path(tmp) / "data"),
               "RW_HEARTBEAT_TTL_SECONDS": "3600"}
        node = await asyncio.create_subprocess_exec(sys.executable, "-m", "window_server", env=env,
                                                    stdout=asyncio.subprocess.DEVNULL)
        redis = make_redis(server.url, timeout=30, max_connections=64)
        try:
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:  # an IP host
                for _ in range(200):
                    try:
                        async with http.get(url + "/readyz") as resp:
                            if resp.status == 200:
                                break
                    except aiohttp.ClientError:
                        pass
                    await asyncio.sleep(0.1)
                else:
                    raise SystemExit("the server did not start")
                async with http.post(url + "/api/login", json={"username": "chain-manager", "password": "demo1234"}) as r:
                    assert r.status == 200, await r.text()

                # --- 1. change -> visible --------------------------------------------------
                centres = [c.id for c in catalogue.centres]
                boards = [Dashboard(Role.CHAIN_MANAGER, "", f"bench-chain-{i}")
                          for i in range(dashboards - dashboards // 5)]
                boards += [Dashboard(Role.MANAGER, centres[i % len(centres)], f"bench-mgr-{i}")
                           for i in range(dashboards // 5)]
                accounts = AccountStore(redis, catalogue)
                await asyncio.gather(*(b.register(accounts) for b in boards))  # Argon2, a few at a time
                for b in boards:
                    await b.connect(url)
                store = QueueStore(redis, queue_timing(settings), time.time, tz=settings.timezone)
                service = QueueService(store, catalogue)
                await asyncio.sleep(1.0)  # the first pushes after connecting
                for b in boards:
                    b.pushes.clear()
                t0 = time.perf_counter()
                changes = await drive(service, catalogue, rate, seconds)
                achieved = len(changes) / (time.perf_counter() - t0)
                await asyncio.sleep(2.0)  # the last changes' pushes
                latencies = [x for b in boards for x in visible_latencies(b, changes)]
                push_rate = statistics.mean(len(b.pushes) for b in boards if b.role is Role.CHAIN_MANAGER) / seconds
                for b in boards:
                    await b.sio.disconnect()
                group = next(g for g in await redis.xinfo_groups("rw:events") if g["name"] == "rw-dashboard")
                print(f"changes: {len(changes):,} at {achieved:.0f}/s; dashboards {len(boards)} "
                      f"({sum(b.role is Role.CHAIN_MANAGER for b in boards)} chain, "
                      f"{sum(b.role is not Role.CHAIN_MANAGER for b in boards)} centre rooms); "
                      f"pushes per chain dashboard {push_rate:.1f}/s; consumer pending at the end {group['pending']}")
                p50, p99 = pct(latencies, 0.5), pct(latencies, 0.99)
                print(f"change->visible over {len(latencies):,} (change, dashboard) pairs: p50 {p50:.0f} ms, "
                      f"p90 {pct(latencies, 0.9):.0f} ms, p99 {p99:.0f} ms, max {max(latencies):.0f} ms")
                print(f"baseline: bare socket.io broadcast to {dashboards} clients "
                      f"({1 / settings.dashboard_push_seconds:.0f}/s, {QUEUE_UPDATE_BYTES / 1000:.0f} KB, "
                      f"{len(raw):,} pairs) p50 {raw50:.1f} ms p99 {raw99:.1f} ms (same run)")

                # --- 2. API cost vs history ------------------------------------------------
                folder = Folder(fold_config(settings), tz, load_review_policy(None), catalogue)
                today = date.fromtimestamp(time.time())
                first, last = today - timedelta(days=HISTORY_DAYS), today - timedelta(days=1)
                now_ms = int(time.time() * 1000)
                t = time.perf_counter()
                await bulk_load(DashboardStore(redis), folder, synthetic_sessions(catalogue, 1_000, first_day=first, days=HISTORY_DAYS,
                                                                  tz=tz, seed=1, prefix="A"), now_ms=now_ms)
                small = await time_api(http, url, first, last, 30)
                print(f"history 1,000 sessions (folded in {time.perf_counter() - t:.1f} s): api round {small:.1f} ms")
                t = time.perf_counter()
                await bulk_load(DashboardStore(redis), folder, synthetic_sessions(catalogue, 99_000, first_day=first, days=HISTORY_DAYS,
                                                                  tz=tz, seed=2, prefix="B"), now_ms=now_ms)
                large = await time_api(http, url, first, last, 30)
                memory = (await redis.info("memory"))["used_memory_human"]
                print(f"history 100,000 sessions (99,000 more folded in {time.perf_counter() - t:.1f} s; "
                      f"Redis {memory}): api round {large:.1f} ms")
        finally:
            node.terminate()
            async with asyncio.timeout(20):
                await node.wait()
            await redis.aclose()
    print(f"dashboard: change->visible p50 {p50:.0f} p99 {p99:.0f}, dashboards {len(boards)}, "
          f"api 100k/1k ratio {large / small:.2f}, raw broadcast p99 {raw99:.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--dashboards", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(main(args.seconds, args.rate, args.dashboards))
