"""The 高拍仪 preview adapts to the link: the receiver's estimate, the loss it reports, a ladder.

Why not aiortc's own encoder path: aiortc 1.16 sets its VP8 encoder's target from REMB alone
(clamped to 250 kbit/s..1.5 Mbit/s), ignores the loss in receiver reports, never changes the
resolution or frame rate, re-creates the libvpx encoder (so sends a keyframe) on every REMB that
moves the target by more than 10 %, and answers every PLI/FIR with a keyframe, unbounded. On a
narrow lossy link that is a keyframe storm. Measured here (PyAV 18, FFmpeg 8): an open libvpx
context ignores a new ``bit_rate`` (1.0 Mbit/s stays 1.0 Mbit/s after setting 150 kbit/s), so
every rate change costs a re-open and a keyframe; hence the hysteresis below.

What this module does instead, as a local extension on aiortc's hooks (no fork, no copy):
- :class:`AdaptiveTrack` wraps the preview track and returns encoded ``av.Packet`` objects: an
  ``RTCRtpSender`` then only packetizes them (``Vp8Encoder.pack``), keeps them in its RTP history
  and answers NACKs from there (over RTX when negotiated), exactly as for its own frames;
- the sender instance's ``_handle_rtcp_packet`` is wrapped to hand REMB, receiver reports,
  NACK and PLI/FIR to a :class:`Controller`, a pure object that takes ``now`` and decides
  target, rung, keyframes and how many NACKed packets to resend; then the original runs
  (retransmission from aiortc's history, RTT and stats stay aiortc's);
- the DTLS transport's ``_send_rtp`` is wrapped by a :class:`Pacer`, and an answerer's
  negotiated codec list (``transceiver._codecs``) is narrowed to VP8. These three private
  attributes are the whole dependency on aiortc's internals (checked against aiortc 1.16).

Rate (libwebrtc's classic send-side rules): target = min(loss-based estimate, last REMB, max).
Loss (judged over >= 20 packets) above 10 % sets the loss-based estimate to the current target
less half the loss fraction (at most once per 300 ms + RTT); below 2 % it grows 8 % a second; in
between it holds. The REMB caps the target, not the loss estimate: when the receiver lifts its
limit (its estimator follows what it receives, so it lifts step by step), the target follows.

Keyframes: at most one per ``max(0.5 s, 2 × RTT)``. A PLI/FIR inside that interval stays pending
and is served by the first frame the bound allows, so after a 3 s outage the receiver's PLI is
answered at once (the last keyframe is older than the bound) without renegotiation. An encoder
re-open (rung or rate change) is a keyframe too and waits for the same bound.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

import av
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCRtpSender
from aiortc.clock import current_ntp_time
from aiortc.mediastreams import MediaStreamError
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RtcpPsfbPacket,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSrPacket,
    unpack_remb_fci,
)
from av import VideoFrame

log = logging.getLogger(__name__)

VIDEO_TIME_BASE = fractions.Fraction(1, 90_000)


@dataclass(frozen=True)
class Rung:
    """One step of the ladder: a size and frame rate, used while the target is >= ``min_bps``."""

    name: str
    width: int
    height: int
    fps: float
    min_bps: int


#: Frame rate goes first, then resolution: a document under the 高拍仪 is still most of the time
#: and the specialist reads its text, so pixels matter more than motion (``contentHint =
#: 'detail'``). Every rung gets the same bits per frame, FRAME_BITS at 720p (48 kbit: 720k at
#: 15 fps, 480k at 10, 240k at 5) and as many bits per pixel at 540p, so a frame stays as legible
#: as on the rung above, only rarer; 540p and 360p are the last resorts when even 5 fps of 720p
#: does not fit. 48 kbit a frame: on ``busy`` (1.5 Mbit/s, 2 % loss, 30 ms jitter) Chromium's REMB
#: settles at 0.75-0.95 Mbit/s, where this keeps 720p at 15 fps; the synthetic A4 form read at
#: the console was as legible at 0.75 Mbit/s (15 fps) as at 0.9 Mbit/s (10 fps).
FRAME_BITS = 48_000
LADDER: tuple[Rung, ...] = (
    Rung("720p15", 1280, 720, 15, 15 * FRAME_BITS),
    Rung("720p10", 1280, 720, 10, 10 * FRAME_BITS),
    Rung("720p5", 1280, 720, 5, 5 * FRAME_BITS),
    Rung("540p5", 960, 540, 5, 5 * FRAME_BITS * 9 // 16),
    Rung("360p5", 640, 360, 5, 0),
)
START_BPS = 1_000_000  # before the first REMB: the top rung (libwebrtc starts lower; a preview wants text early)
MIN_BPS = 100_000  # the loss rule never cuts below this
MAX_BPS = 1_500_000  # the top rung needs no more (aiortc's own ceiling too)
ENCODER_MIN_BPS = 50_000  # libvpx's floor in this sender; a REMB below it is still honoured above it
RUNG_UP_MARGIN = 1.2  # climb to a rung only with 20 % to spare over its min_bps
RATE_DOWN = 0.9  # re-open lower as soon as the target falls 10 % under the encoder's rate
RATE_UP = 1.2  # re-open higher only when the target is 20 % over it ...
UP_HOLD_S = 2.0  # ... for this long (each re-open is a keyframe: no flapping)
# Measured trade-off (bench/network_bench.py, 2026-12-04, docs/benchmarks.md): a re-open is a
# fresh keyframe whose size libvpx caps, soft for a second or two, and with this 10 % band the
# received page read 41-58 % of its lines on `busy` (Chromium itself 68-85 %). A 25 % band read
# 77-84 %, but then the loss report after a 3 s outage no longer forced a re-open, and the
# preview took 3.1 s instead of 0.3 s to recover (the target is <= 2 s). Kept at 10 % until
# recovery has its own keyframe rule.
KEYFRAME_MIN_S = 0.5  # keyframes at most every max(this, 2 × RTT)
LOSS_GROW, LOSS_CUT = 0.02, 0.10  # libwebrtc's thresholds on the RR's fraction lost
LOSS_MIN_PACKETS = 20  # judge loss over at least this many packets (libwebrtc's kLimitNumPackets)
RTX_SHARE = 0.3  # retransmissions may take this share of the target (libwebrtc bounds them too)
RTX_PACKET_BITS = 1200 * 8  # a retransmitted packet is budgeted as a full one
PACE_FACTOR = 2.5  # packets leave at 2.5 × the target (libwebrtc's pacing factor) ...
PACE_MIN_BPS = 300_000  # ... and never slower than this
GROW_PER_S = 1.08


def pick_rung(bps: float, current: int, ladder: tuple[Rung, ...] = LADDER) -> int:
    """The rung index for ``bps`` starting from ``current``: down at once, up with a margin."""
    i = current
    while i < len(ladder) - 1 and bps < ladder[i].min_bps:
        i += 1
    while i > 0 and bps >= ladder[i - 1].min_bps * RUNG_UP_MARGIN:
        i -= 1
    return i


@dataclass(frozen=True)
class Plan:
    """How to encode one frame: size, the encoder's rate, and whether it must be a keyframe."""

    width: int
    height: int
    bps: int
    keyframe: bool


