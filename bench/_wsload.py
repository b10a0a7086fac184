"""A light websocket load generator: thousands of clients in one asyncio loop.

``socketio.AsyncClient`` costs too much per client to hold 2,000 of them on a 2-core box, so
this speaks the wire protocol itself over plain aiohttp websockets: the client is
``window_server.simulate.wire`` (shared with the traffic simulator, docs/simulate.md); this
module adds the bench's echo baseline, bulk connects and the chatty pattern.

The raw baseline uses the same client class against a bare aiohttp echo server (``ECHO_SERVER``),
so both measurements share the generator and its costs.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp

from window_server.simulate.wire import ConnectRefused, Link, resume_request, sio_connect

__all__ = ["ECHO_SERVER", "ConnectRefused", "Link", "ack_ok", "close_all", "connect_all", "pct", "raw_connect",
           "resume_request", "run_chatty", "sio_connect", "stalls"]

#: A bare aiohttp websocket echo server, run with ``python -c``: argv[1] is the port (0: any).
#: Same defaults as python-engineio's aiohttp driver (WebSocketResponse(), compression
#: accepted) and the same listen backlog as window_server; a heartbeat of 8 s stands in for
#: engine.io's ping interval so idle sockets carry comparable background traffic.
ECHO_SERVER = r"""
import asyncio, signal, sys
from aiohttp import WSMsgType, web

async def echo(request):
    ws = web.WebSocketResponse(heartbeat=8.0)
    await ws.prepare(request)
    async for msg in ws:
        if msg.type is WSMsgType.TEXT:
            await ws.send_str(msg.data)
    return ws

async def main():
    app = web.Application()
    app.router.add_get("/ws", echo)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", int(sys.argv[1]), backlog=1024)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"echo server at http://127.0.0.1:{runner.addresses[0][1]}", flush=True)
    await stop.wait()
    await runner.cleanup()

asyncio.run(main())
"""


async def raw_connect(
    session: aiohttp.ClientSession, url: str, namespace: str, *, deflate: bool, limit_s: float
) -> Link:
    """Open a websocket to the echo server; replies are the request frame itself."""
    async with asyncio.timeout(limit_s):
        ws = await session.ws_connect(url, autoping=True, compress=15 if deflate else 0,
                                      max_msg_size=1 << 20)
    link = Link(ws, f"42{namespace},", resume_request(namespace))
    link.start()
    return link


async def connect_all(
    n: int, connect_one: Callable[[int], Awaitable[Link]], concurrency: int
) -> tuple[list[Link], float, list[str]]:
    """Connect ``n`` clients, at most ``concurrency`` in flight; return links, seconds, errors."""
    gate = asyncio.Semaphore(concurrency)
    links: list[Link] = []
    errors: list[str] = []

    async def one(i: int) -> None:
        async with gate:
            try:
                links.append(await connect_one(i))
            except (aiohttp.ClientError, ConnectionError, ConnectRefused, TimeoutError, OSError) as exc:
                errors.append(f"{type(exc).__name__}: {exc}"[:200])

    t0 = time.perf_counter()
    async with asyncio.TaskGroup() as tg:
        for i in range(n):
            tg.create_task(one(i))
    return links, time.perf_counter() - t0, errors


@dataclass
class ChattyResult:
    rtts_ms: list[float]
    replies_not_ok: int
    failures: list[str]
    loop_lag_ms: list[float]
    starts_s: list[float]
    """When each round trip began (seconds into the phase), parallel to ``rtts_ms``."""


async def run_chatty(
    links: list[Link], seconds: float, *, pause_s: float = 0.1, jitter: float = 0.5,
    check: Callable[[str], bool] | None = None, seed: int = 1,
) -> ChattyResult:
    """Each link loops request -> reply -> a jittered pause for ``seconds``; record round trips.

    A probe measures the generator's own event-loop lag (how late a 10 ms sleep wakes), which
    is part of every measured round trip; compare it with the round trips to see who is slow.
    """
    rng = random.Random(seed)
    rtts: list[float] = []
    starts: list[float] = []
    failures: list[str] = []
    not_ok = 0
    lag: list[float] = []
    began = time.perf_counter()
    stop_at = began + seconds

    async def client(link: Link, start_delay: float, pauses: random.Random) -> None:
        nonlocal not_ok
        await asyncio.sleep(start_delay)  # spread the first requests over one period
        while (t := time.perf_counter()) < stop_at:
            try:
                rtt, payload = await link.call()
            except (TimeoutError, ConnectionError, aiohttp.ClientError) as exc:
                failures.append(type(exc).__name__)
                return
            rtts.append(rtt)
            starts.append(t - began)
            if check is not None and not check(payload):
                not_ok += 1
            await asyncio.sleep(pause_s * pauses.uniform(1 - jitter, 1 + jitter))

    async def probe() -> None:
        while time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            await asyncio.sleep(0.01)
            lag.append((time.perf_counter() - t0 - 0.01) * 1000.0)

    async with asyncio.TaskGroup() as tg:
        tg.create_task(probe())
        for link in links:
            tg.create_task(client(link, rng.uniform(0, pause_s), random.Random(rng.random())))
    return ChattyResult(rtts, not_ok, failures, lag, starts)


def ack_ok(payload: str) -> bool:
    """A socket.io ack ``[{"ok": {...}}]`` (the one error shape puts ``error`` there instead)."""
    try:
        body = json.loads(payload)
    except ValueError:
        return False
    return isinstance(body, list) and len(body) == 1 and isinstance(body[0], dict) and "ok" in body[0]


async def close_all(links: list[Link], concurrency: int = 200) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one(link: Link) -> None:
        async with gate:
            await link.close()

    async with asyncio.timeout(30):
        await asyncio.gather(*(one(link) for link in links))


def stalls(
    starts_s: list[float], rtts_ms: list[float], clients: int, slow_ms: float = 100.0, share: float = 0.25
) -> list[tuple[float, int, float]]:
    """Moments when many clients waited long at once: (seconds in, slow round trips, worst ms).

    Round trips slower than ``slow_ms`` that began within 0.2 s of each other form one cluster;
    a cluster holding at least ``share`` of the clients is a stall of the whole server (or of
    the generator, if its loop lag says so), not one unlucky request.
    """
    slow = sorted((s, r) for s, r in zip(starts_s, rtts_ms, strict=True) if r > slow_ms)
    found: list[tuple[float, int, float]] = []
    i = 0
    while i < len(slow):
        j = i
        while j + 1 < len(slow) and slow[j + 1][0] - slow[j][0] <= 0.2:
            j += 1
        if j - i + 1 >= share * clients:
            found.append((slow[i][0], j - i + 1, max(r for _, r in slow[i:j + 1])))
        i = j + 1
    return found


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of ``values``; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
