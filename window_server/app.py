"""The composition root: the one place that builds concrete adapters into an application."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web
from redis.exceptions import RedisError

from signaling.budget import Limits
from signaling.hub import Hub
from signaling.protocol import AGENT as AGENT_NS
from signaling.protocol import BOOTH as BOOTH_NS
from signaling.server import create_server, run_signaling
from signaling.settings import SignalingSettings
from signaling.tasks import periodic
from window_server.accounts.revocation import ConnectGate
from window_server.accounts.store import AccountStore, LoginPolicy
from window_server.appkeys import (
    ACCESS,
    ACCOUNTS,
    CATALOGUE,
    DEMO_LOGINS,
    DOCUMENTS,
    HUB,
    MATERIALS,
    MATERIALS_LIVE,
    QUEUE,
    QUEUE_LIVE,
    RECORDING,
    REDIS,
    SECURITY,
    SETTINGS,
    SIO,
    STORE,
    TASKS,
)
from window_server.dashboard import setup as dashboard_setup
from window_server.dashboard.service import DASHBOARD
from window_server.documents.pool import DocumentPool
from window_server.documents.quality import QualityThresholds
from window_server.domain.auth import (
    ice_urls_problem,
    relay_without_turn,
    secret_problem,
    split_ice_urls,
)
from window_server.domain.catalogue import Catalogue
from window_server.guests import setup as guests_setup
from window_server.hall import handlers as hall_handlers
from window_server.hall import routes as hall_routes
from window_server.hall.service import HALL, HallService
from window_server.hall.store import HallStore
from window_server.http import auth as auth_http
from window_server.http import console as console_http
from window_server.http import evidence as evidence_http
from window_server.http import health
from window_server.http import kiosk as kiosk_http
from window_server.http import materials as materials_http
from window_server.http import oversight as oversight_http
from window_server.http import recording as recording_http
from window_server.http import signing as signing_http
from window_server.http import status as status_http
from window_server.http.errors import error_middleware
from window_server.http.evidence import EVIDENCE
from window_server.materials import handlers as materials_live
from window_server.materials.service import MaterialService, UploadLimits
from window_server.materials.store import MaterialStore
from window_server.queue import live as queue_live
from window_server.queue.live_store import LiveStore
from window_server.queue.service import QueueService
from window_server.queue.store import QueueStore, QueueTiming
from window_server.queue.ticker import run_ticker
from window_server.recording.purge import recording_purge, run_purge
from window_server.recording.service import RecordingService
from window_server.recording.store import RecordingStore
from window_server.runtime.catalogue import load_catalogue
from window_server.runtime.tasks import stop_tasks
from window_server.settings import Settings
from window_server.signing import handlers as signing_handlers
from window_server.signing import setup as signing_setup
from window_server.signing.service import SIGNING
from window_server.store.access_log import AccessLog
from window_server.store.blobs import FileBlobStore
from window_server.store.claims import ConnectionClaims
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
        seal_grace_ms=ms(settings.seal_grace_seconds),
        call_back_ms=ms(settings.call_back_seconds),
        call_ahead=settings.call_ahead,
    )


def signaling_settings(settings: Settings) -> SignalingSettings:
    """The numbers signaling runs on, from the node's settings."""
    return SignalingSettings(
        redis_url=settings.redis_url,
        allowed_origins=tuple(o.strip() for o in settings.allowed_origins.split(",") if o.strip()),
        max_message_bytes=settings.max_message_bytes,
        ping_interval_seconds=settings.ping_interval_seconds,
        ping_timeout_seconds=settings.ping_timeout_seconds,
        auth_deadline_seconds=settings.auth_deadline_seconds,
        rate_limit_per_second=settings.rate_limit_per_second,
        rate_limit_burst=settings.rate_limit_burst,
        # a burst smaller than the largest message would refuse a message the size cap allows
        limits=Limits(frames_per_second=settings.frame_rate_per_second, frame_burst=settings.frame_burst,
                      bytes_per_second=settings.byte_rate_per_second,
                      byte_burst=max(settings.byte_burst, settings.max_message_bytes),
                      max_strikes=settings.budget_strikes),
        max_outbound_packets=settings.max_outbound_packets,
        bus_probe_seconds=settings.bus_probe_seconds,
        revocation_sweep_seconds=settings.revocation_sweep_seconds,
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
    app.cleanup_ctx.append(lambda a: _recording_ctx(a, clock))
    signing_setup.setup(app)  # signing on the kiosk (issue 18): after materials' context
    evidence_http.setup(app)  # the seal key (refused without one outside demo mode), the sealer, the routes
    sio = create_server(signaling_settings(settings))
    sio.attach(app)
    app[SIO] = sio
    signaling_ctx_index = len(app.cleanup_ctx)
    dashboard = dashboard_setup.setup(app, clock)  # its tasks' context runs after signaling's
    app.cleanup_ctx.insert(signaling_ctx_index, lambda a: _signaling_ctx(a, dashboard))
    app.cleanup_ctx.append(_tasks_ctx)
    app.on_shutdown.append(_close_sockets)
    app.add_routes(health.routes)
    app.add_routes(auth_http.routes)
    app.add_routes(materials_http.routes)
    app.add_routes(recording_http.routes)
    app.add_routes(signing_http.routes)
    app.add_routes(oversight_http.routes)
    kiosk_http.setup(app)
    hall_routes.setup(app)  # the hall's display and staff view (its service is built with the hub)
    console_http.setup(app)
    status_http.setup(app)  # issue 18: the public status page /r/{code}
    guests_setup.setup(app)  # issue 19: the guest page /guest (its service is built with the hub)
    return app


async def _close_sockets(app: web.Application) -> None:
    """On shutdown, close every socket.io connection at once, so that clients reconnect to another
    node now (a rolling restart) and aiohttp need not wait for them until its shutdown timeout."""
    await app[SIO].close_websockets()


async def _redis_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    client = make_redis(settings.redis_url, timeout=settings.redis_timeout,
                        max_connections=settings.redis_max_connections,
                        wait_replicas=settings.redis_wait_replicas, wait_ms=settings.redis_wait_ms)  # issue 20 (H2)
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
    if not problem and relay_without_turn(
        settings.ice_transport_policy, split_ice_urls(settings.ice_servers), settings.turn_secret
    ):
        log.error("RW_ICE_TRANSPORT_POLICY=relay needs a turn: or turns: URL in RW_ICE_SERVERS and "
                  "RW_TURN_SECRET: without them no call can connect")


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


async def _signaling_ctx(app: web.Application, dashboard: dashboard_setup.Parts) -> AsyncIterator[None]:
    """The socket.io hub of this node with every feature's handlers, the bus and the periodic tasks.

    The order is the dependency order: the hub (a transport), then the dashboard (which pushes
    through it), then the queue (which marks the dashboard's rooms) and materials.
    """
    settings, redis = app[SETTINGS], app[REDIS]
    views = LiveStore(redis, settings.default_aht_seconds)
    hub = Hub(app[SIO], signaling_settings(settings), gate=ConnectGate(redis, demo=settings.demo),
              claims=ConnectionClaims(redis), members=views.members, secret=app[ACCOUNTS].signing_key,
              node_id=secrets.token_hex(6), on_error_ack=dashboard.prom.socketio_error)
    app[HUB] = hub
    app[DASHBOARD] = dashboard_setup.build(app, hub, dashboard)
    pusher = app[DASHBOARD].pusher
    live = queue_live.register(hub, app[QUEUE], views, dashboards=pusher.changed if pusher else None)
    app[QUEUE_LIVE] = live
    app[HALL] = HallService(HallStore(redis, app[STORE]), app[ACCOUNTS], app[CATALOGUE])
    hall_handlers.register(hub, live, app[HALL])
    app[MATERIALS_LIVE] = materials_live.register(hub, app[QUEUE], app[MATERIALS].store, views.members)
    signing_handlers.register(hub, app[SIGNING])
    live.session_hooks.append(guests_setup.register(app, hub, views).session_changed)  # issue 19: guests
    heartbeats = asyncio.create_task(
        periodic(max(1.0, settings.heartbeat_ttl_seconds / 4), live.heartbeat_all, "heartbeats"), name="heartbeats")
    signaling = run_signaling(app[SIO], hub)
    await anext(signaling)
    yield
    await stop_tasks([heartbeats])  # before the server shuts down under it
    await anext(signaling, None)


async def _tasks_ctx(app: web.Application) -> AsyncIterator[None]:
    """Start the node's background tasks; cancel and await every one on shutdown."""
    tasks = app[TASKS]
    live = app[QUEUE_LIVE]
    tasks.append(asyncio.create_task(run_ticker(app[STORE], live.push, recover=live.reassert), name="queue-ticker"))
    settings = app[SETTINGS]
    purge = recording_purge(app[REDIS], app[STORE], settings.data_dir, app[EVIDENCE].sealer)
    tasks.append(asyncio.create_task(run_purge(purge, interval_s=settings.purge_interval_hours * 3600,
                                               retention_days=settings.recording_retention_days),
                                     name="recording-purge"))
    guests_tick = max(0.2, min(1.0, settings.invite_seconds / 4))  # issue 19: invitations expire, guests end
    tasks.append(asyncio.create_task(guests_setup.run(app[guests_setup.GUESTS_LIVE], guests_tick), name="guests-ticker"))
    materials = app[MATERIALS]  # stills a stopped node left unrecognised, now and every minute
    tasks.append(asyncio.create_task(materials.recogniser.run_sweeps(app[MATERIALS_LIVE].recognised),
                                     name="recognition-sweep"))
    yield
    await stop_tasks(tasks)
    await materials.close()  # recognitions in flight stay pending in Redis for the next sweep


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


# --- recording and evidence -----------------------------------------------------------------------


async def _recording_ctx(app: web.Application, clock: Callable[[], float]) -> AsyncIterator[None]:
    """The recording service (chunks under data_dir/recordings) and the access log."""
    settings = app[SETTINGS]

    async def notify(sid: str, payload: dict[str, Any], booth: str, agent: str) -> None:
        hub = app.get(HUB)
        if hub is None:
            return
        body = {"sid": sid, **payload}
        if agent:
            await hub.emit("recording_status", body, AGENT_NS, f"agent:{agent}")
        if booth:
            await hub.emit("recording_status", body, BOOTH_NS, f"booth:{booth}")

    app[ACCESS] = AccessLog(app[REDIS], clock)
    app[RECORDING] = RecordingService(
        store=RecordingStore(app[REDIS]), sessions=app[STORE], blobs=FileBlobStore(settings.data_dir / "recordings"),
        parties=app[MATERIALS].parties, notify=notify)
    yield
