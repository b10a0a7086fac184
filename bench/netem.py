"""A userspace UDP impairment relay for one media path on 127.0.0.1 (this kernel has no sch_netem).

Why a relay: ``tc netem`` is missing here, so loss, delay, jitter, a bandwidth cap and a drop
window are put on the media path by a relay of our own that sits between two WebRTC peers.

How media is steered through it (proven by ``bench/network_bench.py``: the selected candidate
pair's remote port is the relay's, and the relay's delivered counters carry the media):
- the relay has two faces, two UDP sockets on 127.0.0.1. Face A is the only address peer A
  knows for B; face B the only address peer B knows for A;
- each side's SDP is rewritten on its way to the other side by :func:`steer_sdp`: every
  candidate that is not a UDP host candidate on 127.0.0.1 (eth0, IPv6, TCP, mDNS) is dropped,
  and the remaining one's port is replaced by the relay face that forwards to it. The original
  address becomes that side's peer address on the relay;
- a packet arriving on face A from A goes out of face B to B (direction ``a>b``) and vice versa,
  so each peer sees the other only at a relay port; responses to ICE checks come back through
  the same face, no peer-reflexive candidate ever appears, and there is no direct path.
- packets reaching a face from any other source are counted as ``stray`` and not forwarded
  (until a side's address is set, the first sender from 127.0.0.1 is latched).
ICE, DTLS, RTP and RTCP all cross the relay and all are impaired, as on a real link.
The same rewriting works for aiortc (its SDP carries the candidates; aioice must gather only
127.0.0.1) and for Chromium (wait for ICE gathering to complete, then hand over
``localDescription``). The alternative, coturn with the relay between peer and TURN, remains
for issue 21's relay-only path.

Impairment model, per direction (:class:`Impairment`, pure: takes ``now``, no I/O):
1. draws, always in this order for every arriving packet whatever its fate, so a seeded run
   is exact and a test can replay the RNG: (a) with burst loss, one ``random()`` for the
   Gilbert state transition (good -> bad with p, bad -> good with r = 1/mean burst length,
   p chosen so the stationary loss equals ``loss``); (b) with any loss, one ``random()``:
   lost if it is below the loss probability (``loss``, or 1 in the bad state / 0 in the good
   state with bursts); (c) with jitter, one ``random()`` for the jitter, uniform in
   [-jitter, +jitter] (bounded; the delay never goes below 0);
2. a drop window (100% loss from start to end) drops the packet (reason ``window``);
3. a lost packet is dropped (reason ``loss`` or ``burst``);
4. the bandwidth cap: a link serialising ``rate_kbps`` with a drop-tail queue of ``queue_ms``
   worth of bytes; a packet that does not fit behind the bytes still queued is dropped (reason
   ``queue``). Each packet costs its UDP payload plus ``overhead_bytes`` (IPv4 + UDP = 28);
5. delivery at departure + one-way delay (RTT/2) + jitter; with ``keep_order`` (the default)
   a packet is never delivered before the one admitted ahead of it.
The two directions draw from separate RNGs: ``a>b`` is seeded with ``seed``, ``b>a`` with
``seed + 1``.

Chromium's own fake network, checked once on Debian's Chromium 156.0.8078.114 (headless, via
Playwright, the launch flags of docs' PLATFORM notes): NOT HONOURED. Syntax (libwebrtc
``call/create_call.cc``, a FieldTrialStructList): ``--force-fieldtrials=WebRTC-FakeNetworkSend
Config/queue_delay_ms:100,loss_percent:10/WebRTC-FakeNetworkReceiveConfig/queue_delay_ms:100,
loss_percent:10/`` (other keys: ``delay_standard_deviation_ms``, ``link_capacity_kbps``,
``queue_length_packets``, ``avg_burst_loss_length``, ``allow_reordering``, ``packet_overhead``,
``duration``; a list of time-scoped configs is separated by ``|``). ``network_bench.py
--fieldtrial-check`` runs a direct two-pc call in one page for 8 s with and without the flag:
without, RTCP RTT 1.1 ms, 0 lost of 504 packets; with the send config alone, with send and
receive configs, and with the legacy keys (``WebRTCFakeNetworkSendDelayMs/100/
WebRTCFakeNetworkSendLossPercent/10/``): RTCP RTT 1-21 ms, 0 packets lost, 0 NACKs of ~520.
A 100 ms queue delay and 10% loss would show as RTT >= 100 ms and ~50 lost packets, so the
trials do not take effect in this build. Even where they work they degrade only RTP/RTCP in a
Chromium peer's Call: not an aiortc sender, not ICE/DTLS, and no drop at a chosen moment. The
bench therefore uses this relay for every path.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import os
import random
import re
import socket
import sys
import threading
import time
from array import array
from collections import Counter, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np
from numpy.typing import NDArray

log = logging.getLogger(__name__)

_ROOT = str(Path(__file__).resolve().parent.parent)  # the child process imports bench.netem from here
LOOPBACK = "127.0.0.1"
SOCKET_BUFFER = 4 << 20  # bytes; the kernel caps it at net.core.rmem_max / wmem_max
UDP_IP_OVERHEAD = 28  # IPv4 (20) + UDP (8) header bytes a real link also carries

@dataclass(frozen=True)
class Profile:
    """One direction's impairment; times in ms, rates in kbit/s, loss as a probability."""

    name: str
    delay_ms: float = 0.0  # one way: RTT/2
    jitter_ms: float = 0.0  # bounded: uniform in [-jitter, +jitter]
    loss: float = 0.0  # mean loss probability
    burst_len: float | None = None  # mean burst length in packets (Gilbert); None: independent loss
    rate_kbps: float | None = None  # bandwidth cap; None: unlimited
    queue_ms: float = 200.0  # drop-tail queue in front of the cap, in ms of the cap's rate
    overhead_bytes: int = UDP_IP_OVERHEAD
    keep_order: bool = True
    drop_windows: tuple[tuple[float, float], ...] = ()  # (start s after relay start, duration s)

    @property
    def queue_bytes(self) -> int | None:
        """The queue's size in bytes, or None without a cap."""
        if self.rate_kbps is None:
            return None
        return int(self.rate_kbps * self.queue_ms / 8)


