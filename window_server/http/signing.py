"""Signatures over HTTP: the kiosk uploads the strokes; staff list them and fetch the signed PDF.

``POST /api/sessions/{sid}/signatures`` comes from the session's booth only (``Authorization:
Bearer <booth token>``, ``X-Booth``, as the recording's chunks do), with a JSON body of at most
``MAX_BODY_BYTES`` read as a stream; 201 once the strokes and the PDF are fsynced and the
signature recorded and chained (200 for a repeat of the same strokes). The list and the PDF follow
the stills' rules (the booth only while the session is open); every list, every PDF and every
refusal is in the access log before anything is sent.
"""

from __future__ import annotations

import json

from aiohttp import web

from window_server.domain.errors import InvalidInput, UnsupportedMedia
from window_server.domain.signing import MAX_BODY_BYTES
from window_server.http.access import logged
from window_server.http.materials import _sid, caller, read_limited
from window_server.signing.service import SIGNING, public

routes = web.RouteTableDef()

_PRIVATE = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}


async def _body(request: web.Request) -> object:
    if request.content_type != "application/json":
        raise UnsupportedMedia("send the signature as application/json")
    body = await read_limited(request, MAX_BODY_BYTES, "the signature")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("the body is not valid JSON") from None


@routes.post("/api/sessions/{sid}/signatures")
async def sign(request: web.Request) -> web.StreamResponse:
    """Store a signature of a pending sign request: 201 once it is on disk, recorded and chained."""
    sid = _sid(request)
    principal = await caller(request, sid)
    service = request.app[SIGNING]
    await service.admit(principal, sid)  # before the body is read
    signed = await service.sign(principal, sid, await _body(request))
    return web.json_response({"signature": public(signed.signature)}, status=201 if signed.created else 200,
                             headers=_PRIVATE)


@routes.get("/api/sessions/{sid}/signatures")
async def listing(request: web.Request) -> web.StreamResponse:
    """The session's signatures, oldest first, and its pending sign requests (logged)."""
    sid = _sid(request)
    service = request.app[SIGNING]
    body = await logged(request, sid, "signature_list", "", lambda: caller(request, sid),
                        lambda p: service.listing(p, sid))
    return web.json_response(body, headers=_PRIVATE)


@routes.get("/api/sessions/{sid}/signatures/{id}.pdf", allow_head=False)
async def pdf(request: web.Request) -> web.StreamResponse:
    """One signed PDF (the view is logged before it is sent)."""
    sid = _sid(request)
    sig_id = request.match_info["id"][:32]
    service = request.app[SIGNING]
    data = await logged(request, sid, "signature", sig_id, lambda: caller(request, sid),
                        lambda p: service.pdf(p, sid, sig_id))
    headers = {**_PRIVATE, "Content-Disposition": f'inline; filename="{sid}-{sig_id}.pdf"'}
    return web.Response(body=data, content_type="application/pdf", headers=headers)
