"""Fault suite: a real cluster under live sessions, broken one part at a time (run by hand).

Set-up: ``window_server.cluster.Cluster`` (nginx with TLS, 2 nodes, Redis primary + replicas and
3 Sentinels, coturn) under a temporary root; ``--clients`` simulated clients (half booths, half
specialists; default 500) each pair in a live session, all through nginx with TLS
(``_cluster_load``: real socket.io clients on the websocket transport, reconnecting by themselves
with fresh tokens, signaling only). Then, in turn:

1. ``kill -9`` of node1. Its clients are the ones whose socket dropped; each is *back* when the
   server pushes ``session_state act: resume`` for the very session it had. Measured: share
   back within 10 s, and the time until the last one is back. Then node1 is started again
   (the rolling-restart step of docs/operations.md).
2. Sentinel failover: every specialist adds a note about once a second (an acknowledged write;
   the nodes run with RW_REDIS_WAIT_REPLICAS=1); ``kill -9`` of the Redis primary; once
   Sentinel has promoted the replica, the old primary is started again (its service manager
   would) and rejoins as the replica. Afterwards every acknowledged note is looked for in its
   session (``session_detail``): lost = acknowledged and not there. Service back = from the
   kill until every write started later is acknowledged.
3. Redis restart: the same writers; the primary is stopped (SIGTERM, as ``systemctl restart``)
   and started again. Lost acknowledged writes are counted the same way.
4. coturn killed (``kill -9``) and started again: a TURN allocation (aioice's TURN client, with
   the nodes' ephemeral credentials) is tried before, while down and after; measured: time from
   the restart until an allocation succeeds. A relayed call itself is shown by
   tests/cluster/test_cluster_call.py (Chromium pair, relay-only ICE), not here.
5. nginx reload (SIGHUP): dropped = clients whose socket closed in the 10 s after it, and
   sessions no longer held.
6. The blob directory full: a 4 MiB tmpfs is mounted over the cluster's stills directory and
   booths upload stills until the disk is full; every refusal must be 507 ``storage_full``.
   Half-written = temp files left + material records naming a blob that is not on disk whole.

Last line: ``faults: node kill N% back in T s, failover lost L in T s, redis restart lost L,
nginx reload dropped D, disk full half-written H``.

Usage: .venv/bin/python bench/fault_suite.py [--clients 500] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _cluster_load import HELD, Fleet, SimClient, Write, gather_limited, live_sessions  # noqa: E402

from window_server.cluster import Cluster  # noqa: E402
from window_server.domain.auth import turn_credentials  # noqa: E402

KILL_TARGET_S = 10.0


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def member(cluster: Cluster, port: int) -> str:
    return next(n for n, s in cluster.status().items() if n.startswith("redis") and s.get("port") == port)


async def until(cond: Any, within: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await asyncio.to_thread(cond):
            return True
        await asyncio.sleep(step)
    return False


# --- 1. node kill ----------------------------------------------------------------------------------------


@dataclass
class KillResult:
    affected: int
    back: int
    back_in_target: int
    last_s: float
    p50_s: float


async def node_kill(cluster: Cluster, clients: list[SimClient]) -> KillResult:
    t0 = time.monotonic()
    await asyncio.to_thread(cluster.kill, "node1", signal.SIGKILL)
    log("node1 killed (SIGKILL)")
    await asyncio.sleep(3.0)  # disconnects of the killed node's sockets arrive at once; let them land
    affected = [c for c in clients if c.lost_at is not None and c.lost_at >= t0]
    deadline = t0 + 30.0
    while time.monotonic() < deadline and any(c.back_at is None for c in affected):  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    times = [c.back_at - t0 for c in affected if c.back_at is not None]
    res = KillResult(len(affected), len(times), sum(1 for t in times if t <= KILL_TARGET_S),
                     max(times) if times else float("nan"), pct(times, 0.5))
    log(f"node kill: {res.affected} clients were on node1, {res.back} back in their session "
        f"({res.back_in_target} within {KILL_TARGET_S:g} s), p50 {res.p50_s:.2f} s, last {res.last_s:.2f} s")
    not_back = [c for c in affected if c.back_at is None][:5]
    for c in not_back:
        log(f"  not back: {c.role.value} {c.subject} session={c.session} resumes={c.resumes[-3:]} "
            f"errors={dict(c.errors)}")
    t1 = time.monotonic()
    await asyncio.to_thread(cluster.start, "node1")
    log(f"node1 started again in {time.monotonic() - t1:.1f} s (rolling restart)")
    return res


# --- 2./3. writes across a Redis fault -------------------------------------------------------------------


@dataclass
class WriteResult:
    acked: int
    refused: int
    lost: int
    back_s: float
    codes: dict[str, int]


async def writes_across(agents: list[SimClient], fault: Any, *, settle_s: float, label: str,
                        tag: str) -> WriteResult:
    """Every agent writes a note about once a second; ``fault()`` runs; then all acked notes are checked."""
    writes: list[Write] = []
    stop = asyncio.Event()
    fault_at: list[float] = []

    async def writer(a: SimClient, rng: random.Random) -> None:
        n = 0
        await asyncio.sleep(rng.uniform(0, 1.0))
        while not stop.is_set():
            n += 1
            writes.append(await a.note(f"{tag}-{n}"))
            await asyncio.sleep(rng.uniform(0.5, 1.5))

    tasks = [asyncio.get_running_loop().create_task(writer(a, random.Random(i))) for i, a in enumerate(agents)]
    try:
        await asyncio.sleep(3.0)  # writes flow before the fault
        fault_at.append(time.monotonic())
        await fault()
        await asyncio.sleep(settle_s)  # and after it, until the service is surely back
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    t0 = fault_at[0]
    acked = [w for w in writes if w.ok]
    refused = [w for w in writes if not w.ok]
    # service back: from the fault until every write started later was acknowledged
    last_bad = max((w.t0 for w in refused if w.t0 >= t0), default=None)
    back_s = 0.0 if last_bad is None else min((w.t0 for w in acked if w.t0 > last_bad), default=float("nan")) - t0
    codes: dict[str, int] = {}
    for w in refused:
        codes[w.code] = codes.get(w.code, 0) + 1
    found: dict[str, set[str]] = {}
    details = await gather_limited([a.notes() for a in agents], limit=20)
    for a, d in zip(agents, details, strict=True):
        if isinstance(d, BaseException):
            raise RuntimeError(f"cannot read the notes of {a.session}: {d!r}")
        found[a.session] = set(d)
    lost = [w for w in acked if w.text not in found.get(w.sid, set())]
    res = WriteResult(len(acked), len(refused), len(lost), back_s, codes)
    log(f"{label}: {res.acked} writes acknowledged, {res.refused} refused ({codes}), "
        f"{res.lost} acknowledged writes lost, service back {res.back_s:.2f} s after the fault")
    return res


async def failover(cluster: Cluster) -> None:
    old = await asyncio.to_thread(cluster.primary)
    name = member(cluster, old[1])
    await asyncio.to_thread(cluster.kill, name, signal.SIGKILL)
    t0 = time.monotonic()
    log(f"redis primary {name} killed (SIGKILL)")
    if not await until(lambda: cluster.primary() != old, 60):
        raise RuntimeError("Sentinel did not promote the replica within 60 s")
    log(f"Sentinel promoted {cluster.primary()} after {time.monotonic() - t0:.2f} s; starting {name} again")
    await asyncio.to_thread(cluster.start, name)


async def redis_restart(cluster: Cluster) -> None:
    primary = await asyncio.to_thread(cluster.primary)
    name = member(cluster, primary[1])
    t0 = time.monotonic()
    await asyncio.to_thread(cluster.kill, name, signal.SIGTERM)
    await until(lambda: not cluster.status()[name]["alive"], 30)
    await asyncio.to_thread(cluster.start, name)
    log(f"redis primary {name} restarted (SIGTERM + start) in {time.monotonic() - t0:.2f} s; "
        f"primary now {cluster.primary()}")


# --- 4. coturn --------------------------------------------------------------------------------------------


def turn_address(cluster: Cluster) -> tuple[str, int]:
    for url in cluster.ice_servers.split(","):
        if url.startswith("turn:") and "transport=tcp" not in url:
            host_port = url[len("turn:"):].split("?")[0]
            host, port = host_port.rsplit(":", 1)
            return host, int(port)
    raise RuntimeError(f"no turn: URL in {cluster.ice_servers!r}")


async def allocate(cluster: Cluster, within: float = 3.0) -> bool:
    """One TURN allocation over UDP with the nodes' ephemeral credentials; True if relayed."""
    from aioice import turn

    user, password = turn_credentials(cluster.turn_secret, "fault-suite", int(time.time()), 600)
    try:
        async with asyncio.timeout(within):
            transport, _proto = await turn.create_turn_endpoint(
                asyncio.DatagramProtocol, server_addr=turn_address(cluster), username=user, password=password)
    except Exception:  # noqa: BLE001 - refused, timed out, or an error response: no allocation
        return False
    relayed = transport.get_extra_info("sockname")
    transport.close()
    return bool(relayed)


