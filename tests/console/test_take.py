"""Taking a waiting session from the queue list (接办), over real socket.io and the real queue.

`take` offers and accepts in one queue call, by the router's own rules: a missed offer may be taken,
a declined one not while the decline memory holds (declined_before); a partner centre only once
the session widened (not_eligible); a missed elderly citizen comes before a later normal ticket
(not_eligible); a session someone serves is not waiting; nobody takes while holding an offer (busy).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tests.signaling.conftest import SECRET, Client, token
from window_server.domain.auth import Role

MATTER = "js-320600-housing-fund-transfer"  # home region 320600: js-nantong's own, js-province a partner
HOME, PARTNER, INTAKE = "js-nantong", "js-province", "sh-huangpu"


@pytest.fixture
async def server(start_server: Callable[..., Awaitable[Any]]) -> Any:
    # offers run out after a second (a miss); partner centres wait a minute (no widening here)
    return await start_server(secret=SECRET, offer_timeout_seconds=1, widen_seconds=60, wrap_up_seconds=0)


@pytest.fixture
async def sockets() -> AsyncIterator[Callable[[str], Client]]:
    made: list[Client] = []

    def make(namespace: str) -> Client:
        made.append(Client(namespace))
        return made[-1]

    yield make
    for c in made:
        await c.close()


async def booth(clients: Any, server: Any, name: str) -> Client:
    c = clients("/booth")
    await c.connect(server.url, token(Role.BOOTH, name, INTAKE, "/booth"))
    return c


async def agent(clients: Any, server: Any, aid: str, centre: str = HOME) -> Client:
    c = clients("/agent")
    await c.connect(server.url, token(Role.SPECIALIST, aid, centre, "/agent"))
    return c


async def view(a: Client) -> dict[str, dict[str, Any]]:
    return {s["sid"]: s for s in (await a.ok("queue_view"))["sessions"]}


async def test_a_missed_offer_is_taken_from_the_queue(server: Any, sockets: Any) -> None:
    b = await booth(sockets, server, "bth-1")
    spec = await agent(sockets, server, "spec-1")
    await spec.ok("presence", {"status": "available"})
    ticket = await b.ok("request_service", {"matter": MATTER, "consent": True, "priority": "elderly", "lang": "zh"})
    offer = await spec.next("offer")
    assert (offer["ticket"], offer["priority"], offer["language"]) == (ticket["ticket"], "elderly", "zh")
    missed = await spec.next("session_state", lambda d: d["act"] == "offer_timeout")  # nobody answered
    assert (missed["sid"], missed["ticket"], missed["agent"]) == (ticket["sid"], ticket["ticket"], "spec-1")
    await spec.next("presence", lambda d: d["status"] == "available")

    row = (await view(spec))[ticket["sid"]]
    assert (row["declined"], row["takeable"], row["take_block"]) == (True, True, "")  # missed, not declined
    partner = await agent(sockets, server, "spec-p", PARTNER)
    await partner.ok("presence", {"status": "available"})
    assert ticket["sid"] not in await view(partner)  # not widened: not in the partner's list
    refused = await partner.call("take", {"sid": ticket["sid"]})
    assert refused["error"]["code"] == "not_eligible"

    offers_before = len(spec.inbox["offer"])
    taken = await spec.ok("take", {"sid": ticket["sid"]})
    assert taken == {"sid": ticket["sid"], "state": "in_service"}
    await b.next("session_state", lambda d: d["state"] == "in_service" and d["act"] == "accept")
    await spec.next("presence", lambda d: d["status"] == "in_service")
    assert len(spec.inbox["offer"]) == offers_before  # no ringing for a take
    detail = await spec.ok("session_detail", {"sid": ticket["sid"]})
    accept = next(e for e in detail["events"] if e["act"] == "accept")
    assert (accept["by"], accept["taken"]) == ("spec-1", "1")
    # the session is served now: nobody else takes it
    assert (await partner.call("take", {"sid": ticket["sid"]}))["error"]["code"] == "not_waiting"


async def test_a_declined_session_is_not_taken_while_the_decline_is_remembered(server: Any, sockets: Any) -> None:
    b = await booth(sockets, server, "bth-1")
    spec = await agent(sockets, server, "spec-1")
    await spec.ok("presence", {"status": "available"})
    ticket = await b.ok("request_service", {"matter": MATTER, "consent": True})
    await spec.next("offer")
    await spec.ok("decline", {"sid": ticket["sid"], "reason": "not now"})
    row = (await view(spec))[ticket["sid"]]
    assert (row["declined"], row["takeable"], row["take_block"]) == (True, False, "declined_before")
    refused = await spec.call("take", {"sid": ticket["sid"]})
    assert refused["error"]["code"] == "declined_before"

    other = await agent(sockets, server, "spec-2")  # a colleague who did not decline it: offered by the router
    await other.ok("presence", {"status": "available"})
    offered = await other.next("offer")
    assert offered["sid"] == ticket["sid"]
    assert (await other.call("take", {"sid": ticket["sid"]}))["error"]["code"] == "busy"  # holding an offer


async def test_a_missed_elderly_citizen_comes_before_a_later_ticket(server: Any, sockets: Any) -> None:
    elderly, normal = await booth(sockets, server, "bth-1"), await booth(sockets, server, "bth-2")
    spec = await agent(sockets, server, "spec-1")
    await spec.ok("presence", {"status": "available"})
    e = await elderly.ok("request_service", {"matter": MATTER, "consent": True, "priority": "elderly"})
    await spec.next("session_state", lambda d: d["act"] == "offer_timeout" and d["sid"] == e["sid"])
    n = await normal.ok("request_service", {"matter": MATTER, "consent": True})
    await spec.next("session_state", lambda d: d["act"] == "offer_timeout" and d["sid"] == n["sid"])
    await spec.next("presence", lambda d: d["status"] == "away")  # two misses: away
    await spec.ok("presence", {"status": "available"})  # back: the router offers neither again
    rows = await view(spec)
    assert (rows[n["sid"]]["takeable"], rows[n["sid"]]["take_block"]) == (False, "not_eligible")
    assert rows[e["sid"]]["takeable"] is True
    refused = await spec.call("take", {"sid": n["sid"]})
    assert refused["error"]["code"] == "not_eligible" and e["ticket"] in refused["error"]["message"]
    assert (await spec.ok("take", {"sid": e["sid"]}))["state"] == "in_service"
