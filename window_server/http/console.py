"""The specialist's console (agent_console/): its two pages, its assets and its context endpoint.

The pages are static shells rendered once per request from jinja2 templates; everything live
comes over /agent (socket.io) and the JSON API. The context endpoint gives the console what the
socket protocol does not carry: matter and centre names, material lists, the queue's clocks.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import jinja2
from aiohttp import web

from window_server.appkeys import ACCOUNTS, CATALOGUE, SETTINGS
from window_server.domain.auth import Role
from window_server.domain.catalogue import Catalogue
from window_server.domain.errors import Forbidden, RemoteWindowError
from window_server.domain.outcomes import allowed_hows
from window_server.http.auth import current_user
from window_server.http.pages import package_dir, page, serve_assets, templates

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

CONSOLE_ROLES = {Role.SPECIALIST, Role.TEAM_LEAD}
TEMPLATES = web.AppKey("console_templates", jinja2.Environment)

# A page that loads only its own scripts and styles, talks only to its own origin, and shows
# camera, screen and still images that it made itself (blob:) or fetched from here.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
       "media-src 'self' blob: mediastream:; connect-src 'self'; frame-ancestors 'none'; "
       "base-uri 'none'; form-action 'self'")


def setup(app: web.Application) -> None:
    """Add the console's pages, assets and API to ``app``."""
    env = templates("agent_console", "templates")
    # One place for the words: the pages render the Chinese strings the browser module also uses.
    strings = json.loads(package_dir("agent_console", "static", "strings.json").read_text(encoding="utf-8"))
    env.globals["t"] = lambda k: strings["zh"][k]
    app[TEMPLATES] = env
    app.add_routes(routes)
    serve_assets(app, "console", package_dir("agent_console", "static"))


def _page(request: web.Request, name: str) -> web.Response:
    return page(request.app[TEMPLATES].get_template(name).render(demo=request.app[SETTINGS].demo), CSP)


@routes.get("/console/login")
async def login_page(request: web.Request) -> web.StreamResponse:
    """The console's login page."""
    return _page(request, "login.html")


@routes.get("/console")
async def console_page(request: web.Request) -> web.StreamResponse:
    """The console; without a valid login, the login page."""
    try:
        user = await current_user(request)
    except RemoteWindowError:
        raise web.HTTPFound("/console/login") from None
    if user.role is Role.REVIEWER:  # issue 19: a reviewer's page is the guest page (their invitations)
        raise web.HTTPFound("/guest")
    if user.role not in CONSOLE_ROLES:
        raise web.HTTPFound("/console/login?role=1")
    return _page(request, "console.html")


def catalogue_view(catalogue: Catalogue) -> dict[str, Any]:
    """Matters (names, home region, materials) and centres (names, regions served), by id."""
    return {
        "matters": {
            m.code: {"name_zh": m.name_zh, "name_en": m.name_en, "region": m.home_region,
                     "department": m.department, "promised_days": m.promised_days,
                     "materials": [{"kind": x.kind, "name_zh": x.name_zh, "name_en": x.name_en,
                                    "required": x.required, "original": x.original,
                                    # issue 18: how it may be supplied when missing, the default first
                                    "hows": [h.value for h in allowed_hows(m, x)]} for x in m.materials]}
            for m in catalogue.matters
        },
        "centres": {
            c.id: {"name_zh": c.name_zh, "name_en": c.name_en, "region": c.region,
                   "serves": list(c.serves_regions)}
            for c in catalogue.centres
        },
    }


@routes.get("/api/console/context")
async def context(request: web.Request) -> web.StreamResponse:
    """What the console needs besides the socket: who, the server's clock, timings, the catalogue."""
    user = await current_user(request)
    if user.role not in CONSOLE_ROLES:
        raise Forbidden(f"a {user.role.value} has no console")
    settings = request.app[SETTINGS]
    body = {
        "user": user.public(),
        "now": request.app[ACCOUNTS].now_ms(),
        "timing": {
            "offer_timeout_s": settings.offer_timeout_seconds,
            "wrap_up_s": settings.wrap_up_seconds,
            "reconnect_grace_s": settings.reconnect_grace_seconds,
            "transfer_timeout_s": settings.transfer_timeout_seconds,
        },
        **catalogue_view(request.app[CATALOGUE]),
    }
    resp = web.json_response(body)
    resp.headers["Cache-Control"] = "no-store"
    return resp