async def coturn_fault(cluster: Cluster) -> tuple[bool, bool, float]:
    before = await allocate(cluster)
    await asyncio.to_thread(cluster.kill, "coturn", signal.SIGKILL)
    during = await allocate(cluster, within=2.0)
    t0 = time.monotonic()
    await asyncio.to_thread(cluster.start, "coturn")
    back = float("nan")
    while time.monotonic() - t0 < 30:
        if await allocate(cluster):
            back = time.monotonic() - t0
            break
    log(f"coturn: allocation before {'ok' if before else 'FAILED'}, while killed "
        f"{'ok (?)' if during else 'refused'}, after the restart ok in {back:.2f} s")
    return before, during, back


# --- 5. nginx reload ----------------------------------------------------------------------------------------


async def nginx_reload(cluster: Cluster, booths: list[SimClient], agents: list[SimClient]) -> int:
    everyone = booths + agents
    before = {id(c): c.disconnects for c in everyone}
    await asyncio.to_thread(cluster.reload_nginx)
    log("nginx reloaded (SIGHUP)")
    ok = 0
    for _ in range(5):  # the sessions go on through the reload: acknowledged round trips
        replies = await gather_limited([b.call("resume", {}) for b in booths], limit=100)
        ok += sum(1 for r in replies if isinstance(r, dict) and "ok" in r)
        await asyncio.sleep(2.0)
    dropped = [c for c in everyone if c.disconnects > before[id(c)]]
    unheld = [b for b in booths if b.state not in HELD]
    log(f"nginx reload: {len(dropped)} sockets dropped, {len(unheld)} sessions no longer held, "
        f"{ok} of {5 * len(booths)} resume round trips acknowledged")
    return len(dropped) + len(unheld)


