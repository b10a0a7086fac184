"""Call set-up benchmark: accept -> first decoded frame, on every stream, on loopback.

Set-up (all real, one machine): a private redis-server, one window_server (demo chain), the
kiosk page of booth sh-huangpu-01 in one Chromium context (fake camera), the device agent with
its synthetic 高拍仪 in this process (aiortc, ICE on 127.0.0.1 only), and the specialist's
console (spec-js-nantong) in another Chromium context. Each run: the kiosk takes a ticket for
js-320600-housing-fund-transfer, the console is offered it and accepts (key A), and we wait
until video decodes on every stream; the console then completes the session and the kiosk
returns to its start screen. One warm-up run is not counted.

What is measured, in the browsers, on one clock: ``performance.timeOrigin + performance.now()``
(wall-clock milliseconds with sub-ms resolution, comparable between the two pages of one
machine).
- t0: the console's accept key press (``rwConsole.marks.accept``, before the accept is sent).
- console, call: first frame of the citizen's video, ``requestVideoFrameCallback`` on its
  <video> (the frame was decoded and handed to the compositor).
- booth, call: first frame of the specialist's video at the kiosk: an init script wraps
  RTCPeerConnection and attaches every remote video track to a 2 px <video> with
  ``requestVideoFrameCallback`` (the kiosk's own code is untouched).
- console, preview: first frame of the device agent's preview (requestVideoFrameCallback).
- ICE: ``iceConnectionState`` reaching connected, per peer connection, in the console.
"both" is the later of the call's two sides; "all" the latest of every stream.

Baseline, measured in the same run and browser: raw WebRTC in one page, the floor of what
Chromium itself needs with zero signaling. A fresh page (its own context, same launch flags)
holds two RTCPeerConnections (no ICE servers) that hand each other their ICE candidates
directly; the fake camera's stream is obtained once, before any clock starts. Each run: pc1
gets the camera track, t0 = ``performance.now()``, then offer/answer straight between the two,
pc2's remote track on a <video>; first frame by ``requestVideoFrameCallback`` and pc2's
``iceConnectionState`` reaching connected, both after t0. Both pcs are closed after each run;
same number of runs, one warm-up not counted.

A third party joining (issue 19): after the call runs, one more session is set up and a guest
page (/guest, the real page in a third Chromium context, signed in as the demo chain manager, who
may monitor any centre's session) joins it ``--joins`` times (+1 warm-up): each join loads
``/guest?sid=…&mode=monitor``, the page sends ``join`` and, on its ack, offers its three peer
connections (booth, specialist, device agent). Measured on the guest page's clock: t0 = the join
ack's arrival (the accept of the join: the mic is obtained before, once per page load); the first
rendered frame (requestVideoFrameCallback) of each of the three streams; "join" is the latest of
the three. The guest then presses 离开 and the next join starts from a fresh page load.

Usage: .venv/bin/python bench/call_setup_bench.py [--runs 20] [--joins 10]
Last line: call_setup: accept->first frame p50 <ms> p95 <ms>, ice p50 <ms>, raw webrtc p50 <ms>, join p50 <ms>
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import statistics
import tempfile
import time
from pathlib import Path

import aioice.ice
from aiohttp import web
from playwright.async_api import Page, async_playwright

from citizen_client.agent import AgentConfig, DeviceAgent
from citizen_client.camera import open_camera
from citizen_client.control import start_control
from window_server.app import create_app
from window_server.runtime.catalogue import load_catalogue
from window_server.runtime.redis_server import EmbeddedRedis
from window_server.settings import build_settings

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox", "--disable-gpu", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]
BOOTH, BOOTH_TOKEN, INTAKE = "sh-huangpu-01", "demo-sh-huangpu-01", "sh-huangpu"
SPECIALIST, MATTER = "spec-js-nantong", "js-320600-housing-fund-transfer"
GUEST = "chain-manager"  # may monitor any centre's session (a team lead only their own centre's)
GUEST_TILES = ("#tile-booth", "#tile-agent", "#tile-device")

GUEST_MARKS = """() => {
  const g = window.rwGuest;
  return { joinAck: g.state.marks.joinAck, booth: g.media.marks.booth, agent: g.media.marks.agent,
           device: g.media.marks.device };
}"""

KIOSK_PROBE = """
(() => {
  const Native = window.RTCPeerConnection;
  window.__bench = { frames: [] };
  function Probed(...args) {
    const pc = new Native(...args);
    pc.addEventListener("track", (ev) => {
      if (ev.track.kind !== "video") return;
      const v = document.createElement("video");
      v.muted = true; v.playsInline = true;
      v.style.cssText = "position:fixed;left:0;top:0;width:2px;height:2px;opacity:0.01;pointer-events:none";
      v.srcObject = new MediaStream([ev.track]);
      document.documentElement.appendChild(v);
      v.requestVideoFrameCallback(() => {
        window.__bench.frames.push(performance.timeOrigin + performance.now());
        v.remove();
      });
      v.play().catch(() => {});
    });
    return pc;
  }
  Probed.prototype = Native.prototype;
  Object.setPrototypeOf(Probed, Native);
  window.RTCPeerConnection = Probed;
})();
"""

CONSOLE_DONE = """() => {
  const m = window.rwConsole.marks;
  return m.accept && m.callFrame > m.accept && m.previewFrame > m.accept;
}"""

CONSOLE_MARKS = """() => {
  const S = window.rwConsole.state, m = S.marks;
  const call = S.peers.get("call"), prev = S.peers.get("preview");
  return { accept: m.accept, callFrame: m.callFrame, previewFrame: m.previewFrame,
           callIce: call && call.marks.ice, previewIce: prev && prev.marks.ice };
}"""

RAW_PAGE = "http://127.0.0.1/raw-webrtc"  # page.route serves it; loopback is a secure context

RAW_CAMERA = """async () => {
  window.__camera = await navigator.mediaDevices.getUserMedia({ video: true });
}"""

RAW_RUN = """async () => {
  const stream = window.__camera;
  const pc1 = new RTCPeerConnection(), pc2 = new RTCPeerConnection();
  pc1.onicecandidate = (ev) => ev.candidate && pc2.addIceCandidate(ev.candidate);
  pc2.onicecandidate = (ev) => ev.candidate && pc1.addIceCandidate(ev.candidate);
  const v = document.createElement("video");
  v.muted = true; v.playsInline = true;
  document.body.appendChild(v);
  const ice = new Promise((resolve) => {
    pc2.oniceconnectionstatechange = () => {
      if (pc2.iceConnectionState === "connected") resolve(performance.now());
    };
  });
  const frame = new Promise((resolve) => {
    pc2.ontrack = (ev) => {
      v.srcObject = new MediaStream([ev.track]);
      v.requestVideoFrameCallback(() => resolve(performance.now()));
      v.play().catch(() => {});
    };
  });
  pc1.addTrack(stream.getVideoTracks()[0], stream);
  const t0 = performance.now();
  await pc1.setLocalDescription(await pc1.createOffer());
  await pc2.setRemoteDescription(pc1.localDescription);
  await pc2.setLocalDescription(await pc2.createAnswer());
  await pc1.setRemoteDescription(pc2.localDescription);
  const [f, i] = await Promise.all([frame, ice]);
  pc1.close(); pc2.close(); v.remove();
  return { frame: f - t0, ice: i - t0 };
}"""


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (p95 of 20 runs is the 19th fastest)."""
    s = sorted(values)
    return s[max(0, min(len(s) - 1, math.ceil(q * len(s)) - 1))]


