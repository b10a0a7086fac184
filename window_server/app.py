"""The composition root: the one place that builds concrete adapters into an application."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable

from aiohttp import web
from redis.exceptions import RedisError

from signaling.server import build_hub, create_server, run_signaling
from window_server.accounts.store import AccountStore, LoginPolicy
from window_server.appkeys import (
    ACCOUNTS,
    CATALOGUE,
    DEMO_LOGINS,
    DOCUMENTS,
    HUB,
    MATERIALS,
    QUEUE,
    REDIS,
    SECURITY,
    SETTINGS,
    SIO,
    STORE,
    TASKS,
)
from window_server.dashboard import setup as dashboard_setup
from window_server.documents.pool import DocumentPool
from window_server.documents.quality import QualityThresholds
from window_server.domain.auth import ice_urls_problem, secret_problem
from window_server.domain.catalogue import Catalogue
from window_server.http import auth as auth_http
from window_server.http import console as console_http
from window_server.http import health
from window_server.http import kiosk as kiosk_http
from window_server.http import materials as materials_http
from window_server.http.errors import error_middleware
from window_server.materials.service import MaterialService, UploadLimits
from window_server.materials.store import MaterialStore
from window_server.queue.service import QueueService
from window_server.queue.store import QueueStore, QueueTiming
from window_server.queue.ticker import run_ticker
from window_server.runtime.catalogue import load_catalogue
from window_server.runtime.tasks import stop_tasks
from window_server.settings import Settings
from window_server.store.blobs import FileBlobStore
from window_server.store.client import make_redis
from window_server.store.security_log import SecurityLog

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
        rating_ms=ms(settings.rating_window_hours * 3600),
    )


def create_app(
    settings: Settings,
    *,
    catalogue: Catalogue | None = None,
    clock: Callable[[], float] = time.time,
) -> web.Application:
    """Build the aiohttp application; resources are opened and closed by its cleanup_ctx."""
    app = web.Application(
        # the outermost counts error responses for /metrics
        middlewares=[dashboard_setup.metrics_middleware, error_middleware, auth_http.origin_middleware],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[CATALOGUE] = catalogue or load_catalogue(settings.centres_file, settings.matters_file)
    app[TASKS] = []
    app[SECURITY] = SecurityLog(clock=clock)
    app.cleanup_ctx.append(_redis_ctx)
    app.cleanup_ctx.append(lambda a: _accounts_ctx(a, clock))
    app.cleanup_ctx.append(lambda a: _queue_ctx(a, clock))
    app.cleanup_ctx.append(_materials_ctx)
    sio = create_server(settings)
    sio.attach(app)
    app[SIO] = sio
    app.cleanup_ctx.append(_signaling_ctx)
    dashboard_setup.setup(app, clock)  # after signaling, which it pushes through
    app.cleanup_ctx.append(_tasks_ctx)
    app.add_routes(health.routes)
    app.add_routes(auth_http.routes)
    app.add_routes(materials_http.routes)
    kiosk_http.setup(app)
    console_http.setup(app)
    return app


async def _redis_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    client = make_redis(settings.redis_url, timeout=settings.redis_timeout,
                        max_connections=settings.redis_max_connections)
    app[REDIS] = client
    yield
    await client.aclose()


# --- accounts and authentication --------------------------------------------------------------


async def _accounts_ctx(app: web.Application, clock: Callable[[], float]) -> AsyncIterator[None]:
    """The account store, the signing secret and, in demo mode only, the demo accounts."""
    settings = app[SETTINGS]
    accounts = AccountStore(
        app[REDIS], app[CATALOGUE], LoginPolicy.from_settings(settings),
        configured_secret=settings.secret, demo=settings.demo, clock=clock,
    )
    app[ACCOUNTS] = accounts
    _warn_about_auth_settings(settings)
    try:
        await accounts.signing_key()  # RW_SECRET, or the one shared key kept in Redis
        if settings.demo:
            app[DEMO_LOGINS] = await accounts.seed_demo()
    except (RedisError, OSError) as exc:  # Redis down at start: the key is fetched on first use
        log.warning("accounts not ready yet (%s); demo accounts are seeded at the next start", exc)
    yield


def _warn_about_auth_settings(settings: Settings) -> None:
    if settings.demo:
        log.warning("demo mode: demo accounts with a published password and booth tokens are "
                    "active; set RW_DEMO=false for real use")
    if settings.secret and (problem := secret_problem(settings.secret)):  # refused at start unless demo
        log.warning("RW_SECRET is weak (%s); it would be refused with RW_DEMO=false", problem)
    if problem := ice_urls_problem(settings.ice_servers):
        log.error("RW_ICE_SERVERS: %s; connect tokens will fail until it is fixed", problem)
    elif "turn" in settings.ice_servers.lower() and not settings.turn_secret:
        log.warning("RW_ICE_SERVERS lists TURN servers but RW_TURN_SECRET is empty: they are "
                    "left out (browsers refuse TURN without credentials)")


async def _queue_ctx(app: web.Application, clock: Callable[[], float]) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    store = QueueStore(app[REDIS], queue_timing(settings), clock, tz=settings.timezone)
    try:
        await store.load()
        await store.open_rating_windows()  # sessions completed before the rating window existed
    except (RedisError, OSError) as exc:  # Redis down at start: serve /healthz, /readyz says why
        log.warning("queue functions not loaded yet (%s); they load when Redis answers", exc)
    app[STORE] = store
    app[QUEUE] = QueueService(store, app[CATALOGUE])
    yield


async def _signaling_ctx(app: web.Application) -> AsyncIterator[None]:
    """The socket.io hub of this node, its bus listener and its periodic tasks."""
    settings = app[SETTINGS]
    hub = build_hub(app[SIO], settings=settings, queue=app[QUEUE], redis=app[REDIS],
                    secret=app[ACCOUNTS].signing_key)
    app[HUB] = hub
    async for _tasks in run_signaling(app[SIO], hub, settings):
        yield


async def _tasks_ctx(app: web.Application) -> AsyncIterator[None]:
    """Start the node's background tasks; cancel and await every one on shutdown."""
    tasks = app[TASKS]
    tasks.append(asyncio.create_task(run_ticker(app[STORE], app[HUB].push, recover=app[HUB].reassert), name="queue-ticker"))
    yield
    await stop_tasks(tasks)


# --- materials ----------------------------------------------------------------------------------


def quality_thresholds(settings: Settings) -> QualityThresholds:
    """The still checks' thresholds, from settings."""
    return QualityThresholds(
        min_sharpness=settings.min_sharpness, max_glare=settings.max_glare,
        min_brightness=settings.min_brightness, min_coverage=settings.min_coverage,
        border_margin=settings.border_margin,
    )


async def _materials_ctx(app: web.Application) -> AsyncIterator[None]:
    """The document workers (started with the first still) and the materials service."""
    settings = app[SETTINGS]
    pool = DocumentPool(settings.document_workers, max_megapixels=settings.max_megapixels)
    app[DOCUMENTS] = pool
    app[MATERIALS] = MaterialService(
        store=MaterialStore(app[STORE]), blobs=FileBlobStore(settings.data_dir / "materials"), pool=pool,
        catalogue=app[CATALOGUE], thresholds=quality_thresholds(settings),
        limits=UploadLimits(max_bytes=settings.max_upload_bytes, max_megapixels=settings.max_megapixels,
                            timeout_s=settings.document_timeout_seconds,
                            per_session=settings.uploads_per_session, per_booth=settings.uploads_per_booth),
    )
    yield
    await pool.close()
