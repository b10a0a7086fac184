"""Login, logout, /api/me and connect tokens over real HTTP, against a real server and Redis."""

from __future__ import annotations

import time
from http.cookies import SimpleCookie
from typing import Any

import pytest
from aiohttp import web
from redis.asyncio import Redis

from window_server.accounts.store import DEMO_PASSWORD, AccountStore
from window_server.app import create_app
from window_server.appkeys import ACCOUNTS
from window_server.domain.auth import (
    Role,
    demo_accounts,
    demo_reviewers,
    read_connect_token,
    turn_credentials,
)
from window_server.http.auth import require_user
from window_server.store.keys import key

PW = "correct horse battery"
FAST = {"login_max_failures": 3, "login_lock_minutes": 1.0}


async def _server(start_server: Any, **overrides: Any) -> Any:
    return await start_server(**{**FAST, **overrides})


def _accounts(srv: Any) -> AccountStore:
    return srv.app[ACCOUNTS]


async def _post(srv: Any, path: str, body: Any = None, *, cookie: str | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, Any, Any]:
    h = dict(headers or {})
    if cookie:
        h["Cookie"] = f"rw_session={cookie}"
    async with srv.http.post(srv.url + path, json=body, headers=h) as resp:
        data = await resp.json() if resp.content_type == "application/json" else None
        return resp.status, data, resp


async def _get(srv: Any, path: str, cookie: str | None = None) -> tuple[int, Any]:
    h = {"Cookie": f"rw_session={cookie}"} if cookie else {}
    async with srv.http.get(srv.url + path, headers=h) as resp:
        return resp.status, await resp.json()


def _set_cookie(resp: Any) -> SimpleCookie:
    jar: SimpleCookie = SimpleCookie()
    for header in resp.headers.getall("Set-Cookie", []):
        jar.load(header)
    return jar


async def _login(srv: Any, username: str, password: str = PW, **headers: str) -> str:
    status, body, resp = await _post(srv, "/api/login", {"username": username, "password": password},
                                     headers=headers)
    assert status == 200, body
    return _set_cookie(resp)["rw_session"].value


def _assert_error(body: Any, code: str) -> None:
    assert set(body) == {"error"} and set(body["error"]) <= {"code", "message", "field"}
    assert body["error"]["code"] == code, body


# --- login, me, logout ------------------------------------------------------------------------


@pytest.mark.parametrize("secure", [False, True])
async def test_login_sets_a_strict_httponly_cookie(start_server: Any, secure: bool) -> None:
    srv = await _server(start_server, cookie_secure=secure, web_session_hours=2)
    await _accounts(srv).add_user("li.wei", PW, "specialist", "sh-huangpu", ("zh", "en"), "李伟")
    status, body, resp = await _post(srv, "/api/login", {"username": "li.wei", "password": PW})
    assert status == 200
    assert body == {"user": {"username": "li.wei", "role": "specialist", "centre": "sh-huangpu",
                             "langs": ["zh", "en"], "name": "李伟", "staff_no": ""}}
    assert resp.headers["Cache-Control"] == "no-store"
    morsel = _set_cookie(resp)["rw_session"]
    assert morsel["httponly"] is True and morsel["samesite"] == "Strict" and morsel["path"] == "/"
    assert bool(morsel["secure"]) is secure
    assert morsel["max-age"] == str(2 * 3600)
    assert len(morsel.value) >= 43


async def test_me_and_logout(start_server: Any) -> None:
    srv = await _server(start_server)
    await _accounts(srv).add_user("li.wei", PW, "team_lead", "sh-huangpu")
    cookie = await _login(srv, "li.wei")
    status, body = await _get(srv, "/api/me", cookie)
    assert status == 200 and body["user"]["role"] == "team_lead"
    status, _, resp = await _post(srv, "/api/logout", cookie=cookie)
    assert status == 204
    cleared = _set_cookie(resp)["rw_session"]
    assert cleared.value == "" and cleared["max-age"] == "0"
    status, body = await _get(srv, "/api/me", cookie)
    assert status == 401
    _assert_error(body, "unauthenticated")
    assert (await _post(srv, "/api/logout"))[0] == 204  # idempotent


async def test_me_without_or_with_a_bogus_cookie_is_401(start_server: Any) -> None:
    srv = await _server(start_server)
    for cookie in (None, "bogus", "x" * 300):
        status, body = await _get(srv, "/api/me", cookie)
        assert status == 401
        _assert_error(body, "unauthenticated")


