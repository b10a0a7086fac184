"""Materials fixtures: a real server and Redis, a held session, booth and staff credentials, stills.

The stills are synthetic document-camera scenes (the one stand-in in the suite): ``stills`` the
old Latin-lettered pages (what the quality checks were tuned on), ``cards`` real-looking ID cards
with Chinese text (``citizen_client.synthetic_documents``) for the recognition. Sessions are put
in service through the real queue service; staff logins are real web sessions (the password
hash is skipped: argon2 would cost more than the tests themselves).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from aiohttp import web

from citizen_client import synthetic_documents as sd
from citizen_client import synthetic_scene as ss
from tests.signaling.conftest import SECRET, catalogue, clients, demo  # noqa: F401  (fixtures)
from window_server.appkeys import ACCOUNTS, QUEUE, REDIS, SETTINGS, STORE
from window_server.documents.codec import encode_jpeg
from window_server.domain.auth import Role
from window_server.domain.idcard import LONG_TERM, sides_belong
from window_server.store.keys import key


@dataclass(frozen=True)
class Stills:
    good_8mp: bytes
    good: bytes  # 2 MP, for tests that only need a still
    cut_off: bytes
    card_front: bytes
    card_back: bytes


@pytest.fixture(scope="session")
def stills() -> Stills:
    def shot(kind: str, w: int, h: int, seed: int, **spec: Any) -> bytes:
        rng = np.random.default_rng(seed)
        base = ss.random_spec(rng, aspect=w / h, **spec)
        scene, _ = ss.render_shot(kind, w, h, rng, spec=base)
        return encode_jpeg(scene.image, quality=90)

    return Stills(
        good_8mp=shot("good", 3264, 2448, 5, document="a4_form", fingertip=False, clutter=0),
        good=shot("good", 1600, 1200, 6, document="a4_form", fingertip=False, clutter=0),
        cut_off=shot("cut_off", 1600, 1200, 7, document="a4_form", fingertip=False, clutter=0),
        card_front=shot("good", 1600, 1200, 11, document="id_card", fingertip=False, clutter=0, rotation=5.0),
        card_back=shot("good", 1600, 1200, 12, document="id_card", fingertip=False, clutter=0, rotation=-4.0),
    )


@dataclass(frozen=True)
class Cards:
    """ID cards under the 高拍仪 (1600 x 1200 stills): one citizen's two sides, and faulty ones."""

    holder: sd.Identity
    front: bytes
    back: bytes
    back_other: bytes  # another citizen's emblem side: its validity cannot fit the holder's birth
    front_invalid: bytes  # a photo side whose number's check character is wrong
    invalid_number: str
    back_expired: bytes


def _far_from(until: date | str, today: date) -> bool:
    """A validity that does not end within a month of today (so a test never runs across it)."""
    return until == LONG_TERM or isinstance(until, date) and abs((until - today).days) > 31


@pytest.fixture(scope="session")
def cards() -> Cards:
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()  # the server's date for "expired"

    def who(seed: int, ok: Callable[[sd.Identity], bool], **kw: Any) -> sd.Identity:
        rng = np.random.default_rng(seed)
        while not ok(person := sd.make_identity(rng, today=today, **kw)) or not _far_from(person.valid_until, today):
            pass
        return person

    def shot(document: str, person: sd.Identity, seed: int) -> bytes:
        scene, _ = ss.labelled_scene(document, np.random.default_rng(seed), 1600, 1200, identity=person,
                                     fingertip=False, clutter=0, coverage=0.3)
        return encode_jpeg(scene.image, quality=90)

    holder = who(31, lambda p: True)
    other = who(32, lambda p: sides_belong(holder.birth, p.valid_from, p.valid_until) is False)
    invalid = who(33, lambda p: True, valid=False)
    expired = who(34, lambda p: True, expired=True)
    assert isinstance(expired.valid_until, date) and expired.valid_until < today - timedelta(days=1)
    return Cards(holder=holder, front=shot("id_card_front", holder, 41), back=shot("id_card_back", holder, 42),
                 back_other=shot("id_card_back", other, 43), front_invalid=shot("id_card_front", invalid, 44),
                 invalid_number=invalid.number, back_expired=shot("id_card_back", expired, 45))


