"""Signing fixtures: a real server (seal key, document workers) with a held session, socket.io clients."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.evidence.conftest import env, make_app, make_env, seal_key_file  # noqa: F401  (fixtures)
from tests.materials.conftest import Env, stills  # noqa: F401  (fixtures)
from tests.recording.conftest import chunks  # noqa: F401  (fixtures)
from tests.signaling.conftest import Client, catalogue, clients, demo, token  # noqa: F401  (fixtures)
from window_server.domain.auth import Role

#: A signature as a finger would draw it on a 900×300 pad: two strokes, time never going back.
STROKES = [[[40.0, 200.0, 0], [120.5, 90.0, 40], [200.0, 210.0, 80], [280.0, 80.0, 120]],
           [[350.0, 150.0, 400], [520.0, 160.0, 460], [700.0, 120.0, 520]]]


@dataclass
class Parties:
    """The session's specialist and booth on /agent and /booth."""

    env: Env
    agent: Client
    booth: Client

    async def ask(self, doc: str = "commitment") -> dict[str, Any]:
        """The specialist asks; the booth receives the document: both answers."""
        ack = await self.agent.ok("sign_request", {"sid": self.env.sid, "doc": doc})
        pushed = await self.booth.next("sign_request", lambda d: d["request_id"] == ack["request_id"])
        return {"ack": ack, "pushed": pushed}

    async def upload(self, body: Any, headers: dict[str, str] | None = None, *, raw: bytes | None = None,
                     content_type: str = "application/json") -> tuple[int, Any]:
        h = {**(headers if headers is not None else self.env.booth_headers()), "Content-Type": content_type}
        url = f"{self.env.url}/api/sessions/{self.env.sid}/signatures"
        data = io.BytesIO(raw if raw is not None else json.dumps(body).encode())
        async with self.env.srv.http.post(url, data=data, headers=h) as resp:
            return resp.status, await resp.json()


@pytest.fixture
async def parties(env: Env, clients: Callable[[str], Client]) -> Parties:  # noqa: F811
    agent, booth = clients("/agent"), clients("/booth")
    await agent.connect(env.url, token(Role.SPECIALIST, env.agent, env.demo["home_centre"], "/agent"))
    await booth.connect(env.url, token(Role.BOOTH, env.booth, env.demo["intake_centre"], "/booth"))
    return Parties(env, agent, booth)


