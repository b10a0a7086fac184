"""The cross-node bus: python-socketio's Redis manager, watched so a deaf node heals itself.

A known failure mode of pub/sub is a subscription that silently stops delivering (the socket
is half-open, or the subscription was dropped) while publishing still works: the node keeps
serving its own clients but hears nothing from the others. Every ``interval`` the watchdog
publishes a canary on the channel and waits for it to come back; if it does not, the node
resubscribes and says so in the log.

Through Sentinel (``REDIS_URL=redis+sentinel://h:p,h:p,h:p/<service>/<db>``, our path order, not
python-socketio's ``/<db>/<service>``) both connections are made to the primary the Sentinels
name at that moment. After a failover Sentinel closes the clients of the demoted primary, so the
listener reconnects and asks again; and because a publish and a subscription on a demoted
primary (now a replica) would still "work" among the nodes stuck there, the probe also checks
that both connections are on the current primary, and resubscribes when they are not.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator
from typing import Any, cast

import socketio
from redis.asyncio.sentinel import Sentinel

from signaling.tasks import cancelled, pause
from window_server.domain.redis_url import is_sentinel_url, parse_sentinel

log = logging.getLogger(__name__)


class WatchedRedisManager(socketio.AsyncRedisManager):  # type: ignore[misc]
    """AsyncRedisManager that notices its own canaries and can be made to resubscribe."""

    def __init__(self, url: str, *, channel: str = "rw-socketio", **kwargs: Any) -> None:
        super().__init__(url, channel=channel, **kwargs)
        self._canary_seen: dict[int, asyncio.Event] = {}
        self._numbers = itertools.count(1)
        self.resubscriptions = 0
        self.resubscribed = asyncio.Event()  # set after each resubscription (tests await it)
        self._sentinel: Sentinel | None = None  # made once; each new connection asks it again
        self._retiring: set[asyncio.Task[None]] = set()  # replaced clients being closed

    def _redis_connect(self) -> None:
        """Make the publisher and the subscription: to the primary Sentinel names, for our URL form.

        The clients it replaces (a publish that failed reconnects here too) are closed in the
        background, so a reconnect does not leave their sockets to the garbage collector.
        """
        old = [c for c in (getattr(self, "pubsub", None), getattr(self, "redis", None)) if c is not None]
        if old:
            task = asyncio.get_running_loop().create_task(self._close(old))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)
        if not is_sentinel_url(self.redis_url):
            super()._redis_connect()
            return
        target = parse_sentinel(self.redis_url)
        if self._sentinel is None:
            sentinel_options: dict[str, Any] = {"socket_connect_timeout": 2.0, "socket_timeout": 2.0}
            if target.sentinel_password:
                sentinel_options["password"] = target.sentinel_password
            # through Any: redis-py < 8.2 leaves Sentinel's constructor untyped, 8.2 types it
            self._sentinel = cast(Any, Sentinel)(list(target.hosts), sentinel_kwargs=sentinel_options)
        # no socket_timeout: the subscription blocks on reads between messages
        options: dict[str, Any] = {"db": target.db, "socket_connect_timeout": 2.0, **self.redis_options}
        for name in ("username", "password"):
            if value := getattr(target, name):
                options[name] = value
        self.redis = self._sentinel.master_for(target.service, **options)
        self.pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        self.connected = True

    async def on_primary(self) -> bool:
        """Through Sentinel: whether the subscription is on the primary Sentinel names now.

        Asking also points the publisher's pool at that primary (redis-py drops its idle
        connections to the old one). Without Sentinel there is nothing to check: True.
        """
        if self._sentinel is None or self.redis is None or self.pubsub is None:
            return True
        try:
            primary = await self.redis.connection_pool.get_master_address()
        except Exception as exc:  # no Sentinel answers: the canary decides
            log.debug("cross-node bus: cannot ask Sentinel for the primary (%r)", exc)
            return True
        conn = self.pubsub.connection
        if conn is None:
            return True  # not subscribed yet (the listener is connecting)
        here = (conn.host, conn.port)
        if here != tuple(primary):
            log.warning("cross-node bus: subscribed to a Redis that is no longer the primary; resubscribing")
            return False
        return True

    async def _redis_listen_with_retries(self) -> AsyncIterator[Any]:
        """Subscribe and yield messages; resubscribe when the subscription ends or fails.

        The library's version spins without awaiting when ``listen()`` ends because the
        subscription is gone (it only handles exceptions), freezing the node: here an ended
        subscription counts as lost, is logged, and is made again.
        """
        retry = 1.0
        subscribed = False
        while True:
            try:
                if not subscribed:
                    if not self.connected or self.pubsub is None:  # else: fresh, made by a publish
                        await self._close_connections()  # never leak the previous sockets
                        self._redis_connect()
                    await self.pubsub.subscribe(self.channel)
                    subscribed = True
                    retry = 1.0
                async for message in self.pubsub.listen():
                    yield message
                if cancelled():
                    raise asyncio.CancelledError
                log.warning("cross-node bus: the subscription ended; resubscribing")
                subscribed = self.connected = False
                self.resubscriptions += 1
                self.resubscribed.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if cancelled():  # redis-py turned our cancel into a timeout
                    raise asyncio.CancelledError from exc
                log.error("cross-node bus: cannot receive from Redis (%s); retrying in %.0f s",
                          type(exc).__name__, retry)
                subscribed = self.connected = False
                await pause(retry)
                retry = min(retry * 2, 30.0)

    async def _listen(self) -> AsyncIterator[Any]:
        marker = b'"rw_canary"'
        async for data in super()._listen():
            if isinstance(data, bytes | str) and marker in (data if isinstance(data, bytes) else data.encode()):
                msg = self.json.loads(data)
                if msg.get("host_id") == self.host_id and (ev := self._canary_seen.get(msg.get("n"))):
                    ev.set()
                continue
            yield data

    async def probe(self, within: float) -> bool:
        """Publish a canary and wait for this node to hear it back (through Sentinel: on the primary)."""
        if not await self.on_primary():
            self.connected = False  # the next publish connects again too
            return False
        n = next(self._numbers)
        seen = self._canary_seen[n] = asyncio.Event()
        try:
            await self._publish({"method": "rw_canary", "host_id": self.host_id, "n": n})
            async with asyncio.timeout(within):
                await seen.wait()
            return True
        except TimeoutError:
            return False
        finally:
            self._canary_seen.pop(n, None)

    async def resubscribe(self) -> None:
        """Drop the listening task and its connection; start a fresh subscription."""
        self.resubscriptions += 1
        await self._stop_thread()
        self.connected = False
        self.thread = self.server.start_background_task(self._thread)
        self.resubscribed.set()

    async def _close_connections(self) -> None:
        await self._close([getattr(self, name, None) for name in ("pubsub", "redis")])

    @staticmethod
    async def _close(clients: list[Any]) -> None:
        for client in clients:
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.aclose()

    async def close(self) -> None:
        """Stop listening and close both Redis connections (the library has no close()).

        The cancel goes first, then the connections are closed so that a read which swallowed
        the cancel fails and lets the task end; the wait is bounded either way.
        """
        await self._stop_thread()
        await self._close_connections()
        if self._retiring:
            await asyncio.wait(self._retiring, timeout=2.0)
        sentinel, self._sentinel = self._sentinel, None
        if sentinel is not None:
            with contextlib.suppress(Exception):
                await sentinel.aclose()

    async def _stop_thread(self) -> None:
        thread, self.thread = self.thread, None
        if thread is None or thread.done():
            return
        thread.cancel()
        await self._close_connections()
        done, _ = await asyncio.wait({thread}, timeout=2.0)
        if not done:
            log.warning("cross-node bus: the listener did not stop within 2 s; leaving it")
        elif not thread.cancelled() and thread.exception() is not None:
            log.debug("cross-node bus listener ended with %r", thread.exception())


async def watch_bus(manager: WatchedRedisManager, *, interval: float = 5.0, within: float = 3.0) -> None:
    """Probe the bus forever; resubscribe when a canary does not come back."""
    deaf = False
    while True:
        await pause(interval)
        if await manager.probe(within):
            if deaf:
                log.info("cross-node bus: canary heard again after resubscribing")
                deaf = False
            continue
        log.warning("cross-node bus: canary not heard within %.1f s; resubscribing", within)
        deaf = True
        await manager.resubscribe()
