"""Guests at the socket.io level (issue 19): supervisors join, change mode and leave; the relay
between a guest and the booth, the specialist and the device agent; reviewers invited, accepting,
joining in consult, marking a material; invitations that expire; guests ended with their session;
every act in the session's history and in the sealed evidence's events.jsonl.

Real parts: a window_server app (with a seal key) on a real redis-server, real socket.io clients
with connect tokens, real HTTP for the materials.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

from tests.evidence.conftest import env, make_app, make_env, seal_key_file  # noqa: F401  (fixtures)
from tests.materials.conftest import Env, Stills, stills  # noqa: F401  (fixtures)
from tests.signaling.conftest import Client, catalogue, clients, demo, token  # noqa: F401  (fixtures)
from window_server.appkeys import ACCOUNTS, STORE
from window_server.domain.auth import Role
from window_server.http.evidence import EVIDENCE

OFFER = {"type": "offer", "sdp": "v=0 (not parsed by the server)"}
ANSWER = {"type": "answer", "sdp": "v=0"}


async def reviewer_account(env: Env, username: str, region: str, department: str = "某某局") -> str:  # noqa: F811
    """A reviewer of ``region`` with a live web login; returns the cookie value."""
    accounts = env.app[ACCOUNTS]
    user = accounts.validate_user(username, Role.REVIEWER, "", name="审批员", region=region, department=department)
    await accounts._insert_user(user, "$argon2id$not-a-real-hash")
    return await accounts.create_web_session(user)


async def parties(env: Env, clients: Callable[[str], Client]) -> tuple[Client, Client, Client]:  # noqa: F811
    """The session's specialist (/agent), booth (/booth) and device agent (/device), connected."""
    agent, booth, device = clients("/agent"), clients("/booth"), clients("/device")
    await agent.connect(env.url, token(Role.SPECIALIST, env.agent, env.demo["home_centre"], "/agent"))
    await booth.connect(env.url, token(Role.BOOTH, env.booth, env.demo["intake_centre"], "/booth"))
    await device.connect(env.url, token(Role.DEVICE, env.booth, env.demo["intake_centre"], "/device"))
    return agent, booth, device


async def guest(env: Env, clients: Callable[[str], Client], role: Role, username: str,  # noqa: F811
                centre: str) -> Client:
    c = clients("/guest")
    await c.connect(env.url, token(role, username, centre, "/guest"))
    return c


async def acts(env: Env) -> list[str]:  # noqa: F811
    return [e["act"] for e in await env.app[STORE].session_events(env.sid)]


def code(reply: dict[str, Any]) -> str:
    assert "error" in reply, reply
    return str(reply["error"]["code"])


