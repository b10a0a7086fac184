"""/booth: the kiosk page. A ticket, its live place in the queue, signaling, leaving, rating."""

from __future__ import annotations

from typing import Any

from signaling import protocol as P
from signaling.hub import Conn, Hub
from window_server.domain import errors
from window_server.store.keys import key


async def session_view(hub: Hub, sid: str) -> dict[str, Any] | None:
    """What a booth sees of its session (no personal data: ids, state, queue place)."""
    s = await hub.store.session(sid)
    if not s:
        return None
    view: dict[str, Any] = {
        "sid": sid, "ticket": s.get("ticket", ""), "state": s.get("state", ""), "matter": s.get("matter", ""),
        "agent": s.get("agent", ""), "outcome": s.get("outcome", ""), "case_number": s.get("case_number", ""),
        "rating": s.get("rating", ""),
    }
    if view["agent"]:
        view["agent_centre"] = await hub.redis.hget(key("agent", aid=view["agent"]), "centre") or ""
    if view["state"] == "waiting":
        view.update({k: v for k, v in (await hub.position_of(sid)).items() if k != "sid"})
    return view


def register(hub: Hub) -> None:
    async def on_connect(conn: Conn) -> None:
        await hub.enter(conn, f"booth:{conn.subject}")
        await hub.claim(conn, "booth")
        await hub.redis.zadd(key("booth_heartbeats"), {conn.subject: hub.store.now_ms()})
        sid = await hub.store.booth_session(conn.subject)
        if sid:
            s = await hub.store.session(sid)
            if s.get("state") == "reconnecting" and s.get("lost_booth"):
                res = await hub.store.media(sid, "booth", "back", by=f"booth:{conn.subject}")
                await hub.push(res.fx)
            view = await session_view(hub, sid)
            await hub.sio.emit("session_state", {**(view or {}), "act": "resume"}, to=conn.sid, namespace=P.BOOTH)

    async def on_disconnect(conn: Conn) -> None:
        if not await hub.release(conn, "booth"):
            return  # a newer socket of this booth (a reload) has taken over
        sid = await hub.store.booth_session(conn.subject)
        if sid:
            res = await hub.store.media(sid, "booth", "lost", by=f"booth:{conn.subject}")
            await hub.push(res.fx)

    hub.on_connect[P.BOOTH] = on_connect
    hub.on_disconnect[P.BOOTH] = on_disconnect

    @hub.handle(P.BOOTH, "request_service")
    async def request_service(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        res = await hub.queue.request_service(
            booth=conn.subject, intake_centre=conn.principal.centre, matter=p["matter"],
            priority=p["priority"], source=p["source"], lang=p["lang"],
            consent=p["consent"],
        )
        await hub.push(res.fx)
        sid = res.ok["sid"]
        pos = await hub.position_of(sid) if res.ok["state"] == "waiting" else {}
        return {"sid": sid, "ticket": res.ok["ticket"], "state": res.ok["state"],
                "position": pos.get("position"), "eta_s": pos.get("eta_s")}

    @hub.handle(P.BOOTH, "leave_queue")
    async def leave_queue(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        res = await hub.queue.leave(p["sid"], conn.subject, p["reason"])
        await hub.push(res.fx)
        return res.ok

    @hub.handle(P.BOOTH, "rate")
    async def rate(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        res = await hub.queue.rate(p["sid"], conn.subject, p["level"], p["comment"])
        await hub.push(res.fx)
        return res.ok

    @hub.handle(P.BOOTH, "resume")
    async def resume(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        sid = await hub.store.booth_session(conn.subject)
        return {"session": await session_view(hub, sid) if sid else None}

    @hub.handle(P.BOOTH, "signal")
    async def signal(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        return await hub.relay(conn, p, "booth")

    # --- booth ---
    @hub.handle(P.BOOTH, "screen_share_reply")
    async def screen_share_reply(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        s = await hub.session_members(p["sid"])
        if s["booth"] != conn.subject or not s["agent"]:
            raise errors.Forbidden(f"session {p['sid']} has no specialist of yours", code="not_member", field="sid")
        await hub.emit("screen_share_reply", {"sid": p["sid"], "accepted": p["accepted"]}, P.AGENT,
                       f"agent:{s['agent']}")
        return {}
