"""docs/protocol.md and the browser's protocol.js stay true to the code."""

from __future__ import annotations

import re
from pathlib import Path

from signaling import protocol as P
from signaling.docs import BEGIN, END, events_markdown, protocol_js
from tests.service import seal_key_file
from window_server.app import create_app
from window_server.appkeys import ACCOUNTS, HUB
from window_server.settings import build_settings

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "protocol.md").read_text()


def test_the_events_section_is_generated_from_protocol_py() -> None:
    block = DOC.split(BEGIN + "\n")[1].split(END)[0]
    assert block == events_markdown(), "regenerate with: python -m signaling.docs"


def test_browser_constants_are_generated_from_protocol_py() -> None:
    text = (ROOT / "signaling" / "static" / "protocol.js").read_text()
    assert text == protocol_js(), "regenerate with: python -m signaling.docs --js > signaling/static/protocol.js"


def _app_routes() -> set[str]:
    app = create_app(build_settings({}, redis_url="redis://127.0.0.1:1/0", demo=False,
                                     evidence_key=str(seal_key_file())))
    routes = set()
    for resource in app.router.resources():
        info = resource.get_info()
        path = info.get("path") or info.get("formatter") or ""
        if path.startswith("/socket.io") or "prefix" in info:
            continue  # socket.io's own endpoint, static files
        for route in resource:
            if route.method not in ("HEAD", "OPTIONS", "*"):
                routes.add(f"{route.method} {path}")
    return routes


def test_every_http_endpoint_is_documented_and_every_documented_one_exists() -> None:
    documented = set(re.findall(r"`((?:GET|POST|PUT|PATCH|DELETE) /[^`\s]*)`", DOC))
    served = _app_routes()
    assert served - documented == set(), "endpoints missing from docs/protocol.md"
    assert documented - served == set(), "docs/protocol.md lists endpoints the server does not have"


async def test_every_client_event_has_a_handler_and_every_handler_a_spec(start_server) -> None:
    srv = await start_server()
    hub = srv.app[HUB]
    for ns in P.NAMESPACES:
        assert set(hub.handlers[ns]) == set(P.client_events(ns)), ns


def test_every_error_code_an_event_names_is_defined() -> None:
    for e in P.EVENTS:
        assert set(e.errors) <= set(P.ERROR_CODES), e.name


def _documented_answer(endpoint: str) -> set[str]:
    """The keys of the 200 answer docs/protocol.md's HTTP table gives ``endpoint``."""
    [row] = [line for line in DOC.splitlines() if line.startswith(f"| `{endpoint}` |")]
    found = re.search(r"200 `\{([^`]*)\}`", row)
    assert found, row
    return {k.strip() for k in found.group(1).split(",")}


async def test_connect_token_answers_are_documented_as_they_are(start_server) -> None:
    # a third party building a booth from docs/protocol.md alone read a `namespace` key that no answer has
    srv = await start_server()
    accounts = srv.app[ACCOUNTS]
    await accounts.add_user("doc.reader", "correct horse battery", "specialist", "sh-huangpu")
    async with srv.http.post(srv.url + "/api/login", json={"username": "doc.reader",
                                                             "password": "correct horse battery"}) as resp:
        assert resp.status == 200
        cookie = f"rw_session={resp.cookies['rw_session'].value}"
    async with srv.http.post(srv.url + "/api/connect-token", json={"namespace": "/agent"},
                             headers={"Cookie": cookie}) as resp:
        assert resp.status == 200
        staff = await resp.json()
    _, booth_token = await accounts.add_booth("sh-huangpu-09", "sh-huangpu")
    async with srv.http.post(srv.url + "/api/booths/sh-huangpu-09/connect-token", json={"role": "device"},
                             headers={"Authorization": f"Bearer {booth_token}"}) as resp:
        assert resp.status == 200
        booth = await resp.json()
    assert set(staff) == _documented_answer("POST /api/connect-token")
    assert set(booth) == _documented_answer("POST /api/booths/{booth}/connect-token")
