"""/agent and /booth: the text beside the video, its history after a reload, and the citizen's hang-up.

Issue 18 (conversation). A message is kept (``rw_chat``: the chat list and a ``chat`` annotation
in one call) before it is acknowledged, then pushed as ``chat`` to the booth and to every tab of
the specialist holding the session. The words were masked at the door (``free_text``).
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from signaling import protocol as P
from signaling.hub import Conn, Hub
from window_server.domain import errors

if TYPE_CHECKING:  # live.py registers this module
    from window_server.queue.live import QueueLive

log = logging.getLogger(__name__)

_PUBLIC = ("sid", "id", "from", "text", "quick", "at")


def message_view(sid: str, m: dict[str, Any]) -> dict[str, Any]:
    """A stored message as both sides see it: ``{sid, id, from, text, quick?, at}`` (never who by name)."""
    out = {k: m[k] for k in _PUBLIC if k in m and k != "sid"}
    out["sid"] = sid
    if not out.get("quick"):
        out.pop("quick", None)
    return out


async def _push(live: QueueLive, sid: str, stored: dict[str, Any]) -> dict[str, Any]:
    msg = message_view(sid, stored)
    if stored.get("booth"):
        await live.hub.emit("chat", msg, P.BOOTH, f"booth:{stored['booth']}")
    if stored.get("agent"):
        await live.hub.emit("chat", msg, P.AGENT, f"agent:{stored['agent']}")
    log.info("chat message %s session=%s from=%s", msg["id"], sid, msg["from"])
    return msg


async def history(live: QueueLive, sid: str) -> dict[str, Any]:
    return {"sid": sid, "messages": [message_view(sid, m) for m in await live.store.chat_log(sid)]}


def register(hub: Hub, live: QueueLive) -> None:
    @hub.handle(P.AGENT, "chat")
    async def agent_chat(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        res = await live.queue.chat(p["sid"], "agent", conn.subject, p["text"])
        return await _push(live, p["sid"], res.ok)

    @hub.handle(P.BOOTH, "chat")
    async def booth_chat(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        res = await live.queue.chat(p["sid"], "booth", conn.subject, p["text"], p["quick"])
        return await _push(live, p["sid"], res.ok)

    @hub.handle(P.AGENT, "chat_history")
    async def agent_history(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        sid = p["sid"]
        agent, offer_agent, served = await live.store.session_fields(sid, ["agent", "offer_agent", "served"])
        if agent is None and offer_agent is None and served is None:
            raise errors.NotFound(f"no session {sid}", code="unknown_session", field="sid")
        if conn.subject not in (agent, offer_agent) and conn.subject not in json.loads(served or "[]"):
            raise errors.Forbidden(f"session {sid} is not yours to see", code="not_member", field="sid")
        return await history(live, sid)

    @hub.handle(P.BOOTH, "chat_history")
    async def booth_history(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        s = await live.views.members(p["sid"])
        if s["booth"] != conn.subject:
            raise errors.Forbidden(f"session {p['sid']} is not this booth's", code="not_member", field="sid")
        return await history(live, p["sid"])

    @hub.handle(P.BOOTH, "hang_up")
    async def hang_up(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        return await live.pushed(await live.queue.hang_up(p["sid"], conn.subject))
