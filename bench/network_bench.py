"""Network bench (issue 21): calls through an impaired link, per path and profile, on one machine.

Impairment: the userspace UDP relay of ``bench/netem.py`` (this kernel has no sch_netem). On the
direct paths each peer's SDP is rewritten so that its only remote candidate is a relay port
(``steer_sdp``), and the bench checks every call really went through it (the receiver's selected
pair points at a relay port, and the relay carried the bytes the receiver counts). The
``*-turn`` paths use no rewriting: relay-only ICE (``iceTransportPolicy: 'relay'``) through a
coturn the bench starts behind an impaired front (``bench/turn_path.py``); the bench checks the
selected pair is a relay pair. Why not Chromium's ``WebRTC-FakeNetwork*Config`` field trials:
see ``--fieldtrial-check`` and ``bench/netem.py`` (this build ignores them; they could not impair
an aiortc sender nor schedule a drop). The direct paths' relay runs in a process of its own by
default, at a higher priority when allowed (``--relay thread`` puts it on a thread of the bench,
``--relay loop`` on the bench's event loop, where aiortc's encoding, DTLS/SRTP and Playwright's
traffic delay its timers; column ``late95`` shows how late it sent packets in each case).

Paths (a fresh call per profile; the offerer is relay side A):
- ``chromium``: Chromium -> Chromium, the baseline, libwebrtc against itself. The sending page
  plays the device agent's own content: the synthetic 高拍仪's A4 form (the camera's
  pre-rendered base frame as a PNG, moved as ``SyntheticCamera.pose`` moves it), 1280x720 at
  15 fps in a ``canvas.captureStream(15)``, ``contentHint = 'detail'``; no other tuning.
- ``agent``: aiortc -> Chromium, the device agent's preview (``PreviewTrack`` over the same
  synthetic camera, pinned to the A4 form), added with H1's ``add_adaptive_video`` when
  ``citizen_client/adapt.py`` exists, else ``pc.addTrack``.
- ``call``: kiosk <-> console, two Chromium pages, each sending the fake camera (kiosk 1280x720
  at 15 fps, console 960x540 at 24, as their pages ask) through a canvas, ``contentHint =
  'motion'``, and the fake microphone, both tuned with ``tuneSender`` of
  ``window_server/static/shared/quality.js`` when it exists ('face', 'voice'). Both directions
  are reported (``k>c``, ``c>k``).
- ``chromium-turn``, ``agent-turn``, ``call-turn``: the same through coturn, relay-only.

Per call: connect, wait for the first rendered frame, ``--warmup`` s, then ``--seconds`` s
measured. Profile ``drop`` is clean with 100% loss both ways for 3 s in the middle of the
measured span. Measured at the receiving page, on this machine's wall clock:
- fps: frames rendered (``requestVideoFrameCallback``) in the span / span;
- freeze: share of the span inside gaps > 500 ms between rendered frames (span edges count);
- delay95: end-to-end frame delay p95. Every sent frame carries its send time (ms) as a strip
  of 32 black/white cells along its top edge (24 bits + CRC-8, ``bench/netem.py``), drawn on the
  canvas by a Chromium sender and into the image by the agent's track; the receiver samples
  the strip of each rendered frame and Python decodes it. ``coded`` is the share of rendered
  frames whose strip decoded;
- conceal: audio ``concealedSamples / totalSamplesReceived`` over the span (call paths);
- lost, nack, pli: the receiver's ``inbound-rtp`` deltas; rx size at the end;
- recover (drop only): from the link's return until media flows again: the first frame sent
  after the drop began (by its time code) from which on 1 s passes without a gap over 500 ms;
- legible: received frames (``--ocr-frames``, 1 s apart after the span; canvas -> PNG) are read
  by the project's OCR (``window_server/documents/ocr.py``); the share of the source frame's text
  lines (the same camera frame, uncompressed, read the same way: 100%) that some received line
  matches with a similarity >= 0.8 (``difflib``, spaces ignored), averaged over the frames. The
  page drifts and turns ~1 degree: the uncompressed frame at other moments reads 95-100%;
- sent: the sender's view. Chromium: the source's fps (``media-source``), encoded size, fps,
  kbit/s, bytes per frame and the dominant ``qualityLimitationReason`` over the span (why
  libwebrtc's rate moves between runs: ``bandwidth``, ``cpu``, or a starved source);
  agent: kbit/s from aiortc's stats and, with adaptation, its rung and target;
- late95: p95 of how late the relay sent packets against their scheduled time (its own error).

Usage: .venv/bin/python bench/network_bench.py [--paths chromium,agent,call,chromium-turn,agent-turn,call-turn]
       [--profiles clean,province,busy,bad,drop] [--seconds 12] [--warmup 3] [--seed 1]
       [--relay process|thread|loop]
       [--no-ocr] [--ocr-frames 2] [--save-frames DIR]
       .venv/bin/python bench/network_bench.py --fieldtrial-check
Last line: network: busy agent fps F (chromium C, ratio R), freeze S%, recover T s, relay ok|n/a|FAILED
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import difflib
import functools
import importlib
import logging
import math
import mimetypes
import sys
import time
import unicodedata
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `bench.netem` when run as a script

import aioice.ice  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402
from aiortc import (  # noqa: E402
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.rtcconfiguration import RTCIceTransportPolicy  # noqa: E402
from av import VideoFrame  # noqa: E402
from playwright.async_api import Browser, Page, Route, async_playwright  # noqa: E402

from bench.netem import (  # noqa: E402
    PROFILES,
    Counters,
    ProcessRelay,
    Profile,
    ThreadedRelay,
    UdpRelay,
    decode_timecode,
    draw_timecode,
    steer_sdp,
    unwrap_timecode,
)
from citizen_client.camera import Pose, SyntheticCamera  # noqa: E402
from citizen_client.preview import FpsMeter, PreviewTrack, to_frame  # noqa: E402

log = logging.getLogger("network_bench")

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox", "--disable-gpu", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
    # a receiving page never calls getUserMedia, so Chromium would hide its host address behind
    # an mDNS name; the relay needs the real 127.0.0.1 candidate on both sides
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    # pages in other contexts are not in front: keep their timers and rendering at full rate
    "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
    "--autoplay-policy=no-user-gesture-required",  # remote audio plays out (concealment is counted)
]
ORIGIN = "http://127.0.0.1"  # page.route serves everything; loopback is a secure context
PAGE = ORIGIN + "/network-bench"
PAGES_DIR = Path(__file__).resolve().parent / "_pages"
SHARED_DIR = ROOT / "window_server" / "static" / "shared"
FREEZE_GAP_MS = 500.0
MAX_DELAY_MS = 60_000.0
DROP_S = 3.0
DOCUMENT = "a4_form"
LEGIBLE_RATIO = 0.8
OCR_FRAME_GAP_S = 1.0
PATHS = ("chromium", "agent", "call", "chromium-turn", "agent-turn", "call-turn")
KIOSK_FACE = (1280, 720, 15)  # citizen_client/kiosk/static/calls.js
CONSOLE_FACE = (960, 540, 24)  # agent_console/static/media.js
KIOSK_SEND_KBPS, CONSOLE_SEND_KBPS = 1000, 800  # the pages' send caps (quality.js), used when it exists


# --- the other helpers' parts, used when they exist --------------------------------------------


def optional(module: str, name: str) -> Any | None:
    """``module.name`` if it can be imported (another helper's part may not exist yet)."""
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


# --- results ---------------------------------------------------------------------------------------


@dataclass
class Stream:
    """One receiving direction of one call."""

    path: str
    direction: str
    profile: str
    fps: float
    freeze: float  # share of the span
    delay_p95_ms: float | None
    coded: float  # share of rendered frames whose time code decoded
    conceal: float | None
    lost: int
    nack: int
    pli: int
    size: str
    recover_s: float | None
    rtt_ms: float | None
    sent: str
    legible: float | None = None
    late_p95_ms: float | None = None
    relay: str = "-"
    note: str = ""


def p95(values: list[float]) -> float | None:
    """The 95th percentile (nearest rank), None for no values."""
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, math.ceil(0.95 * len(s)) - 1)]


