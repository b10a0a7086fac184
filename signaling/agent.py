"""/agent: the specialist's console. Presence, offers, the session's actions, its history."""

from __future__ import annotations

import json
import logging
from typing import Any

from signaling import materials
from signaling import protocol as P
from signaling.hub import Conn, Hub
from window_server.domain import errors
from window_server.domain.session import HELD_STATES
from window_server.store.keys import key

QUEUE_VIEW_LIMIT = 50
log = logging.getLogger(__name__)


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
            await device_ready_if_online(hub, sid, aid)
        offer = res.ok.get("offer") or ""
        if offer:
            s = await hub.store.session(offer)
            transfer = s.get("offer_kind") == "transfer"
            x = json.loads(s.get("xfer") or "{}") if transfer else {}
            await hub.sio.emit("offer", P.offer_payload({
                "sid": offer, "deadline": int(s.get("offer_deadline") or 0), "transfer": transfer,
                "matter": s.get("matter", ""), "region": s.get("region", ""), "from_agent": x.get("from", ""),
                "from_centre": x.get("from_centre", ""), "why": x.get("reason", "")}), to=conn.sid, namespace=P.AGENT)

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
        out = await pushed(await hub.store.accept(conn.subject, p["sid"]))
        await device_ready_if_online(hub, p["sid"], conn.subject)
        return out

    @hub.handle(P.AGENT, "decline")
    async def decline(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        return await pushed(await hub.store.decline(conn.subject, p["sid"], p["reason"]))

    @hub.handle(P.AGENT, "transfer")
    async def transfer(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        return await pushed(await hub.queue.transfer(
            conn.subject, p["sid"], reason=p["reason"], mode=p["mode"], to_agent=p["to_agent"],
            to_centre=p["to_centre"]))

    @hub.handle(P.AGENT, "complete")
    async def complete(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        if p["missing"] and p["outcome"] == "needs_supplement":
            await record_missing(hub, conn.subject, p["sid"], p["missing"])
        return await pushed(await hub.queue.complete(conn.subject, p["sid"], p["outcome"], p["case_number"]))

    @hub.handle(P.AGENT, "no_show")
    async def no_show(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        return await pushed(await hub.store.no_show(conn.subject, p["sid"], p["reason"]))

    @hub.handle(P.AGENT, "note")
    async def note(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        return await pushed(await hub.queue.note(conn.subject, p["sid"], p["text"]))

    @hub.handle(P.AGENT, "queue_view")
    async def queue_view(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        # Who may be offered what is the router's rule (the Lua); the view shows what the router
        # itself recorded: partner centres see a session once it widened it, and a session the
        # router will not offer you while it remembers your decline is marked ``declined``.
        aid = conn.subject
        pool, langs = await pool_of(hub, aid)
        now = hub.store.now_ms()
        rows: list[tuple[float, str, dict[str, str]]] = []
        for entry in pool:
            for lang in langs:
                q = key("queue", region=entry["region"], lang=lang)
                queued = await hub.redis.zrange(q, 0, QUEUE_VIEW_LIMIT - 1, withscores=True)
                async with hub.redis.pipeline(transaction=False) as pipe:
                    for sid, _score in queued:
                        pipe.hgetall(key("session", sid=sid))
                        pipe.hget(key("declined", sid=sid), aid)
                    found = await pipe.execute()
                for (sid, score), s, declined_until in zip(queued, found[0::2], found[1::2], strict=True):
                    if entry["tier"] != "own" and s.get("wide") != "1":
                        continue
                    declined = bool(declined_until) and int(declined_until) > now
                    rows.append((score, sid, {**s, "declined": "1" if declined else ""}))
        rows.sort(key=lambda r: (r[0], r[1]))
        return {"sessions": [
            {"sid": sid, "ticket": s.get("ticket", ""), "matter": s.get("matter", ""),
             "intake_centre": s.get("intake_centre", ""), "region": s.get("region", ""),
             "priority": s.get("priority", ""), "waited_s": (now - int(s.get("enq", now))) / 1000,
             "wide": s.get("wide") == "1", "declined": s["declined"] == "1", "state": s.get("state", "")}
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


    @hub.handle(P.AGENT, "capture")
    async def capture(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        return await materials.capture(hub, conn, p)

    @hub.handle(P.AGENT, "verdict")
    async def verdict(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        return await materials.verdict(hub, conn, p)

    # --- console ---
    @hub.handle(P.AGENT, "identity")
    async def identity(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        now = hub.store.now_ms()
        check = {"method": p["method"], "result": p["result"], "material_id": p["material_id"],
                 "at": now, "by": conn.subject}
        res = await hub.store.annotate(conn.subject, p["sid"], "identity", data=check, now=now, event={
            "method": check["method"], "result": check["result"], "material_id": check["material_id"]})
        await hub.push(res.fx)
        await hub.emit("identity", {"sid": p["sid"], **check}, P.AGENT, f"agent:{conn.subject}")
        log.info("identity check %s session=%s by=%s", check["result"], p["sid"], conn.subject)
        return {"sid": p["sid"], "identity": check}


# --- console ---


async def device_ready_if_online(hub: Hub, sid: str, aid: str) -> None:
    """Tell the specialist now holding ``sid`` that the booth's device agent is online (if it is).

    ``device_ready`` is otherwise sent only when the device agent registers; a console that
    accepts (or resumes) a session whose device agent registered earlier must learn it too.
    """
    s = await hub.store.session(sid)
    if s.get("agent") != aid or s.get("state") not in {x.value for x in HELD_STATES} or not s.get("booth"):
        return
    device = await hub.redis.hgetall(key("device", booth=s["booth"]))
    if device.get("online") == "1":
        await hub.emit("device_ready", {"sid": sid, "cameras": json.loads(device.get("cameras") or "[]")},
                       P.AGENT, f"agent:{aid}")


async def record_missing(hub: Hub, aid: str, sid: str, kinds: list[Any]) -> None:
    """Keep a needs_supplement outcome's list of missing materials in the history (a note)."""
    s = await hub.store.session(sid)
    if not s:
        raise errors.NotFound(f"no session {sid}", code="unknown_session", field="sid")
    matter = hub.queue.matter(s.get("matter", ""))
    names = []
    for kind in kinds:
        if not isinstance(kind, str):
            raise errors.InvalidInput("complete: missing must list material kinds", field="missing")
        try:
            names.append(matter.material(kind).name_zh)
        except errors.NotFound:
            raise errors.InvalidInput(f"complete: matter {matter.code} has no material {kind[:64]!r}",
                                      field="missing") from None
    res = await hub.store.annotate(aid, sid, "note", text="需补正材料 / missing: " + "；".join(names),
                                   event={"missing": ",".join(kinds)})
    await hub.push(res.fx)
