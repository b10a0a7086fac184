"""Free text is masked at the door: ID and mobile numbers never travel or stay in full.

Real server, real Redis, real socket.io clients: a note, a transfer reason, a case number and a
rating comment carrying an ID number and a mobile number reach the other party's events, the
event streams and the session hash masked; the booth and its device agent never get a
transfer's (or any) reason.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from redis.asyncio import Redis

from signaling import protocol as P
from window_server.domain.auth import Role
from window_server.store.keys import key

from .conftest import token
from .test_signaling import agent_client, in_service

ID, MOBILE = "310101199001011234", "13800138000"
TEXT = f"张三丰 / {ID} / {MOBILE}"
MASKED = "张三丰 / 310101********1234 / 138****8000"

FREE_TEXT = {("/booth", "leave_queue", "reason"), ("/booth", "rate", "comment"), ("/agent", "decline", "reason"),
             ("/agent", "transfer", "reason"), ("/agent", "complete", "case_number"),
             ("/agent", "no_show", "reason"), ("/agent", "note", "text"), ("/agent", "verdict", "reason"),
             ("/agent", "verdict", "override_reason"),
             ("/agent", "chat", "text"), ("/booth", "chat", "text"),  # issue 18: the text beside the video
             ("/guest", "mark", "note")}  # issue 19: a reviewer's note on a material


def test_every_free_text_field_is_masked_by_parse() -> None:
    marked = {(e.namespace, e.name, f.name) for e in P.EVENTS for f in e.fields if f.free_text}
    assert marked == FREE_TEXT
    for ns, name, field in sorted(marked):
        spec = P.event(ns, name)
        data: dict[str, Any] = {f.name: _valid(f) for f in spec.fields if f.required}
        data[field] = f"{ID} {MOBILE}"[: next(f.max_len for f in spec.fields if f.name == field) or 100]
        assert P.parse(spec, data)[field] == "310101********1234 138****8000", (ns, name, field)
    spec = P.event("/agent", "complete")
    assert P.parse(spec, {"sid": "RW1", "outcome": "intake", "case_number": "SZ-2026-000123"})["case_number"] \
        == "SZ-2026-000123"  # a government case number travels in full


def _valid(f: P.F) -> Any:
    if f.choices:
        return f.choices[0]
    return {"str": "RW1", "int": 1, "bool": True, "number": 1, "array": [], "object": {}}.get(f.kind)


async def test_masked_text_is_what_travels_and_stays(server: Any, clients: Any, demo: dict[str, str],
                                                     redis: Redis) -> None:
    booth, first, sid = await in_service(clients, server, demo)
    device = clients("/device")
    await device.connect(server.url, token(Role.DEVICE, "bth-1", demo["intake_centre"], "/device"))
    await device.ok("register", {"cameras": [], "version": "1"})
    second = await agent_client(clients, server, demo, aid="spec-2")
    await second.ok("presence", {"status": "available"})

    await first.ok("note", {"sid": sid, "text": TEXT})
    assert (await first.ok("session_detail", {"sid": sid}))["notes"][0]["text"] == MASKED

    await first.ok("transfer", {"sid": sid, "reason": TEXT, "mode": "warm", "to_agent": "spec-2"})
    told = await second.next("session_state", lambda d: d["act"] == "transfer")
    assert told["why"] == MASKED  # the receiving specialist gets the reason
    assert (await second.next("offer"))["transfer"]
    await second.ok("accept", {"sid": sid})
    accepted = await second.next("session_state", lambda d: d["act"] == "transfer_accept")
    assert accepted["why"] == MASKED

    await second.ok("complete", {"sid": sid, "outcome": "consultation", "case_number": ID})
    await booth.next("session_state", lambda d: d["state"] == "completed")
    await booth.ok("rate", {"sid": sid, "level": 1, "comment": TEXT})
    rated = await second.next("session_state", lambda d: d["act"] == "rate")
    assert rated["why"] == MASKED  # the other party sees the comment masked
    for party in (booth, device):  # the booth side never gets a reason, masked or not
        assert "why" not in await party.next("session_state", lambda d: d["state"] == "rated")
        assert any(d["act"] == "transfer" for d in party.inbox["session_state"])
        assert all("why" not in d for d in party.inbox["session_state"]), party.inbox["session_state"]
    s = await redis.hgetall(key("session", sid=sid))
    assert s["rating_comment"] == MASKED and s["case_number"] == "310101********1234"
    assert json.loads(s["transfers"])[0]["reason"] == MASKED
    streams = [e for _id, e in await redis.xrange(key("events"))] + \
        [e for _id, e in await redis.xrange(key("session_events", sid=sid))]
    stored = json.dumps([s, streams, await redis.lrange(key("notes", sid=sid), 0, -1)], ensure_ascii=False)
    assert ID not in stored and MOBILE not in stored
    assert stored.count("310101********1234") >= 6  # note, transfer and its accept (twice each), comment


@pytest.mark.parametrize("reason", [TEXT])
async def test_a_declined_transfer_reason_stays_with_the_specialists(server: Any, clients: Any,
                                                                     demo: dict[str, str], reason: str) -> None:
    booth, first, sid = await in_service(clients, server, demo)
    second = await agent_client(clients, server, demo, aid="spec-2")
    await second.ok("presence", {"status": "available"})
    await first.ok("transfer", {"sid": sid, "reason": reason, "mode": "warm", "to_agent": "spec-2"})
    await second.next("offer")
    await second.ok("decline", {"sid": sid, "reason": reason})
    back = await first.next("session_state", lambda d: d["act"] == "transfer_decline")
    assert back["why"] == MASKED
    await booth.next("session_state", lambda d: d["act"] == "transfer_decline")
    assert all("why" not in d for d in booth.inbox["session_state"])