def _symmetric(name: str, rtt_ms: float, **kw: Any) -> Profile:
    return Profile(name=name, delay_ms=rtt_ms / 2, **kw)


# The profiles, applied to each direction alike (RTT is split evenly).
PROFILES: dict[str, Profile] = {
    "clean": Profile(name="clean"),
    "province": _symmetric("province", 60, jitter_ms=10, loss=0.005, rate_kbps=4000),
    "busy": _symmetric("busy", 120, jitter_ms=30, loss=0.02, rate_kbps=1500),
    "bad": _symmetric("bad", 200, loss=0.05, burst_len=4.0, rate_kbps=800),
    # 100% loss for 3 s; the bench moves the window to the middle of its call (with_drop).
    "drop": Profile(name="drop", drop_windows=((10.0, 3.0),)),
}


def with_drop(profile: Profile, start_s: float, duration_s: float = 3.0) -> Profile:
    """Return the profile with a single drop window at start_s after the relay starts."""
    return replace(profile, drop_windows=((start_s, duration_s),))


@dataclass
class Counters:
    """What one direction saw; packets_in == delivered + sum(dropped) + in_flight."""

    packets_in: int = 0
    bytes_in: int = 0
    delivered: int = 0
    bytes_delivered: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    stray: int = 0  # from an unexpected source: not forwarded, not in packets_in
    # How late each delivered packet left against its verdict's time (ms): the relay's own
    # scheduling error, which grows when its event loop is kept busy by other work.
    late_ms: array[float] = field(default_factory=lambda: array("f"))

    @property
    def in_flight(self) -> int:
        return self.packets_in - self.delivered - sum(self.dropped.values())

    def late_p95_ms(self, since: int = 0) -> float | None:
        """The 95th percentile of the lateness of packets delivered after the first ``since``."""
        late = sorted(self.late_ms[since:])
        return late[min(len(late) - 1, (95 * len(late) + 99) // 100 - 1)] if late else None

    def as_dict(self) -> dict[str, Any]:
        """Return a plain dict for printing."""
        return {"in": self.packets_in, "bytes_in": self.bytes_in, "delivered": self.delivered,
                "bytes_delivered": self.bytes_delivered, "dropped": dict(self.dropped),
                "in_flight": self.in_flight, "stray": self.stray, "late_n": len(self.late_ms)}

    def copy(self) -> Counters:
        """A snapshot another thread may read while this one keeps counting."""
        return Counters(self.packets_in, self.bytes_in, self.delivered, self.bytes_delivered,
                        Counter(self.dropped), self.stray, array("f", self.late_ms))


@dataclass(frozen=True)
class Verdict:
    """Deliver at ``deliver_at`` (clock seconds), or dropped for ``reason``."""

    deliver_at: float | None
    reason: str | None = None


class Impairment:
    """One direction's impairment: decides each packet's fate from ``now``; no I/O."""

    def __init__(self, profile: Profile, seed: int, epoch: float = 0.0) -> None:
        self.profile = profile
        self.rng = random.Random(seed)
        self.bad = False  # Gilbert state
        self.windows: list[tuple[float, float]] = [
            (epoch + start, epoch + start + length) for start, length in profile.drop_windows]
        self._queue: deque[tuple[float, int]] = deque()  # (departure, link bytes) still on the link
        self._link_free_at = 0.0
        self._last_deliver_at = float("-inf")
        p = profile
        if p.burst_len is not None:
            if not 0 < p.loss < 1 or p.burst_len < 1:
                raise ValueError("burst loss needs 0 < loss < 1 and burst_len >= 1")
            self.p_bg = 1.0 / p.burst_len
            self.p_gb = p.loss * self.p_bg / (1.0 - p.loss)  # stationary P(bad) == loss

    def add_window(self, start: float, end: float) -> None:
        """Drop every packet arriving in [start, end) (clock seconds)."""
        self.windows.append((start, end))

    def admit(self, now: float, size: int) -> Verdict:
        """Decide one packet of ``size`` payload bytes arriving at ``now``."""
        p = self.profile
        # 1. draws, always and in this order (see the module docstring)
        if p.burst_len is not None:
            u = self.rng.random()
            self.bad = (u >= self.p_bg) if self.bad else (u < self.p_gb)
        lost = False
        if p.loss > 0:
            u = self.rng.random()
            lost = (self.bad if p.burst_len is not None else u < p.loss)
        jitter = 0.0
        if p.jitter_ms > 0:
            jitter = (self.rng.random() * 2.0 - 1.0) * p.jitter_ms / 1000.0
        # 2.-3. window, loss
        if any(start <= now < end for start, end in self.windows):
            return Verdict(None, "window")
        if lost:
            return Verdict(None, "burst" if p.burst_len is not None else "loss")
        # 4. the cap: drop-tail behind the bytes not yet serialised at `now`
        depart = now
        if p.rate_kbps is not None:
            link_bytes = size + p.overhead_bytes
            while self._queue and self._queue[0][0] <= now:
                self._queue.popleft()
            backlog = sum(b for _, b in self._queue)
            limit = p.queue_bytes or 0
            if backlog + link_bytes > limit and backlog > 0:  # one packet always fits an empty link
                return Verdict(None, "queue")
            start = max(now, self._link_free_at)
            depart = start + link_bytes * 8 / (p.rate_kbps * 1000.0)
            self._link_free_at = depart
            self._queue.append((depart, link_bytes))
        # 5. delay and jitter
        deliver_at = max(depart, depart + p.delay_ms / 1000.0 + jitter)
        if p.keep_order:
            deliver_at = max(deliver_at, self._last_deliver_at)
        self._last_deliver_at = max(self._last_deliver_at, deliver_at)
        return Verdict(deliver_at)


# --- steering: SDP candidates that point at the relay ---------------------------------------

_CANDIDATE = re.compile(r"^a=candidate:(\S+) (\d+) (\S+) (\d+) (\S+) (\d+) typ (\S+)(.*)$")


def steer_sdp(sdp: str, relay_port: int) -> tuple[str, tuple[str, int]]:
    """Keep only the 127.0.0.1 UDP host candidate, re-pointed at relay_port; return it too."""
    out: list[str] = []
    found: set[tuple[str, int]] = set()
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            m = _CANDIDATE.match(line)
            if not m:
                continue
            foundation, component, transport, prio, addr, port, typ, rest = m.groups()
            if transport.lower() != "udp" or addr != LOOPBACK or typ != "host" or component != "1":
                continue
            found.add((addr, int(port)))
            line = f"a=candidate:{foundation} {component} {transport} {prio} {addr} {relay_port} typ {typ}{rest}"
        out.append(line)
    if len(found) != 1:
        raise ValueError(f"expected one 127.0.0.1 UDP host candidate, found {len(found)}")
    return "\r\n".join(out) + "\r\n", found.pop()


# --- the relay: two faces on 127.0.0.1 --------------------------------------------------------


class _Face(asyncio.DatagramProtocol):
    def __init__(self, relay: UdpRelay, side: str) -> None:
        self.relay, self.side = relay, side
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.relay._arrived(self.side, data, addr)

    def error_received(self, exc: Exception) -> None:  # ICMP port unreachable after a peer closes
        log.debug("relay face %s: %s", self.side, exc)


class _Direction:
    def __init__(self, name: str, impairment: Impairment) -> None:
        self.name = name
        self.impairment = impairment
        self.counters = Counters()
        self.heap: list[tuple[float, int, bytes]] = []  # (deliver_at, seq, payload)
        self.seq = 0
        self.timer: asyncio.TimerHandle | None = None
        self.timer_due = 0.0


class UdpRelay:
    """Forward UDP between peer A (talks to face A) and peer B (talks to face B), impaired."""

    def __init__(self, a_to_b: Profile, b_to_a: Profile | None = None, *, seed: int = 0,
                 clock: Callable[[], float] = time.monotonic, host: str = LOOPBACK) -> None:
        self.clock = clock
        self.host = host
        self._profiles = (a_to_b, b_to_a if b_to_a is not None else a_to_b)
        self._seed = seed
        self.peer: dict[str, tuple[str, int] | None] = {"a": None, "b": None}
        self.faces: dict[str, _Face] = {}
        self.dirs: dict[str, _Direction] = {}
        self._changed = asyncio.Event()
        self.epoch = 0.0

    async def start(self) -> None:
        """Bind both faces on free ports and start the profiles' clocks."""
        loop = asyncio.get_running_loop()
        for side in ("a", "b"):
            _, face = await loop.create_datagram_endpoint(
                lambda s=side: _Face(self, s), local_addr=(self.host, 0))  # type: ignore[misc]
            self.faces[side] = face
            sock = face.transport.get_extra_info("socket") if face.transport else None
            if sock is not None:  # a video keyframe is a burst of packets: room for it
                for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                    sock.setsockopt(socket.SOL_SOCKET, opt, SOCKET_BUFFER)
        self.epoch = self.clock()
        self.dirs = {
            "a>b": _Direction("a>b", Impairment(self._profiles[0], self._seed, self.epoch)),
            "b>a": _Direction("b>a", Impairment(self._profiles[1], self._seed + 1, self.epoch)),
        }

    def port(self, side: str) -> int:
        """The port of face ``side`` ('a': where A sends, so B's candidate as A sees it)."""
        t = self.faces[side].transport
        assert t is not None
        return int(t.get_extra_info("sockname")[1])

    def set_peer(self, side: str, addr: tuple[str, int]) -> None:
        """Accept face ``side``'s traffic only from addr, and deliver to that side there."""
        self.peer[side] = addr

    def counters(self, direction: str) -> Counters:
        """The counters of 'a>b' or 'b>a'."""
        return self.dirs[direction].counters

    def set_rate(self, direction: str, rate_kbps: float | None) -> None:
        """Change the bandwidth cap of 'a>b' or 'b>a' on the live relay (None: no cap); the
        impairment reads its profile per packet, so the next packet meets the new cap."""
        imp = self.dirs[direction].impairment
        imp.profile = replace(imp.profile, rate_kbps=rate_kbps)

    def drop_for(self, duration_s: float, start_in_s: float = 0.0) -> tuple[float, float]:
        """Drop everything both ways from now + start_in_s for duration_s; return the clock window."""
        start = self.clock() + start_in_s
        for d in self.dirs.values():
            d.impairment.add_window(start, start + duration_s)
        return start, start + duration_s

    def _arrived(self, side: str, data: bytes, addr: tuple[str, int]) -> None:
        d = self.dirs["a>b" if side == "a" else "b>a"]
        expected = self.peer[side]
        if expected is None and addr[0] == self.host:
            # latch the first loopback sender: a peer may check before its SDP reached us;
            # a peer's socket on another interface (eth0 to 127.0.0.1) is never latched
            self.peer[side] = expected = (addr[0], addr[1])
        if (addr[0], addr[1]) != expected:
            d.counters.stray += 1
            self._changed.set()
            return
        c = d.counters
        c.packets_in += 1
        c.bytes_in += len(data)
        verdict = d.impairment.admit(self.clock(), len(data))
        if verdict.deliver_at is None:
            c.dropped[verdict.reason or "?"] += 1
        else:
            heapq.heappush(d.heap, (verdict.deliver_at, d.seq, data))
            d.seq += 1
            self._pump(d, self.clock())
        self._changed.set()

    def _pump(self, d: _Direction, due: float) -> None:
        # `due` is the time a timer was armed for: with an injected clock that does not move,
        # a timer's firing still means its packet's time has come.
        now = max(self.clock(), due)
        while d.heap and d.heap[0][0] <= now:
            at, _, data = heapq.heappop(d.heap)
            if self._send(d, data):
                d.counters.late_ms.append(max(0.0, (self.clock() - at) * 1000.0))
        if d.heap:
            head = d.heap[0][0]
            if d.timer is None or head < d.timer_due:
                if d.timer is not None:
                    d.timer.cancel()
                d.timer_due = head
                d.timer = asyncio.get_running_loop().call_later(
                    max(0.0, head - self.clock()), self._fire, d)
        self._changed.set()

    def pump(self) -> None:
        """Deliver everything due by ``clock()`` now (for a test that moves its own clock)."""
        for d in self.dirs.values():
            self._pump(d, self.clock())

    def _fire(self, d: _Direction) -> None:
        due, d.timer = d.timer_due, None
        self._pump(d, due)

    def _send(self, d: _Direction, data: bytes) -> bool:
        out_side = "b" if d.name == "a>b" else "a"
        dest = self.peer[out_side]
        transport = self.faces[out_side].transport
        if dest is None or transport is None or transport.is_closing():
            d.counters.dropped["no_peer"] += 1
            return False
        transport.sendto(data, dest)
        d.counters.delivered += 1
        d.counters.bytes_delivered += len(data)
        return True

    async def wait(self, done: Callable[[], bool]) -> None:
        """Return once ``done()`` holds, re-checked after every packet (wrap in asyncio.timeout)."""
        while not done():
            self._changed.clear()
            await self._changed.wait()

    async def settled(self, packets_in: int) -> None:
        """Wait until ``packets_in`` packets arrived in all and none is still in flight."""
        await self.wait(lambda: sum(d.counters.packets_in for d in self.dirs.values()) >= packets_in
                        and all(d.counters.in_flight == 0 for d in self.dirs.values()))

    async def close(self) -> None:
        """Cancel pending deliveries and close both faces."""
        for d in self.dirs.values():
            if d.timer is not None:
                d.timer.cancel()
                d.timer = None
            d.heap.clear()
        for face in self.faces.values():
            if face.transport is not None:
                face.transport.close()
        await asyncio.sleep(0)  # let the transports' close callbacks run


# --- the relay on a thread of its own ---------------------------------------------------------

T = TypeVar("T")
RELAY_NICE = -10


class ThreadedRelay:
    """A :class:`UdpRelay` on its own thread and event loop, with the same calls (thread-safe).

    Why: in a bench process the aiortc sender's encoding, DTLS/SRTP and Playwright's traffic
    share the event loop with the relay, and every packet the relay holds for its delay leaves
    when a timer fires on that loop; a busy loop adds its own delay and jitter to the profile's
    (``Counters.late_ms`` shows how much). On its own thread the timers fire while the main loop
    is busy, but the thread still waits for the GIL; :class:`ProcessRelay` does not.
    """

    def __init__(self, a_to_b: Profile, b_to_a: Profile | None = None, *, seed: int = 0) -> None:
        self._loop = asyncio.new_event_loop()
        self._relay = UdpRelay(a_to_b, b_to_a, seed=seed)
        self._thread = threading.Thread(target=self._run, name="netem-relay", daemon=True)
        self.niced = False

    def _run(self) -> None:
        # The relay stands for the network: on 2 busy cores the endpoints' encoders must not
        # starve it. A higher priority for this thread alone (needs CAP_SYS_NICE; else as is).
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), RELAY_NICE)
            self.niced = True
        except OSError:
            pass
        self._loop.run_forever()

    def _call(self, fn: Callable[[], T]) -> T:
        done: Future[T] = Future()

        def run() -> None:
            try:
                done.set_result(fn())
            except BaseException as exc:  # handed to the caller's thread
                done.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return done.result(timeout=5)

    async def start(self) -> None:
        """Start the thread and bind the faces there."""
        self._thread.start()
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._relay.start(), self._loop))

    @property
    def epoch(self) -> float:
        return self._relay.epoch

    def port(self, side: str) -> int:
        """See :meth:`UdpRelay.port`."""
        return self._call(lambda: self._relay.port(side))

    def set_peer(self, side: str, addr: tuple[str, int]) -> None:
        """See :meth:`UdpRelay.set_peer`."""
        self._call(lambda: self._relay.set_peer(side, addr))

    def counters(self, direction: str) -> Counters:
        """A copy of :meth:`UdpRelay.counters` taken on the relay's thread."""
        return self._call(lambda: self._relay.counters(direction).copy())

    def drop_for(self, duration_s: float, start_in_s: float = 0.0) -> tuple[float, float]:
        """See :meth:`UdpRelay.drop_for`."""
        return self._call(lambda: self._relay.drop_for(duration_s, start_in_s))

    async def wait(self, done: Callable[[UdpRelay], bool]) -> None:
        """Return once ``done(relay)`` holds on the relay's thread (wrap in asyncio.timeout)."""
        relay = self._relay
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(relay.wait(lambda: done(relay)), self._loop))

    async def close(self) -> None:
        """Close the relay on its thread, then stop the thread."""
        if self._thread.is_alive():
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._relay.close(), self._loop))
            self._loop.call_soon_threadsafe(self._loop.stop)
            await asyncio.to_thread(self._thread.join, 5)
        self._loop.close()


