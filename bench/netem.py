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
import heapq
import logging
import random
import re
import socket
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, cast

log = logging.getLogger(__name__)

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

    @property
    def in_flight(self) -> int:
        return self.packets_in - self.delivered - sum(self.dropped.values())

    def as_dict(self) -> dict[str, Any]:
        """Return a plain dict for printing."""
        return {"in": self.packets_in, "bytes_in": self.bytes_in, "delivered": self.delivered,
                "bytes_delivered": self.bytes_delivered, "dropped": dict(self.dropped),
                "in_flight": self.in_flight, "stray": self.stray}


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
        self.heap: list[tuple[float, int, bytes]] = []
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
            _, _, data = heapq.heappop(d.heap)
            self._send(d, data)
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

    def _send(self, d: _Direction, data: bytes) -> None:
        out_side = "b" if d.name == "a>b" else "a"
        dest = self.peer[out_side]
        transport = self.faces[out_side].transport
        if dest is None or transport is None or transport.is_closing():
            d.counters.dropped["no_peer"] += 1
            return
        transport.sendto(data, dest)
        d.counters.delivered += 1
        d.counters.bytes_delivered += len(data)

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
