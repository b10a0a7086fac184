"""Wiring signing into an application: its service (under ``SIGNING``) in a cleanup context.

``setup(app)`` must run before ``evidence_http.setup`` (the sealer reads the signatures) and after
the materials' context (the session's parties and matter come from there). The composition root
adds the HTTP routes (``window_server/http/signing.py``) and registers the socket.io handlers
(``handlers.register``) once the hub exists.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web

from signaling import protocol as P
from window_server.appkeys import CATALOGUE, HUB, MATERIALS, REDIS, SETTINGS, STORE
from window_server.signing.service import SIGNING, SigningService
from window_server.signing.store import SigningStore
from window_server.store.blobs import FileBlobStore


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(_signing_ctx)


async def _signing_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]

    async def notify(event: str, payload: dict[str, Any], role: str, subject: str) -> None:
        hub = app.get(HUB)  # built after this context, in signaling's
        if hub is not None:
            await hub.emit(event, payload, P.AGENT if role == "agent" else P.BOOTH, f"{role}:{subject}")

    materials = app[MATERIALS]
    app[SIGNING] = SigningService(
        store=SigningStore(app[REDIS]),
        blobs=FileBlobStore(Path(settings.data_dir) / "evidence"),  # with the seal-time items (the package's store)
        catalogue=app[CATALOGUE], parties=materials.parties, matter_of=materials.matter_of,
        clock=app[STORE].now_ms, tz=settings.timezone, notify=notify)
    yield
