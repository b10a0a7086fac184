"""How a session ends for the citizen (issue 18), over real sockets and HTTP on a real Redis: the
missing list stored with the completion, the delivery address masked everywhere but its private
record, the public status page with no personal data."""

from __future__ import annotations

import json
import logging
from typing import Any

import aiohttp
import pytest

from tests.console.conftest import Journey
from tests.signaling.conftest import SECRET, Client, token
from window_server.domain.auth import Role
from window_server.domain.outcomes import STATUS_CODE
from window_server.http.status import THROTTLE
from window_server.store.keys import key

RECIPIENT = "张三丰"
PHONE = "13812345678"
ADDRESS = "江苏省南通市崇川区人民中路188号5栋1203室"
ID_NUMBER = "11010519491231002X"


async def _held(start_server: Any, journey: Journey) -> tuple[Any, Client, Client, str]:
    srv = await start_server(secret=SECRET)
    booth = Client("/booth")
    await booth.connect(srv.url, token(Role.BOOTH, journey.booth, journey.intake, "/booth"))
    agent = Client("/agent")
    await agent.connect(srv.url, token(Role.SPECIALIST, f"spec-{journey.home}", journey.home, "/agent"))
    ticket = await booth.ok("request_service", {"matter": journey.matter, "consent": True})
    await agent.ok("presence", {"status": "available"})
    await agent.next("offer")
    await agent.ok("accept", {"sid": ticket["sid"]})
    return srv, booth, agent, ticket["sid"]


async def _get(url: str) -> tuple[int, str, dict[str, str]]:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return resp.status, await resp.text(), dict(resp.headers)


async def test_needs_supplement_stores_its_list_with_the_completion(start_server: Any, journey: Journey,
                                                                   redis: Any) -> None:
    srv, booth, agent, sid = await _held(start_server, journey)
    try:
        for missing in (None, []):
            payload = {"sid": sid, "outcome": "needs_supplement"} | ({} if missing is None else {"missing": missing})
            refused = await agent.call("complete", payload)
            assert (refused["error"]["code"], refused["error"]["field"]) == ("missing_required", "missing")
        upload = await agent.call("complete", {"sid": sid, "outcome": "needs_supplement",
                                              "missing": [{"kind": "application_form", "how": "upload"}]})
        assert (upload["error"]["code"], upload["error"]["field"]) == ("invalid_input", "missing")  # an original
        twice = await agent.call("complete", {"sid": sid, "outcome": "needs_supplement",
                                             "missing": ["id_card_back", {"kind": "id_card_back", "how": "post"}]})
        assert twice["error"]["code"] == "invalid_input"
        assert (await redis.hget(key("session", sid=sid), "state")) == "in_service"  # nothing changed

        done = await agent.ok("complete", {"sid": sid, "outcome": "needs_supplement", "missing": [
            {"kind": "application_form", "how": "post"}, "id_card_back"]})
        assert done["state"] == "completed"
        stored = json.loads(await redis.hget(key("session", sid=sid), "missing"))
        assert stored == [{"kind": "application_form", "how": "post"}, {"kind": "id_card_back", "how": "visit"}]
        detail = await agent.ok("session_detail", {"sid": sid})
        complete = [e for e in detail["events"] if e["act"] == "complete"]
        assert (complete[0]["missing"], complete[0]["missing_how"]) == ("application_form,id_card_back", "post,visit")
        assert any("需补正材料" in n["text"] and "请邮寄到南通市住房公积金管理中心" in n["text"] for n in detail["notes"])

        view = (await booth.ok("resume"))["session"]
        assert view["missing"] == stored and view["delivery"] is None
        assert STATUS_CODE.fullmatch(view["status_code"])
        assert await redis.get(key("status_code", code=view["status_code"])) == sid

        status, body, headers = await _get(f"{srv.url}/api/status/{view['status_code']}")
        assert status == 200, body
        page = json.loads(body)
        assert (page["stage"], page["outcome"]) == ("done", "needs_supplement")
        assert [(m["kind"], m["how"]) for m in page["missing"]] == [("application_form", "post"), ("id_card_back", "visit")]
        assert page["missing"][1]["how_words"]["zh"] == "请带原件回来现场补交"
        assert headers["Cache-Control"] == "no-store" and headers["Referrer-Policy"] == "no-referrer"
    finally:
        await booth.close()
        await agent.close()


