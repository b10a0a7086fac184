"""Guests over socket.io: /guest (join, mode, leave, signal, invitations, mark) and the specialist's
side on /agent (reviewers, invite, invite_cancel); the pushes that tell everyone (issue 19).

Who is told what: ``guests`` to the specialist (every guest, by name and mode), to the booth and its
device agent (no names) and to the guests themselves; ``guest_ended`` to a guest whose place ended;
``invited`` / ``invitation_over`` to a reviewer; ``invitation`` and ``material_mark`` to the
specialist. A guest's socket that closes leaves the sessions it joined.
"""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import RedisError

from signaling import protocol as P
from signaling.hub import Conn, Hub
from window_server.domain import errors
from window_server.domain import guests as G
from window_server.domain.session import HELD_STATES, Action
from window_server.guests.service import GuestService

log = logging.getLogger(__name__)

_HELD = frozenset(s.value for s in HELD_STATES)
CLAIM_ROLE = "guest"  # the connection claim of a /guest page: a reviewer is online while it holds one


class GuestsLive:
    """The guests' side of one node's sockets: handlers, pushes, the session hook and the ticker."""

    def __init__(self, hub: Hub, service: GuestService) -> None:
        self.hub = hub
        self.service = service
        self.joined: dict[str, dict[str, str]] = {}  # /guest socket id -> {sid: gid} it joined

    # --- pushes ----------------------------------------------------------------------------------

    async def push_guests(self, sid: str, guests: list[dict[str, Any]], *, booth: str, agent: str,
                          extra: tuple[str, ...] = ()) -> None:
        """Tell the specialist, the booth side and every guest (and ``extra`` users) who is in now."""
        public = [G.public_view(g) for g in guests]
        if agent:
            await self.hub.emit("guests", {"sid": sid, "guests": public}, P.AGENT, f"agent:{agent}")
        if booth:
            plain = {"sid": sid, "guests": [G.booth_view(g) for g in guests]}
            await self.hub.emit("guests", plain, P.BOOTH, f"booth:{booth}")
            await self.hub.emit("guests", plain, P.DEVICE, f"device:{booth}")
        for user in dict.fromkeys([*(g["user"] for g in guests), *extra]):
            await self.hub.emit("guests", {"sid": sid, "guests": public}, P.GUEST, f"guest:{user}")

    async def end(self, sid: str) -> None:
        """End the guests of ``sid`` if it is no longer live (or changed hands), and tell everyone."""
        out = await self.service.end(sid)
        if not out["ended"]:
            return
        for g in out["ended"]:
            await self.hub.emit("guest_ended", {"sid": sid, "why": g.get("cause", "session_ended")}, P.GUEST,
                                f"guest:{g['user']}")
        await self.push_guests(sid, out["guests"], booth=out.get("booth", ""), agent=out.get("agent", ""))

    async def session_changed(self, e: dict[str, Any]) -> None:
        """The queue pushed a session's change: a session that left the live states, or went to
        another specialist, loses its guests (queue/live.py calls this)."""
        if e.get("state") in _HELD and e.get("act") != Action.TRANSFER_ACCEPT:
            return
        sid = str(e.get("sid", ""))
        try:
            if sid and await self.service.store.has_guests(sid):
                await self.end(sid)
        except (RedisError, OSError):  # the ticker's sweep ends them when Redis answers again
            log.warning("guests of session %s not ended now: Redis does not answer", sid)

    async def invitation_changed(self, inv: dict[str, Any]) -> None:
        """Tell the specialist who invited, and the reviewer, of an invitation's new state."""
        body = {"id": inv["id"], "sid": inv["sid"], "reviewer": inv["reviewer"], "state": inv["state"],
                "reviewer_name": inv.get("reviewer_name", ""), "deadline": int(inv.get("deadline") or 0)}
        await self.hub.emit("invitation", body, P.AGENT, f"agent:{inv['by']}")
        if inv["state"] == G.InviteState.PENDING:
            await self.hub.emit("invited", _invite_view(inv), P.GUEST, f"guest:{inv['reviewer']}")
        else:
            await self.hub.emit("invitation_over", {"id": inv["id"], "sid": inv["sid"], "state": inv["state"]},
                                P.GUEST, f"guest:{inv['reviewer']}")

    # --- the ticker ------------------------------------------------------------------------------

    async def tick(self) -> None:
        """Expire invitations past their deadline; end the guests of sessions no longer live."""
        for inv in await self.service.store.expire():
            log.info("invitation %s expired session=%s", inv["id"], inv["sid"])
            await self.invitation_changed(inv)
        for sid in await self.service.store.guested():
            await self.end(sid)

    # --- connections -----------------------------------------------------------------------------

    async def connected(self, conn: Conn) -> None:
        await self.hub.enter(conn, f"guest:{conn.subject}")
        await self.hub.claim(conn, CLAIM_ROLE)
        self.joined[conn.sid] = {}

    async def disconnected(self, conn: Conn) -> None:
        joined = self.joined.pop(conn.sid, {})
        await self.hub.release(conn, CLAIM_ROLE)
        for sid, gid in joined.items():
            out = await self.service.leave(conn.subject, sid, gid=gid, why="disconnected")
            if out.get("left"):
                await self.push_guests(sid, out["guests"], booth=out.get("booth", ""), agent=out.get("agent", ""))


