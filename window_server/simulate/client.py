"""What a simulated booth and specialist share: one socket, reconnected when the server drops it.

A client whose socket ends without being closed by us (a node killed, nginx reloaded) fetches a
fresh single-use connect token and connects again, like the kiosk page and the console do; the
server then resumes it (``session_state`` act ``resume``). Every drop is recorded with when the
client was back (``drops``), for the fault suite.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, TypeVar

from window_server.simulate.recorder import Refused
from window_server.simulate.wire import ConnectRefused, Link, sio_connect
from window_server.simulate.world import World

log = logging.getLogger(__name__)

T = TypeVar("T")

BACKOFF_S = (0.05, 0.2, 0.5, 1.0, 2.0)
"""Waits between reconnect attempts (the last one repeats)."""


async def next_unless_closing(queue: asyncio.Queue[T], closing: asyncio.Event, left: float | None) -> T | None:
    """The next item of ``queue``; None after ``left`` seconds (None: no limit) or once ``closing`` is set."""
    get = asyncio.ensure_future(queue.get())
    stop = asyncio.ensure_future(closing.wait())
    try:
        await asyncio.wait((get, stop), timeout=left, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
        if not get.done():
            get.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await get
    if not get.done() or get.cancelled():
        return None
    return get.result()


class SimClient:
    """One socket on ``namespace``; subclasses say how to get a token and what pushes mean."""

    namespace = ""

    def __init__(self, world: World) -> None:
        self.world = world
        self.link: Link | None = None
        self.up = asyncio.Event()
        """set while the socket is connected."""
        self.reconnect = True
        """connect again when the server drops the socket (False: stay down)."""
        self.drops: list[tuple[float, float | None]] = []
        """(dropped at, back at or None) per lost socket, ``time.monotonic`` seconds."""
        self._closed = False
        self._again: asyncio.Task[None] | None = None

    async def token(self) -> str:
        raise NotImplementedError

    def on_event(self, event: str, data: Any) -> None:
        raise NotImplementedError

    async def connect(self) -> None:
        """Fetch a connect token over HTTP and open the namespace (raises Refused or ConnectRefused)."""
        tok = await self.token()
        try:
            self.link = await sio_connect(self.world.http, self.world.url, self.namespace, tok,
                                          on_event=self.on_event, on_close=self._dropped, ssl_ctx=self.world.ssl,
                                          limit_s=self.world.cfg.ack_timeout_s)
        except ConnectRefused as exc:
            self.world.recorder.error(exc.code)
            raise
        except (OSError, TimeoutError) as exc:
            self.world.recorder.error("connect_failed")
            raise ConnectRefused(f"{type(exc).__name__}: {exc}", "connect_failed") from None
        self.up.set()
        if self.drops and self.drops[-1][1] is None:  # back after a drop
            self.drops[-1] = (self.drops[-1][0], self.world.now())

    def _dropped(self) -> None:
        self.up.clear()
        if self._closed or not self.reconnect or self.world.closing.is_set():
            return
        self.world.recorder.error("dropped")
        self.drops.append((self.world.now(), None))
        if self._again is None or self._again.done():
            self._again = asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        n = 0
        while not self._closed and not self.world.closing.is_set():
            await asyncio.sleep(BACKOFF_S[min(n, len(BACKOFF_S) - 1)])
            n += 1
            try:
                await self.connect()
            except (Refused, ConnectRefused):
                continue
            return

    async def ask(self, event: str, data: dict[str, Any]) -> dict[str, Any]:
        """One acknowledged event; while the socket is down, wait (a while) for it to come back."""
        if not self.up.is_set() and self.reconnect and not self._closed:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.world.cfg.ack_timeout_s):
                    await self.up.wait()
        if self.link is None or not self.up.is_set():
            self.world.recorder.error("disconnected")
            raise Refused("disconnected", "not connected")
        return await self.world.recorder.ask(self.link, event, data, self.world.cfg.ack_timeout_s)

    async def close(self) -> None:
        self._closed = True
        self.up.clear()
        if self._again is not None:
            self._again.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._again
        if self.link is not None:
            await self.link.close()
