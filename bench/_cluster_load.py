"""Booths and specialists in live sessions against a cluster, through nginx with TLS (benches only).

Each client is a real ``socketio.AsyncClient`` on the websocket transport that reconnects by
itself (backoff 0.2-1 s) with a fresh single-use connect token every time, signed here with the
cluster's RW_SECRET for an account registered the way ``booths add`` / ``users add`` would
(``AccountStore``). A booth asks for service; a specialist goes available, accepts the offer it
gets and may add notes (acknowledged writes: the failover check reads them back). A client that
lost its socket is *back* when, after reconnecting, the server pushes ``session_state`` with
``act: resume`` for the very session it had (docs/protocol.md, Rooms and resume).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import ssl
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import socketio

from window_server.accounts.store import AccountStore
from window_server.domain.auth import Principal, Role, sign_connect_token
from window_server.domain.catalogue import Catalogue
from window_server.domain.routing import region_contains
from window_server.runtime.catalogue import load_catalogue
from window_server.store.client import make_redis

HELD = frozenset({"in_service", "transferring", "reconnecting"})


def pick_places(catalogue: Catalogue) -> dict[str, str]:
    """A matter, a centre of its home region (its specialists) and an intake centre elsewhere."""
    for m in catalogue.matters:
        own = [c for c in catalogue.centres_serving(m.home_region) if region_contains(m.home_region, c.region)]
        others = [c for c in catalogue.centres if not region_contains(m.home_region, c.region)]
        if own and others and m.audience == "person":
            return {"matter": m.code, "home_centre": own[0].id, "intake_centre": others[0].id}
    raise RuntimeError("the demo catalogue has no usable matter")


def ssl_context(ca_file: Path | None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_file)) if ca_file else ssl.create_default_context()


@dataclass
class Fleet:
    """Accounts, the shared HTTP session and the secret: what every simulated client needs."""

    base: str
    secret: bytes
    http: aiohttp.ClientSession
    places: dict[str, str]
    booth_tokens: dict[str, str] = field(default_factory=dict)

    @classmethod
    async def open(cls, base: str, redis_url: str, secret: str, ca_file: Path | None) -> Fleet:
        http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl_context(ca_file), limit=0))
        return cls(base, secret.encode(), http, pick_places(load_catalogue(None, None)))

    async def accounts(self, redis_url: str, booths: list[str], agents: list[str]) -> None:
        """Register booths (intake centre) and specialists (home centre), as the CLI would."""
        redis = make_redis(redis_url)
        try:
            store = AccountStore(redis, load_catalogue(None, None))
            for b in booths:
                _record, token = await store.add_booth(b, self.places["intake_centre"])
                self.booth_tokens[b] = token
            for a in agents:
                user = store.validate_user(a, Role.SPECIALIST, self.places["home_centre"])
                await store._insert_user(user, "$argon2id$not-a-real-hash")  # no login: tokens are signed here
        finally:
            await redis.aclose()

    def token(self, role: Role, subject: str, namespace: str) -> str:
        centre = self.places["intake_centre" if role is Role.BOOTH else "home_centre"]
        principal = Principal(role=role, subject=subject, centre=centre, langs=("zh",))
        return sign_connect_token(self.secret, principal, namespace, int(time.time() * 1000), 120,
                                  secrets.token_hex(8), gen=1)

    async def close(self) -> None:
        await self.http.close()


@dataclass
class Write:
    """One acknowledged-or-not write: when it was sent, whether it was acknowledged."""

    sid: str
    text: str
    t0: float
    ok: bool
    code: str = ""


class SimClient:
    """One booth page or specialist console; reconnects on its own with fresh tokens."""

    def __init__(self, fleet: Fleet, role: Role, subject: str, *, matter: str = "") -> None:
        self.fleet, self.role, self.subject, self.matter = fleet, role, subject, matter
        self.ns = "/booth" if role is Role.BOOTH else "/agent"
        self.sio = socketio.AsyncClient(reconnection=True, reconnection_delay=0.2, reconnection_delay_max=1.0,
                                        randomization_factor=0.5, http_session=fleet.http, request_timeout=10,
                                        handle_sigint=False)
        self.session = ""  # the session this client is in
        self.state = ""
        self.changed = asyncio.Event()
        self.lost_at: float | None = None  # monotonic time of the last disconnect
        self.back_at: float | None = None  # monotonic time the resume for ``session`` arrived after it
        self.disconnects = 0
        self.resumes: list[tuple[str, str]] = []
        self.errors: Counter[str] = Counter()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.sio.on("session_state", self._state, namespace=self.ns)
        self.sio.on("offer", self._offer, namespace=self.ns)
        self.sio.on("disconnect", self._disconnected, namespace=self.ns)

    async def connect(self) -> None:
        await self.sio.connect(self.fleet.base, namespaces=[self.ns], transports=["websocket"],
                               auth=lambda: {"token": self.fleet.token(self.role, self.subject, self.ns)},
                               wait_timeout=15)

    def _disconnected(self, reason: Any = None) -> None:
        self.disconnects += 1
        self.lost_at = time.monotonic()
        self.back_at = None

    async def _state(self, data: dict[str, Any]) -> None:
        sid, state = data.get("sid", ""), data.get("state", "")
        if data.get("act") == "resume":
            self.resumes.append((sid, state))
            if self.lost_at is not None and sid == self.session and self.back_at is None:
                self.back_at = time.monotonic()
        if self.role is Role.BOOTH and sid and (not self.session or sid == self.session):
            self.session, self.state = sid, state
        elif self.role is Role.SPECIALIST and sid == self.session:
            self.state = state
        self.changed.set()

    async def _offer(self, data: dict[str, Any]) -> None:
        task = asyncio.get_running_loop().create_task(self._accept(data["sid"]))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept(self, sid: str) -> None:
        reply = await self.call("accept", {"sid": sid})
        if "ok" in reply:
            self.session, self.state = sid, "in_service"
            self.changed.set()

    async def call(self, event: str, data: Any, timeout: float = 10) -> dict[str, Any]:  # noqa: ASYNC109
        try:
            reply: dict[str, Any] = await self.sio.call(event, data, namespace=self.ns, timeout=timeout)
        except (socketio.exceptions.TimeoutError, socketio.exceptions.BadNamespaceError,
                socketio.exceptions.SocketIOError) as exc:
            reply = {"error": {"code": type(exc).__name__}}
        if "error" in reply:
            self.errors[str(reply["error"].get("code"))] += 1
        return reply

    async def request_service(self) -> dict[str, Any]:
        reply = await self.call("request_service", {"matter": self.matter, "consent": True})
        if "ok" in reply:
            self.session, self.state = reply["ok"]["sid"], reply["ok"]["state"]
        return reply

    async def note(self, text: str) -> Write:
        t0 = time.monotonic()
        reply = await self.call("note", {"sid": self.session, "text": text}, timeout=20)
        return Write(self.session, text, t0, "ok" in reply, "" if "ok" in reply else str(reply["error"].get("code")))

    async def notes(self) -> list[str]:
        reply = await self.call("session_detail", {"sid": self.session}, timeout=20)
        if "ok" not in reply:
            raise RuntimeError(f"session_detail of {self.session}: {reply}")
        return [n.get("text", "") for n in reply["ok"].get("notes", [])]

    async def wait(self, pred: Callable[[SimClient], bool], timeout: float) -> bool:  # noqa: ASYNC109
        deadline = time.monotonic() + timeout
        while not pred(self):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(left, 0.5)):
                    await self.changed.wait()
        return True

    async def close(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                await self.sio.disconnect()


async def gather_limited(coros: list[Any], limit: int = 50) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def one(c: Any) -> Any:
        async with gate:
            return await c

    return await asyncio.gather(*(one(c) for c in coros), return_exceptions=True)


async def live_sessions(fleet: Fleet, redis_url: str, pairs: int, tag: str,
                        within: float = 120) -> tuple[list[SimClient], list[SimClient]]:
    """``pairs`` booths each in service with one of ``pairs`` specialists; return (booths, agents)."""
    booth_ids = [f"{tag}-b{i:04d}" for i in range(pairs)]
    agent_ids = [f"{tag}a{i:04d}" for i in range(pairs)]
    await fleet.accounts(redis_url, booth_ids, agent_ids)
    agents = [SimClient(fleet, Role.SPECIALIST, a) for a in agent_ids]
    booths = [SimClient(fleet, Role.BOOTH, b, matter=fleet.places["matter"]) for b in booth_ids]
    failed = [r for r in await gather_limited([a.connect() for a in agents]) if isinstance(r, BaseException)]
    if failed:
        raise RuntimeError(f"{len(failed)} specialists did not connect: {failed[0]!r}")
    await gather_limited([a.call("presence", {"status": "available"}) for a in agents])
    failed = [r for r in await gather_limited([b.connect() for b in booths]) if isinstance(r, BaseException)]
    if failed:
        raise RuntimeError(f"{len(failed)} booths did not connect: {failed[0]!r}")
    await gather_limited([b.request_service() for b in booths], limit=20)
    ok = await gather_limited([b.wait(lambda c: c.state == "in_service", within) for b in booths])
    served = sum(1 for r in ok if r is True)
    if served < pairs:
        raise RuntimeError(f"only {served} of {pairs} booths are in service after {within:g} s")
    await gather_limited([a.wait(lambda c: c.state == "in_service", 30) for a in agents])
    return booths, agents