# --- 6. disk full -----------------------------------------------------------------------------------------


def still(seed: int) -> bytes:
    """A 1600x1200 JPEG of a page-like scene (noise so it does not compress to nothing)."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(seed)
    img = np.full((1200, 1600, 3), 60, np.uint8)
    img[150:1050, 300:1300] = 235
    img = np.clip(img.astype(np.int16) + rng.integers(-25, 25, img.shape), 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return bytes(buf)


async def disk_full(cluster: Cluster, fleet: Fleet, booths: list[SimClient]) -> tuple[int, int, int]:
    """Returns (stored, refused with 507 storage_full, half-written)."""
    root = Path(cluster.blob_dir) / "materials"
    root.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(subprocess.run, ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0755", "tmpfs", str(root)],
                            check=True)
    stored = refused = other = 0
    try:
        for i, b in enumerate(booths[:40]):
            headers = {"Authorization": f"Bearer {fleet.booth_tokens[b.subject]}", "X-Booth": b.subject,
                       "Content-Type": "image/jpeg"}
            async with fleet.http.post(f"{fleet.base}/api/sessions/{b.session}/materials",
                                       params={"kind": "other", "camera": "main"}, data=still(i),
                                       headers=headers) as resp:
                body = await resp.json()
            if resp.status == 201:
                stored += 1
            elif resp.status == 507 and body["error"]["code"] == "storage_full":
                refused += 1
                if refused >= 3:
                    break
            else:
                other += 1
                log(f"  upload answered {resp.status} {body}")
        tmp_left = [p for p in root.rglob(".tmp-*")]
        dangling = 0
        for b in booths[:40]:
            headers = {"Authorization": f"Bearer {fleet.booth_tokens[b.subject]}", "X-Booth": b.subject}
            async with fleet.http.get(f"{fleet.base}/api/sessions/{b.session}/materials", headers=headers) as resp:
                if resp.status != 200:
                    continue
                for m in (await resp.json())["materials"]:
                    for f in ("sha256", "corrected_sha256", "thumb_sha256"):
                        sha = m.get(f)
                        if sha and not _whole(root, sha):
                            dangling += 1
        half = len(tmp_left) + dangling
        log(f"disk full: {stored} stills stored, {refused} refused 507 storage_full, {other} other answers; "
            f"{len(tmp_left)} temp files left, {dangling} records naming a missing blob")
        if refused == 0:
            log("  the disk never filled: the figure below proves nothing")
        return stored, refused, half
    finally:
        await asyncio.to_thread(_umount, root)


def _umount(root: Path) -> None:
    if subprocess.run(["umount", str(root)], check=False).returncode != 0:
        subprocess.run(["umount", "-l", str(root)], check=False)


def _whole(root: Path, sha: str) -> bool:
    p = root / sha[:2] / sha[2:4] / sha
    return p.is_file() and hashlib.sha256(p.read_bytes()).hexdigest() == sha


# --- main ----------------------------------------------------------------------------------------------------


async def run(cluster: Cluster, secret: str, clients: int) -> str:
    fleet = await Fleet.open(cluster.https_url, cluster.redis_url, secret, Path(cluster.ca_file))
    try:
        t = time.monotonic()
        booths, agents = await live_sessions(fleet, cluster.redis_url, clients // 2, "fs")
        log(f"{len(booths) + len(agents)} clients in {len(booths)} live sessions in {time.monotonic() - t:.1f} s")

        kill = await node_kill(cluster, booths + agents)
        await asyncio.sleep(3.0)
        fo = await writes_across(agents, lambda: failover(cluster), settle_s=20.0, label="failover", tag="fo")
        rr = await writes_across(agents, lambda: redis_restart(cluster), settle_s=15.0, label="redis restart",
                                 tag="rr")
        _before, _during, turn_back = await coturn_fault(cluster)
        dropped = await nginx_reload(cluster, booths, agents)
        _stored, refused, half = await disk_full(cluster, fleet, booths)

        share = 100.0 * kill.back_in_target / kill.affected if kill.affected else float("nan")
        log(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; coturn back in {turn_back:.2f} s; "
            f"disk-full refusals {refused}")
        for c in booths + agents:
            await c.close()
        return (f"faults: node kill {share:.1f}% back in {kill.last_s:.1f} s, failover lost {fo.lost} in "
                f"{fo.back_s:.1f} s, redis restart lost {rr.lost}, nginx reload dropped {dropped}, "
                f"disk full half-written {half}")
    finally:
        await fleet.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=500)
    ap.add_argument("--root", type=Path, default=None)
    ap.add_argument("--sync-delay-0", action="store_true",
                    help="an experiment, not the shipped configuration: set repl-diskless-sync-delay 0 on both "
                         "Redis servers (CONFIG SET + REWRITE) before the faults")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("the disk-full step mounts a tmpfs: run as root")
    root = args.root or Path(tempfile.mkdtemp(prefix="rw-faults-"))
    cluster = Cluster(root, nodes=2, env={"RW_LOG_LEVEL": "WARNING"}, die_with_parent=True)
    secret = cluster.secret
    log(f"cluster under {root}")
    try:
        cluster.up()
        log(f"cluster up: {cluster.https_url}")
        if args.sync_delay_0:
            for port in cluster.ports.redis:
                for cmd in (["CONFIG", "SET", "repl-diskless-sync-delay", "0"], ["CONFIG", "REWRITE"]):
                    subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), *cmd], check=True,
                                   capture_output=True)
            log("EXPERIMENT: repl-diskless-sync-delay 0 on both Redis servers (not the shipped configuration)")
        line = asyncio.run(run(cluster, secret, args.clients))
    finally:
        with contextlib.suppress(Exception):
            cluster.down()
    print(line, flush=True)


if __name__ == "__main__":
    main()
