"""The device agent end to end on loopback: real server, Redis, socket.io, aiortc peers, stills."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
from aiortc import RTCIceTransportPolicy

from citizen_client.agent import rtc_configuration_from
from window_server.appkeys import SETTINGS

from .conftest import receive_frames, serve_session


async def test_the_moving_720p_preview_reaches_the_specialist(booth_account: Any, clients: Any, demo: dict[str, str],
                                                       start_agent: Any, specialists: Any) -> None:
    kiosk, agent_sock, sid = await serve_session(clients, booth_account.url, booth_account, demo)
    device = await start_agent(booth_account.url, booth_account.id, booth_account.token)
    await device.wait_for(lambda s: s.registered and s.session is not None)
    ready = await agent_sock.next("device_ready", lambda d: d["sid"] == sid)
    assert ready["cameras"] == [{"id": "main", "role": "main", "preview": [1280, 720], "still": [3264, 2448]}]

    specialist = specialists(agent_sock, "spec-1")
    pc = await specialist.offer(sid, "device", "preview")
    frames = await receive_frames(await specialist.track("preview"), 30)
    assert {(f.width, f.height) for f in frames} == {(1280, 720)}
    assert not np.array_equal(frames[0].to_ndarray(format="rgb24"), frames[-1].to_ndarray(format="rgb24"))  # live
    assert pc.connectionState == "connected"
    status = device.status()
    assert status["preview"]["peer"] == "connected" and status["preview"]["fps"] > 0
    assert status["session"]["sid"] == sid


async def test_a_new_offer_replaces_the_preview_and_bye_ends_it(booth_account: Any, clients: Any,
                                                                demo: dict[str, str], start_agent: Any,
                                                                specialists: Any) -> None:
    kiosk, agent_sock, sid = await serve_session(clients, booth_account.url, booth_account, demo)
    device = await start_agent(booth_account.url, booth_account.id, booth_account.token)
    await agent_sock.next("device_ready", lambda d: d["sid"] == sid)
    specialist = specialists(agent_sock, "spec-1")
    await specialist.offer(sid, "device", "preview")
    await receive_frames(await specialist.track("preview"), 5)
    first_pc = device._pc
    await specialist.offer(sid, "device", "preview")  # a console reload: the same pc name again
    await receive_frames(await specialist.track("preview"), 10)  # the new peer connection streams
    assert device._pc is not first_pc and first_pc is not None and first_pc.connectionState == "closed"
    await agent_sock.ok("signal", {"sid": sid, "to": "device", "kind": "bye", "pc": "preview", "data": None})
    await device.wait_for(lambda s: device._pc is None, within=10)


async def test_a_capture_request_stores_an_8_mp_still_with_its_sha256_and_verdict(
        booth_account: Any, clients: Any, demo: dict[str, str], start_agent: Any) -> None:
    kiosk, agent_sock, sid = await serve_session(clients, booth_account.url, booth_account, demo)
    device = await start_agent(booth_account.url, booth_account.id, booth_account.token)
    await agent_sock.next("device_ready", lambda d: d["sid"] == sid)
    device.camera.show("a4_form")

    ack = await agent_sock.ok("capture", {"sid": sid, "kind": "application_form", "camera": "main"})
    result = await agent_sock.next("capture_result", lambda d: d["request_id"] == ack["request_id"], within=30)
    added = await agent_sock.next("material_added", lambda d: d["material"]["id"] == result.get("material_id"),
                                  within=30)
    material = added["material"]
    assert "error" not in result and result["material_id"] == material["id"]
    assert (int(material["width"]), int(material["height"])) == (3264, 2448)  # a full-resolution still
    assert material["camera"] == "main" and material["request"] == ack["request_id"]
    assert material["verdict"] == "accepted", material.get("reasons")
    # The stored original is byte for byte what the agent captured.
    capture = device.state.last_capture
    assert capture is not None and capture["sha256"] == material["sha256"]
    blobs = list((booth_account.srv.app[SETTINGS].data_dir / "materials").rglob(material["sha256"] + "*"))
    assert blobs and hashlib.sha256(blobs[0].read_bytes()).hexdigest() == material["sha256"]
    # The booth is told too, with words to show the citizen.
    told = await kiosk.next("material_added", lambda d: d["material"]["id"] == material["id"])
    assert told["advice_zh"] and told["advice_en"]


async def test_a_capture_with_a_camera_the_booth_lacks_reports_an_error(
        booth_account: Any, clients: Any, demo: dict[str, str], start_agent: Any) -> None:
    kiosk, agent_sock, sid = await serve_session(clients, booth_account.url, booth_account, demo)
    device = await start_agent(booth_account.url, booth_account.id, booth_account.token)
    await device.wait_for(lambda s: s.registered)
    ack = await agent_sock.ok("capture", {"sid": sid, "kind": "application_form", "camera": "aux"})
    result = await agent_sock.next("capture_result", lambda d: d["request_id"] == ack["request_id"], within=20)
    assert result["error"]["code"] == "unknown_camera" and "material_id" not in result


async def test_a_revoked_booth_token_is_reported_not_hammered(booth_account: Any, start_agent: Any) -> None:
    device = await start_agent(booth_account.url, booth_account.id, "not-the-token")
    state = await device.wait_for(lambda s: s.last_error is not None, within=10)
    assert "booth token refused" in (state.last_error or "") and not state.connected


def test_the_grant_s_transport_policy_reaches_aiortc() -> None:
    # "relay" (RW_ICE_TRANSPORT_POLICY) keeps aioice from gathering host and server-reflexive candidates;
    # tests/cluster/test_cluster_call.py shows the preview then goes through coturn.
    turn = {"urls": ["turn:127.0.0.1:3478?transport=udp"], "username": "1:u", "credential": "c"}
    relay = rtc_configuration_from({"ice_servers": [turn], "ice_transport_policy": "relay"})
    assert relay.iceTransportPolicy == RTCIceTransportPolicy.RELAY
    assert [(s.urls, s.username, s.credential) for s in relay.iceServers or []] == [
        (turn["urls"], "1:u", "c")]
    for grant in ({"ice_servers": []}, {"ice_servers": [], "ice_transport_policy": "all"}):
        plain = rtc_configuration_from(grant)
        assert plain.iceServers == [] and plain.iceTransportPolicy == RTCIceTransportPolicy.ALL  # never a default server
