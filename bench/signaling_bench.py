"""Signaling benchmark: connect rate, ack round trips and memory per connection.

Set-up: a private redis-server (``EmbeddedRedis``) and ``python -m window_server`` as a child
process (RW_DEMO=false, a random 256-bit RW_SECRET, rate limit 1000/s, the default per-connection
frame and byte budget), on 127.0.0.1 only. The booths are registered first, as ``booths add``
would (``AccountStore.add_booth``), since signaling admits tokens of existing accounts only. For
each N (500 and 2,000): connect N booth clients to ``/booth``, each with a fresh single-use
connect token signed here with its booth's generation (at most 100 handshakes in flight), and
keep them all connected, answering engine.io pings; then for
~10 s every tenth client is chatty: one ``resume`` at a time, wait for the ack, a jittered
~100 ms pause, again. Every emit -> ack round trip is recorded. Server memory per connection is
the RSS growth of the server process from "started, no clients" to "N clients, settled", / N.

Baseline measured in the same run with the same generator (``_wsload``) and the same pattern:
a bare aiohttp websocket echo server in its own process, N sockets, the same chatty tenth
sending a frame of the same size and waiting for its echo.

Targets at 2,000 clients: ack p99 <= 2 x the raw websocket p99; <= 64 KB of server memory per
connection. The clients offer permessage-deflate as browsers do (``--no-deflate`` to compare).

Usage: .venv/bin/python bench/signaling_bench.py [--clients 500,2000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import gc
import os
import re
import resource
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from _wsload import (
    ECHO_SERVER,
    Link,
    ack_ok,
    close_all,
    connect_all,
    pct,
    raw_connect,
    run_chatty,
    sio_connect,
    stalls,
)

from window_server.accounts.store import AccountStore
from window_server.domain.auth import Principal, Role, sign_connect_token
from window_server.evidence.keys import write_new_key
from window_server.runtime.catalogue import load_catalogue
from window_server.runtime.redis_server import EmbeddedRedis
from window_server.store.client import make_redis

ROOT = Path(__file__).resolve().parent.parent
NAMESPACE = "/booth"
CENTRE = "sh-huangpu"  # a real centre of the demo catalogue
IN_FLIGHT = 100
SETTLE_S = 2.0
START_TIMEOUT_S = 30.0
BANNER = re.compile(r"running at (http://127\.0\.0\.1:(\d+))")
EXCEPTION = re.compile(r"^[\w.]+(?:Error|Exception): .*$", re.MULTILINE)
ECHO_BANNER = re.compile(r"echo server at (http://127\.0\.0\.1:(\d+))")
TARGET_RATIO = 2.0
TARGET_KB = 64.0
STARVED_MS = 50.0  # generator loop lag beyond this: the bench machine is too busy to trust
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- processes ----------------------------------------------------------------------------------


def raise_nofile() -> int:
    """Raise this process's open-file limit to the hard limit (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _child_setup() -> None:  # between fork and exec: die with the bench, many sockets allowed
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@dataclass
class Child:
    """A server child process whose stdout/stderr go to files (a full pipe cannot stall it)."""

    name: str
    proc: subprocess.Popen[bytes]
    out: Path
    err: Path
    url: str = ""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_banner(self, banner: re.Pattern[str], timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = banner.search(self.out.read_text(errors="replace"))
            if m:
                self.url = m.group(1)
                return self.url
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)  # polling a child's start-up, not a test wait
        raise RuntimeError(f"{self.name} did not start (exit {self.proc.poll()}): {self.tail()}")

    def tail(self, lines: int = 8) -> str:
        text = self.err.read_text(errors="replace") if self.err.exists() else ""
        return " | ".join(text.strip().splitlines()[-lines:]) or "no stderr"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def spawn(name: str, argv: list[str], env: dict[str, str], logdir: Path) -> Child:
    out, err = logdir / f"{name}.out", logdir / f"{name}.err"
    with out.open("wb") as fo, err.open("wb") as fe:
        proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=fo, stderr=fe,
            preexec_fn=_child_setup,  # noqa: PLW1509 - only PDEATHSIG and RLIMIT_NOFILE
        )
    return Child(name, proc, out, err)


@contextlib.contextmanager
def running(child: Child, banner: re.Pattern[str]) -> Iterator[Child]:
    try:
        child.wait_banner(banner, START_TIMEOUT_S)
        yield child
    finally:
        child.stop()


