"""The second phase of an upload, end to end: the still's class, the ID card read, the masked number.

Real server, real Redis, real document workers reading synthetic ID cards with OCR; socket.io
clients for the specialist and the booth. Recognition takes seconds of CPU on a busy machine, so
the clients wait for its events generously (never for a fixed time).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from tests.signaling.conftest import SECRET, Client, token
from window_server.appkeys import ACCESS, MATERIALS, QUEUE, STORE
from window_server.domain.auth import Principal, Role
from window_server.domain.materials import ADVICE, CAPTURED
from window_server.domain.privacy import mask_id_number
from window_server.materials.store import MaterialStore
from window_server.store.blobs import FileBlobStore
from window_server.store.keys import key

from .conftest import Cards, Env, Stills

pytestmark = pytest.mark.timeout(600)

WITHIN = 240.0  # seconds to wait for a recognition on a machine shared with other work
SETTINGS = {"document_timeout_seconds": 200}


@pytest.fixture
async def renv(make_env: Callable[..., Awaitable[Env]]) -> Env:
    return await make_env(**SETTINGS)


async def _connect(clients: Any, env: Env, namespace: str, role: Role, subject: str, centre: str) -> Client:
    c: Client = clients(namespace)
    await c.connect(env.url, token(role, subject, centre, namespace))
    return c


async def _parties(clients: Any, env: Env) -> tuple[Client, Client]:
    agent = await _connect(clients, env, "/agent", Role.SPECIALIST, env.agent, env.demo["home_centre"])
    booth = await _connect(clients, env, "/booth", Role.BOOTH, env.booth, env.demo["intake_centre"])
    return agent, booth


async def _upload(env: Env, data: bytes, kind: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    status, body = await env.upload(data, kind=kind, headers=headers)
    assert status == 201, body
    material: dict[str, Any] = body["material"]
    assert (material["class"], material["recognition"], material["masked"]) == (None, None, False)
    return material


async def _recognised(client: Client, mid: str) -> dict[str, Any]:
    told: dict[str, Any] = await client.next("material_recognised", lambda d: d["material"]["id"] == mid, WITHIN)
    return told


async def _landed(agent: Client, env: Env, data: bytes, kind: str) -> dict[str, Any]:
    """Upload a still and return its record once its recognition has landed (as the specialist got it)."""
    m = await _upload(env, data, kind)
    record: dict[str, Any] = (await _recognised(agent, m["id"]))["material"]
    return record


async def test_a_wrong_document_is_named_to_the_booth_and_needs_an_override(
    renv: Env, stills: Stills, cards: Cards, clients: Any
) -> None:
    """Issue 17's journey: an A4 form filed as the ID card's photo side, then the right card."""
    env = renv
    agent, booth = await _parties(clients, env)
    form = await _upload(env, stills.good, "id_card_front")
    assert form["verdict"] == "accepted"  # the quality check alone: a readable page
    added = await agent.next("material_added", lambda d: d["material"]["id"] == form["id"])
    assert (added["material"]["class"], added["material"]["recognition"]) == (None, None)
    assert (await booth.next("material_added"))["advice_zh"] == ADVICE[CAPTURED].zh

    told = await _recognised(booth, form["id"])
    assert told == {"sid": env.sid, "material": {"id": form["id"], "kind": "id_card_front", "verdict": "rejected",
                                                 "reasons": ["wrong_kind"], "class": "page"},
                    "advice_zh": "这不是身份证人像面，请放身份证人像面",
                    "advice_en": "This is not the photo side of an ID card. Please place the photo side of an ID card."}
    record = (await _recognised(agent, form["id"]))["material"]
    assert (record["class"], record["verdict"], record["reasons"], record["masked"]) == (
        "page", "rejected", ["wrong_kind"], False)
    assert record["recognition"]["class"] == "page" and record["recognition"]["sides"] is None
    listed = (await env.get("/materials", env.cookie(env.agent_cookie)))[1]["materials"]
    assert listed == [record]
    [event] = await env.events("recognised")
    assert (event["material"], event["class"], event["verdict"], event["reasons"], event["by"]) == (
        form["id"], "page", "rejected", "wrong_kind", "system")

    # V on a still that changed under the console, or without the confirmation, changes nothing
    verdict = {"sid": env.sid, "material_id": form["id"], "verdict": "accepted"}
    for seen in ("pending", "accepted"):
        reply = await agent.call("verdict", {**verdict, "seen_verdict": seen})
        assert reply["error"]["code"] == "stale_material" and reply["error"]["field"] == "seen_verdict", reply
    reply = await agent.call("verdict", {**verdict, "seen_verdict": "rejected"})
    assert reply["error"]["code"] == "override_required" and reply["error"]["field"] == "override_reason", reply
    reply = await agent.call("verdict", {**verdict, "override_reason": "   "})
    assert reply["error"]["code"] == "override_required"
    assert await env.events("verdict") == [] and listed[0]["review"] is None
    reply = await agent.call("identity", {"sid": env.sid, "method": "id_card_face", "result": "passed",
                                          "material_id": form["id"]})
    assert reply["error"]["code"] == "not_id_photo" and reply["error"]["field"] == "material_id"

    # the right card: recognised, read, accepted without an override, and the ID photo
    front = await _landed(agent, env, cards.front, "id_card_front")
    public = front["recognition"]
    assert (front["class"], front["verdict"], front["reasons"], front["masked"]) == ("id_card_front", "accepted",
                                                                                     [], True)
    assert public["id_number_masked"] == mask_id_number(cards.holder.number) == \
        cards.holder.number[:6] + "*" * 8 + cards.holder.number[-4:]
    assert public["id_number_valid"] is True and public["sides"] is None
    told = await _recognised(booth, front["id"])
    assert told["material"]["class"] == "id_card_front" and told["advice_zh"] == ADVICE[CAPTURED].zh
    reply = await agent.call("identity", {"sid": env.sid, "method": "id_card_face", "result": "passed",
                                          "material_id": front["id"]})
    assert reply["error"]["code"] == "not_id_photo"  # not accepted by the specialist yet
    ack = await agent.ok("verdict", {"sid": env.sid, "material_id": front["id"], "verdict": "accepted",
                                     "seen_verdict": "accepted"})
    assert (ack["override"], ack["override_reason"]) == (False, "")
    await agent.ok("identity", {"sid": env.sid, "method": "id_card_face", "result": "passed",
                                "material_id": front["id"]})

    # overriding the check: with a reason (masked like all free text), kept in the review and the history
    reason = f"原件核对无误，号码 {cards.holder.number}"
    ack = await agent.ok("verdict", {**verdict, "seen_verdict": "rejected", "override_reason": reason})
    masked_reason = f"原件核对无误，号码 {mask_id_number(cards.holder.number)}"
    assert (ack["verdict"], ack["override"], ack["override_reason"]) == ("accepted", True, masked_reason)
    to_booth = await booth.next("material_verdict", lambda d: d["material_id"] == form["id"])
    assert "override" not in to_booth and "override_reason" not in to_booth
    assert (await agent.next("material_verdict", lambda d: d["material_id"] == form["id"]))["override"] is True
    review = next(m for m in (await env.get("/materials", env.cookie(env.agent_cookie)))[1]["materials"]
                  if m["id"] == form["id"])["review"]
    assert (review["verdict"], review["override"], review["override_reason"]) == ("accepted", True, masked_reason)
    events = await env.events("verdict")
    assert [(e["material"], e["override"], e["override_reason"]) for e in events] == [
        (front["id"], "false", ""), (form["id"], "true", masked_reason)]
    reply = await agent.call("identity", {"sid": env.sid, "method": "id_card_face", "result": "passed",
                                          "material_id": form["id"]})
    assert reply["error"]["code"] == "not_id_photo"  # accepted, but a page is no ID photo


async def test_an_invalid_number_and_an_expired_card_are_rejected(renv: Env, cards: Cards, clients: Any) -> None:
    env = renv
    agent, booth = await _parties(clients, env)
    back = await _landed(agent, env, cards.back_expired, "id_card_back")
    assert back["class"] == "id_card_back" and back["verdict"] == "rejected" and "expired" in back["reasons"]
    assert back["recognition"]["expired"] is True
    told = await _recognised(booth, back["id"])
    assert ADVICE["expired"].zh in told["advice_zh"]
    front = await _landed(agent, env, cards.front_invalid, "id_card_front")
    assert front["class"] == "id_card_front" and "id_number_invalid" in front["reasons"]
    assert front["verdict"] == "rejected" and front["recognition"]["id_number_valid"] is False
    assert front["recognition"]["id_number_masked"] == mask_id_number(cards.invalid_number)
    assert ADVICE["id_number_invalid"].zh in (await _recognised(booth, front["id"]))["advice_zh"]


async def test_both_sides_of_one_card_belong_together(renv: Env, cards: Cards, clients: Any) -> None:
    env = renv
    agent, booth = await _parties(clients, env)
    front = await _landed(agent, env, cards.front, "id_card_front")
    assert front["verdict"] == "accepted" and front["recognition"]["sides"] is None  # nothing to compare yet
    other = await _landed(agent, env, cards.back_other, "id_card_back")
    assert other["reasons"] == ["sides_mismatch"] and other["verdict"] == "rejected"
    assert other["recognition"]["sides"] == "mismatch"
    told = await _recognised(booth, other["id"])
    assert told["material"]["reasons"] == ["sides_mismatch"] and ADVICE["sides_mismatch"].zh == told["advice_zh"]
    # the specialist rejects the stranger's side; the holder's own back then matches
    await agent.ok("verdict", {"sid": env.sid, "material_id": other["id"], "verdict": "rejected",
                               "reason": "wrong_document", "seen_verdict": "rejected"})
    back = await _landed(agent, env, cards.back, "id_card_back")
    assert (back["verdict"], back["reasons"], back["recognition"]["sides"]) == ("accepted", [], "match")
    [_, _, event] = await env.events("recognised")
    assert event["sides"] == "match"


async def test_the_full_number_is_for_the_serving_specialist_only(
    renv: Env, cards: Cards, clients: Any, redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    env = renv
    agent, _booth = await _parties(clients, env)
    front = await _landed(agent, env, cards.front, "id_card_front")
    back = await _landed(agent, env, cards.back, "id_card_back")
    assert front["masked"] and front["masked_sha256"] and front["masked_thumb_sha256"]
    mid = front["id"]
    spec = env.cookie(env.agent_cookie)
    manager = env.cookie(await env.staff("mgr-intake", Role.MANAGER, env.demo["intake_centre"]))

    # the fields read in full: the serving specialist only, and every attempt in the access log
    status, fields, resp = await env.get(f"/materials/{mid}/id-fields", spec)
    assert status == 200 and resp["Cache-Control"] == "private, no-store"
    holder = cards.holder
    assert fields == {"id_number": holder.number, "name": holder.name, "sex": holder.sex,
                      "birth_date": holder.birth.isoformat(), "valid_from": None, "valid_until": None,
                      "issuer": None}
    for who in (manager, env.booth_headers()):
        status, body, _ = await env.get(f"/materials/{mid}/id-fields", who)
        assert status == 403 and body["error"]["code"] == "not_serving", body
    status, body, _ = await env.get(f"/materials/{back['id']}/id-fields", spec)
    assert status == 200 and body["valid_until"] in (holder.valid_until, str(holder.valid_until))
    access = await env.app[ACCESS].by_session(env.sid)
    card_views = [(a["who"], a["allowed"], a["code"]) for a in reversed(access) if a["item"] == f"{mid}/id_fields"]
    assert card_views == [(env.agent, True, ""), ("mgr-intake", False, "not_serving"),
                          (f"booth:{env.booth}", False, "not_serving")]
    assert [(v["material"], v["variant"], v["by"]) for v in await env.events("material_viewed")] == [
        (mid, "id_fields", env.agent), (back["id"], "id_fields", env.agent)]

    # stills: unmasked for the specialist holding the session, masked for a manager
    blobs = FileBlobStore(env.materials_dir)
    for variant, sha in (("thumb", front["thumb_sha256"]), ("original", front["sha256"])):
        status, data, resp = await env.get(f"/materials/{mid}/{variant}", spec)
        assert status == 200 and hashlib.sha256(data).hexdigest() == sha and "X-RW-Masked" not in resp
    for variant, sha in (("original", front["masked_sha256"]), ("corrected", front["masked_sha256"]),
                         ("thumb", front["masked_thumb_sha256"]), ("masked", front["masked_sha256"])):
        status, data, resp = await env.get(f"/materials/{mid}/{variant}", manager)
        assert status == 200 and resp["X-RW-Masked"] == "1" and resp["Content-Type"] == "image/jpeg", variant
        assert hashlib.sha256(data).hexdigest() == sha == hashlib.sha256(blobs.path(sha).read_bytes()).hexdigest()
    assert front["masked_sha256"] not in (front["sha256"], front["corrected_sha256"])
    status, _, resp = await env.get(f"/materials/{mid}/masked", spec)
    assert status == 200 and resp["X-RW-Masked"] == "1"  # asked for by name: the serving specialist too
    viewed = [(v["by"], v["variant"], v["masked"]) for v in await env.events("material_viewed")][2:]
    assert viewed == [(env.agent, "thumb", "false"), (env.agent, "original", "false"),
                      ("mgr-intake", "original", "true"), ("mgr-intake", "corrected", "true"),
                      ("mgr-intake", "thumb", "true"), ("mgr-intake", "masked", "true"), (env.agent, "masked", "true")]

    # the ID-card page is made twice: the masked one for everyone else
    url = f"{env.url}/api/sessions/{env.sid}/materials/id-merge"
    async with env.srv.http.post(url, json={"front": mid, "back": back["id"]}, headers=spec) as resp:
        assert resp.status == 201, await resp.text()
        merged = (await resp.json())["material"]
    assert (merged["class"], merged["recognition"], merged["masked"]) == ("unknown", None, True)
    status, data, resp = await env.get(f"/materials/{merged['id']}/original", manager)
    assert resp["X-RW-Masked"] == "1" and hashlib.sha256(data).hexdigest() == merged["masked_sha256"]

    # after a transfer the first specialist sees what a manager sees; the receiving one the card
    queue, store = env.app[QUEUE], env.app[STORE]
    await queue.agent_login("spec-mat-2", env.demo["home_centre"])
    await store.presence("spec-mat-2", "available")
    await queue.transfer(env.agent, env.sid, reason="转给同事", to_agent="spec-mat-2")
    await store.accept("spec-mat-2", env.sid)
    second = env.cookie(await env.staff("spec-mat-2", Role.SPECIALIST, env.demo["home_centre"]))
    status, data, resp = await env.get(f"/materials/{mid}/corrected", spec)
    assert status == 200 and resp["X-RW-Masked"] == "1" and hashlib.sha256(data).hexdigest() == front["masked_sha256"]
    status, body, _ = await env.get(f"/materials/{mid}/id-fields", spec)
    assert status == 403 and body["error"]["code"] == "not_serving"
    status, data, resp = await env.get(f"/materials/{mid}/corrected", second)
    assert status == 200 and "X-RW-Masked" not in resp and hashlib.sha256(data).hexdigest() == front["corrected_sha256"]
    assert (await env.get(f"/materials/{mid}/id-fields", second))[1]["id_number"] == holder.number

    # nowhere else: not in Redis (but the fields' own hash), not in the lists, not in the logs
    stored = await _everything_in_redis(redis, but=key("material_private", sid=env.sid))
    masked = mask_id_number(holder.number)
    assert holder.number not in stored and holder.name not in stored
    assert masked in stored and holder.number in json.dumps(await MaterialStore(store).private(env.sid),
                                                            ensure_ascii=False)
    for who in (spec, manager, second, env.booth_headers()):
        status, listing, _ = await env.get("/materials", who)
        text = json.dumps(listing, ensure_ascii=False)
        assert status == 200 and holder.number not in text and masked in text
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "recognised" in logged and holder.number not in logged and holder.name not in logged


async def _everything_in_redis(redis: Redis, *, but: str) -> str:
    """Every value of every key as text (streams, hashes, lists, strings, sets), except ``but``."""
    out: list[Any] = []
    async for k in redis.scan_iter(count=1000):
        if k == but:
            continue
        kind = await redis.type(k)
        if kind == "string":
            out.append(await redis.get(k))
        elif kind == "hash":
            out.append(await redis.hgetall(k))
        elif kind == "list":
            out.append(await redis.lrange(k, 0, -1))
        elif kind == "stream":
            out.append(await redis.xrange(k))
        elif kind == "set":
            out.append(sorted(await redis.smembers(k)))
        elif kind == "zset":
            out.append(await redis.zrange(k, 0, -1))
    return json.dumps(out, ensure_ascii=False)


async def test_a_restarted_node_finishes_a_recognition_left_pending(
    start_server: Callable[..., Awaitable[Any]], renv: Env, cards: Cards, clients: Any
) -> None:
    """A node that stops between the two phases: the still stays pending until a node sweeps it."""
    env = renv
    agent, _booth = await _parties(clients, env)
    service = env.app[MATERIALS]
    principal = Principal(role=Role.DEVICE, subject=env.booth, centre=env.demo["intake_centre"])
    parties = await service.admit_upload(principal, env.sid, "id_card_front", "main", "")
    # phase one only, as an upload handler does before it starts the recognition
    added = await service.upload(principal, parties, kind="id_card_front", camera="main", request="", data=cards.front)
    mid = added.material["id"]
    assert await MaterialStore(env.app[STORE]).pending(before_ms=env.app[STORE].now_ms() + 1) == ((env.sid, mid),)

    # while it is pending: its automatic verdict is "pending", and it is no ID photo yet
    verdict = {"sid": env.sid, "material_id": mid, "verdict": "accepted"}
    reply = await agent.call("verdict", {**verdict, "seen_verdict": "accepted"})
    assert reply["error"]["code"] == "stale_material"
    await agent.ok("verdict", {**verdict, "seen_verdict": "pending"})  # the quality check passed it
    reply = await agent.call("identity", {"sid": env.sid, "method": "id_card_face", "result": "passed",
                                          "material_id": mid})
    assert reply["error"]["code"] == "not_id_photo"
    async with env.srv.http.post(f"{env.url}/api/sessions/{env.sid}/materials/id-merge",
                                 json={"front": mid, "back": mid}, headers=env.cookie(env.agent_cookie)) as resp:
        assert resp.status == 409 and (await resp.json())["error"] == {
            "code": "recognition_pending", "field": "front",
            "message": "the front still is still being recognised; merge when it is"}

    # another node starts (same Redis, same disk): it recognises the still at once
    later = await start_server(secret=SECRET, document_workers=1, **SETTINGS)
    told = await _recognised(agent, mid)
    assert told["material"]["class"] == "id_card_front" and told["material"]["masked"] is True
    assert told["material"]["review"]["verdict"] == "accepted"  # the specialist's verdict stands
    assert await MaterialStore(later.app[STORE]).pending(before_ms=later.app[STORE].now_ms() + 1) == ()
    assert len(await env.events("recognised")) == 1
    await agent.ok("identity", {"sid": env.sid, "method": "id_card_face", "result": "passed", "material_id": mid})
