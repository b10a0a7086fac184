"""Network bench (issue 21, first version): video through an impaired link, per path and profile.

Impairment: the userspace UDP relay of ``bench/netem.py`` (this kernel has no sch_netem). Each
peer's SDP is rewritten so that its only remote candidate is a relay port (``steer_sdp``); the
bench checks every call really goes through it: the receiver's selected candidate pair must
point at a relay port, and the relay must have carried the bytes the receiver counts. Why not
Chromium's ``WebRTC-FakeNetwork*Config`` field trials: see ``--fieldtrial-check`` and the
docstring of ``bench/netem.py`` (they cannot impair an aiortc sender nor schedule a drop).

Paths (each a fresh call per profile, media one way, sender = relay side A):
- ``chromium``: Chromium -> Chromium, two pages in two contexts of one browser, the fake camera
  at the agent preview's format (1280x720, 15 fps, ``contentHint = 'detail'``), libwebrtc
  against itself: the baseline.
- ``agent``: aiortc -> Chromium, the device agent's own preview track (``PreviewTrack`` over the
  synthetic 高拍仪, 1280x720 at 15 fps, aiortc's VP8) to a Chromium page: the weakest link.

Per call: connect, wait for the first rendered frame, ``--warmup`` s, then ``--seconds`` s
measured. Profile ``drop`` is clean with 100% loss both ways for 3 s in the middle of the
measured span (``UdpRelay.drop_for``).

Measured at the receiving page, on one wall clock (``performance.timeOrigin + now``):
- fps: frames rendered (``requestVideoFrameCallback``) in the span / span;
- freeze: share of the span inside gaps > 500 ms between rendered frames (the span's edges
  count as frames, so a stall at the end counts too);
- rtt p95: ``candidate-pair.currentRoundTripTime`` of the receiver's selected pair (STUN over
  the same relay), sampled every 0.5 s; for the chromium path also ``remote-inbound-rtp``
  (RTCP) at the sender;
- lost: ``inbound-rtp.packetsLost`` delta over the span (after NACK repair); relay drops;
- recover (drop only): first rendered frame after the link returns, minus its return.
Not yet measured (``n/a`` in the last line): end-to-end frame delay, audio concealment, the
preview's legibility, coturn relay-only paths.

Usage: .venv/bin/python bench/network_bench.py [--paths chromium,agent]
       [--profiles clean,province,busy,bad,drop] [--seconds 12] [--warmup 3] [--seed 1]
       .venv/bin/python bench/network_bench.py --fieldtrial-check
Last line: network: busy agent fps F (chromium C, ratio R), freeze S%, recover T s, relay n/a
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `bench.netem` when run as a script

import aioice.ice  # noqa: E402
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription  # noqa: E402
from playwright.async_api import Browser, Page, async_playwright  # noqa: E402

from bench.netem import PROFILES, UdpRelay, steer_sdp  # noqa: E402
from citizen_client.camera import SyntheticCamera  # noqa: E402
from citizen_client.preview import FpsMeter, PreviewTrack  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox", "--disable-gpu", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
    # a receiving page never calls getUserMedia, so Chromium would hide its host address behind
    # an mDNS name; the relay needs the real 127.0.0.1 candidate on both sides
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]
PAGE = "http://127.0.0.1/network-bench"  # page.route serves it; loopback is a secure context
FREEZE_GAP_MS = 500.0
DROP_S = 3.0

COMMON_JS = """() => {
  window.gathered = (pc) => new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') resolve();
    });
  });
  window.selectedPair = async (pc) => {
    const stats = await pc.getStats();
    let pair = null, remote = null;
    stats.forEach((s) => {
      if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
    });
    if (pair) remote = stats.get(pair.remoteCandidateId);
    return { rtt: pair ? pair.currentRoundTripTime : null, port: remote ? remote.port : null };
  };
}"""

SENDER_OFFER = """async () => {
  // the same source as the agent's preview: 1280x720 at 15 fps, a document-like 'detail' hint
  const stream = await navigator.mediaDevices.getUserMedia(
    { video: { width: 1280, height: 720, frameRate: 15 } });
  const track = stream.getVideoTracks()[0];
  track.contentHint = 'detail';
  const pc = new RTCPeerConnection({ iceServers: [] });
  window.tx = { pc, rtcp: [] };
  pc.addTrack(track, stream);
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  window.tx.timer = setInterval(async () => {
    (await pc.getStats()).forEach((s) => {
      if (s.type === 'remote-inbound-rtp' && s.roundTripTime !== undefined)
        window.tx.rtcp.push([performance.timeOrigin + performance.now(), s.roundTripTime]);
    });
  }, 500);
  return pc.localDescription.sdp;
}"""

RECEIVER_ANSWER = """async (offer) => {
  const pc = new RTCPeerConnection({ iceServers: [] });
  const rx = window.rx = { pc, frames: [], rtt: [] };
  const v = document.createElement('video');
  v.muted = true; v.playsInline = true;
  document.body.appendChild(v);
  pc.ontrack = (ev) => {
    v.srcObject = new MediaStream([ev.track]);
    const tick = (now) => { rx.frames.push(performance.timeOrigin + now); v.requestVideoFrameCallback(tick); };
    v.requestVideoFrameCallback(tick);
    v.play().catch(() => {});
  };
  await pc.setRemoteDescription({ type: 'offer', sdp: offer });
  await pc.setLocalDescription(await pc.createAnswer());
  await gathered(pc);
  rx.timer = setInterval(async () => {
    const p = await selectedPair(pc);
    if (p.rtt !== null && p.rtt !== undefined) rx.rtt.push([performance.timeOrigin + performance.now(), p.rtt]);
  }, 500);
  return pc.localDescription.sdp;
}"""

INBOUND = """async () => {
  const out = { now: performance.timeOrigin + performance.now() };
  (await window.rx.pc.getStats()).forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video') Object.assign(out, {
      packetsReceived: s.packetsReceived, packetsLost: s.packetsLost, framesDecoded: s.framesDecoded,
      freezeCount: s.freezeCount, totalFreezesDuration: s.totalFreezesDuration,
      nackCount: s.nackCount, pliCount: s.pliCount, firCount: s.firCount,
      width: s.frameWidth, height: s.frameHeight, bytesReceived: s.bytesReceived });
  });
  out.pair = await selectedPair(window.rx.pc);
  return out;
}"""

CLOSE = """() => {
  for (const side of [window.tx, window.rx]) if (side) { clearInterval(side.timer); side.pc.close(); }
}"""


@dataclass
class Result:
    path: str
    profile: str
    fps: float
    freeze: float  # share of the span
    rtt_p95_ms: float | None
    rtcp_rtt_p95_ms: float | None
    lost: int
    relay: str  # relay drops, a>b
    recover_s: float | None
    size: str
    nack: int
    pli: int


def p95(values: list[float]) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, math.ceil(0.95 * len(s)) - 1)]


def freeze_share(frames: list[float], t0: float, t1: float) -> float:
    """Share of [t0, t1] inside gaps over FREEZE_GAP_MS between rendered frames (ms times)."""
    marks = [t0, *[f for f in frames if t0 <= f <= t1], t1]
    frozen = sum(b - a for a, b in zip(marks, marks[1:], strict=False) if b - a > FREEZE_GAP_MS)
    return frozen / (t1 - t0)


async def new_page(browser: Browser) -> Page:
    ctx = await browser.new_context()
    page = await ctx.new_page()
    await page.route(PAGE, lambda route: route.fulfill(body="<!doctype html><body></body>",
                                                       content_type="text/html"))
    await page.goto(PAGE)
    await page.evaluate(COMMON_JS)
    return page


@contextlib.asynccontextmanager
async def chromium_sender(browser: Browser, relay: UdpRelay, rx: Page) -> AsyncIterator[Page]:
    """Chromium -> Chromium: offer from a fake-camera page, answer from rx, both steered."""
    tx = await new_page(browser)
    try:
        offer = await tx.evaluate(SENDER_OFFER)
        steered, a_addr = steer_sdp(offer, relay.port("b"))
        relay.set_peer("a", a_addr)
        answer = await rx.evaluate(RECEIVER_ANSWER, steered)
        steered, b_addr = steer_sdp(answer, relay.port("a"))
        relay.set_peer("b", b_addr)
        await tx.evaluate("(sdp) => window.tx.pc.setRemoteDescription({ type: 'answer', sdp })", steered)
        yield tx
    finally:
        with contextlib.suppress(Exception):
            await tx.evaluate(CLOSE)
        await tx.context.close()


@contextlib.asynccontextmanager
async def agent_sender(relay: UdpRelay, rx: Page) -> AsyncIterator[None]:
    """aiortc -> Chromium: the device agent's preview track over the synthetic camera."""
    camera = SyntheticCamera(seed=1)
    await camera.open()
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        pc.addTrack(PreviewTrack(camera, FpsMeter()))
        await pc.setLocalDescription(await pc.createOffer())  # aiortc gathers before returning
        steered, a_addr = steer_sdp(pc.localDescription.sdp, relay.port("b"))
        relay.set_peer("a", a_addr)
        answer = await rx.evaluate(RECEIVER_ANSWER, steered)
        steered, b_addr = steer_sdp(answer, relay.port("a"))
        relay.set_peer("b", b_addr)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=steered, type="answer"))
        yield
    finally:
        await pc.close()
        await camera.close()