async def test_a_supervisor_monitors_whispers_barges_and_leaves(env: Env, clients: Callable[[str], Client]) -> None:  # noqa: F811
    agent, booth, device = await parties(env, clients)
    lead = await guest(env, clients, Role.TEAM_LEAD, "lead-g1", env.demo["home_centre"])

    joined = await lead.ok("join", {"sid": env.sid, "mode": "monitor"})
    gid = joined["gid"]
    assert gid.startswith("g") and len(gid) == 9 and joined["mode"] == "monitor"
    assert joined["session"]["agent"] == env.agent and joined["session"]["agent_centre"] == env.demo["home_centre"]
    assert joined["session"]["matter"] == env.demo["matter"] and joined["device"] is False  # not registered
    assert [(g["gid"], g["role"], g["mode"]) for g in joined["guests"]] == [(gid, "team_lead", "monitor")]

    told = await agent.next("guests", lambda d: d["guests"])  # the specialist is told, monitor too, by name
    assert told["guests"][0]["name"] == "lead-g1" and told["guests"][0]["mode"] == "monitor"
    plain = await booth.next("guests", lambda d: d["guests"])  # the booth: no name, no centre
    assert plain["guests"] == [{"gid": gid, "role": "team_lead", "mode": "monitor", "department": ""}]
    assert (await device.next("guests", lambda d: d["guests"]))["guests"] == plain["guests"]
    # after a reload, each side asks for them
    assert (await agent.ok("guests", {"sid": env.sid}))["guests"] == told["guests"]
    assert (await booth.ok("guests", {"sid": env.sid}))["guests"] == plain["guests"]
    assert (await device.ok("guests", {"sid": env.sid}))["guests"] == plain["guests"]
    stranger = clients("/agent")
    await stranger.connect(env.url, token(Role.SPECIALIST, "spec-g-other", env.demo["home_centre"], "/agent"))
    assert code(await stranger.call("guests", {"sid": env.sid})) == "not_member"

    for mode in ("whisper", "barge"):
        ack = await lead.ok("mode", {"sid": env.sid, "mode": mode})
        assert ack["mode"] == mode and ack["guests"][0]["mode"] == mode
        assert (await booth.next("guests", lambda d, m=mode: d["guests"] and d["guests"][0]["mode"] == m))
    assert code(await lead.call("mode", {"sid": env.sid, "mode": "consult"})) == "bad_mode"

    assert await lead.ok("leave", {"sid": env.sid}) == {"sid": env.sid}
    assert (await agent.next("guests", lambda d: d["guests"] == []))["sid"] == env.sid
    history = await acts(env)
    assert [a for a in history if a.startswith("guest_")] == ["guest_join", "guest_mode", "guest_mode", "guest_leave"]
    events = {e["act"]: e for e in await env.app[STORE].session_events(env.sid)}
    assert events["guest_join"]["by"] == "lead-g1" and events["guest_join"]["gid"] == gid
    assert events["guest_join"]["mode"] == "monitor"


async def test_who_may_join(env: Env, clients: Callable[[str], Client]) -> None:  # noqa: F811
    await parties(env, clients)
    other = await guest(env, clients, Role.TEAM_LEAD, "lead-g2", env.demo["intake_centre"])
    assert code(await other.call("join", {"sid": env.sid, "mode": "monitor"})) == "not_allowed"
    mgr = await guest(env, clients, Role.MANAGER, "mgr-g2", env.demo["intake_centre"])
    assert code(await mgr.call("join", {"sid": env.sid, "mode": "barge"})) == "not_allowed"
    chain = await guest(env, clients, Role.CHAIN_MANAGER, "chain-g2", "")
    assert code(await chain.call("join", {"sid": env.sid, "mode": "consult"})) == "bad_mode"
    assert code(await chain.call("join", {"sid": "RW20990101000001", "mode": "monitor"})) == "unknown_session"
    assert (await chain.ok("join", {"sid": env.sid, "mode": "monitor"}))["mode"] == "monitor"
    lead = await guest(env, clients, Role.TEAM_LEAD, "lead-g3", env.demo["home_centre"])
    await lead.ok("join", {"sid": env.sid, "mode": "whisper"})
    mgr2 = await guest(env, clients, Role.MANAGER, "mgr-g3", env.demo["home_centre"])
    assert code(await mgr2.call("join", {"sid": env.sid, "mode": "monitor"})) == "guests_full"
    again = await lead.ok("join", {"sid": env.sid, "mode": "barge"})  # a reload: the place is replaced
    assert len(again["guests"]) == 2 and {g["mode"] for g in again["guests"]} == {"monitor", "barge"}