class Controller:
    """Target rate, rung and keyframe decisions from RTCP; pure: every call takes ``now`` (s)."""

    def __init__(self, *, start_bps: int = START_BPS, max_bps: int = MAX_BPS, min_bps: int = MIN_BPS,
                 ladder: tuple[Rung, ...] = LADDER, now: float = 0.0) -> None:
        self.ladder, self.max_bps, self.min_bps = ladder, max_bps, min_bps
        self.loss_bps = float(min(start_bps, max_bps))
        self.remb_bps: int | None = None
        self.loss: float | None = None
        self.rtt: float | None = None
        self._last_grow = now
        self._last_cut = float("-inf")
        self.rung = pick_rung(self.target_bps, 0, ladder)
        self.bps = self.target_bps  # what the encoder is (or will be) opened with
        self._up_since: float | None = None
        self._last_key: float | None = None
        self._next_due: float | None = None  # media time of the next frame to send
        self.pli_pending = False
        self._rtx_tokens, self._rtx_at = 0.0, now
        self._rr: tuple[int, int] | None = None  # (cumulative lost, extended highest seq) last judged
        self.counts = {"keyframes": 0, "pli": 0, "nack": 0, "rtx_refused": 0, "remb": 0, "reports": 0,
                       "frames": 0, "skipped": 0, "reopens": 0}

    # --- what the receiver says --------------------------------------------------------------

    @property
    def target_bps(self) -> int:
        """min(loss-based estimate, last REMB, max): never above what the receiver allows."""
        cap = self.max_bps if self.remb_bps is None else min(self.max_bps, self.remb_bps)
        return int(min(self.loss_bps, cap))

    def on_remb(self, bps: int, now: float) -> None:
        """The receiver's estimate of what it can take (REMB)."""
        self.counts["remb"] += 1
        self.remb_bps = bps

    def on_receiver_report(self, packets_lost: int, highest_seq: int, rtt: float | None, now: float) -> None:
        """A report block's cumulative counters: judge the loss once enough packets were expected.

        Not the block's own ``fraction lost``: Chromium sends RTCP often (with each REMB), so one
        interval may hold two packets and one loss reads as 50 % (measured on ``busy``, 2 % loss:
        spurious 50 % reports cut the rate). Like libwebrtc, loss is judged over >= 20 packets.
        """
        if rtt is not None and rtt >= 0:
            self.rtt = rtt
        if self._rr is None:
            self._rr = (packets_lost, highest_seq)
            return
        lost, expected = packets_lost - self._rr[0], highest_seq - self._rr[1]
        if expected < LOSS_MIN_PACKETS:
            return
        self._rr = (packets_lost, highest_seq)
        self.on_report(max(0.0, min(1.0, lost / expected)), rtt, now)

    def on_report(self, fraction_lost: float, rtt: float | None, now: float) -> None:
        """A receiver report for our stream: loss since the last one (0..1), RTT if known."""
        self.counts["reports"] += 1
        self.loss = fraction_lost
        if rtt is not None and rtt >= 0:
            self.rtt = rtt
        if fraction_lost < LOSS_GROW:
            self.loss_bps *= GROW_PER_S ** min(1.0, now - self._last_grow)
        elif fraction_lost > LOSS_CUT and now - self._last_cut >= 0.3 + (self.rtt or 0.0):
            self.loss_bps = self.target_bps * (1.0 - 0.5 * fraction_lost)  # from what is sent now
            self._last_cut = now
        self._last_grow = now
        self.loss_bps = max(self.min_bps, min(self.loss_bps, self.max_bps))

    def on_pli(self, now: float) -> None:
        """The receiver lost the picture (PLI or FIR): a keyframe as soon as the bound allows."""
        self.counts["pli"] += 1
        self.pli_pending = True

    def on_nack(self, packets: int, now: float) -> int:
        """How many of ``packets`` NACKed packets to retransmit now (the newest ones).

        Without a bound, a link that overflows answers its own drops with a burst of
        retransmissions that overflow it again; the receiver's estimate then falls far below the
        link (measured: 150 NACKed packets in the second a 500 kbit/s cap bit, REMB down to
        0.2 Mbit/s). A token bucket of RTX_SHARE of the target, one second deep, bounds them.
        """
        self.counts["nack"] += packets
        rate = self.target_bps * RTX_SHARE / RTX_PACKET_BITS  # packets a second
        self._rtx_tokens = min(rate, self._rtx_tokens + rate * max(0.0, now - self._rtx_at))
        self._rtx_at = now
        allowed = min(packets, int(self._rtx_tokens))
        self._rtx_tokens -= allowed
        self.counts["rtx_refused"] += packets - allowed
        return allowed

    # --- per frame ---------------------------------------------------------------------------

    @property
    def keyframe_interval(self) -> float:
        return max(KEYFRAME_MIN_S, 2.0 * (self.rtt or 0.0))

    def key_allowed(self, now: float) -> bool:
        return self._last_key is None or now - self._last_key >= self.keyframe_interval

    def next_frame(self, media_time: float, now: float) -> Plan | None:
        """The plan for a frame captured at ``media_time`` (s), or None to skip it (frame rate)."""
        if not self._due(media_time):
            self.counts["skipped"] += 1
            return None
        self.counts["frames"] += 1
        target = self.target_bps
        wanted: int | None = None
        if target < self.bps * RATE_DOWN:
            wanted, self._up_since = target, None
        elif target >= self.bps * RATE_UP:
            self._up_since = now if self._up_since is None else self._up_since
            if now - self._up_since >= UP_HOLD_S:
                wanted = target
        else:
            self._up_since = None
        keyframe = self.pli_pending and self.key_allowed(now)
        if wanted is not None and self.key_allowed(now):  # a re-open is a keyframe: same bound
            self._apply(wanted)
            keyframe = True
        rung = self.ladder[self.rung]
        return Plan(rung.width, rung.height, max(ENCODER_MIN_BPS, self.bps), keyframe)

    def _apply(self, bps: int) -> None:
        old = self.ladder[self.rung].name
        self.bps, self._up_since = bps, None
        self.rung = pick_rung(bps, self.rung, self.ladder)
        self.counts["reopens"] += 1
        log.info("preview adapts: %s -> %s at %d kbit/s (remb %s, loss %s)", old, self.ladder[self.rung].name,
                 bps // 1000, None if self.remb_bps is None else self.remb_bps // 1000, self.loss)

    def _due(self, t: float) -> bool:
        """Thin the source's frames to the rung's rate, by media time (exact, testable)."""
        period = 1.0 / self.ladder[self.rung].fps
        if self._next_due is None or t - self._next_due > period:  # first frame, or a gap: restart
            self._next_due = t
        if t < self._next_due - 0.005:
            return False
        self._next_due += period
        return True

    def encoded(self, keyframe: bool, now: float) -> None:
        """A frame went out; a keyframe restarts the bound and serves any pending PLI."""
        if keyframe:
            self.counts["keyframes"] += 1
            self._last_key = now
            self.pli_pending = False

    def snapshot(self) -> dict[str, Any]:
        """What the adaptation does now (for /status, benches and tests)."""
        rung = self.ladder[self.rung]
        return {"target_bps": self.target_bps, "bitrate_bps": self.bps, "width": rung.width,
                "height": rung.height, "fps": rung.fps, "rung": rung.name, "remb_bps": self.remb_bps,
                "loss": self.loss, "rtt": self.rtt, **self.counts}


class Vp8Stream:
    """A libvpx VP8 encoder re-opened only when the plan's size or rate changes.

    Settings follow aiortc's ``Vp8Encoder`` (CBR, realtime, no lag) plus ``max-intra-rate``: a
    keyframe is capped at 3× a frame's share, so on a narrow link it does not overflow the queue
    in front of the bottleneck (libwebrtc caps it the same way). Runs in a worker thread.
    """

    def __init__(self) -> None:
        self.codec: Any = None
        self.config: tuple[int, int, int] | None = None

    def encode(self, frame: VideoFrame, plan: Plan) -> av.Packet | None:
        config = (plan.width, plan.height, plan.bps)
        pts, time_base = frame.pts, frame.time_base
        codec = self.codec  # a local: close() may run on the loop while this thread encodes
        if codec is None or config != self.config:
            codec = self.codec = self._open(*config)
            self.config = config
        if (frame.width, frame.height) != (plan.width, plan.height) or frame.format.name != "yuv420p":
            frame = frame.reformat(width=plan.width, height=plan.height, format="yuv420p",
                                   interpolation="AREA")  # area averaging keeps thin strokes of text
        if plan.keyframe:
            frame.pict_type = av.video.frame.PictureType.I
        packets = codec.encode(frame)
        if not packets:
            return None
        packet = packets[0] if len(packets) == 1 else av.Packet(b"".join(bytes(p) for p in packets))
        packet.pts, packet.time_base = pts, time_base
        return packet

    @staticmethod
    def _open(width: int, height: int, bps: int) -> Any:
        codec = av.CodecContext.create("libvpx", "w")
        codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
        codec.time_base = VIDEO_TIME_BASE
        codec.bit_rate = bps
        codec.gop_size = 3000  # keyframes only when asked
        codec.qmin, codec.qmax = 2, 56
        codec.options = {"bufsize": str(bps), "minrate": str(bps), "maxrate": str(bps),  # CBR, 1 s buffer
                         "cpu-used": "-6", "deadline": "realtime", "lag-in-frames": "0",
                         "noise-sensitivity": "4", "overshoot-pct": "15", "undershoot-pct": "100",
                         "static-thresh": "1", "partitions": "0", "max-intra-rate": "300"}
        codec.thread_count = 1
        return codec

    def close(self) -> None:
        self.codec, self.config = None, None


class AdaptiveTrack(MediaStreamTrack):  # type: ignore[misc]
    """The source's frames, thinned, scaled and encoded to the controller's plan, as packets."""

    kind = "video"

    def __init__(self, source: MediaStreamTrack, controller: Controller,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.source, self.controller, self.clock = source, controller, clock
        self.encoder = Vp8Stream()

    async def recv(self) -> av.Packet:
        loop = asyncio.get_running_loop()
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            frame = await self.source.recv()
            if not isinstance(frame, VideoFrame):
                raise MediaStreamError("the preview source must give raw video frames")
            if frame.pts is None or frame.time_base is None:
                raise MediaStreamError("the preview source gave a frame without a time")
            plan = self.controller.next_frame(float(frame.pts * frame.time_base), self.clock())
            if plan is None:
                continue
            packet = await loop.run_in_executor(None, self.encoder.encode, frame, plan)
            if packet is None:
                continue
            self.controller.encoded(packet.is_keyframe, self.clock())
            return packet

    def stop(self) -> None:
        super().stop()
        self.source.stop()
        self.encoder.close()


class Pacer:
    """Spreads a frame's packets over time at PACE_FACTOR × the target instead of one burst.

    aiortc writes all packets of a frame at once. A keyframe is tens of packets: on a narrow
    link they overflow the queue in front of the bottleneck (the drops come back as NACKs and
    PLIs), and on any link the burst reads as queuing delay to the receiver's estimator, whose
    REMB then falls; both were measured here. Wraps the DTLS transport's ``_send_rtp`` of the
    one peer connection (the preview is its only sender); retransmissions are paced too.
    """

    def __init__(self, rate_bps: Callable[[], float], clock: Callable[[], float] = time.monotonic) -> None:
        self.rate_bps, self.clock = rate_bps, clock
        self._free_at = 0.0

    def delay(self, size: int) -> float:
        """How long to wait before sending ``size`` bytes; books the link for them."""
        now = self.clock()
        start = max(now, self._free_at)
        self._free_at = start + size * 8 / max(PACE_MIN_BPS, self.rate_bps())
        return start - now

    def wrap(self, transport: Any) -> None:
        """Pace ``transport._send_rtp`` (an instance attribute: the sender looks it up per packet)."""
        if getattr(transport, "_preview_pacer", None) is self:
            return
        original = transport._send_rtp

        async def paced(data: bytes) -> None:
            wait = self.delay(len(data))
            if wait > 0.001:
                await asyncio.sleep(wait)
            await original(data)

        transport._send_rtp, transport._preview_pacer = paced, self


def report_rtt(lsr: int, dlsr: int) -> float | None:
    """RTT from a report block (RFC 3550 §6.4.1): now - LSR - DLSR, in s; None without an SR yet."""
    if not lsr:
        return None
    now = (current_ntp_time() >> 16) & 0xFFFFFFFF
    return ((now - lsr - dlsr) & 0xFFFFFFFF) / 65536.0


class Adaptation:
    """One adaptive preview on one peer connection: the track, its sender, its controller."""

    def __init__(self, sender: RTCRtpSender, track: AdaptiveTrack) -> None:
        self.sender, self.track, self.controller = sender, track, track.controller
        self.pacer = Pacer(lambda: PACE_FACTOR * self.controller.target_bps, track.clock)
        self.pacer.wrap(sender.transport)
        self._original: Callable[[Any], Awaitable[None]] = sender._handle_rtcp_packet
        sender._handle_rtcp_packet = self._on_rtcp  # type: ignore[method-assign]  # per instance: the DTLS transport calls it

    async def _on_rtcp(self, packet: Any) -> None:
        self.pacer.wrap(self.sender.transport)  # the same one unless bundling replaced it
        c, now, ssrc = self.controller, self.track.clock(), self.sender._ssrc
        if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
            allowed = c.on_nack(len(packet.lost), now)
            if allowed < len(packet.lost):  # aiortc retransmits what is left, from its history
                packet = replace(packet, lost=packet.lost[len(packet.lost) - allowed:])
        await self._original(packet)  # aiortc first: retransmission, RTT, stats
        if isinstance(packet, (RtcpRrPacket, RtcpSrPacket)):
            for report in packet.reports:
                if report.ssrc == ssrc:
                    c.on_receiver_report(report.packets_lost, report.highest_sequence,
                                         report_rtt(report.lsr, report.dlsr), now)
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
            c.on_pli(now)
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            try:
                bps, ssrcs = unpack_remb_fci(packet.fci)
            except ValueError:
                return
            if ssrc in ssrcs:
                c.on_remb(bps, now)

    def snapshot(self) -> dict[str, Any]:
        """target_bps, width, height, fps, keyframes, pli, nack, remb_bps, loss, rung, and more."""
        return self.controller.snapshot()


def add_adaptive_video(pc: RTCPeerConnection, track: MediaStreamTrack, *,
                       clock: Callable[[], float] = time.monotonic, **controller: Any) -> Adaptation:
    """Send ``track`` (raw video frames) on ``pc`` adaptively; use instead of ``pc.addTrack``.

    VP8 is required (the track hands the sender VP8 packets): it is made the only codec of the
    transceiver (with its RTX), through ``setCodecPreferences`` when the offer is still to be
    made and by filtering the negotiated list when ``pc`` answers an offer already set.
    """
    adaptive = AdaptiveTrack(track, Controller(now=clock(), **controller), clock)
    sender = pc.addTrack(adaptive)
    transceiver = next(t for t in pc.getTransceivers() if t.sender is sender)
    caps = RTCRtpSender.getCapabilities("video").codecs
    prefs = [c for c in caps if c.mimeType.lower() in ("video/vp8", "video/rtx")]
    transceiver.setCodecPreferences(prefs)
    if transceiver._codecs:  # the remote offer was applied before: aiortc kept its common codecs
        vp8 = [c for c in transceiver._codecs if c.mimeType.lower() == "video/vp8"]
        if not vp8:
            raise ValueError("the offer has no VP8: the adaptive preview cannot be sent")
        apt = vp8[0].payloadType
        transceiver._codecs = [vp8[0], *(c for c in transceiver._codecs
                                         if c.mimeType.lower() == "video/rtx" and c.parameters.get("apt") == apt)]
    return Adaptation(sender, adaptive)
