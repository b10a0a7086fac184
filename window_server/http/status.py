"""The public status page of a session (issue 18): ``GET /r/{code}`` (HTML) and ``GET /api/status/{code}``.

The code is the one the booth's receipt shows as a QR code: ``secrets.token_urlsafe(16)`` made with
the session (``rw_enqueue``), so it cannot be guessed or enumerated. The page shows the matter,
the state and the next step in plain words (``domain/outcomes.public_status``) and nothing about
the person: no names, ID or phone numbers, no address, no ticket, no specialist. An unknown and a
malformed code get the same 404 ``unknown_status`` after the same Redis read; each client address
has a token bucket (``STATUS_BURST`` at once, then ``STATUS_PER_MINUTE``); the code is never logged
above DEBUG (a Redis failure is answered here, not by the middleware, whose line names the path).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import jinja2
from aiohttp import web
from redis.exceptions import RedisError

from window_server.appkeys import CATALOGUE, REDIS
from window_server.domain import errors
from window_server.domain.outcomes import STATUS_CODE, public_status
from window_server.domain.ratelimit import TokenBucket
from window_server.http.client import client_address
from window_server.http.errors import error_response
from window_server.http.pages import package_dir, page, serve_assets, templates
from window_server.queue.outcomes_store import OutcomesStore

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

STATUS_BURST = 20
STATUS_PER_MINUTE = 30
MAX_CLIENTS = 4096
_NO_CODE = "-" * 22  # a malformed code reads this key instead: the same work as an unknown one

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"}

TEMPLATES = web.AppKey("status_templates", jinja2.Environment)


class StatusThrottle:
    """Per-address token buckets, bounded: the least recently seen addresses are forgotten."""

    def __init__(self, *, burst: int = STATUS_BURST, per_minute: float = STATUS_PER_MINUTE,
                 max_clients: int = MAX_CLIENTS, clock: Callable[[], float] = time.monotonic) -> None:
        self.burst, self.rate, self.max_clients, self.clock = burst, per_minute / 60.0, max_clients, clock
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def take(self, client: str) -> bool:
        now = self.clock()
        bucket = self._buckets.pop(client, None) or TokenBucket(self.rate, self.burst, now)
        self._buckets[client] = bucket
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return bucket.take(now)


THROTTLE = web.AppKey("status_throttle", StatusThrottle)


def setup(app: web.Application) -> None:
    """Add the status page, its JSON and its assets to ``app``."""
    app[TEMPLATES] = templates("citizen_client", "status", "templates")
    app[THROTTLE] = StatusThrottle()
    app.add_routes(routes)
    serve_assets(app, "status", package_dir("citizen_client", "status", "static"))


async def _status(request: web.Request) -> dict[str, Any] | web.Response:
    """The public status of the code in the path, or the error response to send."""
    if not request.app[THROTTLE].take(client_address(request)):
        return _headers(error_response(429, "rate_limited", "too many status look-ups; try again in a minute"))
    code = request.match_info["code"]
    try:
        fields = await OutcomesStore(request.app[REDIS]).public_fields(code if STATUS_CODE.fullmatch(code) else _NO_CODE)
    except (RedisError, OSError):
        log.warning("redis unavailable while serving a status page")
        return _headers(error_response(503, "unavailable", "the status store does not answer; try again"))
    if fields is None:
        log.debug("status page: unknown code %s", code)
        raise errors.NotFound("no status page has that code", code="unknown_status")
    catalogue = request.app[CATALOGUE]
    matter = catalogue.matter(fields["matter"]) if catalogue.has_matter(fields["matter"]) else None
    return public_status(fields, matter)


def _headers(resp: web.Response) -> web.Response:
    resp.headers.update(HEADERS)
    return resp


async def _answer(request: web.Request, render: Callable[[dict[str, Any]], web.Response]) -> web.StreamResponse:
    """The status of the code in the path as ``render`` shows it, or its error, with the page's headers."""
    try:
        status = await _status(request)
    except errors.NotFound as exc:
        return _headers(error_response(404, exc.code, str(exc)))
    if isinstance(status, web.Response):
        return status
    return _headers(render(status))


@routes.get("/api/status/{code}")
async def status_json(request: web.Request) -> web.StreamResponse:
    """The session's public status as JSON (no personal data)."""
    return await _answer(request, web.json_response)


@routes.get("/r/{code}")
async def status_page(request: web.Request) -> web.StreamResponse:
    """The page the receipt's QR code opens: large, Chinese and English, no login."""
    return await _answer(request, lambda status: page(
        request.app[TEMPLATES].get_template("status.html").render(s=status), CSP))