def signaling_server(tmp: Path, redis_url: str, secret: str, tag: str) -> Child:
    data = tmp / f"data-{tag}"
    data.mkdir()
    key = data / "seal-key.pem"  # RW_DEMO=false requires RW_EVIDENCE_KEY
    write_new_key(key)
    env = {**os.environ, "REDIS_URL": redis_url, "RW_SECRET": secret, "RW_DEMO": "false",
           "RW_EVIDENCE_KEY": str(key),
           "RW_LOG_LEVEL": "WARNING", "RW_RATE_LIMIT_PER_SECOND": "1000", "RW_RATE_LIMIT_BURST": "1000",
           "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, "-m", "window_server", "--port", "0", "--data-dir", str(data)]
    return spawn(f"window_server-{tag}", argv, env, tmp)


def echo_server(tmp: Path, tag: str) -> Child:
    return spawn(f"echo-{tag}", [sys.executable, "-c", ECHO_SERVER, "0"], dict(os.environ), tmp)


# --- /proc readings -------------------------------------------------------------------------------


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# --- one measured phase -------------------------------------------------------------------------------


@dataclass
class Phase:
    connected: int
    connect_rate: float
    connect_errors: list[str]
    rss_before_kb: int
    rss_settled_kb: int
    rss_after_kb: int
    rtts_ms: list[float]
    not_ok: int
    failures: list[str]
    dropped: int
    loop_lag_ms: list[float]
    cpu_pct: dict[str, float]
    stalls: list[tuple[float, int, float]]
    server_errors: tuple[int, int] = (0, 0)
    """ERROR lines the server logged (during the run, while the clients disconnected)."""

    def kb_per_conn(self, n: int) -> float:
        return (self.rss_settled_kb - self.rss_before_kb) / n

    def kb_per_conn_after(self, n: int) -> float:
        return (self.rss_after_kb - self.rss_before_kb) / n


async def measure(
    n: int, connect_one: Callable[[aiohttp.ClientSession, int], Awaitable[Link]], server_pid: int,
    redis_pid: int | None, seconds: float, check: Callable[[str], bool] | None,
    before_close: Callable[[], None] = lambda: None,
) -> Phase:
    rss_before = rss_kb(server_pid)
    connector = aiohttp.TCPConnector(limit=0, enable_cleanup_closed=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        links, secs, errors = await connect_all(
            n, lambda i: connect_one(session, i), IN_FLIGHT)
        try:
            await asyncio.sleep(SETTLE_S)
            rss_settled = rss_kb(server_pid)
            chatty = links[::10]
            pids = {"server": server_pid, "bench": os.getpid()}
            if redis_pid is not None:
                pids["redis"] = redis_pid
            # The generator's own collector would pause every client at once (gen2 passes of
            # 50-180 ms over 2,000 sockets were seen here): freeze what exists, pause it meanwhile.
            gc.collect()
            gc.freeze()
            gc.disable()
            cpu0 = {k: cpu_s(p) for k, p in pids.items()}
            t0 = time.perf_counter()
            try:
                res = await run_chatty(chatty, seconds, check=check)
            finally:
                gc.enable()
                gc.unfreeze()
            wall = time.perf_counter() - t0
            cpu_pct = {k: 100.0 * (cpu_s(p) - cpu0[k]) / wall for k, p in pids.items()}
            rss_after = rss_kb(server_pid)
            dropped = sum(1 for link in links if link.reader is not None and link.reader.done())
        finally:
            before_close()
            await close_all(links)
    return Phase(len(links), len(links) / secs if secs > 0 else 0.0, errors, rss_before, rss_settled,
                 rss_after, res.rtts_ms, res.replies_not_ok, res.failures, dropped, res.loop_lag_ms, cpu_pct,
                 stalls(res.starts_s, res.rtts_ms, len(chatty)))


def booth_id(i: int) -> str:
    return f"bench-{i}"


async def register_booths(redis_url: str, n: int) -> list[int]:
    """Register booths ``bench-0`` .. ``bench-<n-1>`` at CENTRE; return each one's generation."""
    redis = make_redis(redis_url, timeout=30)
    try:
        accounts = AccountStore(redis, load_catalogue(None, None))
        return [(await accounts.add_booth(booth_id(i), CENTRE))[0].generation for i in range(n)]
    finally:
        await redis.aclose()


def run_signaling(
    n: int, tmp: Path, redis: EmbeddedRedis, secret: str, gens: list[int], seconds: float, deflate: bool
) -> Phase:
    with running(signaling_server(tmp, redis.url, secret, f"sio-{n}"), BANNER) as server:
        time.sleep(0.5)  # let start-up allocations finish before the "no clients" RSS reading
        ws_url = server.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        key = secret.encode()

        async def one(session: aiohttp.ClientSession, i: int) -> Link:
            # A fresh token for every connect: signaling spends its nonce.
            principal = Principal(role=Role.BOOTH, subject=booth_id(i), centre=CENTRE, langs=("zh",))
            token = sign_connect_token(key, principal, NAMESPACE, int(time.time() * 1000), 120,
                                       secrets.token_urlsafe(12), gen=gens[i])
            return await sio_connect(session, ws_url, NAMESPACE, token, deflate=deflate, limit_s=30.0)

        redis_pid = redis.proc.pid if redis.proc is not None else None
        at_close = [0]

        def mark() -> None:
            at_close[0] = len(error_lines(server))

        phase = asyncio.run(measure(n, one, server.pid, redis_pid, seconds, ack_ok, mark))
        if server.proc.poll() is not None:
            raise RuntimeError(f"window_server exited during the run: {server.tail()}")
        time.sleep(1.0)  # let the disconnect hooks of the closed sockets run before the server stops
    errors = error_lines(server)
    phase.server_errors = (at_close[0], len(errors) - at_close[0])
    if errors:
        text = server.err.read_text(errors="replace")
        causes = Counter(m.group(0)[:120] for m in EXCEPTION.finditer(text))
        print(f"  (N={n}) window_server logged {len(errors)} errors, e.g. {errors[0][:160]!r}; "
              f"exceptions: {dict(causes.most_common(3))}")
    return phase


def error_lines(child: Child) -> list[str]:
    text = child.err.read_text(errors="replace") if child.err.exists() else ""
    return [ln for ln in text.splitlines() if " ERROR " in ln or " CRITICAL " in ln]


def run_raw(n: int, tmp: Path, seconds: float, deflate: bool) -> Phase:
    with running(echo_server(tmp, f"raw-{n}"), ECHO_BANNER) as server:
        time.sleep(0.5)
        ws_url = server.url.replace("http://", "ws://") + "/ws"

        async def one(session: aiohttp.ClientSession, i: int) -> Link:
            return await raw_connect(session, ws_url, NAMESPACE, deflate=deflate, limit_s=30.0)

        return asyncio.run(measure(n, one, server.pid, None, seconds, None))


# --- report -------------------------------------------------------------------------------------------


def describe(label: str, n: int, p: Phase) -> str:
    cpu = ", ".join(f"{k} {v:.0f}%" for k, v in p.cpu_pct.items())
    stall_text = ", ".join(f"{c} waits up to {ms:.0f} ms at {at:.1f} s" for at, c, ms in p.stalls) or "none"
    return "\n".join([
        f"  {label}: {p.connected}/{n} connected ({len(p.connect_errors)} errors) at {p.connect_rate:,.0f}/s; "
        f"{len(p.rtts_ms)} round trips ({len(p.rtts_ms) / max(1, n // 10):.0f} per chatty client), "
        f"p90 {pct(p.rtts_ms, 0.9):.2f} max {max(p.rtts_ms, default=float('nan')):.2f} ms, "
        f"{sum(1 for r in p.rtts_ms if r > 100)} over 100 ms; {p.not_ok} not ok, {len(p.failures)} failed, "
        f"{p.dropped} sockets dropped",
        f"    stalls (>= 1/4 of the chatty clients over 100 ms at once): {stall_text}; generator loop lag "
        f"p50 {pct(p.loop_lag_ms, 0.5):.2f} p99 {pct(p.loop_lag_ms, 0.99):.2f} "
        f"max {max(p.loop_lag_ms, default=float('nan')):.1f} ms",
        f"    CPU (% of a core) in the chatty phase: {cpu}; server RSS {p.rss_before_kb / 1024:.1f} -> "
        f"{p.rss_settled_kb / 1024:.1f} MB settled -> {p.rss_after_kb / 1024:.1f} MB after the chatty phase "
        f"({p.kb_per_conn_after(n):.1f} KB/conn); server ERROR lines: {p.server_errors[0]} during the run, "
        f"{p.server_errors[1]} while the clients disconnected",
    ])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="500,2000", help="comma-separated N values")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the chatty phase")
    parser.add_argument("--no-deflate", action="store_true", help="clients do not offer permessage-deflate")
    args = parser.parse_args()
    sizes = [int(x) for x in args.clients.split(",") if x.strip()]
    deflate = not args.no_deflate
    nofile = raise_nofile()
    if nofile < max(sizes) * 2 + 200:
        print(f"warning: RLIMIT_NOFILE is {nofile}; {max(sizes)} clients need about {max(sizes) * 2 + 200}")
    print(f"load average at start: {load_average()} ({os.cpu_count()} cores); RLIMIT_NOFILE {nofile}; "
          f"permessage-deflate {'offered' if deflate else 'off'}", flush=True)
    secret = secrets.token_hex(32)  # 256 random bits: RW_DEMO=false refuses a weaker RW_SECRET
    results: dict[int, tuple[Phase, Phase]] = {}
    with tempfile.TemporaryDirectory(prefix="rw-signaling-bench-") as tmpdir:
        tmp = Path(tmpdir)
        with EmbeddedRedis(tmp / "redis") as redis:
            gens = asyncio.run(register_booths(redis.url, max(sizes)))
            for n in sizes:
                sio = run_signaling(n, tmp, redis, secret, gens, args.seconds, deflate)
                raw = run_raw(n, tmp, args.seconds, deflate)
                results[n] = (sio, raw)
                print(f"N={n}: connect {sio.connect_rate:,.0f}/s, ack p50 {pct(sio.rtts_ms, 0.5):.2f} ms "
                      f"p99 {pct(sio.rtts_ms, 0.99):.2f} ms, raw ws p50 {pct(raw.rtts_ms, 0.5):.2f} ms "
                      f"p99 {pct(raw.rtts_ms, 0.99):.2f} ms, KB/conn {sio.kb_per_conn(n):.1f} "
                      f"(raw ws {raw.kb_per_conn(n):.1f})")
                print(describe("socket.io", n, sio))
                print(describe("raw ws   ", n, raw))
                print(f"  load average {load_average()}", flush=True)
    print(f"load average at end: {load_average()}")
    n = max(sizes)
    sio, raw = results[n]
    ack50, ack99, raw99 = pct(sio.rtts_ms, 0.5), pct(sio.rtts_ms, 0.99), pct(raw.rtts_ms, 0.99)
    ratio = ack99 / raw99 if raw99 > 0 else float("inf")
    kb = sio.kb_per_conn(n)
    healthy = all(not p.connect_errors and not p.failures and not p.dropped and not p.not_ok and p.rtts_ms
                  and not p.server_errors[0] for pair in results.values() for p in pair)
    print(f"targets at {n}: ack p99 <= {TARGET_RATIO:g}x raw ws p99: {'met' if ratio <= TARGET_RATIO else 'NOT met'}; "
          f"<= {TARGET_KB:g} KB/conn: {'met' if kb <= TARGET_KB else 'NOT met'}"
          f"{'' if healthy else '; WARNING: errors, drops or failed replies above'}")
    starved = [f"N={k} {label} {max(p.loop_lag_ms):.0f} ms" for k, pair in results.items()
               for label, p in zip(("socket.io", "raw ws"), pair, strict=True)
               if p.loop_lag_ms and max(p.loop_lag_ms) > STARVED_MS]
    if starved:
        print(f"warning: the generator itself was starved of CPU (loop lag max: {', '.join(starved)}); "
              f"other work on the machine distorts these figures: rerun when it is quiet")
    lost = sum(p.server_errors[1] for p, _ in results.values())
    if lost:
        print(f"note: window_server logged {lost} errors while the clients disconnected at the end "
              f"(disconnect hooks that failed; see the line above)")
    print(f"signaling: clients {n}, ack p50 {ack50:.2f} p99 {ack99:.2f}, raw ws p99 {raw99:.2f}, "
          f"ratio {ratio:.2f}, KB/conn {kb:.1f}")
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
