"""The conversation over real sockets: text both ways (masked, kept, pushed), who may write, its
history after a reload, the service number on the booth's side, the citizen's hang-up, the chat in
the evidence package, and ``users add --staff-no``.

Issue 18 (helper C). Real server, real Redis, real socket.io clients; the evidence package is
sealed and verified as an operator would.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from tests.accounts.test_accounts import PW, _env, cli, make_store
from tests.booth.conftest import (  # noqa: F401  (fixtures)
    BOOTH,
    Booth,
    booth_account,
    serve_session,
)
from tests.evidence.conftest import env, make_app, make_env, seal_key_file  # noqa: F401  (fixtures)
from tests.evidence.test_package import sealed_package
from tests.http.test_auth_http import _get, _login
from tests.materials.conftest import Env
from tests.signaling.conftest import catalogue, clients, demo, server, token  # noqa: F401  (fixtures)
from window_server.appkeys import ACCOUNTS, QUEUE, STORE
from window_server.domain.auth import Role
from window_server.evidence.keys import read_public_key
from window_server.evidence.verify import verify_package
from window_server.store.keys import key

ID_NUMBER = "11010519491231002X"  # a well-formed (fictional) resident ID number
MOBILE = "13812345678"


async def test_text_both_ways_masked_kept_and_pushed_to_both_sides(
        booth_account: Booth, clients: Any, demo: dict[str, str], redis: Redis) -> None:  # noqa: F811
    kiosk, agent, sid = await serve_session(clients, booth_account.url, booth_account, demo)

    said = await agent.ok("chat", {"sid": sid, "text": f"请核对身份证 {ID_NUMBER}，手机 {MOBILE}"})
    assert said["id"] == 1 and said["from"] == "agent" and said["sid"] == sid
    assert ID_NUMBER not in said["text"] and MOBILE not in said["text"] and "138****5678" in said["text"]
    assert await kiosk.next("chat", lambda d: d["id"] == 1) == said  # the booth reads it at once
    assert await agent.next("chat", lambda d: d["id"] == 1) == said  # and every tab of the specialist

    chip = await kiosk.ok("chat", {"sid": sid, "quick": "cant_hear", "text": "I can't hear you"})
    assert (chip["from"], chip["quick"], chip["text"]) == ("booth", "cant_hear", "I can't hear you")
    assert await agent.next("chat", lambda d: d["id"] == 2) == chip
    bare = await kiosk.ok("chat", {"sid": sid, "quick": "ok"})  # a chip without words: its Chinese ones
    assert bare["text"] == "好的"
    typed = await kiosk.ok("chat", {"sid": sid, "text": f"我的手机是{MOBILE}"})
    assert "quick" not in typed and MOBILE not in typed["text"]

    assert (await kiosk.call("chat", {"sid": sid}))["error"]["code"] == "chat_empty"
    assert (await kiosk.call("chat", {"sid": sid, "quick": "whatever"}))["error"]["code"] == "invalid_input"
    assert (await agent.call("chat", {"sid": sid, "text": "x" * 501}))["error"]["code"] == "invalid_input"

    stored = [json.loads(m) for m in await redis.lrange(key("chat", sid=sid), 0, -1)]
    assert [m["id"] for m in stored] == [1, 2, 3, 4]
    assert not any(ID_NUMBER in m["text"] or MOBILE in m["text"] for m in stored)
    assert [m["by"] for m in stored] == ["spec-1", f"booth:{BOOTH}", f"booth:{BOOTH}", f"booth:{BOOTH}"]


async def test_only_the_sessions_booth_and_its_specialist_write_or_read(
        booth_account: Booth, clients: Any, demo: dict[str, str], server: Any) -> None:  # noqa: F811
    kiosk, agent, sid = await serve_session(clients, booth_account.url, booth_account, demo)
    await server.app[ACCOUNTS].add_booth("other-booth-01", demo["intake_centre"])
    other_booth = clients("/booth")
    await other_booth.connect(server.url, token(Role.BOOTH, "other-booth-01", demo["intake_centre"], "/booth"))
    other_agent = clients("/agent")
    await other_agent.connect(server.url, token(Role.SPECIALIST, "spec-2", demo["home_centre"], "/agent"))
    for who, payload in ((other_booth, {"sid": sid, "quick": "ok"}), (other_agent, {"sid": sid, "text": "hi"})):
        assert (await who.call("chat", payload))["error"]["code"] == "not_member"
        assert (await who.call("chat_history", {"sid": sid}))["error"]["code"] == "not_member"
    assert (await agent.call("chat", {"sid": "RW20990101000001", "text": "hi"}))["error"]["code"] == "unknown_session"
    # once the session has ended, nobody writes in it any more; reading stays
    await agent.ok("chat", {"sid": sid, "text": "稍等"})
    await agent.ok("complete", {"sid": sid, "outcome": "consultation"})
    for who, payload in ((kiosk, {"sid": sid, "quick": "ok"}), (agent, {"sid": sid, "text": "再见"})):
        assert (await who.call("chat", payload))["error"]["code"] == "illegal_transition"
    assert [m["text"] for m in (await agent.ok("chat_history", {"sid": sid}))["messages"]] == ["稍等"]


async def test_the_conversation_comes_back_after_a_reload(
        booth_account: Booth, clients: Any, demo: dict[str, str]) -> None:  # noqa: F811
    kiosk, agent, sid = await serve_session(clients, booth_account.url, booth_account, demo)
    await agent.ok("chat", {"sid": sid, "text": "请把材料放到拍摄仪下面"})
    await kiosk.ok("chat", {"sid": sid, "quick": "no_material", "text": "我没有这个材料"})
    await kiosk.close()  # the kiosk page reloads: a new socket of the same booth
    again = clients("/booth")
    await again.connect(booth_account.url, token(Role.BOOTH, booth_account.id, booth_account.centre, "/booth"))
    resumed = await again.next("session_state", lambda d: d["act"] == "resume")
    assert resumed["sid"] == sid
    history = await again.ok("chat_history", {"sid": sid})
    assert [(m["id"], m["from"], m["text"], m.get("quick")) for m in history["messages"]] == [
        (1, "agent", "请把材料放到拍摄仪下面", None), (2, "booth", "我没有这个材料", "no_material")]
    assert (await agent.ok("chat_history", {"sid": sid}))["messages"] == history["messages"]


async def test_the_booth_is_told_the_service_number_never_the_name(
        booth_account: Booth, clients: Any, demo: dict[str, str], redis: Redis) -> None:  # noqa: F811
    token(Role.SPECIALIST, "spec-1", demo["home_centre"], "/agent")  # the account exists
    await redis.hset(key("user", username="spec-1"), mapping={"staff_no": "SH0101-07", "name": "李伟"})
    kiosk = clients("/booth")
    await kiosk.connect(booth_account.url, token(Role.BOOTH, booth_account.id, booth_account.centre, "/booth"))
    agent = clients("/agent")
    await agent.connect(booth_account.url, token(Role.SPECIALIST, "spec-1", demo["home_centre"], "/agent"))
    await kiosk.ok("request_service", {"matter": demo["matter"], "consent": True})
    await agent.ok("presence", {"status": "available"})
    await agent.ok("accept", {"sid": (await agent.next("offer"))["sid"]})
    pushed = await kiosk.next("session_state", lambda d: d["state"] == "in_service")
    assert (pushed["agent_no"], pushed["agent_centre"]) == ("SH0101-07", demo["home_centre"])
    view = (await kiosk.ok("resume"))["session"]
    assert (view["agent_no"], view["agent_centre"]) == ("SH0101-07", demo["home_centre"])
    assert "李伟" not in json.dumps([view, *kiosk.inbox["session_state"]], ensure_ascii=False)


async def test_the_citizen_hangs_up_and_rates(
        booth_account: Booth, clients: Any, demo: dict[str, str], server: Any) -> None:  # noqa: F811
    kiosk, agent, sid = await serve_session(clients, booth_account.url, booth_account, demo)
    assert (await kiosk.call("hang_up", {"sid": "RW20990101000001"}))["error"]["code"] == "unknown_session"
    assert await kiosk.ok("hang_up", {"sid": sid}) == {"sid": sid, "state": "completed"}
    told = await agent.next("session_state", lambda d: d["act"] == "hang_up")
    assert told["state"] == "completed" and "outcome" not in told
    assert (await agent.next("presence", lambda d: d["status"] == "wrap_up"))["status"] == "wrap_up"
    seen = await kiosk.next("session_state", lambda d: d["act"] == "hang_up")
    assert seen["state"] == "completed"
    assert (await kiosk.call("hang_up", {"sid": sid}))["error"]["code"] == "illegal_transition"
    assert (await kiosk.ok("rate", {"sid": sid, "level": 4}))["state"] == "rated"
    s = await server.app[STORE].session(sid)
    assert (s["state"], s["outcome"], s["rating"]) == ("rated", "", "4")


async def test_a_waiting_ticket_cannot_be_hung_up(
        booth_account: Booth, clients: Any, demo: dict[str, str]) -> None:  # noqa: F811
    kiosk = clients("/booth")
    await kiosk.connect(booth_account.url, token(Role.BOOTH, booth_account.id, booth_account.centre, "/booth"))
    ticket = await kiosk.ok("request_service", {"matter": demo["matter"], "consent": True})
    err = (await kiosk.call("hang_up", {"sid": ticket["sid"]}))["error"]
    assert err["code"] == "illegal_transition"


async def test_the_chat_is_in_the_sealed_evidence_package(env: Env, seal_key_file: Path,  # noqa: F811
                                                         tmp_path: Path) -> None:
    queue, store = env.app[QUEUE], env.app[STORE]
    await queue.chat(env.sid, "agent", env.agent, "请出示身份证")
    await queue.chat(env.sid, "booth", env.booth, "", "say_again")
    await store.complete(env.agent, env.sid, "consultation")
    await store.rate(env.sid, env.booth, 5)
    path = await sealed_package_of(env, tmp_path)
    report = verify_package(path, read_public_key(seal_key_file))
    assert report.ok, report.problems
    with zipfile.ZipFile(path) as zf:
        notes = json.loads(zf.read("notes.json"))
        events = [json.loads(line) for line in zf.read("events.jsonl").splitlines()]
    assert [(m["from"], m["text"], m.get("quick")) for m in notes["chat"]] == [
        ("agent", "请出示身份证", None), ("booth", "请再说一遍", "say_again")]
    assert [e["chat_id"] for e in events if e["act"] == "chat"] == ["1", "2"]


async def sealed_package_of(held: Env, tmp_path: Path) -> Path:
    """Seal the ended session and download its package as its specialist (tests/evidence)."""

    class _Ended:  # what sealed_package reads of an Ended
        def __init__(self, e: Env) -> None:
            self.env, self.sid = e, e.sid

    return await sealed_package(_Ended(held), tmp_path)  # type: ignore[arg-type]


async def test_users_add_staff_no_and_api_me(redis: Redis, redis_url: str, start_server: Any) -> None:
    env_ = _env(REDIS_URL=redis_url)
    code, out, err = await cli("users", "add", "li.wei", "--role", "specialist", "--centre", "sh-huangpu",
                               "--staff-no", "SH0101-07", "--password-stdin", env=env_, stdin=PW + "\n")
    assert (code, err) == (0, ""), err
    assert "SH0101-07" in out
    assert (await make_store(redis).get_user("li.wei")).staff_no == "SH0101-07"
    code, _, err = await cli("users", "add", "wang.fang", "--role", "specialist", "--centre", "sh-huangpu",
                             "--staff-no", "工号 7", "--password-stdin", env=env_, stdin=PW + "\n")
    assert code == 2 and "service number" in err, err
    srv = await start_server()
    cookie = await _login(srv, "li.wei", PW)
    status, body = await _get(srv, "/api/me", cookie)
    assert status == 200 and body["user"]["staff_no"] == "SH0101-07"


async def test_demo_accounts_get_numbers_from_their_centre(start_server: Any, redis: Redis) -> None:
    srv = await start_server(demo=True)
    store = srv.app[ACCOUNTS]
    assert (await store.get_user("spec-sh-huangpu")).staff_no == "SH0101-01"
    assert (await store.get_user("spec-js-nantong")).staff_no == "JS0600-01"
    assert (await store.get_user("chain-manager")).staff_no == ""
    # an account seeded before numbers existed gets its number at the next start; an operator's stays
    await redis.hdel(key("user", username="spec-js-nantong"), "staff_no")
    await redis.hset(key("user", username="spec-sh-huangpu"), "staff_no", "HP-7")
    await store.seed_demo()
    assert (await store.get_user("spec-js-nantong")).staff_no == "JS0600-01"
    assert (await store.get_user("spec-sh-huangpu")).staff_no == "HP-7"


async def test_after_a_transfer_the_booth_is_told_the_new_number_and_the_chat_goes_on(
        booth_account: Booth, clients: Any, demo: dict[str, str], redis: Redis) -> None:  # noqa: F811
    kiosk, first, sid = await serve_session(clients, booth_account.url, booth_account, demo)
    await first.ok("chat", {"sid": sid, "text": "我请同事来办"})
    second = clients("/agent")
    await second.connect(booth_account.url, token(Role.SPECIALIST, "spec-2", demo["home_centre"], "/agent"))
    await redis.hset(key("user", username="spec-2"), "staff_no", "SH0000-02")
    await second.ok("presence", {"status": "available"})
    await first.ok("transfer", {"sid": sid, "to_agent": "spec-2", "reason": "专项业务"})
    await second.ok("accept", {"sid": (await second.next("offer", lambda d: d["transfer"]))["sid"]})
    moved = await kiosk.next("session_state", lambda d: d["act"] == "transfer_accept")
    assert (moved["agent_no"], moved["agent_centre"]) == ("SH0000-02", demo["home_centre"])
    # the new specialist reads what was said before and is the one who writes now
    assert [m["text"] for m in (await second.ok("chat_history", {"sid": sid}))["messages"]] == ["我请同事来办"]
    await second.ok("chat", {"sid": sid, "text": "您好，我接着为您办理"})
    assert (await kiosk.next("chat", lambda d: d["id"] == 2))["text"] == "您好，我接着为您办理"
    assert (await first.call("chat", {"sid": sid, "text": "再见"}))["error"]["code"] == "not_member"