class Kiosk:
    def __init__(self, page: Page) -> None:
        self.page = page

    async def screen(self, name: str, within_ms: int = 30000) -> None:
        await self.page.wait_for_selector(f"body[data-screen='{name}']", timeout=within_ms)

    async def ticket(self, region: str) -> None:
        """As tests/screens.py walk_to_consent: the matter first, then its place if asked, no priority."""
        p = self.page
        await self.screen("welcome")
        await p.click("#btn-start")
        await self.screen("matter")
        await p.click(f"#matter-list [data-matters~='{MATTER}']")
        await p.wait_for_selector("body[data-screen='place'], body[data-screen='priority']")
        if await p.locator("body[data-screen='place']").count():
            await p.click(f"#place-list [data-region='{region}'][data-matter='{MATTER}']")
        await self.screen("priority")
        await p.click("[data-priority='']")
        await self.screen("consent")
        await p.click("#consent-yes")
        await self.screen("waiting")

    async def first_frame_after(self, t0: float) -> float:
        handle = await self.page.wait_for_function(
            "(t0) => (window.__bench.frames.find((t) => t > t0) || false)", arg=t0, timeout=20000)
        return float(await handle.json_value())

    async def back_to_start(self) -> None:
        await self.screen("rating")
        await self.page.click("#rating-skip")
        await self.screen("receipt")
        await self.page.click("#receipt-done")
        await self.screen("welcome")


