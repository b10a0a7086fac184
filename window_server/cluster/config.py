"""The cluster's configuration files: one set of jinja2 templates, two sets of values.

``templates/*.j2`` are the one source. Rendered with :func:`production_files` they are the files
shipped in ``deploy/`` (``python -m window_server cluster render deploy/``; a test checks they are
equal byte for byte); rendered with :func:`local_files` they are what ``Cluster.up`` runs on one
machine. The values differ (addresses, ports, paths, secrets), the settings do not.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

TEMPLATES = Path(__file__).parent / "templates"
SERVICE = "mymaster"  # the name Sentinel monitors the primary under (REDIS_URL's path)
QUORUM = 2

#: Private, loopback and link-local ranges coturn never relays toward (no relay into our network).
DENIED_PEERS = (
    "0.0.0.0-0.255.255.255",
    "10.0.0.0-10.255.255.255",
    "100.64.0.0-100.127.255.255",
    "127.0.0.0-127.255.255.255",
    "169.254.0.0-169.254.255.255",
    "172.16.0.0-172.31.255.255",
    "192.0.0.0-192.0.0.255",
    "192.0.2.0-192.0.2.255",
    "192.88.99.0-192.88.99.255",
    "192.168.0.0-192.168.255.255",
    "198.18.0.0-198.19.255.255",
    "198.51.100.0-198.51.100.255",
    "203.0.113.0-203.0.113.255",
    "240.0.0.0-255.255.255.255",
    "::1",
    "64:ff9b::-64:ff9b::ffff:ffff",
    "::ffff:0.0.0.0-::ffff:255.255.255.255",
    "100::-100::ffff:ffff:ffff:ffff",
    "2001::-2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff",
    "2002::-2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
)

#: Shipped file name -> template it is rendered from.
DEPLOY_FILES = {
    "nginx.conf": "nginx.conf.j2",
    "turnserver.conf": "turnserver.conf.j2",
    "redis.conf": "redis.conf.j2",
    "redis-replica.conf": "redis.conf.j2",
    "sentinel.conf": "sentinel.conf.j2",
    "env.example": "env.j2",
    "remote-window@.service": "remote-window@.service.j2",
}


@dataclass(frozen=True)
class Ports:
    """Every port the cluster listens on (all on 127.0.0.1)."""

    https: int
    nodes: tuple[int, ...]
    redis: tuple[int, ...]  # the first primary, then its two replicas (REDISES in all)
    sentinels: tuple[int, int, int]
    turn: int
    turns: int
    turn_alt: int  # coturn also opens its "alternative" ports (RFC 5780); named so they never clash
    turns_alt: int
    relay: tuple[int, int]  # coturn's relay range (UDP), inclusive

    @classmethod
    def default(cls, nodes: int = 2) -> Ports:
        """The fixed ports of ``./rw cluster up``: https 8443, nodes 8081.., redis 6390-6392, …"""
        return cls(https=8443, nodes=tuple(8081 + i for i in range(nodes)), redis=(6390, 6391, 6392),
                   sentinels=(26390, 26391, 26392), turn=3478, turns=5349, turn_alt=3479,
                   turns_alt=5350, relay=(49160, 49199))

    @classmethod
    def free(cls, nodes: int = 2, relay_size: int = 40) -> Ports:
        """Ports free a moment ago (TCP and UDP), all different; for tests."""
        with ExitStack() as held:  # hold every socket until all are picked: no port twice
            picked = [_hold_free_port(held) for _ in range(nodes + 11)]
            relay = _free_udp_range(relay_size, set(picked))
        it = iter(picked)
        return cls(https=next(it), nodes=tuple(next(it) for _ in range(nodes)),
                   redis=(next(it), next(it), next(it)), sentinels=(next(it), next(it), next(it)),
                   turn=next(it), turns=next(it), turn_alt=next(it), turns_alt=next(it), relay=relay)

    def to_json(self) -> dict[str, Any]:
        return {"https": self.https, "nodes": list(self.nodes), "redis": list(self.redis),
                "sentinels": list(self.sentinels), "turn": self.turn, "turns": self.turns,
                "turn_alt": self.turn_alt, "turns_alt": self.turns_alt, "relay": list(self.relay)}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Ports:
        r, s, rel = d["redis"], d["sentinels"], d["relay"]
        return cls(https=d["https"], nodes=tuple(d["nodes"]), redis=tuple(r), sentinels=(s[0], s[1], s[2]),
                   turn=d["turn"], turns=d["turns"], turn_alt=d["turn_alt"], turns_alt=d["turns_alt"],
                   relay=(rel[0], rel[1]))


def _hold_free_port(stack: ExitStack) -> int:
    """A port free for TCP and UDP on 127.0.0.1 (coturn listens on both), held open in ``stack``."""
    while True:
        tcp = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        tcp.bind(("127.0.0.1", 0))
        port = int(tcp.getsockname()[1])
        udp = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        try:
            udp.bind(("127.0.0.1", port))
        except OSError:
            continue
        return port


def _free_udp_range(size: int, avoid: set[int]) -> tuple[int, int]:
    """``size`` consecutive UDP ports, none bound now, below the kernel's ephemeral range."""
    low, _high = _ephemeral_range()
    bases = list(range(20000, low - size, size))
    first = (os.getpid() * 97) % len(bases)  # spread concurrent test runs over the range
    for base in bases[first:] + bases[:first]:
        ports = range(base, base + size)
        if avoid.intersection(ports):
            continue
        with ExitStack() as held:
            try:
                for p in ports:
                    s = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
                    s.bind(("127.0.0.1", p))
            except OSError:
                continue
        return base, base + size - 1
    raise RuntimeError("no free UDP port range for the TURN relay")


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