def freeze_share(frames: list[float], t0: float, t1: float) -> float:
    """Share of [t0, t1] inside gaps over FREEZE_GAP_MS between rendered frames (ms times)."""
    marks = [t0, *[f for f in frames if t0 <= f <= t1], t1]
    frozen = sum(b - a for a, b in zip(marks, marks[1:], strict=False) if b - a > FREEZE_GAP_MS)
    return frozen / (t1 - t0)


def frame_delays(frames: list[list[Any]], t0: float, t1: float) -> tuple[list[float], int]:
    """Delays (ms) of the rendered frames in [t0, t1] whose time code decodes, and how many were rendered."""
    delays: list[float] = []
    n = 0
    for at, _w, _h, levels in frames:
        if not t0 <= at <= t1:
            continue
        n += 1
        code = decode_timecode(levels) if levels else None
        delay = None if code is None else at - unwrap_timecode(code, at)
        if delay is not None and delay <= MAX_DELAY_MS:  # beyond: a smeared strip that passed the CRC
            delays.append(delay)
    return delays, n


def recovery(frames: list[list[Any]], back_ms: float, drop_s: float = DROP_S, steady_ms: float = 1000.0) -> float:
    """Seconds from the link's return until media flows again (inf if it never does).

    Flowing again: a frame rendered after the return, sent after the drop began (by its time
    code, when it decodes: not a retransmitted old one), from which on ``steady_ms`` pass with
    no gap over FREEZE_GAP_MS (a single frame followed by a freeze until a keyframe is no
    recovery)."""
    after = [f for f in frames if f[0] >= back_ms]
    times = [f[0] for f in after]
    drop_start = back_ms - drop_s * 1000.0
    for i, (at, _w, _h, levels) in enumerate(after):
        code = decode_timecode(levels) if levels else None
        if code is not None and unwrap_timecode(code, at) < drop_start:
            continue  # a frame from before the drop
        run = [at, *(t for t in times[i + 1:] if t <= at + steady_ms)]
        if all(b - a <= FREEZE_GAP_MS for a, b in zip(run, run[1:], strict=False)) and (
                run[-1] >= at + steady_ms - FREEZE_GAP_MS):
            return (at - back_ms) / 1000.0
    return float("inf")


