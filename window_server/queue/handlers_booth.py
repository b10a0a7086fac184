"""/booth: the kiosk page. A ticket, its live place in the queue, signaling, leaving, rating."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from signaling import protocol as P
from signaling.hub import Conn, Hub
from window_server.domain import errors
from window_server.queue.receipt import receipt_view

if TYPE_CHECKING:  # live.py registers this module
    from window_server.queue.live import QueueLive


async def session_view(live: QueueLive, sid: str) -> dict[str, Any] | None:
    """What a booth sees of its session (no personal data: ids, state, queue place)."""
    s = await live.store.session(sid)
    if not s:
        return None
    view: dict[str, Any] = {
        "sid": sid, "ticket": s.get("ticket", ""), "state": s.get("state", ""), "matter": s.get("matter", ""),
        "agent": s.get("agent", ""), "outcome": s.get("outcome", ""), "case_number": s.get("case_number", ""),
        "rating": s.get("rating", ""),
    }
    if view["agent"]:
        view["agent_centre"] = await live.views.agent_centre(view["agent"])
        view["agent_no"] = await live.views.agent_no(view["agent"])  # issue 18: who serves (工号)
    if view["state"] == "waiting":
        view.update({k: v for k, v in (await live.position_of(sid)).items() if k != "sid"})
    view.update(receipt_view(s))  # issue 18 (helper D2): missing [{kind, how}], delivery (masked), status_code
    return view


def register(hub: Hub, live: QueueLive) -> None:
    async def on_connect(conn: Conn) -> None:
        await hub.enter(conn, f"booth:{conn.subject}")
        await hub.enter(conn, f"hall:{conn.principal.centre}")  # the hall's call-backs (window_server/hall/)
        await hub.claim(conn, "booth")
        await live.views.booths_seen((conn.subject,), live.store.now_ms())
        sid = await live.store.booth_session(conn.subject)
        if sid:
            await live.media_back_if_lost(sid, "booth", f"booth:{conn.subject}")
            view = await session_view(live, sid)
            await hub.tell(conn, "session_state", {**(view or {}), "act": "resume"})

    async def on_disconnect(conn: Conn) -> None:
        if not await hub.release(conn, "booth"):
            return  # a newer socket of this booth (a reload) has taken over
        sid = await live.store.booth_session(conn.subject)
        if sid:
            await live.push((await live.queue.media(sid, "booth", "lost", by=f"booth:{conn.subject}")).fx)

    hub.hooks(P.BOOTH, connect=on_connect, disconnect=on_disconnect)

    @hub.handle(P.BOOTH, "request_service")
    async def request_service(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        res = await live.queue.request_service(
            booth=conn.subject, intake_centre=conn.principal.centre, matter=p["matter"],
            priority=p["priority"], source=p["source"], lang=p["lang"],
            consent=p["consent"],
        )
        await live.push(res.fx)
        sid = res.ok["sid"]
        pos = await live.position_of(sid) if res.ok["state"] == "waiting" else {}
        return {"sid": sid, "ticket": res.ok["ticket"], "state": res.ok["state"],
                "position": pos.get("position"), "eta_s": pos.get("eta_s")}

    @hub.handle(P.BOOTH, "leave_queue")
    async def leave_queue(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        return await live.pushed(await live.queue.leave(p["sid"], conn.subject, p["reason"]))

    @hub.handle(P.BOOTH, "rate")
    async def rate(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        return await live.pushed(await live.queue.rate(p["sid"], conn.subject, p["level"], p["comment"]))

    @hub.handle(P.BOOTH, "resume")
    async def resume(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        sid = await live.store.booth_session(conn.subject)
        return {"session": await session_view(live, sid) if sid else None}

    @hub.handle(P.BOOTH, "signal")
    async def signal(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        return await hub.relay(conn, p, "booth")

    @hub.handle(P.BOOTH, "screen_share_reply")
    async def screen_share_reply(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        s = await live.views.members(p["sid"])
        if s["booth"] != conn.subject or not s["agent"]:
            raise errors.Forbidden(f"session {p['sid']} has no specialist of yours", code="not_member", field="sid")
        await hub.emit("screen_share_reply", {"sid": p["sid"], "accepted": p["accepted"]}, P.AGENT,
                       f"agent:{s['agent']}")
        return {}
