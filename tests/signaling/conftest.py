"""Signaling fixtures: a real server on 127.0.0.1:0 and real socket.io clients with tokens."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import socketio

from tests.tokens import register
from window_server.domain.auth import Principal, Role, sign_connect_token
from window_server.domain.catalogue import Catalogue
from window_server.domain.routing import region_contains
from window_server.runtime.catalogue import load_catalogue

# 32 random bytes: RW_DEMO=false refuses a weaker RW_SECRET at start
SECRET = "9f2c4e71b0d35a86e4f1c7290b6ad58e13f07c94a2e6d85b1c3f90e7a4d26b58"


def token(role: Role, subject: str, centre: str, namespace: str, langs: tuple[str, ...] = ("zh",),
          lifetime_s: float = 120, now_ms: int | None = None) -> str:
    """A fresh single-use token, as the server would issue it: its account is registered first."""
    principal = Principal(role=role, subject=subject, centre=centre, langs=langs)
    gen = register(principal)
    return sign_connect_token(SECRET.encode(), principal, namespace, now_ms or int(time.time() * 1000),
                              lifetime_s, secrets.token_hex(8), gen=gen)


class Client:
    """A socket.io client that records every event it receives, to await them by name."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.sio = socketio.AsyncClient(reconnection=False)
        self.inbox: dict[str, list[Any]] = defaultdict(list)
        self.arrived = asyncio.Condition()
        self.sio.on("*", self._record, namespace=namespace)
        self.refusal: Any = None
        self.sio.on("connect_error", self._refused, namespace=namespace)

    def _refused(self, data: Any = None) -> None:
        self.refusal = data

    async def refused(self, url: str, tok: str | None) -> dict[str, Any]:
        """Connect expecting a refusal; return the server's {code, message}."""
        with pytest.raises(socketio.exceptions.ConnectionError):
            await self.connect(url, tok)
        assert isinstance(self.refusal, dict), self.refusal
        data: dict[str, Any] = self.refusal["data"]
        return data

    async def _record(self, event: str, data: Any = None) -> None:
        async with self.arrived:
            self.inbox[event].append(data)
            self.arrived.notify_all()

    async def connect(self, url: str, tok: str | None) -> None:
        await self.sio.connect(url, namespaces=[self.namespace], auth=None if tok is None else {"token": tok},
                               transports=["websocket"], wait_timeout=10)

    async def call(self, event: str, data: Any = None, within: float = 10) -> dict[str, Any]:
        reply: dict[str, Any] = await self.sio.call(event, data, namespace=self.namespace, timeout=within)
        return reply

    async def ok(self, event: str, data: Any = None) -> dict[str, Any]:
        reply = await self.call(event, data)
        assert "ok" in reply, reply
        result: dict[str, Any] = reply["ok"]
        return result

    async def emit(self, event: str, data: Any = None) -> None:
        await self.sio.emit(event, data, namespace=self.namespace)

    async def next(self, event: str, where: Callable[[Any], bool] = lambda d: True, within: float = 10) -> Any:
        """The first received ``event`` matching ``where`` (already here, or arriving within timeout)."""
        async with asyncio.timeout(within), self.arrived:
            while True:
                for i, data in enumerate(self.inbox[event]):
                    if where(data):
                        return self.inbox[event].pop(i)
                await self.arrived.wait()

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return load_catalogue(None, None)


@pytest.fixture(scope="session")
def demo(catalogue: Catalogue) -> dict[str, str]:
    """A matter, a centre of its home region (served at once) and an intake centre elsewhere."""
    for m in catalogue.matters:
        own = [c for c in catalogue.centres_serving(m.home_region) if region_contains(m.home_region, c.region)]
        others = [c for c in catalogue.centres if not region_contains(m.home_region, c.region)]
        if own and others and m.audience == "person":
            return {"matter": m.code, "home_centre": own[0].id, "intake_centre": others[0].id,
                    "region": m.home_region}
    raise AssertionError("the demo catalogue has no usable matter")


@pytest.fixture
async def clients() -> AsyncIterator[Callable[[str], Client]]:
    made: list[Client] = []

    def make(namespace: str) -> Client:
        c = Client(namespace)
        made.append(c)
        return c

    yield make
    for c in made:
        await c.close()


@pytest.fixture
async def server(start_server: Callable[..., Awaitable[Any]]) -> Any:
    return await start_server(secret=SECRET, reconnect_grace_seconds=30, offer_timeout_seconds=30)
