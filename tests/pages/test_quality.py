"""The pages on a weak link (issue 21), in real Chromium: shared/quality.js and the call code using it.

One Chromium, one page served by a small static server laid out as the app serves the pages
(/c/static = the console's folder, /k/static = the kiosk's, each with ../shared beside it):

- classify() and its hysteresis on synthetic samples, evaluated on the module itself;
- a real call between the console's Peer (agent_console/static/media.js) and the kiosk's Calls
  (citizen_client/kiosk/static/calls.js) in that page, its media steered through bench/netem.py's
  UdpRelay: the senders carry their roles' parameters; then the booth's network changes (the old
  path is cut for good, new candidates reach the other side through a second relay): both
  indicators say "lost", the console restarts ICE, the kiosk answers it on the same connection,
  and both say "good" again.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import Browser, Page, async_playwright

from bench.netem import PROFILES, UdpRelay

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT / "window_server" / "static" / "shared"
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox", "--disable-gpu", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic", "--disable-features=WebRtcHideLocalIpsWithMdns",
]
DEADLINE_MS = 20_000  # a deadline for each awaited condition, not a figure under test


@pytest.fixture(scope="module")
async def site() -> AsyncIterator[str]:
    async def blank(_req: web.Request) -> web.Response:
        return web.Response(text="<!doctype html><body></body>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/t", blank)
    app.router.add_static("/c/static", ROOT / "agent_console" / "static")
    app.router.add_static("/c/shared", SHARED)
    app.router.add_static("/k/static", ROOT / "citizen_client" / "kiosk" / "static")
    app.router.add_static("/k/shared", SHARED)
    runner = web.AppRunner(app)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    port = tcp._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            await b.close()


@pytest.fixture
async def page(browser: Browser, site: str) -> AsyncIterator[Page]:
    ctx = await browser.new_context()
    pg = await ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    await pg.goto(site + "/t")
    try:
        yield pg
    finally:
        await ctx.close()
    assert not errors, errors


# --- (a) classify and the hysteresis --------------------------------------------------------

SAMPLES: list[tuple[dict[str, Any], str]] = [
    ({"ice": "connected", "silentMs": 0, "loss": 0.0, "rttMs": 40, "fps": 15, "freezeShare": 0, "jitterBufferMs": 60}, "good"),
    ({"ice": "connected"}, "good"),  # nothing measured yet is not bad news
    ({"ice": "connected", "loss": 0.08}, "weak"),
    ({"ice": "connected", "rttMs": 700}, "weak"),
    ({"ice": "connected", "fps": 1, "freezeShare": 0}, "good"),  # steady 1 fps: a camera switched off
    ({"ice": "connected", "freezeShare": 0.4}, "weak"),
    ({"ice": "connected", "jitterBufferMs": 900}, "weak"),
    ({"ice": "connected", "silentMs": 2500, "loss": 0.0}, "lost"),
    ({"ice": "disconnected", "silentMs": 0}, "lost"),
    ({"ice": "failed"}, "lost"),
]


async def test_classify_and_its_hysteresis(page: Page) -> None:
    got = await page.evaluate("""async (samples) => {
      const Q = await import('/c/shared/quality.js');
      const raw = samples.map((s) => Q.classify(s));
      const h = new Q.Hysteresis({ toWeak: 2, toGood: 3 });
      const seq = ['good', 'weak', 'good', 'weak', 'weak', 'good', 'good', 'weak', 'good', 'good', 'good',
                   'lost', 'good', 'good', 'good', 'lost', 'weak', 'good'];
      return { raw, said: seq.map((r) => h.push(r)) };
    }""", [s for s, _ in SAMPLES])
    assert got["raw"] == [want for _, want in SAMPLES]
    assert got["said"] == [
        "good", "good", "good", "good",  # one weak sample between goods does not flicker
        "weak",  # two running: weak
        "weak", "weak", "weak", "weak", "weak", "good",  # three goods running: good
        "lost",  # at once
        "lost", "lost", "good",  # back after three goods
        "lost", "lost", "weak",  # two non-lost with a weak among them: weak
    ]


# --- (b, c) a real call, tuned, through a network change ---------------------------------------

_CAND = re.compile(r"^(candidate:\S+ (\d+) (\S+) \S+ )(\S+) (\d+)( typ (\S+).*)$")


class Steering:
    """Where each side's candidates point: the relay of the booth's current network."""

    def __init__(self, relay: UdpRelay) -> None:
        self.relay = relay

    def candidate(self, side: str, cand: str) -> str | None:
        m = _CAND.match(cand)
        if not m or m.group(2) != "1" or m.group(3).lower() != "udp" or m.group(4) != "127.0.0.1" or m.group(7) != "host":
            return None
        # the console is relay side "a", the kiosk side "b" (netem.UdpRelay.port)
        self.relay.set_peer(side, ("127.0.0.1", int(m.group(5))))
        port = self.relay.port("b" if side == "a" else "a")
        return f"{m.group(1)}127.0.0.1 {port}{m.group(6)}"

    def sdp(self, side: str, sdp: str) -> str:
        out = []
        for line in sdp.split("\r\n"):
            if line.startswith("a=candidate:"):
                c = self.candidate(side, line[2:])
                if c is None:
                    continue
                line = "a=" + c
            out.append(line)
        return "\r\n".join(out)

    def message(self, side: str, msg: dict[str, Any]) -> dict[str, Any] | None:
        data = msg.get("data")
        if msg.get("kind") == "ice" and isinstance(data, dict):
            c = self.candidate(side, str(data.get("candidate", "")).removeprefix("a="))
            return None if c is None else {**msg, "data": {**data, "candidate": c}}
        if msg.get("kind") in ("offer", "answer") and isinstance(data, dict):
            return {**msg, "data": {**data, "sdp": self.sdp(side, str(data["sdp"]))}}
        return msg


CALL_JS = """async () => {
  const Q = await import('/c/shared/quality.js');
  const { Peer } = await import('/c/static/media.js');
  const { Calls } = await import('/k/static/calls.js');
  const said = { console: [], kiosk: [] };
  const T = { said, Q };
  window.T = T;
  // one queue per direction, as a socket keeps a sender's messages in order
  const queue = { a: Promise.resolve(), b: Promise.resolve() };
  const via = (side, msg, deliver) => {
    queue[side] = queue[side].then(async () => {
      const m = await window.steer(side, msg);
      if (m) await deliver(m);
    }).catch((err) => console.error('signal', err));
    return queue[side];
  };
  const local = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 360 } });
  // the kiosk (answerer): its real Calls class; its signals go to the console through the steering
  T.kiosk = new Calls({
    send: (msg) => via('b', msg, (m) => T.peer.handle(m.kind, m.data)),
    rtcConfig: () => ({ iceServers: [] }),
    onRemote: () => {}, onState: () => {}, onLocal: () => {}, onShareEnded: () => {},
    onQuality: (name, state) => { if (state) said.kiosk.push(state); },
    qualityMs: 500,
  });
  // the console (offerer): its real Peer, wired as calls.js wires the call
  T.peer = new Peer({
    name: 'call', to: 'booth', sid: '1', rtc: { iceServers: [] },
    signal: (msg) => via('a', msg, (m) => T.kiosk.onSignal({ ...m, from: 'agent' })),
  });
  await T.kiosk.localMedia(); // as the service screen does before the offer comes
  T.watch = new Q.IceWatch(T.peer.pc, () => T.peer.restartIce(), { graceMs: 1000 });
  T.monitor = new Q.QualityMonitor(T.peer.pc, (s) => said.console.push(s), { intervalMs: 500 }).start();
  await T.peer.offer({ send: local.getTracks(), stream: local });
  for (const s of T.peer.pc.getSenders()) await Q.tuneSender(s, s.track.kind === 'audio' ? 'voice' : 'face');
  T.peer.release();
}"""

PARAMS_JS = """async () => {
  const out = {};
  const read = (who, pc) => {
    for (const s of pc.getSenders()) {
      if (!s.track) continue;
      const p = s.getParameters();
      out[`${who}.${s.track.kind}`] = { max: p.encodings[0].maxBitrate, priority: p.encodings[0].priority,
        degradation: p.degradationPreference || null, hint: s.track.contentHint };
    }
  };
  read('console', T.peer.pc);
  read('kiosk', T.kiosk.pcs.get('call').pc);
  out.capped = await T.Q.capSendRate(T.peer.pc, 300);
  read('capped', T.peer.pc);
  return out;
}"""


async def test_a_call_is_tuned_and_comes_back_after_a_network_change(page: Page) -> None:
    relays = [UdpRelay(PROFILES["clean"], seed=1), UdpRelay(PROFILES["clean"], seed=2)]
    for r in relays:
        await r.start()
    steering = Steering(relays[0])
    await page.expose_function("steer", steering.message)
    try:
        await page.evaluate(CALL_JS)
        await page.wait_for_function("T.said.console.at(-1) === 'good' && T.said.kiosk.at(-1) === 'good'",
                                     timeout=DEADLINE_MS)
        first_pc = await page.evaluate_handle("T.kiosk.pcs.get('call').pc")

        # (c) each sender carries its role; the budget splits audio first
        p = await page.evaluate(PARAMS_JS)
        assert p["console.video"]["max"] == 700_000 and p["kiosk.video"]["max"] == 700_000
        assert p["console.video"]["hint"] == "motion" and p["kiosk.video"]["hint"] == "motion"
        assert p["console.audio"]["priority"] == "high" and p["console.audio"]["max"] == 48_000
        assert p["console.video"]["degradation"] == "maintain-framerate" == p["kiosk.video"]["degradation"]
        assert p["capped"] == {"voice": 48, "face": 252}
        assert p["capped.video"]["max"] == 252_000

        # (b) the booth's network changes: the old path is dead for good, a new one is there
        relays[0].drop_for(3600)
        steering.relay = relays[1]
        await page.wait_for_function("T.said.console.includes('lost') && T.said.kiosk.includes('lost')",
                                     timeout=DEADLINE_MS)
        await page.wait_for_function(
            "T.said.console.at(-1) === 'good' && T.said.kiosk.at(-1) === 'good'", timeout=DEADLINE_MS)
        assert await page.evaluate("T.watch.restarts") >= 1
        assert relays[1].counters("a>b").packets_in > 0 and relays[1].counters("b>a").packets_in > 0
        # answered in place: the kiosk's connection (its recording leg, its tracks) is the same one
        assert await page.evaluate("(pc) => T.kiosk.pcs.get('call').pc === pc", first_pc)
    finally:
        await page.evaluate("() => { T.monitor.stop(); T.watch.stop(); T.peer.close(); T.kiosk.closeAll(); }")
        for r in relays:
            await r.close()
