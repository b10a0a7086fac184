"""What every browser page (kiosk, console, dashboard) shares: templates, headers, assets."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import jinja2
from aiohttp import web


def package_dir(package: str, *parts: str) -> Path:
    """A folder shipped inside a Python package (templates, static files)."""
    return Path(str(resources.files(package).joinpath(*parts)))


def templates(package: str, *parts: str, strict: bool = True) -> jinja2.Environment:
    """A jinja2 environment over a package's templates folder, autoescaped."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(package_dir(package, *parts)),
        autoescape=True, auto_reload=False,
        undefined=jinja2.StrictUndefined if strict else jinja2.Undefined,
    )


def page(html: str, csp: str) -> web.Response:
    """An HTML page with the security headers every page gets."""
    resp = web.Response(text=html, content_type="text/html")
    resp.headers["Content-Security-Policy"] = csp
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "no-referrer"  # the kiosk's first URL carries its token
    return resp


def serve_assets(app: web.Application, prefix: str, static: Path) -> None:
    """Serve a page's own files at ``/<prefix>/static/`` and, beside them, the vendored
    libraries (``vendor/``), the generated protocol constants (``protocol/``) and the modules
    the pages share (``shared/``), so each page loads everything from under its own prefix."""
    app.router.add_static(f"/{prefix}/static/", static)
    app.router.add_static(f"/{prefix}/vendor/", package_dir("window_server", "static", "vendor"))
    app.router.add_static(f"/{prefix}/shared/", package_dir("window_server", "static", "shared"))
    app.router.add_static(f"/{prefix}/protocol/", package_dir("signaling", "static"))
