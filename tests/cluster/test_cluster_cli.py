"""``python -m window_server cluster up|status|down`` for real: nginx with TLS and HTTP/2 in front of
two nodes, Redis + Sentinels, coturn relaying with the nodes' credentials; ``down`` leaves nothing.

One cluster for the module, brought up by the CLI on free ports; the last test takes it down.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import json
import secrets
import shutil
import socket
import ssl
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import socketio
from redis import Redis

from window_server.cluster import Cluster
from window_server.cluster.runner import STATE

pytestmark = pytest.mark.timeout(240)

BOOTH = "sh-huangpu-01"  # a demo booth (RW_DEMO=true on the cluster's nodes)


def cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "window_server", "cluster", *args], capture_output=True,
                          text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("cli-cluster")
    try:
        done = cli("up", "--root", str(root), "--free-ports")
        assert done.returncode == 0, done.stderr[-3000:]
        assert "https://127.0.0.1:" in done.stdout
        yield Cluster.load(root)
    finally:
        cli("down", "--root", str(root))
        if (root / STATE).exists():
            Cluster.load(root).down()


def tls_context(c: Cluster) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(c.ca_file))


def test_status_shows_every_member_running(up: Cluster) -> None:
    done = cli("status", "--root", str(up.root), "--json")
    assert done.returncode == 0, done.stdout
    status = json.loads(done.stdout)
    assert set(status) == {"redis1", "redis2", "redis3", "sentinel1", "sentinel2", "sentinel3", "coturn", "node1", "node2",
                           "nginx"}
    assert all(row["alive"] and row["pid"] for row in status.values()), status
    assert up.primary() == ("127.0.0.1", up.ports.redis[0])


def test_readyz_through_nginx_is_tls_verified_by_the_ca_and_http2(up: Cluster) -> None:
    context = tls_context(up)
    context.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection(("127.0.0.1", up.ports.https), timeout=5) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        assert tls.selected_alpn_protocol() == "h2"
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
    # without the cluster's CA the certificate is not trusted
    with socket.create_connection(("127.0.0.1", up.ports.https), timeout=5) as raw, \
            pytest.raises(ssl.SSLCertVerificationError):
        ssl.create_default_context().wrap_socket(raw, server_hostname="127.0.0.1")
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    for host in ("127.0.0.1", "localhost"):
        done = subprocess.run([curl, "-sS", "--http2", "--cacert", str(up.ca_file), "-o", "/dev/null", "-w",
                               "%{http_version} %{http_code}", f"https://{host}:{up.ports.https}/readyz"],
                              capture_output=True, text=True, timeout=30, check=False)
        assert done.stdout == "2 200", done.stderr


async def booth_token(http: aiohttp.ClientSession, c: Cluster) -> dict[str, Any]:
    async with http.post(f"{c.https_url}/api/booths/{BOOTH}/connect-token", json={"role": "booth"},
                         headers={"Authorization": f"Bearer demo-{BOOTH}"}) as resp:
        assert resp.status == 200, await resp.text()
        return dict(await resp.json())


async def test_a_booth_connects_over_a_websocket_through_nginx(up: Cluster) -> None:
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls_context(up)))
    sio = socketio.AsyncClient(reconnection=False, http_session=http, handle_sigint=False)
    connected = asyncio.Event()
    sio.on("connect", connected.set, namespace="/booth")
    try:
        answer = await booth_token(http, up)
        await sio.connect(up.https_url, namespaces=["/booth"], transports=["websocket"],
                          auth={"token": answer["token"]}, wait_timeout=15)
        async with asyncio.timeout(15):
            await connected.wait()
        assert sio.transport() == "websocket"
    finally:
        with contextlib.suppress(Exception):
            await sio.disconnect()
        await http.close()


def test_the_running_members_use_the_rendered_configuration(up: Cluster) -> None:
    rendered = up.configs()
    for name, r in rendered.items():
        assert (up.root / "conf" / name).read_text() == r.text, name
    cmdlines = {n: Path(f"/proc/{row['pid']}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                for n, row in up.status().items()}
    assert f"-c {up.root / 'conf' / 'nginx-main.conf'}" in cmdlines["nginx"]  # (nginx retitles itself)
    assert f"-c {up.root / 'conf' / 'turnserver.conf'}" in cmdlines["coturn"]
    with Redis(port=up.ports.redis[0], decode_responses=True) as redis:  # redis.conf.j2's settings are live
        assert redis.config_get("appendonly") == {"appendonly": "yes"}
        assert redis.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
        assert redis.config_get("bind") == {"bind": "127.0.0.1"}


# --- TURN (coturn, use-auth-secret): a real allocation with the credentials a node hands out -------

COOKIE = 0x2112A442


def _attr(kind: int, value: bytes) -> bytes:
    return struct.pack("!HH", kind, len(value)) + value + b"\0" * (-len(value) % 4)


def _xor_address(ip: str, port: int) -> bytes:
    packed = int(ipaddress.IPv4Address(ip)) ^ COOKIE
    return struct.pack("!BBHI", 0, 1, port ^ (COOKIE >> 16), packed)


def _parse(data: bytes) -> tuple[int, dict[int, bytes]]:
    kind, length = struct.unpack("!HH", data[:4])
    attrs, i = {}, 20
    while i < 20 + length:
        t, n = struct.unpack("!HH", data[i:i + 4])
        attrs[t] = data[i + 4:i + 4 + n]
        i += 4 + n + (-n % 4)
    return kind, attrs


def _error(attrs: dict[int, bytes]) -> int:
    v = attrs[0x0009]
    return (v[2] & 7) * 100 + v[3]


class Turn:
    """Just enough of a TURN client (RFC 5766) over UDP to allocate, permit and send."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(3)
        self.server = ("127.0.0.1", port)
        self.key = b""
        self.auth: list[bytes] = []

    def request(self, method: int, attrs: list[bytes], *, sign: bool = True) -> tuple[int, dict[int, bytes]]:
        txid = secrets.token_bytes(12)
        body = b"".join(attrs + (self.auth if sign else []))
        if sign and self.key:
            head = struct.pack("!HHI", method, len(body) + 24, COOKIE) + txid
            mac = hmac.new(self.key, head + body, hashlib.sha1).digest()
            body += _attr(0x0008, mac)
        self.sock.sendto(struct.pack("!HHI", method, len(body), COOKIE) + txid + body, self.server)
        while True:
            data, _ = self.sock.recvfrom(4096)
            if data[8:20] == txid:
                return _parse(data)

    def login(self, username: str, password: str) -> tuple[int, dict[int, bytes]]:
        """Allocate: the first try is refused 401 with a realm and nonce; sign the second."""
        transport = _attr(0x0019, bytes([17, 0, 0, 0]))  # REQUESTED-TRANSPORT: UDP
        kind, attrs = self.request(0x0003, [transport], sign=False)
        assert kind == 0x0113 and _error(attrs) == 401
        realm, nonce = attrs[0x0014], attrs[0x0015]
        self.key = hashlib.md5(f"{username}:{realm.decode()}:{password}".encode()).digest()  # noqa: S324 - RFC 5389
        self.auth = [_attr(0x0006, username.encode()), _attr(0x0014, realm), _attr(0x0015, nonce)]
        return self.request(0x0003, [transport])

    def close(self) -> None:
        self.sock.close()


