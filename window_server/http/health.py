"""Liveness and readiness probes for load balancers and operators."""

from __future__ import annotations

import asyncio

from aiohttp import web
from redis.exceptions import RedisError

from window_server.appkeys import REDIS, SETTINGS
from window_server.http.errors import error_response
from window_server.store.client import ping

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """The process is up and serving."""
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    """Ready when Redis answers PING within the Redis timeout."""
    settings = request.app[SETTINGS]
    try:
        async with asyncio.timeout(settings.redis_timeout):
            await ping(request.app[REDIS])
    except (RedisError, OSError, TimeoutError):
        return error_response(503, "redis_unavailable", "Redis does not answer")
    return web.json_response({"status": "ready"})
