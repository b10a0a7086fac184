"""Revocation and single use: disabled, re-keyed, revoked and logged-out principals lose their
sockets on every node, their old connect tokens stop working, and a token connects once.

Real server(s), real Redis, real socket.io clients; the account changes go through the same
``AccountStore`` methods the ``users``/``booths`` commands and the HTTP handlers call.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

import pytest

from window_server.accounts.store import AccountStore
from window_server.appkeys import ACCOUNTS, HUB
from window_server.domain.auth import Principal, Role, sign_connect_token

from .conftest import SECRET, Client, token

PW = "correct horse battery"


@pytest.fixture
async def srv(start_server: Any) -> Any:
    return await start_server(secret=SECRET, revocation_sweep_seconds=0.2, reconnect_grace_seconds=30,
                              offer_timeout_seconds=30)


def _accounts(server: Any) -> AccountStore:
    return server.app[ACCOUNTS]


def _watch_disconnect(c: Client) -> asyncio.Event:
    gone = asyncio.Event()
    c.sio.on("disconnect", lambda *a: gone.set(), namespace=c.namespace)
    return gone


async def _gone(event: asyncio.Event) -> None:
    async with asyncio.timeout(10):
        await event.wait()


async def _login(server: Any, username: str, http: Any = None) -> str:
    async with (http or server.http).post(server.url + "/api/login",
                                          json={"username": username, "password": PW}) as resp:
        assert resp.status == 200, await resp.text()
        return resp.cookies["rw_session"].value


async def _staff_token(server: Any, cookie: str, namespace: str) -> str:
    async with server.http.post(server.url + "/api/connect-token", json={"namespace": namespace},
                                headers={"Cookie": f"rw_session={cookie}"}) as resp:
        assert resp.status == 200, await resp.text()
        tok: str = (await resp.json())["token"]
        return tok


async def _booth_token(server: Any, booth: str, booth_token: str, role: str) -> tuple[int, str]:
    async with server.http.post(server.url + f"/api/booths/{booth}/connect-token", json={"role": role},
                                headers={"Authorization": f"Bearer {booth_token}"}) as resp:
        body = await resp.json()
        return resp.status, body.get("token", "") if resp.status == 200 else body["error"]["code"]


async def _specialist(server: Any, clients: Any, aid: str, centre: str) -> Client:
    c: Client = clients("/agent")
    await c.connect(server.url, token(Role.SPECIALIST, aid, centre, "/agent"))
    await c.ok("presence", {"status": "available"})
    return c


async def _citizen_offered_to_spec_a(
    srv: Any, clients: Any, demo: dict[str, str]
) -> tuple[Client, asyncio.Event, Client, dict[str, Any]]:
    """spec-a available (its disconnect watched), a booth's citizen queued for them."""
    agent = await _specialist(srv, clients, "spec-a", demo["home_centre"])
    gone = _watch_disconnect(agent)
    booth: Client = clients("/booth")
    await booth.connect(srv.url, token(Role.BOOTH, "bth-1", demo["intake_centre"], "/booth"))
    ticket = await booth.ok("request_service", {"matter": demo["matter"], "consent": True})
    return agent, gone, booth, ticket


# --- (a) a disabled specialist's socket ends; the normal disconnect rules follow -----------------


async def test_disabling_a_specialist_ends_their_socket_and_their_offer_goes_to_another(
    srv: Any, clients: Any, demo: dict[str, str]
) -> None:
    first, gone, _booth, ticket = await _citizen_offered_to_spec_a(srv, clients, demo)
    assert (await first.next("offer"))["sid"] == ticket["sid"]
    second = await _specialist(srv, clients, "spec-b", demo["home_centre"])

    await _accounts(srv).set_disabled("spec-a", True)

    await _gone(gone)
    offer = await second.next("offer")  # the disconnect hook signed spec-a out: the offer moved on
    assert offer["sid"] == ticket["sid"]


