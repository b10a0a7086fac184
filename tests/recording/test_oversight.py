"""Oversight: the access log per session and per person (JSON and CSV), who may read it, legal holds."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.materials.conftest import Env, new_env
from tests.signaling.conftest import SECRET
from window_server.app import create_app
from window_server.appkeys import QUEUE, STORE
from window_server.dashboard.rules import CHAIN
from window_server.dashboard.service import DASHBOARD
from window_server.domain.auth import Role
from window_server.domain.catalogue import Catalogue
from window_server.recording.holds_store import REVIEW_SCOPE
from window_server.settings import Settings

CSV_START = "\ufefftime,who,role,centre,action,sid,item,from,allowed,code\r\n"


@pytest.fixture
async def make_oversight_env(start_server: Callable[..., Awaitable[Any]], make_settings: Callable[..., Settings],
                             demo: dict[str, str]) -> Callable[..., Awaitable[Env]]:
    """Like the recording tests' ``env``: a held session, its booth and specialist (another, on ``srv``)."""

    async def make(booth: str = "bth-ovs-1", agent: str = "spec-ovs-1", srv: Any = None) -> Env:
        if srv is None:
            srv = await start_server(app=create_app(make_settings(secret=SECRET, document_workers=1)))
        return await new_env(srv, demo, booth, agent)

    return make


@pytest.fixture
async def ovs(make_oversight_env: Callable[..., Awaitable[Env]]) -> Env:
    return await make_oversight_env()


def other_centre(catalogue: Catalogue, demo: dict[str, str]) -> str:
    return next(c.id for c in catalogue.centres if c.id not in (demo["home_centre"], demo["intake_centre"]))


async def fetch(env: Env, path: str, headers: dict[str, str], method: str = "GET", body: Any = None
                ) -> tuple[int, Any, Any]:
    """A request to ``path`` (from the server's root); JSON, text or bytes back."""
    async with env.srv.http.request(method, f"{env.url}{path}", headers=headers, json=body) as resp:
        if resp.content_type == "application/json":
            return resp.status, await resp.json(), resp.headers
        if resp.content_type.startswith("text/"):
            return resp.status, await resp.text(encoding="utf-8"), resp.headers
        return resp.status, await resp.read(), resp.headers


async def record_a_leg(env: Env, chunks: list[bytes], sid: str | None = None, booth_headers: dict[str, str] | None = None
                       ) -> None:
    """One segment of ``chunks`` uploaded by the booth and ended."""
    sid = sid or env.sid
    headers = booth_headers or env.booth_headers()
    status, body, _ = await fetch(env, f"/api/sessions/{sid}/recording/segments", headers, "POST",
                                  {"mime": "video/webm;codecs=vp8,opus", "width": 1280, "height": 720})
    assert status == 201, body
    n = body["segment"]["n"]
    for seq, data in enumerate(chunks):
        url = f"{env.url}/api/sessions/{sid}/recording/segments/{n}/chunks/{seq}"
        async with env.srv.http.put(url, params={"t": str((seq + 1) * 1000)}, data=data,
                                    headers={"Content-Type": "video/webm", **headers}) as resp:
            assert resp.status == 201, await resp.text()
    status, body, _ = await fetch(env, f"/api/sessions/{sid}/recording/segments/{n}/end", headers, "POST",
                                  {"chunks": len(chunks), "t": len(chunks) * 1000})
    assert status == 200, body


def csv_rows(text: str) -> list[dict[str, str]]:
    assert text.startswith(CSV_START), text[:200]
    return list(csv.DictReader(io.StringIO(text[1:])))


# --- the access log ------------------------------------------------------------------------------


