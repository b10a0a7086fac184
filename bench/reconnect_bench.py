"""Issue 21, reconnect after a network change: the booth's link drops for 20 s during a relay-only
session, comes back, and how long until video plays again on both sides.

What runs (real parts only): a private redis-server; ``python -m window_server`` in demo mode with
``RW_ICE_SERVERS`` = the impaired front of ``bench/turn_path.py``, ``RW_TURN_SECRET`` = its
coturn's secret and ``RW_ICE_TRANSPORT_POLICY=relay``, so every call is relayed by coturn and
all of it crosses the front; the real kiosk page and the real console page in headless Chromium
(the flows of the tests: ``tests/screens.py``, ``tests/console``). The kiosk takes a ticket, the
specialist accepts, video plays both ways.

The booth's link, both ways, for ``--down`` seconds (20):
- media: ``tp.relay.drop_for(down, names=(booth,))`` drops every datagram of the booth's TURN
  clients (the kiosk page's peer connections) at the front, both directions; the console's link
  stays up. With ``--rebind`` the booth's NAT mapping is also lost: after the drop, the front gives
  the booth's clients new outside ports, so coturn no longer knows them (their allocations are dead:
  only a new allocation, i.e. an ICE restart or a new peer connection, brings media back);
- signaling (``--signaling``): the kiosk page is loaded through :class:`TcpLink`, a TCP proxy in
  front of the app, so its page, its HTTP requests and its socket.io websocket all cross the
  booth's link. ``stall`` (default): for the window nothing is forwarded either way, not even new
  connections (they are accepted and held); what was sent meanwhile is delivered when the link
  returns, as TCP's retransmissions would deliver it (a real TCP stack can add up to its current
  retransmission timeout, seconds after a 20 s outage: this is the optimistic side).
  ``reset``: every open connection is cut at the start and new ones are refused for the window
  (a link change: new address, old connections dead). ``none``: signaling untouched.

Measured: ``requestVideoFrameCallback`` on the console's ``#v-citizen`` and the kiosk's
``#remote-video`` records the wall-clock time of every presented frame; the figure is the first
frame presented after the link's return, minus the return. Session resumed: the same session is
``in_service`` on the console and the kiosk shows the service screen again; the session's own event
stream (Redis) says which states it went through.

    .venv/bin/python -m bench.reconnect_bench [--profile province] [--down 20] [--signaling stall]

Last line: ``reconnect: link down 20 s, media back at console T1 s, kiosk T2 s, session resumed yes/no``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

from playwright.async_api import Page, async_playwright

from bench.turn_path import TurnPath, turn_path
from tests.screens import CHROMIUM, CHROMIUM_ARGS, specialist_ready, walk_to_consent
from tests.service import ROOT, service_env
from window_server.accounts.store import demo_booth_token
from window_server.runtime.catalogue import load_catalogue
from window_server.runtime.redis_server import EmbeddedRedis
from window_server.store.client import make_redis
from window_server.store.events import read_entries
from window_server.store.keys import key

log = logging.getLogger("reconnect_bench")

MATTER = "js-320600-housing-fund-transfer"  # the journey of tests/console: served by js-nantong
SPECIALIST = "spec-js-nantong"
BOOTH = "sh-huangpu-01"
VIEWPORT = {"width": 1280, "height": 800}

# Every RTCPeerConnection of a page (for getStats), and the wall-clock time of every frame each
# <video> named in window.__watch presents (requestVideoFrameCallback; re-armed on every frame,
# and picked up again when the page replaces the element).
PAGE_PROBE = """
(() => {
  const Native = window.RTCPeerConnection;
  window.__pcs = [];
  window.__pcLog = [];  // [wall ms, pc index, event]: creation, connectionState, signalingState
  function Recorded(...args) {
    const pc = new Native(...args);
    const i = window.__pcs.push(pc) - 1;
    const log = (what) => window.__pcLog.push([Date.now(), i, what]);
    log("created");
    pc.addEventListener("connectionstatechange", () => log(pc.connectionState));
    pc.addEventListener("signalingstatechange", () => log("sig:" + pc.signalingState));
    return pc;
  }
  Recorded.prototype = Native.prototype;
  Object.setPrototypeOf(Recorded, Native);
  window.RTCPeerConnection = Recorded;
  window.__frames = {};
  window.__watch = [];
  const arm = (id, el) => {
    const tick = () => {
      const list = window.__frames[id] || (window.__frames[id] = []);
      list.push(Date.now());
      if (list.length > 20000) list.splice(0, 10000);
      if (document.getElementById(id) === el) el.requestVideoFrameCallback(tick);
    };
    el.requestVideoFrameCallback(tick);
  };
  setInterval(() => {
    for (const id of window.__watch) {
      const el = document.getElementById(id);
      if (el && !el.__rw_watched) { el.__rw_watched = true; arm(id, el); }
    }
  }, 200);
})();
"""
FRAMES_AFTER = "([id, t]) => (window.__frames[id] || []).filter((x) => x > t)"
ICE_STATES = """() => (window.__pcs || []).map((pc) => [pc.connectionState, pc.iceConnectionState])"""
PC_LOG = "(t) => window.__pcLog.filter((e) => e[0] >= t).map((e) => [e[0] / 1000 - t / 1000, e[1], e[2]])"


# --- the booth's signaling link: a TCP proxy that can stall or cut -------------------------------


class TcpLink:
    """A TCP proxy 127.0.0.1:<port> -> the app: the booth's signaling crosses it (see module doc)."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.server: asyncio.Server | None = None
        self.up = asyncio.Event()
        self.up.set()
        self.refuse_until = 0.0
        self.pipes: set[asyncio.Task[None]] = set()
        self.writers: set[asyncio.StreamWriter] = set()
        self.connections = 0
        self.accepted: list[float] = []  # wall-clock time of every connection the page opened

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    def down_for(self, seconds: float, mode: str) -> None:
        """Stall (hold everything) or reset (cut and refuse) the link for ``seconds``."""
        if mode == "none":
            return
        if mode == "reset":
            self.refuse_until = time.monotonic() + seconds
            for w in list(self.writers):
                with contextlib.suppress(Exception):
                    w.transport.abort()
            return
        self.up.clear()
        asyncio.get_running_loop().call_later(seconds, self.up.set)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted.append(time.time())
        if time.monotonic() < self.refuse_until:
            writer.transport.abort()
            return
        await self.up.wait()  # a connection opened during a stall waits for the link
        try:
            ur, uw = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            return
        self.connections += 1
        self.writers.update((writer, uw))
        for src, dst in ((reader, uw), (ur, writer)):
            task = asyncio.create_task(self._pipe(src, dst, uw if dst is writer else writer))
            self.pipes.add(task)
            task.add_done_callback(self.pipes.discard)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, other: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                await self.up.wait()  # stalled: hold it; TCP's flow control backs up behind us
                dst.write(data)
                await dst.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            await self.up.wait()  # a close (FIN) does not cross a stalled link either
            for w in (dst, other):
                self.writers.discard(w)
                with contextlib.suppress(Exception):
                    w.close()

    async def close(self) -> None:
        self.up.set()
        if self.server is not None:
            self.server.close()
        for w in list(self.writers):
            with contextlib.suppress(Exception):
                w.transport.abort()
        for task in list(self.pipes):
            task.cancel()
        await asyncio.gather(*self.pipes, return_exceptions=True)


