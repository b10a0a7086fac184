"""Capture over socket.io end to end: request, device upload, result, verdict with advice."""

from __future__ import annotations

from typing import Any

from tests.signaling.conftest import Client, token
from window_server.domain.auth import Role
from window_server.domain.materials import ADVICE

from .conftest import Env, Stills

CAMERAS = [{"id": "doc", "role": "main", "preview": [1280, 720], "still": [3264, 2448]}]


async def _connect(clients: Any, env: Env, namespace: str, role: Role, subject: str, centre: str) -> Client:
    c: Client = clients(namespace)
    await c.connect(env.url, token(role, subject, centre, namespace))
    return c


async def test_capture_upload_result_and_verdict(env: Env, stills: Stills, clients: Any) -> None:
    agent = await _connect(clients, env, "/agent", Role.SPECIALIST, env.agent, env.demo["home_centre"])
    booth = await _connect(clients, env, "/booth", Role.BOOTH, env.booth, env.demo["intake_centre"])

    reply = await agent.call("capture", {"sid": env.sid, "kind": "application_form"})
    assert reply["error"]["code"] == "peer_absent"  # no device agent yet

    device = await _connect(clients, env, "/device", Role.DEVICE, env.booth, env.demo["intake_centre"])
    await device.ok("register", {"cameras": CAMERAS})
    reply = await agent.call("capture", {"sid": env.sid, "kind": "no_such_kind"})
    assert reply["error"]["code"] == "invalid_input"
    request_id = (await agent.ok("capture", {"sid": env.sid, "kind": "application_form"}))["request_id"]

    req = await device.next("capture_request")
    assert req == {"sid": env.sid, "request_id": request_id, "kind": "application_form", "camera": "main"}
    status, body = await env.upload(stills.cut_off, kind=req["kind"], camera=req["camera"], request=request_id)
    assert status == 201, body
    material = body["material"]
    assert material["request"] == request_id and material["verdict"] == "rejected"
    await device.ok("capture_result", {"sid": env.sid, "request_id": request_id, "material_id": material["id"]})

    result = await agent.next("capture_result")
    assert result == {"sid": env.sid, "request_id": request_id, "kind": "application_form",
                      "material_id": material["id"]}
    added = await agent.next("material_added")
    assert added["material"]["id"] == material["id"] and added["material"]["sha256"] == material["sha256"]
    seen = await booth.next("material_added")
    assert seen["material"] == {k: material[k] for k in ("id", "kind", "verdict", "reasons")}
    assert ADVICE["cut_off"].zh in seen["advice_zh"] and ADVICE["cut_off"].en in seen["advice_en"]
    assert "sha256" not in str(seen)  # the booth learns nothing it does not need

    ack = await agent.ok("verdict", {"sid": env.sid, "material_id": material["id"], "verdict": "rejected",
                                     "reason": "glare"})
    told = await booth.next("material_verdict")
    assert told == {"sid": env.sid, "material_id": material["id"], "kind": "application_form",
                    "verdict": "rejected", "reason": "glare", "advice_zh": "请避开反光，稍微倾斜证件",
                    "advice_en": "Please avoid the glare: tilt the document slightly."}
    assert ack == {**told, "override": False, "override_reason": ""}  # the booth never gets the override
    assert await agent.next("material_verdict") == ack
    # a verdict may change; each is an event with who, when and why. Accepting what the automatic
    # check rejected (cut_off) needs the specialist's reason: an override
    reply = await agent.call("verdict", {"sid": env.sid, "material_id": material["id"], "verdict": "accepted"})
    assert reply["error"]["code"] == "override_required"
    await agent.ok("verdict", {"sid": env.sid, "material_id": material["id"], "verdict": "accepted",
                               "override_reason": "edge is blank paper"})
    assert (await booth.next("material_verdict"))["advice_zh"] == ADVICE["accepted"].zh
    verdicts = await env.events("verdict")
    assert [(e["verdict"], e["why"], e["by"], e["override"]) for e in verdicts] == [
        ("rejected", "glare", env.agent, "false"), ("accepted", "", env.agent, "true")]
    [asked] = await env.events("capture_requested")
    assert (asked["request"], asked["by"], asked["kind"]) == (request_id, env.agent, "application_form")


async def test_capture_and_verdict_are_kept_to_the_session(env: Env, stills: Stills, clients: Any) -> None:
    device = await _connect(clients, env, "/device", Role.DEVICE, env.booth, env.demo["intake_centre"])
    await device.ok("register", {"cameras": CAMERAS})
    status, body = await env.upload(stills.good)
    assert status == 201
    mid = body["material"]["id"]

    intruder = await _connect(clients, env, "/agent", Role.SPECIALIST, "spec-intruder", env.demo["home_centre"])
    reply = await intruder.call("capture", {"sid": env.sid, "kind": "application_form"})
    assert reply["error"]["code"] == "not_your_session"
    reply = await intruder.call("verdict", {"sid": env.sid, "material_id": mid, "verdict": "accepted"})
    assert reply["error"]["code"] == "not_your_session"

    agent = await _connect(clients, env, "/agent", Role.SPECIALIST, env.agent, env.demo["home_centre"])
    reply = await agent.call("verdict", {"sid": env.sid, "material_id": "m0000000000000000", "verdict": "accepted"})
    assert reply["error"]["code"] == "unknown_material"
    reply = await agent.call("verdict", {"sid": env.sid, "material_id": mid, "verdict": "maybe"})
    assert reply["error"]["code"] == "invalid_input"
    reply = await agent.call("verdict", {"sid": env.sid, "material_id": mid, "verdict": "rejected",
                                         "reason": "x" * 201})
    assert reply["error"]["code"] == "invalid_input"

    reply = await device.call("capture_result", {"sid": env.sid, "request_id": "c0000000000000000",
                                                 "material_id": mid})
    assert reply["error"]["code"] == "unknown_request"
    other = await _connect(clients, env, "/device", Role.DEVICE, "bth-other", env.demo["intake_centre"])
    reply = await other.call("capture_result", {"sid": env.sid, "request_id": "c0000000000000000",
                                                "error": {"code": "camera_busy", "message": "busy"}})
    assert reply["error"]["code"] == "not_member"

    request_id = (await agent.ok("capture", {"sid": env.sid, "kind": "application_form", "camera": "aux"}))[
        "request_id"]
    assert (await device.next("capture_request"))["camera"] == "aux"
    reply = await device.call("capture_result", {"sid": env.sid, "request_id": request_id,
                                                 "error": {"code": "camera_busy", "message": "the camera is busy",
                                                           "extra": 1}})
    assert reply["error"]["code"] == "invalid_input"
    reply = await device.call("capture_result", {"sid": env.sid, "request_id": request_id, "material_id": mid})
    assert reply["error"] == {"code": "invalid_input", "field": "material_id",
                              "message": f"material {mid} was not uploaded for request {request_id}"}
    await device.ok("capture_result", {"sid": env.sid, "request_id": request_id,
                                       "error": {"code": "camera_busy", "message": "the camera is busy"}})
    failed = await agent.next("capture_result")
    assert failed["error"] == {"code": "camera_busy", "message": "the camera is busy"}
    assert "material_id" not in failed