async def measure(path: str, profile_name: str, browser: Browser, seconds: float, warmup: float,
                  seed: int) -> Result:
    profile = replace(PROFILES[profile_name], drop_windows=())  # the drop is placed below
    relay = UdpRelay(profile, seed=seed)
    await relay.start()
    rx = await new_page(browser)
    tx: Page | None = None
    try:
        sender = chromium_sender(browser, relay, rx) if path == "chromium" else agent_sender(relay, rx)
        async with sender as tx:
            await rx.wait_for_function("() => window.rx && window.rx.frames.length > 0", timeout=20000)
            await asyncio.sleep(warmup)
            before = await rx.evaluate(INBOUND)
            relay_before = relay.counters("a>b").as_dict()
            recover_s = None
            if profile_name == "drop":
                await asyncio.sleep(seconds / 2 - DROP_S / 2)
                relay.drop_for(DROP_S)
                back_ms = (time.time() + DROP_S) * 1000.0
                await asyncio.sleep(seconds / 2 + DROP_S / 2)
            else:
                await asyncio.sleep(seconds)
            after = await rx.evaluate(INBOUND)
            frames: list[float] = await rx.evaluate("() => window.rx.frames")
            rtts: list[list[float]] = await rx.evaluate("() => window.rx.rtt")
            rtcp: list[list[float]] = await tx.evaluate("() => window.tx.rtcp") if isinstance(tx, Page) else []
            t0, t1 = before["now"], after["now"]
            if profile_name == "drop":
                later = [f for f in frames if f >= back_ms]
                recover_s = (later[0] - back_ms) / 1000.0 if later else float("inf")
            ports = {relay.port("a"), relay.port("b")}
            if after["pair"]["port"] not in ports:
                raise RuntimeError(f"media bypassed the relay: selected remote port {after['pair']['port']}")
            relay_after = relay.counters("a>b").as_dict()
            relayed = relay_after["bytes_delivered"] - relay_before["bytes_delivered"]
            received = after.get("bytesReceived", 0) - before.get("bytesReceived", 0)
            if relayed < received:  # RTP payload bytes received cannot exceed the UDP bytes relayed
                raise RuntimeError(f"media bypassed the relay: relayed {relayed} B < received {received} B")
            drops = {k: v - relay_before["dropped"].get(k, 0) for k, v in relay_after["dropped"].items()}
            n = sum(1 for f in frames if t0 <= f <= t1)
            return Result(
                path=path, profile=profile_name, fps=n / ((t1 - t0) / 1000.0),
                freeze=freeze_share(frames, t0, t1),
                rtt_p95_ms=_ms(p95([r for t, r in rtts if t0 <= t <= t1])),
                rtcp_rtt_p95_ms=_ms(p95([r for t, r in rtcp if t0 <= t <= t1])),
                lost=int(after.get("packetsLost", 0) - before.get("packetsLost", 0)),
                relay=",".join(f"{k}={v}" for k, v in sorted(drops.items()) if v) or "-",
                recover_s=recover_s, size=f"{after.get('width')}x{after.get('height')}",
                nack=int(after.get("nackCount", 0) - before.get("nackCount", 0)),
                pli=int(after.get("pliCount", 0) - before.get("pliCount", 0)))
    finally:
        with contextlib.suppress(Exception):
            await rx.evaluate(CLOSE)
        await rx.context.close()
        await relay.close()


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000.0


