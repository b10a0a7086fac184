"""Who is on the other end of a request: the client's address, and the principal once known.

Kept apart from ``http/auth.py`` so the error middleware can name both in the security trail
without importing the routes.
"""

from __future__ import annotations

import ipaddress

from aiohttp import web

WHO = web.RequestKey("who", str)
"""The authenticated principal of this request (a username or ``booth:<id>``), set by the door."""


def client_address(request: web.Request) -> str:
    """The client's IP: the peer, or the last X-Forwarded-For hop if the peer is a local proxy.

    Forwarding headers are believed only from a loopback peer (nginx on the same host);
    anyone else could write them and dodge the per-address login throttle.
    """
    peer = request.remote or ""
    try:
        local = ipaddress.ip_address(peer).is_loopback
    except ValueError:
        local = False
    if local:
        forwarded = request.headers.get("X-Forwarded-For", "").split(",")[-1].strip()
        try:
            return str(ipaddress.ip_address(forwarded))
        except ValueError:
            pass
    return peer or "unknown"
