"""Recording benchmark: a node's CPU and chunk acknowledgement under N recorded sessions, and the
booth's extra CPU for recording a real Chromium call.

1. Server. A private redis-server (``EmbeddedRedis``) and ``python -m window_server`` as a child
   process (RW_DEMO=false, a random 256-bit RW_SECRET, an Ed25519 seal key generated for the run,
   RW_DATA_DIR in a temp dir). The N (``--sessions``, 50) held sessions are set up by this process
   through the queue's own service (``QueueService`` over ``QueueStore``) on the node's Redis, as
   ``tests/materials/conftest.py`` does: each session has its own booth account (``add_booth``)
   and its own specialist account (``add_user``, with a web login for reading the recording back);
   the specialist signs in, the booth takes a ticket, the specialist is offered it and accepts it.
   No socket.io connection is open, so the node's CPU is the uploads' alone (plus its idle
   clocks, printed apart); this process renews the specialists' queue heartbeats every 5 s, as a
   node does for its connected consoles.
   Each session's booth then opens a segment (``POST …/recording/segments``) and, for ``--seconds``
   (60), PUTs a chunk every 4 s (``…/segments/0/chunks/{seq}?t=&from=``, ``X-Content-SHA256`` as
   the kiosk sends it), authenticated as the booth (``Authorization: Bearer``, ``X-Booth``). A chunk
   is 4 s of ``--video-kbps`` (1000) + 32 kbit/s audio = 516,000 bytes: incompressible random
   bytes, unique per chunk (the store is content-addressed, so a repeated chunk would not be
   written), the first chunk of each segment starting with a real WebM header (EBML, segment info,
   VP8 and Opus tracks, as PyAV's muxer writes them). The N uploaders are asyncio tasks in this
   process over aiohttp, each on its own keep-alive connection and sending one chunk at a time
   as the kiosk does; their starts are spread evenly over the first 4 s.
   Measured over the upload window: the node's CPU (utime + stime of its process and any children,
   from /proc) ÷ N as a share of one core; each chunk's ack latency (request sent -> 201 read);
   lost chunks: any PUT not answered 201, plus any answered chunk missing afterwards from
   ``GET /api/sessions/{sid}/recording`` (read as the session's specialist: chunk count and bytes of
   segment 0, after ``POST …/end``) or from the session's evidence chain (one ``chunk`` entry each).
   Baselines in the same run: before anything else starts, the same number of chunks of the same
   size written by a bare Python loop into a temp dir on the same disk, each as the blob store does
   it (a temp file, write, fsync, rename, fsync of the directory), p50/p99; and, with the node up
   and idle, the raw Redis round trip (PING from this process, p50 of 1,000).
2. Booth. A second node, in demo mode (its own Redis), and one real kiosk <-> console call as
   ``bench/call_setup_bench.py`` sets it up (kiosk page of booth sh-huangpu-01 with Chromium's fake
   camera and microphone, console of spec-js-nantong, the console accepts with key A), without the
   device agent (the 高拍仪 is not recorded). The kiosk runs in its own Chromium instance, the
   console in another, so the kiosk's CPU is its whole browser: utime + stime + cutime + cstime of
   every process in the tree under its browser process, from /proc. The call runs with the kiosk's
   ``record=0`` test knob in the page URL (no recorder), then without it (the kiosk records:
   canvas composite 1280×720 at 15 fps, WebAudio mix, MediaRecorder VP8 1 Mbit/s + Opus, a chunk
   every 4 s uploaded to the node), each measured for ``--call-seconds`` (30) after a 5 s
   warm-up from the kiosk's first decoded frame of the specialist; ``--call-rounds`` (1) pairs.
   Booth extra CPU = mean with − mean without, as a share of one core. The recorded call's chunks
   count toward lost chunks too: those the recorder cut that the server does not hold
   (``GET …/recording`` from the console page, once the kiosk has ended the segment).

   With ``--breakdown``, then, in the kiosk's browser alone: a page that plays the fake camera, the
   same drawing it into a 1280×720 canvas at 15 fps as the recorder's composite does, and the same
   with the WebAudio mix and MediaRecorder on top (a model of recorder.js, not the kiosk itself),
   each for ``--call-seconds``: where the extra CPU goes. ``--kiosk-mime`` and ``--kiosk-fps`` are
   experiments on the real kiosk (init scripts: its MediaRecorder made with another codec, its
   composite's 15 fps draw timer at another rate), the kiosk's files untouched.

Usage: .venv/bin/python bench/recording_bench.py [--sessions 50] [--seconds 60] [--call-seconds 30]
       [--call-rounds 1] [--no-browser | --no-server] [--breakdown] [--kiosk-mime M] [--kiosk-fps F]
Last line: recording: sessions N, server cpu P% per session, chunk ack p99 X ms, booth extra cpu Q%, lost chunks L
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import io
import json
import math
import os
import secrets
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import call_setup_bench  # noqa: E402  (after the path: the bench runs as a script)

CLK_TCK = os.sysconf("SC_CLK_TCK")
SECRET = secrets.token_hex(32)  # 256 random bits: RW_DEMO=false refuses a weaker RW_SECRET
INTERVAL_S = 4.0  # the kiosk's MediaRecorder timeslice
AUDIO_KBPS = 32
MIME = "video/webm;codecs=vp8,opus"

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox", "--disable-gpu", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]
KIOSK_MARK = "--rw-recording-bench-kiosk"  # unknown switches: name each browser's process in /proc
CONSOLE_MARK = "--rw-recording-bench-console"
BOOTH, BOOTH_TOKEN = "sh-huangpu-01", "demo-sh-huangpu-01"
SPECIALIST, MATTER = "spec-js-nantong", "js-320600-housing-fund-transfer"
KIOSK_STATIC = ROOT / "citizen_client" / "kiosk" / "static"


# --- measuring ------------------------------------------------------------------------------------


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int, *, children: bool = False) -> float:
    """utime + stime of ``pid`` (fields 14, 15), with cutime + cstime (16, 17) of its reaped children."""
    f = _stat(pid)
    ticks = int(f[11]) + int(f[12]) + ((int(f[13]) + int(f[14])) if children else 0)
    return ticks / CLK_TCK


def descendants(root: int) -> list[int]:
    """``root`` and every process under it (by parent pid, from /proc)."""
    parent: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                parent[int(d.name)] = int(_stat(int(d.name))[1])
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += [p for p, pp in parent.items() if pp == pid]
    return out


def tree_cpu_seconds(root: int) -> float:
    """CPU of a process tree: each live process's own time and its reaped children's.

    A child that ends in the window moves its time into its parent's cutime/cstime when reaped,
    so the sum stays whole (a child still a zombie at the end is counted by neither).
    """
    total = 0.0
    for pid in descendants(root):
        with contextlib.suppress(OSError, IndexError):
            total += cpu_seconds(pid, children=True)
    return total


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = f[3] + f[4]  # idle + iowait
    return float(sum(f) - idle), float(sum(f))


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    s = sorted(values)
    return s[max(0, min(len(s) - 1, math.ceil(q / 100 * len(s)) - 1))] if s else float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- chunks ---------------------------------------------------------------------------------------


def webm_header() -> bytes:
    """The start of a real VP8 + Opus WebM (everything before its first Cluster), as PyAV writes it."""
    import av
    import numpy as np

    buf = io.BytesIO()
    with av.open(buf, mode="w", format="webm") as out:
        v = out.add_stream("libvpx", rate=15)
        v.width, v.height, v.pix_fmt = 1280, 720, "yuv420p"
        a = out.add_stream("libopus", rate=48000)
        frame = av.VideoFrame.from_ndarray(np.zeros((720, 1280, 3), np.uint8), format="rgb24")
        frame.pts = 0
        for p in [*v.encode(frame), *v.encode()]:
            out.mux(p)
        af = av.AudioFrame.from_ndarray(np.zeros((1, 960), np.int16), format="s16", layout="mono")
        af.sample_rate, af.pts = 48000, 0
        for p in [*a.encode(af), *a.encode()]:
            out.mux(p)
    data = buf.getvalue()
    cluster = data.find(b"\x1f\x43\xb6\x75")
    return data[:cluster] if cluster > 0 else data[:200]


class Chunks:
    """Chunks of one size: random bytes, unique per (session, seq); a segment's first has a WebM header."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.pool = os.urandom(size * 3)
        self.header = webm_header()

    def make(self, session: int, seq: int) -> bytes:
        nonce = hashlib.sha256(f"{session}/{seq}".encode()).digest()  # unique: a distinct blob each
        head = (self.header if seq == 0 else b"") + nonce
        start = int.from_bytes(nonce[:4], "big") % (len(self.pool) - self.size)
        return head + self.pool[start:start + self.size - len(head)]


