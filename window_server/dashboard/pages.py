"""The dashboard's two page shells (jinja2): the dashboard itself and its login form."""

from __future__ import annotations

import jinja2
from aiohttp import web

from window_server.appkeys import SETTINGS
from window_server.http.pages import page
from window_server.http.pages import templates as shared_templates

# Only its own scripts, styles and origin; uPlot draws on canvas, so no inline styles needed.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")

TEMPLATES = web.AppKey("dashboard_templates", jinja2.Environment)


def templates() -> jinja2.Environment:
    return shared_templates("window_server.dashboard", "templates")


def render(request: web.Request, name: str, **context: str) -> web.Response:
    """Render a page shell with the security headers every page gets."""
    html = request.app[TEMPLATES].get_template(name).render(demo=request.app[SETTINGS].demo, **context)
    return page(html, CSP)
