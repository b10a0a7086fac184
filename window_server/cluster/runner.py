"""The production topology on one machine: nginx, N nodes, Redis primary + replica, 3 Sentinels, coturn.

Every member is a real program from Debian's packages (or ``python -m window_server``) started
as a child in its own session (process group), its output in ``<root>/logs/<name>.log``. What was
started is recorded in ``<root>/cluster.json`` (pids and their start times), so ``down`` works
from another process (``./rw cluster down``) and never signals a process that merely reused a pid.
Configuration comes from the templates of :mod:`window_server.cluster.config`, rendered with
local values into ``<root>/conf``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from window_server.cluster import backup
from window_server.cluster.config import DENIED_PEERS, QUORUM, SERVICE, Ports, Rendered
from window_server.cluster.redis_store import (
    primary_acks,
    redis_ready,
    sentinel_primary,
    sentinel_quorum_ok,
)
from window_server.cluster.tls import TlsFiles, ensure_tls
from window_server.evidence.keys import write_new_key

log = logging.getLogger(__name__)

STATE = "cluster.json"
STOP_SECONDS = 15.0  # SIGTERM, then SIGKILL after this long


class ClusterError(RuntimeError):
    """A member did not start or answer in time; the message names it and its log."""


@dataclass(frozen=True)
class Member:
    """How to run one member: its command, where it logs, how to tell it is ready."""

    name: str
    kind: str  # nginx, node, redis, sentinel, coturn
    port: int
    argv: tuple[str, ...]
    env: Mapping[str, str] | None = None


def _binary(name: str) -> str:
    """A program from PATH, or from /usr/sbin (nginx) when PATH lacks it."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if not found:
        raise ClusterError(f"{name} is not installed: ./rw cluster installs it (apt-get install nginx coturn "
                           "redis-server redis-sentinel)")
    return found


def _start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (None if there is no such process)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[19])


