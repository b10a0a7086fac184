"""Signing over socket.io: the specialist's sign_request (/agent) and the citizen's sign_declined (/booth).

The strokes never travel over socket.io: the kiosk sends them over HTTPS (``POST
/api/sessions/{sid}/signatures``, ``window_server/http/signing.py``), where the body is capped and
the answer comes once the signature is stored and chained.
"""

from __future__ import annotations

from typing import Any

from signaling import protocol as P
from signaling.hub import Conn, Hub
from window_server.signing.service import SigningService


def register(hub: Hub, service: SigningService) -> None:
    """Register the signing events with the hub."""

    @hub.handle(P.AGENT, "sign_request")
    async def sign_request(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        return await service.request(conn.subject, p["sid"], p["doc"])

    @hub.handle(P.BOOTH, "sign_declined")
    async def sign_declined(conn: Conn, p: dict[str, Any]) -> dict[str, Any]:
        return await service.decline(conn.subject, p["sid"], p["request_id"])