async def one_run(console: Page, kiosk: Kiosk, region: str) -> dict[str, float]:
    await kiosk.ticket(region)
    await console.wait_for_selector("#offer:not([hidden])", timeout=20000)
    await console.keyboard.press("a")
    await console.wait_for_function(CONSOLE_DONE, timeout=20000, polling=20)
    m = await console.evaluate(CONSOLE_MARKS)
    t0 = float(m["accept"])
    booth = await kiosk.first_frame_after(t0)
    out = {
        "console_call": m["callFrame"] - t0,
        "booth_call": booth - t0,
        "call_ice": (m["callIce"] or float("nan")) - t0,
        "preview": m["previewFrame"] - t0,
        "preview_ice": (m["previewIce"] or float("nan")) - t0,
    }
    out["call_both"] = max(out["console_call"], out["booth_call"])
    out["all"] = max(out["call_both"], out["preview"])
    await finish(console, kiosk)
    return out


async def finish(console: Page, kiosk: Kiosk) -> None:
    """Complete the session (consultation) and let the kiosk go back to its start screen."""
    await console.keyboard.press("e")
    await console.click("#done-submit")
    await console.wait_for_selector("#idle:not([hidden])")
    await kiosk.back_to_start()
    await console.wait_for_selector("#status-pill.p-available", timeout=10000)


async def join_runs(guest: Page, base: str, console: Page, kiosk: Kiosk, region: str, joins: int) -> list[dict[str, float]]:
    """A guest page joins one live session ``joins`` (+1 warm-up) times; ms from the join ack to each first frame."""
    await guest.goto(base + "/guest")
    await guest.wait_for_selector("body[data-view='login']")
    await guest.fill("#username", GUEST)
    await guest.fill("#password", "demo1234")
    async with guest.expect_navigation():
        await guest.click("#login-submit")
    await guest.wait_for_selector("body[data-view='inbox']")
    await kiosk.ticket(region)
    await console.wait_for_selector("#offer:not([hidden])", timeout=20000)
    await console.keyboard.press("a")
    await console.wait_for_function(CONSOLE_DONE, timeout=20000, polling=20)
    sid = await console.evaluate("window.rwConsole.state.sess.sid")
    results: list[dict[str, float]] = []
    print(f"\n{'join':>4} {'booth':>8} {'agent':>8} {'device':>8} {'all':>8}   (guest page, ms after the join ack)")
    for i in range(joins + 1):
        await guest.goto(f"{base}/guest?sid={sid}&mode=monitor")
        for tile in GUEST_TILES:
            await guest.wait_for_selector(f"{tile}[data-live]", timeout=20000)
        m = await guest.evaluate(GUEST_MARKS)
        t0 = float(m["joinAck"])
        r = {k: float(m[k]) - t0 for k in ("booth", "agent", "device")}
        r["all"] = max(r.values())
        print(f"{'warm' if i == 0 else i:>4} {r['booth']:8.0f} {r['agent']:8.0f} {r['device']:8.0f} {r['all']:8.0f}",
              flush=True)
        if i:
            results.append(r)
        await guest.click("#btn-leave")
        await guest.wait_for_selector("body[data-view='ended']")
    await finish(console, kiosk)
    return results


async def raw_webrtc(page: Page, runs: int) -> list[dict[str, float]]:
    """The baseline: two RTCPeerConnections in one page, no signaling (see the module docstring)."""
    await page.route(RAW_PAGE, lambda route: route.fulfill(body="<!doctype html><body></body>",
                                                           content_type="text/html"))
    await page.goto(RAW_PAGE)
    await page.evaluate(RAW_CAMERA)
    results: list[dict[str, float]] = []
    print(f"\n{'run':>4} {'frame':>8} {'ice':>8}   (raw WebRTC in one page, ms after createOffer)")
    for i in range(runs + 1):
        r = await asyncio.wait_for(page.evaluate(RAW_RUN), timeout=20)
        print(f"{'warm' if i == 0 else i:>4} {r['frame']:8.1f} {r['ice']:8.1f}", flush=True)
        if i:
            results.append(r)
    return results


