"""/dashboard: managers and team leads watch their scope live.

A chain manager's socket joins the room ``chain``; a manager's or team lead's joins
``centre:<their centre>`` and nothing else, so a push to a room carries only that scope's
figures. Pushes are coalesced: every queue change and every folded batch marks the rooms of the
centres it touched dirty, and ``DashboardPusher`` flushes them at most once per
``RW_DASHBOARD_PUSH_SECONDS`` (the first change after a quiet spell goes out at once), reading
the live snapshot once per flush and slicing it per room.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from redis.exceptions import RedisError

from signaling import protocol as P
from signaling.hub import Conn, Hub
from window_server.domain.auth import Role
from window_server.tasks import cancelled, pause

log = logging.getLogger(__name__)

CHAIN_ROOM = "chain"


def room_of(scope: str) -> str:
    """The room of a scope: ``chain`` or ``centre:<id>``."""
    return CHAIN_ROOM if scope == "chain" else f"centre:{scope}"


def scope_of(room: str) -> str:
    return "chain" if room == CHAIN_ROOM else room.removeprefix("centre:")


def register(hub: Hub) -> None:
    async def on_connect(conn: Conn) -> None:
        if conn.principal.role is Role.CHAIN_MANAGER:
            await hub.enter(conn, CHAIN_ROOM)
        else:
            await hub.enter(conn, f"centre:{conn.principal.centre}")
        if hub.dashboard_changed is not None:  # a fresh page gets figures at the next flush
            hub.dashboard_changed(() if conn.principal.role is Role.CHAIN_MANAGER else (conn.principal.centre,))

    hub.on_connect[P.DASHBOARD] = on_connect


class DashboardPusher:
    """Coalesce changes and push each dirty room's live figures as ``queue_update``."""

    def __init__(
        self,
        hub: Hub,
        read: Callable[[], Awaitable[Any]],
        view: Callable[[Any, str], dict[str, Any]],
        interval: float,
    ) -> None:
        self.hub = hub
        self.read = read
        self.view = view
        self.interval = interval
        self.dirty: set[str] = set()
        self.wake = asyncio.Event()
        self.last = 0.0
        self.pushes = 0

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
            if not rooms:
                continue
            self.last = loop.time()
            try:
                snap = await self.read()
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