async def test_disabling_a_serving_specialist_sends_the_session_to_reconnecting(
    srv: Any, clients: Any, demo: dict[str, str]
) -> None:
    agent, gone, booth, ticket = await _citizen_offered_to_spec_a(srv, clients, demo)
    await agent.ok("accept", {"sid": (await agent.next("offer"))["sid"]})
    await booth.next("session_state", lambda d: d["state"] == "in_service")

    await _accounts(srv).set_disabled("spec-a", True)

    await _gone(gone)
    state = await booth.next("session_state", lambda d: d["state"] == "reconnecting")
    assert state["sid"] == ticket["sid"]


# --- (b) (c) (f) the door: single use, revoked generations, accounts that do not exist ----------


async def test_a_token_issued_before_a_disable_never_connects(srv: Any, clients: Any, demo: dict[str, str]) -> None:
    early, also_early = (token(Role.SPECIALIST, "spec-a", demo["home_centre"], "/agent") for _ in range(2))
    await _accounts(srv).set_disabled("spec-a", True)
    assert (await clients("/agent").refused(srv.url, early))["code"] == "account_disabled"
    await _accounts(srv).set_disabled("spec-a", False)
    assert (await clients("/agent").refused(srv.url, also_early))["code"] == "token_revoked"
    fresh: Client = clients("/agent")
    await fresh.connect(srv.url, token(Role.SPECIALIST, "spec-a", demo["home_centre"], "/agent"))


async def test_a_token_connects_once(srv: Any, clients: Any, demo: dict[str, str]) -> None:
    once = token(Role.BOOTH, "bth-1", demo["intake_centre"], "/booth")
    first: Client = clients("/booth")
    await first.connect(srv.url, once)
    await first.close()
    assert (await clients("/booth").refused(srv.url, once))["code"] == "token_used"


def _signed(role: Role, subject: str, centre: str, namespace: str) -> str:
    """A validly signed token without registering its account (what a leaked key could mint)."""
    principal = Principal(role=role, subject=subject, centre=centre, langs=("zh",))
    return sign_connect_token(SECRET.encode(), principal, namespace, int(time.time() * 1000), 60,
                              secrets.token_hex(8), gen=1)


async def test_a_signed_token_for_no_such_account_is_refused(srv: Any, clients: Any, demo: dict[str, str]) -> None:
    home = demo["home_centre"]
    assert (await clients("/agent").refused(srv.url, _signed(Role.SPECIALIST, "ghost", home, "/agent")))[
        "code"] == "unknown_account"
    assert (await clients("/booth").refused(srv.url, _signed(Role.BOOTH, "no-booth", home, "/booth")))[
        "code"] == "unknown_account"
    assert (await clients("/dashboard").refused(srv.url, _signed(Role.CHAIN_MANAGER, "nobody", "", "/dashboard")))[
        "code"] == "unknown_account"
    # an existing specialist's name does not lend its account to another role or centre
    await _accounts(srv).add_user("spec-real", PW, Role.SPECIALIST, home)
    as_chain = _signed(Role.CHAIN_MANAGER, "spec-real", "", "/dashboard")
    assert (await clients("/dashboard").refused(srv.url, as_chain))["code"] == "unknown_account"
    elsewhere = _signed(Role.SPECIALIST, "spec-real", demo["intake_centre"], "/agent")
    assert (await clients("/agent").refused(srv.url, elsewhere))["code"] == "unknown_account"


# --- (d) a revoked booth: its page and its device agent go -------------------------------------