def _fmt(v: float | None, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


HEADER = (f"{'path':<9} {'profile':<9} {'fps':>6} {'freeze%':>8} {'rtt95':>6} {'rtcp95':>7} {'lost':>6} "
          f"{'nack':>5} {'pli':>4} {'size':>9} {'recover':>8}  relay drops (a>b)")


def row(r: Result) -> str:
    return (f"{r.path:<9} {r.profile:<9} {r.fps:6.1f} {100 * r.freeze:8.2f} {_fmt(r.rtt_p95_ms, '6.0f'):>6} "
            f"{_fmt(r.rtcp_rtt_p95_ms, '7.0f'):>7} {r.lost:6d} {r.nack:5d} {r.pli:4d} {r.size:>9} "
            f"{_fmt(r.recover_s, '7.2f') + 's' if r.recover_s is not None else 'n/a':>8}  {r.relay}")


def last_line(results: list[Result]) -> str:
    by = {(r.path, r.profile): r for r in results}
    agent, chrome = by.get(("agent", "busy")), by.get(("chromium", "busy"))
    drop = by.get(("agent", "drop"))
    f = _fmt(agent.fps if agent else None, ".1f")
    c = _fmt(chrome.fps if chrome else None, ".1f")
    ratio = _fmt(agent.fps / chrome.fps if agent and chrome and chrome.fps else None, ".2f")
    s = _fmt(100 * agent.freeze if agent else None, ".1f")
    t = _fmt(drop.recover_s if drop else None, ".2f")
    return f"network: busy agent fps {f} (chromium {c}, ratio {ratio}), freeze {s}%, recover {t} s, relay n/a"


# --- Chromium's own fake network: does Debian's build honour the field trials? ----------------

TRIAL = "WebRTC-FakeNetworkSendConfig/queue_delay_ms:100,loss_percent:10/"
DIRECT_CALL = """async (seconds) => {
  const stream = await navigator.mediaDevices.getUserMedia({ video: true });
  const pc1 = new RTCPeerConnection({ iceServers: [] }), pc2 = new RTCPeerConnection({ iceServers: [] });
  pc1.onicecandidate = (ev) => ev.candidate && pc2.addIceCandidate(ev.candidate);
  pc2.onicecandidate = (ev) => ev.candidate && pc1.addIceCandidate(ev.candidate);
  pc1.addTrack(stream.getVideoTracks()[0], stream);
  await pc1.setLocalDescription(await pc1.createOffer());
  await pc2.setRemoteDescription(pc1.localDescription);
  await pc2.setLocalDescription(await pc2.createAnswer());
  await pc1.setRemoteDescription(pc2.localDescription);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const out = {};
  (await pc1.getStats()).forEach((s) => {
    if (s.type === 'remote-inbound-rtp') { out.rtcpRtt = s.roundTripTime; out.fractionLost = s.fractionLost; }
  });
  (await pc2.getStats()).forEach((s) => {
    if (s.type === 'inbound-rtp') { out.packetsLost = s.packetsLost; out.packetsReceived = s.packetsReceived;
                                    out.nackCount = s.nackCount; }
    if (s.type === 'candidate-pair' && s.nominated) out.stunRtt = s.currentRoundTripTime;
  });
  pc1.close(); pc2.close();
  return out;
}"""


async def fieldtrial_check(seconds: float, trials: list[str]) -> None:
    """Run one direct two-pc call without and with each trial; print what getStats says."""
    async with async_playwright() as pw:
        runs = [("without", [])] + [("with", [f"--force-fieldtrials={t}"]) for t in trials]
        for label, extra in runs:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS + extra)
            try:
                page = await new_page(browser)
                out = await asyncio.wait_for(page.evaluate(DIRECT_CALL, seconds), timeout=seconds + 20)
                print(f"{label:>8} {extra[0] if extra else ''} {out}", flush=True)
            finally:
                await browser.close()