async def test_login_failures_share_one_message(start_server: Any) -> None:
    srv = await _server(start_server)
    await _accounts(srv).add_user("li.wei", PW, "specialist", "sh-huangpu")
    answers = []
    for username, password, addr in (("li.wei", "wrong password", "10.0.0.1"), ("nobody", PW, "10.0.0.2")):
        status, body, resp = await _post(srv, "/api/login", {"username": username, "password": password},
                                         headers={"X-Forwarded-For": addr})
        assert status == 401 and "Set-Cookie" not in resp.headers
        answers.append(body)
    assert answers[0] == answers[1]
    _assert_error(answers[0], "invalid_credentials")


async def test_disabled_account_is_403_and_its_session_ends(start_server: Any) -> None:
    srv = await _server(start_server)
    await _accounts(srv).add_user("li.wei", PW, "specialist", "sh-huangpu")
    cookie = await _login(srv, "li.wei")
    await _accounts(srv).set_disabled("li.wei", True)
    status, body = await _get(srv, "/api/me", cookie)
    assert status == 403
    _assert_error(body, "account_disabled")
    status, body, _ = await _post(srv, "/api/login", {"username": "li.wei", "password": PW})
    assert status == 403
    _assert_error(body, "account_disabled")


async def test_throttled_login_is_429_with_retry_after(start_server: Any, redis: Redis) -> None:
    srv = await _server(start_server)
    await _accounts(srv).add_user("li.wei", PW, "specialist", "sh-huangpu")
    for i in range(3):
        status, _, _ = await _post(srv, "/api/login", {"username": "li.wei", "password": "wrong password"},
                                   headers={"X-Forwarded-For": f"10.1.0.{i}"})
        assert status == 401
    status, body, resp = await _post(srv, "/api/login", {"username": "li.wei", "password": PW},
                                     headers={"X-Forwarded-For": "10.1.0.9"})
    assert status == 429
    _assert_error(body, "login_throttled")
    assert 55 <= int(resp.headers["Retry-After"]) <= 60
    await redis.pexpire(key("login_failures", scope="user", subject="li.wei"), 0)  # the window passes
    await _login(srv, "li.wei", **{"X-Forwarded-For": "10.1.0.9"})


