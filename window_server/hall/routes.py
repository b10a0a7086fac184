"""The hall's HTTP side: the call display (叫号屏) and the staff view, their JSON, the acknowledgement.

Pages and API ask for a login of the hall's centre: hall staff (大厅工作人员), a team lead or a
manager of that centre; a chain manager may open any hall. A page without such a login shows
the hall's login form (as /dashboard does); the API answers 401/403 JSON. The display PC stays
logged in as its hall's staff account and polls ``/api/halls/{centre}/board`` every two seconds.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import jinja2
from aiohttp import web

from signaling.protocol import BOOTH as BOOTH_NS
from window_server.appkeys import HUB, SETTINGS
from window_server.domain.auth import HALL_ROLES, Principal, can_use_hall, check_booth_id
from window_server.domain.errors import Forbidden, Unauthenticated
from window_server.hall.service import HALL, HallService
from window_server.http.auth import require_user
from window_server.http.pages import package_dir, page, serve_assets
from window_server.http.pages import templates as shared_templates

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

# Only its own scripts and styles; no inline code; speech and sound are browser APIs.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "media-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")

TEMPLATES = web.AppKey("hall_templates", jinja2.Environment)


def _hall(request: web.Request) -> HallService:
    return request.app[HALL]


def _json(data: Any) -> web.Response:
    resp = web.json_response(data, dumps=lambda d: json.dumps(d, ensure_ascii=False))
    resp.headers["Cache-Control"] = "no-store"
    return resp


async def _member(request: web.Request) -> tuple[Principal, str]:
    """The principal and the hall asked for: 401 without a login, 403 for another role or hall."""
    principal = await require_user(request, set(HALL_ROLES))
    centre = request.match_info["centre"]
    _hall(request).centre(centre)  # 404 unknown_centre
    if not can_use_hall(principal, centre):
        raise Forbidden(f"you may use the hall of centre {principal.centre} only", code="out_of_scope",
                        field="centre")
    return principal, centre


def _render(request: web.Request, name: str, **context: str) -> web.Response:
    html = request.app[TEMPLATES].get_template(name).render(demo=request.app[SETTINGS].demo, **context)
    return page(html, CSP)


async def _page(request: web.Request, name: str) -> web.StreamResponse:
    centre = request.match_info["centre"]
    c = _hall(request).centre(centre)
    try:
        await _member(request)
    except Unauthenticated:
        return _render(request, "login.html", centre=centre, message="", name_zh=c.name_zh, name_en=c.name_en)
    except Forbidden:
        return _render(request, "login.html", centre=centre, message="role", name_zh=c.name_zh, name_en=c.name_en)
    return _render(request, name, centre=centre, name_zh=c.name_zh, name_en=c.name_en)


@routes.get("/hall/{centre}/display")
async def display_page(request: web.Request) -> web.StreamResponse:
    """The hall's call display (叫号屏); without a login of that hall, its login form."""
    return await _page(request, "display.html")


@routes.get("/hall/{centre}/staff")
async def staff_page(request: web.Request) -> web.StreamResponse:
    """The hall staff view: booths calling for help; without a login of that hall, its login form."""
    return await _page(request, "staff.html")


@routes.get("/api/halls/{centre}/board")
async def board(request: web.Request) -> web.StreamResponse:
    """Called tickets, how many wait at booths and seated: what the display shows. No personal data."""
    _, centre = await _member(request)
    return _json(await _hall(request).board(centre))


@routes.get("/api/halls/{centre}/help")
async def help_calls(request: web.Request) -> web.StreamResponse:
    """The hall's booths calling for staff, the longest waiting first."""
    _, centre = await _member(request)
    return _json(await _hall(request).help_list(centre))


@routes.post("/api/halls/{centre}/help/{booth}/ack")
async def acknowledge(request: web.Request) -> web.StreamResponse:
    """已处理: clear a booth's help call and tell the booth someone is coming (idempotent)."""
    principal, centre = await _member(request)
    booth = check_booth_id(request.match_info["booth"])
    res = await _hall(request).staff_ack(centre, booth, principal.subject)
    done = bool(res.ok.get("done"))
    if done:
        log.info("hall %s: help call of booth %s acknowledged by user=%s", centre, booth, principal.subject)
        await request.app[HUB].emit("staff_coming", {"by": principal.subject}, BOOTH_NS, f"booth:{booth}")
    return _json({"booth": booth, "done": done})


def setup(app: web.Application) -> None:
    """Add the hall's pages, API and assets (the service is built with the hub: ``app[HALL]``)."""
    app[TEMPLATES] = shared_templates("window_server.hall", "templates")
    app.add_routes(routes)
    serve_assets(app, "hall", package_dir("window_server.hall", "static"))
