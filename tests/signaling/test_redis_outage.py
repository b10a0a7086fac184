"""A Redis outage longer than the heartbeat TTL does not end live calls (issue 14, item 4).

A real redis-server of the test's own is killed with SIGKILL mid-call and started again on the
same port and directory (its AOF, as deployed); the node's clock is moved by hand past the
heartbeat TTL while Redis is down. Heartbeats nobody could write during the outage must not
count as lost presence: connected parties are re-asserted and their sessions go on, while a
party whose socket really closed during the outage is found lost by the normal rules.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from signaling import protocol as P
from tests import tokens
from window_server.app import create_app
from window_server.appkeys import HUB, QUEUE_LIVE, REDIS, STORE
from window_server.domain.auth import Role
from window_server.runtime.redis_server import EmbeddedRedis
from window_server.settings import Settings
from window_server.store.keys import key

from .conftest import SECRET, Client, token

T0 = 1_800_000_000.0
TTL = 20  # heartbeat TTL, seconds
GRACE = 60  # reconnect grace, seconds


class Clock:
    """The node's clock, moved by hand: nothing here waits for real time to pass."""

    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A redis-server this test may kill (requested before the app, so it stops after it)."""
    server = EmbeddedRedis(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


def restart_on_same_port(server: EmbeddedRedis) -> None:
    """Start the killed server again on its port and directory, as a supervisor would."""
    port = server.port
    server.start(port=port)
    assert server.port == port


async def serve(clients: Callable[[str], Client], url: str, demo: dict[str, str], booth_id: str,
                aid: str) -> tuple[Client, Client, str]:
    """A booth and a specialist in one session in service, each on its own socket."""
    agent = clients(P.AGENT)
    await agent.connect(url, token(Role.SPECIALIST, aid, demo["home_centre"], P.AGENT))
    await agent.ok("presence", {"status": "available"})
    booth = clients(P.BOOTH)
    await booth.connect(url, token(Role.BOOTH, booth_id, demo["intake_centre"], P.BOOTH))
    ticket = await booth.ok("request_service", {"matter": demo["matter"], "consent": True})
    offer = await agent.next("offer", lambda d: d["sid"] == ticket["sid"])
    await agent.ok("accept", {"sid": offer["sid"]})
    await booth.next("session_state", lambda d: d["state"] == "in_service")
    return booth, agent, ticket["sid"]


async def test_connected_calls_survive_a_redis_outage_longer_than_the_heartbeat_ttl(
    own_redis: EmbeddedRedis, start_server: Any, make_settings: Callable[..., Settings],
    clients: Callable[[str], Client], demo: dict[str, str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tokens._Session, "url", own_redis.url)  # token() registers accounts there
    clock = Clock()
    settings = make_settings(redis_url=own_redis.url, secret=SECRET, heartbeat_ttl_seconds=TTL,
                             reconnect_grace_seconds=GRACE, offer_timeout_seconds=30)
    srv = await start_server(app=create_app(settings, clock=clock))
    hub, store = srv.app[HUB], srv.app[STORE]
    booth, agent, sid = await serve(clients, srv.url, demo, "bth-stays", "spec-stays")
    gone_booth, _gone_agent, gone_sid = await serve(clients, srv.url, demo, "bth-leaves", "spec-other")

    # The control party's socket closes during the outage: its disconnect cannot be written.
    left = asyncio.Event()
    on_disconnect = hub.on_disconnect[P.BOOTH]

    async def observed(conn: Any) -> None:
        try:
            await on_disconnect(conn)
        finally:
            if conn.subject == "bth-leaves":
                left.set()

    hub.on_disconnect[P.BOOTH] = observed

    agent.inbox["presence"].clear()
    own_redis.kill()  # SIGKILL: no shutdown
    async with asyncio.timeout(10):
        await store.outage.down.wait()  # the node noticed
    await gone_booth.close()
    async with asyncio.timeout(10):
        await left.wait()
    clock.t += 30  # longer than the heartbeat TTL: nobody's heartbeat could be written
    restart_on_same_port(own_redis)
    async with asyncio.timeout(15):
        await store.outage.healed.wait()  # re-asserted, heartbeats forgiven

    async def states() -> tuple[str, str, str]:
        return ((await store.session(sid))["state"], (await store.agent("spec-stays"))["status"],
                (await store.session(gone_sid))["state"])

    assert await states() == ("in_service", "in_service", "in_service")

    # Time goes on past the TTL and the grace period, in steps shorter than the TTL; the
    # node's heartbeat loop runs at each step, as it does every TTL / 4.
    seen: list[tuple[str, str, str]] = []
    for _ in range((TTL + GRACE + 10) // 10):
        clock.t += 10
        await srv.app[QUEUE_LIVE].heartbeat_all()
        await store.tick()
        seen.append(await states())
    # the connected call went on all along; the party that left was lost one TTL after Redis
    # came back (not at once), then its session ended when the grace period passed
    assert [s[:2] for s in seen] == [("in_service", "in_service")] * len(seen)
    assert [s[2] for s in seen] == ["in_service"] + ["reconnecting"] * 6 + ["interrupted"] * 2
    acts = [ev["act"] for ev in await store.session_events(sid)]
    assert not {"media_lost", "requeue", "interrupt"} & set(acts), acts
    assert booth.sio.connected and agent.sio.connected
    assert not [p for p in agent.inbox["presence"] if p["status"] in ("away", "offline")]

    # the call goes on over the cross-node bus, which subscribed again by itself
    await agent.ok("complete", {"sid": sid, "outcome": "consultation", "case_number": "SZ-9"})
    await booth.next("session_state", lambda d: d["sid"] == sid and d["state"] == "completed", within=15)


async def test_reassert_writes_back_what_the_outage_cost_the_connected_parties(
    start_server: Any, make_settings: Callable[..., Settings], clients: Callable[[str], Client],
    demo: dict[str, str],
) -> None:
    # What a restart from the AOF (the last second of writes lost) or a node that judged the
    # heartbeats before this one re-asserted can leave behind: no claims, both parties lost.
    clock = Clock()
    srv = await start_server(app=create_app(make_settings(secret=SECRET, heartbeat_ttl_seconds=TTL,
                                                          reconnect_grace_seconds=GRACE), clock=clock))
    hub, store = srv.app[HUB], srv.app[STORE]
    booth, agent, sid = await serve(clients, srv.url, demo, "bth-1", "spec-1")
    await agent.next("presence", lambda d: d["status"] == "in_service")  # the accept's, taken out
    claims = {role: key("connection", role=role, subject=subject)
              for role, subject in (("booth", "bth-1"), ("agent", "spec-1"))}
    mine = {"booth": f"{hub.node_id}:{booth.sio.get_sid(P.BOOTH)}",
            "agent": f"{hub.node_id}:{agent.sio.get_sid(P.AGENT)}"}
    assert {role: await srv.app[REDIS].get(k) for role, k in claims.items()} == mine
    await srv.app[REDIS].delete(*claims.values())
    await store.media(sid, "booth", "lost")
    await store.logout("spec-1")  # as if its heartbeat had been judged lost
    s = await store.session(sid)
    assert (s["state"], s["lost_booth"], s["lost_agent"]) == ("reconnecting", "1", "1")

    await srv.app[QUEUE_LIVE].reassert()

    assert {role: await srv.app[REDIS].get(k) for role, k in claims.items()} == mine
    s = await store.session(sid)
    assert (s["state"], s["lost_booth"], s["lost_agent"]) == ("in_service", "", "")
    assert (await store.agent("spec-1"))["status"] == "in_service"
    await booth.next("session_state", lambda d: d["sid"] == sid and d["state"] == "in_service"
                     and d.get("act") == "media_back")
    await agent.next("presence", lambda d: d["status"] == "in_service")


async def test_reassert_leaves_a_newer_socket_its_claim(
    start_server: Any, make_settings: Callable[..., Settings], clients: Callable[[str], Client],
    demo: dict[str, str],
) -> None:
    srv = await start_server(app=create_app(make_settings(secret=SECRET), clock=Clock()))
    booth = clients(P.BOOTH)
    await booth.connect(srv.url, token(Role.BOOTH, "bth-1", demo["intake_centre"], P.BOOTH))
    claim = key("connection", role="booth", subject="bth-1")
    await srv.app[REDIS].set(claim, "othernode:newer-socket")  # the booth reconnected elsewhere meanwhile
    await srv.app[QUEUE_LIVE].reassert()
    assert await srv.app[REDIS].get(claim) == "othernode:newer-socket"