async def test_the_relay_between_a_guest_and_the_session(env: Env, clients: Callable[[str], Client]) -> None:  # noqa: F811
    agent, booth, device = await parties(env, clients)
    lead = await guest(env, clients, Role.TEAM_LEAD, "lead-g4", env.demo["home_centre"])
    outsider = await guest(env, clients, Role.TEAM_LEAD, "lead-g5", env.demo["home_centre"])
    gid = (await lead.ok("join", {"sid": env.sid, "mode": "monitor"}))["gid"]

    for to, peer in (("booth", booth), ("agent", agent), ("device", device)):
        await lead.ok("signal", {"sid": env.sid, "to": to, "kind": "offer", "data": OFFER, "pc": "g"})
        got = await peer.next("signal", lambda d: d.get("from") == "guest")
        assert got == {"sid": env.sid, "from": "guest", "guest": gid, "kind": "offer", "data": OFFER, "pc": "g"}
        await peer.ok("signal", {"sid": env.sid, "to": "guest", "guest": gid, "kind": "answer", "data": ANSWER,
                                 "pc": "g"})
        back = await lead.next("signal", lambda d, t=to: d["from"] == t)
        assert back["kind"] == "answer" and back["data"] == ANSWER and back["pc"] == "g"

    # not joined: refused both ways
    assert code(await outsider.call("signal", {"sid": env.sid, "to": "booth", "kind": "offer", "data": OFFER})) \
        == "not_member"
    assert code(await booth.call("signal", {"sid": env.sid, "to": "guest", "guest": "g00000000", "kind": "answer",
                                           "data": ANSWER})) == "not_member"
    other_booth = clients("/booth")
    await other_booth.connect(env.url, token(Role.BOOTH, "bth-g-other", env.demo["intake_centre"], "/booth"))
    assert code(await other_booth.call("signal", {"sid": env.sid, "to": "guest", "guest": gid, "kind": "ice",
                                                 "data": {}})) == "not_member"
    # after leaving, the guest is no longer a peer
    await lead.ok("leave", {"sid": env.sid})
    assert code(await agent.call("signal", {"sid": env.sid, "to": "guest", "guest": gid, "kind": "ice",
                                           "data": {}})) == "not_member"
    assert code(await lead.call("signal", {"sid": env.sid, "to": "agent", "kind": "ice", "data": {}})) \
        == "not_member"


async def test_a_guest_whose_socket_closes_leaves(env: Env, clients: Callable[[str], Client]) -> None:  # noqa: F811
    agent, _booth, _device = await parties(env, clients)
    lead = await guest(env, clients, Role.TEAM_LEAD, "lead-g6", env.demo["home_centre"])
    await lead.ok("join", {"sid": env.sid, "mode": "monitor"})
    await agent.next("guests", lambda d: d["guests"])
    await lead.close()
    await agent.next("guests", lambda d: d["guests"] == [])
    leave = [e for e in await env.app[STORE].session_events(env.sid) if e["act"] == "guest_leave"]
    assert leave[0]["cause"] == "disconnected"


