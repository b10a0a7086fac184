"""The booth's kiosk page (citizen_client/kiosk/), its assets, and the public catalogue it reads.

The page is a static shell rendered once per request; it authenticates with the booth token it
keeps in the browser's localStorage (given once as ``?token=`` when the booth is set up) and
does everything live over /booth. ``GET /api/catalogue`` is public and read-only: region and
matter names, nothing about people.
"""

from __future__ import annotations

import json
from typing import Any

import jinja2
from aiohttp import web

from window_server.appkeys import CATALOGUE, SETTINGS
from window_server.domain.auth import is_booth_id
from window_server.domain.catalogue import Catalogue
from window_server.http.pages import package_dir, page, serve_assets, templates
from window_server.runtime.catalogue import search_keys

routes = web.RouteTableDef()

TEMPLATES = web.AppKey("kiosk_templates", jinja2.Environment)
CATALOGUE_JSON = web.AppKey("kiosk_catalogue_json", bytes)

# Only its own scripts and styles; it talks to its own origin and to the booth's device agent on
# 127.0.0.1 (the document camera's status and thumbnail); media it makes itself (blob:, camera).
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
       "media-src 'self' blob: mediastream:; connect-src 'self' http://127.0.0.1:* http://localhost:*; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


def setup(app: web.Application) -> None:
    """Add the kiosk page, its assets and the catalogue endpoint to ``app``."""
    app[TEMPLATES] = templates("citizen_client", "kiosk", "templates", strict=False)
    app[CATALOGUE_JSON] = json.dumps(catalogue_json(app[CATALOGUE]), ensure_ascii=False).encode()
    app.add_routes(routes)
    serve_assets(app, "kiosk", package_dir("citizen_client", "kiosk", "static"))


def catalogue_json(catalogue: Catalogue) -> dict[str, Any]:
    """Regions grouped by province, matters with audience, theme and materials, centre names.

    Each matter also carries its ``aliases`` and their and its name's ``pinyin`` and
    ``initials`` (name first), so the kiosk's search understands qysl, yibao, 医保 …
    """
    def region(r: Any) -> dict[str, Any]:
        return {"code": r.code, "name_zh": r.name_zh, "name_en": r.name_en, "level": r.level.value}

    return {
        "provinces": [{**region(g.province), "regions": [region(r) for r in g.regions]}
                      for g in catalogue.regions_for_kiosk()],
        "matters": [
            {"code": m.code, "name_zh": m.name_zh, "name_en": m.name_en, "region": m.home_region,
             "audience": m.audience.value, "theme": m.theme, "department": m.department,
             "promised_days": m.promised_days, "service_modes": [s.value for s in m.service_modes],
             "materials": [{"kind": x.kind, "name_zh": x.name_zh, "name_en": x.name_en, "required": x.required,
                            "original": x.original} for x in m.materials],
             "aliases": list(m.aliases), **search_keys(m)}
            for m in catalogue.matters
        ],
        "centres": {c.id: {"name_zh": c.name_zh, "name_en": c.name_en} for c in catalogue.centres},
    }


@routes.get("/booth/{booth}")
async def kiosk_page(request: web.Request) -> web.StreamResponse:
    """The kiosk page of one booth (first set-up: ``?token=<booth token>``, kept by the page)."""
    booth = request.match_info["booth"]
    if not is_booth_id(booth):
        raise web.HTTPNotFound(text="no such booth page")
    html = request.app[TEMPLATES].get_template("kiosk.html").render(
        booth=booth, demo=request.app[SETTINGS].demo,
        recording_retention_days=round(request.app[SETTINGS].recording_retention_days))
    return page(html, CSP)


@routes.get("/api/catalogue")
async def catalogue(request: web.Request) -> web.StreamResponse:
    """The public catalogue the kiosk shows: regions by province, matters, centre names."""
    resp = web.Response(body=request.app[CATALOGUE_JSON], content_type="application/json", charset="utf-8")
    resp.headers["Cache-Control"] = "public, max-age=300"
    return resp
