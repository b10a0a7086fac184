"""Signaling end to end on one node: real server, real Redis, real socket.io clients."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from window_server.domain.auth import Role

from .conftest import SECRET, Client, token


async def booth_client(clients: Any, server: Any, demo: dict[str, str], booth: str = "bth-1") -> Client:
    c = clients("/booth")
    await c.connect(server.url, token(Role.BOOTH, booth, demo["intake_centre"], "/booth"))
    return c


async def agent_client(clients: Any, server: Any, demo: dict[str, str], aid: str = "spec-1",
                       centre: str | None = None) -> Client:
    c = clients("/agent")
    await c.connect(server.url, token(Role.SPECIALIST, aid, centre or demo["home_centre"], "/agent"))
    return c


async def in_service(clients: Any, server: Any, demo: dict[str, str]) -> tuple[Client, Client, str]:
    booth = await booth_client(clients, server, demo)
    agent = await agent_client(clients, server, demo)
    ticket = await booth.ok("request_service", {"matter": demo["matter"], "consent": True})
    await agent.ok("presence", {"status": "available"})
    offer = await agent.next("offer")
    assert offer["sid"] == ticket["sid"]
    await agent.ok("accept", {"sid": offer["sid"]})
    await booth.next("session_state", lambda d: d["state"] == "in_service")
    return booth, agent, ticket["sid"]


# --- the door -----------------------------------------------------------------------------


async def test_connect_without_a_valid_token_is_refused(server: Any, clients: Any, demo: dict[str, str]) -> None:
    assert (await clients("/booth").refused(server.url, None))["code"] == "unauthenticated"
    assert (await clients("/booth").refused(server.url, ""))["code"] == "invalid_token"
    expired = token(Role.BOOTH, "b", demo["intake_centre"], "/booth", now_ms=1_000_000, lifetime_s=60)
    assert (await clients("/booth").refused(server.url, expired))["code"] == "token_expired"
    agent_token = token(Role.SPECIALIST, "s", demo["home_centre"], "/agent")
    assert (await clients("/booth").refused(server.url, agent_token))["code"] == "wrong_namespace"
    tampered = agent_token[:-3] + ("AAA" if not agent_token.endswith("AAA") else "BBB")
    assert (await clients("/agent").refused(server.url, tampered))["code"] == "invalid_token"


async def test_socket_that_never_authenticates_is_dropped(start_server: Any) -> None:
    srv = await start_server(secret=SECRET, auth_deadline_seconds=0.3)
    ws_url = srv.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
    async with aiohttp.ClientSession() as http, http.ws_connect(ws_url) as ws:
        first = await ws.receive(timeout=5)
        assert first.data.startswith("0")  # engine.io open packet; we never send a namespace CONNECT
        async with asyncio.timeout(10):
            while True:
                msg = await ws.receive()
                if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                    break
                if msg.type is aiohttp.WSMsgType.TEXT and msg.data == "1":
                    break  # engine.io "close": the server dropped us
                if msg.type is aiohttp.WSMsgType.TEXT and msg.data == "2":
                    await ws.send_str("3")  # answer pings: only the missing authentication may drop us


async def test_foreign_origin_is_refused(server: Any) -> None:
    ws_url = server.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await http.ws_connect(ws_url, headers={"Origin": "http://evil.example"})
        async with http.ws_connect(ws_url, headers={"Origin": server.url}) as ws:
            assert (await ws.receive(timeout=5)).data.startswith("0")


async def test_websockets_do_not_negotiate_compression(server: Any) -> None:
    # permessage-deflate costs ~100 KB of server memory per socket for small JSON messages
    ws_url = server.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
    async with aiohttp.ClientSession() as http, http.ws_connect(ws_url, compress=15) as ws:
        assert ws.compress == 0
        assert (await ws.receive(timeout=5)).data.startswith("0")


async def test_roles_are_kept_to_their_namespaces(server: Any, clients: Any, demo: dict[str, str]) -> None:
    manager = token(Role.MANAGER, "mgr", demo["home_centre"], "/dashboard")
    refusal = await clients("/agent").refused(server.url, manager)  # a /dashboard token used on /agent
    assert refusal["code"] == "wrong_namespace"


# --- the journey ------------------------------------------------------------------------------


async def test_ticket_offer_accept_and_relay(server: Any, clients: Any, demo: dict[str, str]) -> None:
    booth = await booth_client(clients, server, demo)
    ticket = await booth.ok("request_service", {"matter": demo["matter"], "priority": "elderly", "consent": True})
    assert ticket["ticket"].startswith("P") and ticket["state"] == "waiting" and ticket["position"] == 1
    pos = await booth.next("queue_position", lambda d: d["sid"] == ticket["sid"])
    assert pos["position"] == 1 and pos["eta_s"] is None  # nobody signed in yet
    agent = await agent_client(clients, server, demo)
    assert (await agent.next("presence"))["status"] == "away"
    view = await agent.ok("queue_view")
    assert [s["sid"] for s in view["sessions"]] == [ticket["sid"]]
    await agent.ok("presence", {"status": "available"})
    offer = await agent.next("offer")
    assert offer["sid"] == ticket["sid"] and offer["deadline"] > 0 and not offer["transfer"]
    await agent.ok("accept", {"sid": ticket["sid"]})
    state = await booth.next("session_state", lambda d: d["state"] == "in_service")
    assert state["agent_centre"] == demo["home_centre"]

    sdp = {"type": "offer", "sdp": "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n"}
    await agent.ok("signal", {"sid": ticket["sid"], "to": "booth", "kind": "offer", "data": sdp})
    got = await booth.next("signal")
    assert got == {"sid": ticket["sid"], "from": "agent", "kind": "offer", "data": sdp, "pc": "call"}
    await booth.ok("signal", {"sid": ticket["sid"], "to": "agent", "kind": "answer",
                              "data": {"type": "answer", "sdp": "v=0"}})
    assert (await agent.next("signal"))["kind"] == "answer"

    await agent.ok("note", {"sid": ticket["sid"], "text": "needs the Suzhou form"})
    detail = await agent.ok("session_detail", {"sid": ticket["sid"]})
    assert detail["notes"][0]["text"] == "needs the Suzhou form"
    await agent.ok("complete", {"sid": ticket["sid"], "outcome": "consultation", "case_number": "SZ-1"})
    await booth.next("session_state", lambda d: d["state"] == "completed")
    await booth.ok("rate", {"sid": ticket["sid"], "level": 5})
    second = await booth.call("rate", {"sid": ticket["sid"], "level": 4})
    assert second["error"]["code"] == "already_rated"


async def test_signal_only_between_members(server: Any, clients: Any, demo: dict[str, str]) -> None:
    booth, agent, sid = await in_service(clients, server, demo)
    other_booth = await booth_client(clients, server, demo, booth="bth-2")
    reply = await other_booth.call("signal", {"sid": sid, "to": "agent", "kind": "ice", "data": {}})
    assert reply["error"]["code"] == "not_member"
    intruder = await agent_client(clients, server, demo, aid="spec-2")
    reply = await intruder.call("signal", {"sid": sid, "to": "booth", "kind": "offer", "data": {}})
    assert reply["error"]["code"] == "not_member"
    reply = await booth.call("signal", {"sid": sid, "to": "device", "kind": "offer", "data": {}})
    assert reply["error"]["code"] == "not_member"  # a booth speaks only to its specialist
    assert booth.inbox["signal"] == [] and agent.inbox["signal"] == []


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "payload", "code"),
    [
        ("no_such_event", {}, "unknown_event"),
        ("request_service", "not an object", "invalid_input"),
        ("request_service", {"matter": 5, "consent": True}, "invalid_input"),
        ("request_service", {"matter": "x", "consent": True, "extra": 1}, "invalid_input"),
        ("request_service", {"matter": "no-such-matter", "consent": True}, "unknown_matter"),
        ("request_service", {"matter": "x"}, "invalid_input"),
        ("rate", {"sid": "RW1", "level": 9}, "invalid_rating"),  # as documented (issue 15)
        ("request_service", {"matter": "x" * 5000, "consent": True}, "payload_too_large"),
        ("signal", {"sid": "RW1", "to": "agent", "kind": "offer", "data": {"sdp": "x" * 60_000}},
         "payload_too_large"),
    ],
)
async def test_bad_input_gets_a_stable_error(server: Any, clients: Any, demo: dict[str, str], event: str,
                                             payload: Any, code: str) -> None:
    booth = await booth_client(clients, server, demo)
    reply = await booth.call(event, payload)
    assert reply["error"]["code"] == code
    assert set(reply["error"]) <= {"code", "message", "field"}
    assert (await booth.call("resume"))["ok"] == {"session": None}  # still served


async def test_message_over_the_transport_cap_closes_only_that_connection(server: Any, clients: Any,
                                                                          demo: dict[str, str]) -> None:
    big = await booth_client(clients, server, demo)
    bystander = await booth_client(clients, server, demo, booth="bth-2")
    gone = asyncio.Event()
    big.sio.on("disconnect", lambda *a: gone.set(), namespace="/booth")
    await big.emit("resume", {"x": "y" * 70_000})  # over RW_MAX_MESSAGE_BYTES (64 KiB)
    async with asyncio.timeout(10):
        await gone.wait()
    assert (await bystander.call("resume"))["ok"] == {"session": None}


async def test_flooding_gets_rate_limited_then_disconnected(start_server: Any, clients: Any,
                                                            demo: dict[str, str]) -> None:
    srv = await start_server(secret=SECRET, rate_limit_per_second=1, rate_limit_burst=3)
    booth = await booth_client(clients, srv, demo)
    replies = await asyncio.gather(*(booth.call("resume") for _ in range(10)))
    codes = [r.get("error", {}).get("code") for r in replies]
    assert codes.count(None) == 3 and codes.count("rate_limited") == 7
    disconnected = asyncio.Event()
    booth.sio.on("disconnect", lambda *a: disconnected.set(), namespace="/booth")
    for _ in range(30):
        if not booth.sio.connected:
            break
        await booth.emit("resume")
    async with asyncio.timeout(10):
        await disconnected.wait()


# --- resume -------------------------------------------------------------------------------------


async def test_booth_reload_keeps_its_ticket(server: Any, clients: Any, demo: dict[str, str]) -> None:
    booth = await booth_client(clients, server, demo)
    ticket = await booth.ok("request_service", {"matter": demo["matter"], "consent": True})
    await booth.close()
    again = await booth_client(clients, server, demo)
    resumed = await again.next("session_state", lambda d: d.get("act") == "resume")
    assert (resumed["sid"], resumed["ticket"], resumed["state"]) == (ticket["sid"], ticket["ticket"], "waiting")
    assert resumed["position"] == 1


async def test_specialist_console_closed_mid_session_comes_back(server: Any, clients: Any,
                                                                demo: dict[str, str]) -> None:
    booth, agent, sid = await in_service(clients, server, demo)
    await agent.close()
    lost = await booth.next("session_state", lambda d: d["state"] == "reconnecting")
    assert lost["party"] == "agent"
    again = await agent_client(clients, server, demo)
    await booth.next("session_state", lambda d: d["state"] == "in_service")
    resumed = await again.next("session_state", lambda d: d.get("act") == "resume")
    assert resumed["sid"] == sid
    assert (await again.next("presence", lambda d: d["status"] == "in_service"))


async def test_booth_disconnect_mid_session_reconnects(server: Any, clients: Any, demo: dict[str, str]) -> None:
    booth, agent, sid = await in_service(clients, server, demo)
    await booth.close()
    lost = await agent.next("session_state", lambda d: d["state"] == "reconnecting")
    assert lost["party"] == "booth"
    again = await booth_client(clients, server, demo)
    await agent.next("session_state", lambda d: d["state"] == "in_service")
    resumed = await again.next("session_state", lambda d: d.get("act") == "resume")
    assert resumed["state"] == "in_service"


async def test_device_registers_and_the_specialist_hears_of_it(server: Any, clients: Any,
                                                                demo: dict[str, str]) -> None:
    booth, agent, sid = await in_service(clients, server, demo)
    device = clients("/device")
    await device.connect(server.url, token(Role.DEVICE, "bth-1", demo["intake_centre"], "/device"))
    cams = [{"id": "main", "role": "main", "preview": [1280, 720], "still": [3264, 2448]}]
    reg = await device.ok("register", {"cameras": cams, "version": "1"})
    assert reg["session"]["sid"] == sid
    ready = await agent.next("device_ready")
    assert ready["cameras"][0]["still"] == [3264, 2448]
    await device.ok("signal", {"sid": sid, "to": "agent", "kind": "offer", "data": {"type": "offer", "sdp": "v=0"},
                               "pc": "preview"})
    assert (await agent.next("signal"))["from"] == "device"
    bad = await device.call("register", {"cameras": [{"id": "x", "still": [0, 5]}]})
    assert bad["error"]["code"] == "invalid_input"
    assert json.loads(json.dumps(reg))  # plain JSON through and through


async def test_a_node_shutting_down_closes_its_websockets_going_away(start_server: Any) -> None:
    """A stopping node closes every client's websocket with 1001 (going away) itself, so clients
    reconnect to another node at once instead of after aiohttp's shutdown timeout."""
    srv = await start_server(secret=SECRET)
    ws_url = srv.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
    async with aiohttp.ClientSession() as http, http.ws_connect(ws_url) as ws:
        assert (await ws.receive(timeout=5)).data.startswith("0")  # engine.io open packet
        stopping = asyncio.create_task(srv.server.close())
        async with asyncio.timeout(10):
            while (msg := await ws.receive()).type is aiohttp.WSMsgType.TEXT:
                pass
        assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == aiohttp.WSCloseCode.GOING_AWAY
        await stopping