def _delta(after: dict[str, Any] | None, before: dict[str, Any] | None, key: str) -> float:
    a = (after or {}).get(key) or 0
    b = (before or {}).get(key) or 0
    return float(a) - float(b)


def chromium_sent(before: dict[str, Any], after: dict[str, Any], seconds: float) -> str:
    """The sender over the span: source fps, encoded size, fps, kbit/s, bytes per frame, what limited it.

    The source's own frame rate tells a starved page (its canvas drawn late on a busy CPU) from
    an encoder that drops frames for the rate (``bandwidth``) or the CPU (``cpu``)."""
    source = _delta(after.get("source"), before.get("source"), "frames") / seconds
    before, after = before.get("sent") or {}, after.get("sent") or {}
    if not after:
        return "-"
    frames = _delta(after, before, "framesEncoded")
    sent = _delta(after, before, "bytesSent")
    qld_a, qld_b = after.get("qld") or {}, (before or {}).get("qld") or {}
    spent = {k: float(v) - float(qld_b.get(k, 0)) for k, v in qld_a.items()}
    limited = max(spent, key=lambda k: spent[k]) if spent else after.get("qlr", "?")
    per_frame = sent / frames / 1000 if frames else 0.0
    return (f"src {source:.1f}fps {after.get('width')}x{after.get('height')} {frames / seconds:.1f}fps "
            f"{sent * 8 / seconds / 1000:.0f}k {per_frame:.1f}kB/f {limited}")


# --- legibility ----------------------------------------------------------------------------------


def _norm(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split()).upper()


def read_lines(image: np.ndarray) -> list[str]:
    """The text lines the project's OCR reads in a whole frame (normalised, 4+ characters)."""
    from window_server.documents.ocr import engine  # onnxruntime: only when legibility is measured

    ocr = engine()
    boxes = ocr.detect(image, max(image.shape[:2]))
    return [t for t in (_norm(text) for text, score in ocr.read(image, boxes) if score >= 0.5) if len(t) >= 4]


def legibility(reference: list[str], received: list[str]) -> float:
    """Share of the reference lines some received line matches (similarity >= LEGIBLE_RATIO)."""
    if not reference:
        return 0.0
    hit = 0
    for ref in reference:
        if any(difflib.SequenceMatcher(None, ref, got).ratio() >= LEGIBLE_RATIO for got in received):
            hit += 1
    return hit / len(reference)


@dataclass
class Scene:
    """The document both senders show: the camera, its base frame as PNG, the reference lines."""

    camera: SyntheticCamera
    base_png: bytes
    reference: list[str] | None


async def open_scene(ocr: bool) -> Scene:
    camera = SyntheticCamera(seed=1)
    await camera.open()
    camera.show(DOCUMENT)
    ok, png = cv2.imencode(".png", camera._bases[DOCUMENT])
    if not ok:
        raise RuntimeError("PNG encoding failed")
    reference = None
    if ocr:
        source = camera._preview(Pose(DOCUMENT, 0.0, 0.0, 0.0))
        reference = await asyncio.to_thread(read_lines, source)
    return Scene(camera, bytes(png), reference)


# --- endpoints ---------------------------------------------------------------------------------


class Endpoint(Protocol):
    async def offer(self) -> str: ...
    async def answer(self, sdp: str) -> str: ...
    async def accept(self, sdp: str) -> None: ...


async def _serve(scene: Scene, route: Route) -> None:
    path = route.request.url.removeprefix(ORIGIN).split("?")[0]
    if path == "/network-bench":
        await route.fulfill(body='<!doctype html><body><script src="/_bench/bench.js"></script></body>',
                            content_type="text/html")
    elif path == "/_bench/base.png":
        await route.fulfill(body=scene.base_png, content_type="image/png")
    elif path.startswith("/_bench/") and (PAGES_DIR / path.removeprefix("/_bench/")).is_file():
        await route.fulfill(path=PAGES_DIR / path.removeprefix("/_bench/"), content_type="text/javascript")
    elif path.startswith("/static/shared/") and (SHARED_DIR / path.removeprefix("/static/shared/")).is_file():
        f = SHARED_DIR / path.removeprefix("/static/shared/")
        await route.fulfill(path=f, content_type=mimetypes.guess_type(f.name)[0] or "text/javascript")
    else:
        await route.fulfill(status=404, body="")