async def test_the_access_log_per_session_and_per_person_with_its_csv(ovs: Env, chunks: list[bytes],
                                                                      catalogue: Catalogue) -> None:
    env = ovs
    await record_a_leg(env, chunks)
    manager = env.cookie(await env.staff("mgr-ovs", Role.MANAGER, env.demo["intake_centre"]))
    stranger = env.cookie(await env.staff("spec-ovs-x", Role.SPECIALIST, other_centre(catalogue, env.demo)))
    play = f"/api/sessions/{env.sid}/recording/segments/0.webm"
    assert (await fetch(env, play, env.cookie(env.agent_cookie)))[0] == 200
    status, body, _ = await fetch(env, play, stranger)
    assert (status, body["error"]["code"]) == (403, "not_member")
    assert (await fetch(env, play, {}))[0] == 401

    status, body, _ = await fetch(env, f"/api/sessions/{env.sid}/access", manager)
    assert status == 200, body
    assert body["sid"] == env.sid
    assert [(e["who"], e["action"], e["item"], e["allowed"], e["code"]) for e in body["entries"]] == [
        ("-", "recording", "seg0", False, "unauthenticated"),
        ("spec-ovs-x", "recording", "seg0", False, "not_member"),
        (env.agent, "recording", "seg0", True, ""),
    ]  # newest first
    assert all(e["addr"] == "127.0.0.1" and e["at"] > 0 for e in body["entries"])
    assert body["entries"][1]["role"] == "specialist" and body["entries"][1]["centre"]

    status, text, headers = await fetch(env, f"/api/sessions/{env.sid}/access.csv", manager)
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    assert f'filename="access-{env.sid}.csv"' in headers["Content-Disposition"]
    rows = csv_rows(text)
    assert [(r["who"], r["allowed"], r["code"]) for r in rows] == [
        ("-", "no", "unauthenticated"), ("spec-ovs-x", "no", "not_member"), (env.agent, "yes", "")]
    assert all(r["sid"] == env.sid and r["from"] == "127.0.0.1" and len(r["time"]) == 19 for r in rows)

    # one person's log: the refused attempt is in it, with the session it was about
    chain = env.cookie(await env.staff("chief-ovs", Role.CHAIN_MANAGER, ""))
    status, body, _ = await fetch(env, "/api/access?who=spec-ovs-x", chain)
    assert status == 200, body
    assert [(e["sid"], e["allowed"], e["code"]) for e in body["entries"]] == [(env.sid, False, "not_member")]
    status, text, headers = await fetch(env, "/api/access.csv?who=spec-ovs-x", chain)
    assert status == 200 and 'filename="access-spec-ovs-x.csv"' in headers["Content-Disposition"]
    assert [(r["who"], r["sid"], r["allowed"]) for r in csv_rows(text)] == [("spec-ovs-x", env.sid, "no")]
    status, body, _ = await fetch(env, "/api/access?who=-", chain)  # the requests nobody logged in for
    assert status == 200 and [e["sid"] for e in body["entries"]] == [env.sid]
    status, body, _ = await fetch(env, f"/api/access?who={env.agent}&limit=1", chain)
    assert status == 200 and len(body["entries"]) == 1


async def test_only_the_sessions_managers_and_team_leads_read_its_access_log(ovs: Env, catalogue: Catalogue) -> None:
    env = ovs
    elsewhere = other_centre(catalogue, env.demo)
    path = f"/api/sessions/{env.sid}/access"
    allowed = {
        "manager of the intake centre": await env.staff("mgr-ovs-i", Role.MANAGER, env.demo["intake_centre"]),
        "team lead of the serving centre": await env.staff("tl-ovs-h", Role.TEAM_LEAD, env.demo["home_centre"]),
        "chain manager": await env.staff("chief-ovs-2", Role.CHAIN_MANAGER, ""),
    }
    for who, cookie in allowed.items():
        for p in (path, path + ".csv"):
            assert (await fetch(env, p, env.cookie(cookie)))[0] == 200, (who, p)
    refused = {
        "its own specialist": (env.cookie(env.agent_cookie), 403, "forbidden"),
        "a manager of another centre": (env.cookie(await env.staff("mgr-ovs-x", Role.MANAGER, elsewhere)), 403,
                                        "out_of_scope"),
        "a team lead of another centre": (env.cookie(await env.staff("tl-ovs-x", Role.TEAM_LEAD, elsewhere)), 403,
                                          "out_of_scope"),
        "its booth": (env.booth_headers(), 401, "unauthenticated"),
        "nobody": ({}, 401, "unauthenticated"),
    }
    for who, (headers, status, code) in refused.items():
        for p in (path, path + ".csv"):
            got, body, _ = await fetch(env, p, headers)
            assert (got, body["error"]["code"]) == (status, code), (who, p, body)
    status, body, _ = await fetch(env, "/api/sessions/NOSUCH1/access", env.cookie(allowed["chain manager"]))
    assert (status, body["error"]["code"]) == (404, "unknown_session")


async def test_a_person_s_access_log_is_for_their_centre_s_managers_and_chain_managers(
        ovs: Env, catalogue: Catalogue) -> None:
    env = ovs
    home, elsewhere = env.demo["home_centre"], other_centre(catalogue, env.demo)
    home_manager = env.cookie(await env.staff("mgr-ovs-h", Role.MANAGER, home))
    other_manager = env.cookie(await env.staff("mgr-ovs-o", Role.MANAGER, elsewhere))
    intake_manager = env.cookie(await env.staff("mgr-ovs-in", Role.MANAGER, env.demo["intake_centre"]))
    lead = env.cookie(await env.staff("tl-ovs-2", Role.TEAM_LEAD, home))
    chain = env.cookie(await env.staff("chief-ovs-3", Role.CHAIN_MANAGER, ""))
    spec = f"/api/access?who={env.agent}"  # a specialist of the home centre
    booth = f"/api/access?who=booth:{env.booth}"  # a booth of the intake centre
    cases = [
        (spec, home_manager, 200, None), (spec, chain, 200, None),
        (spec, other_manager, 403, "out_of_scope"), (spec, intake_manager, 403, "out_of_scope"),
        (spec, lead, 403, "forbidden"), (spec, env.cookie(env.agent_cookie), 403, "forbidden"),
        (booth, intake_manager, 200, None), (booth, home_manager, 403, "out_of_scope"), (booth, chain, 200, None),
        ("/api/access?who=-", home_manager, 403, "out_of_scope"),
        ("/api/access?who=nobody-here", home_manager, 403, "out_of_scope"),
        ("/api/access?who=nobody-here", chain, 200, None),
        ("/api/access?who=..%2Fetc", chain, 400, "invalid_input"), ("/api/access", chain, 400, "invalid_input"),
        (spec + "&limit=0", chain, 400, "invalid_input"),
    ]
    for path, headers, status, code in cases:
        for p in (path, path.replace("/api/access", "/api/access.csv")):
            got, body, _ = await fetch(env, p, headers)
            assert got == status, (p, body)
            if code:
                assert body["error"]["code"] == code, (p, body)


