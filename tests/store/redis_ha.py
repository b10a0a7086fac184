"""A real Redis primary, its replica and three Sentinels on free ports of 127.0.0.1, for tests.

Every process is a child of the test (killed with it: PR_SET_PDEATHSIG) and is stopped by
``stop()``, which the fixtures call even when a test fails. Config files live in a temporary
directory: Sentinel rewrites its own as it learns the topology, so it must be writable.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis as redis_sync

from window_server.runtime.redis_server import die_with_parent, free_port

SERVICE = "mymaster"


@dataclass
class Member:
    name: str
    port: int
    conf: Path
    sentinel: bool = False
    proc: subprocess.Popen[bytes] | None = None

    def client(self, timeout: float = 2.0) -> redis_sync.Redis:
        return redis_sync.Redis(host="127.0.0.1", port=self.port, socket_timeout=timeout,
                                socket_connect_timeout=timeout, decode_responses=True)


@dataclass
class RedisHA:
    """Primary ``redis1``, replica ``redis2`` and ``sentinel1..3`` (quorum 2) under ``root``."""

    root: Path
    members: dict[str, Member] = field(default_factory=dict)

    @property
    def sentinels(self) -> list[Member]:
        return [m for m in self.members.values() if m.sentinel]

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{m.port}" for m in self.sentinels)
        return f"redis+sentinel://{hosts}/{SERVICE}/0"

    def start(self) -> None:
        p1, p2 = free_port(), free_port()
        common = ("bind 127.0.0.1\nsave \"\"\nappendonly no\nrepl-diskless-sync yes\n"
                  "repl-diskless-sync-delay 0\nrepl-ping-replica-period 1\n")
        self._server("redis1", p1, common)
        self._server("redis2", p2, common + f"replicaof 127.0.0.1 {p1}\n")
        for i in (1, 2, 3):
            port = free_port()
            text = (f"port {port}\nbind 127.0.0.1\ndir {self.root}\n"
                    f"sentinel monitor {SERVICE} 127.0.0.1 {p1} 2\n"
                    f"sentinel down-after-milliseconds {SERVICE} 1000\n"
                    f"sentinel failover-timeout {SERVICE} 2000\n"
                    f"sentinel parallel-syncs {SERVICE} 1\n")
            conf = self.root / f"sentinel{i}.conf"
            conf.write_text(text)
            self.members[f"sentinel{i}"] = Member(f"sentinel{i}", port, conf, sentinel=True)
        for m in self.members.values():
            self.launch(m.name)
        deadline = time.monotonic() + 20
        for s in self.sentinels:
            # Sentinel's own clocks, shortened for tests (production keeps the defaults: it
            # demotes a former primary that is still up ~8 s after the failover, 4 publish periods)
            while not self._tune(s):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{s.name} did not answer in 20 s")
                time.sleep(0.05)
        while not self.ready():
            if time.monotonic() > deadline:
                raise RuntimeError("the Redis primary, replica and Sentinels did not come up in 20 s")
            time.sleep(0.05)

    @staticmethod
    def _tune(s: Member) -> bool:
        try:
            with s.client() as c:
                c.execute_command("SENTINEL", "DEBUG", "publish-period", 500, "info-period", 1000)
        except (redis_sync.RedisError, OSError):
            return False
        return True

    def _server(self, name: str, port: int, extra: str) -> None:
        data = self.root / name
        data.mkdir()
        conf = self.root / f"{name}.conf"
        conf.write_text(f"port {port}\ndir {data}\n{extra}")
        self.members[name] = Member(name, port, conf)

    def launch(self, name: str) -> None:
        """Start (or start again) one member with its config file."""
        m = self.members[name]
        argv = ["redis-server", str(m.conf)] + (["--sentinel"] if m.sentinel else [])
        log = (self.root / f"{name}.log").open("ab")
        m.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
        log.close()

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to one member; wait for it to end unless the signal is SIGSTOP/SIGCONT."""
        m = self.members[name]
        if m.proc is not None and m.proc.poll() is None:
            m.proc.send_signal(sig)
            if sig not in (signal.SIGSTOP, signal.SIGCONT):
                m.proc.wait(10)

    def ready(self) -> bool:
        """The replica is in sync and every Sentinel knows the primary, the replica and the others."""
        try:
            with self.members["redis1"].client() as r:  # the primary streams to its replica
                if r.info("replication").get("slave0", {}).get("state") != "online":
                    return False
                if r.wait(1, 100) < 1:  # and hears its acknowledgements
                    return False
            for s in self.sentinels:
                with s.client() as c:
                    info = c.sentinel_master(SERVICE)  # parsed by redis-py
                    if int(info["num-slaves"]) < 1 or int(info["num-other-sentinels"]) < 2:
                        return False
                    replicas = c.sentinel_slaves(SERVICE)
                    if not all(r.get("is_slave") and not r.get("is_disconnected") and not r.get("is_sdown")
                               and r.get("master-link-status") == "ok" for r in replicas):
                        return False
        except (redis_sync.RedisError, OSError):
            return False
        return True

    def primary(self) -> tuple[str, int]:
        """The primary's address as the first Sentinel that answers names it."""
        for s in self.sentinels:
            with contextlib.suppress(redis_sync.RedisError, OSError), s.client() as c:
                host, port = c.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)
                return str(host), int(port)
        raise RuntimeError("no Sentinel answers")

    def by_port(self, port: int) -> Member:
        return next(m for m in self.members.values() if m.port == port)

    def stop(self) -> None:
        """Stop every member (SIGTERM, then SIGKILL after 5 s); idempotent."""
        for m in self.members.values():
            if m.proc is not None and m.proc.poll() is None:
                m.proc.send_signal(signal.SIGCONT)  # a stopped one would not hear the SIGTERM
                m.proc.terminate()
        for m in self.members.values():
            if m.proc is None:
                continue
            try:
                m.proc.wait(5)
            except subprocess.TimeoutExpired:
                m.proc.kill()
                m.proc.wait(5)