@dataclass
class Env:
    """One running server with a held session: its booth, its specialist, and how to reach them."""

    srv: Any
    sid: str
    booth: str
    booth_token: str
    agent: str
    agent_cookie: str
    demo: dict[str, str]

    @property
    def app(self) -> web.Application:
        app: web.Application = self.srv.app
        return app

    @property
    def url(self) -> str:
        return str(self.srv.url)

    @property
    def materials_dir(self) -> Path:
        return Path(self.app[SETTINGS].data_dir) / "materials"

    def booth_headers(self, booth: str | None = None, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.booth_token}", "X-Booth": booth or self.booth}

    @staticmethod
    def cookie(value: str) -> dict[str, str]:
        return {"Cookie": f"rw_session={value}"}

    async def staff(self, username: str, role: Role | str, centre: str) -> str:
        """A member of staff with a live login; returns the cookie value."""
        accounts = self.app[ACCOUNTS]
        user = accounts.validate_user(username, role, centre)
        await accounts._insert_user(user, "$argon2id$not-a-real-hash")
        return await accounts.create_web_session(user)

    async def upload(self, data: Any, *, kind: str = "application_form", camera: str = "main",
                     request: str = "", headers: dict[str, str] | None = None, sid: str | None = None,
                     content_type: str = "image/jpeg") -> tuple[int, Any]:
        params = {"kind": kind, "camera": camera, **({"request": request} if request else {})}
        h = {"Content-Type": content_type, **(headers if headers is not None else self.booth_headers())}
        async with self.srv.http.post(f"{self.url}/api/sessions/{sid or self.sid}/materials", params=params,
                                      data=data, headers=h) as resp:
            body = await resp.json() if resp.content_type == "application/json" else await resp.read()
            return resp.status, body

    async def get(self, path: str, headers: dict[str, str]) -> tuple[int, Any, Any]:
        async with self.srv.http.get(f"{self.url}/api/sessions/{self.sid}{path}", headers=headers) as resp:
            body = await resp.json() if resp.content_type == "application/json" else await resp.read()
            return resp.status, body, resp.headers

    async def events(self, act: str | None = None) -> list[dict[str, str]]:
        evs = await self.app[STORE].session_events(self.sid)
        return [e for e in evs if act is None or e.get("act") == act]

    async def records(self) -> dict[str, Any]:
        raw = await self.app[REDIS].hgetall(key("materials", sid=self.sid))
        return {k: json.loads(v) for k, v in raw.items()}

    def blob_files(self) -> list[Path]:
        return sorted(p for p in self.materials_dir.rglob("*") if p.is_file()) if self.materials_dir.exists() else []

    async def nothing_stored(self) -> None:
        """No blob on disk, no record in Redis, no material event."""
        assert self.blob_files() == []
        assert await self.records() == {}
        assert await self.events("material_added") == []


async def held_session(app: web.Application, places: dict[str, str], booth: str, agent: str) -> str:
    """Queue a ticket at ``booth`` and let ``agent`` (of the home centre) accept it."""
    queue, store = app[QUEUE], app[STORE]
    await queue.agent_login(agent, places["home_centre"])
    ticket = await queue.request_service(booth=booth, intake_centre=places["intake_centre"],
                                         matter=places["matter"], consent=True)
    sid = ticket.ok["sid"]
    await store.presence(agent, "available")
    assert (await store.session(sid))["offer_agent"] == agent
    await store.accept(agent, sid)
    return str(sid)


@pytest.fixture
async def make_env(start_server: Callable[..., Awaitable[Any]], demo: dict[str, str]) -> Callable[..., Awaitable[Env]]:  # noqa: F811
    async def make(**overrides: Any) -> Env:
        settings = {"secret": SECRET, "document_workers": 1, **overrides}
        return await new_env(await start_server(**settings), demo, "bth-mat-1", "spec-mat-1")

    return make


async def new_env(srv: Any, places: dict[str, str], booth: str, agent: str) -> Env:
    """A booth and a specialist with a live login on ``srv``, holding a new session."""
    _record, booth_token = await srv.app[ACCOUNTS].add_booth(booth, places["intake_centre"])
    sid = await held_session(srv.app, places, booth, agent)
    env = Env(srv, sid, booth, booth_token, agent, "", places)
    env.agent_cookie = await env.staff(agent, Role.SPECIALIST, places["home_centre"])
    return env


@pytest.fixture
async def env(make_env: Callable[..., Awaitable[Env]]) -> Env:
    return await make_env()
