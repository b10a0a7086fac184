"""A relay-only media path for a bench or a test: a private coturn behind an impaired UDP "NAT".

Why: halls and centres behind NAT often reach each other only through TURN, and the link in
front of a booth is the weak part. ``async with turn_path(profile, seed=…) as tp`` starts

- **coturn** (Debian's ``turnserver``), configured from the cluster's own template
  (``window_server/cluster/templates/turnserver.conf.j2``, the production settings: use-auth-secret,
  no open relay, every private range denied) on free ports of 127.0.0.1. What relaying on one
  machine needs was found by the cluster's tests: coturn relays toward 127.0.0.1 only with
  ``allow-loopback-peers`` *and* 127.0.0.1 in ``allowed-peer-ip``; without either,
  CreatePermission answers 403 and ICE never connects;
- **the front** (:class:`ImpairedFront`), a UDP NAT on one port of 127.0.0.1: each client
  address gets its own upstream socket to coturn (as a NAT gives each inside flow its own outside
  port), and every datagram in both directions crosses :class:`bench.netem.Impairment`.

Clients are handed ``turn:127.0.0.1:<front port>?transport=udp`` only (``tp.ice_servers_for``,
credentials from ``window_server.domain.auth.ice_servers``, the function the app uses), so with
``iceTransportPolicy: 'relay'`` ICE, DTLS, RTP and RTCP of every call cross the front.

**Which link is impaired, and how often.** Each client is put on a *link* named by the user part of
the TURN username it authenticates with (``"<expiry>:<name>"``: the front reads the STUN USERNAME
attribute, which is plaintext, of the client's first authenticated request). A link is what a
site's uplink is: every client of that name shares it, with one :class:`Impairment` per direction
(``up`` client→coturn seeded with ``seed + 2k``, ``down`` coturn→client with ``seed + 2k + 1``, k the
link's index in order of appearance), so a bandwidth cap is shared by all of a booth's peer
connections. The profile is applied **once per direction on each impaired link**. A relayed
packet crosses the front twice (sender→coturn on the sender's link, coturn→receiver on the
receiver's), so with ``impair=None`` (every link impaired) two impaired peers see the profile twice
end to end (twice the delay, about twice the loss). Pass ``impair=("booth-name",)`` to impair only
that link: the end-to-end path then carries the profile exactly once per direction, as a booth on a
poor provincial link talking to a centre on a good network does. Clients not yet named (a TURN
client's very first, unauthenticated Allocate and its 401) go on the link ``""``, impaired only
with ``impair=None``.

``tp.relay.drop_for(s, names)`` drops every datagram of those links (default: every link, named
or not) both ways for ``s`` seconds, including links that appear during the window; TURN
allocations (600 s) and permissions (300 s) outlive such a drop, so the same relay path comes back.
``drop_for(…, rebind=True)`` models a network change instead: after the window the NAT gives those
clients new outside ports, coturn knows no allocation there, and only a new allocation (ICE
restart, or a new peer connection) carries media again. ``tp.relay.counters(name)`` is
``{"up": Counters, "down": Counters}`` of one link (``bench.netem.Counters``; summed over every
link without a name), ``tp.relay.report()`` all of them as plain dicts.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import os
import secrets
import signal
import socket
import struct
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.netem import LOOPBACK, PROFILES, SOCKET_BUFFER, Counters, Impairment, Profile
from window_server.cluster.config import DENIED_PEERS, Ports, Rendered
from window_server.cluster.runner import stun_binding_ok
from window_server.cluster.tls import ensure_tls
from window_server.domain.auth import ice_servers

log = logging.getLogger(__name__)

TURN_TTL_SECONDS = 600.0
STUN_COOKIE = 0x2112A442
STUN_USERNAME = 0x0006
CLEAN = PROFILES["clean"]


def stun_username(data: bytes) -> str | None:
    """The USERNAME attribute of a STUN message, or None (not STUN, or no USERNAME)."""
    if len(data) < 20 or data[0] >= 0x40:  # ChannelData starts 0x40-0x7f: relayed media, no header
        return None
    _type, length, cookie = struct.unpack_from("!HHI", data)
    if cookie != STUN_COOKIE or 20 + length > len(data):
        return None
    at = 20
    while at + 4 <= 20 + length:
        kind, size = struct.unpack_from("!HH", data, at)
        if kind == STUN_USERNAME:
            return data[at + 4:at + 4 + size].decode("utf-8", "replace")
        at += 4 + (size + 3) // 4 * 4
    return None


def link_name(username: str) -> str:
    """The link of a TURN REST username ``"<expiry>:<name>"``: the name part."""
    return username.split(":", 1)[1] if ":" in username else username


def _summed(parts: Collection[Counters]) -> Counters:
    out = Counters()
    for c in parts:
        out.packets_in += c.packets_in
        out.bytes_in += c.bytes_in
        out.delivered += c.delivered
        out.bytes_delivered += c.bytes_delivered
        out.dropped.update(c.dropped)
        out.stray += c.stray
    return out


@dataclass
class Link:
    """One site's uplink: an impairment per direction (None: clean) and what each direction saw."""

    name: str
    impaired: bool  # False: the clean profile (no delay, no loss), but drop windows still apply
    up: Impairment  # client -> coturn
    down: Impairment  # coturn -> client
    counters: dict[str, Counters] = field(default_factory=lambda: {"up": Counters(), "down": Counters()})
    clients: int = 0


