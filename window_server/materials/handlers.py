"""Materials over socket.io: capture requests, capture results, verdicts and their pushes.

Registered with the signaling hub by ``register`` (the /agent events capture and verdict, the
/device event capture_result); HTTP uploads tell the parties through ``MaterialsLive.added``.
Image bytes never travel over socket.io: events carry ids and verdicts, and clients fetch images
over HTTP, where each view is recorded.
"""

from __future__ import annotations

import logging
from typing import Any

from signaling import protocol as P
from signaling.hub import Conn, Hub, Members
from window_server.domain import errors
from window_server.domain import materials as M
from window_server.materials.recognition import Recognised
from window_server.materials.store import MaterialStore, new_request_id
from window_server.queue.service import QueueService

log = logging.getLogger(__name__)

MAX_ERROR_CODE = 64
MAX_ERROR_MESSAGE = 500


def booth_view(material: dict[str, Any]) -> dict[str, Any]:
    """What the booth is told of a new material: the automatic check and plain words."""
    advice = M.advice_for_check(material["verdict"], material.get("reasons") or [])
    return {"sid": material["sid"],
            "material": {k: material[k] for k in ("id", "kind", "verdict", "reasons")},
            "advice_zh": advice.zh, "advice_en": advice.en}


def booth_recognised(done: Recognised) -> dict[str, Any]:
    """What the booth is told when a still's recognition lands: the verdict now, its class, plain words."""
    m = done.material
    return {"sid": m["sid"], "material": {k: m.get(k) for k in ("id", "kind", "verdict", "reasons", "class")},
            "advice_zh": done.advice.zh, "advice_en": done.advice.en}


