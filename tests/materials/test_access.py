"""Who may see a session's materials, every view recorded; the PDF and the ID-card page."""

from __future__ import annotations

import re
from typing import Any

from tests.signaling.conftest import Client, token
from window_server.appkeys import ACCOUNTS, QUEUE, STORE
from window_server.domain.auth import Role
from window_server.materials.store import MaterialStore

from .conftest import Env, Stills


async def _upload(env: Env, data: bytes, kind: str = "application_form") -> dict[str, Any]:
    status, body = await env.upload(data, kind=kind)
    assert status == 201, body
    material: dict[str, Any] = body["material"]
    return material


async def test_who_may_see_and_every_view_is_recorded(env: Env, stills: Stills) -> None:
    m = await _upload(env, stills.good)
    other_centre = next(c for c in (env.demo["intake_centre"], env.demo["home_centre"], "sh-huangpu", "js-suzhou")
                        if c not in (env.demo["intake_centre"], env.demo["home_centre"]))
    allowed = {
        "specialist": env.cookie(env.agent_cookie),
        "booth": env.booth_headers(),
        "intake manager": env.cookie(await env.staff("mgr-intake", Role.MANAGER, env.demo["intake_centre"])),
        "serving team lead": env.cookie(await env.staff("lead-home", Role.TEAM_LEAD, env.demo["home_centre"])),
        "chain manager": env.cookie(await env.staff("chain-mgr", Role.CHAIN_MANAGER, "")),
    }
    _rec, token2 = await env.app[ACCOUNTS].add_booth("bth-mat-9", env.demo["intake_centre"])
    denied = {
        "another specialist": env.cookie(await env.staff("spec-else", Role.SPECIALIST, env.demo["home_centre"])),
        "another booth": env.booth_headers("bth-mat-9", token2),
        "unrelated manager": env.cookie(await env.staff("mgr-else", Role.MANAGER, other_centre)),
    }
    for who, headers in allowed.items():
        status, body, resp = await env.get(f"/materials/{m['id']}/thumb", headers)
        assert status == 200, (who, body)
        assert body[:3] == b"\xff\xd8\xff" and resp["Content-Type"] == "image/jpeg"
        assert resp["Cache-Control"] == "private, no-store"
        status, listing, _ = await env.get("/materials", headers)
        assert status == 200 and [x["id"] for x in listing["materials"]] == [m["id"]], who
    for who, headers in denied.items():
        status, body, _ = await env.get(f"/materials/{m['id']}/original", headers)
        assert status == 403 and body["error"]["code"] == "not_member", who
        status, body, _ = await env.get("/materials", headers)
        assert status == 403, who

    views = await env.events("material_viewed")
    assert [(v["by"], v["material"], v["variant"]) for v in views] == [
        (env.agent, m["id"], "thumb"), (f"booth:{env.booth}", m["id"], "thumb"), ("mgr-intake", m["id"], "thumb"),
        ("lead-home", m["id"], "thumb"), ("chain-mgr", m["id"], "thumb"),
    ]
    assert all(v["ts"] and v["sid"] == env.sid for v in views)


async def test_variants_are_the_stored_bytes(env: Env, stills: Stills) -> None:
    m = await _upload(env, stills.good)
    headers = env.cookie(env.agent_cookie)
    status, original, resp = await env.get(f"/materials/{m['id']}/original", headers)
    assert status == 200 and original == stills.good and resp["Content-Type"] == "image/jpeg"
    status, corrected, _ = await env.get(f"/materials/{m['id']}/corrected", headers)
    assert status == 200 and corrected[:3] == b"\xff\xd8\xff" and len(corrected) == m["corrected_size"]
    status, body, _ = await env.get(f"/materials/{m['id']}/raw", headers)
    assert status == 400 and body["error"]["field"] == "variant"
    status, body, _ = await env.get("/materials/m0000000000000000/original", headers)
    assert status == 404 and body["error"]["code"] == "unknown_material"
    assert [v["variant"] for v in await env.events("material_viewed")] == ["original", "corrected"]


async def test_the_pdf_holds_the_accepted_pages_and_is_recorded(env: Env, stills: Stills) -> None:
    headers = env.cookie(env.agent_cookie)
    status, body, _ = await env.get("/materials.pdf", headers)
    assert status == 409 and body["error"]["code"] == "no_accepted_materials"
    first, second = await _upload(env, stills.good), await _upload(env, stills.cut_off, kind="other")
    materials = MaterialStore(env.app[STORE])
    await materials.verdict(env.sid, env.agent, first["id"], "accepted", "")
    await materials.verdict(env.sid, env.agent, second["id"], "rejected", "cut_off")
    status, pdf, resp = await env.get("/materials.pdf", headers)
    assert status == 200 and pdf.startswith(b"%PDF-") and resp["Content-Type"] == "application/pdf"
    assert len(re.findall(rb"/Type\s*/Page(?!s)", pdf)) == 1  # the accepted one only
    assert resp["Cache-Control"] == "private, no-store"
    [view] = await env.events("material_viewed")
    assert (view["variant"], view["material"], view["by"]) == ("pdf", first["id"], env.agent)
    status, _, _ = await env.get("/materials.pdf", env.booth_headers())
    assert status == 200  # the booth may have it too


