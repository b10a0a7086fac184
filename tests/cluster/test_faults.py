"""Faults on a real cluster (the short CI version of bench/fault_suite.py).

The module's own cluster (the ``cluster`` fixture is one per module, so killing members here
touches no other test): nginx with TLS, two nodes, Redis primary + replicas behind three
Sentinels, coturn. Clients are real ``socketio.AsyncClient``s that
reconnect by themselves with a fresh connect token each time.

- ``kill -9`` of a node: a booth waiting in the queue, a booth in service and its specialist,
  all first connected to node1 directly, come back through nginx (to node2) into the very
  session they had (``session_state`` with ``act: resume``), the waiting booth still waiting.
- Sentinel failover: ``kill -9`` of the Redis primary while a specialist keeps adding notes
  (acknowledged only after ``WAIT 1``); once a new primary serves (and the old one is back as
  a replica, as its service manager would restart it), every note that was acknowledged is in
  the session: 0 acknowledged writes lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
import ssl
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
import socketio

from window_server.accounts.store import AccountStore
from window_server.cluster import Cluster
from window_server.domain.auth import Principal, Role, sign_connect_token
from window_server.domain.routing import region_contains
from window_server.runtime.catalogue import load_catalogue
from window_server.store.client import make_redis

HELD = ("in_service", "transferring", "reconnecting")

pytestmark = pytest.mark.timeout(300)
log = logging.getLogger(__name__)


def places() -> dict[str, str]:
    catalogue = load_catalogue(None, None)
    for m in catalogue.matters:
        own = [c for c in catalogue.centres_serving(m.home_region) if region_contains(m.home_region, c.region)]
        others = [c for c in catalogue.centres if not region_contains(m.home_region, c.region)]
        if own and others and m.audience == "person":
            return {"matter": m.code, "home_centre": own[0].id, "intake_centre": others[0].id}
    raise AssertionError("the demo catalogue has no usable matter")


class Party:
    """A booth page or a specialist console that reconnects on its own, recording what it is told."""

    def __init__(self, http: aiohttp.ClientSession, url: Callable[[], str], role: Role, subject: str,
                 centre: str, secret: str) -> None:
        self.role, self.subject, self.centre, self.secret = role, subject, centre, secret
        self.ns = "/booth" if role is Role.BOOTH else "/agent"
        self.url = url
        self.sio = socketio.AsyncClient(reconnection=True, reconnection_delay=0.2, reconnection_delay_max=1.0,
                                        http_session=http, handle_sigint=False)
        self.states: list[dict[str, Any]] = []
        self.offers: list[dict[str, Any]] = []
        self.lost = 0
        self.arrived = asyncio.Condition()
        self.sio.on("session_state", self._record(self.states), namespace=self.ns)
        self.sio.on("offer", self._record(self.offers), namespace=self.ns)
        self.sio.on("disconnect", self._disconnected, namespace=self.ns)
        self.sio.on("connect", self._connected, namespace=self.ns)

    def _record(self, into: list[dict[str, Any]]) -> Callable[[dict[str, Any]], Any]:
        async def record(data: dict[str, Any]) -> None:
            async with self.arrived:
                into.append(data)
                self.arrived.notify_all()
        return record

    async def _connected(self) -> None:
        async with self.arrived:
            self.arrived.notify_all()

    @property
    def connected(self) -> bool:
        return self.ns in self.sio.namespaces

    async def _disconnected(self, reason: Any = None) -> None:
        async with self.arrived:
            self.lost += 1
            self.arrived.notify_all()

    def token(self) -> dict[str, str]:
        principal = Principal(role=self.role, subject=self.subject, centre=self.centre, langs=("zh",))
        return {"token": sign_connect_token(self.secret.encode(), principal, self.ns, int(time.time() * 1000), 120,
                                            secrets.token_hex(8), gen=1)}

    async def connect(self) -> None:
        await self.sio.connect(self.url, namespaces=[self.ns], transports=["websocket"], auth=self.token,
                               wait_timeout=15)

    async def ok(self, event: str, data: Any, within: float = 15) -> dict[str, Any]:
        reply: dict[str, Any] = await self.sio.call(event, data, namespace=self.ns, timeout=within)
        assert "ok" in reply, (event, reply)
        return dict(reply["ok"])

    async def until(self, what: Callable[[], Any], within: float = 30) -> Any:
        """Wait for a condition on what this party was told (an event or a disconnect)."""
        async with asyncio.timeout(within), self.arrived:
            while not (found := what()):
                await self.arrived.wait()
            return found

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                await self.sio.disconnect()


@pytest.fixture
async def parties(cluster: Cluster) -> AsyncIterator[Callable[..., Party]]:
    """Make parties whose accounts exist; the first connect of each goes to ``first`` (a URL)."""
    where = places()
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(
        ssl=ssl.create_default_context(cafile=str(cluster.ca_file)), limit=0))
    redis = make_redis(cluster.redis_url)
    accounts = AccountStore(redis, load_catalogue(None, None))
    made: list[Party] = []

    async def make(role: Role, subject: str, first: str | None = None) -> Party:
        if role is Role.BOOTH:
            centre = where["intake_centre"]
            await accounts.add_booth(subject, centre)
        else:
            centre = where["home_centre"]
            await accounts._insert_user(accounts.validate_user(subject, Role.SPECIALIST, centre),
                                        "$argon2id$not-a-real-hash")
        urls = [first] if first else []

        def url() -> str:  # the first connect where the test says, every reconnect through nginx
            return urls.pop() if urls else cluster.https_url

        party = Party(http, url, role, subject, centre, cluster.secret)
        made.append(party)
        return party

    make.matter = where["matter"]  # type: ignore[attr-defined]
    yield make  # type: ignore[misc]
    for p in made:
        await p.close()
    await http.close()
    await redis.aclose()


async def test_a_node_killed_with_kill_9_its_clients_are_back_in_their_sessions_on_the_other(
        cluster: Cluster, parties: Callable[..., Any]) -> None:
    node1 = cluster.node_urls[0]
    spec = await parties(Role.SPECIALIST, "fault-spec-1", node1)
    served = await parties(Role.BOOTH, "fault-booth-1", node1)
    waiting = await parties(Role.BOOTH, "fault-booth-2", node1)
    await spec.connect()
    await spec.ok("presence", {"status": "available"})
    await served.connect()
    sid = (await served.ok("request_service", {"matter": parties.matter, "consent": True}))["sid"]  # type: ignore[attr-defined]
    offer = await spec.until(lambda: next((o for o in spec.offers if o["sid"] == sid), None))
    await spec.ok("accept", {"sid": offer["sid"]})
    await served.until(lambda: any(s["sid"] == sid and s["state"] == "in_service" for s in served.states))
    await waiting.connect()  # the only specialist is busy: this one waits in the queue
    queued = await waiting.ok("request_service", {"matter": parties.matter, "consent": True})  # type: ignore[attr-defined]
    assert queued["state"] == "waiting", queued
    for p in (spec, served, waiting):
        p.states.clear()

    cluster.kill("node1", signal.SIGKILL)
    try:
        for p in (spec, served, waiting):
            await p.until(lambda p=p: p.lost >= 1)  # it really was on the killed node

        def resumed(p: Party, session: str, states: tuple[str, ...]) -> Callable[[], Any]:
            # the server pushes the resume from its connect handler, so it may arrive just before
            # the namespace's connect acknowledgement: wait for both
            return lambda: p.connected and next((s for s in p.states if s.get("act") == "resume"
                                                 and s["sid"] == session and s["state"] in states), None)

        await spec.until(resumed(spec, sid, HELD))
        await served.until(resumed(served, sid, HELD))
        await waiting.until(resumed(waiting, queued["sid"], ("waiting",)))
        # and the session goes on over node2: the specialist's next write is acknowledged
        assert (await spec.ok("note", {"sid": sid, "text": "after the node was lost"}))["sid"] == sid
        assert cluster.status()["node1"]["alive"] is False
    finally:
        cluster.start("node1")  # a rolling restart brings it back; the next test has both nodes


async def test_a_sentinel_failover_loses_no_acknowledged_write(
        cluster: Cluster, parties: Callable[..., Any]) -> None:
    spec = await parties(Role.SPECIALIST, "fault-spec-2")
    booth = await parties(Role.BOOTH, "fault-booth-3")
    await spec.connect()
    await spec.ok("presence", {"status": "available"})
    await booth.connect()
    sid = (await booth.ok("request_service", {"matter": parties.matter, "consent": True}))["sid"]  # type: ignore[attr-defined]
    await spec.until(lambda: any(o["sid"] == sid for o in spec.offers))
    await spec.ok("accept", {"sid": sid})

    acked: list[str] = []
    refused: list[str] = []
    stop = asyncio.Event()

    async def writer() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            text = f"w{n}"
            try:
                reply = await spec.sio.call("note", {"sid": sid, "text": text}, namespace=spec.ns, timeout=10)
            except (socketio.exceptions.SocketIOError, TimeoutError) as exc:
                refused.append(type(exc).__name__)
                await asyncio.sleep(0.05)  # pacing the writer while the socket is down, not a wait for state
                continue
            if "ok" in reply:
                acked.append(text)
            else:
                refused.append(str(reply["error"]["code"]))
            await asyncio.sleep(0.1)  # pacing: 10 writes a second stays under RW_RATE_LIMIT_PER_SECOND (20)

    old = cluster.primary()
    name = next(n for n, s in cluster.status().items() if n.startswith("redis") and s["port"] == old[1])
    task = asyncio.get_running_loop().create_task(writer())
    try:
        await _until(lambda: len(acked) >= 5, 30)  # writes flow before the fault
        before = len(acked)
        t0 = time.monotonic()
        cluster.kill(name, signal.SIGKILL)
        await _until(lambda: cluster.primary() != old, 60)  # Sentinel promoted a replica
        log.info("failover: new primary %s after %.1f s", cluster.primary(), time.monotonic() - t0)
        await asyncio.to_thread(cluster.start, name)  # its service manager restarts it; it becomes a replica
        log.info("failover: %s started again after %.1f s", name, time.monotonic() - t0)
        await _until(lambda: len(acked) >= before + 20, 60)  # acknowledged writes flow again
        log.info("failover: writes acknowledged again after %.1f s (%d refused)", time.monotonic() - t0,
                 len(refused))
    finally:
        stop.set()
        await task
    assert cluster.primary() != old
    notes = [n["text"] for n in (await spec.ok("session_detail", {"sid": sid}, within=30))["notes"]]
    lost = [t for t in acked if t not in notes]
    assert lost == [], f"{len(lost)} of {len(acked)} acknowledged notes lost in the failover: {lost[:10]}"


async def _until(cond: Callable[[], bool], within: float) -> None:
    """Poll a condition (another process's state) with a deadline."""
    async with asyncio.timeout(within):
        while not await asyncio.to_thread(cond):  # noqa: ASYNC110 - another process's state: no event to await
            await asyncio.sleep(0.1)  # polling a condition with a deadline, not sleeping for a result
