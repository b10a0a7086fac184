"""/dashboard over socket.io: managers and team leads watch their scope live.

A chain manager's socket joins the room ``chain``; a manager's or team lead's joins
``centre:<their centre>`` and nothing else, so a push to a room carries only that scope's
figures. Pushes are coalesced: every queue change and every folded batch marks the rooms of the
centres it touched dirty, and ``DashboardPusher`` flushes them at most once per
``RW_DASHBOARD_PUSH_SECONDS`` (the first change after a quiet spell goes out at once), reading
the live snapshot once per flush and slicing it per room.

Nobody watching, nothing read: ``Viewers`` knows which rooms have a page open on any node, and
a flush reads the snapshot only for those. A page that opens gets a fresh snapshot at once
(its node registers it before marking its room changed), so a change skipped while nobody
watched is never missing from it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from redis.exceptions import RedisError

from signaling import protocol as P
from signaling.hub import Conn, Hub
from signaling.tasks import cancelled, pause
from window_server.dashboard.store import DashboardStore
from window_server.domain.auth import Role

log = logging.getLogger(__name__)

CHAIN_ROOM = "chain"


def room_of(scope: str) -> str:
    """The room of a scope: ``chain`` or ``centre:<id>``."""
    return CHAIN_ROOM if scope == "chain" else f"centre:{scope}"


def scope_of(room: str) -> str:
    return "chain" if room == CHAIN_ROOM else room.removeprefix("centre:")


def register(hub: Hub, viewers: Viewers, changed: Callable[[Iterable[str]], None]) -> None:
    """Register the /dashboard hooks: a page joins its scope's room and gets figures at the next flush."""

    async def on_connect(conn: Conn) -> None:
        chain = conn.principal.role is Role.CHAIN_MANAGER
        room = CHAIN_ROOM if chain else f"centre:{conn.principal.centre}"
        await hub.enter(conn, room)
        await viewers.joined(room)  # registered before its first flush reads anything
        changed(() if chain else (conn.principal.centre,))  # a fresh page gets figures at the next flush

    async def on_disconnect(conn: Conn) -> None:
        for room in conn.rooms:
            await viewers.left(room)

    hub.hooks(P.DASHBOARD, connect=on_connect, disconnect=on_disconnect)


class Viewers:
    """The dashboard rooms with a page open on any node of the chain.

    Each node counts its own pages per room and writes the rooms it has into one Redis hash
    under its node id, with a lease it renews every ``lease_s / 3``; a node that dies leaves a
    lease that runs out (until then its rooms are only read for nothing).
    """

    def __init__(self, store: DashboardStore, node_id: str, lease_s: float = 30.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.node_id = node_id
        self.clock = clock  # wall time: a lease is about a node being alive, not the queue's clock
        self.lease_s = lease_s
        self.local: Counter[str] = Counter()
        self._write = asyncio.Lock()  # writes leave in the order their contents were made

    async def joined(self, room: str) -> None:
        self.local[room] += 1
        try:
            await self.publish()
        except BaseException:  # the page is refused: it must not count
            self._forget(room)
            raise

    def _forget(self, room: str) -> None:
        self.local[room] -= 1
        if self.local[room] <= 0:
            del self.local[room]

    async def left(self, room: str) -> None:
        self._forget(room)
        await self.publish()

    async def publish(self) -> None:
        """Write this node's rooms (or remove its entry when it has none), with a fresh lease."""
        async with self._write:
            if self.local:
                entry = {"rooms": sorted(self.local), "until": self.clock() + self.lease_s}
                await self.store.set_viewer(self.node_id, json.dumps(entry))
            else:
                await self.store.drop_viewers(self.node_id)

    async def watched(self) -> set[str]:
        """The rooms some node has a page open in, by leases still running."""
        now, rooms, expired = self.clock(), set(), []
        for node, raw in (await self.store.viewers()).items():
            try:
                entry = json.loads(raw)
                live = float(entry["until"]) > now
            except (ValueError, KeyError, TypeError):
                live = False
            if live:
                rooms.update(entry["rooms"])
            else:
                expired.append(node)
        if expired:
            await self.store.drop_viewers(*expired)
        return rooms

    async def run(self) -> None:
        """Renew this node's lease until cancelled; Redis trouble is retried at the next turn."""
        while True:
            await pause(self.lease_s / 3)
            if not self.local:
                continue
            try:
                await self.publish()
            except (RedisError, OSError) as exc:
                if cancelled():
                    raise asyncio.CancelledError from exc
                log.warning("dashboard viewers: renewing the lease failed (%s); retrying", type(exc).__name__)


class DashboardPusher:
    """Coalesce changes and push each dirty room's live figures as ``queue_update``."""

    def __init__(
        self,
        hub: Hub,
        read: Callable[[], Awaitable[Any]],
        view: Callable[[Any, str], dict[str, Any]],
        interval: float,
        viewers: Viewers | None = None,
        on_read: Callable[[], None] | None = None,
    ) -> None:
        self.hub = hub
        self.read = read
        self.view = view
        self.interval = interval
        self.viewers = viewers  # None: push every dirty room (no registry)
        self.on_read = on_read  # counts snapshot reads for /metrics
        self.dirty: set[str] = set()
        self.wake = asyncio.Event()
        self.last = 0.0
        self.pushes = 0
        self._flushing = False
        self._turn = asyncio.Condition()  # notified after every flush, pushed or skipped

    async def settled(self) -> None:
        """Return once every change marked so far has been pushed or skipped."""
        async with self._turn:
            await self._turn.wait_for(lambda: not self.dirty and not self._flushing)

    def changed(self, centres: Iterable[str]) -> None:
        """Mark the chain room and the rooms of ``centres`` dirty (called on every change)."""
        self.dirty.add(CHAIN_ROOM)
        self.dirty.update(f"centre:{c}" for c in centres if c and c != "chain")
        self.wake.set()

    async def run(self) -> None:
        """Flush dirty rooms until cancelled; a failed read is retried at the next interval."""
        loop = asyncio.get_running_loop()
        while True:
            if cancelled():  # an emit below may have swallowed our cancel
                raise asyncio.CancelledError
            await self.wake.wait()
            self.wake.clear()
            wait = self.last + self.interval - loop.time()
            if wait > 0:
                await pause(wait)
            rooms, self.dirty = self.dirty, set()
            self._flushing = True
            try:
                await self._flush(rooms, loop.time())
            finally:
                self._flushing = False
                async with self._turn:
                    self._turn.notify_all()

    async def _flush(self, rooms: set[str], now: float) -> None:
        if not rooms:
            return
        self.last = now
        try:
            if self.viewers is not None:
                rooms &= await self.viewers.watched()  # a room nobody watches is not read
                if not rooms:
                    return
            snap = await self.read()
            if self.on_read is not None:
                self.on_read()
            for room in sorted(rooms):
                await self.hub.emit("queue_update", self.view(snap, scope_of(room)), P.DASHBOARD, room)
                self.pushes += 1
        except (RedisError, OSError) as exc:
            if cancelled():
                raise asyncio.CancelledError from exc
            log.warning("dashboard push failed (%s); retrying", type(exc).__name__)
            self.dirty |= rooms
            self.wake.set()
        except Exception:  # a bug in one flush must not end the pushes
            if cancelled():
                raise asyncio.CancelledError from None
            log.exception("dashboard push failed")