async def test_the_delivery_address_is_masked_everywhere_but_its_private_record(
        start_server: Any, journey: Journey, redis: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    srv, booth, agent, sid = await _held(start_server, journey)
    other = Client("/agent")
    await other.connect(srv.url, token(Role.SPECIALIST, f"spec-{journey.partner}", journey.partner, "/agent"))
    try:
        refused = await agent.call("complete", {"sid": sid, "outcome": "postal_delivery"})
        assert refused["error"]["code"] == "address_required"
        address = {"sid": sid, "recipient": RECIPIENT, "phone": PHONE, "address": ADDRESS}
        stranger = await other.call("delivery_address", address)
        assert stranger["error"]["code"] == "not_your_session"
        bad = await agent.call("delivery_address", {**address, "phone": "call me"})
        assert (bad["error"]["code"], bad["error"]["field"]) == ("invalid_input", "phone")

        ack = await agent.ok("delivery_address", address)
        masked = {"recipient": "张**", "phone": "138****5678", "address": "江苏省南通市崇川区****"}
        assert ack == {"sid": sid, "delivery": masked}
        assert json.loads(await redis.hget(key("session", sid=sid), "delivery")) == masked
        private = json.loads(await redis.hget(key("material_private", sid=sid), "delivery"))
        assert private == {"recipient": RECIPIENT, "phone": PHONE, "address": ADDRESS}

        done = await agent.ok("complete", {"sid": sid, "outcome": "postal_delivery", "case_number": "NT-2026-7"})
        assert done["state"] == "completed"
        detail = await agent.ok("session_detail", {"sid": sid})
        [event] = [e for e in detail["events"] if e["act"] == "delivery_address"]
        assert (event["recipient"], event["phone"], event["address"]) == tuple(masked.values())
        view = (await booth.ok("resume"))["session"]
        assert view["delivery"] == {"address": masked["address"], "recipient": masked["recipient"]}

        # Nowhere but the private hash: not the session, its history, the chain-wide log, the logs.
        outside = json.dumps([await redis.hgetall(key("session", sid=sid)), detail,
                              await redis.xrange(key("events")), view], ensure_ascii=False)
        for secret in (RECIPIENT, PHONE, "人民中路", "1203"):
            assert secret not in outside
            assert secret not in caplog.text

        status, body, _ = await _get(f"{srv.url}/r/{view['status_code']}")
        assert status == 200
        assert "结果将邮寄给您" in body
        for secret in (RECIPIENT, PHONE, "人民中路", masked["address"], masked["phone"], "张*"):
            assert secret not in body
    finally:
        await booth.close()
        await agent.close()
        await other.close()


async def test_the_status_page_shows_no_personal_data_and_unknown_codes_get_one_answer(
        start_server: Any, journey: Journey, redis: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    srv, booth, agent, sid = await _held(start_server, journey)
    try:
        await agent.ok("note", {"sid": sid, "text": f"身份证 {ID_NUMBER} 电话 {PHONE}"})
        await agent.ok("identity", {"sid": sid, "method": "face_only", "result": "passed"})
        await agent.ok("delivery_address", {"sid": sid, "recipient": RECIPIENT, "phone": PHONE, "address": ADDRESS})
        await agent.ok("complete", {"sid": sid, "outcome": "intake", "case_number": "NT-2026-0042"})
        s = await redis.hgetall(key("session", sid=sid))
        code = s["status_code"]
        assert len(code) >= 22 and code != sid and sid not in code

        status, html, headers = await _get(f"{srv.url}/r/{code}")
        assert status == 200
        assert headers["Cache-Control"] == "no-store" and headers["Referrer-Policy"] == "no-referrer"
        status, raw, _ = await _get(f"{srv.url}/api/status/{code}")
        data = json.loads(raw)
        assert data["matter"]["name"]["zh"] == "住房公积金异地转移接续"
        assert data["matter"]["department"] == "南通市住房公积金管理中心" and data["matter"]["promised_days"] == 3
        assert data["state_words"]["zh"] == "材料已收件，等待审批"
        assert data["next_steps"][0]["zh"] == "等待审批，承诺 3 个工作日内办结。"
        for text in (html, raw):
            assert "住房公积金异地转移接续" in text or "\\u" in text
            for secret in (RECIPIENT, PHONE, ID_NUMBER, "110105", "人民中路", "崇川区", s["ticket"], sid,
                           s["agent"], s["booth"], "NT-2026-0042", journey.home):
                assert secret not in text, secret

        # Unknown and malformed codes: the same 404, JSON, for the page and the API.
        answers = set()
        for bad in ("A" * 22, "short", "x" * 70, code[:-1] + ("A" if code[-1] != "A" else "B")):
            for path in ("/r/", "/api/status/"):
                status, body, headers = await _get(f"{srv.url}{path}{bad}")
                assert status == 404 and headers["Content-Type"].startswith("application/json")
                answers.add(body)
        assert len(answers) == 1 and json.loads(answers.pop())["error"]["code"] == "unknown_status"
        # never logged above DEBUG (the test harness's aiohttp access log aside: the service runs without one)
        assert not [r for r in caplog.records if code in r.getMessage() and r.name != "aiohttp.access"]

        # Rate limited per client address (a fixed clock: no refill while the test runs).
        throttle = srv.app[THROTTLE]
        throttle.clock, throttle.burst = (lambda: 0.0), 3
        throttle._buckets.clear()
        codes = [(await _get(f"{srv.url}/api/status/{code}"))[0] for _ in range(5)]
        assert codes == [200, 200, 200, 429, 429]
    finally:
        await booth.close()
        await agent.close()


async def test_every_session_gets_its_own_code(start_server: Any, journey: Journey, redis: Any) -> None:
    srv = await start_server(secret=SECRET)
    booth = Client("/booth")
    await booth.connect(srv.url, token(Role.BOOTH, journey.booth, journey.intake, "/booth"))
    codes = set()
    try:
        for _ in range(3):
            ticket = await booth.ok("request_service", {"matter": journey.matter, "consent": True})
            codes.add(await redis.hget(key("session", sid=ticket["sid"]), "status_code"))
            await booth.ok("leave_queue", {"sid": ticket["sid"]})
        assert len(codes) == 3 and all(STATUS_CODE.fullmatch(c) for c in codes)
        status, body, _ = await _get(f"{srv.url}/api/status/{codes.pop()}")
        assert status == 200 and json.loads(body)["stage"] == "left"
    finally:
        await booth.close()