def _state_of(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()[0]


def _group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group ``pgid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def _die_with_parent() -> None:
    """In the child: be sent SIGTERM when the process that started it dies (tests' fixtures)."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _http_ok(url: str, context: ssl.SSLContext | None = None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2.0, context=context) as resp:  # noqa: S310 - our own URL
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError, ssl.SSLError):
        return False


def stun_binding_ok(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a STUN Binding request to ``host:port`` over UDP gets a success response."""
    txid = secrets.token_bytes(12)
    request = struct.pack("!HHI", 0x0001, 0, 0x2112A442) + txid
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(1.0)
        try:
            s.sendto(request, (host, port))
            data, _ = s.recvfrom(2048)
        except OSError:
            return False
    return len(data) >= 20 and struct.unpack("!H", data[:2])[0] == 0x0101 and data[8:20] == txid


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; raise ClusterError naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise ClusterError(f"{what} not ready after {timeout:.0f} s")
        time.sleep(0.05)


class Cluster:
    """Start, watch and stop the whole topology under ``root`` (contract C1 of issue 20).

    Attributes: ``https_url``, ``ca_file``, ``redis_url`` (the Sentinel URL the nodes use),
    ``sentinels``, ``turn_secret``, ``secret`` (the nodes' RW_SECRET), ``ice_servers``,
    ``node_urls``, ``blob_dir`` (the nodes' shared RW_DATA_DIR), ``names``, ``ports``, ``root``.
    ``die_with_parent``: members started from the main thread get SIGTERM when this process dies
    (for test fixtures; ``./rw cluster up`` leaves them running for ``down``).
    """

    def __init__(self, root: Path, *, nodes: int = 2, ports: Ports | None = None,
                 env: dict[str, str] | None = None, allow_peer: str = "127.0.0.1",
                 die_with_parent: bool = False) -> None:
        if nodes < 1:
            raise ValueError("a cluster has at least one node")
        self.root = Path(root).resolve()
        self.nodes = nodes
        self.ports = ports or Ports.free(nodes)
        if len(self.ports.nodes) != nodes:
            raise ValueError(f"{nodes} nodes but {len(self.ports.nodes)} node ports")
        self.env = dict(env or {})
        self.allow_peer = allow_peer
        self.die_with_parent = die_with_parent
        self.turn_secret = secrets.token_hex(24)
        self.secret = secrets.token_hex(32)  # RW_SECRET of every node
        self._pids: dict[str, tuple[int, int]] = {}  # name -> (pid, start time)
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self.tls = TlsFiles.under(self.root / "tls")

    # --- the contract's attributes -------------------------------------------------------------

    @property
    def https_url(self) -> str:
        return f"https://127.0.0.1:{self.ports.https}"

    @property
    def ca_file(self) -> Path:
        return self.tls.ca

    @property
    def sentinels(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", p) for p in self.ports.sentinels]

    @property
    def redis_url(self) -> str:
        hosts = ",".join(f"{h}:{p}" for h, p in self.sentinels)
        return f"redis+sentinel://{hosts}/{SERVICE}/0"

    @property
    def ice_servers(self) -> str:
        return (f"turn:127.0.0.1:{self.ports.turn}?transport=udp,"
                f"turns:127.0.0.1:{self.ports.turns}?transport=tcp")

    @property
    def node_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{p}" for p in self.ports.nodes]

    @property
    def blob_dir(self) -> Path:
        return self.root / "data"

    @property
    def names(self) -> list[str]:
        """Every member, in start order."""
        return [*(f"redis{i + 1}" for i in range(len(self.ports.redis))), "sentinel1", "sentinel2", "sentinel3", "coturn",
                *(f"node{i + 1}" for i in range(self.nodes)), "nginx"]

    @property
    def evidence_key(self) -> Path:
        return self.root / "keys" / "seal-key.pem"

    # --- configuration ---------------------------------------------------------------------------

    def node_env_entries(self) -> list[tuple[str, str]]:
        """The settings every node gets beyond env.j2's own lines (later lines win)."""
        extra = [("RW_DEMO_DEVICE_AGENT", "false"), ("RW_LOG_LEVEL", "INFO")]
        return extra + sorted(self.env.items())

    def configs(self) -> dict[str, Rendered]:
        """Every configuration file of this cluster: file name under ``<root>/conf`` -> rendering."""
        r, p = self.root, self.ports
        user = "root" if os.geteuid() == 0 else ""
        nofile = _nofile_limit()
        out: dict[str, Rendered] = {
            "nginx.conf": Rendered("nginx.conf.j2", {
                "production": False, "nodes": [f"127.0.0.1:{n}" for n in p.nodes], "redirect_http": False,
                "listen": f"127.0.0.1:{p.https}", "server_name": "127.0.0.1 localhost",
                "cert": str(self.tls.cert), "key": str(self.tls.key)}),
            "nginx-main.conf": Rendered("nginx-main.conf.j2", {
                "user": user, "workers": "auto", "nofile": nofile, "connections": max(1024, nofile // 2 - 64), "pid": str(r / "nginx" / "nginx.pid"),
                "error_log": str(r / "logs" / "nginx-error.log"), "temp": str(r / "nginx" / "temp"),
                "site": str(r / "conf" / "nginx.conf")}),
            "turnserver.conf": Rendered("turnserver.conf.j2", {
                "production": False, "listening_ip": "127.0.0.1", "relay_ip": "127.0.0.1", "external_ip": "",
                "port": p.turn, "tls_port": p.turns, "alt_port": p.turn_alt, "alt_tls_port": p.turns_alt,
                "min_port": p.relay[0], "max_port": p.relay[1], "secret": self.turn_secret,
                "realm": "localhost", "cert": str(self.tls.cert), "key": str(self.tls.key),
                "denied_peers": DENIED_PEERS, "allowed_peers": [self.allow_peer] if self.allow_peer else [],
                "pidfile": str(r / "coturn" / "turnserver.pid"), "logfile": str(r / "logs" / "coturn.log")}),
        }
        for i, port in enumerate(p.redis, start=1):
            out[f"redis{i}.conf"] = Rendered("redis.conf.j2", {
                "production": False, "role": "primary" if i == 1 else "replica", "bind": "127.0.0.1",
                "port": port, "pidfile": "", "logfile": str(r / "logs" / f"redis{i}.log"),
                "dir": str(r / f"redis{i}"), "password": "",
                "replicaof": "" if i == 1 else f"127.0.0.1 {p.redis[0]}"})
        for i, port in enumerate(p.sentinels, start=1):
            out[f"sentinel{i}.conf"] = Rendered("sentinel.conf.j2", {
                "production": False, "bind": "127.0.0.1", "port": port, "pidfile": "",
                "logfile": str(r / "logs" / f"sentinel{i}.log"), "dir": str(r / f"sentinel{i}"),
                "service": SERVICE, "primary_host": "127.0.0.1", "primary_port": p.redis[0],
                "quorum": QUORUM, "down_after_ms": 1000, "failover_timeout_ms": 4000, "password": ""})
        origins = f"{self.https_url},https://localhost:{p.https}"
        out["node.env"] = Rendered("env.j2", {
            "production": False, "demo": "true", "redis_url": self.redis_url, "wait_replicas": 1,
            "data_dir": str(self.blob_dir), "secret": self.secret, "evidence_key": str(self.evidence_key),
            "evidence_key_example": str(self.evidence_key), "host": "127.0.0.1",
            "allowed_origins": origins, "ice_servers": self.ice_servers, "turn_secret": self.turn_secret,
            "extra": self.node_env_entries()})
        return out

    def node_environment(self) -> dict[str, str]:
        """The settings of every node: the rendered env file (``<root>/conf/node.env``), parsed."""
        values: dict[str, str] = {}
        for line in self.configs()["node.env"].text.splitlines():
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                name, _, value = line.partition("=")
                values[name.strip()] = value.strip()
        return values

    def _members(self) -> dict[str, Member]:
        r, p = self.root, self.ports
        members = {
            f"redis{i}": Member(f"redis{i}", "redis", port, (_binary("redis-server"), str(r / f"redis{i}" / "redis.conf")))
            for i, port in enumerate(p.redis, start=1)
        }
        for i, port in enumerate(p.sentinels, start=1):
            members[f"sentinel{i}"] = Member(f"sentinel{i}", "sentinel", port,
                                             (_binary("redis-sentinel"), str(r / f"sentinel{i}" / "sentinel.conf")))
        members["coturn"] = Member("coturn", "coturn", p.turn, (_binary("turnserver"), "-c", str(r / "conf" / "turnserver.conf"), "--no-stdout-log"))
        base = {k: v for k, v in os.environ.items() if not k.startswith("RW_") and k != "REDIS_URL"}
        node_env = self.node_environment()
        for i, port in enumerate(p.nodes, start=1):
            env = {**base, **node_env, "RW_PORT": str(port), "PYTHONUNBUFFERED": "1"}
            members[f"node{i}"] = Member(f"node{i}", "node", port, (sys.executable, "-m", "window_server"), env)
        members["nginx"] = Member("nginx", "nginx", p.https, (
            _binary("nginx"), "-p", str(r / "nginx"), "-c", str(r / "conf" / "nginx-main.conf"),
            "-e", str(r / "logs" / "nginx-error.log")))
        return members

    def write_configs(self) -> None:
        """Render every file into ``<root>/conf``; copy Redis's and Sentinel's to their own directory
        the first time (they rewrite their file: replicas found, the primary after a failover)."""
        conf = self.root / "conf"
        redises = [f"redis{i + 1}" for i in range(len(self.ports.redis))]
        for d in ("conf", "logs", "data", "coturn", "nginx/temp", *redises,
                  "sentinel1", "sentinel2", "sentinel3", "keys"):
            (self.root / d).mkdir(parents=True, exist_ok=True, mode=0o700)
        for name, rendered in self.configs().items():
            path = conf / name
            path.write_text(rendered.text)
            os.chmod(path, 0o600)  # secrets: the TURN secret, RW_SECRET
        for name in (*redises, "sentinel1", "sentinel2", "sentinel3"):
            live = self.root / name / ("sentinel.conf" if name.startswith("sentinel") else "redis.conf")
            if not live.exists():
                shutil.copyfile(conf / f"{name}.conf", live)
                os.chmod(live, 0o600)
        if not self.evidence_key.exists():
            write_new_key(self.evidence_key)

    # --- state ---------------------------------------------------------------------------------------

    def _save(self) -> None:
        state = {
            "root": str(self.root), "nodes": self.nodes, "ports": self.ports.to_json(), "env": self.env,
            "allow_peer": self.allow_peer, "turn_secret": self.turn_secret, "secret": self.secret,
            "members": {n: {"pid": pid, "start": st} for n, (pid, st) in self._pids.items()},
        }
        tmp = self.root / (STATE + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(state, f, indent=1)
        os.replace(tmp, self.root / STATE)

    @classmethod
    def load(cls, root: Path) -> Cluster:
        """The cluster recorded in ``<root>/cluster.json`` (to see or stop it from another process)."""
        root = Path(root).resolve()
        try:
            state = json.loads((root / STATE).read_text())
        except FileNotFoundError:
            raise ClusterError(f"no cluster under {root} ({STATE} is missing)") from None
        c = cls(root, nodes=state["nodes"], ports=Ports.from_json(state["ports"]), env=state["env"],
                allow_peer=state["allow_peer"])
        c.turn_secret, c.secret = state["turn_secret"], state["secret"]
        c._pids = {n: (m["pid"], m["start"]) for n, m in state["members"].items()}
        return c

    # --- processes -------------------------------------------------------------------------------

    def _pid(self, name: str) -> int | None:
        """The member's pid if that process is still the one started (and not a zombie)."""
        proc = self._procs.get(name)
        if proc is not None:
            proc.poll()  # reap it if it died
        entry = self._pids.get(name)
        if entry is None:
            return None
        pid, started = entry
        if _start_time(pid) != started or _state_of(pid) in (None, "Z", "X"):
            return None
        return pid

    def _launch(self, member: Member) -> None:
        logfile = self.root / "logs" / f"{member.name}.log"
        with logfile.open("ab") as out:
            proc = subprocess.Popen(
                member.argv, cwd=self.root, env=dict(member.env) if member.env is not None else None,
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                # PDEATHSIG fires when the forking *thread* ends: only from the main thread
                preexec_fn=_die_with_parent if self.die_with_parent and _main_thread() else None,  # noqa: PLW1509
            )
        started = _start_time(proc.pid)
        self._procs[member.name] = proc
        self._pids[member.name] = (proc.pid, started if started is not None else -1)
        self._save()
        log.info("cluster: %s started (pid %d)", member.name, proc.pid)

    def _ready(self, member: Member) -> Callable[[], bool]:
        def alive_and(check: Callable[[], bool]) -> Callable[[], bool]:
            def probe() -> bool:
                if self._pid(member.name) is None:
                    raise ClusterError(f"{member.name} exited: see {self.root / 'logs' / (member.name + '.log')}")
                return check()
            return probe

        if member.kind == "redis":
            return alive_and(lambda: redis_ready(member.port))
        if member.kind == "sentinel":
            return alive_and(lambda: sentinel_primary(member.port, SERVICE) is not None)
        if member.kind == "coturn":
            return alive_and(lambda: stun_binding_ok(self.ports.turn) and _tcp_ok(self.ports.turns))
        if member.kind == "node":
            return alive_and(lambda: _http_ok(f"http://127.0.0.1:{member.port}/readyz"))
        context = ssl.create_default_context(cafile=str(self.ca_file))
        return alive_and(lambda: _http_ok(f"{self.https_url}/readyz", context))

    def _start_members(self, names: list[str], timeout: float) -> None:
        members = self._members()
        todo = [members[n] for n in names if self._pid(n) is None]
        for m in todo:
            self._launch(m)
        for m in todo:
            wait_for(self._ready(m), timeout, f"{m.name} (log {self.root / 'logs' / (m.name + '.log')})")

    def up(self, timeout: float = 90.0, *, restore_from: Path | None = None) -> None:
        """Start every member not running yet; return when ``https_url``/readyz answers through nginx.

        ``restore_from``: a directory made by :meth:`backup`, restored into this cluster before its
        first start (refused if this cluster's Redis already holds data).
        """
        deadline = time.monotonic() + timeout
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        if (self.root / STATE).exists() and not self._pids:  # a cluster was left here: adopt its members
            with contextlib.suppress(ClusterError, KeyError, ValueError):
                self._pids = Cluster.load(self.root)._pids

        def left() -> float:
            return max(1.0, deadline - time.monotonic())

        if restore_from is not None:  # refused (BackupError) before anything starts or stops
            backup.seed(restore_from, self.root / "redis1", self.blob_dir)

        try:
            ensure_tls(self.root / "tls")
            self.write_configs()
            self._save()
            self._start_members(["redis1"], left())
            replicas = self.ports.redis[1:]
            self._start_members([f"redis{i + 2}" for i in range(len(replicas))], left())
            wait_for(lambda: all(redis_ready(port, replica=True) for port in replicas), left(),
                     "the replicas in sync with redis1")
            # the primary hears their acknowledgements (WAIT 1 answers): nodes' first writes are durable
            wait_for(lambda: primary_acks(self.ports.redis[0], len(replicas)) >= len(replicas), left(),
                     "redis1 hearing its replicas' acknowledgements")
            self._start_members(["sentinel1", "sentinel2", "sentinel3"], left())
            wait_for(lambda: all(sentinel_quorum_ok(p, SERVICE, len(replicas), 3) for p in self.ports.sentinels),
                     left(), "the Sentinels (each seeing the replica and the two others)")
            self._start_members(["coturn"], left())
            self._start_members(["node1"], left())  # the first loads the demo chain alone
            self._start_members([f"node{i + 1}" for i in range(1, self.nodes)], left())
            self._start_members(["nginx"], left())
        except BaseException:
            self.down()
            raise

    def down(self) -> None:
        """Stop every member this cluster (or the one recorded in its state file) started."""
        if (self.root / STATE).exists():
            with contextlib.suppress(ClusterError, KeyError, ValueError, OSError):
                for name, entry in Cluster.load(self.root)._pids.items():
                    self._pids.setdefault(name, entry)
        names = [n for n in reversed(self.names) if n in self._pids]
        for name in names:
            self._signal(name, signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        for name in names:
            self._wait_gone(name, max(0.1, deadline - time.monotonic()))
        for name in names:
            if self._gone(name):
                continue
            self._signal(name, signal.SIGKILL)
            self._wait_gone(name, 5.0)
        for name in names:
            del self._pids[name]
            self._procs.pop(name, None)
        if self.root.exists():
            self._save()

    def _signal(self, name: str, sig: int) -> None:
        """Send ``sig`` to the member's process group (nginx's workers, a node's document workers)."""
        entry = self._pids.get(name)
        if entry is None:
            return
        pid, started = entry
        now = _start_time(pid)
        if now is not None and now != started:
            return  # the pid is another process now: ours is long gone
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)

    def _gone(self, name: str) -> bool:
        proc = self._procs.get(name)
        if proc is not None:
            proc.poll()
        entry = self._pids.get(name)
        if entry is None:
            return True
        pid, started = entry
        now = _start_time(pid)
        if now is not None and now != started:
            return True
        return not _group_members(pid)

    def _wait_gone(self, name: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self._gone(name):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def status(self) -> dict[str, dict[str, Any]]:
        """Member name -> pid, alive, port, kind, log (and url for nodes and nginx)."""
        members = self._members()
        out: dict[str, dict[str, Any]] = {}
        for name in self.names:
            m = members[name]
            pid = self._pid(name)
            row: dict[str, Any] = {"pid": pid, "alive": pid is not None, "port": m.port, "kind": m.kind,
                                   "log": str(self.root / "logs" / f"{name}.log")}
            if m.kind == "node":
                row["url"] = f"http://127.0.0.1:{m.port}"
            elif m.kind == "nginx":
                row["url"] = self.https_url
            out[name] = row
        return out

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to one member (its process group); for SIGKILL/SIGTERM/SIGINT, wait until it is gone."""
        if name not in self.names:
            raise KeyError(f"no member {name!r}: {', '.join(self.names)}")
        self._signal(name, sig)
        if sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGQUIT) and not self._wait_gone(name, 30.0):
            raise ClusterError(f"{name} still running 30 s after signal {sig}")

    def start(self, name: str, timeout: float = 60.0) -> None:
        """Start one member (with the same configuration and port) unless it runs; wait until it answers."""
        if name not in self.names:
            raise KeyError(f"no member {name!r}: {', '.join(self.names)}")
        self._start_members([name], timeout)

    def backup(self, out: Path) -> dict[str, Any]:
        """A Redis snapshot (from the replica) and a copy of the shared data directory, in ``out``."""
        primary = self.primary()
        replicas = [p for p in self.ports.redis if p != primary[1]]
        port = replicas[0] if replicas and redis_ready(replicas[0], replica=True) else primary[1]
        return backup.backup("127.0.0.1", port, self.blob_dir, out)

    def reload_nginx(self) -> None:
        """``nginx -s reload``: SIGHUP to nginx's master (new workers take the configuration, old ones finish)."""
        pid = self._pid("nginx")
        if pid is None:
            raise ClusterError("nginx is not running")
        os.kill(pid, signal.SIGHUP)

    def primary(self) -> tuple[str, int]:
        """The current Redis primary, as the first Sentinel that answers names it."""
        for _host, port in self.sentinels:
            if (addr := sentinel_primary(port, SERVICE)) is not None:
                return addr
        raise ClusterError("no Sentinel answers")


def _nofile_limit() -> int:
    """Open files an nginx worker may have: the hard limit here (a client costs two), at most 65,536."""
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return 65536 if hard == resource.RLIM_INFINITY else min(65536, hard)


def _tcp_ok(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False
