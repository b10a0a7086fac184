"""/booth events of the hall: sit down with a slip, claim a called ticket, call the hall's staff.

Registered with the hub beside the queue's /booth handlers (``queue/handlers_booth.py``); the
queue's effects of a change (a ticket queued again and offered, a call over) go out through the
queue's live side, so a push reaches every node's booths.
"""

from __future__ import annotations

from typing import Any

from signaling import protocol as P
from signaling.hub import Conn, Hub
from window_server.hall.service import HallService
from window_server.queue.handlers_booth import session_view
from window_server.queue.live import QueueLive


def register(hub: Hub, live: QueueLive, hall: HallService) -> None:
    """Register the hall's /booth events with the hub."""

    @hub.handle(P.BOOTH, "sit_down")
    async def sit_down(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        ok = await live.pushed(await hall.sit_down(p["sid"], conn.subject))
        return {**ok, "call_back_s": hall.call_back_s}

    @hub.handle(P.BOOTH, "claim_ticket")
    async def claim_ticket(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        res = await hall.claim(p["sid"], conn.subject, conn.principal.centre)
        await live.push(res.fx)
        return {**res.ok, "session": await session_view(live, p["sid"])}

    @hub.handle(P.BOOTH, "hall_calls")
    async def hall_calls(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        centre = conn.principal.centre
        return {"calls": await hall.calls(centre), "help": await hall.help_of(centre, conn.subject)}

    @hub.handle(P.BOOTH, "call_staff")
    async def call_staff(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        return dict((await hall.call_staff(conn.principal.centre, conn.subject, p["reason"])).ok)

    @hub.handle(P.BOOTH, "call_staff_cancel")
    async def call_staff_cancel(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        await hall.cancel_staff(conn.principal.centre, conn.subject)
        return {}