# --- rendering ----------------------------------------------------------------------------------


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True, autoescape=False,
    )


def render(template: str, values: Mapping[str, Any]) -> str:
    """Render one template with ``values`` (every variable it uses must be given)."""
    header = (f"# Generated from window_server/cluster/templates/{template} "
              "(python -m window_server cluster render): edit the template, not this file.")
    return _environment().get_template(template).render(generated=header, **values)


@dataclass(frozen=True)
class Rendered:
    """One configuration file: its template, the values it was rendered with, the text."""

    template: str
    values: Mapping[str, Any]
    text: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", render(self.template, self.values))


# --- production values: the files shipped in deploy/ -----------------------------------------------

PROD_REDIS = ("10.0.1.11", "10.0.1.12")  # primary, replica (example addresses: change them)
PROD_SENTINELS = ("10.0.1.11", "10.0.1.12", "10.0.1.13")  # three hosts; the third is the proxy's
PROD_REDIS_PASSWORD = "CHANGE-ME-redis-password"
PROD_TURN_SECRET = "CHANGE-ME-turn-secret"
PROD_HOST = "window.example.gov.cn"
PROD_TURN_HOST = "turn.example.gov.cn"


def production_files() -> dict[str, Rendered]:
    """Every file of ``deploy/``: the templates with production values (example addresses)."""
    sentinel_url = (f"redis+sentinel://:{PROD_REDIS_PASSWORD}@"
                    + ",".join(f"{h}:26379" for h in PROD_SENTINELS) + f"/{SERVICE}/0")
    redis = {"production": True, "port": 6379, "pidfile": "/run/redis/redis-server.pid",
             "logfile": "/var/log/redis/redis-server.log", "dir": "/var/lib/redis",
             "password": PROD_REDIS_PASSWORD}
    return {
        "nginx.conf": Rendered("nginx.conf.j2", {
            "production": True, "nodes": ["127.0.0.1:8081", "127.0.0.1:8082"], "redirect_http": True,
            "listen": "443", "server_name": PROD_HOST,
            "cert": "/etc/ssl/remote-window/fullchain.pem", "key": "/etc/ssl/remote-window/privkey.pem"}),
        "turnserver.conf": Rendered("turnserver.conf.j2", {
            "production": True, "listening_ip": "", "relay_ip": "", "external_ip": "",
            "port": 3478, "tls_port": 5349, "alt_port": 0, "alt_tls_port": 0,
            "min_port": 49152, "max_port": 65535, "secret": PROD_TURN_SECRET, "realm": PROD_HOST,
            "cert": "/etc/ssl/remote-window/fullchain.pem", "key": "/etc/ssl/remote-window/privkey.pem",
            "denied_peers": DENIED_PEERS, "allowed_peers": [], "pidfile": "",
            "logfile": ""}),  # syslog (the journal)
        "redis.conf": Rendered("redis.conf.j2", {
            **redis, "role": "primary", "bind": f"127.0.0.1 {PROD_REDIS[0]}", "replicaof": ""}),
        "redis-replica.conf": Rendered("redis.conf.j2", {
            **redis, "role": "replica", "bind": f"127.0.0.1 {PROD_REDIS[1]}",
            "replicaof": f"{PROD_REDIS[0]} 6379"}),
        "sentinel.conf": Rendered("sentinel.conf.j2", {
            "production": True, "bind": "0.0.0.0", "port": 26379, "pidfile": "/run/sentinel/redis-sentinel.pid",
            "logfile": "/var/log/redis/redis-sentinel.log", "dir": "/var/lib/redis", "service": SERVICE,
            "primary_host": PROD_REDIS[0], "primary_port": 6379, "quorum": QUORUM,
            "down_after_ms": 5000, "failover_timeout_ms": 60000, "password": PROD_REDIS_PASSWORD}),
        "env.example": Rendered("env.j2", {
            "production": True, "demo": "false", "redis_url": sentinel_url, "wait_replicas": 1,
            "data_dir": "/var/lib/remote-window", "secret": "",
            "evidence_key": "/etc/remote-window/seal-key.pem",
            "evidence_key_example": "/etc/remote-window/seal-key.pem",
            "host": "127.0.0.1", "allowed_origins": f"https://{PROD_HOST}",
            "ice_servers": f"turn:{PROD_TURN_HOST}:3478?transport=udp,turns:{PROD_TURN_HOST}:5349?transport=tcp",
            "turn_secret": PROD_TURN_SECRET, "extra": []}),
        "remote-window@.service": Rendered("remote-window@.service.j2", {
            "prefix": "/opt/remote-window", "data_dir": "/var/lib/remote-window"}),
    }


def render_deploy(directory: Path) -> list[Path]:
    """Write the production files into ``directory``; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, rendered in production_files().items():
        path = directory / name
        path.write_text(rendered.text)
        written.append(path)
    return written


def iter_templates() -> Iterator[str]:
    """The names of every template."""
    return (p.name for p in sorted(TEMPLATES.glob("*.j2")))