async def test_id_merge_makes_one_page_material(env: Env, stills: Stills, clients: Any) -> None:
    agent: Client = clients("/agent")
    await agent.connect(env.url, token(Role.SPECIALIST, env.agent, env.demo["home_centre"], "/agent"))
    front = await _upload(env, stills.card_front, kind="id_card_front")
    back = await _upload(env, stills.card_back, kind="id_card_back")
    assert front["verdict"] == "accepted" and back["verdict"] == "accepted", (front["reasons"], back["reasons"])
    for m in (front, back):  # a side is merged once its recognition has landed (Latin text: unknown)
        told = await agent.next("material_recognised", lambda d, mid=m["id"]: d["material"]["id"] == mid, 240)
        assert told["material"]["class"] == "unknown" and told["material"]["verdict"] == "accepted"
    url = f"{env.url}/api/sessions/{env.sid}/materials/id-merge"
    body = {"front": front["id"], "back": back["id"]}
    async with env.srv.http.post(url, json=body, headers=env.booth_headers()) as resp:
        assert resp.status == 403 and (await resp.json())["error"]["code"] == "not_member"  # specialist only
    async with env.srv.http.post(url, json={**body, "back": "m0000000000000000"},
                                 headers=env.cookie(env.agent_cookie)) as resp:
        assert resp.status == 404 and (await resp.json())["error"]["field"] == "back"
    async with env.srv.http.post(url, json=body, headers=env.cookie(env.agent_cookie)) as resp:
        assert resp.status == 201, await resp.text()
        merged = (await resp.json())["material"]
    assert merged["kind"] == "id_card_merged" and merged["sources"] == [front["id"], back["id"]]
    assert merged["by"] == env.agent and merged["verdict"] == "accepted"
    assert merged["height"] > merged["width"]  # an A4 page, portrait
    status, page, _ = await env.get(f"/materials/{merged['id']}/original", env.cookie(env.agent_cookie))
    assert status == 200 and page[:3] == b"\xff\xd8\xff"
    assert [e["kind"] for e in await env.events("material_added")] == ["id_card_front", "id_card_back",
                                                                          "id_card_merged"]


async def test_a_booth_reaches_only_its_open_session(env: Env, stills: Stills) -> None:
    """Issue 14 item 7: the next citizen at a booth must not read the previous one's stills."""
    m = await _upload(env, stills.good)
    queue = env.app[QUEUE]
    assert (await env.get("/materials", env.booth_headers()))[0] == 200  # while it is held
    await queue.complete(env.agent, env.sid, "consultation")
    # completed (the rating screen): the session has ended, its stills are closed to the booth
    for path in ("/materials", f"/materials/{m['id']}/original", "/materials.pdf"):
        status, body, _ = await env.get(path, env.booth_headers())
        assert status == 403 and body["error"]["code"] == "not_member", path
        status, body, _ = await env.get(path, {"Authorization": f"Bearer {env.booth_token}"})  # no X-Booth
        assert status == 403 and body["error"]["code"] == "not_member", path
    await queue.rate(env.sid, env.booth, 5)
    # the booth's next citizen
    nxt = await queue.request_service(booth=env.booth, intake_centre=env.demo["intake_centre"],
                                      matter=env.demo["matter"], consent=True)
    assert nxt.ok["sid"] != env.sid
    status, body, _ = await env.get(f"/materials/{m['id']}/original", env.booth_headers())
    assert status == 403 and body["error"]["code"] == "not_member"
    # the specialist who served it still may
    assert (await env.get(f"/materials/{m['id']}/thumb", env.cookie(env.agent_cookie)))[0] == 200
    assert [v["by"] for v in await env.events("material_viewed")] == [env.agent]


async def test_a_missing_session_is_answered_like_another_centres(env: Env, stills: Stills) -> None:
    """Issue 14 item 11: 'does not exist' and 'not yours' get the same answer on every {sid} route."""
    m = await _upload(env, stills.good)
    other_centre = next(c for c in ("sh-huangpu", "js-suzhou", "sh-xuhui")
                        if c not in (env.demo["intake_centre"], env.demo["home_centre"]))
    outsider = env.cookie(await env.staff("mgr-outsider", Role.MANAGER, other_centre))
    missing = "RW20990101000001"
    base = env.url + "/api/sessions/"

    async def answer(method: str, sid: str, path: str, headers: dict[str, str]) -> tuple[int, str]:
        async with env.srv.http.request(method, f"{base}{sid}{path}", headers=headers,
                                        json={"front": m["id"], "back": m["id"]}) as resp:
            return resp.status, (await resp.json())["error"]["code"]

    for method, path in (("GET", "/materials"), ("GET", f"/materials/{m['id']}/thumb"),
                         ("GET", "/materials.pdf"), ("POST", "/materials/id-merge")):
        theirs = await answer(method, env.sid, path, outsider)
        assert theirs == (403, "not_member"), (method, path)
        assert await answer(method, missing, path, outsider) == theirs, (method, path)
        # a booth token without X-Booth: 401 whether the session exists or not
        bearer = {"Authorization": "Bearer not-the-token"}
        assert await answer(method, env.sid, path, bearer) == await answer(method, missing, path, bearer)