def _invite_view(inv: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "sid", "reviewer", "reviewer_name", "by", "by_name", "centre", "matter", "region", "department",
            "deadline", "state", "at")
    return {k: inv.get(k, "") for k in keys}


def register(hub: Hub, service: GuestService) -> GuestsLive:
    """Register the guests' events and hooks with the hub."""
    live = GuestsLive(hub, service)
    hub.hooks(P.GUEST, connect=live.connected, disconnect=live.disconnected)

    @hub.handle(P.GUEST, "join")
    async def join(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        out = await service.join(conn.principal, p["sid"], p["mode"])
        live.joined.setdefault(conn.sid, {})[p["sid"]] = out["gid"]
        await live.push_guests(p["sid"], out["guests"], booth=out.pop("booth"), agent=out.pop("agent"))
        out.pop("replaced", None)
        out["guests"] = [G.public_view(g) for g in out["guests"]]
        return out

    @hub.handle(P.GUEST, "mode")
    async def mode(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        out = await service.mode(conn.principal, p["sid"], p["mode"])
        await live.push_guests(p["sid"], out["guests"], booth=out.get("booth", ""), agent=out.get("agent", ""))
        return {"sid": p["sid"], "mode": p["mode"], "guests": [G.public_view(g) for g in out["guests"]]}

    @hub.handle(P.GUEST, "leave")
    async def leave(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        live.joined.get(conn.sid, {}).pop(p["sid"], None)
        out = await service.leave(conn.subject, p["sid"])
        if out.get("left"):
            await live.push_guests(p["sid"], out["guests"], booth=out.get("booth", ""), agent=out.get("agent", ""),
                                   extra=(conn.subject,))
        return {"sid": p["sid"]}

    @hub.handle(P.GUEST, "signal")
    async def signal(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        return await hub.relay(conn, p, "guest")

    @hub.handle(P.GUEST, "invitations")
    async def invitations(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        return {"invitations": [_invite_view(i) for i in await service.pending_for(conn.subject)]}

    @hub.handle(P.GUEST, "invitation_reply")
    async def invitation_reply(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        inv = await service.reply(conn.subject, p["id"], p["accept"])
        await live.invitation_changed(inv)
        return {"id": inv["id"], "sid": inv["sid"], "state": inv["state"]}

    @hub.handle(P.GUEST, "mark")
    async def mark(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        out = await service.mark(conn.principal, p["sid"], p["material_id"], p["view"], p["note"])
        body = {"sid": p["sid"], "material_id": p["material_id"], "mark": out["mark"]}
        if out.get("agent"):
            await hub.emit("material_mark", body, P.AGENT, f"agent:{out['agent']}")
        return body

    async def current(conn: Conn, sid: str, side: str) -> list[dict[str, Any]]:
        s = await hub.members(sid)
        if s[side] != conn.subject:
            raise errors.Forbidden(f"session {sid} is not yours", code="not_member", field="sid")
        return await service.guests(sid) if s["state"] in _HELD else []

    @hub.handle(P.AGENT, "guests")
    async def agent_guests(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        return {"sid": p["sid"], "guests": [G.public_view(g) for g in await current(conn, p["sid"], "agent")]}

    @hub.handle(P.BOOTH, "guests")
    async def booth_guests(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        return {"sid": p["sid"], "guests": [G.booth_view(g) for g in await current(conn, p["sid"], "booth")]}

    @hub.handle(P.DEVICE, "guests")
    async def device_guests(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        return {"sid": p["sid"], "guests": [G.booth_view(g) for g in await current(conn, p["sid"], "booth")]}

    @hub.handle(P.AGENT, "reviewers")
    async def reviewers(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        return {"reviewers": await service.reviewers(conn.subject, p["sid"])}

    @hub.handle(P.AGENT, "invite")
    async def invite(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        inv = await service.invite(conn.subject, p["sid"], p["reviewer"])
        await live.invitation_changed(inv)
        return {"id": inv["id"], "deadline": int(inv["deadline"])}

    @hub.handle(P.AGENT, "invite_cancel")
    async def invite_cancel(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        inv = await service.cancel(conn.subject, p["id"])
        await live.invitation_changed(inv)
        return {"id": inv["id"], "state": inv["state"]}

    return live
