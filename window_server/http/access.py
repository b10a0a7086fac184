"""Views that are logged: every attempt to see a recording, still, PDF or evidence package.

``logged`` runs the part of a handler that authenticates the caller and decides, and writes one
access-log entry before anything is sent: granted, or refused with the answer's code (401, 403,
404, 409…). If the entry cannot be written the request fails and nothing is served.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import web

from window_server.appkeys import ACCESS
from window_server.domain import errors
from window_server.domain.auth import Principal
from window_server.domain.materials import viewer_tag
from window_server.http.client import WHO, client_address
from window_server.store.access_log import Access

T = TypeVar("T")

ANONYMOUS = "-"


async def logged(
    request: web.Request,
    sid: str,
    action: str,
    item: str,
    who: Callable[[], Awaitable[Principal]],
    serve: Callable[[Principal], Awaitable[T]],
) -> T:
    """Authenticate with ``who``, decide with ``serve``; log the attempt either way, then return."""
    principal: Principal | None = None
    try:
        principal = await who()
        result = await serve(principal)
    except errors.RemoteWindowError as exc:  # a refusal of any kind (401, 403, 404, 409…)
        await _write(request, sid, action, item, principal, allowed=False, code=exc.code)
        raise
    await _write(request, sid, action, item, principal, allowed=True)
    return result


async def _write(request: web.Request, sid: str, action: str, item: str, principal: Principal | None, *,
                 allowed: bool, code: str = "") -> None:
    who = viewer_tag(principal) if principal else request.get(WHO, ANONYMOUS)
    await request.app[ACCESS].record(Access(
        who=who, role=principal.role.value if principal else "", centre=principal.centre if principal else "",
        action=action, sid=sid, item=item, addr=client_address(request), allowed=allowed, code=code))
