"""Evidence fixtures: a real server with a held session, a seal key, and a session played to its end.

``ended`` plays one session the way a day at the hall does: two stills (one accepted), a note, a
recorded leg of three WebM chunks, completed and rated; then it is sealed. Everything is real:
the server, Redis, the document workers, the recording service.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.materials.conftest import Env, Stills, held_session, new_env, stills  # noqa: F401  (fixtures)
from tests.recording.conftest import chunks  # noqa: F401  (fixtures)
from tests.signaling.conftest import SECRET, catalogue, demo  # noqa: F401  (fixtures)
from window_server.app import create_app
from window_server.appkeys import MATERIALS, STORE
from window_server.evidence.keys import write_new_key
from window_server.settings import Settings


@pytest.fixture(scope="session")
def seal_key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_new_key(tmp_path_factory.mktemp("evidence-key") / "seal-key.pem")


@pytest.fixture
def make_app(make_settings: Callable[..., Settings], seal_key_file: Path) -> Callable[..., web.Application]:
    """An application whose node never seals on its own: the tests call the sealer."""

    def make(**overrides: Any) -> web.Application:
        settings = make_settings(secret=SECRET, document_workers=1, evidence_key=str(seal_key_file),
                                 **{"seal_grace_seconds": 0, "seal_interval_seconds": 3600,  # the tests seal
                                    **overrides})
        return create_app(settings)

    return make


@dataclass
class Ended:
    """An ended, sealed session, its server, and what went into it."""

    env: Env
    stills: list[dict[str, Any]]
    chunks: list[bytes]

    @property
    def sid(self) -> str:
        return self.env.sid


async def put_chunks(env: Env, data: list[bytes], sid: str | None = None) -> None:
    """Record one leg: open a segment, upload the chunks, end it (as the kiosk does)."""
    sid = sid or env.sid
    base = f"{env.url}/api/sessions/{sid}/recording/segments"
    h = env.booth_headers()
    async with env.srv.http.post(base, json={"mime": "video/webm;codecs=vp8,opus", "width": 1280, "height": 720},
                                 headers=h) as resp:
        assert resp.status == 201, await resp.text()
        n = (await resp.json())["segment"]["n"]
    for seq, chunk in enumerate(data):
        async with env.srv.http.put(f"{base}/{n}/chunks/{seq}", params={"t": str((seq + 1) * 1000)}, data=chunk,
                                    headers={**h, "Content-Type": "video/webm"}) as resp:
            assert resp.status == 201, await resp.text()
    async with env.srv.http.post(f"{base}/{n}/end", json={"chunks": len(data), "t": len(data) * 1000},
                                 headers=h) as resp:
        assert resp.status == 200, await resp.text()


async def play_to_the_end(env: Env, stills_: Stills, chunks_: list[bytes], *, sid: str | None = None) -> list[dict[str, Any]]:
    """Two stills (the first accepted), a note, a recorded leg; completed and rated."""
    sid = sid or env.sid
    added = []
    for data in (stills_.good, stills_.cut_off):
        status, body = await env.upload(data, sid=sid)
        assert status == 201, body
        added.append(body["material"])
    mstore = env.app[MATERIALS].store
    await mstore.verdict(sid, env.agent, added[0]["id"], "accepted", "")
    await mstore.verdict(sid, env.agent, added[1]["id"], "rejected", "cut_off")
    store = env.app[STORE]
    await store.annotate(env.agent, sid, "note", text="材料齐全 all there")
    await put_chunks(env, chunks_, sid)
    await store.complete(env.agent, sid, outcome="consultation")
    booth = (await store.session(sid))["booth"]
    await store.rate(sid, booth, 5)
    return added


@pytest.fixture
async def make_env(start_server: Callable[..., Awaitable[Any]], make_app: Callable[..., web.Application],
                   demo: dict[str, str]) -> Callable[..., Awaitable[Env]]:  # noqa: F811
    async def make(**overrides: Any) -> Env:
        return await new_env(await start_server(app=make_app(**overrides)), demo, "bth-ev-1", "spec-ev-1")

    return make


@pytest.fixture
async def env(make_env: Callable[..., Awaitable[Env]]) -> Env:
    return await make_env()


@pytest.fixture
async def ended(env: Env, stills: Stills, chunks: list[bytes]) -> Ended:  # noqa: F811
    added = await play_to_the_end(env, stills, chunks)
    return Ended(env, added, chunks)
