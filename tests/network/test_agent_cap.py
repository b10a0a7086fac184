"""The device agent's preview falls under a bandwidth cap and comes back after it lifts (issue 21).

Real parts: the agent's preview (``PreviewFeed`` over the synthetic 高拍仪, sent with
``add_adaptive_video`` as the agent does) answers an offer from a real Chromium page, as the
console's would be; the media crosses ``bench/netem.py``'s relay (``steer_sdp`` on both SDPs,
aioice on 127.0.0.1 only), whose agent -> page direction is capped at 500 kbit/s. Chromium's
receive-side estimator sends REMB (aiortc answers without transport-cc), the relay's drop-tail
queue loses what does not fit, and the agent must adapt to both.

The agent's send rate is what reaches the relay from it (payload + IPv4/UDP headers, before the
cap drops anything), over a sliding window; the test waits for conditions with deadlines.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aioice.ice
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from playwright.async_api import Page

from bench.netem import UDP_IP_OVERHEAD, Profile, UdpRelay, steer_sdp
from citizen_client.adapt import Adaptation, add_adaptive_video
from citizen_client.camera import SyntheticCamera
from citizen_client.preview import FpsMeter, PreviewFeed
from tests.screens import chromium

CAP_KBPS = 500.0
WINDOW_S = 2.0  # the send rate is averaged over this
DEADLINE_S = 60.0  # generous: after a cap, Chromium's REMB climbs back slowly (measured 20-30 s to pass it)
PAGE = "http://127.0.0.1/agent-cap"  # page.route serves it; loopback is a secure context

OFFER = """async () => {
  const pc = new RTCPeerConnection({ iceServers: [] });
  const rx = window.rx = { pc, frames: 0 };
  pc.addTransceiver('video', { direction: 'recvonly' });
  const v = document.createElement('video');
  v.muted = true; v.playsInline = true;
  document.body.appendChild(v);
  pc.ontrack = (ev) => {
    v.srcObject = new MediaStream([ev.track]);
    const tick = () => { rx.frames++; v.requestVideoFrameCallback(tick); };
    v.requestVideoFrameCallback(tick);
    v.play().catch(() => {});
  };
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && resolve());
  });
  return pc.localDescription.sdp;
}"""


class SendRate:
    """The agent's send rate into the relay (bit/s) over the last WINDOW_S, from its counters."""

    def __init__(self, relay: UdpRelay) -> None:
        self.relay = relay
        self.samples: deque[tuple[float, int]] = deque()

    def bps(self) -> float | None:
        """The rate over the window, or None until the window is full."""
        c = self.relay.counters("a>b")
        now = time.monotonic()
        self.samples.append((now, c.bytes_in + UDP_IP_OVERHEAD * c.packets_in))
        while len(self.samples) > 1 and self.samples[1][0] <= now - WINDOW_S:
            self.samples.popleft()
        t0, b0 = self.samples[0]
        if now - t0 < WINDOW_S:
            return None
        return (self.samples[-1][1] - b0) * 8 / (now - t0)

    def restart(self) -> None:
        self.samples.clear()


@dataclass
class Call:
    relay: UdpRelay
    page: Page
    adaptation: Adaptation
    rate: SendRate

    async def until(self, what: str, done: object) -> None:
        """Wait (with a deadline) until ``done()`` holds, re-checked on every relayed packet."""
        try:
            async with asyncio.timeout(DEADLINE_S):
                await self.relay.wait(done)  # type: ignore[arg-type]
        except TimeoutError:
            pytest.fail(f"{what}: not within {DEADLINE_S:.0f} s; rate {self.rate.bps()} bit/s, "
                        f"adaptation {self.adaptation.snapshot()}")


@pytest.fixture
async def call(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Call]:
    monkeypatch.setattr(aioice.ice, "get_host_addresses",
                        lambda use_ipv4, use_ipv6: ["127.0.0.1"] if use_ipv4 else [])
    relay = UdpRelay(Profile("capped", rate_kbps=CAP_KBPS), Profile("clean"), seed=1)  # a: agent, b: page
    await relay.start()
    camera = SyntheticCamera(seed=1)
    await camera.open()
    feed = PreviewFeed(camera, FpsMeter())
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        # a receiving page never calls getUserMedia: without this flag its host address hides behind mDNS
        async with chromium("--disable-features=WebRtcHideLocalIpsWithMdns") as browser:
            ctx = await browser.new_context()
            page = await ctx.new_page()
            await page.route(PAGE, lambda route: route.fulfill(body="<!doctype html><body></body>",
                                                               content_type="text/html"))
            await page.goto(PAGE)
            offer, b_addr = steer_sdp(await page.evaluate(OFFER), relay.port("a"))
            relay.set_peer("b", b_addr)
            # as DeviceAgent._answer: the offer first, then the preview on its video m-line
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
            adaptation = add_adaptive_video(pc, feed.subscribe())
            await pc.setLocalDescription(await pc.createAnswer())
            answer, a_addr = steer_sdp(pc.localDescription.sdp, relay.port("b"))
            relay.set_peer("a", a_addr)
            await page.evaluate("(sdp) => window.rx.pc.setRemoteDescription({ type: 'answer', sdp })", answer)
            try:
                yield Call(relay, page, adaptation, SendRate(relay))
            finally:
                with contextlib.suppress(Exception):
                    await page.evaluate("() => window.rx.pc.close()")
                await ctx.close()
    finally:
        await pc.close()
        await feed.close()
        await camera.close()
        await relay.close()


async def test_the_agents_preview_falls_under_a_cap_and_comes_back_after_it_lifts(call: Call) -> None:
    await call.page.wait_for_function("() => window.rx.frames > 0", timeout=DEADLINE_S * 1000)
    cap_bps = CAP_KBPS * 1000

    def under_cap() -> bool:
        bps = call.rate.bps()
        return bps is not None and bps < cap_bps and call.adaptation.snapshot()["target_bps"] < cap_bps

    await call.until("the send rate under the cap", under_cap)
    snap = call.adaptation.snapshot()
    assert snap["remb_bps"] is not None  # Chromium's estimate reached the agent ...
    assert snap["rung"] != "720p15"  # ... and the preview stepped down the ladder
    frames = await call.page.evaluate("() => window.rx.frames")

    call.relay.set_rate("a>b", None)  # lift the cap on the live relay
    call.rate.restart()

    def over_cap() -> bool:
        bps = call.rate.bps()
        return bps is not None and bps > cap_bps

    await call.until("the send rate back over the cap", over_cap)
    assert call.relay.counters("a>b").dropped["queue"] > 0  # the cap really bit before
    assert await call.page.evaluate("() => window.rx.frames") > frames  # the preview kept playing
