"""The impairment relay (bench/netem.py): exact with a seed, on real UDP sockets on 127.0.0.1.

The relay's clock is injected, so nothing here sleeps or depends on timing: the tests await the
relay's own "settled" condition (every packet arrived and none in flight) with a timeout.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import cv2
import numpy as np
import pytest

from bench.netem import (
    PROFILES,
    TIMECODE_CELLS,
    Impairment,
    ProcessRelay,
    Profile,
    ThreadedRelay,
    UdpRelay,
    crc8,
    decode_timecode,
    draw_timecode,
    sample_timecode,
    steer_sdp,
    timecode_bits,
    unwrap_timecode,
    with_drop,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Sink(asyncio.DatagramProtocol):
    got: list[bytes] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.got.append(data)
        self.arrived.set()

    async def wait_for(self, n: int) -> None:
        async with asyncio.timeout(5):
            while len(self.got) < n:
                self.arrived.clear()
                await self.arrived.wait()


@dataclass
class Path:
    relay: UdpRelay
    a: asyncio.DatagramTransport  # peer A: sends to face a, receives from face b's traffic
    b: asyncio.DatagramTransport
    sink_b: Sink

    def send_ab(self, payload: bytes) -> None:
        self.a.sendto(payload, ("127.0.0.1", self.relay.port("a")))


async def open_path(profile: Profile, clock: FakeClock, seed: int = 7) -> Path:
    loop = asyncio.get_running_loop()
    relay = UdpRelay(profile, Profile(name="clean"), seed=seed, clock=clock)
    await relay.start()
    a, _ = await loop.create_datagram_endpoint(Sink, local_addr=("127.0.0.1", 0))
    b, sink_b = await loop.create_datagram_endpoint(Sink, local_addr=("127.0.0.1", 0))
    relay.set_peer("a", a.get_extra_info("sockname"))
    relay.set_peer("b", b.get_extra_info("sockname"))
    return Path(relay, a, b, sink_b)


@pytest.fixture
async def clock() -> AsyncIterator[FakeClock]:
    yield FakeClock()


async def close(path: Path) -> None:
    path.a.close()
    path.b.close()
    await path.relay.close()


async def settled(path: Path, n: int) -> None:
    async with asyncio.timeout(5):
        await path.relay.settled(n)
    await path.sink_b.wait_for(path.relay.counters("a>b").delivered)  # B has read what was sent


BATCH = 20  # datagrams in flight at once: far below what a socket's receive buffer holds


async def send_in_batches(path: Path, sent: list[bytes], clock: FakeClock | None = None,
                          batch: int = BATCH) -> None:
    """Send a batch, await its arrival; with a clock, move it 1 s on so the batch is due."""
    c = path.relay.counters("a>b")
    for i in range(0, len(sent), batch):
        for p in sent[i:i + batch]:
            path.send_ab(p)
        n = i + len(sent[i:i + batch])
        if clock is not None:
            async with asyncio.timeout(5):
                await path.relay.wait(lambda n=n: c.packets_in + c.stray >= n)
            clock.now += 1.0
            path.relay.pump()
        await settled(path, n)


def payloads(n: int, size: int = 100) -> list[bytes]:
    return [i.to_bytes(4, "big") + bytes(size - 4) for i in range(n)]


async def test_loss_is_exactly_what_the_seeded_rng_draws(clock: FakeClock) -> None:
    path = await open_path(Profile(name="lossy", loss=0.1), clock, seed=42)
    try:
        sent = payloads(500)
        await send_in_batches(path, sent)
        rng = random.Random(42)  # a>b draws one random() per packet and nothing else
        expected = [p for p in sent if not rng.random() < 0.1]
        c = path.relay.counters("a>b")
        assert path.sink_b.got == expected
        assert c.dropped == {"loss": len(sent) - len(expected)}
        assert 0 < c.dropped["loss"] < len(sent)
    finally:
        await close(path)


async def test_in_order_without_jitter_even_with_delay(clock: FakeClock) -> None:
    # real delay: the relay's timers fire; the fake clock stands still, order must hold
    path = await open_path(Profile(name="delayed", delay_ms=5), clock)
    try:
        sent = payloads(200)
        for i in range(0, len(sent), BATCH):  # never more than a socket buffer holds at once
            for p in sent[i:i + BATCH]:
                path.send_ab(p)
            await path.sink_b.wait_for(i + len(sent[i:i + BATCH]))
        assert path.sink_b.got == sent
    finally:
        await close(path)


async def test_cap_drops_tail_when_the_queue_is_full(clock: FakeClock) -> None:
    # 1,000 kbit/s, 40 ms of queue = 5,000 bytes; 972 payload + 28 overhead = 1,000 link bytes
    profile = Profile(name="cap", rate_kbps=1000, queue_ms=40)
    assert profile.queue_bytes == 5000
    path = await open_path(profile, clock)
    try:
        sent = payloads(12, size=972)
        for p in sent:  # all at one instant of the relay's clock
            path.send_ab(p)
        await settled(path, len(sent))
        c = path.relay.counters("a>b")
        assert path.sink_b.got == sent[:5]  # the head fits, the tail is dropped
        assert c.dropped == {"queue": 7}
        # the queue drains as the clock moves: 8 ms per packet at 1 Mbit/s, so at 16.5 ms two
        # have left and three 1,000-byte packets are still queued (away from float boundaries)
        clock.now += 0.0165
        for p in sent[5:8]:
            path.send_ab(p)
        await settled(path, len(sent) + 3)
        assert path.sink_b.got == sent[:5] + sent[5:7]
        assert c.dropped == {"queue": 8}
    finally:
        await close(path)


async def test_drop_window_drops_everything_within_it(clock: FakeClock) -> None:
    start = clock.now
    path = await open_path(with_drop(Profile(name="drop"), start_s=2.0, duration_s=3.0), clock)
    try:
        batches = {0.0: b"before", 1.999: b"edge-before", 2.0: b"in-start", 4.999: b"in-end",
                   5.0: b"after", 9.0: b"late"}
        n = 0
        for t, tag in batches.items():
            clock.now = start + t
            for i in range(3):
                path.send_ab(tag + bytes([i]))
            n += 3
            await settled(path, n)
        kept = [tag + bytes([i]) for tag in (b"before", b"edge-before", b"after", b"late")
                for i in range(3)]
        assert path.sink_b.got == kept
        assert path.relay.counters("a>b").dropped == {"window": 6}
    finally:
        await close(path)


async def test_scheduled_drop_both_ways(clock: FakeClock) -> None:
    path = await open_path(Profile(name="clean"), clock)
    try:
        window = path.relay.drop_for(3.0, start_in_s=1.0)
        assert window == (clock.now + 1.0, clock.now + 4.0)
        clock.now += 1.5
        path.send_ab(b"x")
        path.b.sendto(b"y", ("127.0.0.1", path.relay.port("b")))
        await settled(path, 2)
        assert path.relay.counters("a>b").dropped == {"window": 1}
        assert path.relay.counters("b>a").dropped == {"window": 1}
    finally:
        await close(path)


async def test_counters_add_up_under_busy(clock: FakeClock) -> None:
    path = await open_path(replace_delay(PROFILES["busy"]), clock, seed=3)
    try:
        sent = payloads(300, size=1200)
        # 40 x 1,228 link bytes at one instant overflow busy's 37,500-byte queue
        await send_in_batches(path, sent, clock, batch=40)
        # a stray sender is counted and not forwarded
        loop = asyncio.get_running_loop()
        stray, _ = await loop.create_datagram_endpoint(Sink, local_addr=("127.0.0.1", 0))
        stray.sendto(b"who?", ("127.0.0.1", path.relay.port("a")))
        await settled(path, len(sent))
        c = path.relay.counters("a>b")
        async with asyncio.timeout(5):
            await path.relay.wait(lambda: c.stray >= 1)
        stray.close()
        await path.sink_b.wait_for(c.delivered)
        assert c.packets_in == len(sent)
        assert c.bytes_in == 1200 * len(sent)
        assert c.delivered + sum(c.dropped.values()) == c.packets_in
        assert c.bytes_delivered == 1200 * c.delivered == sum(len(p) for p in path.sink_b.got)
        assert c.stray == 1 and c.in_flight == 0
        assert set(c.dropped) == {"loss", "queue"}
    finally:
        await close(path)


def replace_delay(profile: Profile) -> Profile:
    from dataclasses import replace

    return replace(profile, delay_ms=0, jitter_ms=0)


# --- the pure core, no sockets ------------------------------------------------------------------


def test_gilbert_bursts_replay_exactly() -> None:
    profile = Profile(name="bursty", loss=0.05, burst_len=4.0)
    imp = Impairment(profile, seed=11)
    got = [imp.admit(float(i), 100).reason for i in range(2000)]
    rng, bad = random.Random(11), False
    p_bg = 1 / 4.0
    p_gb = 0.05 * p_bg / 0.95
    expected = []
    for _ in range(2000):
        u = rng.random()
        bad = (u >= p_bg) if bad else (u < p_gb)
        rng.random()  # the loss draw: in Gilbert's model the state decides
        expected.append("burst" if bad else None)
    assert got == expected
    assert "burst" in got


def test_jitter_keeps_order_unless_told_not_to() -> None:
    ordered = Impairment(Profile(name="j", delay_ms=50, jitter_ms=30), seed=5)
    free = Impairment(Profile(name="j", delay_ms=50, jitter_ms=30, keep_order=False), seed=5)
    times = [i * 0.002 for i in range(500)]
    a = [ordered.admit(t, 100).deliver_at for t in times]
    b = [free.admit(t, 100).deliver_at for t in times]
    assert a == sorted(a)
    assert b != sorted(b)  # 2 ms apart with ±30 ms jitter: some overtake
    for t, d in zip(times, b, strict=True):
        assert d is not None and 0.020 - 1e-9 <= d - t <= 0.080 + 1e-9


def test_steer_sdp_keeps_only_the_loopback_udp_host_candidate() -> None:
    sdp = "\r\n".join([
        "v=0", "m=video 9 UDP/TLS/RTP/SAVPF 96",
        "a=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host generation 0",
        "a=candidate:2 1 udp 2122194687 10.0.0.5 50001 typ host generation 0",
        "a=candidate:3 1 tcp 1518280447 127.0.0.1 9 typ host tcptype active",
        "a=candidate:4 1 udp 2122262783 ::1 50002 typ host",
        "a=candidate:5 1 udp 2122262783 abc.local 50003 typ host",
        "a=end-of-candidates", ""])
    out, original = steer_sdp(sdp, 61000)
    assert original == ("127.0.0.1", 50000)
    cands = [line for line in out.splitlines() if line.startswith("a=candidate")]
    assert cands == ["a=candidate:1 1 udp 2122260223 127.0.0.1 61000 typ host generation 0"]
    with pytest.raises(ValueError):
        steer_sdp("v=0\r\n", 61000)


# --- the relay on its own thread ---------------------------------------------------------------


# how each waits until the relay has taken n packets in from side a (its own thread or process)
SETTLED = {
    ThreadedRelay: lambda relay, n: relay.wait(lambda r: r.counters("a>b").packets_in >= n),
    ProcessRelay: lambda relay, n: relay.settled("a>b", n),
}


@pytest.mark.parametrize("kind", [ThreadedRelay, ProcessRelay], ids=["thread", "process"])
async def test_a_relay_of_its_own_forwards_counts_and_drops(kind: type) -> None:
    loop = asyncio.get_running_loop()
    relay = kind(Profile(name="clean"), seed=3)
    await relay.start()
    a, _ = await loop.create_datagram_endpoint(Sink, local_addr=("127.0.0.1", 0))
    b, sink_b = await loop.create_datagram_endpoint(Sink, local_addr=("127.0.0.1", 0))
    try:
        relay.set_peer("a", a.get_extra_info("sockname"))
        relay.set_peer("b", b.get_extra_info("sockname"))
        for i in range(20):
            a.sendto(b"p%d" % i, ("127.0.0.1", relay.port("a")))
        await sink_b.wait_for(20)
        c = relay.counters("a>b")
        assert (c.packets_in, c.delivered, len(c.late_ms)) == (20, 20, 20)
        assert c.late_p95_ms() is not None
        relay.drop_for(3600.0)
        a.sendto(b"lost", ("127.0.0.1", relay.port("a")))
        async with asyncio.timeout(10):
            await SETTLED[kind](relay, 21)
        c = relay.counters("a>b")
        assert c.dropped["window"] == 1 and c.delivered == 20
        assert b"lost" not in sink_b.got
    finally:
        a.close()
        b.close()
        await relay.close()


# --- time code ----------------------------------------------------------------------------------


def test_crc8_check_value() -> None:
    assert crc8(b"123456789") == 0xF4  # CRC-8/SMBUS: poly 0x07, init 0


def _frame(seed: int, w: int = 1280, h: int = 720) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(40, 200, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("t_ms", [0, 1, 0xFFFFFF, 1_764_820_000_123, 1_764_820_000_190])
def test_timecode_round_trip(t_ms: int) -> None:
    image = _frame(t_ms % 97)
    draw_timecode(image, t_ms)
    assert decode_timecode(sample_timecode(image)) == t_ms % (1 << 24)


def test_timecode_survives_scaling_and_a_coarse_jpeg() -> None:
    t_ms = 1_764_820_000_777
    image = _frame(5)
    draw_timecode(image, t_ms)
    small = cv2.resize(image, (320, 180), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 20])
    assert ok
    decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    assert decode_timecode(sample_timecode(decoded)) == t_ms % (1 << 24)


def test_timecode_rejects_a_flipped_cell_and_a_wrong_length() -> None:
    image = _frame(9)
    draw_timecode(image, 123_456)
    levels = sample_timecode(image)
    for i in range(TIMECODE_CELLS):
        flipped = list(levels)
        flipped[i] = 255.0 - flipped[i]
        assert decode_timecode(flipped) is None
    assert decode_timecode(levels[:-1]) is None
    assert decode_timecode([255.0] * TIMECODE_CELLS) is None  # no strip: a white edge
    assert decode_timecode([0.0] * TIMECODE_CELLS) is None  # no strip: a black edge
    assert sum(timecode_bits(123_456)) == sum(1 for v in levels if v < 128)


def test_unwrap_takes_the_latest_send_time_not_after_receipt() -> None:
    sent = 1_764_820_000_123
    code = sent % (1 << 24)
    assert unwrap_timecode(code, sent + 250.4) == sent
    assert unwrap_timecode(code, sent) == sent
    wrapped = (1 << 24) * 3 - 10  # sent just before the 24-bit wrap, received just after it
    assert unwrap_timecode(wrapped % (1 << 24), (1 << 24) * 3 + 40.0) == wrapped


def test_frame_delays_decode_the_strips_the_receiver_sampled() -> None:
    from bench.network_bench import frame_delays

    frames = []
    for i, (sent, received) in enumerate([(1_000_000.0, 1_000_120.5), (1_000_066.0, 1_000_300.0)]):
        image = _frame(i)
        draw_timecode(image, int(sent))
        frames.append([received, 1280, 720, sample_timecode(image)])
    frames.append([1_000_400.0, 1280, 720, [128.0] * TIMECODE_CELLS])  # a smeared strip: not decoded
    frames.append([1_000_500.0, 0, 0, None])  # rendered before the size was known
    delays, rendered = frame_delays(frames, 1_000_000.0, 1_000_450.0)
    assert rendered == 3
    assert [round(d, 1) for d in delays] == [120.5, 234.0]


def test_recovery_waits_for_fresh_frames_that_keep_flowing() -> None:
    from bench.network_bench import recovery

    def frame(at: float, sent: float | None) -> list[object]:
        image = _frame(1, 320, 180)
        if sent is not None:
            draw_timecode(image, int(sent))
        return [at, 320, 180, sample_timecode(image) if sent is not None else None]

    back = 2_000_000.0  # the link returned; the drop began 3 s before
    frames = [frame(back - 3100.0, back - 3200.0)]
    frames.append(frame(back + 50.0, back - 3150.0))  # a retransmitted frame from before the drop
    frames.append(frame(back + 100.0, back + 20.0))  # fresh, but then a freeze until a keyframe
    frames += [frame(back + 900.0 + 66.0 * i, back + 850.0 + 66.0 * i) for i in range(30)]
    assert recovery(frames, back) == 0.9
    assert recovery(frames[:3], back) == float("inf")
