"""The specialist's queue view says what the router recorded: a session they declined is marked."""

from __future__ import annotations

from typing import Any

from .test_signaling import agent_client, booth_client


async def test_a_declined_session_is_marked_in_the_decliners_view(server: Any, clients: Any, demo: dict[str, str]) -> None:
    booth = await booth_client(clients, server, demo)
    agent = await agent_client(clients, server, demo)
    ticket = await booth.ok("request_service", {"matter": demo["matter"], "consent": True})
    assert [s["sid"] for s in (await agent.ok("queue_view"))["sessions"]] == [ticket["sid"]]
    await agent.ok("presence", {"status": "available"})
    offer = await agent.next("offer")
    await agent.ok("decline", {"sid": offer["sid"], "reason": "wrong matter"})
    await booth.next("session_state", lambda d: d["state"] == "waiting" and d["act"] == "decline")
    mine = (await agent.ok("queue_view"))["sessions"]  # the router will not offer it to them
    assert [(s["sid"], s["declined"]) for s in mine] == [(ticket["sid"], True)]
    other = await agent_client(clients, server, demo, aid="spec-2")  # who did not decline: not marked
    assert [(s["sid"], s["declined"]) for s in (await other.ok("queue_view"))["sessions"]] == [(ticket["sid"], False)]
