"""Materials over HTTP: upload a still, list, fetch an image variant, the PDF, the ID-card page.

Who: the session's booth (its device agent or kiosk) with ``Authorization: Bearer <booth
token>`` (and ``X-Booth: <booth id>``), or staff with the login cookie. Handlers parse, call
``MaterialService`` and dump; every error is the one shape of ``http/errors.py``.

The upload body is read as a stream and never beyond ``RW_MAX_UPLOAD_BYTES``: aiohttp's own
``client_max_size`` only guards ``read()``/``json()``, and buffering a 100 MB body to find out
it is too big is what an attacker would hope for.
"""

from __future__ import annotations

import re

from aiohttp import web

from window_server.appkeys import ACCOUNTS, MATERIALS, MATERIALS_LIVE, STORE
from window_server.documents.sniff import check_magic
from window_server.domain.auth import InvalidToken, Principal, Role
from window_server.domain.errors import InvalidInput, NotFound, TooLarge, UnsupportedMedia
from window_server.domain.recognition import MASKED_HEADER
from window_server.http.access import logged
from window_server.http.auth import json_object, require_user
from window_server.http.client import WHO
from window_server.materials.service import Blob

routes = web.RouteTableDef()

CHUNK = 256 * 1024
MAX_SID = 32
_SID = re.compile(r"[A-Za-z0-9_-]{1,32}")
_UPLOAD_TYPES = frozenset({"image/jpeg", "image/png", "application/octet-stream"})
_PRIVATE = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}
ID_FIELDS_VARIANT = "id_fields"  # how a view of a card's fields is named in the access log


def _sid(request: web.Request) -> str:
    sid = request.match_info["sid"]
    if not _SID.fullmatch(sid):
        raise NotFound(f"no session {sid[:32]!r}", code="unknown_session", field="sid")
    return sid


def _query(request: web.Request, name: str, max_len: int = 64) -> str:
    value = request.query.get(name, "")
    if len(value) > max_len:
        raise InvalidInput(f"{name} is longer than {max_len} characters", field=name)
    return value


async def caller(request: web.Request, sid: str) -> Principal:
    """The booth (bearer token) or the logged-in member of staff (cookie) asking about ``sid``."""
    header = request.headers.get("Authorization")
    if header is None:
        return await require_user(request)
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("send the booth token as 'Authorization: Bearer <token>'")
    booth_id = request.headers.get("X-Booth", "")
    if not booth_id:  # without X-Booth the token must be the session's own booth's
        # An unknown session has no booth: its token check fails like a wrong token's (401),
        # so the answer does not tell which session numbers exist.
        booth_id = await request.app[STORE].session_field(sid, "booth") or ""
    booth = await request.app[ACCOUNTS].verify_booth(booth_id, token.strip())
    request[WHO] = f"booth:{booth.booth}"  # named in the security trail if this request is refused
    return Principal(role=Role.DEVICE, subject=booth.booth, centre=booth.centre, name=booth.name)


async def read_limited(request: web.Request, cap: int, what: str) -> bytes:
    """Read the body as a stream and refuse it (413) past ``cap`` bytes; the rest is never kept."""
    limit = f"{what} is larger than the limit of {cap:,} bytes"
    if request.content_length is not None and request.content_length > cap:
        raise TooLarge(limit)
    parts: list[bytes] = []
    total = 0
    async for part in request.content.iter_chunked(CHUNK):
        total += len(part)
        if total > cap:
            raise TooLarge(limit)
        parts.append(part)
    return b"".join(parts)


async def read_capped(request: web.Request, cap: int) -> bytes:
    """Read the body as a stream: refuse a non-image on its first bytes and stop past ``cap``."""
    if request.content_type not in _UPLOAD_TYPES:
        raise UnsupportedMedia("send the still as image/jpeg or image/png")
    limit = f"the still is larger than the limit of {cap:,} bytes"
    if request.content_length is not None and request.content_length > cap:
        raise TooLarge(limit)
    chunks: list[bytes] = []
    total = 0
    head = b""
    async for chunk in request.content.iter_chunked(CHUNK):
        if len(head) < 8:
            head += chunk[: 8 - len(head)]
            check_magic(head)  # 415 on the first bytes, before reading the rest
        total += len(chunk)
        if total > cap:
            raise TooLarge(limit)  # stop here; the rest is drained unread, never kept
        chunks.append(chunk)
    check_magic(head)
    return b"".join(chunks)