class PageEnd:
    """A Chromium page running bench/_pages/bench.js."""

    def __init__(self, page: Page) -> None:
        self.page = page

    @classmethod
    async def open(cls, browser: Browser, scene: Scene, cfg: dict[str, Any]) -> PageEnd:
        ctx = await browser.new_context()
        page = await ctx.new_page()
        await page.route(ORIGIN + "/**", functools.partial(_serve, scene))
        await page.goto(PAGE)
        await page.wait_for_function("() => window.bench !== undefined")
        await page.evaluate("(cfg) => bench.setup(cfg)", cfg)
        return cls(page)

    async def offer(self) -> str:
        return str(await self.page.evaluate("() => bench.offer()"))

    async def answer(self, sdp: str) -> str:
        return str(await self.page.evaluate("(sdp) => bench.answer(sdp)", sdp))

    async def accept(self, sdp: str) -> None:
        await self.page.evaluate("(sdp) => bench.accept(sdp)", sdp)

    async def stats(self) -> dict[str, Any]:
        return dict(await self.page.evaluate("() => bench.stats()"))

    async def frames(self) -> list[list[Any]]:
        return list(await self.page.evaluate("() => bench.frames"))

    async def snapshot(self) -> np.ndarray | None:
        url = await self.page.evaluate("() => bench.snapshot()")
        if not url:
            return None
        data = base64.b64decode(url.split(",", 1)[1])
        return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.page.evaluate("() => bench.close()")
        await self.page.context.close()


class StampedPreview(MediaStreamTrack):  # type: ignore[misc]
    """The agent's preview track with the send time drawn into each frame (delay measurement)."""

    kind = "video"

    def __init__(self, camera: SyntheticCamera) -> None:
        super().__init__()
        self.inner = PreviewTrack(camera, FpsMeter())
        self.camera = camera

    @property
    def fps(self) -> float:  # an adaptation may step the frame rate: it reaches the paced track
        return self.inner.fps

    @fps.setter
    def fps(self, value: float) -> None:
        self.inner.fps = value

    async def recv(self) -> VideoFrame:
        image, pts = await self.inner.next_image()
        draw_timecode(image, int(time.time() * 1000))
        return to_frame(image, pts)

    def stop(self) -> None:
        self.inner.stop()
        super().stop()


