"""Wiring guests into an application: the page and its API now, the service and its ticker with the hub.

``setup(app)`` adds the routes; ``register(app, hub, views)`` (from signaling's context, once the hub
exists) builds the service, registers the handlers with the hub and hooks the queue's pushes;
``run`` is the ticker task (invitation expiry, guests of ended sessions), started in the
application's tasks context like the queue's ticker.
"""

from __future__ import annotations

import logging

from aiohttp import web
from redis.exceptions import RedisError

from signaling.hub import Hub
from signaling.tasks import periodic
from window_server.appkeys import ACCOUNTS, CATALOGUE, REDIS, SETTINGS, STORE
from window_server.guests import routes
from window_server.guests.handlers import CLAIM_ROLE, GuestsLive
from window_server.guests.handlers import register as register_handlers
from window_server.guests.service import GuestRules, GuestService
from window_server.guests.store import GuestStore
from window_server.queue.live_store import LiveStore

log = logging.getLogger(__name__)

GUESTS_LIVE = web.AppKey("guests_live", GuestsLive)


def setup(app: web.Application) -> None:
    routes.setup(app)


def register(app: web.Application, hub: Hub, views: LiveStore) -> GuestsLive:
    """Build the guests' service on the hub; the caller hooks ``live.session_changed`` into the queue's pushes."""
    settings = app[SETTINGS]

    async def device_online(booth: str) -> bool:
        return await views.device_cameras(booth) is not None

    async def online(username: str) -> bool:
        return bool(await hub.claims.current(CLAIM_ROLE, username))

    service = GuestService(
        GuestStore(app[STORE], app[REDIS]), app[STORE], app[ACCOUNTS], app[CATALOGUE],
        GuestRules(max_guests=settings.max_guests, invite_ms=int(settings.invite_seconds * 1000)),
        device_online=device_online, online=online)
    live = register_handlers(hub, service)
    app[GUESTS_LIVE] = live
    return live


async def run(live: GuestsLive, interval_s: float) -> None:
    """The guests' ticker: every ``interval_s``, expire invitations and end guests of ended sessions."""

    async def tick() -> None:
        try:
            await live.tick()
        except (RedisError, OSError) as exc:
            log.debug("guests ticker: Redis unavailable (%s)", type(exc).__name__)

    await periodic(interval_s, tick, "guests ticker")