# --- time code: the send time drawn into each video frame ---------------------------------------
#
# End-to-end frame delay is measured by writing the sender's wall-clock time (ms) into every
# frame as a strip of black and white cells along the top edge, and reading it back from the
# frame the receiver renders. Cells are fractions of the frame, so a frame the sender scaled
# down still decodes; a CRC-8 rejects a strip the codec smeared. The sender and receiver run on
# this machine and share its clock. bench/_pages/bench.js draws and samples the same layout.

TIMECODE_DATA_BITS = 24  # ms modulo 2**24 (4.66 h): unwrapped against the receive time
TIMECODE_CRC_BITS = 8
TIMECODE_CELLS = TIMECODE_DATA_BITS + TIMECODE_CRC_BITS  # across the frame's whole width
TIMECODE_HEIGHT = 1 / 18  # of the frame's height (40 px at 720)
TIMECODE_CRC_XOR = 0x55  # so that neither an all-white nor an all-black strip is a valid code
_MOD = 1 << TIMECODE_DATA_BITS


def crc8(data: bytes) -> int:
    """CRC-8, polynomial 0x07 (ATM HEC without the xor), init 0."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def timecode_bits(t_ms: int) -> list[int]:
    """The cells for ``t_ms``, most significant bit first; 1 is a black cell."""
    v = t_ms % _MOD
    crc = crc8(v.to_bytes(3, "big")) ^ TIMECODE_CRC_XOR
    word = (v << TIMECODE_CRC_BITS) | crc
    return [(word >> (TIMECODE_CELLS - 1 - i)) & 1 for i in range(TIMECODE_CELLS)]


def decode_timecode(levels: Sequence[float], threshold: float = 128.0) -> int | None:
    """The 24-bit time of sampled cell luminances (0-255, left to right), or None if the CRC fails."""
    if len(levels) != TIMECODE_CELLS:
        return None
    word = 0
    for level in levels:
        word = (word << 1) | (1 if level < threshold else 0)
    v, crc = word >> TIMECODE_CRC_BITS, word & 0xFF
    return v if crc8(v.to_bytes(3, "big")) ^ TIMECODE_CRC_XOR == crc else None


def unwrap_timecode(code: int, received_ms: float) -> float:
    """The send time (ms) whose low 24 bits are ``code``, the latest not after ``received_ms``."""
    r = int(received_ms)
    return float(r - (r - code) % _MOD)


def draw_timecode(image: NDArray[Any], t_ms: int) -> None:
    """Draw the strip for ``t_ms`` into the top edge of a BGR (or grey) image, in place."""
    h, w = image.shape[:2]
    strip = max(1, round(h * TIMECODE_HEIGHT))
    for i, bit in enumerate(timecode_bits(t_ms)):
        x0, x1 = round(i * w / TIMECODE_CELLS), round((i + 1) * w / TIMECODE_CELLS)
        image[:strip, x0:x1] = 0 if bit else 255


def sample_timecode(image: NDArray[Any]) -> list[float]:
    """Mean luminance of each cell's central half (what the receiving page samples)."""
    h, w = image.shape[:2]
    grey = image.mean(axis=2) if image.ndim == 3 else image
    strip = h * TIMECODE_HEIGHT
    y0, y1 = int(strip * 0.25), max(int(strip * 0.25) + 1, int(strip * 0.75))
    out = []
    for i in range(TIMECODE_CELLS):
        cw = w / TIMECODE_CELLS
        x0 = int(i * cw + cw * 0.25)
        x1 = max(x0 + 1, int(i * cw + cw * 0.75))
        out.append(float(np.mean(grey[y0:y1, x0:x1])))
    return out