# --- legal holds ---------------------------------------------------------------------------------------


async def test_a_legal_hold_is_set_and_lifted_by_managers_and_each_is_a_session_event(
        ovs: Env, catalogue: Catalogue) -> None:
    env = ovs
    path = f"/api/sessions/{env.sid}/hold"
    manager = env.cookie(await env.staff("mgr-ovs-hold", Role.MANAGER, env.demo["intake_centre"]))
    chain = env.cookie(await env.staff("chief-ovs-hold", Role.CHAIN_MANAGER, ""))

    status, body, _ = await fetch(env, path, manager)
    assert status == 200 and body["hold"] == {"sid": env.sid, "held": False, "legal": None, "review_open": False,
                                              "review_due": None}
    reason = "法院调取 court order 2026-17: keep everything"
    status, body, _ = await fetch(env, path, manager, "PUT", {"reason": reason})
    assert status == 200, body
    legal = body["hold"]["legal"]
    assert body["hold"]["held"] and legal["by"] == "mgr-ovs-hold" and legal["reason"] == reason and legal["at"] > 0
    assert (await fetch(env, path, chain))[1]["hold"]["legal"] == legal

    refusals = [
        (env.cookie(await env.staff("tl-ovs-hold", Role.TEAM_LEAD, env.demo["intake_centre"])), 403, "forbidden"),
        (env.cookie(env.agent_cookie), 403, "forbidden"),
        (env.cookie(await env.staff("mgr-ovs-far", Role.MANAGER, other_centre(catalogue, env.demo))), 403,
         "out_of_scope"),
        ({}, 401, "unauthenticated"),
    ]
    for headers, status, code in refusals:
        for method, body_ in (("GET", None), ("PUT", {"reason": "mine"}), ("DELETE", None)):
            got, answer, _ = await fetch(env, path, headers, method, body_)
            assert (got, answer["error"]["code"]) == (status, code), (method, answer)
    for bad in ({"reason": ""}, {"reason": "x" * 501}, {"reason": 7}, {}, {"reason": "a\x00b"}):
        got, answer, _ = await fetch(env, path, manager, "PUT", bad)
        assert got == 400 and answer["error"]["field"] == "reason", bad

    status, body, _ = await fetch(env, path, chain, "DELETE")
    assert status == 200 and body["hold"]["legal"] is None and not body["hold"]["held"]
    status, body, _ = await fetch(env, path, chain, "DELETE")
    assert (status, body["error"]["code"]) == (404, "no_hold")
    status, body, _ = await fetch(env, "/api/sessions/NOSUCH1/hold", chain, "PUT", {"reason": "x"})
    assert (status, body["error"]["code"]) == (404, "unknown_session")

    events = [e for e in await env.app[STORE].session_events(env.sid) if e["act"].startswith("hold_")]
    assert [(e["act"], e["by"], e["why"]) for e in events] == [
        ("hold_set", "mgr-ovs-hold", reason), ("hold_lifted", "chief-ovs-hold", "")]
    state = (await env.app[STORE].session(env.sid))["state"]
    assert all(e["from"] == e["to"] == state and int(e["ts"]) > 1_000_000_000_000 for e in events)


async def test_an_open_bad_review_holds_the_session(ovs: Env) -> None:
    env = ovs
    assert REVIEW_SCOPE == CHAIN  # the index of every open bad review
    await env.app[STORE].complete(env.agent, env.sid, outcome="consulted")
    await env.app[QUEUE].rate(env.sid, env.booth, 1, "没办成")
    async with asyncio.timeout(10):
        await env.app[DASHBOARD].aggregator.drained()  # the dashboard opened the bad review's follow-up
    manager = env.cookie(await env.staff("mgr-ovs-rev", Role.MANAGER, env.demo["intake_centre"]))
    status, body, _ = await fetch(env, f"/api/sessions/{env.sid}/hold", manager)
    assert status == 200, body
    hold = body["hold"]
    assert hold["held"] and hold["review_open"] and hold["legal"] is None and hold["review_due"] > 0