async def test_revoking_a_booth_ends_its_booth_and_device_sockets(srv: Any, clients: Any, demo: dict[str, str]) -> None:
    accounts = _accounts(srv)
    _booth, booth_token = await accounts.add_booth("hall-7", demo["intake_centre"])
    status, page_tok = await _booth_token(srv, "hall-7", booth_token, "booth")
    assert status == 200
    _, device_tok = await _booth_token(srv, "hall-7", booth_token, "device")
    _, unused = await _booth_token(srv, "hall-7", booth_token, "booth")
    page: Client = clients("/booth")
    await page.connect(srv.url, page_tok)
    device: Client = clients("/device")
    await device.connect(srv.url, device_tok)
    page_gone, device_gone = _watch_disconnect(page), _watch_disconnect(device)

    await accounts.revoke_booth("hall-7")

    await _gone(page_gone)
    await _gone(device_gone)
    assert (await clients("/booth").refused(srv.url, unused))["code"] == "token_revoked"
    assert await _booth_token(srv, "hall-7", booth_token, "booth") == (401, "invalid_token")
    # re-issued: the new token works, tokens of the old issue still do not
    _again, new_token = await accounts.add_booth("hall-7", demo["intake_centre"])
    _, fresh = await _booth_token(srv, "hall-7", new_token, "booth")
    back: Client = clients("/booth")
    await back.connect(srv.url, fresh)


# --- (e) logout ends that login's sockets only; a password change ends them all ---------------


async def test_logout_ends_that_logins_sockets_and_a_password_change_ends_the_rest(
    srv: Any, clients: Any, demo: dict[str, str]
) -> None:
    await _accounts(srv).add_user("li.wei", PW, Role.SPECIALIST, demo["home_centre"])
    browser_a = await _login(srv, "li.wei")
    browser_b = await _login(srv, "li.wei")
    sock_a: Client = clients("/agent")
    await sock_a.connect(srv.url, await _staff_token(srv, browser_a, "/agent"))
    sock_b: Client = clients("/agent")
    await sock_b.connect(srv.url, await _staff_token(srv, browser_b, "/agent"))
    gone_a, gone_b = _watch_disconnect(sock_a), _watch_disconnect(sock_b)
    # logging in again in browser A replaces its cookie (no fixation) but is no logout
    async with srv.http.post(srv.url + "/api/login", json={"username": "li.wei", "password": PW},
                             headers={"Cookie": f"rw_session={browser_a}"}) as resp:
        assert resp.status == 200
        browser_a = resp.cookies["rw_session"].value
    await srv.app[HUB].sweep_revoked()
    assert "ok" in await sock_a.call("queue_view")  # its console stays, and ends with its logout
    unused_a = await _staff_token(srv, browser_a, "/agent")

    async with srv.http.post(srv.url + "/api/logout", headers={"Cookie": f"rw_session={browser_a}"}) as resp:
        assert resp.status == 204
    await _gone(gone_a)
    await srv.app[HUB].sweep_revoked()  # one more sweep: browser B's login is untouched
    assert "ok" in await sock_b.call("queue_view")
    assert (await clients("/agent").refused(srv.url, unused_a))["code"] == "token_revoked"

    unused_b = await _staff_token(srv, browser_b, "/agent")
    await _accounts(srv).set_password("li.wei", "another long password")
    await _gone(gone_b)
    assert (await clients("/agent").refused(srv.url, unused_b))["code"] == "token_revoked"


# --- (g) two nodes: revoked on one, ended on the other ------------------------------------------


async def test_a_logout_on_one_node_ends_the_socket_on_another(
    start_server: Any, clients: Any, demo: dict[str, str]
) -> None:
    a = await start_server(secret=SECRET, revocation_sweep_seconds=0.2)
    b = await start_server(secret=SECRET, revocation_sweep_seconds=0.2)
    await _accounts(a).add_user("mgr-1", PW, Role.MANAGER, demo["home_centre"])
    cookie = await _login(a, "mgr-1")
    board: Client = clients("/dashboard")
    await board.connect(b.url, await _staff_token(a, cookie, "/dashboard"))  # issued by A, opened on B
    spec = await _specialist(b, clients, "spec-b", demo["home_centre"])
    gone, spec_gone = _watch_disconnect(board), _watch_disconnect(spec)

    async with a.http.post(a.url + "/api/logout", headers={"Cookie": f"rw_session={cookie}"}) as resp:
        assert resp.status == 204
    await _gone(gone)

    await _accounts(a).set_disabled("spec-b", True)  # as `users disable` would, through node A's store
    await _gone(spec_gone)
