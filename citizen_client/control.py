"""The device agent's control API for the kiosk page: on 127.0.0.1 only, never another interface.

    GET /status       connected, registered, session, camera, preview peer and fps
    GET /preview.jpg  the document camera's current view, a 640 px JPEG thumbnail

The thumbnail can show an ID card, so three fences keep it on the booth: the socket is bound to
127.0.0.1 (other machines cannot connect), the Host header must name 127.0.0.1 or localhost
(a web page cannot reach it by DNS rebinding), and CORS answers only the kiosk page's origin
(another page in the booth's browser cannot read it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from citizen_client.agent import DeviceAgent
from citizen_client.camera import CameraError, thumbnail_jpeg

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
THUMBNAIL_MAX_AGE_S = 0.2  # the kiosk polls a few times a second; encode at most 5 per second

AGENT = web.AppKey("agent", DeviceAgent)
ORIGINS = web.AppKey("origins", frozenset[str])
CACHE = web.AppKey("thumbnail", dict[str, object])

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class NotLoopback(ValueError):
    """The control API was asked to listen on something other than 127.0.0.1."""


@web.middleware
async def fences(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse foreign Host headers; answer CORS for the kiosk's origin only; never cache."""
    host = (request.host or "").rsplit(":", 1)[0].strip("[]").lower()
    if host not in (LOOPBACK, "localhost"):
        return web.json_response({"error": {"code": "forbidden", "message": "loopback only"}}, status=403)
    origin = request.headers.get("Origin")
    allowed = origin is not None and origin.rstrip("/") in request.app[ORIGINS]
    if request.method == "OPTIONS":
        resp: web.StreamResponse = web.Response(status=204 if allowed else 403)
    else:
        resp = await handler(request)
    if allowed and origin is not None:
        resp.headers["Access-Control-Allow-Origin"] = origin
        resp.headers["Vary"] = "Origin"
        resp.headers["Access-Control-Allow-Methods"] = "GET"
        resp.headers["Access-Control-Max-Age"] = "600"
        # Chromium's Private Network Access: a page served from the hall's server asks first.
        if request.headers.get("Access-Control-Request-Private-Network") == "true":
            resp.headers["Access-Control-Allow-Private-Network"] = "true"
    resp.headers["Cache-Control"] = "no-store"
    return resp


async def status(request: web.Request) -> web.StreamResponse:
    """The agent's state for the kiosk (and for a hall technician with curl)."""
    return web.json_response(request.app[AGENT].status())


async def preview_jpg(request: web.Request) -> web.StreamResponse:
    """The latest preview frame (the one being streamed, or a fresh one) as a small JPEG."""
    agent = request.app[AGENT]
    cache = request.app[CACHE]
    now = time.monotonic()
    stamp = cache.get("at")
    if isinstance(stamp, float) and now - stamp < THUMBNAIL_MAX_AGE_S and isinstance(cache.get("jpeg"), bytes):
        body = cache["jpeg"]
    else:
        frame = agent.meter.last if agent.meter.fps > 0 else None
        try:
            if frame is None:
                frame = await agent.camera.preview_frame()
        except CameraError as exc:
            return web.json_response({"error": {"code": "camera_error", "message": str(exc)}}, status=503)
        body = await asyncio.to_thread(thumbnail_jpeg, frame)
        cache.update(at=now, jpeg=body)
    assert isinstance(body, bytes)
    return web.Response(body=body, content_type="image/jpeg")


async def preflight(request: web.Request) -> web.StreamResponse:
    """CORS preflight; the fences middleware answers it (204 for the kiosk's origin, else 403)."""
    return web.Response(status=204)


def control_app(agent: DeviceAgent, origins: frozenset[str]) -> web.Application:
    app = web.Application(middlewares=[fences])
    app[AGENT] = agent
    app[ORIGINS] = frozenset(o.rstrip("/") for o in origins)
    app[CACHE] = {}
    app.router.add_get("/status", status)
    app.router.add_get("/preview.jpg", preview_jpg)
    app.router.add_route("OPTIONS", "/{tail:.*}", preflight)
    return app


async def start_control(agent: DeviceAgent, port: int, *, origins: frozenset[str],
                        host: str = LOOPBACK) -> tuple[web.AppRunner, int]:
    """Listen on 127.0.0.1:port (0 picks a free port); refuse any other address."""
    if host != LOOPBACK:
        raise NotLoopback(f"the control API listens on {LOOPBACK} only, not {host!r}")
    runner = web.AppRunner(control_app(agent, origins), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, LOOPBACK, port, reuse_address=True)
    await site.start()
    bound = runner.addresses[0]
    if bound[0] != LOOPBACK:  # belt and braces: what the kernel actually bound
        await runner.cleanup()
        raise NotLoopback(f"the control API ended up on {bound[0]}")
    log.info("control API on http://%s:%d (origins: %s)", LOOPBACK, bound[1], ", ".join(sorted(origins)))
    return runner, int(bound[1])
