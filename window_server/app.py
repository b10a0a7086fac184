"""The composition root: the one place that builds concrete adapters into an application."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web
from redis.exceptions import RedisError

from window_server.appkeys import CATALOGUE, QUEUE, REDIS, SETTINGS, STORE, TASKS
from window_server.catalogue import load_catalogue
from window_server.domain.catalogue import Catalogue
from window_server.http import health
from window_server.http.errors import error_middleware
from window_server.queue_service import QueueService
from window_server.settings import Settings
from window_server.store.client import make_redis
from window_server.store.queue import QueueStore, QueueTiming
from window_server.ticker import run_ticker

log = logging.getLogger(__name__)


def queue_timing(settings: Settings) -> QueueTiming:
    """The queue's clocks in milliseconds, from settings in seconds."""

    def ms(seconds: float) -> int:
        return int(seconds * 1000)

    return QueueTiming(
        widen_ms=ms(settings.widen_seconds),
        offer_ms=ms(settings.offer_timeout_seconds),
        decline_memory_ms=ms(settings.decline_memory_seconds),
        wrap_ms=ms(settings.wrap_up_seconds),
        grace_ms=ms(settings.reconnect_grace_seconds),
        transfer_ms=ms(settings.transfer_timeout_seconds),
        heartbeat_ttl_ms=ms(settings.heartbeat_ttl_seconds),
    )


def create_app(
    settings: Settings,
    *,
    catalogue: Catalogue | None = None,
    clock: Callable[[], float] = time.time,
) -> web.Application:
    """Build the aiohttp application; resources are opened and closed by its cleanup_ctx."""
    app = web.Application(middlewares=[error_middleware], client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[CATALOGUE] = catalogue or load_catalogue(settings.centres_file, settings.matters_file)
    app[TASKS] = []
    app.cleanup_ctx.append(_redis_ctx)
    app.cleanup_ctx.append(lambda a: _queue_ctx(a, clock))
    app.cleanup_ctx.append(_tasks_ctx)
    app.add_routes(health.routes)
    return app


async def _redis_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    client = make_redis(settings.redis_url, timeout=settings.redis_timeout)
    app[REDIS] = client
    yield
    await client.aclose()


async def _queue_ctx(app: web.Application, clock: Callable[[], float]) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    store = QueueStore(app[REDIS], queue_timing(settings), clock, tz=settings.timezone)
    try:
        await store.load()
    except (RedisError, OSError) as exc:  # Redis down at start: serve /healthz, /readyz says why
        log.warning("queue functions not loaded yet (%s); they load when Redis answers", exc)
    app[STORE] = store
    app[QUEUE] = QueueService(store, app[CATALOGUE])
    yield


async def _tasks_ctx(app: web.Application) -> AsyncIterator[None]:
    """Start the node's background tasks; cancel and await every one on shutdown."""
    tasks = app[TASKS]
    tasks.append(asyncio.create_task(run_ticker(app[STORE], _log_effects), name="queue-ticker"))
    yield
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _log_effects(fx: list[dict[str, Any]]) -> None:
    log.debug("queue effects: %s", fx)
