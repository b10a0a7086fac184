"""/dashboard: managers and team leads watch their scope live (figures: the dashboard issue)."""

from __future__ import annotations

from signaling import protocol as P
from signaling.hub import Conn, Hub
from window_server.domain.auth import Role


def register(hub: Hub) -> None:
    async def on_connect(conn: Conn) -> None:
        if conn.principal.role is Role.CHAIN_MANAGER:
            await hub.enter(conn, "chain")
        else:
            await hub.enter(conn, f"centre:{conn.principal.centre}")

    hub.on_connect[P.DASHBOARD] = on_connect