async def test_a_reviewer_is_invited_joins_marks_and_leaves(env: Env, clients: Callable[[str], Client],  # noqa: F811
                                                           stills: Stills) -> None:  # noqa: F811
    agent, booth, _device = await parties(env, clients)
    cookie = await reviewer_account(env, "rev-g1", env.demo["region"], "某区市场监督管理局")
    await reviewer_account(env, "rev-elsewhere", "340000" if env.demo["region"] != "340000" else "310000")
    rev = await guest(env, clients, Role.REVIEWER, "rev-g1", "")

    listed = (await agent.ok("reviewers", {"sid": env.sid}))["reviewers"]
    assert listed == [{"username": "rev-g1", "name": "审批员", "region": env.demo["region"],
                       "department": "某区市场监督管理局", "online": True}]
    assert code(await agent.call("invite", {"sid": env.sid, "reviewer": "rev-elsewhere"})) == "unknown_reviewer"
    assert code(await rev.call("join", {"sid": env.sid, "mode": "consult"})) == "not_allowed"  # not invited

    sent = await agent.ok("invite", {"sid": env.sid, "reviewer": "rev-g1"})
    assert code(await agent.call("invite", {"sid": env.sid, "reviewer": "rev-g1"})) == "invite_pending"
    invited = await rev.next("invited")
    assert invited["id"] == sent["id"] and invited["sid"] == env.sid and invited["deadline"] == sent["deadline"]
    assert invited["by"] == env.agent and invited["matter"] == env.demo["matter"] and invited["state"] == "pending"
    assert (await agent.next("invitation", lambda d: d["state"] == "pending"))["id"] == sent["id"]
    assert [i["id"] for i in (await rev.ok("invitations"))["invitations"]] == [sent["id"]]
    assert code(await rev.call("join", {"sid": env.sid, "mode": "consult"})) == "not_allowed"  # not accepted yet

    assert (await rev.ok("invitation_reply", {"id": sent["id"], "accept": True}))["state"] == "accepted"
    assert (await agent.next("invitation", lambda d: d["state"] == "accepted"))["reviewer"] == "rev-g1"
    assert (await rev.next("invitation_over"))["state"] == "accepted"
    assert code(await rev.call("invitation_reply", {"id": sent["id"], "accept": False})) == "invitation_closed"
    assert (await rev.ok("invitations"))["invitations"] == []

    # the materials: not before joining
    status, body = await env.upload(stills.good)
    assert status == 201, body
    mid = body["material"]["id"]
    status, _, _ = await env.get("/materials", env.cookie(cookie))
    assert status == 403
    assert code(await rev.call("join", {"sid": env.sid, "mode": "monitor"})) == "bad_mode"
    joined = await rev.ok("join", {"sid": env.sid, "mode": "consult"})
    assert joined["guests"][0]["department"] == "某区市场监督管理局" and joined["guests"][0]["role"] == "reviewer"
    plain = await booth.next("guests", lambda d: d["guests"])
    assert plain["guests"] == [{"gid": joined["gid"], "role": "reviewer", "mode": "consult",
                                "department": "某区市场监督管理局"}]
    status, listing, _ = await env.get("/materials", env.cookie(cookie))
    assert status == 200 and [m["id"] for m in listing["materials"]] == [mid]
    status, image, _ = await env.get(f"/materials/{mid}/thumb", env.cookie(cookie))
    assert status == 200 and image[:2] == b"\xff\xd8"

    marked = await rev.ok("mark", {"sid": env.sid, "material_id": mid, "view": "not_ok",
                                   "note": "缺少盖章，电话 13812345678"})
    mark = marked["mark"]
    assert mark["view"] == "not_ok" and mark["by"] == "rev-g1" and mark["department"] == "某区市场监督管理局"
    assert "13812345678" not in mark["note"]  # masked at the door
    pushed = await agent.next("material_mark")
    assert pushed == {"sid": env.sid, "material_id": mid, "mark": mark}
    status, listing, _ = await env.get("/materials", env.cookie(env.agent_cookie))
    assert listing["materials"][0]["dept"] == mark
    assert code(await rev.call("mark", {"sid": env.sid, "material_id": "m0000000000000000", "view": "ok"})) \
        == "unknown_material"

    await rev.ok("leave", {"sid": env.sid})
    status, _, _ = await env.get("/materials", env.cookie(cookie))
    assert status == 403  # read access ends with the place
    assert code(await rev.call("mark", {"sid": env.sid, "material_id": mid, "view": "ok"})) == "not_guest"
    history = await acts(env)
    assert [a for a in history if a in ("invite", "invite_accept", "guest_join", "dept_mark", "guest_leave")] == [
        "invite", "invite_accept", "guest_join", "dept_mark", "guest_leave"]
    mark_event = next(e for e in await env.app[STORE].session_events(env.sid) if e["act"] == "dept_mark")
    assert "13812345678" not in json.dumps(mark_event, ensure_ascii=False) and "缺少盖章" not in json.dumps(
        mark_event, ensure_ascii=False)  # the words stay on the material

    # sealed: the department's view is on the material in materials.json
    await agent.ok("complete", {"sid": env.sid, "outcome": "consultation"})
    await env.app[STORE].rate(env.sid, env.booth, 5)
    members = await sealed(env)
    assert [m["dept"] for m in members["materials.json"]["materials"]] == [mark]
    assert "dept_mark" in [e["act"] for e in members["events.jsonl"]]