async def test_coturn_relays_with_the_nodes_credentials_and_nowhere_private(up: Cluster) -> None:
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls_context(up)))
    try:
        answer = await booth_token(http, up)
    finally:
        await http.close()
    (turn_server,) = [s for s in answer["ice_servers"] if any(u.startswith("turn:") for u in s["urls"])]
    assert f"turn:127.0.0.1:{up.ports.turn}?transport=udp" in turn_server["urls"]

    wrong = Turn(up.ports.turn)
    try:
        kind, attrs = wrong.login(turn_server["username"], "not-the-password")
        assert kind == 0x0113 and _error(attrs) == 401  # no open relay: only the nodes' credentials
    finally:
        wrong.close()

    turn = Turn(up.ports.turn)
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer.settimeout(3)
    try:
        kind, attrs = turn.login(turn_server["username"], turn_server["credential"])
        assert kind == 0x0103, attrs  # Allocate success
        relayed = attrs[0x0016]
        relay_port = struct.unpack("!H", relayed[2:4])[0] ^ (COOKIE >> 16)
        assert up.ports.relay[0] <= relay_port <= up.ports.relay[1]
        for private in ("10.1.2.3", "192.168.1.1", "172.16.0.1", "169.254.1.1", "100.64.0.1"):
            kind, attrs = turn.request(0x0008, [_attr(0x0012, _xor_address(private, 9))])
            assert kind == 0x0118 and _error(attrs) == 403, private  # CreatePermission refused
        kind, _ = turn.request(0x0008, [_attr(0x0012, _xor_address("127.0.0.1", peer.getsockname()[1]))])
        assert kind == 0x0108  # the local cluster's own loopback peer is allowed (allow_peer)
        # a Send indication (no answer): the relay forwards the data to the peer from the relayed port
        data = _attr(0x0012, _xor_address("127.0.0.1", peer.getsockname()[1])) + _attr(0x0013, b"hello relay")
        turn.sock.sendto(struct.pack("!HHI", 0x0016, len(data), COOKIE) + secrets.token_bytes(12) + data,
                         turn.server)
        got, source = peer.recvfrom(2048)
        assert got == b"hello relay" and source == ("127.0.0.1", relay_port)
    finally:
        turn.close()
        peer.close()


# --- last: down ------------------------------------------------------------------------------------


def _live(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2:].split()[0] not in ("Z", "X")


def _group(pgid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = (entry / "stat").read_text()
                fields = stat[stat.rindex(")") + 2:].split()
                if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                    found.append(int(entry.name))
    return found


def test_down_leaves_no_process(up: Cluster) -> None:
    pids = {name: row["pid"] for name, row in up.status().items()}
    assert all(pids.values())
    assert _group(pids["nginx"]) != [pids["nginx"]]  # nginx's workers are in its group: they must go too
    done = cli("down", "--root", str(up.root))
    assert done.returncode == 0, done.stderr
    assert {n: p for n, p in pids.items() if _live(p) or _group(p)} == {}
    assert cli("status", "--root", str(up.root)).returncode == 3
    assert cli("down", "--root", str(up.root)).returncode == 0  # idempotent