class MaterialsLive:
    """The materials' side of one node's sockets."""

    def __init__(self, hub: Hub, queue: QueueService, store: MaterialStore, members: Members) -> None:
        self.hub = hub
        self.queue = queue  # the catalogue's matters, and session reads
        self.store = store
        self.members = members

    async def added(self, material: dict[str, Any], *, booth: str, agent: str) -> None:
        """Tell the session's specialist (the whole record) and its booth (the check and advice)."""
        if agent:
            await self.hub.emit("material_added", {"sid": material["sid"], "material": material}, P.AGENT, f"agent:{agent}")
        if booth:
            await self.hub.emit("material_added", booth_view(material), P.BOOTH, f"booth:{booth}")

    async def recognised(self, done: Recognised) -> None:
        """Tell the session's specialist (the whole record) and its booth (verdict, class, advice)."""
        sid = done.material["sid"]
        if done.agent:
            await self.hub.emit("material_recognised", {"sid": sid, "material": done.material}, P.AGENT,
                                f"agent:{done.agent}")
        if done.booth:
            await self.hub.emit("material_recognised", booth_recognised(done), P.BOOTH, f"booth:{done.booth}")

    async def capture(self, conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        """Record a capture request (Lua: held, yours, device online) and send it to the device agent."""
        sid = p["sid"]
        s = await self.queue.store.session(sid)
        if not s:
            raise errors.NotFound(f"no session {sid}", code="unknown_session", field="sid")
        if s.get("agent") != conn.subject:  # before anything about the session is said (Lua checks again)
            raise errors.Forbidden(f"session {sid} is not held by you", code="not_your_session", field="sid")
        kind = M.check_kind(self.queue.matter(s.get("matter", "")), p["kind"])
        camera = M.check_camera(p["camera"], M.CAPTURE_CAMERAS)
        request_id = new_request_id()
        res = await self.store.capture(sid, conn.subject, request_id, kind, camera)
        await self.hub.emit("capture_request", {"sid": sid, "request_id": request_id, "kind": kind, "camera": camera},
                       P.DEVICE, f"device:{res.ok['booth']}")
        log.info("capture %s requested session=%s kind=%s by=%s", request_id, sid, kind, conn.subject)
        return {"request_id": request_id}

    async def capture_result(self, conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        """Check a device agent's answer belongs to its booth's session and relay it to the specialist."""
        sid, request_id = p["sid"], p["request_id"]
        s = await self.members(sid)
        if s["booth"] != conn.subject:
            raise errors.Forbidden(f"session {sid} is not this booth's", code="not_member", field="sid")
        materials = self.store
        request = await materials.capture_request(sid, request_id) if M.is_request_id(request_id) else None
        if request is None:
            raise errors.NotFound(f"no capture request {request_id!r} in session {sid}", code="unknown_request",
                                  field="request_id")
        out: dict[str, Any] = {"sid": sid, "request_id": request_id, "kind": request.get("kind", "")}
        if p["material_id"] is not None:
            m = await materials.get(sid, p["material_id"]) if M.is_material_id(p["material_id"]) else None
            if m is None:
                raise errors.NotFound(f"no material {p['material_id']!r} in session {sid}", code="unknown_material",
                                      field="material_id")
            if m.get("request") != request_id:  # the upload must have named this request
                raise errors.InvalidInput(f"material {m['id']} was not uploaded for request {request_id}",
                                          field="material_id")
            out["material_id"] = p["material_id"]
        if p["error"] is not None:
            out["error"] = _capture_error(p["error"])
        if "material_id" not in out and "error" not in out:
            raise errors.InvalidInput("capture_result: send material_id or error", field="material_id")
        if s["agent"]:
            await self.hub.emit("capture_result", out, P.AGENT, f"agent:{s['agent']}")
        return {}

    async def verdict(self, conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        """Record the specialist's verdict (Lua) and tell the booth, and the specialist's consoles."""
        verdict_, reason = M.check_verdict(p["verdict"], p["reason"])
        override_reason = _override_reason(p["override_reason"])
        if not M.is_material_id(p["material_id"]):
            raise errors.NotFound(f"no material {p['material_id']!r}", code="unknown_material", field="material_id")
        res = await self.store.verdict(p["sid"], conn.subject, p["material_id"], verdict_, reason,
                                       seen_verdict=p["seen_verdict"] or "", override_reason=override_reason)
        advice = M.advice_for_verdict(verdict_, reason)
        out = {"sid": p["sid"], "material_id": p["material_id"], "kind": res.ok.get("kind", ""), "verdict": verdict_,
               "reason": reason, "advice_zh": advice.zh, "advice_en": advice.en}
        if res.ok.get("booth"):
            await self.hub.emit("material_verdict", out, P.BOOTH, f"booth:{res.ok['booth']}")
        override = bool(res.ok.get("override"))
        out = {**out, "override": override, "override_reason": str(res.ok.get("override_reason") or "")}
        await self.hub.emit("material_verdict", out, P.AGENT, f"agent:{conn.subject}")
        log.info("verdict %s on material %s session=%s by=%s%s", verdict_, p["material_id"], p["sid"], conn.subject,
                 " (overriding the automatic check)" if override else "")
        return out


def _override_reason(value: Any) -> str:
    """The specialist's reason for accepting what the check rejected (masked at the door already)."""
    text = (value or "").strip() if isinstance(value, str) else ""
    if any(ord(ch) < 32 for ch in text):
        raise errors.InvalidInput("override_reason may not contain control characters", field="override_reason")
    return text


def _capture_error(e: dict[str, Any]) -> dict[str, str]:
    code, message = e.get("code"), e.get("message", "")
    if set(e) - {"code", "message"} or not isinstance(code, str) or not isinstance(message, str):
        raise errors.InvalidInput("capture_result: error must be {code, message}", field="error")
    if not code or len(code) > MAX_ERROR_CODE or len(message) > MAX_ERROR_MESSAGE:
        raise errors.InvalidInput("capture_result: error code or message too long", field="error")
    return {"code": code, "message": message}


def register(hub: Hub, queue: QueueService, store: MaterialStore, members: Members) -> MaterialsLive:
    """Register the materials' socket.io events with the hub; return its live side (HTTP uploads tell it)."""
    materials = MaterialsLive(hub, queue, store, members)

    @hub.handle(P.AGENT, "capture")
    async def capture(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        return await materials.capture(conn, p)

    @hub.handle(P.AGENT, "verdict")
    async def verdict(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        return await materials.verdict(conn, p)

    @hub.handle(P.DEVICE, "capture_result")
    async def capture_result(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        return await materials.capture_result(conn, p)

    return materials
