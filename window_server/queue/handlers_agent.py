"""/agent: the specialist's console. Presence, offers, the session's actions, its history."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from signaling import protocol as P
from signaling.hub import Conn, Hub
from window_server.domain import errors
from window_server.domain.recognition import ID_PHOTO_CLASSES, ID_PHOTO_KIND

if TYPE_CHECKING:  # live.py registers this module
    from window_server.queue.live import QueueLive

QUEUE_VIEW_LIMIT = 50
log = logging.getLogger(__name__)


async def pool_of(live: QueueLive, aid: str) -> tuple[list[dict[str, str]], list[str]]:
    a = await live.store.agent(aid)
    return json.loads(a.get("pool") or "[]"), json.loads(a.get("langs") or "[]")


def register(hub: Hub, live: QueueLive) -> None:
    async def on_connect(conn: Conn) -> None:
        aid = conn.subject
        res = await live.queue.agent_login(aid, conn.principal.centre, conn.principal.langs or ("zh",))
        await live.push(res.fx)
        await hub.enter(conn, f"agent:{aid}")
        await hub.enter(conn, f"centre:{conn.principal.centre}")
        pool, _langs = await pool_of(live, aid)
        for entry in pool:
            await hub.enter(conn, f"pool:{entry['region']}")
        await hub.claim(conn, "agent")
        sid = res.ok.get("session") or ""
        if sid:  # resume: the console comes back to the session it was serving
            await live.media_back_if_lost(sid, "agent", aid)
        status = (await live.store.agent(aid)).get("status", "away")
        await hub.tell(conn, "presence", {"status": status})
        if sid:
            s = await live.store.session(sid)
            await hub.tell(conn, "session_state", {"sid": sid, "state": s.get("state"), "act": "resume",
                                                   "ticket": s.get("ticket", ""), "agent": aid})
            await live.device_ready_if_online(sid, aid)
        offer = res.ok.get("offer") or ""
        if offer:
            s = await live.store.session(offer)
            transfer = s.get("offer_kind") == "transfer"
            x = json.loads(s.get("xfer") or "{}") if transfer else {}
            await hub.tell(conn, "offer", P.offer_payload({
                "sid": offer, "deadline": int(s.get("offer_deadline") or 0), "transfer": transfer,
                "matter": s.get("matter", ""), "region": s.get("region", ""), "from_agent": x.get("from", ""),
                "from_centre": x.get("from_centre", ""), "why": x.get("reason", ""),
                "language": s.get("lang", ""), "priority": s.get("priority", ""), "ticket": s.get("ticket", "")}))

    async def on_disconnect(conn: Conn) -> None:
        if await hub.release(conn, "agent"):  # not when a newer console tab took over
            await live.push((await live.queue.logout(conn.subject)).fx)

    hub.hooks(P.AGENT, connect=on_connect, disconnect=on_disconnect)

    @hub.handle(P.AGENT, "presence")
    async def presence(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        return await live.pushed(await live.queue.presence(conn.subject, p["status"]))

    @hub.handle(P.AGENT, "accept")
    async def accept(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        out = await live.pushed(await live.queue.accept(conn.subject, p["sid"]))
        await live.device_ready_if_online(p["sid"], conn.subject)
        return out

    @hub.handle(P.AGENT, "decline")
    async def decline(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        return await live.pushed(await live.queue.decline(conn.subject, p["sid"], p["reason"]))

    @hub.handle(P.AGENT, "transfer")
    async def transfer(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        return await live.pushed(await live.queue.transfer(
            conn.subject, p["sid"], reason=p["reason"], mode=p["mode"], to_agent=p["to_agent"],
            to_centre=p["to_centre"]))

    @hub.handle(P.AGENT, "complete")
    async def complete(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        return await live.pushed(await live.queue.complete(conn.subject, p["sid"], p["outcome"], p["case_number"],
                                                           p["missing"]))

    # --- outcomes (issue 18, helper D2)
    @hub.handle(P.AGENT, "delivery_address")
    async def delivery_address(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        res = await live.queue.delivery_address(conn.subject, p["sid"], p["recipient"], p["phone"], p["address"])
        await live.push(res.fx)
        return {"sid": p["sid"], "delivery": json.loads(await live.store.session_field(p["sid"], "delivery") or "{}")}
    # --- end outcomes

    @hub.handle(P.AGENT, "no_show")
    async def no_show(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        return await live.pushed(await live.queue.no_show(conn.subject, p["sid"], p["reason"]))

    @hub.handle(P.AGENT, "note")
    async def note(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        return await live.pushed(await live.queue.note(conn.subject, p["sid"], p["text"]))

    @hub.handle(P.AGENT, "queue_view")
    async def queue_view(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        # Who may be offered what is the router's rule (the Lua); the view shows what the router
        # itself recorded: partner centres see a session once it widened it, and a session the
        # router will not offer you while it remembers your decline is marked ``declined``.
        pool, langs = await pool_of(live, conn.subject)
        now = live.store.now_ms()
        rows = await live.views.queue_view(conn.subject, pool, langs, now, QUEUE_VIEW_LIMIT)
        # issue 19, helper C: whether you may take each now, by the router's own rule (rw_takeable)
        blocks = await live.queue.takeable(conn.subject, [r["sid"] for r in rows], now)
        for r, block in zip(rows, blocks, strict=True):
            r["takeable"], r["take_block"] = not block, block
        return {"sessions": rows}

    # --- console (issue 19, helper C) ---
    @hub.handle(P.AGENT, "take")
    async def take(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        out = await live.pushed(await live.queue.take(conn.subject, p["sid"]))
        await live.device_ready_if_online(p["sid"], conn.subject)
        return out
    # --- end console ---

    @hub.handle(P.AGENT, "session_detail")
    async def session_detail(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        sid = p["sid"]
        s = await live.store.session(sid)
        if not s:
            raise errors.NotFound(f"no session {sid}", code="unknown_session", field="sid")
        served = json.loads(s.get("served") or "[]")
        if conn.subject not in (s.get("agent"), s.get("offer_agent")) and conn.subject not in served:
            raise errors.Forbidden(f"session {sid} is not yours to see", code="not_member", field="sid")
        session: dict[str, Any] = {k: v for k, v in s.items() if k not in ("qkey", "version")}
        session["served"] = served
        session["transfers"] = json.loads(s.get("transfers") or "[]")
        session["identity"] = json.loads(s["identity"]) if s.get("identity") else None
        return {"session": session, "events": await live.store.session_events(sid),
                "notes": await live.store.notes(sid)}

    @hub.handle(P.AGENT, "screen_share_request")
    async def screen_share_request(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        s = await live.views.members(p["sid"])
        if s["agent"] != conn.subject:
            raise errors.Forbidden("only the session's specialist may ask", code="not_member", field="sid")
        await hub.emit("screen_share_request", {"sid": p["sid"]}, P.BOOTH, f"booth:{s['booth']}")
        return {}

    @hub.handle(P.AGENT, "signal")
    async def signal(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        return await hub.relay(conn, p, "agent")

    @hub.handle(P.AGENT, "identity")
    async def identity(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        if p["material_id"]:  # the ID photo: an accepted photo side of an ID card (rw_material_id_photo)
            await live.store.call("rw_material_id_photo", sid=p["sid"], aid=conn.subject,
                                  material_id=p["material_id"], kind=ID_PHOTO_KIND, classes=list(ID_PHOTO_CLASSES))
        check = {"method": p["method"], "result": p["result"], "material_id": p["material_id"],
                 "at": live.store.now_ms(), "by": conn.subject}
        await live.push((await live.queue.identity(conn.subject, p["sid"], check)).fx)
        await hub.emit("identity", {"sid": p["sid"], **check}, P.AGENT, f"agent:{conn.subject}")
        log.info("identity check %s session=%s by=%s", check["result"], p["sid"], conn.subject)
        return {"sid": p["sid"], "identity": check}
