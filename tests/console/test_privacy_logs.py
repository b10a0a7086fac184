"""Nothing private reaches the logs above DEBUG: ID numbers, names, passwords, tokens, SDP bodies."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from window_server.domain.auth import Role

from ..signaling.conftest import SECRET, Client, token
from .conftest import PASSWORD, Journey

ID_NUMBER = "32068419570315002X"
NAME = "陈秀英"
SDP = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=fingerprint:sha-256 AB:CD\r\n"


async def test_nothing_private_is_logged_above_debug(start_server: Any, journey: Journey,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # everything is captured; only DEBUG may carry these
    srv = await start_server(secret=SECRET, demo=True)
    spec = f"spec-{journey.home}"
    async with srv.http.post(srv.url + "/api/login", json={"username": spec, "password": "wrong-" + PASSWORD}) as r:
        assert r.status == 401
    async with srv.http.post(srv.url + "/api/login", json={"username": spec, "password": PASSWORD}) as r:
        assert r.status == 200
        cookie = r.cookies["rw_session"].value
    async with srv.http.post(srv.url + "/api/connect-token", json={"namespace": "/agent"},
                             headers={"Cookie": f"rw_session={cookie}"}) as r:
        assert r.status == 200
        agent_token = (await r.json())["token"]

    booth_token = token(Role.BOOTH, journey.booth, journey.intake, "/booth")
    booth, agent = Client("/booth"), Client("/agent")
    try:
        await booth.connect(srv.url, booth_token)
        await agent.connect(srv.url, agent_token)
        ticket = await booth.ok("request_service", {"matter": journey.matter, "consent": True})
        await agent.ok("presence", {"status": "available"})
        await agent.next("offer")
        sid = ticket["sid"]
        await agent.ok("accept", {"sid": sid})
        await agent.ok("note", {"sid": sid, "text": f"{NAME} 身份证 {ID_NUMBER}，材料齐全"})
        await agent.ok("identity", {"sid": sid, "method": "id_card_face", "result": "passed"})
        await agent.ok("signal", {"sid": sid, "to": "booth", "kind": "offer", "data": {"type": "offer", "sdp": SDP}})
        relayed = await booth.next("signal")
        assert relayed["data"]["sdp"] == SDP
        await booth.ok("signal", {"sid": sid, "to": "agent", "kind": "answer", "data": {"type": "answer", "sdp": SDP}})
        await agent.next("signal")
        bad = await agent.call("note", {"sid": sid, "text": ID_NUMBER * 300})  # too long: an error, not a log of it
        assert bad["error"]["code"] == "invalid_input"
        await agent.ok("complete", {"sid": sid, "outcome": "consultation"})
    finally:
        await booth.close()
        await agent.close()

    private = {"ID number": ID_NUMBER, "name": NAME, "password": PASSWORD, "session cookie": cookie,
               "booth token": booth_token, "connect token": agent_token, "SDP": "fingerprint:sha-256"}
    above_debug = [r for r in caplog.records if r.levelno > logging.DEBUG]
    assert above_debug  # the service did log its work at INFO
    for record in above_debug:
        text = record.getMessage() + (caplog.handler.format(record) if record.exc_info else "")
        leaked = [what for what, value in private.items() if value in text]
        assert not leaked, f"{record.name} logged {leaked} at {record.levelname}: {text[:200]}"
    # the relay's SDP is logged at DEBUG only, so the check above could have caught it
    assert any("fingerprint:sha-256" in r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG)
