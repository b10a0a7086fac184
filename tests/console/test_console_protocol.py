"""What the console added to /agent and HTTP: identity checks, the missing list, device_ready on
accept, and the console's pages and context endpoint."""

from __future__ import annotations

from typing import Any

import aiohttp

from window_server.appkeys import ACCOUNTS
from window_server.domain.auth import Role

from ..signaling.conftest import SECRET, Client, token
from .conftest import Journey


async def _served(start_server: Any, journey: Journey) -> tuple[Any, Client, Client, str]:
    srv = await start_server(secret=SECRET)
    booth = Client("/booth")
    await booth.connect(srv.url, token(Role.BOOTH, journey.booth, journey.intake, "/booth"))
    agent = Client("/agent")
    await agent.connect(srv.url, token(Role.SPECIALIST, f"spec-{journey.home}", journey.home, "/agent"))
    ticket = await booth.ok("request_service", {"matter": journey.matter, "consent": True})
    await agent.ok("presence", {"status": "available"})
    offer = await agent.next("offer")
    assert offer["sid"] == ticket["sid"]
    return srv, booth, agent, ticket["sid"]


async def test_identity_is_recorded_pushed_and_gates_an_intake(start_server: Any, journey: Journey) -> None:
    _srv, booth, agent, sid = await _served(start_server, journey)
    try:
        refused = await agent.call("identity", {"sid": sid, "method": "id_card_face", "result": "passed"})
        assert refused["error"]["code"] == "not_your_session"  # offered, not yet held

        await agent.ok("accept", {"sid": sid})
        bad = await agent.call("identity", {"sid": sid, "method": "by_guess", "result": "passed"})
        assert (bad["error"]["code"], bad["error"]["field"]) == ("invalid_input", "method")

        failed = await agent.ok("identity", {"sid": sid, "method": "face_only", "result": "failed"})
        assert failed["identity"]["result"] == "failed"
        blocked = await agent.call("complete", {"sid": sid, "outcome": "intake"})
        assert blocked["error"]["code"] == "identity_required"  # a failed check does not count

        fake = await agent.call("identity", {"sid": sid, "method": "id_card_face", "result": "passed",
                                             "material_id": "m0123456789abcdef"})
        assert (fake["error"]["code"], fake["error"]["field"]) == ("not_id_photo", "material_id")  # no such still
        ok = await agent.ok("identity", {"sid": sid, "method": "id_card_face", "result": "passed"})
        check = ok["identity"]
        assert (check["method"], check["result"], check["material_id"], check["by"]) == (
            "id_card_face", "passed", "", f"spec-{journey.home}")
        pushed = await agent.next("identity", lambda d: d["result"] == "passed")
        assert pushed == {"sid": sid, **check}

        detail = await agent.ok("session_detail", {"sid": sid})
        assert detail["session"]["identity"] == check
        acts = [e for e in detail["events"] if e["act"] == "identity"]
        assert [(e["result"], e["method"]) for e in acts] == [("failed", "face_only"), ("passed", "id_card_face")]

        done = await agent.ok("complete", {"sid": sid, "outcome": "intake", "case_number": "NT-2026-0042"})
        assert done["state"] == "completed"
    finally:
        await booth.close()
        await agent.close()


async def test_needs_supplement_keeps_the_missing_list(start_server: Any, journey: Journey) -> None:
    _srv, booth, agent, sid = await _served(start_server, journey)
    try:
        await agent.ok("accept", {"sid": sid})
        wrong = await agent.call("complete", {"sid": sid, "outcome": "needs_supplement", "missing": ["passport"]})
        assert (wrong["error"]["code"], wrong["error"]["field"]) == ("invalid_input", "missing")
        await agent.ok("complete", {"sid": sid, "outcome": "needs_supplement",
                                    "missing": ["id_card_back", "application_form"]})
        detail = await agent.ok("session_detail", {"sid": sid})
        note = [e for e in detail["events"] if e.get("missing")]
        assert note and note[0]["missing"] == "id_card_back,application_form"
        assert "居民身份证（国徽面）" in detail["notes"][-1]["text"]
        assert detail["session"]["outcome"] == "needs_supplement"
    finally:
        await booth.close()
        await agent.close()


async def test_device_ready_is_sent_on_accept_and_on_resume(start_server: Any, journey: Journey) -> None:
    srv, booth, agent, sid = await _served(start_server, journey)
    device = Client("/device")
    try:
        await device.connect(srv.url, token(Role.DEVICE, journey.booth, journey.intake, "/device"))
        cams = [{"id": "main", "role": "main", "preview": [1280, 720], "still": [3264, 2448]}]
        await device.ok("register", {"cameras": cams, "version": "test"})
        await agent.ok("accept", {"sid": sid})
        ready = await agent.next("device_ready")
        assert ready == {"sid": sid, "cameras": cams}

        await agent.close()  # the console reloads: it resumes and learns the device is there
        again = Client("/agent")
        await again.connect(srv.url, token(Role.SPECIALIST, f"spec-{journey.home}", journey.home, "/agent"))
        resumed = await again.next("session_state", lambda d: d["act"] == "resume")
        assert resumed["sid"] == sid
        assert (await again.next("device_ready"))["sid"] == sid
        await again.close()
    finally:
        await device.close()
        await booth.close()
        await agent.close()


async def test_console_pages_and_context(start_server: Any) -> None:
    srv = await start_server(demo=True)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:  # cookies for 127.0.0.1
        await _pages_and_context(srv, http)


async def _pages_and_context(srv: Any, http: aiohttp.ClientSession) -> None:
    async with http.get(srv.url + "/console", allow_redirects=False) as r:
        assert (r.status, r.headers["Location"]) == (302, "/console/login")
    async with http.get(srv.url + "/console/login") as r:
        assert r.status == 200
        assert "script-src 'self'" in r.headers["Content-Security-Policy"]
        assert "专员登录" in await r.text()
    async with http.get(srv.url + "/api/console/context") as r:
        assert (r.status, (await r.json())["error"]["code"]) == (401, "unauthenticated")
    async with http.post(srv.url + "/api/login", json={"username": "mgr-sh-huangpu", "password": "demo1234"}) as r:
        assert r.status == 200
    async with http.get(srv.url + "/api/console/context") as r:
        assert r.status == 403  # a manager has no console
    async with http.get(srv.url + "/console", allow_redirects=False) as r:
        assert r.status == 302
    async with http.post(srv.url + "/api/login", json={"username": "spec-js-nantong", "password": "demo1234"}) as r:
        assert r.status == 200
    async with http.get(srv.url + "/console") as r:
        assert r.status == 200 and "/console/static/console.js" in await r.text()
    async with http.get(srv.url + "/api/console/context") as r:
        ctx = await r.json()
    assert ctx["user"]["username"] == "spec-js-nantong"
    kinds = [m["kind"] for m in ctx["matters"]["js-320600-housing-fund-transfer"]["materials"]]
    assert kinds == ["application_form", "id_card_front", "id_card_back"]
    assert "320600" in ctx["centres"]["js-province"]["serves"]
    assert ctx["timing"]["wrap_up_s"] > 0 and abs(ctx["now"] - srv.app[ACCOUNTS].now_ms()) < 5000
    for path in ("/console/static/console.js", "/console/vendor/socket.io.esm.min.js",
                 "/console/protocol/protocol.js", "/console/static/strings.json"):
        async with http.get(srv.url + path) as r:
            assert r.status == 200, path