# --- the relay in a process of its own -----------------------------------------------------------


class ProcessRelay:
    """A :class:`UdpRelay` in a child process (no shared GIL), with the same calls.

    Why: in the bench process the relay's timers compete with aiortc's encoding, DTLS/SRTP and
    Playwright for the event loop (``UdpRelay``) or for the GIL (:class:`ThreadedRelay`). A child
    process at a higher priority (``RELAY_NICE``, when allowed) competes only for the CPU, as a
    real network would not at all. ``Counters.late_ms`` measures what is left; the bench prints
    its p95 (``late95``) for ``--relay process|thread|loop``. On a machine loaded by other work
    (load 10-14 on 2 cores) all three varied between 4 and 40 ms from run to run: the CPU, not
    the placement, decided there. Commands go over a socket pair as pickled tuples
    (``multiprocessing.connection``) and are answered at once.
    """

    def __init__(self, a_to_b: Profile, b_to_a: Profile | None = None, *, seed: int = 0) -> None:
        self._args = (a_to_b, b_to_a, seed)
        self._ports: dict[str, int] = {}
        self._proc: Any = None
        self._conn: Any = None
        self.niced = False

    async def start(self) -> None:
        """Start the child, which binds both faces and reports their ports."""
        from multiprocessing.connection import Connection

        here, there = socket.socketpair()
        root = _ROOT
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "import sys; from bench.netem import _serve_relay; _serve_relay(int(sys.argv[1]))",
            str(there.fileno()), pass_fds=[there.fileno()], cwd=root,
            env={**os.environ, "PYTHONPATH": root})
        there.close()
        self._conn = Connection(here.detach())
        self._conn.send(self._args)
        ports, self.niced = await asyncio.to_thread(self._reply, 20.0)
        self._ports = dict(ports)

    def _reply(self, timeout: float = 5.0) -> Any:
        if not self._conn.poll(timeout):
            raise TimeoutError("the relay process did not answer")
        out = self._conn.recv()
        if isinstance(out, BaseException):
            raise out
        return out

    def _ask(self, *command: Any) -> Any:
        self._conn.send(command)
        return self._reply()

    def port(self, side: str) -> int:
        """See :meth:`UdpRelay.port`."""
        return self._ports[side]

    def set_peer(self, side: str, addr: tuple[str, int]) -> None:
        """See :meth:`UdpRelay.set_peer`."""
        self._ask("peer", side, tuple(addr))

    def counters(self, direction: str) -> Counters:
        """A copy of the child's :meth:`UdpRelay.counters`."""
        return cast(Counters, self._ask("counters", direction))

    def drop_for(self, duration_s: float, start_in_s: float = 0.0) -> tuple[float, float]:
        """See :meth:`UdpRelay.drop_for` (CLOCK_MONOTONIC is one clock for both processes)."""
        return cast(tuple[float, float], self._ask("drop", duration_s, start_in_s))

    async def settled(self, direction: str, packets_in: int) -> None:
        """Return once ``packets_in`` packets arrived in ``direction`` (wrap in asyncio.timeout)."""
        self._conn.send(("settled", direction, packets_in))
        await asyncio.to_thread(self._reply, 30.0)

    async def close(self) -> None:
        """Tell the child to close the relay and exit; wait for it."""
        if self._proc is None:
            return
        with contextlib.suppress(OSError, EOFError, TimeoutError):
            self._conn.send(("close",))
            await asyncio.to_thread(self._reply, 5.0)
        with contextlib.suppress(OSError):
            self._conn.close()
        try:
            async with asyncio.timeout(5):
                await self._proc.wait()
        except TimeoutError:
            self._proc.kill()
            await self._proc.wait()
        self._proc = None


