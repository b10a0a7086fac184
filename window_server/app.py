"""The composition root: the one place that builds concrete adapters into an application."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from window_server.appkeys import REDIS, SETTINGS
from window_server.http import health
from window_server.http.errors import error_middleware
from window_server.settings import Settings
from window_server.store.client import make_redis

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
    client = make_redis(settings.redis_url, timeout=settings.redis_timeout)
    app[REDIS] = client
    yield
    await client.aclose()
