"""The queue, live: its effects pushed to whoever must see them, positions, liveness, re-assertion.

Registered with the signaling hub by ``register`` (with the /booth, /agent and /device handlers
of ``handlers_booth``, ``handlers_agent`` and ``handlers_device``); the hub itself knows no queue.
Every change goes through ``QueueService``; reads through ``QueueStore`` and ``LiveStore``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from redis.exceptions import RedisError

from signaling import protocol as P
from signaling.hub import Conn, Hub
from window_server.domain import errors
from window_server.domain.session import HELD_STATES
from window_server.queue import (
    handlers_agent,
    handlers_booth,
    handlers_conversation,
    handlers_device,
)
from window_server.queue.live_store import LiveStore
from window_server.queue.service import QueueService
from window_server.queue.store import QueueStore

log = logging.getLogger(__name__)

_HELD = frozenset(x.value for x in HELD_STATES)
#: The connection-key role of each namespace whose sockets claim their subject.
CLAIM_ROLES = {P.BOOTH: "booth", P.AGENT: "agent", P.DEVICE: "device"}


class QueueLive:
    """The queue's side of one node's sockets: pushes, read models, heartbeats, re-assertion."""

    def __init__(self, hub: Hub, queue: QueueService, views: LiveStore, *,
                 dashboards: Callable[[Iterable[str]], None] | None = None) -> None:
        self.hub = hub
        self.queue = queue
        self.store: QueueStore = queue.store  # reads only; changes go through self.queue
        self.views = views
        self.dashboards = dashboards  # marks the centres' dashboard rooms changed (coalesced pushes)
        self.positions = PositionPusher(hub, views)
        #: Called with every session effect after its pushes (issue 19: guests end with a session's live states).
        self.session_hooks: list[Callable[[dict[str, Any]], Awaitable[None]]] = []

    # --- pushes ----------------------------------------------------------------------------------

    async def push(self, fx: list[dict[str, Any]]) -> None:
        """Deliver the effects of a queue change to whoever must see them, on any node."""
        hub = self.hub
        for e in fx:
            kind = e.get("kind")
            if kind == "session":
                await self._push_session(e)
            elif kind == "offer":
                await hub.emit("offer", P.offer_payload(e), P.AGENT, f"agent:{e['agent']}")
            elif kind == "presence":
                await hub.emit("presence", {"status": e["status"]}, P.AGENT, f"agent:{e['agent']}")
                self._dashboards(e.get("centre", ""))
            elif kind == "queue":
                self.positions.changed(e["region"], e["lang"])
                await hub.emit("queue_changed", {"region": e["region"]}, P.AGENT, f"pool:{e['region']}")
            elif kind == "widen" and e.get("queued"):  # the effect names its queue (routing.lua)
                self.positions.changed(e["region"], e["lang"])
            elif kind in ("ticket_called", "ticket_call_over"):  # hall.lua: to every booth of the hall
                body: dict[str, Any] = {k: e[k] for k in ("sid", "ticket", "deadline", "why") if k in e}
                await hub.emit(kind, body, P.BOOTH, f"hall:{e['centre']}")

    async def _push_session(self, e: dict[str, Any]) -> None:
        payload: dict[str, Any] = {k: e[k] for k in ("sid", "state", "act", "ticket", "agent", "agent_centre") if k in e}
        for k in ("why", "to_agent", "to_centre", "from_agent", "outcome", "party", "mode"):
            if e.get(k):
                payload[k] = e[k]
        booth = e.get("booth", "")
        if booth:  # never the specialists' words (a transfer's or decline's reason) to the booth side
            public = {k: v for k, v in payload.items() if k != "why"}
            device = dict(public)
            if public.get("agent"):  # who serves: the service number (工号), never the name
                public["agent_no"] = await self.views.agent_no(public["agent"])
            await self.hub.emit("session_state", public, P.BOOTH, f"booth:{booth}")
            await self.hub.emit("session_state", device, P.DEVICE, f"device:{booth}")
        for aid in {e.get("agent"), e.get("from_agent"), e.get("to_agent")} - {None, ""}:
            await self.hub.emit("session_state", payload, P.AGENT, f"agent:{aid}")
        self._dashboards(e.get("centre", ""), e.get("agent_centre", ""))
        for hook in self.session_hooks:
            await hook(e)

    def _dashboards(self, *centres: str) -> None:
        if self.dashboards is not None:
            self.dashboards(tuple(c for c in centres if c))

    async def pushed(self, result: Any) -> dict[str, Any]:
        """Push a change's effects and return its answer."""
        await self.push(result.fx)
        return dict(result.ok)

    async def position_of(self, sid: str) -> dict[str, Any]:
        """The booth's live place in the queue, as pushed in queue_position."""
        return await self.views.position(sid)

    async def device_ready_if_online(self, sid: str, aid: str) -> None:
        """Tell the specialist now holding ``sid`` that the booth's device agent is online (if it is).

        ``device_ready`` is otherwise sent only when the device agent registers; a console that
        accepts (or resumes) a session whose device agent registered earlier must learn it too.
        """
        s = await self.views.members(sid)
        if s["agent"] != aid or s["state"] not in _HELD or not s["booth"]:
            return
        cameras = await self.views.device_cameras(s["booth"])
        if cameras is not None:
            await self.hub.emit("device_ready", {"sid": sid, "cameras": cameras}, P.AGENT, f"agent:{aid}")

    async def media_back_if_lost(self, sid: str, party: str, by: str, *, agent: str = "") -> None:
        """Mark ``party``'s media back if its session waits for it in ``reconnecting``."""
        s = await self.store.session(sid)
        if s.get("state") != "reconnecting" or not s.get(f"lost_{party}"):
            return
        if agent and s.get("agent") != agent:
            return
        await self.push((await self.queue.media(sid, party, "back", by=by)).fx)

    # --- liveness ----------------------------------------------------------------------------------

    async def heartbeat_all(self) -> None:
        """Refresh the heartbeats of this node's specialists and booths (a dead node stops them).

        While Redis fails, the failure marks an outage: when Redis answers again the ticker has
        this node re-assert its parties (``reassert``) before any heartbeat is judged.
        """
        try:
            await self._beat()
        except (RedisError, OSError) as exc:
            if self.store.outage.seen():
                log.warning("heartbeats: Redis unavailable (%s); this node re-asserts its parties when it "
                            "answers again", type(exc).__name__)

    async def reassert(self) -> None:
        """After a Redis outage, write again what this node's connected parties stand for.

        Their claims (``rw:conn:*``: Redis restarted from its AOF may have lost the last second
        of writes), their heartbeats (a specialist the queue thought gone signs in again) and,
        for a booth or specialist whose session waits for it in ``reconnecting``, its media
        ``back``, as its reconnect would have done. Redis failing again propagates.
        """
        hub = self.hub
        await hub.hear_bus()  # what follows pushes through it
        conns = hub.connected()
        for conn in conns:
            if role := CLAIM_ROLES.get(conn.namespace):
                await hub.reclaim(conn, role)
        await self._beat()
        seen: set[tuple[str, str]] = set()
        for conn in conns:
            if (conn.namespace in (P.BOOTH, P.AGENT) and (conn.namespace, conn.subject) not in seen
                    and hub.is_connected(conn)):
                seen.add((conn.namespace, conn.subject))
                await self._media_back(conn)
        log.info("re-asserted %d connections of this node after a Redis outage", len(conns))

    async def _media_back(self, conn: Conn) -> None:
        if conn.namespace == P.BOOTH:
            party, by, agent, sid = "booth", f"booth:{conn.subject}", "", await self.store.booth_session(conn.subject)
        else:
            party, by, agent = "agent", conn.subject, conn.subject
            sid = (await self.store.agent(conn.subject)).get("session")
        if not sid:
            return
        try:
            await self.media_back_if_lost(sid, party, by, agent=agent)
        except errors.RemoteWindowError as exc:
            log.warning("re-assert: media of %s in session=%s not back: %s", conn.tag, sid, exc.code)

    async def _beat(self) -> None:
        agents = {c.subject: c for c in self.hub.connected(P.AGENT)}
        await self.views.booths_seen({c.subject for c in self.hub.connected(P.BOOTH)}, self.store.now_ms())
        for aid, conn in agents.items():
            try:
                await self.queue.heartbeat(aid)
            except errors.RemoteWindowError as exc:
                if exc.code in ("signed_out", "unknown_agent"):  # the queue thought them gone: sign in again
                    res = await self.queue.agent_login(aid, conn.principal.centre, conn.principal.langs)
                    await self.push(res.fx)


