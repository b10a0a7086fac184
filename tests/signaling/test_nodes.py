"""Several nodes on one real Redis: pairing across nodes, a node killed mid-session, a deaf node."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

from tests.service import running_service, service_env
from window_server.appkeys import SIO
from window_server.domain.auth import Role

from .conftest import SECRET, Client, token

ROOT = Path(__file__).resolve().parents[2]


def node(redis_url: str, tmp: Path, name: str):  # type: ignore[no-untyped-def]
    """A real ``python -m window_server`` process sharing the test's Redis."""
    env = service_env(REDIS_URL=redis_url, RW_SECRET=SECRET, RW_DEMO="false", RW_LOG_LEVEL="WARNING")
    return running_service("--data-dir", str(tmp / name), env=env, stderr=asyncio.subprocess.DEVNULL)


async def test_booth_on_one_node_specialist_on_another_and_a_node_dies(
    redis_url: str, redis: Any, tmp_path: Path, clients: Any, demo: dict[str, str]
) -> None:
    async with node(redis_url, tmp_path, "n1") as (proc1, url1), node(redis_url, tmp_path, "n2") as (_p2, url2):
        booth: Client = clients("/booth")
        await booth.connect(url1, token(Role.BOOTH, "bth-x", demo["intake_centre"], "/booth"))
        agent: Client = clients("/agent")
        await agent.connect(url2, token(Role.SPECIALIST, "spec-x", demo["home_centre"], "/agent"))

        ticket = await booth.ok("request_service", {"matter": demo["matter"], "consent": True})
        await agent.ok("presence", {"status": "available"})
        offer = await agent.next("offer")  # made by node 2's call, on a session node 1 created
        assert offer["sid"] == ticket["sid"]
        await agent.ok("accept", {"sid": offer["sid"]})
        await booth.next("session_state", lambda d: d["state"] == "in_service")  # node 2 -> bus -> node 1

        sdp = {"type": "offer", "sdp": "v=0\r\n"}
        await agent.ok("signal", {"sid": offer["sid"], "to": "booth", "kind": "offer", "data": sdp})
        assert (await booth.next("signal"))["data"] == sdp
        ice = {"candidate": "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host", "sdpMid": "0",
               "sdpMLineIndex": 0}
        await booth.ok("signal", {"sid": offer["sid"], "to": "agent", "kind": "ice", "data": ice})
        assert (await agent.next("signal"))["data"] == ice

        os.killpg(proc1.pid, signal.SIGKILL)  # node 1 (and its workers) die with the booth's socket on it
        await proc1.wait()
        again: Client = clients("/booth")
        await again.connect(url2, token(Role.BOOTH, "bth-x", demo["intake_centre"], "/booth"))
        resumed = await again.next("session_state", lambda d: d.get("act") == "resume")
        assert (resumed["sid"], resumed["ticket"], resumed["state"]) == (ticket["sid"], ticket["ticket"], "in_service")
        await again.ok("signal", {"sid": offer["sid"], "to": "agent", "kind": "offer", "data": sdp})
        assert (await agent.next("signal"))["kind"] == "offer"  # renegotiation under the same session


async def test_a_deaf_node_resubscribes_and_hears_again(start_server: Any, clients: Any,
                                                        demo: dict[str, str]) -> None:
    n1 = await start_server(secret=SECRET, bus_probe_seconds=0.2)
    n2 = await start_server(secret=SECRET, bus_probe_seconds=0.2)
    booth: Client = clients("/booth")
    await booth.connect(n1.url, token(Role.BOOTH, "bth-d", demo["intake_centre"], "/booth"))
    agent: Client = clients("/agent")
    await agent.connect(n2.url, token(Role.SPECIALIST, "spec-d", demo["home_centre"], "/agent"))

    manager = n1.app[SIO].manager
    await manager.pubsub.unsubscribe()  # node 1 silently stops hearing the bus; publishing still works
    manager.resubscribed.clear()
    async with asyncio.timeout(10):
        await manager.resubscribed.wait()
    assert manager.resubscriptions >= 1

    ticket = await booth.ok("request_service", {"matter": demo["matter"], "consent": True})
    await agent.ok("presence", {"status": "available"})
    await agent.ok("accept", {"sid": (await agent.next("offer"))["sid"]})
    state = await booth.next("session_state", lambda d: d["state"] == "in_service")  # heard across the bus
    assert state["sid"] == ticket["sid"]