async def test_declined_and_cancelled_invitations(env: Env, clients: Callable[[str], Client]) -> None:  # noqa: F811
    agent, _booth, _device = await parties(env, clients)
    await reviewer_account(env, "rev-g2", env.demo["region"])
    rev = await guest(env, clients, Role.REVIEWER, "rev-g2", "")
    first = await agent.ok("invite", {"sid": env.sid, "reviewer": "rev-g2"})
    assert (await rev.ok("invitation_reply", {"id": first["id"], "accept": False}))["state"] == "declined"
    assert (await agent.next("invitation", lambda d: d["state"] == "declined"))["id"] == first["id"]
    second = await agent.ok("invite", {"sid": env.sid, "reviewer": "rev-g2"})
    assert await agent.ok("invite_cancel", {"id": second["id"]}) == {"id": second["id"], "state": "cancelled"}
    assert (await rev.next("invitation_over", lambda d: d["id"] == second["id"]))["state"] == "cancelled"
    assert code(await rev.call("invitation_reply", {"id": second["id"], "accept": True})) == "invitation_closed"
    assert code(await rev.call("join", {"sid": env.sid, "mode": "consult"})) == "not_allowed"
    stranger = await guest(env, clients, Role.REVIEWER, "rev-g3", "")
    assert code(await stranger.call("invitation_reply", {"id": first["id"], "accept": True})) == "unknown_invitation"
    history = await acts(env)
    assert [a for a in history if a.startswith("invite")] == ["invite", "invite_decline", "invite", "invite_cancel"]


async def test_an_unanswered_invitation_expires(make_env: Any, clients: Callable[[str], Client]) -> None:  # noqa: F811
    env = await make_env(invite_seconds=0.3)  # noqa: F811
    agent, _booth, _device = await parties(env, clients)
    await reviewer_account(env, "rev-g4", env.demo["region"])
    rev = await guest(env, clients, Role.REVIEWER, "rev-g4", "")
    sent = await agent.ok("invite", {"sid": env.sid, "reviewer": "rev-g4"})
    assert (await agent.next("invitation", lambda d: d["state"] == "expired"))["id"] == sent["id"]
    assert (await rev.next("invitation_over", lambda d: d["state"] == "expired"))["id"] == sent["id"]
    assert code(await rev.call("invitation_reply", {"id": sent["id"], "accept": True})) == "invitation_closed"
    assert "invite_expire" in await acts(env)


async def test_guests_end_with_the_session_and_are_in_the_evidence(env: Env, clients: Callable[[str], Client]  # noqa: F811
                                                                   ) -> None:
    agent, booth, _device = await parties(env, clients)
    lead = await guest(env, clients, Role.TEAM_LEAD, "lead-g7", env.demo["home_centre"])
    await lead.ok("join", {"sid": env.sid, "mode": "barge"})
    await agent.ok("complete", {"sid": env.sid, "outcome": "consultation"})
    ended = await lead.next("guest_ended")
    assert ended == {"sid": env.sid, "why": "session_ended"}
    await booth.next("guests", lambda d: d["guests"] == [])
    assert code(await lead.call("join", {"sid": env.sid, "mode": "monitor"})) == "not_live"
    leave = [e for e in await env.app[STORE].session_events(env.sid) if e["act"] == "guest_leave"]
    assert [e["cause"] for e in leave] == ["session_ended"]

    await env.app[STORE].rate(env.sid, env.booth, 5)
    lines = (await sealed(env))["events.jsonl"]
    assert [e["act"] for e in lines if e["act"].startswith("guest_")] == ["guest_join", "guest_leave"]