class _Upstream(asyncio.DatagramProtocol):
    """One client's socket toward coturn: what coturn answers goes back to that client."""

    def __init__(self, front: ImpairedFront, client: _Client) -> None:
        self.front, self.client = front, client
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.transport is self.client.upstream:  # not a socket a rebind closed
            self.front._arrived(self.client, "down", data)

    def error_received(self, exc: Exception) -> None:
        log.debug("front upstream %s: %s", self.client.addr, exc)


@dataclass
class _Client:
    addr: tuple[str, int]
    link: Link
    upstream: asyncio.DatagramTransport | None = None
    pending: list[bytes] = field(default_factory=list)  # arrived before the upstream socket was open
    rebind_at: float | None = None  # from then on, a new upstream socket (drop_for(rebind=True))
    rebinds: int = 0


class _Listener(asyncio.DatagramProtocol):
    def __init__(self, front: ImpairedFront) -> None:
        self.front = front

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.front._from_client(data, (addr[0], addr[1]))

    def error_received(self, exc: Exception) -> None:  # ICMP unreachable after a client closed
        log.debug("front: %s", exc)


class ImpairedFront:
    """A UDP NAT in front of coturn whose every datagram crosses an :class:`Impairment` (see module doc)."""

    def __init__(self, coturn: tuple[str, int], profile: Profile, *, seed: int = 0,
                 impair: Collection[str] | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.coturn, self.profile, self.seed, self.impair, self.clock = coturn, profile, seed, impair, clock
        self.links: dict[str, Link] = {}
        self.clients: dict[tuple[str, int], _Client] = {}
        self._windows: list[tuple[float, float, frozenset[str] | None]] = []
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = 0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_due = float("inf")
        self._changed = asyncio.Event()
        self._listen: asyncio.DatagramTransport | None = None
        self._opening: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: _Listener(self), local_addr=(LOOPBACK, 0))
        self._listen = transport
        _big_buffers(self._listen)

    @property
    def port(self) -> int:
        """The front's UDP port: what clients are told is the TURN server."""
        assert self._listen is not None
        return int(self._listen.get_extra_info("sockname")[1])

    # --- links, windows, counters ---------------------------------------------------------------

    def _link(self, name: str) -> Link:
        if name not in self.links:
            impaired = self.impair is None or name in self.impair
            profile, k, now = self.profile if impaired else CLEAN, len(self.links), self.clock()
            link = Link(name, impaired, Impairment(profile, self.seed + 2 * k, now),
                        Impairment(profile, self.seed + 2 * k + 1, now))
            for start, end, names in self._windows:  # a window still to come covers new links too
                if names is None or name in names:
                    link.up.add_window(start, end)
                    link.down.add_window(start, end)
            self.links[name] = link
        return self.links[name]

    def drop_for(self, seconds: float, names: Collection[str] | None = None, start_in_s: float = 0.0,
                 *, rebind: bool = False) -> tuple[float, float]:
        """Drop every datagram of links ``names`` (None: all) both ways from now + start_in_s for
        ``seconds``; return the window in clock seconds.

        ``rebind``: the NAT loses its mappings too: after the window each client of those links
        leaves through a new upstream socket (a new source port at coturn, which knows no
        allocation there: only a new allocation brings that client's media back)."""
        start = self.clock() + start_in_s
        chosen = None if names is None else frozenset(names)
        self._windows.append((start, start + seconds, chosen))
        for link in self.links.values():
            if chosen is None or link.name in chosen:
                link.up.add_window(start, start + seconds)
                link.down.add_window(start, start + seconds)
        if rebind:
            for client in self.clients.values():
                if chosen is None or client.link.name in chosen:
                    client.rebind_at = start + seconds
        return start, start + seconds

    def restore(self) -> None:
        """End every drop window now (e.g. before closing peers, whose TURN deallocation must get through)."""
        now = self.clock()
        self._windows = [(start, min(end, now), names) for start, end, names in self._windows]
        for link in self.links.values():
            for imp in (link.up, link.down):
                imp.windows = [(start, min(end, now)) for start, end in imp.windows]

    def counters(self, name: str | None = None) -> dict[str, Counters]:
        """``{"up": …, "down": …}`` of link ``name``, or summed over every link."""
        links = [self.links[name]] if name is not None else list(self.links.values())
        return {d: _summed([ln.counters[d] for ln in links]) for d in ("up", "down")}

    def report(self) -> dict[str, Any]:
        """Every link's counters as plain dicts, for printing."""
        return {name or "(unnamed)": {d: c.as_dict() for d, c in ln.counters.items()} | {"clients": ln.clients}
                for name, ln in self.links.items()}

    async def wait(self, done: Callable[[], bool]) -> None:
        """Return once ``done()`` holds, re-checked after every datagram (wrap in asyncio.timeout)."""
        while not done():
            self._changed.clear()
            await self._changed.wait()

    # --- the datapath -----------------------------------------------------------------------------

    def _from_client(self, data: bytes, addr: tuple[str, int]) -> None:
        client = self.clients.get(addr)
        username = stun_username(data)
        if client is None:
            name = link_name(username) if username else ""
            client = self.clients[addr] = _Client(addr, self._link(name))
            client.link.clients += 1
            self._start_open(client)
        elif username and client.link.name == "":  # named by its first authenticated request
            client.link.clients -= 1
            client.link = self._link(link_name(username))
            client.link.clients += 1
        self._arrived(client, "up", data)

    def _start_open(self, client: _Client) -> None:
        task = asyncio.get_running_loop().create_task(self._open(client))
        self._opening.add(task)
        task.add_done_callback(self._opening.discard)

    async def _open(self, client: _Client) -> None:
        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: _Upstream(self, client), local_addr=(LOOPBACK, 0), remote_addr=self.coturn)
        client.upstream = transport
        _big_buffers(client.upstream)
        for data in client.pending:
            client.upstream.sendto(data)
        client.pending.clear()

    def _arrived(self, client: _Client, direction: str, data: bytes) -> None:
        link, now = client.link, self.clock()
        c = link.counters[direction]
        c.packets_in += 1
        c.bytes_in += len(data)
        verdict = (link.up if direction == "up" else link.down).admit(now, len(data))
        if verdict.deliver_at is None:
            c.dropped[verdict.reason or "?"] += 1
        else:
            self._schedule(verdict.deliver_at, lambda: self._deliver(client, direction, data))
        self._changed.set()

    def _deliver(self, client: _Client, direction: str, data: bytes) -> None:
        c = client.link.counters[direction]
        if direction == "up" and client.rebind_at is not None and self.clock() >= client.rebind_at:
            client.rebind_at = None
            client.rebinds += 1
            if client.upstream is not None:
                client.upstream.close()  # what coturn still sends to the old mapping is lost
                client.upstream = None
                self._start_open(client)
        if direction == "up":
            if client.upstream is None:
                client.pending.append(data)
            elif client.upstream.is_closing():
                c.dropped["closed"] += 1
                return
            else:
                client.upstream.sendto(data)
        else:
            if self._listen is None or self._listen.is_closing():
                c.dropped["closed"] += 1
                return
            self._listen.sendto(data, client.addr)
        c.delivered += 1
        c.bytes_delivered += len(data)
        self._changed.set()

    def _schedule(self, at: float, send: Callable[[], None]) -> None:
        heapq.heappush(self._heap, (at, self._seq, send))
        self._seq += 1
        self._pump()

    def _pump(self) -> None:
        now = self.clock()
        while self._heap and self._heap[0][0] <= now:
            heapq.heappop(self._heap)[2]()
        if self._heap and self._heap[0][0] < self._timer_due:
            if self._timer is not None:
                self._timer.cancel()
            self._timer_due = self._heap[0][0]
            self._timer = asyncio.get_running_loop().call_later(max(0.0, self._timer_due - now), self._fire)

    def _fire(self) -> None:
        self._timer, self._timer_due = None, float("inf")
        self._pump()

    async def close(self) -> None:
        """Drop what is in flight and close every socket."""
        if self._timer is not None:
            self._timer.cancel()
        self._heap.clear()
        for task in list(self._opening):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for client in self.clients.values():
            if client.upstream is not None:
                client.upstream.close()
        if self._listen is not None:
            self._listen.close()
        await asyncio.sleep(0)  # let the transports' close callbacks run


