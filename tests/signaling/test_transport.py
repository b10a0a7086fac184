"""Signaling as a transport: one error translator for both transports, a bounded outbound queue.

A Redis failure is answered ``unavailable`` by HTTP and by socket.io alike (one translator,
``signaling/errors.py``). A client that never reads is dropped at the moment a packet would pass
``RW_MAX_OUTBOUND_PACKETS`` in its queue, not by a poller: no timing in the test, only counts.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp

from signaling import protocol as P
from signaling.errors import UNAVAILABLE_MESSAGE, translate
from window_server.app import create_app
from window_server.appkeys import HUB, SIO
from window_server.domain.auth import Role
from window_server.runtime.redis_server import EmbeddedRedis
from window_server.settings import Settings
from window_server.store.client import make_redis
from window_server.store.keys import key

from .conftest import SECRET, Client, token
from .test_redis_outage import own_redis  # noqa: F401 - the fixture: a redis-server this test may kill

UNAVAILABLE = {"error": {"code": "unavailable", "message": UNAVAILABLE_MESSAGE}}


async def test_a_redis_failure_is_unavailable_on_both_transports(
    own_redis: EmbeddedRedis, start_server: Any, make_settings: Callable[..., Settings],  # noqa: F811
    clients: Callable[[str], Client], demo: dict[str, str], monkeypatch: Any,
) -> None:
    from tests import tokens

    monkeypatch.setattr(tokens._Session, "url", own_redis.url)  # token() registers accounts there
    srv = await start_server(app=create_app(make_settings(redis_url=own_redis.url, secret=SECRET)))
    booth = clients(P.BOOTH)
    await booth.connect(srv.url, token(Role.BOOTH, "bth-outage", demo["intake_centre"], P.BOOTH))
    assert "ok" in await booth.call("resume", {})

    own_redis.kill()  # SIGKILL: the port is closed, every command fails to connect

    assert await booth.call("resume", {}) == UNAVAILABLE
    async with srv.http.post(srv.url + "/api/login", json={"username": "someone", "password": "x" * 12}) as r:
        assert (r.status, await r.json()) == (503, UNAVAILABLE)


async def test_the_translator_tells_unavailability_from_a_bug() -> None:
    closed = make_redis("redis://127.0.0.1:1/0", timeout=1.0, max_connections=1)  # nothing listens on port 1
    try:
        await closed.get("x")
    except Exception as exc:  # noqa: BLE001 - whatever redis-py raises for a refused connection
        refused: BaseException = exc
    finally:
        await closed.aclose()
    down = translate(refused)
    assert (down.status, down.error.to_payload(), down.unexpected) == (503, UNAVAILABLE, False)
    bug = translate(KeyError("x"))
    assert (bug.status, bug.error.code, bug.unexpected) == (500, "internal_error", True)


async def test_a_client_that_never_reads_is_dropped_when_its_queue_passes_the_bound(
    start_server: Any, demo: dict[str, str], redis: Any, clients: Callable[[str], Client],
) -> None:
    bound = 5
    srv = await start_server(secret=SECRET, max_outbound_packets=bound)
    hub, sio = srv.app[HUB], srv.app[SIO]
    gone = asyncio.Event()
    on_disconnect = hub.on_disconnect[P.BOOTH]

    async def observed(conn: Any) -> None:
        try:
            await on_disconnect(conn)
        finally:
            if conn.subject == "slow-booth":
                gone.set()

    hub.on_disconnect[P.BOOTH] = observed
    reader = clients(P.BOOTH)  # a well-behaved client gets everything
    await reader.connect(srv.url, token(Role.BOOTH, "fast-booth", demo["intake_centre"], P.BOOTH))

    url = srv.url + "/socket.io/?EIO=4&transport=polling"
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as r:  # long polling: nothing reaches the client unless it polls
            eio_sid = json.loads((await r.text())[1:])["sid"]
        url += "&sid=" + eio_sid
        tok = token(Role.BOOTH, "slow-booth", demo["intake_centre"], P.BOOTH)
        async with http.post(url, data="40/booth," + json.dumps({"token": tok})) as r:
            assert r.status == 200
        assert await redis.get(key("connection", role="booth", subject="slow-booth"))
        # ... and it never polls again: the connect answer is the first packet in its queue
        queued, door = sio.eio.sockets[eio_sid].queue, sio.doors[eio_sid]
        sent = 0
        while not door.shut and sent < 4 * bound:
            sent += 1
            for booth in ("slow-booth", "fast-booth"):  # the bus delivers them in this order
                await hub.emit("queue_position", {"sid": f"S{sent}", "position": sent, "ahead": 0, "eta_s": 0,
                                                  "wide": False}, P.BOOTH, f"booth:{booth}")
            await reader.next("queue_position", lambda d, n=sent: d["sid"] == f"S{n}")  # both were sent it
            assert queued.qsize() <= bound
        # the connect answer and bound - 1 emits filled its queue; the next emit dropped it
        assert sent == bound
        async with asyncio.timeout(10):
            await gone.wait()
    assert eio_sid not in sio.eio.sockets
    assert not any(c.subject == "slow-booth" for c in hub.conns.values())
    assert not await redis.get(key("connection", role="booth", subject="slow-booth"))  # its hook ran
    assert reader.sio.connected  # and it received every emit (awaited above)
