"""/agent: the specialist's console. Presence, offers, the session's actions, its history."""

from __future__ import annotations

import json
from typing import Any

from signaling import protocol as P
from signaling.hub import Conn, Hub
from window_server.domain import errors
from window_server.domain.routing import is_widened
from window_server.store.keys import key

QUEUE_VIEW_LIMIT = 50


async def pool_of(hub: Hub, aid: str) -> tuple[list[dict[str, str]], list[str]]:
    a = await hub.store.agent(aid)
    return json.loads(a.get("pool") or "[]"), json.loads(a.get("langs") or "[]")


def register(hub: Hub) -> None:
    async def on_connect(conn: Conn) -> None:
        aid = conn.subject
        res = await hub.queue.agent_login(aid, conn.principal.centre, conn.principal.langs or ("zh",))
        await hub.push(res.fx)
        await hub.enter(conn, f"agent:{aid}")
        await hub.enter(conn, f"centre:{conn.principal.centre}")
        pool, _langs = await pool_of(hub, aid)
        for entry in pool:
            await hub.enter(conn, f"pool:{entry['region']}")
        await hub.claim(conn, "agent")
        sid = res.ok.get("session") or ""
        if sid:  # resume: the console comes back to the session it was serving
            s = await hub.store.session(sid)
            if s.get("state") == "reconnecting" and s.get("lost_agent"):
                back = await hub.store.media(sid, "agent", "back", by=aid)
                await hub.push(back.fx)
        status = (await hub.store.agent(aid)).get("status", "away")
        await hub.sio.emit("presence", {"status": status}, to=conn.sid, namespace=P.AGENT)
        if sid:
            s = await hub.store.session(sid)
            await hub.sio.emit("session_state", {"sid": sid, "state": s.get("state"), "act": "resume",
                                                 "ticket": s.get("ticket", ""), "agent": aid},
                               to=conn.sid, namespace=P.AGENT)
        offer = res.ok.get("offer") or ""
        if offer:
            s = await hub.store.session(offer)
            await hub.sio.emit("offer", {"sid": offer, "deadline": int(s.get("offer_deadline") or 0),
                                         "transfer": s.get("offer_kind") == "transfer",
                                         "matter": s.get("matter", ""), "region": s.get("region", "")},
                               to=conn.sid, namespace=P.AGENT)

    async def on_disconnect(conn: Conn) -> None:
        if await hub.release(conn, "agent"):  # not when a newer console tab took over
            res = await hub.store.logout(conn.subject)
            await hub.push(res.fx)

    hub.on_connect[P.AGENT] = on_connect
    hub.on_disconnect[P.AGENT] = on_disconnect

    async def pushed(result: Any) -> dict[str, Any]:
        await hub.push(result.fx)
        return dict(result.ok)

    @hub.handle(P.AGENT, "presence")
    async def presence(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        return await pushed(await hub.store.presence(conn.subject, p["status"]))

    @hub.handle(P.AGENT, "accept")
    async def accept(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        return await pushed(await hub.store.accept(conn.subject, p["sid"]))

    @hub.handle(P.AGENT, "decline")
    async def decline(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        return await pushed(await hub.store.decline(conn.subject, p["sid"], p["reason"] or ""))

    @hub.handle(P.AGENT, "transfer")
    async def transfer(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        return await pushed(await hub.queue.transfer(
            conn.subject, p["sid"], reason=p["reason"], mode=p["mode"] or "warm",
            to_agent=p["to_agent"] or "", to_centre=p["to_centre"] or ""))

    @hub.handle(P.AGENT, "complete")
    async def complete(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        return await pushed(await hub.queue.complete(conn.subject, p["sid"], p["outcome"], p["case_number"] or ""))

    @hub.handle(P.AGENT, "no_show")
    async def no_show(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        return await pushed(await hub.store.no_show(conn.subject, p["sid"], p["reason"] or ""))

    @hub.handle(P.AGENT, "note")
    async def note(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        return await pushed(await hub.queue.note(conn.subject, p["sid"], p["text"]))

    @hub.handle(P.AGENT, "queue_view")
    async def queue_view(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        pool, langs = await pool_of(hub, conn.subject)
        now = hub.store.now_ms()
        widen_ms = hub.store.timing.widen_ms
        rows: list[tuple[float, str, dict[str, str]]] = []
        for entry in pool:
            for lang in langs:
                q = key("queue", region=entry["region"], lang=lang)
                for sid, score in await hub.redis.zrange(q, 0, QUEUE_VIEW_LIMIT - 1, withscores=True):
                    s = await hub.store.session(sid)
                    if entry["tier"] == "own" or is_widened(int(s.get("enq", now)), now, widen_ms):
                        rows.append((score, sid, s))
        rows.sort(key=lambda r: (r[0], r[1]))
        return {"sessions": [
            {"sid": sid, "ticket": s.get("ticket", ""), "matter": s.get("matter", ""),
             "intake_centre": s.get("intake_centre", ""), "region": s.get("region", ""),
             "priority": s.get("priority", ""), "waited_s": (now - int(s.get("enq", now))) / 1000,
             "wide": s.get("wide") == "1", "state": s.get("state", "")}
            for _score, sid, s in rows[:QUEUE_VIEW_LIMIT]]}

    @hub.handle(P.AGENT, "session_detail")
    async def session_detail(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        sid = p["sid"]
        s = await hub.store.session(sid)
        if not s:
            raise errors.NotFound(f"no session {sid}", code="unknown_session", field="sid")
        served = json.loads(s.get("served") or "[]")
        if conn.subject not in (s.get("agent"), s.get("offer_agent")) and conn.subject not in served:
            raise errors.Forbidden(f"session {sid} is not yours to see", code="not_member", field="sid")
        session = {k: v for k, v in s.items() if k not in ("qkey", "version")}
        session["served"] = served
        session["transfers"] = json.loads(s.get("transfers") or "[]")
        session["identity"] = json.loads(s["identity"]) if s.get("identity") else None
        return {"session": session, "events": await hub.store.session_events(sid),
                "notes": await hub.store.notes(sid)}

    @hub.handle(P.AGENT, "screen_share_request")
    async def screen_share_request(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        s = await hub.session_members(p["sid"])
        if s["agent"] != conn.subject:
            raise errors.Forbidden("only the session's specialist may ask", code="not_member", field="sid")
        await hub.emit("screen_share_request", {"sid": p["sid"]}, P.BOOTH, f"booth:{s['booth']}")
        return {}

    @hub.handle(P.AGENT, "signal")
    async def signal(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        return await hub.relay(conn, p, "agent")
