"""Recordings over HTTP: open a segment, upload a chunk, end it; list, and play back a segment.

Uploads come from the session's booth (``Authorization: Bearer <booth token>``, ``X-Booth``) or
the specialist holding it (cookie), as stills do; a chunk is answered only after it is fsynced,
recorded and chained (``RecordingService.put_chunk``). Playback is for the session's specialists
and its centres' managers; every fetch and every refusal is in the access log.
"""

from __future__ import annotations

from aiohttp import web

from window_server.appkeys import RECORDING, SETTINGS
from window_server.domain import recording as R
from window_server.domain.auth import Principal
from window_server.domain.errors import InvalidInput, UnsupportedMedia
from window_server.http.access import logged
from window_server.http.auth import json_object, require_user
from window_server.http.materials import _sid, caller, read_limited

routes = web.RouteTableDef()

_CHUNK_TYPES = frozenset({"video/webm", "audio/webm", "application/octet-stream"})
_PRIVATE = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}
MAX_T_MS = 7 * 86_400_000
MAX_MIME = 100


def _int(raw: str | None, name: str, low: int, high: int, *, default: int | None = None) -> int:
    if raw is None or raw == "":
        if default is not None:
            return default
        raise InvalidInput(f"{name} is required", field=name)
    if not raw.isdigit() or len(raw) > 12 or not low <= int(raw) <= high:
        raise InvalidInput(f"{name} must be a whole number from {low} to {high}", field=name)
    return int(raw)


def _segment(request: web.Request) -> int:
    return _int(request.match_info["n"], "n", 0, R.MAX_SEGMENTS - 1)


def _body_int(body: dict[str, object], name: str, low: int, high: int) -> int:
    value = body.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidInput(f"{name} must be a whole number from {low} to {high}", field=name)
    return value


@routes.post("/api/sessions/{sid}/recording/segments")
async def start_segment(request: web.Request) -> web.StreamResponse:
    """Open the next segment of the session's recording (a call leg with media)."""
    sid = _sid(request)
    principal = await caller(request, sid)
    body = await json_object(request)
    mime = body.get("mime", R.MIME)
    if not isinstance(mime, str) or not mime.startswith(R.MIME) or len(mime) > MAX_MIME:
        raise InvalidInput("mime must be video/webm (with its codecs)", field="mime")
    width, height = _body_int(body, "width", 1, 7680), _body_int(body, "height", 1, 4320)
    segment = await request.app[RECORDING].start_segment(principal, sid, mime=mime, width=width, height=height)
    return web.json_response({"segment": segment}, status=201, headers=_PRIVATE)


@routes.put("/api/sessions/{sid}/recording/segments/{n}/chunks/{seq}")
async def put_chunk(request: web.Request) -> web.StreamResponse:
    """Store one chunk; 201 once it is on disk, recorded and chained (200 for a repeat)."""
    sid, n = _sid(request), _segment(request)
    seq = _int(request.match_info["seq"], "seq", 0, R.MAX_CHUNKS - 1)
    t = _int(request.query.get("t"), "t", 0, MAX_T_MS)
    start = _int(request.query.get("from"), "from", 0, MAX_T_MS, default=-1)
    digest = request.headers.get("X-Content-SHA256", "").lower()[:64]
    service = request.app[RECORDING]
    principal = await caller(request, sid)
    await service.admit_chunk(principal, sid)
    data = await _read(request, request.app[SETTINGS].recording_chunk_max_bytes)
    stored = await service.put_chunk(principal, sid, n, seq, data, t=t, start=None if start < 0 else start,
                                     digest=digest)
    answer = {k: stored.chunk[k] for k in ("seq", "sha256", "size")}
    return web.json_response(answer, status=201 if stored.created else 200, headers=_PRIVATE)


async def _read(request: web.Request, cap: int) -> bytes:
    if request.content_type not in _CHUNK_TYPES:
        raise UnsupportedMedia("send the chunk as video/webm or application/octet-stream")
    data = await read_limited(request, cap, "the chunk")
    if not data:
        raise InvalidInput("the chunk is empty")
    return data


@routes.post("/api/sessions/{sid}/recording/segments/{n}/end")
async def end_segment(request: web.Request) -> web.StreamResponse:
    """Close a segment: ``chunks`` is how many were cut, ``t`` when it stopped (ms since its start)."""
    sid, n = _sid(request), _segment(request)
    principal = await caller(request, sid)
    body = await json_object(request)
    count, t = _body_int(body, "chunks", 0, R.MAX_CHUNKS), _body_int(body, "t", 0, MAX_T_MS)
    meta = await request.app[RECORDING].end_segment(principal, sid, n, count=count, t=t)
    return web.json_response({"segment": {k: meta.get(k) for k in ("n", "started_at", "count", "end_t")}},
                             headers=_PRIVATE)


@routes.get("/api/sessions/{sid}/recording")
async def recording(request: web.Request) -> web.StreamResponse:
    """The recording's segments (with gaps) and the session's timeline, for a player."""
    sid = _sid(request)
    service = request.app[RECORDING]

    async def who() -> Principal:
        return await require_user(request)

    view = await logged(request, sid, "recording_list", "", who, lambda p: service.view(p, sid))
    for seg in view["recording"]["segments"]:
        seg["url"] = f"/api/sessions/{sid}/recording/segments/{seg['n']}.webm"
    return web.json_response(view, headers=_PRIVATE)


@routes.get("/api/sessions/{sid}/recording/segments/{n}.webm", allow_head=False)
async def play(request: web.Request) -> web.StreamResponse:
    """One segment, remuxed so it seeks; Range requests are answered (206)."""
    sid, n = _sid(request), _segment(request)
    service = request.app[RECORDING]

    async def who() -> Principal:
        return await require_user(request)

    path = await logged(request, sid, "recording", f"seg{n}", who, lambda p: service.playable(p, sid, n))
    return web.FileResponse(path, headers={**_PRIVATE, "Content-Type": "video/webm"})


@routes.get("/api/recordings")
async def recordings(request: web.Request) -> web.StreamResponse:
    """Recordings the caller may play: a specialist's own, a manager's centre's; ``status=incomplete``."""
    principal = await require_user(request)
    status = request.query.get("status", "all")
    if status not in ("all", "incomplete"):
        raise InvalidInput("status is all or incomplete", field="status")
    centre = request.query.get("centre", "")[:64]
    limit = _int(request.query.get("limit"), "limit", 1, 200, default=50)
    items = await request.app[RECORDING].listing(principal, centre=centre, status=status, limit=limit)
    return web.json_response({"recordings": items}, headers=_PRIVATE)