@routes.post("/api/sessions/{sid}/materials")
async def upload(request: web.Request) -> web.StreamResponse:
    """Store a still for a session the caller serves or sits at; 201 with the checked material."""
    sid = _sid(request)
    kind, camera, req = _query(request, "kind"), _query(request, "camera"), _query(request, "request")
    principal = await caller(request, sid)
    service = request.app[MATERIALS]
    parties = await service.admit_upload(principal, sid, kind, camera, req)
    with service.upload_slot(parties):  # per session and per booth: 429 too_many_uploads
        async with service.body_slot():  # bounds the bodies held in memory at once
            data = await read_capped(request, service.limits.max_bytes)
            added = await service.upload(principal, parties, kind=kind, camera=camera, request=req, data=data)
    live = request.app[MATERIALS_LIVE]
    await live.added(added.material, booth=added.booth, agent=added.agent)
    service.recognise_later(added, live.recognised)  # the class, the card's fields, the masked rendition follow
    return web.json_response({"material": added.material}, status=201, headers=_PRIVATE)


@routes.get("/api/sessions/{sid}/materials")
async def list_materials(request: web.Request) -> web.StreamResponse:
    """Every material of the session, oldest first, with the specialist's current verdict."""
    sid = _sid(request)
    principal = await caller(request, sid)
    materials = await request.app[MATERIALS].list(principal, sid)
    return web.json_response({"materials": materials}, headers=_PRIVATE)


@routes.get("/api/sessions/{sid}/materials/{material_id}/id-fields", allow_head=False)  # before {variant}
async def id_fields(request: web.Request) -> web.StreamResponse:
    """The fields read off an ID card, in full: the specialist holding the session only (logged)."""
    sid = _sid(request)
    material_id = request.match_info["material_id"]
    fields = await logged(request, sid, "still", f"{material_id[:32]}/{ID_FIELDS_VARIANT}", lambda: caller(request, sid),
                          lambda p: request.app[MATERIALS].id_fields(p, sid, material_id))
    return web.json_response(fields, headers=_PRIVATE)


@routes.get("/api/sessions/{sid}/materials/{material_id}/masked", allow_head=False)
async def masked(request: web.Request) -> web.StreamResponse:
    """The masked rendition: the corrected page with the ID number and the photo blacked out."""
    return await _variant(request, "masked")


@routes.get("/api/sessions/{sid}/materials/{material_id}/{variant}", allow_head=False)  # a view is a GET
async def variant(request: web.Request) -> web.StreamResponse:
    """One image: original, corrected, thumb or masked (the view is recorded before it is sent)."""
    return await _variant(request, request.match_info["variant"])


async def _variant(request: web.Request, which: str) -> web.StreamResponse:
    sid = _sid(request)
    material_id = request.match_info["material_id"]
    blob = await logged(request, sid, "still", f"{material_id[:32]}/{which[:16]}", lambda: caller(request, sid),
                        lambda p: request.app[MATERIALS].variant(p, sid, material_id, which))
    return web.Response(body=blob.data, content_type=blob.content_type, headers=_headers(blob))


@routes.get("/api/sessions/{sid}/materials.pdf", allow_head=False)
async def materials_pdf(request: web.Request) -> web.StreamResponse:
    """The accepted materials' corrected pages in one PDF (the view is recorded)."""
    sid = _sid(request)
    pdf = await logged(request, sid, "pdf", "materials.pdf", lambda: caller(request, sid),
                       lambda p: request.app[MATERIALS].pdf(p, sid))
    headers = {**_headers(pdf), "Content-Disposition": f'inline; filename="{sid}-materials.pdf"'}
    return web.Response(body=pdf.data, content_type=pdf.content_type, headers=headers)


def _headers(blob: Blob) -> dict[str, str]:
    """Private, never cached; ``X-RW-Masked: 1`` when the ID number and photo are blacked out."""
    return {**_PRIVATE, MASKED_HEADER: "1"} if blob.masked else _PRIVATE


@routes.post("/api/sessions/{sid}/materials/id-merge")
async def id_merge(request: web.Request) -> web.StreamResponse:
    """Both sides of an ID card on one page, kept as a material of kind id_card_merged."""
    sid = _sid(request)
    principal = await caller(request, sid)
    body = await json_object(request)
    front, back = body.get("front"), body.get("back")
    for name, value in (("front", front), ("back", back)):
        if not isinstance(value, str) or len(value) > 32:
            raise InvalidInput(f"{name} must be a material id", field=name)
    assert isinstance(front, str) and isinstance(back, str)
    added = await request.app[MATERIALS].merge_id_card(principal, sid, front, back)
    await request.app[MATERIALS_LIVE].added(added.material, booth=added.booth, agent=added.agent)
    return web.json_response({"material": added.material}, status=201, headers=_PRIVATE)