def _serve_relay(fd: int) -> None:
    """The child of :class:`ProcessRelay`: one relay, commands from ``fd`` until 'close'."""
    from multiprocessing.connection import Connection

    conn = Connection(fd)
    a_to_b, b_to_a, seed = conn.recv()
    niced = True
    try:
        os.setpriority(os.PRIO_PROCESS, 0, RELAY_NICE)
    except OSError:
        niced = False

    async def serve() -> None:
        relay = UdpRelay(a_to_b, b_to_a, seed=seed)
        await relay.start()
        conn.send(({"a": relay.port("a"), "b": relay.port("b")}, niced))
        done = asyncio.Event()
        waits: set[asyncio.Task[None]] = set()

        async def settle(direction: str, n: int) -> None:
            await relay.wait(lambda: relay.counters(direction).packets_in >= n)
            conn.send(True)

        def command() -> None:
            try:
                cmd, *args = conn.recv()
            except EOFError:  # the bench went away
                done.set()
                return
            try:
                if cmd == "peer":
                    relay.set_peer(args[0], tuple(args[1]))
                    conn.send(None)
                elif cmd == "counters":
                    conn.send(relay.counters(args[0]).copy())
                elif cmd == "drop":
                    conn.send(relay.drop_for(*args))
                elif cmd == "settled":
                    task = asyncio.create_task(settle(*args))
                    waits.add(task)
                    task.add_done_callback(waits.discard)
                elif cmd == "close":
                    done.set()
            except Exception as exc:  # handed back to the bench
                conn.send(exc)

        asyncio.get_running_loop().add_reader(conn.fileno(), command)
        await done.wait()
        for task in waits:
            task.cancel()
        await relay.close()
        with contextlib.suppress(OSError):
            conn.send(True)

    asyncio.run(serve())
