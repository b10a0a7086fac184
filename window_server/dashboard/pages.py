"""The dashboard's two page shells (jinja2): the dashboard itself and its login form."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import jinja2
from aiohttp import web

from window_server.appkeys import SETTINGS

# Only its own scripts, styles and origin; uPlot draws on canvas, so no inline styles needed.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")

TEMPLATES = web.AppKey("dashboard_templates", jinja2.Environment)


def package_dir(*parts: str) -> Path:
    return Path(str(resources.files("window_server.dashboard").joinpath(*parts)))


def templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(package_dir("templates")),
        autoescape=True, auto_reload=False, undefined=jinja2.StrictUndefined,
    )


def render(request: web.Request, name: str, **context: str) -> web.Response:
    """Render a page shell with the security headers every page gets."""
    html = request.app[TEMPLATES].get_template(name).render(demo=request.app[SETTINGS].demo, **context)
    resp = web.Response(text=html, content_type="text/html")
    resp.headers["Content-Security-Policy"] = CSP
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp
