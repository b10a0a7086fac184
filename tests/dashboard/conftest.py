"""Dashboard fixtures: a real server driven by a manual clock, staff logins, the demo chain."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import RunningServer
from tests.queue.conftest import Clock
from tests.signaling.conftest import SECRET, Client, clients  # noqa: F401 - the fixture, shared
from window_server.app import create_app
from window_server.appkeys import ACCOUNTS, CATALOGUE, QUEUE, STORE
from window_server.dashboard.service import DASHBOARD, Dashboard
from window_server.domain.auth import Role
from window_server.domain.catalogue import Catalogue
from window_server.domain.routing import region_contains
from window_server.queue.service import QueueService
from window_server.queue.store import QueueStore
from window_server.runtime.catalogue import load_catalogue
from window_server.settings import Settings

TZ = ZoneInfo("Asia/Shanghai")
#: Monday 2 March 2026, 09:00 in Shanghai: the scripted day starts here.
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=TZ).timestamp()
DAY = "2026-03-02"
PASSWORD = "dashboard test password"


@dataclass(frozen=True)
class Chain:
    """Two matters of one home region, a centre of that region and an intake centre elsewhere."""

    matter: str
    matter2: str
    region: str
    home: str
    intake: str


def pick_chain(catalogue: Catalogue) -> Chain:
    for m in catalogue.matters:
        same = [x for x in catalogue.matters_for_region(m.home_region) if x.code != m.code]
        own = [c for c in catalogue.centres_serving(m.home_region) if region_contains(m.home_region, c.region)]
        others = [c for c in catalogue.centres if not c.serves(m.home_region)]
        if same and own and others:
            return Chain(m.code, same[0].code, m.home_region, own[0].id, others[0].id)
    raise AssertionError("the demo catalogue has no usable region")


@pytest.fixture(scope="session")
def chain() -> Chain:
    return pick_chain(load_catalogue(None, None))


@dataclass
class Dash:
    """A running server with a manual clock, and logged-in staff (username -> cookie)."""

    srv: RunningServer
    clock: Clock
    chain: Chain
    cookies: dict[str, str] = field(default_factory=dict)

    @property
    def store(self) -> QueueStore:
        return self.srv.app[STORE]

    @property
    def queue(self) -> QueueService:
        return self.srv.app[QUEUE]

    @property
    def dashboard(self) -> Dashboard:
        return self.srv.app[DASHBOARD]

    async def at(self, seconds: float) -> None:
        """Move the clock to T0 + ``seconds`` and carry out whatever became due."""
        self.clock.t = T0 + seconds
        await self.store.tick()

    async def login(self, username: str, role: Role, centre: str = "") -> str:
        accounts = self.srv.app[ACCOUNTS]
        user = await accounts.add_user(username, PASSWORD, role, centre)
        self.cookies[username] = await accounts.create_web_session(user)
        return self.cookies[username]

    def headers(self, user: str | None) -> dict[str, str]:
        return {"Cookie": f"rw_session={self.cookies[user]}"} if user else {}

    async def get(self, path: str, user: str | None) -> tuple[int, Any]:
        async with self.srv.http.get(self.srv.url + path, headers=self.headers(user)) as resp:
            if resp.content_type == "application/json":
                return resp.status, await resp.json()
            return resp.status, await resp.text()

    async def post(self, path: str, body: Any, user: str | None) -> tuple[int, Any]:
        async with self.srv.http.post(self.srv.url + path, json=body, headers=self.headers(user)) as resp:
            return resp.status, await resp.json()

    async def drained(self, within: float = 10) -> None:
        import asyncio

        async with asyncio.timeout(within):
            await self.dashboard.aggregator.drained()

    async def agent(self, aid: str, centre: str | None = None) -> None:
        await self.queue.agent_login(aid, centre or self.chain.home)

    async def ticket(self, booth: str, *, matter: str | None = None, intake: str | None = None) -> str:
        res = await self.queue.request_service(booth=booth, intake_centre=intake or self.chain.intake,
                                               matter=matter or self.chain.matter, consent=True)
        return str(res.ok["sid"])


@pytest.fixture
def dash_factory(start_server: Any, make_settings: Callable[..., Settings],
                 chain: Chain) -> Callable[..., Awaitable[Dash]]:
    """Start a server whose clock the test moves; the queue's timers never fire by themselves."""

    async def make(clock: Clock | None = None, **overrides: Any) -> Dash:
        clock = clock or Clock(T0)
        base: dict[str, Any] = {
            "secret": SECRET,
            "heartbeat_ttl_seconds": 86_400, "wrap_up_seconds": 600, "widen_seconds": 60,
            "offer_timeout_seconds": 20, "service_level_seconds": 60, "short_abandon_seconds": 10,
            "wait_alarm_seconds": 300, "handle_alarm_seconds": 300,
        }
        base.update(overrides)
        settings = make_settings(**base)
        app = create_app(settings, clock=clock)
        srv = await start_server(app=app)
        assert srv.app[CATALOGUE].has_centre(chain.home)
        return Dash(srv, clock, chain)

    return make