async def main(runs: int, joins: int) -> None:
    logging.basicConfig(level=logging.WARNING)
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]  # loopback ICE only
    region = load_catalogue(None, None).matter(MATTER).home_region
    with tempfile.TemporaryDirectory(prefix="rw-callbench-") as tmp:
        redis = EmbeddedRedis(Path(tmp) / "redis")
        redis.start()
        runner: web.AppRunner | None = None
        agent_task: asyncio.Task[None] | None = None
        try:
            settings = build_settings({}, redis_url=redis.url, data_dir=Path(tmp) / "data", port=0, demo=True,
                                      wrap_up_seconds=0, log_level="WARNING")
            runner = web.AppRunner(create_app(settings), access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            host, port = runner.addresses[0][:2]
            base = f"http://{host}:{port}"

            camera = open_camera("synthetic")
            await camera.open()
            agent = DeviceAgent(AgentConfig(server=base, booth=BOOTH, token=BOOTH_TOKEN, control_port=0), camera)
            control, control_port = await start_control(agent, 0, origins=frozenset({base}))
            agent_task = asyncio.create_task(agent.run())
            await agent.wait_for(lambda s: s.registered, within=30)

            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                kctx = await browser.new_context(viewport={"width": 1280, "height": 800})
                await kctx.add_init_script(KIOSK_PROBE)
                kiosk = Kiosk(await kctx.new_page())
                await kiosk.page.goto(f"{base}/booth/{BOOTH}?token={BOOTH_TOKEN}&device={control_port}")
                cctx = await browser.new_context(viewport={"width": 1600, "height": 900})
                console = await cctx.new_page()
                await console.goto(base + "/console")
                await console.fill("#username", SPECIALIST)
                await console.fill("#password", "demo1234")
                await console.click("#login-submit")
                await console.wait_for_selector("#conn.on", timeout=15000)
                await console.click("#btn-available")
                await console.wait_for_selector("#status-pill.p-available")

                results: list[dict[str, float]] = []
                print(f"{'run':>4} {'console':>8} {'booth':>8} {'both':>8} {'call ice':>9} "
                      f"{'preview':>8} {'prev ice':>9} {'all':>8}   (ms after accept)")
                for i in range(runs + 1):
                    r = await one_run(console, kiosk, region)
                    label = "warm" if i == 0 else str(i)
                    print(f"{label:>4} {r['console_call']:8.0f} {r['booth_call']:8.0f} {r['call_both']:8.0f} "
                          f"{r['call_ice']:9.0f} {r['preview']:8.0f} {r['preview_ice']:9.0f} {r['all']:8.0f}",
                          flush=True)
                    if i:
                        results.append(r)
                gctx = await browser.new_context(viewport={"width": 1600, "height": 900})
                joined = await join_runs(await gctx.new_page(), base, console, kiosk, region, joins)
                rctx = await browser.new_context()
                raw = await raw_webrtc(await rctx.new_page(), runs)
                await browser.close()
            await control.cleanup()
        finally:
            if agent_task is not None:
                await agent.stop()
                with contextlib.suppress(asyncio.CancelledError):
                    await agent_task
                await camera.close()
            if runner is not None:
                await runner.cleanup()
            redis.stop()

    print()
    print(f"{'stream (accept -> first frame)':<40} {'p50':>7} {'p95':>7} {'max':>7}")
    rows = [
        ("browser<->browser: console (citizen video)", "console_call"),
        ("browser<->browser: booth (specialist video)", "booth_call"),
        ("browser<->browser: both sides", "call_both"),
        ("browser<->browser: ICE connected", "call_ice"),
        ("device agent->browser: preview", "preview"),
        ("device agent->browser: ICE connected", "preview_ice"),
        ("every stream (both sides + preview)", "all"),
    ]
    for name, k in rows:
        vals = [r[k] for r in results]
        print(f"{name:<44} {statistics.median(vals):7.0f} {pct(vals, 0.95):7.0f} {max(vals):7.0f}")
    for name, k in [("guest join -> citizen video", "booth"), ("guest join -> specialist video", "agent"),
                    ("guest join -> 高拍仪 preview", "device"), ("guest join -> every stream", "all")]:
        vals = [r[k] for r in joined]
        print(f"{name:<44} {statistics.median(vals):7.0f} {pct(vals, 0.95):7.0f} {max(vals):7.0f}")
    for name, k in [("baseline, raw WebRTC in one page: frame", "frame"),
                    ("baseline, raw WebRTC in one page: ICE", "ice")]:
        vals = [r[k] for r in raw]
        print(f"{name:<44} {statistics.median(vals):7.0f} {pct(vals, 0.95):7.0f} {max(vals):7.0f}")
    allv = [r["all"] for r in results]
    ice = [r["call_ice"] for r in results]
    raw_frame = [r["frame"] for r in raw]
    join = [r["all"] for r in joined]
    print(f"runs: {len(results)} (+1 warm-up), joins: {len(joined)} (+1 warm-up), {time.strftime('%Y-%m-%d %H:%M:%S')}; "
          "targets p50 <= 850 ms, p95 <= 1500 ms, join p50 <= 1000 ms")
    print(f"call_setup: accept->first frame p50 {statistics.median(allv):.0f} p95 {pct(allv, 0.95):.0f}, "
          f"ice p50 {statistics.median(ice):.0f}, raw webrtc p50 {statistics.median(raw_frame):.0f}, "
          f"join p50 {statistics.median(join):.0f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--joins", type=int, default=10, help="guest joins to time (issue 19)")
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.joins))