async def test_per_address_throttle_uses_the_local_proxys_forwarded_for(start_server: Any) -> None:
    srv = await _server(start_server)
    await _accounts(srv).add_user("li.wei", PW, "specialist", "sh-huangpu")
    for name in ("a1", "b2", "c3"):
        status, _, _ = await _post(srv, "/api/login", {"username": name, "password": PW},
                                   headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.5"})
        assert status == 401
    status, _, _ = await _post(srv, "/api/login", {"username": "li.wei", "password": PW},
                               headers={"X-Forwarded-For": "203.0.113.5"})
    assert status == 429
    await _login(srv, "li.wei", **{"X-Forwarded-For": "203.0.113.6"})


@pytest.mark.parametrize(
    ("data", "content_type", "status", "code", "field"),
    [
        (b'{"username": "a", "password": "b"}', "text/plain", 415, "unsupported_media_type", None),
        (b"{not json", "application/json", 400, "invalid_json", None),
        (b'["li.wei", "pw"]', "application/json", 400, "invalid_input", None),
        (b'{"username": 7, "password": "x"}', "application/json", 400, "invalid_input", "username"),
        (b'{"username": "li.wei"}', "application/json", 400, "invalid_input", "password"),
        (b'{"username": "li.wei", "password": null}', "application/json", 400, "invalid_input", "password"),
    ],
)
async def test_login_body_is_validated_at_the_door(
    start_server: Any, data: bytes, content_type: str, status: int, code: str, field: str | None
) -> None:
    srv = await _server(start_server)
    async with srv.http.post(srv.url + "/api/login", data=data, headers={"Content-Type": content_type}) as resp:
        assert resp.status == status
        body = await resp.json()
    _assert_error(body, code)
    assert body["error"].get("field") == field


# --- CSRF: Origin -------------------------------------------------------------------------------


async def test_cross_site_origin_is_refused_on_post(start_server: Any) -> None:
    srv = await _server(start_server, allowed_origins="https://console.hall.example")
    await _accounts(srv).add_user("li.wei", PW, "specialist", "sh-huangpu")
    login = {"username": "li.wei", "password": PW}
    for origin in ("http://evil.example", "null", "http://127.0.0.1.evil.example", "file://"):
        status, body, _ = await _post(srv, "/api/login", login, headers={"Origin": origin})
        assert status == 403, origin
        _assert_error(body, "cross_origin")
    for origin in (srv.url, "https://console.hall.example"):
        status, _, _ = await _post(srv, "/api/login", login, headers={"Origin": origin})
        assert status == 200, origin
    status, _, _ = await _post(srv, "/api/login", login)  # no Origin (curl, device agents): allowed
    assert status == 200


# --- connect tokens for staff --------------------------------------------------------------------

STAFF = [
    ("spec", Role.SPECIALIST, "sh-huangpu", {"/agent"}),
    ("lead", Role.TEAM_LEAD, "sh-huangpu", {"/agent", "/dashboard"}),
    ("mgr", Role.MANAGER, "sh-huangpu", {"/dashboard"}),
    ("chain", Role.CHAIN_MANAGER, "", {"/dashboard"}),
]


@pytest.mark.parametrize(("username", "role", "centre", "allowed"), STAFF)
async def test_connect_tokens_for_each_staff_role(
    start_server: Any, username: str, role: Role, centre: str, allowed: set[str]
) -> None:
    srv = await _server(start_server, connect_token_seconds=90)
    store = _accounts(srv)
    await store.add_user(username, PW, role, centre)
    cookie = await _login(srv, username)
    for namespace in ("/agent", "/dashboard", "/booth", "/device"):
        before = int(time.time() * 1000)
        status, body, resp = await _post(srv, "/api/connect-token", {"namespace": namespace}, cookie=cookie)
        if namespace not in allowed:
            assert status == 403, namespace
            _assert_error(body, "wrong_namespace")
            continue
        assert status == 200 and resp.headers["Cache-Control"] == "no-store"
        assert set(body) == {"token", "expires_at", "ice_servers", "ice_transport_policy"}
        assert body["ice_servers"] == [] and body["ice_transport_policy"] == "all"
        got = read_connect_token(await store.signing_key(), body["token"], namespace, before)
        assert (got.principal.role, got.principal.subject, got.principal.centre) == (role, username, centre)
        assert got.expires_ms == body["expires_at"] and before + 90_000 <= body["expires_at"] <= before + 95_000


async def test_connect_token_needs_a_login_and_a_known_namespace(start_server: Any) -> None:
    srv = await _server(start_server)
    status, body, _ = await _post(srv, "/api/connect-token", {"namespace": "/agent"})
    assert status == 401
    _assert_error(body, "unauthenticated")
    await _accounts(srv).add_user("li.wei", PW, "specialist", "sh-huangpu")
    cookie = await _login(srv, "li.wei")
    for bad in ("/admin", 3, None):
        status, body, _ = await _post(srv, "/api/connect-token", {"namespace": bad}, cookie=cookie)
        assert status == 400
        _assert_error(body, "invalid_input")
        assert body["error"]["field"] == "namespace"


async def test_media_namespaces_get_turn_credentials_dashboards_do_not(start_server: Any) -> None:
    srv = await _server(start_server, ice_servers="stun:stun.hall.test:3478,turn:turn.hall.test:3478",
                        turn_secret="turn-shared-secret", turn_ttl_seconds=300)
    await _accounts(srv).add_user("lead", PW, "team_lead", "sh-huangpu")
    cookie = await _login(srv, "lead")
    now_s = int(time.time())
    _, body, _ = await _post(srv, "/api/connect-token", {"namespace": "/agent"}, cookie=cookie)
    stun, turn = body["ice_servers"]
    assert stun == {"urls": ["stun:stun.hall.test:3478"]}
    assert turn["urls"] == ["turn:turn.hall.test:3478"]
    expiry, user = turn["username"].split(":")
    assert user == "lead" and now_s + 300 <= int(expiry) <= now_s + 305
    assert turn["credential"] == turn_credentials("turn-shared-secret", "lead", int(expiry) - 300, 300)[1]
    _, body, _ = await _post(srv, "/api/connect-token", {"namespace": "/dashboard"}, cookie=cookie)
    assert body["ice_servers"] == []


async def test_the_relay_policy_goes_with_every_connect_token(start_server: Any) -> None:
    srv = await _server(start_server, ice_servers="turn:turn.hall.test:3478", turn_secret="turn-shared-secret",
                        ice_transport_policy="relay")
    store = _accounts(srv)
    await store.add_user("li.wei", PW, "specialist", "sh-huangpu")
    cookie = await _login(srv, "li.wei")
    _, body, _ = await _post(srv, "/api/connect-token", {"namespace": "/agent"}, cookie=cookie)
    assert body["ice_transport_policy"] == "relay" and body["ice_servers"][0]["urls"] == ["turn:turn.hall.test:3478"]
    _, token = await store.add_booth("sh-huangpu-02", "sh-huangpu", "2号亭")
    for role in ("booth", "device"):
        _, body, _ = await _post(srv, "/api/booths/sh-huangpu-02/connect-token", {"role": role},
                                 headers={"Authorization": f"Bearer {token}"})
        assert body["ice_transport_policy"] == "relay" and body["ice_servers"][0]["username"]


# --- booths ---------------------------------------------------------------------------------------


async def test_booth_and_device_tokens_with_the_bearer_token(start_server: Any) -> None:
    srv = await _server(start_server)
    store = _accounts(srv)
    _, token = await store.add_booth("sh-huangpu-02", "sh-huangpu", "2号亭")
    auth = {"Authorization": f"Bearer {token}"}
    for role in ("booth", "device"):
        status, body, _ = await _post(srv, "/api/booths/sh-huangpu-02/connect-token", {"role": role}, headers=auth)
        assert status == 200, body
        assert set(body) == {"token", "expires_at", "ice_servers", "ice_transport_policy", "centre"}
        assert body["centre"] == "sh-huangpu"
        got = read_connect_token(await store.signing_key(), body["token"], f"/{role}", int(time.time() * 1000))
        assert (got.principal.role.value, got.principal.subject) == (role, "sh-huangpu-02")
    status, body, _ = await _post(srv, "/api/booths/sh-huangpu-02/connect-token", {"role": "specialist"},
                                  headers=auth)
    assert status == 400 and body["error"]["field"] == "role"


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer wrong", "Basic abc", "bearer "])
async def test_booth_token_errors_are_401_invalid_token(start_server: Any, header: str | None) -> None:
    srv = await _server(start_server)
    await _accounts(srv).add_booth("sh-huangpu-02", "sh-huangpu")
    status, body, _ = await _post(srv, "/api/booths/sh-huangpu-02/connect-token", {"role": "booth"},
                                  headers={"Authorization": header} if header else {})
    assert status == 401
    _assert_error(body, "invalid_token")


async def test_revoked_booth_token_is_401(start_server: Any) -> None:
    srv = await _server(start_server)
    store = _accounts(srv)
    _, token = await store.add_booth("sh-huangpu-02", "sh-huangpu")
    await store.revoke_booth("sh-huangpu-02")
    for booth in ("sh-huangpu-02", "sh-huangpu-03"):
        status, body, _ = await _post(srv, f"/api/booths/{booth}/connect-token", {"role": "booth"},
                                      headers={"Authorization": f"Bearer {token}"})
        assert status == 401
        _assert_error(body, "invalid_token")


# --- require_user for other routes -------------------------------------------------------------------


async def test_require_user_guards_other_routes(start_server: Any, make_settings: Any) -> None:
    app = create_app(make_settings(**FAST))

    async def dashboard_only(request: web.Request) -> web.Response:
        principal = await require_user(request, {Role.MANAGER, Role.CHAIN_MANAGER})
        return web.json_response({"subject": principal.subject})

    app.router.add_get("/api/test-guarded", dashboard_only)
    srv = await start_server(app=app)
    store = _accounts(srv)
    await store.add_user("mgr", PW, "manager", "sh-huangpu")
    await store.add_user("spec", PW, "specialist", "sh-huangpu")
    assert (await _get(srv, "/api/test-guarded", await _login(srv, "mgr"))) == (200, {"subject": "mgr"})
    status, body = await _get(srv, "/api/test-guarded", await _login(srv, "spec"))
    assert status == 403
    _assert_error(body, "forbidden")
    status, body = await _get(srv, "/api/test-guarded")
    assert status == 401


# --- demo mode ---------------------------------------------------------------------------------------


async def test_demo_accounts_log_in_only_in_demo_mode(start_server: Any, redis: Redis) -> None:
    srv = await _server(start_server, demo=True)
    cookie = await _login(srv, "spec-sh-huangpu", DEMO_PASSWORD)
    _, body, _ = await _post(srv, "/api/connect-token", {"namespace": "/agent"}, cookie=cookie)
    assert body["token"]
    status, body, _ = await _post(srv, "/api/booths/sh-huangpu-01/connect-token", {"role": "booth"},
                                  headers={"Authorization": "Bearer demo-sh-huangpu-01"})
    assert status == 200 and body["centre"] == "sh-huangpu"
    await AccountStore(redis, _accounts(srv).catalogue, demo=True).seed_demo()  # as a 2nd node would
    # one per demo account (specialists, leads, managers, hall staff, the chain manager; issue 19: a reviewer
    # per region with matters), not twice
    catalogue = _accounts(srv).catalogue
    assert len(await redis.smembers(key("users"))) == len(demo_accounts(catalogue)) + len(demo_reviewers(catalogue)) \
        == 53 + 22
    assert len(await redis.smembers(key("booth_accounts"))) == 22


async def test_no_accounts_are_seeded_outside_demo_mode(start_server: Any, redis: Redis) -> None:
    srv = await _server(start_server, demo=False)
    assert await redis.smembers(key("users")) == set()
    assert await redis.smembers(key("booth_accounts")) == set()
    status, body, _ = await _post(srv, "/api/login", {"username": "spec-sh-huangpu", "password": DEMO_PASSWORD})
    assert status == 401
