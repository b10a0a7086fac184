"""Issue 21, calls that can only relay: a relay-only call through coturn behind the impaired front
(``bench/turn_path.py``) connects, its media crosses the front, and it resumes after the front drops
everything for a while, without renegotiating.

Real parts only: Debian's coturn (the cluster's template), two aiortc peers with
``iceTransportPolicy='relay'`` (aioice then gathers no host or server-reflexive candidate at all) and
a small synthetic video track. The booth's link carries the ``province`` profile (impaired once per
direction: see the module docstring of bench/turn_path.py); the centre's is clean.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

import pytest
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
)
from aiortc.mediastreams import MediaStreamError

from bench.turn_path import TurnPath, turn_path
from tests.console.peers import SyntheticVideo

BOOTH, CENTRE = "booth-1", "centre-1"
DROP_S = 2.0


class Frames:
    """Consume a remote track; the arrival time of every frame."""

    def __init__(self) -> None:
        self.at: list[float] = []
        self.changed = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def watch(self, track: MediaStreamTrack) -> None:
        self.task = asyncio.create_task(self._run(track))

    async def _run(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                await track.recv()
                self.at.append(time.monotonic())
                self.changed.set()

    async def until(self, done: Callable[[], bool], within_s: float) -> None:
        async with asyncio.timeout(within_s):
            while not done():
                self.changed.clear()
                await self.changed.wait()


def relay_peer(tp: TurnPath, name: str) -> RTCPeerConnection:
    servers = [RTCIceServer(**s) for s in tp.ice_servers_for(name)]
    return RTCPeerConnection(RTCConfiguration(iceServers=servers, iceTransportPolicy=RTCIceTransportPolicy.RELAY))


def selected_pair(pc: RTCPeerConnection) -> tuple[str, str, tuple[str, int]]:
    """(local type, remote type, remote address) of the nominated pair of pc's (bundled) transport."""
    ice = pc.getTransceivers()[0].sender.transport.transport
    pair = ice._connection._nominated[1]  # aioice keeps it private; getStats() has no candidate types
    return pair.local_candidate.type, pair.remote_candidate.type, pair.remote_addr


async def rtp_packets(pc: RTCPeerConnection, kind: str, field: str) -> int:
    """The RTP packets pc's getStats() reports for ``kind`` (outbound-rtp or inbound-rtp)."""
    report = await pc.getStats()
    return sum(int(getattr(s, field)) for s in report.values() if s.type == kind)


@contextlib.asynccontextmanager
async def call(tp: TurnPath) -> AsyncIterator[tuple[RTCPeerConnection, RTCPeerConnection, Frames]]:
    """The booth sends video to the centre, both relay-only; yields once both are connected."""
    booth, centre = relay_peer(tp, BOOTH), relay_peer(tp, CENTRE)
    frames = Frames()
    centre.on("track", frames.watch)
    booth.addTrack(SyntheticVideo(320, 180, 15))
    try:
        await booth.setLocalDescription(await booth.createOffer())
        await centre.setRemoteDescription(booth.localDescription)
        await centre.setLocalDescription(await centre.createAnswer())
        await booth.setRemoteDescription(centre.localDescription)
        connected = asyncio.Event()
        for pc in (booth, centre):
            pc.on("connectionstatechange", lambda: connected.set())
        async with asyncio.timeout(20):
            while not all(pc.connectionState == "connected" for pc in (booth, centre)):
                assert "failed" not in (booth.connectionState, centre.connectionState)
                connected.clear()
                await connected.wait()
        yield booth, centre, frames
    finally:
        tp.relay.restore()  # a failed test's drop would hold each peer's TURN deallocation for ~40 s
        await booth.close()
        await centre.close()
        if frames.task is not None:
            await frames.task


@pytest.mark.timeout(60)
async def test_a_relay_only_call_crosses_the_front_and_comes_back_after_a_drop() -> None:
    async with turn_path("province", seed=21, impair=(BOOTH,)) as tp, call(tp) as (booth, centre, frames):
        await frames.until(lambda: len(frames.at) >= 5, within_s=20)

        # both ends of the selected pair are coturn's relay addresses: nothing went direct
        low, high = tp.coturn.ports.relay
        for pc in (booth, centre):
            local, remote, (host, port) = selected_pair(pc)
            assert local == "relay" and remote in ("relay", "prflx"), (local, remote)
            assert host == "127.0.0.1" and low <= port <= high, (host, port)
        # and the media crossed the front: the booth's link up, the centre's link down
        assert set(tp.relay.links) >= {BOOTH, CENTRE}
        assert tp.relay.links[BOOTH].impaired and not tp.relay.links[CENTRE].impaired
        # (every RTP packet the booth sent went up its link; every one the centre got came down its own)
        received = await rtp_packets(centre, "inbound-rtp", "packetsReceived")
        sent = await rtp_packets(booth, "outbound-rtp", "packetsSent")
        assert sent > 0 and received > 0
        async with asyncio.timeout(10):  # (a datagram may still be on its way through the front)
            await tp.relay.wait(lambda: tp.relay.counters(BOOTH)["up"].delivered > sent
                                and tp.relay.counters(CENTRE)["down"].delivered > received)

        # the booth's link drops both ways; the media is relayed again after it, same connection
        _start, end = tp.relay.drop_for(DROP_S, names=(BOOTH,))
        async with asyncio.timeout(DROP_S + 10):
            await tp.relay.wait(lambda: tp.relay.counters(BOOTH)["up"].dropped["window"] > 0
                                and time.monotonic() >= end)
        await frames.until(lambda: sum(t > end for t in frames.at) >= 5, within_s=15)
        assert tp.relay.counters(CENTRE)["down"].dropped["window"] == 0  # only the booth's link dropped
        assert booth.connectionState == centre.connectionState == "connected"
