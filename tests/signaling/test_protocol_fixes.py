"""What a third party building a booth or console from docs/protocol.md alone found wrong (issue 15).

Real server, real Redis, real socket.io clients: each test failed before its fix.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from signaling import protocol as P

from .test_signaling import agent_client, in_service

ID = "310101199001011234"


async def test_a_bad_rating_answers_invalid_rating_as_documented(server: Any, clients: Any,
                                                                 demo: dict[str, str]) -> None:
    booth, agent, sid = await in_service(clients, server, demo)
    await agent.ok("complete", {"sid": sid, "outcome": "consultation"})
    await booth.next("session_state", lambda d: d["state"] == "completed")
    for level in (0, 6, 4.5, "5", True, None):
        reply = await booth.call("rate", {"sid": sid, "level": level})
        assert reply["error"]["code"] == "invalid_rating" and reply["error"]["field"] == "level", (level, reply)
    assert "invalid_rating" in P.event(P.BOOTH, "rate").errors
    assert "ok" in await booth.call("rate", {"sid": sid, "level": 5})


async def test_a_transfer_offer_says_who_sends_it_and_why(server: Any, clients: Any, demo: dict[str, str]) -> None:
    booth, first, sid = await in_service(clients, server, demo)
    second = await agent_client(clients, server, demo, aid="spec-2")
    await second.ok("presence", {"status": "available"})
    await first.ok("transfer", {"sid": sid, "reason": f"needs the tax desk {ID}", "to_agent": "spec-2"})
    offer = await second.next("offer")
    assert offer["transfer"] and offer["sid"] == sid
    assert offer["from_agent"] == "spec-1" and offer["from_centre"] == demo["home_centre"]
    assert offer["why"] == "needs the tax desk 310101********1234"  # masked at the door
    assert set(offer) <= {f.name for f in P.event(P.AGENT, "offer", P.Direction.S2C).fields}
    told = await booth.next("session_state", lambda d: d["act"] == "transfer")
    assert "why" not in told and "offer" not in booth.inbox  # the booth never hears the reason


async def test_accepting_someone_elses_session_is_not_your_offer(server: Any, clients: Any,
                                                                 demo: dict[str, str]) -> None:
    _booth, _first, sid = await in_service(clients, server, demo)
    other = await agent_client(clients, server, demo, aid="spec-2")
    reply = await other.call("accept", {"sid": sid})
    assert reply["error"]["code"] == "not_your_offer", reply  # was offer_expired: nothing of it was ever yours


@pytest.mark.parametrize("transport", ["polling", "websocket"])
async def test_a_foreign_origin_is_refused_in_the_one_error_shape(server: Any, transport: str) -> None:
    url = server.url + f"/socket.io/?EIO=4&transport={transport}"
    headers = {"Origin": "http://evil.example"}
    async with aiohttp.ClientSession() as http:
        if transport == "polling":
            async with http.get(url, headers=headers) as resp:
                assert resp.status == 403 and resp.content_type == "application/json"
                body = await resp.json()
        else:
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await http.ws_connect(url.replace("http", "ws"), headers=headers)
            assert info.value.status == 403
            async with http.get(url.replace("websocket", "polling"), headers=headers) as resp:
                body = await resp.json()
    assert body == {"error": {"code": "cross_origin", "message": "connections from another site are not accepted"}}
    assert "cross_origin" in P.ERROR_CODES
