"""Sealed evidence over HTTP: the package of a session, and the public key that verifies it.

``GET /api/sessions/{sid}/evidence`` answers the zip (``window_server/evidence/package.py``) to
staff who may see the session's recording (its specialists, its centres' managers; never a
booth), once it is sealed (else 409 ``evidence_unsealed``). Every download and every refusal is
in the access log (action ``evidence``) before anything is sent. ``GET /api/evidence/public-key``
answers the seal key's public half (PEM) to anyone: it is what ``evidence verify`` needs.

``setup(app)`` loads the seal key (refusing to build the app without one when RW_DEMO=false),
adds the routes and a context that builds the ``Sealer`` and runs it in the background.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from window_server.appkeys import ACCESS, DOCUMENTS, MATERIALS, RECORDING, REDIS, SETTINGS, STORE
from window_server.domain import errors
from window_server.domain.auth import Principal
from window_server.domain.materials import viewer_tag
from window_server.domain.recording import may_play
from window_server.evidence.keys import SealKey, load_seal_key
from window_server.evidence.package import EvidenceUnsealed, export
from window_server.evidence.seal_store import SealStore
from window_server.evidence.sealer import Sealer, run_sealer
from window_server.http.client import WHO, client_address
from window_server.http.materials import _sid, caller
from window_server.runtime.tasks import stop_tasks
from window_server.store.access_log import Access

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

READ = 1 << 20
_PRIVATE = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}


@dataclass(frozen=True)
class Evidence:
    """The node's sealer and what the routes need of it."""

    sealer: Sealer
    key: SealKey

    @property
    def seals(self) -> SealStore:
        return self.sealer.seals


EVIDENCE = web.AppKey("evidence", Evidence)
SEAL_KEY = web.AppKey("seal_key", SealKey)


def setup(app: web.Application, *, interval: float | None = None) -> None:
    """Load the seal key (raise EvidenceKeyError), add the routes and the sealer's context.

    Call it after the materials' and the recording's contexts are appended.
    """
    app[SEAL_KEY] = load_seal_key(app[SETTINGS])
    app.cleanup_ctx.append(lambda a: _evidence_ctx(a, interval or app[SETTINGS].seal_interval_seconds))
    app.add_routes(routes)


async def _evidence_ctx(app: web.Application, interval: float) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    sealer = Sealer(seals=SealStore(app[REDIS]), sessions=app[STORE], materials=app[MATERIALS].store,
                    pdf=app[DOCUMENTS], finalize=app[RECORDING].finalize, key=app[SEAL_KEY],
                    data_dir=Path(settings.data_dir), tz=settings.timezone)
    app[EVIDENCE] = Evidence(sealer, app[SEAL_KEY])
    task = asyncio.create_task(run_sealer(sealer, interval), name="evidence-sealer")
    yield
    await stop_tasks([task])


async def _logged_decision(request: web.Request, sid: str) -> Principal:
    """Who asks, and whether they may have the package now; the attempt is logged either way."""
    principal: Principal | None = None
    try:
        principal = await caller(request, sid)
        try:
            parties = await request.app[MATERIALS].parties(sid)
        except errors.NotFound:  # an unknown session is answered like another's: no probing
            parties = None
        if parties is None or not may_play(principal, parties):
            raise errors.Forbidden(f"you may not have the evidence of session {sid}", code="not_member", field="sid")
        if await request.app[EVIDENCE].seals.seal_seq(sid) is None:
            raise EvidenceUnsealed(f"the evidence of session {sid} is not sealed yet: it is sealed "
                                   "RW_SEAL_GRACE_SECONDS after the session ends")
    except errors.RemoteWindowError as exc:
        await _access(request, sid, principal, allowed=False, code=exc.code)
        raise
    await _access(request, sid, principal, allowed=True)
    return principal


async def _access(request: web.Request, sid: str, principal: Principal | None, *, allowed: bool,
                  code: str = "") -> None:
    who = viewer_tag(principal) if principal else request.get(WHO, "-")
    await request.app[ACCESS].record(Access(
        who=who, role=principal.role.value if principal else "", centre=principal.centre if principal else "",
        action="evidence", sid=sid, item="package", addr=client_address(request), allowed=allowed, code=code))


@routes.get("/api/sessions/{sid}/evidence", allow_head=False)  # a download is a GET
async def package(request: web.Request) -> web.StreamResponse:
    """The sealed evidence package of the session (a zip)."""
    sid = _sid(request)
    principal = await _logged_decision(request, sid)
    ev = request.app[EVIDENCE]
    out = Path(request.app[SETTINGS].data_dir) / "evidence" / "exports" / f"{sid}-{secrets.token_hex(8)}.zip"
    try:
        done = await export(ev.seals, ev.sealer.blobs, sid, out)
        log.info("evidence package of session %s sent to %s (%d items)", sid, viewer_tag(principal), done.items)
        resp = web.StreamResponse(headers={
            **_PRIVATE, "Content-Type": "application/zip",
            "Content-Disposition": f'attachment; filename="{sid}-evidence.zip"'})
        resp.content_length = out.stat().st_size
        await resp.prepare(request)
        with out.open("rb") as f:
            while chunk := await asyncio.to_thread(f.read, READ):
                await resp.write(chunk)
        await resp.write_eof()
        return resp
    finally:
        out.unlink(missing_ok=True)


@routes.get("/api/evidence/public-key")
async def public_key(request: web.Request) -> web.StreamResponse:
    """The public half of the seal key (PEM): what ``evidence verify --public-key`` needs."""
    key = request.app[SEAL_KEY]
    return web.Response(body=key.public_pem, content_type="application/x-pem-file",
                        headers={"X-Key-Id": key.id, "Cache-Control": "public, max-age=300"})