class AgentEnd:
    """The device agent's side: an aiortc peer connection sending the stamped preview."""

    def __init__(self, camera: SyntheticCamera, ice: list[dict[str, Any]] | None) -> None:
        servers = [RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
                   for s in ice or []]
        policy = RTCIceTransportPolicy.RELAY if ice else RTCIceTransportPolicy.ALL
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=servers, iceTransportPolicy=policy))
        self.track = StampedPreview(camera)
        adaptive = optional("citizen_client.adapt", "add_adaptive_video")
        self.adaptation: Any = None
        if adaptive is not None:
            self.adaptation = adaptive(self.pc, self.track)
        else:
            self.pc.addTrack(self.track)

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())  # aiortc gathers before returning
        return str(self.pc.localDescription.sdp)

    async def answer(self, sdp: str) -> str:
        raise NotImplementedError("the agent always offers")

    async def accept(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    async def bytes_sent(self) -> int:
        report = await self.pc.getStats()
        return sum(int(getattr(s, "bytesSent", 0) or 0) for s in report.values() if s.type == "outbound-rtp")

    def sent(self, sent_bytes: float, seconds: float) -> str:
        out = f"{sent_bytes * 8 / seconds / 1000:.0f}k"
        if self.adaptation is not None:
            with contextlib.suppress(Exception):
                snap = self.adaptation.snapshot()
                out = (f"{snap.get('width')}x{snap.get('height')} {float(snap.get('fps') or 0):.0f}fps {out} "
                       f"target {float(snap.get('target_bps') or 0) / 1000:.0f}k {snap.get('rung')} "
                       f"reopens {snap.get('reopens')} keyframes {snap.get('keyframes')}")  # whole call
        else:
            out = f"1280x720 {out} (no adaptation)"
        return out

    async def close(self) -> None:
        await self.pc.close()
        self.track.stop()


# --- one call --------------------------------------------------------------------------------


class Link(Protocol):
    """What the bench needs of a relay: UdpRelay, ThreadedRelay or turn_path's ``tp.relay``."""

    def drop_for(self, duration_s: float, start_in_s: float = 0.0) -> Any: ...
    def counters(self, direction: str) -> Any: ...


DirectRelay = UdpRelay | ThreadedRelay | ProcessRelay


@contextlib.asynccontextmanager
async def direct_link(profile: Profile, seed: int, where: str) -> AsyncIterator[DirectRelay]:
    kinds: dict[str, type[DirectRelay]] = {"process": ProcessRelay, "thread": ThreadedRelay, "loop": UdpRelay}
    relay = kinds[where](profile, seed=seed)
    await relay.start()
    try:
        yield relay
    finally:
        await relay.close()


async def connect(offerer: Endpoint, answerer: Endpoint, relay: DirectRelay | None) -> None:
    """Offer/answer, each description steered through the relay on the direct paths."""
    offer = await offerer.offer()
    if relay is not None:
        offer, a_addr = steer_sdp(offer, relay.port("b"))
        relay.set_peer("a", a_addr)
    answer = await answerer.answer(offer)
    if relay is not None:
        answer, b_addr = steer_sdp(answer, relay.port("a"))
        relay.set_peer("b", b_addr)
    await offerer.accept(answer)


def relay_counters(link: Link, direction: str) -> Counters | None:
    """A direct path's relay counters of 'a>b' or 'b>a'."""
    c = link.counters(direction)
    return c.copy() if isinstance(c, Counters) else None


def turn_counters(link: Link, names: tuple[str, str], direction: str) -> Counters | None:
    """Through TURN, 'a>b' is A's uplink then B's downlink at the front (``bench/turn_path.py``)."""
    src, dst = names if direction == "a>b" else names[::-1]
    try:
        up, down = link.counters(src)["up"], link.counters(dst)["down"]
    except (KeyError, TypeError):  # a link that has not appeared (yet)
        return None
    out = Counters()
    for c in (up, down):
        out.packets_in += c.packets_in
        out.delivered += c.delivered
        out.bytes_delivered += c.bytes_delivered
        out.dropped.update(c.dropped)
    out.bytes_delivered = down.bytes_delivered  # what reached B
    return out


@dataclass
class Call:
    """The parts of one call the measurement reads."""

    path: str
    profile: str
    link: Link
    ports: set[int] | None  # relay face ports on the direct paths; None through TURN
    names: tuple[str, str] | None  # the offerer's and answerer's TURN link names; None on direct paths
    receivers: dict[str, PageEnd]  # direction -> receiving page
    senders: dict[str, PageEnd | AgentEnd]  # direction -> sending end

    def counters(self, direction: str) -> Counters | None:
        """What the impairment saw of ``direction`` so far (a copy)."""
        if self.names is None:
            return relay_counters(self.link, direction)
        return turn_counters(self.link, self.names, direction)


async def measure(call: Call, scene: Scene, seconds: float, warmup: float, ocr_frames: int,
                  save: Path | None = None) -> list[Stream]:
    """Warm up, measure ``seconds`` (with the drop in the middle for ``drop``), return a row per direction."""
    for rx in call.receivers.values():
        await rx.page.wait_for_function("() => bench.frames.length > 0", timeout=20000)
    await asyncio.sleep(warmup)
    before = {d: await rx.stats() for d, rx in call.receivers.items()}
    c0 = {d: call.counters(d) for d in ("a>b", "b>a")}  # right after: compared with the receiver's bytes
    sent_before: dict[str, Any] = {d: (await s.stats() if isinstance(s, PageEnd) else await s.bytes_sent())
                                   for d, s in call.senders.items()}
    back_ms = None
    if call.profile == "drop":
        await asyncio.sleep(seconds / 2 - DROP_S / 2)
        call.link.drop_for(DROP_S)
        back_ms = (time.time() + DROP_S) * 1000.0
        await asyncio.sleep(seconds / 2 + DROP_S / 2)
    else:
        await asyncio.sleep(seconds)
    after = {d: await rx.stats() for d, rx in call.receivers.items()}
    c1 = {d: call.counters(d) for d in ("a>b", "b>a")}
    sent_after: dict[str, Any] = {d: (await s.stats() if isinstance(s, PageEnd) else await s.bytes_sent())
                                  for d, s in call.senders.items()}
    frames = {d: await rx.frames() for d, rx in call.receivers.items()}
    images: dict[str, list[np.ndarray]] = {}
    for i in range(ocr_frames if not call.path.startswith("call") else 0):  # faces carry no text
        if i:
            await asyncio.sleep(OCR_FRAME_GAP_S)
        for d, rx in call.receivers.items():
            image = await rx.snapshot()
            if image is not None:
                images.setdefault(d, []).append(image)
    rows: list[Stream] = []
    for d in call.receivers:
        b, a = before[d], after[d]
        t0, t1 = b["now"], a["now"]
        span = (t1 - t0) / 1000.0
        check_path(call, b, a, c0, c1, d)
        rendered = [f[0] for f in frames[d]]
        delays, n = frame_delays(frames[d], t0, t1)
        audio_total = _delta(a["audio"], b["audio"], "totalSamplesReceived")
        sender = call.senders[d]
        sent = (chromium_sent(sent_before[d], sent_after[d], span) if isinstance(sender, PageEnd)
                else sender.sent(float(sent_after[d]) - float(sent_before[d]), span))
        late = [x for x in (_late(c0.get(k), c1.get(k)) for k in ("a>b", "b>a")) if x is not None]
        rtt = (a["pair"] or {}).get("rtt")
        rows.append(Stream(
            path=call.path, direction=_label(call.path, d), profile=call.profile,
            fps=n / span, freeze=freeze_share(rendered, t0, t1), delay_p95_ms=p95(delays),
            coded=len(delays) / n if n else 0.0,
            conceal=_delta(a["audio"], b["audio"], "concealedSamples") / audio_total if audio_total else None,
            lost=int(_delta(a["video"], b["video"], "packetsLost")), nack=int(_delta(a["video"], b["video"], "nackCount")),
            pli=int(_delta(a["video"], b["video"], "pliCount")),
            size=f"{(a['video'] or {}).get('width')}x{(a['video'] or {}).get('height')}",
            recover_s=recovery(frames[d], back_ms) if back_ms is not None else None,
            rtt_ms=None if rtt is None else 1000.0 * rtt, sent=sent,
            late_p95_ms=max(late) if late else None, relay=_drops(c0.get(d), c1.get(d))))
    for row_, d in zip(rows, call.receivers, strict=True):
        if not images.get(d) or scene.reference is None:
            continue
        shares = []
        for i, image in enumerate(images[d]):
            if save is not None:
                await asyncio.to_thread(cv2.imwrite, str(save / f"{call.path}-{call.profile}-{i}.png"), image)
            shares.append(legibility(scene.reference, await asyncio.to_thread(read_lines, image)))
        row_.legible = sum(shares) / len(shares)
    return rows


def _label(path: str, direction: str) -> str:
    if path.startswith("call"):
        return {"a>b": "k>c", "b>a": "c>k"}[direction]
    return "->"


def _late(c0: Counters | None, c1: Counters | None) -> float | None:
    if c1 is None:
        return None
    return c1.late_p95_ms(since=len(c0.late_ms) if c0 else 0)


def _drops(c0: Counters | None, c1: Counters | None) -> str:
    if c1 is None:
        return "-"
    d = {k: v - (c0.dropped.get(k, 0) if c0 else 0) for k, v in c1.dropped.items()}
    return ",".join(f"{k}={v}" for k, v in sorted(d.items()) if v) or "-"


def check_path(call: Call, b: dict[str, Any], a: dict[str, Any], c0: dict[str, Counters | None],
               c1: dict[str, Counters | None], direction: str) -> None:
    """Raise unless this direction's media went where the path says (relay face, or a TURN relay)."""
    pair = a.get("pair") or {}
    if call.ports is None:
        if pair.get("local") != "relay":  # relay-only ICE: the receiver's own candidate is coturn's
            raise RuntimeError(f"not a relayed pair through TURN: {pair.get('local')}/{pair.get('remote')}")
        return
    if pair.get("port") not in call.ports:
        raise RuntimeError(f"media bypassed the relay: selected remote port {pair.get('port')}")
    before, after = c0.get(direction), c1.get(direction)
    if before is not None and after is not None:
        relayed = after.bytes_delivered - before.bytes_delivered
        received = _delta(a["video"], b["video"], "bytesReceived")
        # RTP payload bytes received cannot exceed the UDP bytes relayed; the two counts are read
        # a few ms apart, so only a clear shortfall (media on another path) fails the call
        if relayed < 0.5 * received:
            raise RuntimeError(f"media bypassed the relay: relayed {relayed} B < received {received:.0f} B")


async def run_call(path: str, profile_name: str, browser: Browser, scene: Scene, a: argparse.Namespace,
                   turn_path: Callable[..., Any] | None) -> list[Stream]:
    """Set up one call on ``path`` under ``profile_name``, measure it, tear it down."""
    profile = replace(PROFILES[profile_name], drop_windows=())  # the drop is placed by measure()
    via_turn = path.endswith("-turn")
    kind = path.removesuffix("-turn")
    async with contextlib.AsyncExitStack() as stack:
        if via_turn:
            if turn_path is None:
                raise RuntimeError("bench/turn_path.py is not there (yet)")
            # only the offerer's link is impaired (a booth on a poor link, a centre on a good one):
            # each direction then carries the profile once end to end, as on the direct paths
            offerer = {"call": "kiosk", "agent": "agent", "chromium": "sender"}[kind]
            tp = await stack.enter_async_context(turn_path(profile, a.seed, impair=(offerer,)))
            link: Any = tp.relay
            relay = None

            def ice(name: str) -> list[dict[str, Any]]:
                return list(tp.ice_servers_for(name))
        else:
            relay = await stack.enter_async_context(direct_link(profile, a.seed, a.relay))
            link = relay

            def ice(name: str) -> list[dict[str, Any]]:
                return []

        async def page(name: str, **cfg: Any) -> PageEnd:
            end = await PageEnd.open(browser, scene, {"iceServers": ice(name), "relayOnly": via_turn, **cfg})
            stack.push_async_callback(end.close)
            return end

        if kind == "call":
            kiosk = await page("kiosk", source="face", width=KIOSK_FACE[0], height=KIOSK_FACE[1],
                               fps=KIOSK_FACE[2], tune=True, capKbps=KIOSK_SEND_KBPS)
            console = await page("console", source="face", width=CONSOLE_FACE[0], height=CONSOLE_FACE[1],
                                 fps=CONSOLE_FACE[2], tune=True, capKbps=CONSOLE_SEND_KBPS)
            await connect(kiosk, console, relay)
            call = Call(path, profile_name, link, None, None, {"a>b": console, "b>a": kiosk},
                        {"a>b": kiosk, "b>a": console})
        else:
            rx = await page("console", source=None)
            tx: PageEnd | AgentEnd
            if kind == "chromium":
                tx = await page("sender", source="document", base="/_bench/base.png", tune=False)
            else:
                tx = AgentEnd(scene.camera, ice("agent") if via_turn else None)
                stack.push_async_callback(tx.close)
            await connect(tx, rx, relay)
            call = Call(path, profile_name, link, None, None, {"a>b": rx}, {"a>b": tx})
        if relay is not None:
            call.ports = {relay.port("a"), relay.port("b")}
        else:
            call.names = ("kiosk", "console") if kind == "call" else ("sender" if kind == "chromium" else "agent",
                                                                       "console")
        rows = await measure(call, scene, a.seconds, a.warmup, 0 if a.no_ocr else a.ocr_frames, a.save_frames)
        if kind == "call":
            for r, end in zip(rows, (kiosk, console), strict=True):  # k>c is sent by the kiosk
                tuned, errors = await end.page.evaluate("() => [bench.tuned, bench.tuneErrors]")
                r.note = ("tuned " + "+".join(tuned) if tuned else "untuned") + (f" ({errors})" if errors else "")
        return rows


# --- the table -------------------------------------------------------------------------------


def _fmt(v: float | None, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


HEADER = (f"{'path':<13} {'dir':<3} {'profile':<8} {'fps':>5} {'freeze%':>7} {'delay95':>7} {'coded%':>6} "
          f"{'conceal%':>8} {'lost':>5} {'nack':>4} {'pli':>3} {'rx size':>9} {'rtt':>4} {'recover':>7} "
          f"{'legible%':>8} {'late95':>6}  sent | relay drops")


def row(r: Stream) -> str:
    """One line of the table."""
    rec = "n/a" if r.recover_s is None else f"{r.recover_s:.2f}s"
    return (f"{r.path:<13} {r.direction:<3} {r.profile:<8} {r.fps:5.1f} {100 * r.freeze:7.2f} "
            f"{_fmt(r.delay_p95_ms, '7.0f')} {100 * r.coded:6.0f} "
            f"{_fmt(None if r.conceal is None else 100 * r.conceal, '8.1f')} {r.lost:5d} {r.nack:4d} {r.pli:3d} "
            f"{r.size:>9} {_fmt(r.rtt_ms, '4.0f')} {rec:>7} "
            f"{_fmt(None if r.legible is None else 100 * r.legible, '8.0f')} {_fmt(r.late_p95_ms, '6.1f')}  "
            f"{r.sent} | {r.relay}{' ' + r.note if r.note else ''}")


def verdicts(results: list[Stream], turn_status: str) -> list[str]:
    """PASS/MISS per target of the issue, then the last line."""
    by: dict[tuple[str, str], list[Stream]] = {}
    for r in results:
        by.setdefault((r.path, r.profile), []).append(r)

    def one(path: str, profile: str) -> Stream | None:
        rows = by.get((path, profile))
        return rows[0] if rows else None

    out: list[str] = []

    def target(name: str, ok: bool | None, got: str) -> None:
        out.append(f"target {name}: {'n/a' if ok is None else 'PASS' if ok else 'MISS'} ({got})")

    for suffix in ("", "-turn"):
        agent, chrome = one("agent" + suffix, "busy"), one("chromium" + suffix, "busy")
        drop = one("agent" + suffix, "drop")
        calls = by.get(("call" + suffix, "busy"), [])
        if not any((agent, chrome, drop, calls)):
            continue
        ratio = agent.fps / chrome.fps if agent and chrome and chrome.fps else None
        target(f"busy agent{suffix} fps >= 0.8x chromium{suffix}", None if ratio is None else ratio >= 0.8,
               f"ratio {_fmt(ratio, '.2f')}")
        target(f"busy agent{suffix} freeze <= 2%", None if agent is None else agent.freeze <= 0.02,
               f"{_fmt(100 * agent.freeze if agent else None, '.1f')}%")
        target(f"drop agent{suffix} recover <= 2 s", None if drop is None or drop.recover_s is None
               else drop.recover_s <= 2.0, f"{_fmt(drop.recover_s if drop else None, '.2f')} s")
        worst = max((r.freeze for r in calls), default=None)
        target(f"busy call{suffix} freeze <= 1% (both ways)", None if worst is None else worst <= 0.01,
               f"{_fmt(None if worst is None else 100 * worst, '.1f')}%")
    agent, chrome, drop = one("agent", "busy"), one("chromium", "busy"), one("agent", "drop")
    f = _fmt(agent.fps if agent else None, ".1f")
    c = _fmt(chrome.fps if chrome else None, ".1f")
    ratio_s = _fmt(agent.fps / chrome.fps if agent and chrome and chrome.fps else None, ".2f")
    s = _fmt(100 * agent.freeze if agent else None, ".1f")
    t = _fmt(drop.recover_s if drop else None, ".2f")
    out.append(f"network: busy agent fps {f} (chromium {c}, ratio {ratio_s}), freeze {s}%, recover {t} s, "
               f"relay {turn_status}")
    return out


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
        runs: list[tuple[str, list[str]]] = [("without", [])] + [("with", [f"--force-fieldtrials={t}"]) for t in trials]
        for label, extra in runs:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS + extra)
            try:
                ctx = await browser.new_context()
                page = await ctx.new_page()
                await page.route(PAGE, lambda route: route.fulfill(body="<!doctype html><body></body>",
                                                                   content_type="text/html"))
                await page.goto(PAGE)
                out = await asyncio.wait_for(page.evaluate(DIRECT_CALL, seconds), timeout=seconds + 20)
                print(f"{label:>8} {extra[0] if extra else ''} {out}", flush=True)
            finally:
                await browser.close()


async def main(a: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING)
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"] if use_ipv4 else []
    paths, profiles = a.paths.split(","), a.profiles.split(",")
    turn_path = optional("bench.turn_path", "turn_path")
    results: list[Stream] = []
    turn_ran = turn_failed = False
    if a.save_frames is not None:
        a.save_frames.mkdir(parents=True, exist_ok=True)
    scene = await open_scene(not a.no_ocr)
    where = {"process": "a process of its own", "thread": "a thread of its own", "loop": "the bench's event loop"}
    print(f"relay: bench/netem.py on {where[a.relay]}, "
          f"seed {a.seed}, {a.seconds:.0f} s measured after {a.warmup:.0f} s warm-up; "
          f"adaptation {'on' if optional('citizen_client.adapt', 'add_adaptive_video') else 'absent'}, "
          f"quality.js {'present' if (SHARED_DIR / 'quality.js').is_file() else 'absent'}, "
          f"turn_path {'present' if turn_path else 'absent'}; "
          f"OCR reference lines {len(scene.reference) if scene.reference is not None else 'off'}", flush=True)
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                print(HEADER, flush=True)
                for path in paths:
                    for name in profiles:
                        try:
                            async with asyncio.timeout(a.seconds + a.warmup + 90):
                                rows = await run_call(path, name, browser, scene, a, turn_path)
                        except Exception as exc:  # one failed call must not hide the others
                            print(f"{path:<13} {'':<3} {name:<8} FAILED: {type(exc).__name__}: {exc}", flush=True)
                            turn_failed |= path.endswith("-turn")
                            continue
                        turn_ran |= path.endswith("-turn")
                        results.extend(rows)
                        for r in rows:
                            print(row(r), flush=True)
            finally:
                await browser.close()
    finally:
        await scene.camera.close()
    status = "FAILED" if turn_failed else "ok" if turn_ran else "n/a"
    for line in verdicts(results, status):
        print(line)


def _args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--paths", default=",".join(PATHS))
    ap.add_argument("--profiles", default="clean,province,busy,bad,drop")
    ap.add_argument("--seconds", type=float, default=12.0)
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--relay", choices=("process", "thread", "loop"), default="process",
                    help="where the direct paths' relay runs (see late95)")
    ap.add_argument("--no-ocr", action="store_true", help="skip the legibility column (saves ~6 s a call)")
    ap.add_argument("--ocr-frames", type=int, default=2, help="received frames read per call (mean), 1 s apart")
    ap.add_argument("--save-frames", type=Path, metavar="DIR",
                    help="keep the received frame each legibility figure was read from (PNG per call)")
    ap.add_argument("--fieldtrial-check", action="store_true")
    ap.add_argument("--trial", action="append", help="a --force-fieldtrials value to check (repeatable)")
    return ap.parse_args()


if __name__ == "__main__":
    args = _args()
    if args.fieldtrial_check:
        asyncio.run(fieldtrial_check(8.0, args.trial or [TRIAL]))
    else:
        unknown = [p for p in args.profiles.split(",") if p not in PROFILES]
        unknown += [p for p in args.paths.split(",") if p not in PATHS]
        if unknown:
            raise SystemExit(f"unknown profile(s) or path(s): {unknown}; known: {sorted(PROFILES)}, {PATHS}")
        asyncio.run(main(args))
