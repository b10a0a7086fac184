"""Booth fixtures: a real server and Redis, a real booth account, the device agent, a specialist.

Media stays on loopback: aioice is told this machine's only address is 127.0.0.1, and the
specialist's peer drops every candidate that is not 127.0.0.1 (PLATFORM.md). The specialist is
played by a socket.io /agent client plus an aiortc peer connection per ``pc``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aioice.ice
import pytest
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.sdp import candidate_from_sdp

from citizen_client.agent import AgentConfig, DeviceAgent
from citizen_client.camera import SyntheticCamera
from tests.signaling.conftest import SECRET, Client, catalogue, clients, demo, server, token  # noqa: F401  (fixtures)
from window_server.appkeys import ACCOUNTS
from window_server.domain.auth import Role

BOOTH = "test-booth-01"


@pytest.fixture(autouse=True)
def loopback_ice(monkeypatch: pytest.MonkeyPatch) -> None:
    """aioice gathers host candidates on 127.0.0.1 only (it skips loopback by default)."""
    monkeypatch.setattr(aioice.ice, "get_host_addresses",
                        lambda use_ipv4, use_ipv6: ["127.0.0.1"] if use_ipv4 else [])


def loopback_only(sdp: str) -> str:
    """Drop every ICE candidate line that is not on 127.0.0.1 (IPv6, mDNS .local, eth0)."""
    lines = [ln for ln in sdp.split("\r\n") if not ln.startswith("a=candidate:") or " 127.0.0.1 " in ln]
    return "\r\n".join(lines)


@dataclass
class Booth:
    """A booth account on a running server, and its kiosk's socket."""

    srv: Any
    id: str
    token: str
    centre: str

    @property
    def url(self) -> str:
        return str(self.srv.url)


@pytest.fixture
async def booth_account(server: Any, demo: dict[str, str]) -> Booth:  # noqa: F811
    _, tok = await server.app[ACCOUNTS].add_booth(BOOTH, demo["intake_centre"], "测试亭")
    return Booth(server, BOOTH, tok, demo["intake_centre"])


@pytest.fixture
async def start_agent() -> AsyncIterator[Callable[..., Awaitable[DeviceAgent]]]:
    """Run device agents (synthetic camera) as tasks; stop them after the test."""
    running: list[tuple[DeviceAgent, asyncio.Task[None]]] = []

    async def start(url: str, booth: str, booth_token: str, **config: Any) -> DeviceAgent:
        camera = SyntheticCamera(seed=3)
        await camera.open()
        cfg = AgentConfig(server=url, booth=booth, token=booth_token, control_port=0,
                          **{"backoff_initial_s": 0.2, "backoff_max_s": 1.0, **config})
        agent = DeviceAgent(cfg, camera)
        running.append((agent, asyncio.create_task(agent.run())))
        return agent

    yield start
    for agent, task in running:
        await agent.stop()
        with contextlib.suppress(asyncio.CancelledError):
            async with asyncio.timeout(10):
                await task
        await agent.camera.close()


@dataclass
class Specialist:
    """The specialist's side: an /agent socket and aiortc peers keyed by ``pc`` name."""

    client: Client
    aid: str
    pcs: dict[str, RTCPeerConnection] = field(default_factory=dict)
    tracks: dict[str, asyncio.Queue[MediaStreamTrack]] = field(default_factory=dict)
    _ice: asyncio.Task[None] | None = None

    def start_ice(self) -> None:
        self._ice = asyncio.create_task(self._add_remote_ice())

    async def _add_remote_ice(self) -> None:
        """Trickled candidates from the booth page: keep the 127.0.0.1 ones."""
        while True:
            msg = await self.client.next("signal", lambda d: d["kind"] == "ice", within=3600)
            pc = self.pcs.get(msg.get("pc") or "call")
            data = msg.get("data") or {}
            cand = data.get("candidate") or ""
            if pc is None or " 127.0.0.1 " not in cand:
                continue
            c = candidate_from_sdp(cand.split(":", 1)[1])
            c.sdpMid, c.sdpMLineIndex = data.get("sdpMid"), data.get("sdpMLineIndex")
            await pc.addIceCandidate(c)

    async def offer(self, sid: str, to: str, name: str, *, send: MediaStreamTrack | None = None,
                    audio: bool = False) -> RTCPeerConnection:
        """Offer a peer connection ``name`` to the booth or its device; wait for the answer."""
        old = self.pcs.pop(name, None)
        if old is not None:
            await old.close()
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pcs[name] = pc
        queue: asyncio.Queue[MediaStreamTrack] = asyncio.Queue()
        self.tracks[name] = queue
        pc.on("track", queue.put_nowait)
        if send is not None:
            pc.addTrack(send)
        else:
            pc.addTransceiver("video", direction="recvonly")
        if audio:
            pc.addTransceiver("audio", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        await self.client.ok("signal", {"sid": sid, "to": to, "kind": "offer", "pc": name,
                                        "data": {"type": "offer", "sdp": loopback_only(pc.localDescription.sdp)}})
        answer = await self.client.next("signal", lambda d: d["kind"] == "answer" and d.get("pc") == name, within=20)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=loopback_only(answer["data"]["sdp"]), type="answer"))
        return pc

    async def track(self, name: str, within: float = 20) -> MediaStreamTrack:
        async with asyncio.timeout(within):
            return await self.tracks[name].get()

    async def close(self) -> None:
        if self._ice is not None:
            self._ice.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ice
        for pc in self.pcs.values():
            await pc.close()
        self.pcs.clear()


@pytest.fixture
async def specialists() -> AsyncIterator[Callable[[Client, str], Specialist]]:
    made: list[Specialist] = []

    def make(client: Client, aid: str) -> Specialist:
        s = Specialist(client, aid)
        made.append(s)
        return s

    yield make
    for s in made:
        await s.close()


async def serve_session(clients: Any, url: str, booth: Booth, demo: dict[str, str],  # noqa: F811
                        aid: str = "spec-1") -> tuple[Client, Client, str]:
    """A session of ``booth`` in service with specialist ``aid``: (booth socket, agent socket, sid)."""
    kiosk = clients("/booth")
    await kiosk.connect(url, token(Role.BOOTH, booth.id, booth.centre, "/booth"))
    agent = clients("/agent")
    await agent.connect(url, token(Role.SPECIALIST, aid, demo["home_centre"], "/agent"))
    ticket = await kiosk.ok("request_service", {"matter": demo["matter"], "consent": True})
    await agent.ok("presence", {"status": "available"})
    offer = await agent.next("offer", lambda d: d["sid"] == ticket["sid"])
    await agent.ok("accept", {"sid": offer["sid"]})
    await kiosk.next("session_state", lambda d: d["state"] == "in_service")
    return kiosk, agent, ticket["sid"]


async def receive_frames(track: MediaStreamTrack, n: int, within: float = 30) -> list[Any]:
    """The next ``n`` decoded frames of a track (their rate is bench/booth_bench.py's to measure)."""
    async with asyncio.timeout(within):
        return [await track.recv() for _ in range(n)]
