"""The adaptive preview between two real aiortc peers, through the impairment relay (bench/netem.py).

What the wiring must keep: the receiver decodes the packets the adaptive track hands the sender;
the receiver's REMB and reports reach the controller; NACKs are counted and answered from
aiortc's history (frames keep decoding over a lossy link); a PLI gets a keyframe, and a burst
of PLIs does not get a burst of keyframes. A small ladder (320x180) keeps the CPU cost low; the
source is the agent's own preview track over the synthetic 高拍仪.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from bench.netem import Profile, UdpRelay, steer_sdp
from citizen_client.adapt import Adaptation, Rung, add_adaptive_video
from citizen_client.camera import SyntheticCamera
from citizen_client.preview import FpsMeter, PreviewTrack

SMALL = (Rung("180p15", 320, 180, 15, 0),)
DEADLINE_S = 20.0


@dataclass
class Received:
    sizes: list[tuple[int, int]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def consume(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                f = await track.recv()
                self.sizes.append((f.width, f.height))
                self.changed.set()


@dataclass
class Call:
    relay: UdpRelay
    adaptation: Adaptation
    tx: RTCPeerConnection
    rx: RTCPeerConnection
    received: Received

    async def until(self, done: Callable[[], bool]) -> None:
        """Poll ``done`` after each received frame, with a deadline."""
        async with asyncio.timeout(DEADLINE_S):
            while not done():
                self.received.changed.clear()
                await self.received.changed.wait()


@pytest.fixture
async def call(loopback_ice: None) -> AsyncIterator[Call]:
    relay = UdpRelay(Profile("lossy", loss=0.05), Profile("clean"), seed=5)
    await relay.start()
    camera = SyntheticCamera(seed=2)
    await camera.open()
    tx = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    rx = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    received = Received()
    tasks: list[asyncio.Task[None]] = []

    @rx.on("track")
    def _on_track(track: MediaStreamTrack) -> None:
        tasks.append(asyncio.create_task(received.consume(track)))

    try:
        adaptation = add_adaptive_video(tx, PreviewTrack(camera, FpsMeter(), fps=15), ladder=SMALL,
                                        start_bps=300_000)
        await tx.setLocalDescription(await tx.createOffer())
        offer, a_addr = steer_sdp(tx.localDescription.sdp, relay.port("b"))
        relay.set_peer("a", a_addr)
        await rx.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        await rx.setLocalDescription(await rx.createAnswer())
        answer, b_addr = steer_sdp(rx.localDescription.sdp, relay.port("a"))
        relay.set_peer("b", b_addr)
        await tx.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        yield Call(relay, adaptation, tx, rx, received)
    finally:
        await tx.close()
        await rx.close()
        for t in tasks:
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await t
        await camera.close()
        await relay.close()


async def test_the_adaptive_preview_decodes_hears_remb_and_answers_nack_over_loss(call: Call) -> None:
    snap = call.adaptation.snapshot
    await call.until(lambda: len(call.received.sizes) >= 30 and snap()["nack"] > 0
                     and snap()["remb_bps"] is not None and snap()["loss"] is not None)
    assert set(call.received.sizes) == {(320, 180)}
    assert call.relay.counters("a>b").dropped["loss"] > 0  # the link really lost packets
    s = snap()
    assert s["rung"] == "180p15" and s["target_bps"] <= max(s["remb_bps"], 100_000)
    n = len(call.received.sizes)
    await call.until(lambda: len(call.received.sizes) >= n + 15)  # NACKed frames still decode


async def test_a_pli_gets_a_keyframe_and_a_burst_of_plis_does_not_get_a_burst(call: Call) -> None:
    snap = call.adaptation.snapshot
    await call.until(lambda: len(call.received.sizes) >= 10)
    receiver = call.rx.getReceivers()[0]
    ssrc = call.adaptation.sender._ssrc
    before = snap()["keyframes"]
    for _ in range(20):  # what a receiver in trouble sends; over the relay's clean return path
        await receiver._send_rtcp_pli(ssrc)
    await call.until(lambda: snap()["pli"] >= 20 and snap()["keyframes"] > before)
    assert snap()["keyframes"] - before < 20
