"""The composition root: the one place that builds concrete adapters into an application."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web
from redis.asyncio import Redis

from window_server.appkeys import REDIS, SETTINGS
from window_server.http import health
from window_server.http.errors import error_middleware
from window_server.settings import Settings

log = logging.getLogger(__name__)


def create_app(settings: Settings) -> web.Application:
    """Build the aiohttp application; resources are opened and closed by its cleanup_ctx."""
    app = web.Application(middlewares=[error_middleware], client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app.cleanup_ctx.append(_redis_ctx)
    app.add_routes(health.routes)
    return app


async def _redis_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    client: Redis = Redis.from_url(
        settings.redis_url,
        decode_responses=True,
        socket_timeout=settings.redis_timeout,
        socket_connect_timeout=settings.redis_timeout,
        health_check_interval=30,
    )
    app[REDIS] = client
    yield
    await client.aclose()