async def test_the_ticker_ends_guests_a_push_missed(env: Env, clients: Callable[[str], Client]) -> None:  # noqa: F811
    await parties(env, clients)
    lead = await guest(env, clients, Role.TEAM_LEAD, "lead-g9", env.demo["home_centre"])
    await lead.ok("join", {"sid": env.sid, "mode": "monitor"})
    await env.app[STORE].complete(env.agent, env.sid, outcome="consultation")  # straight to the store: no push
    assert await lead.next("guest_ended") == {"sid": env.sid, "why": "session_ended"}


async def sealed(env: Env) -> dict[str, Any]:  # noqa: F811
    """Seal the ended session and read its package's events.jsonl and materials.json."""
    await env.app[EVIDENCE].sealer.seal(env.sid)
    async with env.srv.http.get(f"{env.url}/api/sessions/{env.sid}/evidence",
                                headers=env.cookie(env.agent_cookie)) as resp:
        assert resp.status == 200, await resp.text()
        package = await resp.read()
    out: dict[str, Any] = {}
    with zipfile.ZipFile(io.BytesIO(package)) as z:
        for n in z.namelist():
            if n.endswith("events.jsonl"):
                out["events.jsonl"] = [json.loads(x) for x in z.read(n).decode().splitlines() if x.strip()]
            elif n.endswith("materials.json"):
                out["materials.json"] = json.loads(z.read(n))
    return out


async def test_the_guest_page_and_where_a_reviewer_lands(env: Env) -> None:  # noqa: F811
    cookie = await reviewer_account(env, "rev-g5", env.demo["region"], "某区市场监督管理局")
    http = env.srv.http
    async with http.get(f"{env.url}/console", headers=env.cookie(cookie), allow_redirects=False) as resp:
        assert resp.status == 302 and resp.headers["Location"] == "/guest"
    async with http.get(f"{env.url}/guest") as resp:
        assert resp.status == 200 and "text/html" in resp.headers["Content-Type"]
        assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    async with http.get(f"{env.url}/api/guest/context", headers=env.cookie(cookie)) as resp:
        body = await resp.json()
        assert resp.status == 200 and body["modes"] == ["consult"] and body["max_guests"] == 2
        assert body["user"]["department"] == "某区市场监督管理局" and body["user"]["region"] == env.demo["region"]
    async with http.get(f"{env.url}/api/guest/context", headers=env.cookie(env.agent_cookie)) as resp:
        assert resp.status == 403
    lead = await env.staff("lead-g8", Role.TEAM_LEAD, env.demo["home_centre"])
    async with http.get(f"{env.url}/api/guest/context", headers=env.cookie(lead)) as resp:
        assert (await resp.json())["modes"] == ["monitor", "whisper", "barge"]


async def test_guests_end_when_another_specialist_takes_the_session_over(env: Env, clients: Callable[[str], Client]  # noqa: F811
                                                                         ) -> None:
    agent, _booth, _device = await parties(env, clients)
    other = clients("/agent")
    await other.connect(env.url, token(Role.SPECIALIST, "spec-g-next", env.demo["home_centre"], "/agent"))
    await other.ok("presence", {"status": "available"})
    lead = await guest(env, clients, Role.TEAM_LEAD, "lead-g10", env.demo["home_centre"])
    await lead.ok("join", {"sid": env.sid, "mode": "monitor"})
    await agent.ok("transfer", {"sid": env.sid, "reason": "需要专人", "mode": "warm", "to_agent": "spec-g-next"})
    await other.next("offer", lambda d: d["sid"] == env.sid)
    assert (await agent.ok("guests", {"sid": env.sid}))["guests"] != []  # transferring: still live, still there
    await other.ok("accept", {"sid": env.sid})
    assert await lead.next("guest_ended") == {"sid": env.sid, "why": "transferred"}
    assert (await other.ok("guests", {"sid": env.sid}))["guests"] == []
    # the new specialist's centre is the lead's too: they may join again, now under the new specialist
    assert (await lead.ok("join", {"sid": env.sid, "mode": "monitor"}))["session"]["agent"] == "spec-g-next"
