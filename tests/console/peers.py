"""Test peers for the console: an aiortc booth that answers the console's call, on loopback only.

The kiosk page (issue 6) is the real booth; this stand-in plays the booth side of the /booth
protocol with a synthetic camera so the console's media path can be proven on its own. All ICE
stays on 127.0.0.1 (docs/PLATFORM notes): aioice gathers only 127.0.0.1, and every remote
candidate that is not 127.0.0.1 is dropped before it reaches aiortc.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import re
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import aioice.ice
import numpy as np
import socketio
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from aiortc.sdp import candidate_from_sdp
from av import VideoFrame

LOOPBACK = "127.0.0.1"


@contextlib.contextmanager
def loopback_ice() -> Iterator[None]:
    """Let aioice gather host candidates on 127.0.0.1 only (it skips loopback by default)."""
    real = aioice.ice.get_host_addresses
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: [LOOPBACK]  # type: ignore[assignment]
    try:
        yield
    finally:
        aioice.ice.get_host_addresses = real  # type: ignore[assignment]


_CANDIDATE = re.compile(r"^a=candidate:\S+ \d+ \S+ \d+ (\S+) ")


def loopback_sdp(sdp: str) -> str:
    """Drop every candidate line that is not on 127.0.0.1 (IPv6, mDNS .local, eth0)."""
    keep = []
    for line in sdp.splitlines():
        m = _CANDIDATE.match(line)
        if m and m.group(1) != LOOPBACK:
            continue
        keep.append(line)
    return "\r\n".join(keep) + "\r\n"


class SyntheticVideo(MediaStreamTrack):
    """A moving test pattern, 640×360 at 15 fps (the booth's face camera stand-in)."""

    kind = "video"

    def __init__(self, width: int = 640, height: int = 360, fps: int = 15) -> None:
        super().__init__()
        self.width, self.height, self.fps = width, height, fps
        self.n = 0
        self.t0: float | None = None
        xs = np.linspace(0, 255, width, dtype=np.uint8)
        self.base = np.repeat(np.tile(xs, (height, 1))[:, :, None], 3, axis=2)

    async def recv(self) -> VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self.t0 is None:
            self.t0 = time.monotonic()
        due = self.t0 + self.n / self.fps
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        img = np.roll(self.base, self.n * 8, axis=1).copy()
        x = (self.n * 12) % (self.width - 80)
        img[140:220, x:x + 80] = (255, 80, 40)
        frame = VideoFrame.from_ndarray(img, format="rgb24")
        frame.pts, frame.time_base = self.n, fractions.Fraction(1, self.fps)
        self.n += 1
        return frame


class FrameCounter:
    """Consume a remote track and count its frames; ``changed`` is notified on each one."""

    def __init__(self, changed: asyncio.Condition) -> None:
        self.frames = 0
        self.first: float | None = None
        self.changed = changed
        self.tasks: list[asyncio.Task[None]] = []

    def watch(self, track: MediaStreamTrack) -> None:
        self.tasks.append(asyncio.create_task(self._run(track)))

    async def _run(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError, asyncio.CancelledError):
            while True:
                await track.recv()
                self.frames += 1
                if self.first is None:
                    self.first = time.time() * 1000
                async with self.changed:
                    self.changed.notify_all()

    async def close(self) -> None:
        for t in self.tasks:
            t.cancel()
        for t in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t


class AiortcBooth:
    """The booth side of /booth over socket.io, answering the console's "call" with aiortc."""

    def __init__(self, base: str, booth: str, token: str) -> None:
        self.base, self.booth, self.token = base, booth, token
        self.sio = socketio.AsyncClient(reconnection=False)
        self.pcs: dict[str, RTCPeerConnection] = {}
        self.counters: dict[str, FrameCounter] = {}
        self.events: list[tuple[str, Any]] = []
        self.changed = asyncio.Condition()
        self.offers = 0
        self.sid = ""
        self._lock = asyncio.Lock()
        self.sio.on("*", self._any, namespace="/booth")
        self.sio.on("signal", self._signal, namespace="/booth")

    async def connect(self) -> None:
        async with aiohttp.ClientSession() as http, http.post(
            f"{self.base}/api/booths/{self.booth}/connect-token", json={"role": "booth"},
            headers={"Authorization": f"Bearer {self.token}"},
        ) as resp:
            grant = await resp.json()
        await self.sio.connect(self.base, namespaces=["/booth"], auth={"token": grant["token"]},
                               transports=["websocket"], wait_timeout=10)

    async def request(self, matter: str) -> dict[str, Any]:
        reply = await self.sio.call("request_service", {"matter": matter, "consent": True}, namespace="/booth",
                                    timeout=10)
        assert "ok" in reply, reply
        self.sid = reply["ok"]["sid"]
        return dict(reply["ok"])

    async def call(self, event: str, data: Any) -> dict[str, Any]:
        reply: dict[str, Any] = await self.sio.call(event, data, namespace="/booth", timeout=10)
        return reply

    async def _any(self, event: str, data: Any = None) -> None:
        async with self.changed:
            self.events.append((event, data))
            self.changed.notify_all()

    async def next(self, event: str, where: Any = lambda d: True, within: float = 15) -> Any:
        async with asyncio.timeout(within), self.changed:
            while True:
                for i, (name, data) in enumerate(self.events):
                    if name == event and where(data):
                        del self.events[i]
                        return data
                await self.changed.wait()

    async def _signal(self, d: dict[str, Any]) -> None:
        async with self._lock:  # one signal at a time, in order
            await self._handle(d)
        async with self.changed:
            self.changed.notify_all()

    async def _handle(self, d: dict[str, Any]) -> None:
        name, kind, data = d.get("pc") or "call", d["kind"], d.get("data")
        if kind == "offer":
            old = self.pcs.pop(name, None)
            if old is not None:
                await old.close()
            pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            self.pcs[name] = pc
            counter = self.counters[name] = FrameCounter(self.changed)
            pc.on("track", lambda track: counter.watch(track) if track.kind == "video" else None)
            await pc.setRemoteDescription(RTCSessionDescription(loopback_sdp(data["sdp"]), "offer"))
            if name == "call":
                pc.addTrack(SyntheticVideo())  # the citizen's camera
            await pc.setLocalDescription(await pc.createAnswer())
            self.offers += 1
            answer = {"type": "answer", "sdp": loopback_sdp(pc.localDescription.sdp)}
            await self.sio.call("signal", {"sid": d["sid"], "to": "agent", "kind": "answer", "pc": name,
                                           "data": answer}, namespace="/booth", timeout=10)
        elif kind == "answer" and name in self.pcs:
            await self.pcs[name].setRemoteDescription(RTCSessionDescription(loopback_sdp(data["sdp"]), "answer"))
        elif kind == "ice" and name in self.pcs and data and data.get("candidate"):
            text = str(data["candidate"]).split(":", 1)[-1]
            cand = candidate_from_sdp(text)
            if cand.ip != LOOPBACK:
                return
            cand.sdpMid, cand.sdpMLineIndex = data.get("sdpMid"), data.get("sdpMLineIndex")
            await self.pcs[name].addIceCandidate(cand)
        elif kind == "bye" and name in self.pcs:
            await self.pcs.pop(name).close()

    async def share_screen(self) -> None:
        """Share the booth's screen the way the kiosk does: the booth offers pc "screen"."""
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pcs["screen"] = pc
        pc.addTrack(SyntheticVideo(1280, 720, 10))
        await pc.setLocalDescription(await pc.createOffer())
        offer = {"type": "offer", "sdp": loopback_sdp(pc.localDescription.sdp)}
        reply = await self.sio.call("signal", {"sid": self.sid, "to": "agent", "kind": "offer", "pc": "screen",
                                               "data": offer}, namespace="/booth", timeout=10)
        assert "ok" in reply, reply

    async def frames(self, name: str = "call", at_least: int = 1, within: float = 20) -> int:
        """Wait until the console's video on pc ``name`` has delivered ``at_least`` frames."""
        def enough() -> bool:
            c = self.counters.get(name)
            return c is not None and c.frames >= at_least

        async with asyncio.timeout(within), self.changed:
            await self.changed.wait_for(enough)
        return self.counters[name].frames

    async def close(self) -> None:
        for c in self.counters.values():
            await c.close()
        for pc in self.pcs.values():
            await pc.close()
        if self.sio.connected:
            await self.sio.disconnect()
        await self.sio.shutdown()