def disk_baseline(directory: Path, size: int, count: int) -> list[float]:
    """ms per chunk written as the blob store writes one: temp file, write, fsync, rename, fsync dir."""
    directory.mkdir(parents=True, exist_ok=True)
    pool = os.urandom(size * 3)
    out: list[float] = []
    for i in range(count):
        start = (i * 7919) % (len(pool) - size)
        data = pool[start:start + size]
        t0 = time.perf_counter()
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, directory / f"chunk-{i}")
        dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
        out.append((time.perf_counter() - t0) * 1000)
    return out


# --- a node ---------------------------------------------------------------------------------------


@dataclass
class Node:
    proc: asyncio.subprocess.Process
    url: str
    drain: asyncio.Task[None]


@contextlib.asynccontextmanager
async def node(tmp: Path, redis_url: str, extra: dict[str, str]) -> AsyncIterator[Node]:
    """``python -m window_server`` as a child process, until the block ends."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RW_") and k != "REDIS_URL"}
    env.update(REDIS_URL=redis_url, RW_PORT=str(port), RW_DATA_DIR=str(tmp / "data"), RW_LOG_LEVEL="WARNING",
               **extra)
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "window_server", env=env, cwd=ROOT,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    assert proc.stdout is not None
    stdout = proc.stdout

    async def drain() -> None:  # a full pipe would stall the node
        while await stdout.readline():
            pass

    try:
        async with asyncio.timeout(60):
            while b"running at" not in (line := await stdout.readline()):
                assert line, "window_server exited before it was running"
        task = asyncio.create_task(drain())
        yield Node(proc, f"http://127.0.0.1:{port}", task)
        task.cancel()
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                async with asyncio.timeout(15):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()


def seal_key(path: Path) -> Path:
    """A fresh Ed25519 seal key (PEM, PKCS#8): RW_DEMO=false requires RW_EVIDENCE_KEY."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path.write_bytes(Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    path.chmod(0o600)
    return path


# --- 1. the server --------------------------------------------------------------------------------


@dataclass
class Held:
    i: int
    sid: str
    booth: str
    token: str
    agent: str
    cookie: str
    sent: int = 0
    acked: int = 0
    acked_bytes: int = 0
    refused: list[str] = field(default_factory=list)
    late: int = 0  # chunks sent more than one interval after they were due (the previous was slow)


@dataclass
class ServerResult:
    sessions: int
    seconds: float
    chunk_bytes: int
    cpu_per_session: float  # % of one core
    node_cpu: float  # % of one core, whole node
    idle_cpu: float  # % of one core, the node with the sessions held and nothing uploaded
    redis_cpu: float
    bench_cpu: float
    machine_busy: float  # % of all cores
    acks: list[float]
    lost: int
    sent: int
    acked: int
    listed: int
    chained: int
    late: int
    mismatched: int  # sessions whose listed bytes differ from the bytes acknowledged
    refusals: list[str]
    disk: list[float]
    ping: list[float]
    load_before: str
    load_after: str


async def server_part(sessions: int, seconds: float, video_kbps: int) -> ServerResult:
    import aiohttp

    from window_server.accounts.store import AccountStore
    from window_server.app import queue_timing
    from window_server.domain.auth import Role
    from window_server.evidence.store import EvidenceStore
    from window_server.queue.service import QueueService
    from window_server.queue.store import QueueStore, StoreError
    from window_server.runtime.catalogue import load_catalogue
    from window_server.runtime.redis_server import EmbeddedRedis
    from window_server.settings import build_settings
    from window_server.store.client import make_redis

    chunk_bytes = (video_kbps + AUDIO_KBPS) * 1000 // 8 * int(INTERVAL_S)
    per_session = int(seconds // INTERVAL_S)
    catalogue = load_catalogue()
    matter = next(m for m in catalogue.matters if m.audience == "person")
    home = catalogue.centres_serving(matter.home_region)[0]
    intake = next(c for c in catalogue.centres if c.id != home.id)
    chunks = Chunks(chunk_bytes)
    load_before = loadavg()

    with tempfile.TemporaryDirectory(prefix="rw-recbench-") as tmp_name:
        tmp = Path(tmp_name)
        disk = disk_baseline(tmp / "baseline", chunk_bytes, min(sessions * per_session, 300))
        with contextlib.suppress(OSError):
            for f in (tmp / "baseline").iterdir():
                f.unlink()
        redis_server = EmbeddedRedis(tmp / "redis")
        redis_url = redis_server.start()
        try:
            key_file = seal_key(tmp / "seal-key.pem")
            extra = {"RW_SECRET": SECRET, "RW_DEMO": "false", "RW_EVIDENCE_KEY": str(key_file)}
            async with node(tmp, redis_url, extra) as srv:
                redis = make_redis(redis_url, timeout=10)
                settings = build_settings({}, redis_url=redis_url, data_dir=tmp / "data", demo=False, secret=SECRET)
                store = QueueStore(redis, queue_timing(settings), time.time, tz=settings.timezone)
                queue = QueueService(store, catalogue)
                accounts = AccountStore(redis, catalogue, configured_secret=SECRET)
                held: list[Held] = []
                lapses: list[str] = []

                async def heartbeats() -> None:
                    """Renew every specialist's queue heartbeat every 5 s, as a node does for its consoles."""
                    while True:
                        for agent in [h.agent for h in held] + pending:
                            try:
                                await queue.heartbeat(agent)
                            except StoreError as exc:
                                lapses.append(f"{agent}: {exc}")
                        await asyncio.sleep(5)

                pending: list[str] = []
                beating = asyncio.create_task(heartbeats())
                for i in range(sessions):
                    booth_id, agent = f"bench-rec-{i:03d}", f"bench-spec-{i:03d}"
                    _b, token = await accounts.add_booth(booth_id, intake.id)
                    user = await accounts.add_user(agent, secrets.token_urlsafe(24), Role.SPECIALIST, home.id)
                    cookie = await accounts.create_web_session(user)
                    await queue.agent_login(agent, home.id)
                    pending[:] = [agent]
                    ticket = await queue.request_service(booth=booth_id, intake_centre=intake.id,
                                                         matter=matter.code, consent=True)
                    sid = str(ticket.ok["sid"])
                    await queue.presence(agent, "available")
                    offered = (await store.session(sid)).get("offer_agent")
                    assert offered == agent, f"session {i}: offered to {offered!r}, not {agent}"
                    await queue.accept(agent, sid)
                    held.append(Held(i, sid, booth_id, token, agent, cookie))
                    pending.clear()

                # Raw Redis round trip, the node up and idle.
                ping: list[float] = []
                for _ in range(1000):
                    t0 = time.perf_counter()
                    await redis.ping()
                    ping.append((time.perf_counter() - t0) * 1e6)

                node_pid, redis_pid = srv.proc.pid, redis_server.proc.pid if redis_server.proc else 0
                # The node idle with N held sessions: its clocks, nothing uploaded.
                c0, w0 = tree_cpu_seconds(node_pid), time.monotonic()
                await asyncio.sleep(5)
                idle_cpu = (tree_cpu_seconds(node_pid) - c0) / (time.monotonic() - w0) * 100

                connector = aiohttp.TCPConnector(limit=0, limit_per_host=0)
                timeout = aiohttp.ClientTimeout(total=60)
                acks: list[float] = []
                async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
                    # Each booth opens its segment (before the window: once per call leg).
                    for h in held:
                        async with http.post(f"{srv.url}/api/sessions/{h.sid}/recording/segments",
                                             json={"mime": MIME, "width": 1280, "height": 720},
                                             headers=booth_headers(h)) as resp:
                            body = await resp.json()
                            assert resp.status == 201 and body["segment"]["n"] == 0, (resp.status, body)

                    loop = asyncio.get_running_loop()
                    start = loop.time() + 1.0

                    async def upload(h: Held) -> None:
                        offset = h.i * INTERVAL_S / sessions
                        url = f"{srv.url}/api/sessions/{h.sid}/recording/segments/0/chunks/"
                        for seq in range(per_session):
                            due = start + offset + seq * INTERVAL_S
                            await asyncio.sleep(max(0.0, due - loop.time()))
                            if loop.time() - due > INTERVAL_S:
                                h.late += 1
                            data = chunks.make(h.i, seq)
                            headers = {**booth_headers(h), "Content-Type": "video/webm",
                                       "X-Content-SHA256": hashlib.sha256(data).hexdigest()}
                            params = {"t": str((seq + 1) * 4000), "from": str(seq * 4000)}
                            h.sent += 1
                            t0 = time.perf_counter()
                            try:
                                async with http.put(url + str(seq), params=params, data=data,
                                                    headers=headers) as resp:
                                    body = await resp.json()
                                    status = resp.status
                            except (aiohttp.ClientError, TimeoutError) as exc:
                                h.refused.append(f"seq {seq}: {type(exc).__name__}")
                                continue
                            ms = (time.perf_counter() - t0) * 1000
                            if status == 201 and body.get("size") == len(data):
                                h.acked += 1
                                h.acked_bytes += len(data)
                                acks.append(ms)
                            else:
                                h.refused.append(f"seq {seq}: {status} {body.get('error', {}).get('code', body)}")

                    await asyncio.sleep(max(0.0, start - loop.time()))
                    n0, r0, s0 = tree_cpu_seconds(node_pid), cpu_seconds(redis_pid), cpu_seconds(os.getpid())
                    b0, w0 = machine_busy(), time.monotonic()
                    tasks = [asyncio.create_task(upload(h)) for h in held]
                    # The window: from the first chunk due until the last one is due plus one interval.
                    await asyncio.sleep(max(0.0, start + per_session * INTERVAL_S - loop.time()))
                    wall = time.monotonic() - w0
                    node_cpu = (tree_cpu_seconds(node_pid) - n0) / wall * 100
                    redis_cpu = (cpu_seconds(redis_pid) - r0) / wall * 100
                    bench_cpu = (cpu_seconds(os.getpid()) - s0) / wall * 100
                    b1 = machine_busy()
                    busy = (b1[0] - b0[0]) / max(1.0, b1[1] - b0[1]) * 100
                    await asyncio.gather(*tasks)

                    # Close each segment, then read back what the server holds.
                    listed = chained = missing = mismatched = 0
                    evidence = EvidenceStore(redis)
                    for h in held:
                        async with http.post(f"{srv.url}/api/sessions/{h.sid}/recording/segments/0/end",
                                             json={"chunks": h.sent, "t": h.sent * 4000},
                                             headers=booth_headers(h)) as resp:
                            assert resp.status == 200, await resp.text()
                        async with http.get(f"{srv.url}/api/sessions/{h.sid}/recording",
                                            headers={"Cookie": f"rw_session={h.cookie}"}) as resp:
                            view = await resp.json()
                            assert resp.status == 200, view
                        segs = view["recording"]["segments"]
                        n_listed = segs[0]["chunks"] if segs else 0
                        n_bytes = segs[0]["bytes"] if segs else 0
                        n_chained = sum(1 for e in await evidence.chain(h.sid) if e["kind"] == "chunk")
                        listed += n_listed
                        chained += n_chained
                        # an acknowledged chunk that the recording or the chain does not hold is lost
                        missing += max(h.acked - n_listed, h.acked - n_chained, 0)
                        mismatched += n_bytes != h.acked_bytes
                        state = (await store.session(h.sid)).get("state")
                        if state != "in_service":
                            h.refused.append(f"session state {state} at the end")
                    h0 = held[0] if held else None
                    if lapses and h0 is not None:
                        h0.refused += [f"heartbeat refused: {x}" for x in lapses[:5]]
                beating.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await beating
                await redis.aclose()
        finally:
            redis_server.stop()

    sent = sum(h.sent for h in held)
    acked = sum(h.acked for h in held)
    return ServerResult(
        sessions=sessions, seconds=wall, chunk_bytes=chunk_bytes, cpu_per_session=node_cpu / sessions,
        node_cpu=node_cpu, idle_cpu=idle_cpu, redis_cpu=redis_cpu, bench_cpu=bench_cpu, machine_busy=busy,
        acks=acks, lost=(sent - acked) + missing, sent=sent, acked=acked, listed=listed, chained=chained,
        late=sum(h.late for h in held), mismatched=mismatched, refusals=[f"{h.sid}: {r}" for h in held for r in h.refused],
        disk=disk, ping=ping, load_before=load_before, load_after=loadavg())


def booth_headers(h: Held) -> dict[str, str]:
    return {"Authorization": f"Bearer {h.token}", "X-Booth": h.booth}


# --- 2. the booth (Chromium) ----------------------------------------------------------------------

# The kiosk's first decoded frame of each remote video, as bench/call_setup_bench.py probes it.
KIOSK_PROBE = call_setup_bench.KIOSK_PROBE

# Used only when the kiosk has no record=0 knob: on a page opened with record=0 there is no
# MediaRecorder, so the kiosk's recorder never starts.
NO_MEDIARECORDER = """
if (new URLSearchParams(location.search).get("record") === "0") {
  Object.defineProperty(window, "MediaRecorder", { value: undefined, configurable: true });
}
"""

RECORDER = "() => (window.__rwRecorder ? { ...window.__rwRecorder } : null)"

# --kiosk-mime: the kiosk's MediaRecorder made with another codec (an experiment; the kiosk untouched).
FORCE_MIME = """((mime) => {
  const Native = window.MediaRecorder;
  if (!Native) return;
  class Forced extends Native {
    constructor(stream, options = {}) { super(stream, { ...options, mimeType: mime }); }
  }
  window.MediaRecorder = Forced;
})(%s);"""

# --kiosk-fps: the composite's 15 fps draw timer (setInterval every 67 ms, each draw one frame) at another rate.
FORCE_FPS = """((fps) => {
  const native = window.setInterval;
  window.setInterval = function (fn, ms, ...rest) {
    return native.call(this, fn, ms === Math.round(1000 / 15) ? Math.round(1000 / fps) : ms, ...rest);
  };
})(%d);"""

# The recording's segments as its specialist reads them, once the kiosk has ended every one.
SEGMENTS_ENDED = """async (sid) => {
  for (;;) {
    const view = await (await fetch(`/api/sessions/${sid}/recording`)).json();
    const segs = view.recording ? view.recording.segments : [];
    if (segs.length && segs.every((s) => s.ended_by === "end" || s.ended_by === "next_segment")) return segs;
    await new Promise((r) => setTimeout(r, 500));
  }
}"""


def has_record_knob() -> bool:
    needles = ("record=0", "knobs.record", "noRecord", 'get("record")', "get('record')")
    return any(n in p.read_text(errors="replace") for p in KIOSK_STATIC.glob("*.js") for n in needles)


def browser_pid(mark: str) -> int:
    """The browser process launched with ``mark`` among its switches."""
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            with contextlib.suppress(OSError):
                argv = (d / "cmdline").read_bytes().split(b"\0")
                if mark.encode() in argv and not any(a.startswith(b"--type=") for a in argv):
                    return int(d.name)
    raise RuntimeError(f"no browser process with {mark}")


def recorded_quality(webm: bytes) -> str:
    """A recorded segment decoded: its video frame rate and size, its audio bitrate."""
    import io  # noqa: PLC0415  (only the Chromium part needs it)

    import av  # noqa: PLC0415

    frames, first, last, size, audio_bytes = 0, None, 0.0, "", 0
    with av.open(io.BytesIO(webm)) as f:
        for packet in f.demux():
            if packet.stream.type == "audio" and packet.size:
                audio_bytes += packet.size
        f.seek(0)
        for frame in f.decode(video=0):
            frames += 1
            t = float(frame.time or 0.0)
            first = t if first is None else first
            last = max(last, t)
            size = f"{frame.width}x{frame.height}"
        span = max(1e-3, last - (first or 0.0))
        seconds = f.duration / av.time_base if f.duration else span
    fps = (frames - 1) / span if frames > 1 else 0.0
    return f"recorded video {fps:.1f} fps at {size}, audio {audio_bytes * 8 / max(seconds, 1e-3) / 1000:.0f} kbit/s"


@dataclass
class CallResult:
    recorded: bool
    kiosk_cpu: float  # % of one core, the kiosk's whole browser
    console_cpu: float
    machine_busy: float
    recorder: dict[str, Any] | None
    server_chunks: int | None
    load: str


async def to_welcome(kiosk: Any) -> None:
    """To the start screen: a fresh kiosk page of this booth first shows the last session's rating."""
    async with asyncio.timeout(60):
        while True:
            handle = await kiosk.wait_for_function(
                "() => ['welcome', 'rating', 'receipt'].includes(document.body.dataset.screen)"
                " && document.body.dataset.screen", timeout=30000)
            screen = await handle.json_value()
            if screen == "welcome":
                return
            await kiosk.click("#rating-skip" if screen == "rating" else "#receipt-done")
            await kiosk.wait_for_function("(s) => document.body.dataset.screen !== s", arg=screen, timeout=30000)


async def one_call(kiosk: Any, console: Any, kiosk_pid: int, console_pid: int, region: str, seconds: float,
                   record: bool) -> CallResult:
    """A ticket, accept, the call measured for ``seconds``, complete; back to the start screen."""
    await to_welcome(kiosk)
    await kiosk.click("#btn-start")
    await kiosk.click(f"[data-province='{region[:2]}0000']")
    await kiosk.click(f"[data-region='{region}']")
    await kiosk.click(f"[data-matter='{MATTER}']")
    await kiosk.click("[data-priority='']")
    await kiosk.click("#consent-yes")
    await kiosk.wait_for_selector("body[data-screen='waiting']", timeout=30000)
    await console.wait_for_selector("#offer:not([hidden])", timeout=30000)
    t_accept = await console.evaluate("() => performance.timeOrigin + performance.now()")
    await console.keyboard.press("a")
    await kiosk.wait_for_function("(t0) => window.__bench.frames.some((t) => t > t0)", arg=t_accept,
                                  timeout=30000)
    sid = None
    if record:
        handle = await kiosk.wait_for_function(
            "() => { const r = window.__rwRecorder; return r && r.state === 'recording' && r.acked > 0 && r.sid; }",
            timeout=30000)
        sid = await handle.json_value()
    await asyncio.sleep(5.0)  # warm-up: encoders settle on their bitrates
    k0, c0, b0, w0 = tree_cpu_seconds(kiosk_pid), tree_cpu_seconds(console_pid), machine_busy(), time.monotonic()
    await asyncio.sleep(seconds)
    wall = time.monotonic() - w0
    kiosk_cpu = (tree_cpu_seconds(kiosk_pid) - k0) / wall * 100
    console_cpu = (tree_cpu_seconds(console_pid) - c0) / wall * 100
    b1 = machine_busy()
    busy = (b1[0] - b0[0]) / max(1.0, b1[1] - b0[1]) * 100
    load = loadavg()
    during = await kiosk.evaluate(RECORDER)
    await console.keyboard.press("e")  # complete (consultation): the recorder ends its segment
    await console.click("#done-submit")
    await console.wait_for_selector("#idle:not([hidden])", timeout=20000)
    recorder: dict[str, Any] | None = during
    server_chunks = None
    if record:
        # The recorder's last chunk and the segment's end reach the server after the session ends.
        segments = await asyncio.wait_for(console.evaluate(SEGMENTS_ENDED, sid), 60)
        await kiosk.wait_for_function("() => window.__rwRecorder.queued === 0", timeout=30000)
        recorder = await kiosk.evaluate(RECORDER)
        server_chunks = sum(s["chunks"] for s in segments)
        missing = sum(len(s["missing_chunks"]) for s in segments)
        recorder = {**recorder, "missing": missing, "complete": all(s["complete"] for s in segments),
                    "segments": len(segments)}
        # What was recorded, decoded: the floor is >= 10 fps per party, >= 24 kbit/s audio.
        origin = "/".join(console.url.split("/", 3)[:3])
        resp = await console.request.get(f"{origin}/api/sessions/{sid}/recording/segments/0.webm")
        if resp.ok:
            recorder["quality"] = await asyncio.to_thread(recorded_quality, await resp.body())
    await kiosk.wait_for_selector("body[data-screen='rating']", timeout=30000)
    await to_welcome(kiosk)
    await console.wait_for_selector("#status-pill.p-available", timeout=20000)
    return CallResult(record, kiosk_cpu, console_cpu, busy, recorder, server_chunks, load)


@dataclass
class BoothResult:
    calls: list[CallResult]
    knob: bool
    parts: list[tuple[str, float, float]] | None = None

    def mean(self, recorded: bool) -> float:
        return statistics.mean(c.kiosk_cpu for c in self.calls if c.recorded == recorded)

    @property
    def extra(self) -> float:
        return self.mean(True) - self.mean(False)

    @property
    def lost(self) -> int:
        out = 0
        for c in self.calls:
            if c.recorded and c.recorder is not None:
                # cut but not stored, or missing from a segment the kiosk closed
                out += max(int(c.recorder["sent"]) - (c.server_chunks or 0), int(c.recorder["missing"]))
        return out


async def booth_part(seconds: float, rounds: int, parts: bool, mime: str = "", fps: int = 0) -> BoothResult:
    from playwright.async_api import async_playwright

    from window_server.runtime.catalogue import load_catalogue
    from window_server.runtime.redis_server import EmbeddedRedis

    knob = has_record_knob()
    region = load_catalogue().matter(MATTER).home_region
    calls: list[CallResult] = []
    with tempfile.TemporaryDirectory(prefix="rw-recbench-call-") as tmp_name:
        tmp = Path(tmp_name)
        redis_server = EmbeddedRedis(tmp / "redis")
        redis_url = redis_server.start()
        try:
            async with node(tmp, redis_url, {"RW_DEMO": "true", "RW_WRAP_UP_SECONDS": "0"}) as srv, \
                    async_playwright() as pw:
                kb = await pw.chromium.launch(executable_path=CHROMIUM, args=[*ARGS, KIOSK_MARK])
                cb = await pw.chromium.launch(executable_path=CHROMIUM, args=[*ARGS, CONSOLE_MARK])
                kiosk_pid, console_pid = browser_pid(KIOSK_MARK), browser_pid(CONSOLE_MARK)
                cctx = await cb.new_context(viewport={"width": 1600, "height": 900})
                console = await cctx.new_page()
                await console.goto(srv.url + "/console")
                await console.fill("#username", SPECIALIST)
                await console.fill("#password", "demo1234")
                await console.click("#login-submit")
                await console.wait_for_selector("#conn.on", timeout=15000)
                await console.click("#btn-available")
                await console.wait_for_selector("#status-pill.p-available")
                # One kiosk context for every call, as a booth's browser is: it keeps the token and
                # the sessions the citizen left (a fresh one would show the last session's rating).
                kctx = await kb.new_context(viewport={"width": 1280, "height": 800})
                await kctx.add_init_script(KIOSK_PROBE)
                if not knob:
                    await kctx.add_init_script(NO_MEDIARECORDER)
                if mime:
                    await kctx.add_init_script(FORCE_MIME % json.dumps(mime))
                if fps:
                    await kctx.add_init_script(FORCE_FPS % fps)
                kiosk = await kctx.new_page()
                page_url = f"{srv.url}/booth/{BOOTH}?token={BOOTH_TOKEN}"
                for _ in range(rounds):
                    for record in (False, True):
                        await kiosk.goto(page_url if record else page_url + "&record=0")  # a fresh page each call
                        call = await one_call(kiosk, console, kiosk_pid, console_pid, region, seconds, record)
                        calls.append(call)
                        _print_call(call)
                        if not record:
                            r = call.recorder
                            assert r is None or (r["sent"] == 0 and r["state"] == "idle"), \
                                f"the recorder ran in the call without recording: {r}"
                await kctx.close()
                await cb.close()
                split = await breakdown(kb, kiosk_pid, seconds) if parts else None
                await kb.close()
        finally:
            redis_server.stop()
    return BoothResult(calls, knob, split)


BREAKDOWN_PAGE = "http://127.0.0.1/recording-breakdown"  # page.route serves it; loopback is a secure context

# A model of the recorder's work (recorder.js), alone in a page, to say where the booth's extra CPU
# goes: "composite" draws the fake camera twice into a canvas (1280×720 at 15 fps, on a timer) as
# the recorder's composite does (two tiles in the top half, a label, a clock); "record" adds the
# WebAudio mix and MediaRecorder (VP8 1 Mbit/s + Opus 32 kbit/s, 4 s timeslice) over it. The
# variants after it change one thing each (frame rate, size, codec), to show what would save CPU.
BREAKDOWN = """async ({ mode, w, h, fps, mime }) => {
  const cam = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
  const v = document.createElement("video");
  v.muted = true; v.playsInline = true; v.srcObject = cam;
  document.body.appendChild(v);
  await v.play();
  window.__bytes = 0;
  if (mode === "camera") return true;
  if (mode === "record" && !MediaRecorder.isTypeSupported(mime)) return false;
  const c = document.createElement("canvas");
  c.width = w; c.height = h;
  const g = c.getContext("2d");
  setInterval(() => {
    g.fillStyle = "#000"; g.fillRect(0, 0, w, h);
    g.drawImage(v, 0, 0, w / 2, h / 2);
    g.drawImage(v, w / 2, 0, w / 2, h / 2);
    g.fillStyle = "#14181d"; g.fillRect(0, h / 2, w, h / 2);
    g.font = "bold 22px sans-serif"; g.fillStyle = "#fff";
    g.fillText(`REC ${new Date().toISOString()}`, w - 380, h - 20);
  }, Math.round(1000 / fps));
  if (mode !== "record") return true;
  const ac = new AudioContext();
  const dest = ac.createMediaStreamDestination();
  ac.createMediaStreamSource(cam).connect(dest);
  const stream = new MediaStream([...c.captureStream(fps).getVideoTracks(), ...dest.stream.getAudioTracks()]);
  const rec = new MediaRecorder(stream, { mimeType: mime, videoBitsPerSecond: 1000000, audioBitsPerSecond: 32000 });
  rec.ondataavailable = (e) => { window.__bytes += e.data.size; };
  rec.start(4000);
  return true;
}"""

VP8 = "video/webm;codecs=vp8,opus"
BREAKDOWN_STEPS = [  # (label, mode, width, height, fps, mime)
    ("fake camera playing", "camera", 0, 0, 0, ""),
    ("+ composite 1280x720 15 fps", "composite", 1280, 720, 15, ""),
    ("+ MediaRecorder VP8 (as the kiosk)", "record", 1280, 720, 15, VP8),
    ("variant: 10 fps", "record", 1280, 720, 10, VP8),
    ("variant: 960x540", "record", 960, 540, 15, VP8),
    ("variant: H.264", "record", 1280, 720, 15, "video/webm;codecs=h264,opus"),
    ("variant: VP9", "record", 1280, 720, 15, "video/webm;codecs=vp9,opus"),
]


async def breakdown(browser: Any, pid: int, seconds: float) -> list[tuple[str, float, float]]:
    """The kiosk browser's CPU (% of one core) and bitrate (kbit/s) with a page doing each step."""
    out: list[tuple[str, float, float]] = []
    for label, mode, w, h, fps, mime in BREAKDOWN_STEPS:
        ctx = await browser.new_context()
        page = await ctx.new_page()
        await page.route(BREAKDOWN_PAGE, lambda route: route.fulfill(body="<!doctype html><body></body>",
                                                                     content_type="text/html"))
        await page.goto(BREAKDOWN_PAGE)
        if await page.evaluate(BREAKDOWN, {"mode": mode, "w": w, "h": h, "fps": fps, "mime": mime}):
            await asyncio.sleep(5.0)  # warm-up, as for the calls
            b0 = await page.evaluate("() => window.__bytes")
            c0, w0 = tree_cpu_seconds(pid), time.monotonic()
            await asyncio.sleep(seconds)
            wall = time.monotonic() - w0
            cpu = (tree_cpu_seconds(pid) - c0) / wall * 100
            kbps = (await page.evaluate("() => window.__bytes") - b0) * 8 / 1000 / wall
            out.append((label, cpu, kbps))
        else:
            out.append((label + " (not supported)", float("nan"), float("nan")))
        await ctx.close()
    return out


def _print_call(c: CallResult) -> None:
    r = c.recorder or {}
    extra = (f"; recorder cut {r.get('sent')} chunks, acked {r.get('acked')}, retried {r.get('failed')}, "
             f"dropped {r.get('dropped')}; server holds {c.server_chunks} in {r.get('segments')} segment(s), "
             f"{'complete' if r.get('complete') else 'INCOMPLETE'}; {r.get('quality', 'recording not read back')}"
             ) if c.recorded else ""
    print(f"  call {'with' if c.recorded else 'without'} recording: kiosk browser {c.kiosk_cpu:.1f}% of a core, "
          f"console browser {c.console_cpu:.1f}%, machine {c.machine_busy:.0f}% busy, load {c.load}{extra}",
          flush=True)


# --- main -----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=50, help="concurrent recorded sessions (default 50)")
    parser.add_argument("--seconds", type=float, default=60.0, help="upload window (default 60)")
    parser.add_argument("--video-kbps", type=int, default=1000, help="video bitrate of the chunks (default 1000)")
    parser.add_argument("--call-seconds", type=float, default=30.0, help="each Chromium call's window (default 30)")
    parser.add_argument("--call-rounds", type=int, default=1, help="calls without and with recording (default 1)")
    parser.add_argument("--no-browser", action="store_true", help="the server part only")
    parser.add_argument("--no-server", action="store_true", help="the Chromium part only")
    parser.add_argument("--kiosk-mime", default="",
                        help="an experiment: the kiosk's MediaRecorder with this MIME type (e.g. video/webm;codecs=vp9,opus)")
    parser.add_argument("--kiosk-fps", type=int, default=0,
                        help="an experiment: the kiosk's composite drawn at this frame rate instead of 15")
    parser.add_argument("--breakdown", action="store_true",
                        help="then split the booth's extra CPU: composite vs encoder, in a page modelling the recorder")
    args = parser.parse_args()

    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')}, {os.cpu_count()} cores, load {loadavg()}", flush=True)
    s = None if args.no_server else asyncio.run(server_part(args.sessions, args.seconds, args.video_kbps))
    if s is not None:
        print_server(s)
    b = None if args.no_browser else asyncio.run(
        booth_part(args.call_seconds, args.call_rounds, args.breakdown, args.kiosk_mime, args.kiosk_fps))
    if b is not None:
        print_booth(b, args.kiosk_mime, args.kiosk_fps)

    def met(ok: bool) -> str:
        return "met" if ok else "MISSED"

    nan = float("nan")
    cpu, p99 = (s.cpu_per_session, pct(s.acks, 99)) if s else (nan, nan)
    extra = b.extra if b else nan
    lost = (s.lost if s else 0) + (b.lost if b else 0)
    sessions = s.sessions if s else 0
    print("targets: " + ", ".join([
        f"server <= 5% of a core per session at 50 sessions ({met(cpu <= 5 and sessions >= 50) if s else 'not measured'})",
        f"chunk ack p99 <= 200 ms ({met(p99 <= 200) if s else 'not measured'})",
        f"booth extra <= 25% of a core ({met(extra <= 25) if b else 'not measured'})",
        f"0 lost ({met(lost == 0)})"]))
    print(f"recording: sessions {sessions}, server cpu {cpu:.2f}% per session, chunk ack p99 {p99:.0f} ms, "
          f"booth extra cpu {extra:.1f}%, lost chunks {lost}")


def print_server(s: ServerResult) -> None:
    print(f"server: {s.sessions} sessions, a {s.chunk_bytes:,}-byte chunk every {INTERVAL_S:.0f} s each "
          f"({s.chunk_bytes * 8 / INTERVAL_S / 1e6:.2f} Mbit/s), {s.seconds:.1f} s window; "
          f"load {s.load_before} before, {s.load_after} after")
    print(f"  node cpu {s.node_cpu:.1f}% of a core = {s.cpu_per_session:.2f}% per session "
          f"(idle with the sessions held: {s.idle_cpu:.1f}%); redis {s.redis_cpu:.1f}%; "
          f"this process (uploaders) {s.bench_cpu:.1f}%; machine {s.machine_busy:.0f}% busy")
    print(f"  chunk ack (sent -> 201): p50 {pct(s.acks, 50):.1f} ms, p99 {pct(s.acks, 99):.1f} ms, "
          f"max {max(s.acks, default=float('nan')):.1f} ms over {len(s.acks)} chunks")
    print(f"  chunks: sent {s.sent}, acknowledged {s.acked}, listed by GET …/recording {s.listed}, "
          f"chained {s.chained}; sent late {s.late}; sessions whose bytes differ {s.mismatched}; lost {s.lost}")
    for r in s.refusals[:10]:
        print(f"    {r}")
    print(f"  baseline: write+fsync+rename(+fsync dir) of a {s.chunk_bytes:,}-byte chunk, bare loop: "
          f"p50 {pct(s.disk, 50):.1f} ms, p99 {pct(s.disk, 99):.1f} ms ({len(s.disk)} writes); "
          f"Redis PING p50 {statistics.median(s.ping):.0f} µs", flush=True)


def print_booth(b: BoothResult, mime: str, fps: int) -> None:
    how = "record=0 in the page URL" if b.knob else "the kiosk has no record=0 knob: MediaRecorder hidden by an init script"
    print(f"booth: kiosk browser without recording {b.mean(False):.1f}% of a core ({how}), "
          f"with {b.mean(True):.1f}%: extra {b.extra:.1f}%; recorded call's chunks lost {b.lost}")
    if mime:
        print(f"  (experiment: the kiosk's MediaRecorder made with {mime})")
    if fps:
        print(f"  (experiment: the kiosk's composite drawn at {fps} fps)")
    if b.parts:
        print("  breakdown, a page modelling the recorder in the kiosk's browser alone (% of a core; "
              "kbit/s of the recording, chunks landed in the window):")
        for label, cpu, kbps in b.parts:
            print(f"    {label:<40} {cpu:6.1f}%  {kbps:6.0f} kbit/s")


if __name__ == "__main__":
    main()