def _big_buffers(transport: asyncio.DatagramTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None:  # a keyframe is a burst of datagrams: room for it
        for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            sock.setsockopt(socket.SOL_SOCKET, opt, SOCKET_BUFFER)


# --- coturn -------------------------------------------------------------------------------------


class Coturn:
    """A private ``turnserver`` on free ports of 127.0.0.1, rendered from the cluster's template."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.secret = secrets.token_hex(24)
        self.ports = Ports.free(nodes=0, relay_size=40)
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def addr(self) -> tuple[str, int]:
        return (LOOPBACK, self.ports.turn)

    @property
    def log_file(self) -> Path:
        return self.root / "coturn.log"

    def config(self) -> str:
        """turnserver.conf: the cluster's local rendering, minus its TLS alternative ports."""
        p, tls = self.ports, ensure_tls(self.root / "tls")
        return Rendered("turnserver.conf.j2", {
            "production": False, "listening_ip": LOOPBACK, "relay_ip": LOOPBACK, "external_ip": "",
            "port": p.turn, "tls_port": p.turns, "alt_port": 0, "alt_tls_port": 0,
            "min_port": p.relay[0], "max_port": p.relay[1], "secret": self.secret, "realm": "localhost",
            "cert": str(tls.cert), "key": str(tls.key), "denied_peers": DENIED_PEERS,
            "allowed_peers": [LOOPBACK], "pidfile": str(self.root / "turnserver.pid"),
            "logfile": str(self.log_file)}).text

    async def start(self, within_s: float = 15.0) -> None:
        """Start turnserver; return once it answers a STUN Binding request."""
        conf = self.root / "turnserver.conf"
        conf.write_text(self.config())
        conf.chmod(0o600)  # the secret
        self.proc = await asyncio.create_subprocess_exec(
            "turnserver", "-c", str(conf), "--no-stdout-log", cwd=self.root,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, start_new_session=True)
        async with asyncio.timeout(within_s):
            while not await asyncio.to_thread(stun_binding_ok, self.ports.turn):
                if self.proc.returncode is not None:
                    raise RuntimeError(f"turnserver exited ({self.proc.returncode}); see {self.log_file}")

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL after 5 s."""
        if self.proc is None or self.proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            async with asyncio.timeout(5):
                await self.proc.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            await self.proc.wait()


@dataclass
class TurnPath:
    """What ``turn_path`` yields: the front (``relay``), coturn, and credentials for clients."""

    relay: ImpairedFront
    coturn: Coturn

    @property
    def coturn_addr(self) -> tuple[str, int]:
        return self.coturn.addr

    @property
    def secret(self) -> str:
        """coturn's static-auth-secret (RW_TURN_SECRET for an app behind this path)."""
        return self.coturn.secret

    @property
    def url(self) -> str:
        """The only TURN URL clients get: the front (RW_ICE_SERVERS for an app)."""
        return f"turn:{LOOPBACK}:{self.relay.port}?transport=udp"

    def ice_servers_for(self, username: str) -> list[dict[str, Any]]:
        """RTCIceServer dicts for ``username`` (its link's name), as the app hands them out."""
        return ice_servers([self.url], self.secret, username, int(time.time()), TURN_TTL_SECONDS)


@contextlib.asynccontextmanager
async def turn_path(profile: Profile | str = "clean", seed: int = 0, *, impair: Collection[str] | None = None,
                    root: Path | None = None) -> AsyncIterator[TurnPath]:
    """Start coturn and the impaired front on free loopback ports; stop both on leaving."""
    prof = PROFILES[profile] if isinstance(profile, str) else profile
    with contextlib.ExitStack() as stack:
        if root is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rw-turn-")))
        coturn = Coturn(root)
        await coturn.start()
        front = ImpairedFront(coturn.addr, prof, seed=seed, impair=impair)
        try:
            await front.start()
            log.info("turn path: front udp %d -> coturn %d (profile %s, impaired %s)",
                     front.port, coturn.ports.turn, prof.name, "all" if impair is None else ",".join(impair))
            yield TurnPath(front, coturn)
        finally:
            await front.close()
            await coturn.stop()
