"""The socket.io server of one node: built once, attached to the aiohttp app, torn down cleanly."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import socketio
from aiohttp import web
from aiohttp.web import WebSocketResponse
from engineio.async_drivers import aiohttp as aiohttp_driver

from signaling import agent, booth, dashboard, device
from signaling.bus import WatchedRedisManager, watch_bus
from signaling.hub import Hub
from window_server.settings import Settings
from window_server.tasks import cancelled, pause, stop_tasks

log = logging.getLogger(__name__)

#: Packets queued for one socket before it counts as a slow consumer and is dropped.
MAX_OUTBOUND = 1000


class _PlainWebSocket(aiohttp_driver.WebSocket):  # type: ignore[misc]
    """engine.io's aiohttp websocket without permessage-deflate.

    aiohttp accepts the deflate extension browsers offer; its compressor costs ~100 KB per
    socket (measured: 139 KB/conn with it, 34 KB without) and buys nothing for small JSON.
    """

    async def __call__(self, environ: dict[str, Any]) -> Any:
        self._sock = WebSocketResponse(max_msg_size=self.server.max_http_buffer_size, compress=False)
        await self._sock.prepare(environ["aiohttp.request"])
        self.environ = environ
        await self.handler(self)
        return self._sock


class Server(socketio.AsyncServer):  # type: ignore[misc]
    """AsyncServer that gives every new engine.io connection a deadline to authenticate."""

    hub: Hub | None = None

    async def _handle_eio_connect(self, eio_sid: str, environ: dict[str, Any]) -> Any:
        result = await super()._handle_eio_connect(eio_sid, environ)
        if self.hub is not None:
            self.hub.watch_auth_deadline(eio_sid)
        return result

    async def _handle_eio_disconnect(self, eio_sid: str, *args: Any) -> Any:
        if self.hub is not None:
            self.hub.forget_eio(eio_sid)
        return await super()._handle_eio_disconnect(eio_sid, *args)


def create_server(settings: Settings) -> Server:
    """The socket.io server with the node's budgets and the watched Redis manager."""
    origins: Any = [o.strip() for o in settings.allowed_origins.split(",") if o.strip()] or None
    sio = Server(
        async_mode="aiohttp",
        client_manager=WatchedRedisManager(settings.redis_url),
        cors_allowed_origins=origins,  # None: only this server's own origin
        max_http_buffer_size=settings.max_message_bytes,
        ping_interval=settings.ping_interval_seconds,
        ping_timeout=settings.ping_timeout_seconds,
        transports=["websocket", "polling"],
        logger=False,
        engineio_logger=False,
    )
    sio.eio._async = {**sio.eio._async, "websocket": _PlainWebSocket}  # this server only
    return sio


def build_hub(
    sio: Server, *, settings: Settings, queue: Any, redis: Any, secret: Callable[[], Awaitable[bytes]]
) -> Hub:
    hub = Hub(sio, settings=settings, queue=queue, redis=redis, secret=secret, node_id=secrets.token_hex(6))
    for ns in (booth, agent, device, dashboard):
        ns.register(hub)
    sio.hub = hub
    return hub


async def _periodic(interval: float, fn: Callable[[], Any], what: str) -> None:
    while True:
        await pause(interval)
        try:
            await fn()
        except Exception:  # a failed round must not stop the next one
            if cancelled():  # a cancel swallowed inside asyncio.timeout (Python 3.11)
                raise asyncio.CancelledError from None
            log.exception("%s failed", what)


def _drop_slow_consumers(sio: Server) -> Callable[[], Any]:
    async def check() -> None:
        for eio_sid, sock in list(sio.eio.sockets.items()):
            if sock.queue.qsize() > MAX_OUTBOUND:
                log.warning("dropping connection %s: %d packets queued, the client does not read",
                            eio_sid, sock.queue.qsize())
                await sio.eio.disconnect(eio_sid)

    return check


async def run_signaling(sio: Server, hub: Hub, settings: Settings) -> AsyncIterator[list[asyncio.Task[None]]]:
    """Start the bus listener and the node's periodic tasks; on exit stop them all."""
    sio.manager_initialized = True
    sio.manager.initialize()
    tasks = [
        asyncio.create_task(watch_bus(sio.manager, interval=settings.bus_probe_seconds,
                                    within=max(0.5, settings.bus_probe_seconds * 0.6)), name="bus-watchdog"),
        asyncio.create_task(_periodic(max(1.0, settings.heartbeat_ttl_seconds / 4), hub.heartbeat_all,
                                      "heartbeats"), name="heartbeats"),
        asyncio.create_task(_periodic(1.0, _drop_slow_consumers(sio), "slow-consumer check"), name="outbound"),
    ]
    yield tasks
    await stop_tasks(tasks)
    await sio.shutdown()
    await sio.manager.close()


def attach(app: web.Application, sio: Server) -> None:
    """Mount socket.io at /socket.io/ on the app."""
    sio.attach(app)
