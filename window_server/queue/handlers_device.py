"""/device: the booth's device agent (高拍仪). Capabilities and the preview's signaling.

Its captures are the materials feature's (``window_server/materials/handlers.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from signaling import protocol as P
from signaling.hub import Conn, Hub
from window_server.domain import errors
from window_server.domain.session import HELD_STATES

if TYPE_CHECKING:  # live.py registers this module
    from window_server.queue.live import QueueLive

_CAMERA_KEYS = {"id", "role", "preview", "still"}
_HELD = frozenset(x.value for x in HELD_STATES)


def _cameras(raw: list[Any]) -> list[dict[str, Any]]:
    cams = []
    for i, cam in enumerate(raw):
        if not isinstance(cam, dict) or set(cam) - _CAMERA_KEYS or not isinstance(cam.get("id"), str):
            raise errors.InvalidInput(f"register: cameras[{i}] must be {{id, role, preview, still}}", field="cameras")
        for size in ("preview", "still"):
            v = cam.get(size)
            if v is not None and not (isinstance(v, list) and len(v) == 2
                                      and all(isinstance(x, int) and 0 < x <= 20000 for x in v)):
                raise errors.InvalidInput(f"register: cameras[{i}].{size} must be [width, height]", field="cameras")
        cams.append({k: cam.get(k) for k in _CAMERA_KEYS})
    return cams


def register(hub: Hub, live: QueueLive) -> None:
    async def on_connect(conn: Conn) -> None:
        await hub.enter(conn, f"device:{conn.subject}")
        await hub.claim(conn, "device")

    async def on_disconnect(conn: Conn) -> None:
        if await hub.release(conn, "device"):
            await live.views.device_offline(conn.subject)

    hub.hooks(P.DEVICE, connect=on_connect, disconnect=on_disconnect)

    @hub.handle(P.DEVICE, "register")
    async def register_device(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        cams = _cameras(p["cameras"])
        await live.views.device_online(conn.subject, cams, p["version"])
        sid = await live.store.booth_session(conn.subject)
        session = None
        if sid:
            s = await live.store.session(sid)
            session = {"sid": sid, "state": s.get("state"), "agent": s.get("agent", "")}
            if s.get("state") in _HELD and s.get("agent"):
                await hub.emit("device_ready", {"sid": sid, "cameras": cams}, P.AGENT, f"agent:{s['agent']}")
        return {"session": session}

    @hub.handle(P.DEVICE, "signal")
    async def signal(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        return await hub.relay(conn, p, "device")
