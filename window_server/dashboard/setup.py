"""Wire the dashboard into an app: routes, assets, its live side on the hub, its tasks (their lifetime)."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from aiohttp import web

from signaling.hub import Hub
from window_server.appkeys import CATALOGUE, REDIS, SETTINGS
from window_server.dashboard import live as dashboard_live
from window_server.dashboard.aggregator import Aggregator, Folder
from window_server.dashboard.live import DashboardPusher, Viewers
from window_server.dashboard.pages import TEMPLATES, templates
from window_server.dashboard.prom import Prom, http_errors_middleware
from window_server.dashboard.queries import Queries
from window_server.dashboard.routes import routes
from window_server.dashboard.rules import ReviewPolicy
from window_server.dashboard.service import DASHBOARD, Dashboard, fold_config, load_review_policy
from window_server.dashboard.store import DashboardStore
from window_server.http.pages import package_dir, serve_assets
from window_server.runtime.tasks import stop_tasks

log = logging.getLogger(__name__)

#: The outermost middleware: counts error responses for /metrics once the dashboard runs.
metrics_middleware = http_errors_middleware(lambda app: app[DASHBOARD].prom if DASHBOARD in app else None)


@dataclass(frozen=True)
class Parts:
    """What the dashboard has before the app starts: its review policy, its metrics, the clock."""

    policy: ReviewPolicy
    prom: Prom
    clock: Callable[[], float]


def setup(app: web.Application, clock: Callable[[], float]) -> Parts:
    """Add the dashboard's routes and assets and the context that runs its tasks; return its parts.

    The composition root hands the parts to ``build`` once the hub exists (the hub counts error
    acks into ``prom``; the queue's pushes mark the dashboard's rooms through the pusher).
    """
    policy = load_review_policy(app[SETTINGS].review_deadlines_file)  # a bad file fails at start
    app[TEMPLATES] = templates()
    app.add_routes(routes)
    serve_assets(app, "dashboard", package_dir("window_server.dashboard", "static"))
    app.cleanup_ctx.append(_dashboard_ctx)
    return Parts(policy=policy, prom=Prom(tuple(c.id for c in app[CATALOGUE].centres)), clock=clock)


def build(app: web.Application, hub: Hub, parts: Parts) -> Dashboard:
    """The node's dashboard reads, consumer and pusher, its /dashboard hooks registered on the hub."""
    settings, catalogue, redis = app[SETTINGS], app[CATALOGUE], app[REDIS]
    policy, prom, clock = parts.policy, parts.prom, parts.clock
    store = DashboardStore(redis)
    live = Queries(store, catalogue, settings, policy, clock)
    viewers = Viewers(store, hub.node_id)
    pusher = DashboardPusher(hub, live.read_live, live.live_view, settings.dashboard_push_seconds,
                             viewers=viewers, on_read=prom.push_reads.inc)
    folder = Folder(fold_config(settings), ZoneInfo(settings.timezone), policy, catalogue)
    # BLOCK must end well within the client's socket timeout, or the read would count as failed.
    block_ms = max(50, min(1000, int(settings.redis_timeout * 500)))
    aggregator = Aggregator(store, folder, consumer=f"{socket.gethostname()}-{hub.node_id}",
                            on_change=pusher.changed, on_events=prom.count_events, block_ms=block_ms)
    dashboard_live.register(hub, viewers, pusher.changed)
    return Dashboard(queries=Queries(store, catalogue, settings, policy, clock), live=live,
                     aggregator=aggregator, prom=prom, policy=policy, pusher=pusher, viewers=viewers)


async def _dashboard_ctx(app: web.Application) -> AsyncIterator[None]:
    """The node's dashboard consumer, pusher and viewer lease; cancelled and awaited on shutdown."""
    dashboard = app[DASHBOARD]
    assert dashboard.pusher is not None and dashboard.viewers is not None
    dashboard.tasks += [
        asyncio.create_task(dashboard.aggregator.run(), name="dashboard-consumer"),
        asyncio.create_task(dashboard.pusher.run(), name="dashboard-pusher"),
        asyncio.create_task(dashboard.viewers.run(), name="dashboard-viewers"),
    ]
    yield
    await stop_tasks(dashboard.tasks)
