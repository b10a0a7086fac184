"""Wire the dashboard into an app: routes, assets, the consumer and the pusher (their lifetime)."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Callable
from zoneinfo import ZoneInfo

from aiohttp import web

from signaling.dashboard import DashboardPusher, Viewers
from window_server.appkeys import CATALOGUE, DASHBOARD, HUB, REDIS, SETTINGS
from window_server.dashboard.aggregator import Aggregator, Folder
from window_server.dashboard.pages import TEMPLATES, templates
from window_server.dashboard.prom import Prom, http_errors_middleware
from window_server.dashboard.queries import Queries
from window_server.dashboard.routes import routes
from window_server.dashboard.rules import ReviewPolicy
from window_server.dashboard.service import Dashboard, fold_config, load_review_policy
from window_server.http.pages import package_dir, serve_assets
from window_server.runtime.tasks import stop_tasks

log = logging.getLogger(__name__)

#: The outermost middleware: counts error responses for /metrics once the dashboard runs.
metrics_middleware = http_errors_middleware(lambda app: app[DASHBOARD].prom if DASHBOARD in app else None)


def setup(app: web.Application, clock: Callable[[], float]) -> None:
    """Add the dashboard's routes and assets; its resources start with the app (after signaling)."""
    policy = load_review_policy(app[SETTINGS].review_deadlines_file)  # a bad file fails at start
    app[TEMPLATES] = templates()
    app.add_routes(routes)
    serve_assets(app, "dashboard", package_dir("window_server.dashboard", "static"))
    app.cleanup_ctx.append(lambda a: _dashboard_ctx(a, policy, clock))


async def _dashboard_ctx(app: web.Application, policy: ReviewPolicy, clock: Callable[[], float]) -> AsyncIterator[None]:
    """The node's dashboard consumer and pusher; cancelled and awaited on shutdown."""
    settings, catalogue, redis, hub = app[SETTINGS], app[CATALOGUE], app[REDIS], app[HUB]
    prom = Prom(tuple(c.id for c in catalogue.centres))
    live = Queries(redis, catalogue, settings, policy, clock)
    viewers = Viewers(redis, hub.node_id)
    pusher = DashboardPusher(hub, live.read_live, live.live_view, settings.dashboard_push_seconds,
                             viewers=viewers, on_read=prom.push_reads.inc)
    folder = Folder(fold_config(settings), ZoneInfo(settings.timezone), policy, catalogue)
    # BLOCK must end well within the client's socket timeout, or the read would count as failed.
    block_ms = max(50, min(1000, int(settings.redis_timeout * 500)))
    aggregator = Aggregator(redis, folder, consumer=f"{socket.gethostname()}-{hub.node_id}",
                            on_change=pusher.changed, on_events=prom.count_events, block_ms=block_ms)
    hub.dashboard_changed = pusher.changed
    hub.dashboard_viewers = viewers
    hub.error_ack = prom.socketio_error
    dashboard = Dashboard(queries=Queries(redis, catalogue, settings, policy, clock), live=live,
                          aggregator=aggregator, prom=prom, policy=policy, pusher=pusher)
    app[DASHBOARD] = dashboard
    dashboard.tasks += [
        asyncio.create_task(aggregator.run(), name="dashboard-consumer"),
        asyncio.create_task(pusher.run(), name="dashboard-pusher"),
        asyncio.create_task(viewers.run(), name="dashboard-viewers"),
    ]
    yield
    hub.dashboard_changed = None
    hub.dashboard_viewers = None
    await stop_tasks(dashboard.tasks)
