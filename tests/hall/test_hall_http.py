"""The hall over the wire: booths sit down, are called back and claim over /booth; the hall pages
and their JSON answer only a login of that hall (hall staff, team lead, manager; chain managers
any); help calls reach the staff view's JSON and its acknowledgement reaches the booth."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from tests.signaling.conftest import SECRET, Client, catalogue, clients, demo, token  # noqa: F401  (fixtures)
from window_server.appkeys import ACCOUNTS
from window_server.domain.auth import Role

PW = "a long enough password 1"


USERS = {"hall-a": (Role.HALL_STAFF, "intake_centre"), "hall-b": (Role.HALL_STAFF, "home_centre"),
         "mgr-a": (Role.MANAGER, "intake_centre"), "lead-a": (Role.TEAM_LEAD, "intake_centre"),
         "spec-a": (Role.SPECIALIST, "intake_centre"), "chain": (Role.CHAIN_MANAGER, "")}


@pytest.fixture
async def srv(start_server: Callable[..., Awaitable[Any]]) -> Any:
    return await start_server(secret=SECRET, offer_timeout_seconds=30, call_back_seconds=60)


async def add_users(srv: Any, demo: dict[str, str], *names: str) -> None:  # noqa: F811
    for name in names:
        role, centre = USERS[name]
        await srv.app[ACCOUNTS].add_user(name, PW, role, demo[centre] if centre else "")


@pytest.fixture
async def login(srv: Any) -> AsyncIterator[Callable[[str | None], Awaitable[aiohttp.ClientSession]]]:
    sessions: list[aiohttp.ClientSession] = []

    async def make(username: str | None) -> aiohttp.ClientSession:
        http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))  # cookies for 127.0.0.1
        sessions.append(http)
        if username:
            async with http.post(srv.url + "/api/login", json={"username": username, "password": PW}) as r:
                assert r.status == 200, await r.text()
        return http

    yield make
    for http in sessions:
        await http.close()


async def status_of(http: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with http.get(url) as r:
        body = await r.json()
        return r.status, body["error"]["code"] if r.status >= 400 else ""


JSON_EXPECTED = {None: (401, "unauthenticated"), "spec-a": (403, "forbidden"), "hall-b": (403, "out_of_scope"),
                 "hall-a": (200, ""), "mgr-a": (200, ""), "lead-a": (200, ""), "chain": (200, "")}


async def test_the_hall_pages_and_json_answer_a_login_of_that_hall_only(
        srv: Any, login: Any, demo: dict[str, str]) -> None:  # noqa: F811
    await add_users(srv, demo, *USERS)
    hall = demo["intake_centre"]
    for who, expected in JSON_EXPECTED.items():
        http = await login(who)
        for path in (f"/api/halls/{hall}/board", f"/api/halls/{hall}/help"):
            assert await status_of(http, srv.url + path) == expected, (who, path)
        async with http.post(srv.url + f"/api/halls/{hall}/help/some-booth/ack", json={}) as r:
            assert r.status == expected[0], who
        # the pages: without a login of this hall, the hall's login form (role: "this account may not")
        for path, script in ((f"/hall/{hall}/display", "/hall/static/display.js"),
                             (f"/hall/{hall}/staff", "/hall/static/staff.js")):
            async with http.get(srv.url + path) as r:
                assert r.status == 200 and "script-src 'self'" in r.headers["Content-Security-Policy"]
                text = await r.text()
            if expected[0] == 200:
                assert script in text, (who, path)
            else:
                assert "login-form" in text and script not in text, (who, path)
                assert f'data-message="{"" if who is None else "role"}"' in text, (who, path)
    chain = await login("chain")
    assert await status_of(chain, srv.url + "/api/halls/no-such-centre/board") == (404, "unknown_centre")
    async with chain.get(srv.url + "/hall/no-such-centre/display") as r:
        assert r.status == 404


async def test_a_seated_ticket_is_called_back_and_claimed_at_another_booth(
        srv: Any, login: Any, clients: Callable[[str], Client], demo: dict[str, str]) -> None:  # noqa: F811
    hall = demo["intake_centre"]
    b1, b2 = clients("/booth"), clients("/booth")
    await b1.connect(srv.url, token(Role.BOOTH, "hall-test-01", hall, "/booth"))
    await b2.connect(srv.url, token(Role.BOOTH, "hall-test-02", hall, "/booth"))
    ticket = await b1.ok("request_service", {"matter": demo["matter"], "consent": True})
    seated = await b1.ok("sit_down", {"sid": ticket["sid"]})
    assert seated["ticket"] == ticket["ticket"] and seated["call_back_s"] == 60
    # nobody is ahead of it: the ticker calls it back, to every booth of the hall
    called = await b2.next("ticket_called", lambda d: d["sid"] == ticket["sid"])
    assert called["ticket"] == ticket["ticket"] and called["deadline"] > 0
    await b1.next("ticket_called", lambda d: d["sid"] == ticket["sid"])
    await add_users(srv, demo, "hall-a")
    http = await login("hall-a")
    async with http.get(srv.url + f"/api/halls/{hall}/board") as r:
        board = await r.json()
    assert [c["ticket"] for c in board["calls"]] == [ticket["ticket"]] and board["seated"] == 0
    assert "sid" not in board["calls"][0]  # the board hangs in the hall: tickets and counts only
    listed = await b2.ok("hall_calls", {})
    assert [c["sid"] for c in listed["calls"]] == [ticket["sid"]] and listed["help"] is None
    # touched on booth 2: the session is booth 2's now, and a specialist gets it
    agent = clients("/agent")
    claimed = await b2.ok("claim_ticket", {"sid": ticket["sid"]})
    assert claimed["session"]["ticket"] == ticket["ticket"] and claimed["session"]["state"] == "waiting"
    over = await b1.next("ticket_call_over", lambda d: d["sid"] == ticket["sid"])
    assert over["why"] == "claimed"
    await agent.connect(srv.url, token(Role.SPECIALIST, "spec-hall", demo["home_centre"], "/agent"))
    await agent.ok("presence", {"status": "available"})
    offer = await agent.next("offer", lambda d: d["sid"] == ticket["sid"])
    await agent.ok("accept", {"sid": offer["sid"]})
    await b2.next("session_state", lambda d: d["sid"] == ticket["sid"] and d["state"] == "in_service")
    # refused: claiming it again, or claiming from a booth of another hall
    again = await b1.call("claim_ticket", {"sid": ticket["sid"]})
    assert again["error"]["code"] == "not_called"
    far = clients("/booth")
    await far.connect(srv.url, token(Role.BOOTH, "far-test-01", demo["home_centre"], "/booth"))
    assert (await far.call("claim_ticket", {"sid": ticket["sid"]}))["error"]["code"] == "other_hall"


async def test_a_help_call_reaches_the_staff_view_and_its_acknowledgement_the_booth(
        srv: Any, login: Any, clients: Callable[[str], Client], demo: dict[str, str]) -> None:  # noqa: F811
    hall = demo["intake_centre"]
    booth = clients("/booth")
    await booth.connect(srv.url, token(Role.BOOTH, "hall-test-03", hall, "/booth"))
    ticket = await booth.ok("request_service", {"matter": demo["matter"], "consent": True})
    since = (await booth.ok("call_staff", {}))["since"]
    assert (await booth.ok("hall_calls", {}))["help"] == {"since": since, "reason": "help"}
    await add_users(srv, demo, "hall-a")
    http = await login("hall-a")
    async with http.get(srv.url + f"/api/halls/{hall}/help") as r:
        listed = await r.json()
    assert [(c["booth"], c["since"], c["reason"], c["ticket"]) for c in listed["calls"]] == [
        ("hall-test-03", since, "help", ticket["ticket"])]
    async with http.post(srv.url + f"/api/halls/{hall}/help/hall-test-03/ack", json={}) as r:
        assert (r.status, await r.json()) == (200, {"booth": "hall-test-03", "done": True})
    coming = await booth.next("staff_coming")
    assert coming == {"by": "hall-a"}
    async with http.get(srv.url + f"/api/halls/{hall}/help") as r:
        assert (await r.json())["calls"] == []
    # cancelled at the booth: gone from the list without staff
    await booth.ok("call_staff", {"reason": "device"})
    await booth.ok("call_staff_cancel", {})
    async with http.get(srv.url + f"/api/halls/{hall}/help") as r:
        assert (await r.json())["calls"] == []
    # a page of another site may not acknowledge (the login cookie is SameSite=Strict as well)
    async with http.post(srv.url + f"/api/halls/{hall}/help/hall-test-03/ack", json={},
                         headers={"Origin": "https://evil.example"}) as r:
        assert (r.status, (await r.json())["error"]["code"]) == (403, "cross_origin")