async def main(paths: list[str], profiles: list[str], seconds: float, warmup: float, seed: int) -> None:
    logging.basicConfig(level=logging.WARNING)
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"] if use_ipv4 else []
    results: list[Result] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            print(f"relay: bench/netem.py, seed {seed}, {seconds:.0f} s measured after {warmup:.0f} s warm-up")
            print(HEADER, flush=True)
            for path in paths:
                for name in profiles:
                    try:
                        r = await measure(path, name, browser, seconds, warmup, seed)
                    except Exception as exc:  # one failed call must not hide the others
                        print(f"{path:<9} {name:<9} FAILED: {type(exc).__name__}: {exc}", flush=True)
                        continue
                    results.append(r)
                    print(row(r), flush=True)
        finally:
            await browser.close()
    print(last_line(results))


def _args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paths", default="chromium,agent")
    ap.add_argument("--profiles", default="clean,province,busy,bad,drop")
    ap.add_argument("--seconds", type=float, default=12.0)
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--fieldtrial-check", action="store_true")
    ap.add_argument("--trial", action="append", help="a --force-fieldtrials value to check (repeatable)")
    return ap.parse_args()


if __name__ == "__main__":
    a = _args()
    if a.fieldtrial_check:
        asyncio.run(fieldtrial_check(8.0, a.trial or [TRIAL]))
    else:
        bad = [p for p in a.profiles.split(",") if p not in PROFILES]
        if bad:
            raise SystemExit(f"unknown profile(s): {bad}; known: {sorted(PROFILES)}")
        asyncio.run(main(a.paths.split(","), a.profiles.split(","), a.seconds, a.warmup, a.seed))