# --- the service -------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def service(redis_url: str, data_dir: Path, tp: TurnPath) -> AsyncIterator[str]:
    """``python -m window_server`` (demo) whose every call must relay through ``tp``'s front."""
    env = service_env(**{
        "REDIS_URL": redis_url, "RW_DEMO": "true", "RW_LOG_LEVEL": "WARNING",
        "RW_ICE_SERVERS": tp.url, "RW_TURN_SECRET": tp.secret, "RW_ICE_TRANSPORT_POLICY": "relay"})
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "window_server", "--port", "0", "--data-dir", str(data_dir),
        env=env, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True)
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(60):
            while not (m := re.search(r"running at (http://\S+)", (await proc.stdout.readline()).decode())):
                if proc.returncode is not None:
                    raise RuntimeError("the service exited before announcing its URL")
        yield m.group(1).rstrip("/")
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(10):
                    await proc.wait()
                    break


async def session_acts(redis_url: str, sid: str) -> list[tuple[float, str, str]]:
    """(time s, act, state) of every event in the session's own stream (its id's milliseconds)."""
    r = make_redis(redis_url, timeout=10)
    try:
        entries = cast(list[tuple[str, dict[str, str] | None]], await r.xrange(key("session_events", sid=sid)))
    finally:
        await r.aclose()
    out = []
    for entry_id, fields in read_entries(entries):
        out.append((int(str(entry_id).split("-")[0]) / 1000, fields.get("act", ""), fields.get("state", "")))
    return out


