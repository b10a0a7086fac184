"""The test harness: a real redis-server on a free port, real servers on 127.0.0.1, no network.

Fixtures here are shared by every layer's tests. Nothing is mocked: the only stand-in in the
whole suite is the synthetic document camera.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from redis.asyncio import Redis

from tests.service import seal_key_file
from tests.tokens import use_redis
from window_server.app import create_app
from window_server.runtime.redis_server import EmbeddedRedis
from window_server.settings import Settings, build_settings
from window_server.store.client import make_redis

# --- network guard: nothing in the suite may leave this machine's loopback ------------------


class NonLoopbackConnection(RuntimeError):
    """A test tried to reach an address outside 127.0.0.0/8 or ::1."""


def _is_loopback(address: Any) -> bool:
    if not isinstance(address, tuple):  # AF_UNIX paths
        return True
    host = address[0]
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    if not _is_loopback(address):
        raise NonLoopbackConnection(f"test tried to connect to {address!r}; only loopback is allowed")
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> Any:
    if not _is_loopback(address):
        raise NonLoopbackConnection(f"test tried to connect to {address!r}; only loopback is allowed")
    return _real_connect_ex(self, address)


@pytest.fixture(scope="session", autouse=True)
def loopback_only() -> Iterator[None]:
    """Refuse every outgoing connection that is not to loopback, for the whole session."""
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    yield
    socket.socket.connect = _real_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _real_connect_ex  # type: ignore[method-assign]


# --- real Redis --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """One real redis-server for the session, on a free port of 127.0.0.1."""
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_url(redis_server: EmbeddedRedis) -> str:
    use_redis(redis_server.url)  # where tests.signaling.conftest.token() registers accounts
    return redis_server.url


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    """A client to the session's Redis, flushed before each test."""
    client = make_redis(redis_url, timeout=10)
    await client.flushall()
    yield client
    await client.aclose()


# --- settings and servers ------------------------------------------------------------------


@pytest.fixture
def make_settings(tmp_path: Path, redis_url: str) -> Callable[..., Settings]:
    """Settings for a test: the session's Redis, a private data dir, port 0, no demo data."""

    def make(**overrides: Any) -> Settings:
        base: dict[str, Any] = {
            "redis_url": redis_url,
            "data_dir": tmp_path / "data",
            "port": 0,
            "demo": False,
            "evidence_key": str(seal_key_file()),
        }
        base.update(overrides)
        return build_settings({}, **base)

    return make


@dataclass
class RunningServer:
    server: TestServer
    http: aiohttp.ClientSession
    app: web.Application

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")


@pytest.fixture
async def start_server(
    make_settings: Callable[..., Settings], redis: Redis
) -> AsyncIterator[Callable[..., Awaitable[RunningServer]]]:
    """Start real window_server apps on 127.0.0.1:0; all are stopped after the test."""
    running: list[RunningServer] = []

    async def start(
        settings: Settings | None = None, *, app: web.Application | None = None, **overrides: Any
    ) -> RunningServer:
        if app is None:
            app = create_app(settings or make_settings(**overrides))
        server = TestServer(app, host="127.0.0.1", port=0)
        await server.start_server()
        http = aiohttp.ClientSession()
        rs = RunningServer(server, http, app)
        running.append(rs)
        return rs

    yield start
    for rs in reversed(running):
        await rs.http.close()
        await rs.server.close()
