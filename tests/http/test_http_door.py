"""The HTTP door (issue 14): bad JSON bodies are 400 invalid_json, every refusal is in the trail."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from redis.asyncio import Redis

from window_server.app import create_app
from window_server.appkeys import ACCOUNTS, SECURITY
from window_server.domain.auth import Role
from window_server.store.events import read_entries
from window_server.store.keys import key
from window_server.store.security_log import LogBudget, SecurityLog

BAD_BODIES = {
    "not utf-8": b"\xff\xfe\x00",
    "50,000 [": b"[" * 50_000,
    "50,000 {": b'{"a":' * 50_000,
}


async def _staff(srv: Any, username: str, role: Role, centre: str) -> str:
    """A live login without argon2 (its cost is not what these tests are about); the cookie."""
    accounts = srv.app[ACCOUNTS]
    user = accounts.validate_user(username, role, centre)
    await accounts._insert_user(user, "$argon2id$not-a-real-hash")
    return str(await accounts.create_web_session(user))


@pytest.mark.parametrize("name", list(BAD_BODIES))
async def test_a_body_that_is_not_json_is_400_invalid_json_without_a_traceback(
    start_server: Any, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    srv = await start_server()
    cookie = {"Cookie": f"rw_session={await _staff(srv, 'mgr-json', Role.MANAGER, 'sh-huangpu')}"}
    _rec, booth_token = await srv.app[ACCOUNTS].add_booth("bth-json-1", "sh-huangpu")
    every_json_endpoint = {  # each with the credentials that get it as far as reading the body
        "/api/login": {},
        "/api/connect-token": cookie,
        "/api/booths/bth-json-1/connect-token": {"Authorization": f"Bearer {booth_token}"},
    }
    caplog.set_level(logging.WARNING)
    for path, headers in every_json_endpoint.items():
        async with srv.http.post(srv.url + path, data=BAD_BODIES[name],
                                 headers={"Content-Type": "application/json", **headers}) as resp:
            assert resp.status == 400, (path, await resp.text())
            body = await resp.json()
        assert body["error"]["code"] == "invalid_json", path
        assert set(body["error"]) <= {"code", "message", "field"}
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def _trail(redis: Redis) -> list[dict[str, str]]:
    return [e for _, e in read_entries(await redis.xrange(key("security")))]


async def test_every_refusal_is_in_the_security_trail(start_server: Any, redis: Redis) -> None:
    srv = await start_server()
    spec = await _staff(srv, "spec-trail", Role.SPECIALIST, "sh-huangpu")
    _rec, booth_token = await srv.app[ACCOUNTS].add_booth("bth-trail-1", "sh-huangpu")
    asks = [
        ("GET", "/api/me", {}, 401, "unauthenticated", "-"),
        ("GET", "/api/dashboard/live", {"Cookie": f"rw_session={spec}"}, 403, "forbidden", "spec-trail"),
        ("GET", "/api/sessions/RW20990101000001/materials",
         {"Authorization": f"Bearer {booth_token}", "X-Booth": "bth-trail-1"}, 403, "not_member", "booth:bth-trail-1"),
        ("POST", "/api/booths/bth-trail-1/connect-token", {"Authorization": "Bearer wrong"}, 401, "invalid_token", "-"),
        ("POST", "/api/login", {"Origin": "http://evil.example"}, 403, "cross_origin", "-"),
    ]
    for method, path, headers, status, code, _who in asks:
        async with srv.http.request(method, srv.url + path + "?q=1", headers=headers, json={}) as resp:
            assert (resp.status, (await resp.json())["error"]["code"]) == (status, code), path
    async with srv.http.get(srv.url + "/api/me", headers={"Cookie": f"rw_session={spec}"}) as resp:
        assert resp.status == 200  # an answered request is not a refusal
    trail = await _trail(redis)
    assert [(e["method"], e["path"], e["status"], e["code"], e["who"]) for e in trail] == [
        (method, path, str(status), code, who) for method, path, _h, status, code, who in asks
    ]
    assert all(e["addr"] == "127.0.0.1" and int(e["at"]) > 0 for e in trail)
    text = str(trail)
    assert spec not in text and booth_token not in text and "wrong" not in text  # no credential is kept


async def test_refusals_are_logged_at_a_bounded_rate_per_client(
    start_server: Any, make_settings: Any, redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(make_settings())
    frozen = LogBudget(burst=5, per_minute=10, clock=lambda: 0.0)  # no time passes: only the burst
    app[SECURITY] = SecurityLog(budget=frozen)
    srv = await start_server(app=app)
    caplog.set_level(logging.WARNING, logger="window_server.store.security_log")
    for _ in range(40):
        async with srv.http.get(srv.url + "/api/me") as resp:
            assert resp.status == 401
    lines = [r for r in caplog.records if r.name == "window_server.store.security_log"]
    assert len(lines) == 5  # the burst, then silence for this client
    assert len(await _trail(redis)) == 40  # while the trail keeps every one


def test_the_log_budget_refills_and_says_how_many_lines_it_held_back() -> None:
    now = [0.0]
    budget = LogBudget(burst=2, per_minute=6, max_clients=2, clock=lambda: now[0])
    assert [budget.take("10.0.0.1") for _ in range(4)] == [(True, 0), (True, 0), (False, 1), (False, 2)]
    assert budget.take("10.0.0.2") == (True, 0)  # another client has its own budget
    now[0] = 10.0  # one line's worth at 6 a minute
    assert budget.take("10.0.0.1") == (True, 2)
    assert budget.take("10.0.0.1") == (False, 1)
    budget.take("10.0.0.3")  # a third client: the least recently seen is forgotten (bounded memory)
    assert len(budget._buckets) == 2