async def first_frame_after(page: Page, video: str, t: float, within_s: float, nth: int = 1) -> float | None:
    """Seconds from ``t`` (wall clock) to the ``nth`` frame ``video`` presented after it, or None."""
    end = time.monotonic() + within_s
    while time.monotonic() < end:
        frames = await page.evaluate(FRAMES_AFTER, [video, t * 1000])
        if len(frames) >= nth:
            return float(frames[nth - 1]) / 1000 - t
        await asyncio.sleep(0.1)
    return None


async def frames_since(page: Page, video: str, t: float) -> int:
    return len(await page.evaluate(FRAMES_AFTER, [video, t * 1000]))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    region = load_catalogue(None, None).matter(MATTER).home_region
    with tempfile.TemporaryDirectory(prefix="rw-reconnect-") as tmp:
        root = Path(tmp)
        redis = EmbeddedRedis(root / "redis")
        redis.start()
        try:
            async with turn_path(args.profile, seed=args.seed, impair=(BOOTH,), root=root) as tp, \
                    service(redis.url, root / "data", tp) as base, async_playwright() as pw:
                host, port = base.removeprefix("http://").split(":")
                link = TcpLink((host, int(port)))
                booth_base = f"http://127.0.0.1:{await link.start()}"
                browser = await pw.chromium.launch(executable_path=CHROMIUM, args=[
                    *CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"])
                try:
                    return await session(args, tp, link, browser, base, booth_base, region, redis.url)
                finally:
                    await browser.close()
                    await link.close()
        finally:
            redis.stop()


async def session(args: argparse.Namespace, tp: TurnPath, link: TcpLink, browser: Any, base: str,
                  booth_base: str, region: str, redis_url: str) -> dict[str, Any]:
    cctx = await browser.new_context(viewport=VIEWPORT, locale="zh-CN")
    kctx = await browser.new_context(viewport=VIEWPORT, locale="zh-CN")
    await cctx.add_init_script(PAGE_PROBE)
    await kctx.add_init_script(PAGE_PROBE)
    console, kiosk = await cctx.new_page(), await kctx.new_page()

    # the specialist signs in and is available; the citizen takes a ticket; the specialist accepts
    await specialist_ready(console, base, SPECIALIST)
    await walk_to_consent(kiosk, f"{booth_base}/booth/{BOOTH}?token={demo_booth_token(BOOTH)}", region, MATTER)
    await kiosk.click("#consent-yes")
    await kiosk.wait_for_selector("body[data-screen='waiting']", timeout=20000)
    ticket = (await kiosk.text_content("#ticket") or "").strip()
    await console.wait_for_selector(f"#offer-body:has-text('{ticket}')", timeout=20000)
    await console.keyboard.press("a")
    await console.wait_for_selector("#service:not([hidden])", timeout=15000)
    await kiosk.wait_for_selector("body[data-screen='service']", timeout=20000)
    sid = str(await console.evaluate("window.rwConsole.state.sess.sid"))
    await console.evaluate("window.__watch.push('v-citizen')")
    await kiosk.evaluate("window.__watch.push('remote-video')")
    t_call = time.time()
    for page, video in ((console, "v-citizen"), (kiosk, "remote-video")):
        if await first_frame_after(page, video, t_call - 60, 30) is None:
            raise RuntimeError(f"no video frames at {video}: the relayed call did not start")
    await asyncio.sleep(args.warmup)  # a bench: let the call settle before the drop
    before = {"console": await frames_since(console, "v-citizen", time.time() - args.warmup) / args.warmup,
              "kiosk": await frames_since(kiosk, "remote-video", time.time() - args.warmup) / args.warmup}

    # the booth's link goes down, both ways, media and (per --signaling) signaling
    t_down = time.time()
    tp.relay.drop_for(args.down, names=(BOOTH,), rebind=args.rebind)
    link.down_for(args.down, args.signaling)
    log.info("link down at %.3f for %.0f s", t_down, args.down)
    await asyncio.sleep(args.down)
    t_back = t_down + args.down
    states_at_return = {"console": await console.evaluate(ICE_STATES), "kiosk": await kiosk.evaluate(ICE_STATES)}

    console_s, kiosk_s, console_10, kiosk_10 = await asyncio.gather(
        first_frame_after(console, "v-citizen", t_back, args.wait),
        first_frame_after(kiosk, "remote-video", t_back, args.wait),
        first_frame_after(console, "v-citizen", t_back, args.wait, nth=10),
        first_frame_after(kiosk, "remote-video", t_back, args.wait, nth=10))
    # the session: same sid in service on the console, the kiosk back on its service screen
    end = time.monotonic() + args.wait
    while True:
        sess = await console.evaluate("(() => { const s = window.rwConsole.state.sess; "
                                      "return s ? {sid: s.sid, state: s.state} : null; })()")
        screen = await kiosk.evaluate("document.body.dataset.screen")
        resumed = bool(sess and sess["sid"] == sid and sess["state"] == "in_service" and screen == "service")
        if resumed or time.monotonic() > end:
            break
        await asyncio.sleep(0.2)
    # after media is back: the longest freeze in the --observe seconds that follow the return
    await asyncio.sleep(max(0.0, t_back + args.observe - time.time()))
    gaps = {}
    for who, page, video in (("console", console, "v-citizen"), ("kiosk", kiosk, "remote-video")):
        ts = [x / 1000 for x in await page.evaluate(FRAMES_AFTER, [video, t_back * 1000])
              if x / 1000 <= t_back + args.observe]
        gaps[who] = round(max((b - a for a, b in zip(ts, ts[1:], strict=False)), default=0.0), 2)
        gaps[who + "_fps"] = round(len(ts) / args.observe, 1)
    acts = [(round(t - t_down, 2), act, state) for t, act, state in await session_acts(redis_url, sid)
            if t >= t_down - 1]
    return {
        "profile": args.profile, "down_s": args.down, "signaling": args.signaling, "rebind": args.rebind,
        "fps_before": before, "console_s": console_s, "kiosk_s": kiosk_s,
        "tenth_frame_s": {"console": console_10, "kiosk": kiosk_10},
        "after_return": {"observe_s": args.observe, "longest_gap_s_and_fps": gaps}, "resumed": resumed,
        "session_after": sess, "kiosk_screen": screen, "session_events_since_drop": acts,
        "pc_states_at_return": states_at_return,
        "pc_states_after": {"console": await console.evaluate(ICE_STATES), "kiosk": await kiosk.evaluate(ICE_STATES)},
        "booth_tcp_connections": link.connections,
        "booth_tcp_opened_s": [round(t - t_down, 2) for t in link.accepted if t >= t_down],
        "pc_log_s": {"console": [[round(a, 2), i, w] for a, i, w in await console.evaluate(PC_LOG, t_down * 1000)],
                     "kiosk": [[round(a, 2), i, w] for a, i, w in await kiosk.evaluate(PC_LOG, t_down * 1000)]},
        "front": tp.relay.report(),
    }


def fmt(s: float | None) -> str:
    return "never" if s is None else f"{s:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="province", help="the booth link's impairment (bench/netem.py PROFILES)")
    ap.add_argument("--down", type=float, default=20.0, help="seconds the booth's link is down")
    ap.add_argument("--signaling", choices=("stall", "reset", "none"), default="stall")
    ap.add_argument("--rebind", action="store_true", help="the booth's NAT mapping changes across the drop")
    ap.add_argument("--warmup", type=float, default=5.0, help="seconds of call before the drop")
    ap.add_argument("--wait", type=float, default=60.0, help="give up on media this long after the return")
    ap.add_argument("--observe", type=float, default=12.0,
                    help="seconds after the return over which the longest freeze and the frame rate are taken")
    ap.add_argument("--seed", type=int, default=21)
    ap.add_argument("--json", type=Path, help="write the full result here")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    result = asyncio.run(run(args))
    text = json.dumps(result, indent=2, default=str)
    print(text)
    if args.json:
        args.json.write_text(text)
    print(f"reconnect: link down {args.down:.0f} s, media back at console {fmt(result['console_s'])} s, "
          f"kiosk {fmt(result['kiosk_s'])} s, session resumed {'yes' if result['resumed'] else 'no'}")


if __name__ == "__main__":
    main()