class PositionPusher:
    """Coalesce queue changes: each changed queue's positions are pushed at most every 100 ms."""

    DELAY = 0.1

    def __init__(self, hub: Hub, views: LiveStore) -> None:
        self.hub = hub
        self.views = views
        self.dirty: set[tuple[str, str]] = set()
        self.task: asyncio.Task[None] | None = None

    def changed(self, region: str, lang: str) -> None:
        self.dirty.add((region, lang))
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        await asyncio.sleep(self.DELAY)
        dirty, self.dirty = self.dirty, set()
        for region, lang in sorted(dirty):
            try:
                for booth, position in await self.views.queue_positions(region, lang):
                    await self.hub.emit("queue_position", position, P.BOOTH, f"booth:{booth}")
            except (RedisError, OSError):
                log.warning("could not push positions of queue %s/%s", region, lang)


def register(hub: Hub, queue: QueueService, views: LiveStore, *,
             dashboards: Callable[[Iterable[str]], None] | None = None) -> QueueLive:
    """Register the queue's /booth, /agent and /device handlers with the hub; return its live side."""
    live = QueueLive(hub, queue, views, dashboards=dashboards)
    handlers_booth.register(hub, live)
    handlers_agent.register(hub, live)
    handlers_device.register(hub, live)
    handlers_conversation.register(hub, live)  # issue 18: chat, its history, the citizen's hang-up
    return live
