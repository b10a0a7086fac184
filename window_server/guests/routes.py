"""The guest page (``GET /guest``, issue 19): a reviewer's inbox and a guest's view of a live session.

The page is a static shell (``templates/guest.html``, its modules under ``/guest/static/``); it signs
in with the staff login and then speaks /guest over socket.io. ``?sid=…&mode=monitor`` joins a session
at once (from the dashboard's list of specialists). ``GET /api/guest/context`` says who is signed in
and what a guest may do.
"""

from __future__ import annotations

import jinja2
from aiohttp import web

from window_server.appkeys import SETTINGS
from window_server.domain import guests as G
from window_server.domain.errors import Forbidden
from window_server.http.auth import current_user
from window_server.http.pages import package_dir, page, serve_assets, templates

routes = web.RouteTableDef()

TEMPLATES = web.AppKey("guest_templates", jinja2.Environment)

# As the console's: its own scripts and styles, its own origin, media it made or fetched here.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
       "media-src 'self' blob: mediastream:; connect-src 'self'; frame-ancestors 'none'; "
       "base-uri 'none'; form-action 'self'")


def setup(app: web.Application) -> None:
    """Add the guest page, its assets and its context endpoint."""
    app[TEMPLATES] = templates("window_server.guests", "templates", strict=False)
    app.add_routes(routes)
    serve_assets(app, "guest", package_dir("window_server.guests", "static"))


@routes.get("/guest")
async def guest_page(request: web.Request) -> web.StreamResponse:
    """The guest page (it shows its own login form when nobody is signed in)."""
    html = request.app[TEMPLATES].get_template("guest.html").render(demo=request.app[SETTINGS].demo)
    return page(html, CSP)


@routes.get("/api/guest/context")
async def context(request: web.Request) -> web.StreamResponse:
    """Who is signed in and the modes they may join in (403 for a role that is never a guest)."""
    user = await current_user(request)
    if not G.is_guest_role(user.role):
        raise Forbidden(f"a {user.role.value} is never a guest")
    settings = request.app[SETTINGS]
    body = {"user": user.public(), "modes": list(G.modes_for(user.role)), "max_guests": settings.max_guests,
            "invite_seconds": settings.invite_seconds}
    resp = web.json_response(body)
    resp.headers["Cache-Control"] = "no-store"
    return resp
