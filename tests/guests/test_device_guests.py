"""The booth's side of guests (issue 19), end to end on loopback: a real server and Redis, the
real /guest namespace, socket.io clients, aiortc peers, the device agent with its synthetic 高拍仪
and the kiosk page in Chromium.

The device agent serves a guest's preview beside the specialist's, from one camera reading; a
guest's bye, or leaving the session, closes only that guest's preview. The kiosk answers a guest's
offer with its camera and microphone, plays and records the guest's voice only in barge (or
consult), and tells the citizen then, never by name.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
from aiortc import (
    AudioStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
    VideoStreamTrack,
)
from playwright.async_api import Browser

from tests.booth.conftest import (  # noqa: F401  (fixtures)
    Booth,
    Specialist,
    booth_account,
    loopback_ice,
    loopback_only,
    receive_frames,
    serve_session,
    specialists,
    start_agent,
)
from tests.screens import chromium, walk_to_consent
from tests.signaling.conftest import Client, catalogue, clients, demo, server, token  # noqa: F401  (fixtures)
from window_server.domain.auth import Role

LEAD = "lead-1"


async def with_preview(booth: Booth, clients: Any, demo: dict[str, str], start_agent: Any,  # noqa: F811
                       specialists: Any) -> tuple[Any, Client, str, Specialist]:  # noqa: F811
    """A session in service, the device agent online and the specialist's preview flowing."""
    kiosk, agent_sock, sid = await serve_session(clients, booth.url, booth, demo)
    device = await start_agent(booth.url, booth.id, booth.token)
    await agent_sock.next("device_ready", lambda d: d["sid"] == sid, within=20)
    specialist = specialists(agent_sock, "spec-1")
    await specialist.offer(sid, "device", "preview")
    await receive_frames(await specialist.track("preview"), 5)
    return device, agent_sock, sid, specialist


async def join_as_lead(clients: Any, url: str, demo: dict[str, str], sid: str,  # noqa: F811
                       mode: str = "monitor") -> tuple[Client, dict[str, Any]]:
    """A team lead of the serving specialist's centre joins the session on /guest."""
    sock = clients("/guest")
    await sock.connect(url, token(Role.TEAM_LEAD, LEAD, demo["home_centre"], "/guest"))
    joined = await sock.ok("join", {"sid": sid, "mode": mode})
    return sock, joined


async def test_a_guest_gets_its_own_preview_and_its_bye_leaves_the_specialists(
        booth_account: Booth, clients: Any, demo: dict[str, str], start_agent: Any,  # noqa: F811
        specialists: Any) -> None:  # noqa: F811
    device, agent_sock, sid, specialist = await with_preview(booth_account, clients, demo, start_agent, specialists)
    spec_pc = device._pc
    lead_sock, joined = await join_as_lead(clients, booth_account.url, demo, sid)
    gid = joined["gid"]
    assert joined["device"] is True  # the guest's page knows to offer to the 高拍仪
    told = await agent_sock.next("guests", lambda d: d["sid"] == sid and d["guests"])
    assert [g["gid"] for g in told["guests"]] == [gid]

    # The guest's page offers to the device (pc "g"); the answer comes back to that guest only.
    guest = specialists(lead_sock, LEAD)
    guest_pc = await guest.offer(sid, "device", "g")
    assert device.guest_peers.keys() == {gid}
    frames = await receive_frames(await guest.track("g"), 20)
    assert {(f.width, f.height) for f in frames} == {(1280, 720)}
    assert not np.array_equal(frames[0].to_ndarray(format="rgb24"), frames[-1].to_ndarray(format="rgb24"))
    # Both previews at once, from one reading of the camera.
    await receive_frames(_live_track(specialist.pcs["preview"]), 10)
    assert device.feed.subscribers == 2
    status = device.status()
    assert status["preview"]["peer"] == "connected" and status["preview"]["guests"] == 1
    assert guest_pc.connectionState == "connected"

    # The guest says bye: its preview closes; the specialist's goes on.
    await lead_sock.ok("signal", {"sid": sid, "to": "device", "kind": "bye", "pc": "g", "data": None})
    await device.wait_for(lambda s: not device.guest_peers, within=10)
    await receive_frames(_live_track(specialist.pcs["preview"]), 15)
    assert device._pc is spec_pc and spec_pc is not None and spec_pc.connectionState == "connected"
    assert device.status()["preview"]["guests"] == 0
    assert device.feed.subscribers == 1


async def test_a_guest_who_leaves_loses_the_preview_and_the_next_one_gets_a_fresh_one(
        booth_account: Booth, clients: Any, demo: dict[str, str], start_agent: Any,  # noqa: F811
        specialists: Any) -> None:  # noqa: F811
    device, agent_sock, sid, specialist = await with_preview(booth_account, clients, demo, start_agent, specialists)
    lead_sock, joined = await join_as_lead(clients, booth_account.url, demo, sid, mode="barge")
    guest = specialists(lead_sock, LEAD)
    await guest.offer(sid, "device", "g")
    await receive_frames(await guest.track("g"), 5)
    first = device.guest_peers[joined["gid"]]

    # Leaving without a bye (a closed tab does the same): the /device "guests" push ends its preview.
    await lead_sock.ok("leave", {"sid": sid})
    await device.wait_for(lambda s: not device.guest_peers, within=10)
    assert first.connectionState == "closed"
    await receive_frames(_live_track(specialist.pcs["preview"]), 10)  # the specialist's goes on

    # Joining again is a new gid, a new peer connection, the same camera.
    again = await lead_sock.ok("join", {"sid": sid, "mode": "monitor"})
    assert again["gid"] != joined["gid"]
    await guest.offer(sid, "device", "g")
    await receive_frames(await guest.track("g"), 5)
    assert device.guest_peers.keys() == {again["gid"]} and device.feed.subscribers == 2

    # The other way round: the specialist's bye leaves the guest's preview running.
    await agent_sock.ok("signal", {"sid": sid, "to": "device", "kind": "bye", "pc": "preview", "data": None})
    await device.wait_for(lambda s: device._pc is None, within=10)
    await receive_frames(_live_track(guest.pcs["g"]), 10)
    assert device.guest_peers.keys() == {again["gid"]} and device.feed.subscribers == 1
    assert device.status()["preview"] == {**device.status()["preview"], "peer": None, "guests": 1}


def _live_track(pc: Any) -> Any:
    """The remote video track of a receiving aiortc peer connection."""
    [track] = [t.receiver.track for t in pc.getTransceivers() if t.receiver.track.kind == "video"]
    return track


# --- the kiosk's side, in Chromium --------------------------------------------------------------


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


async def test_the_kiosk_answers_a_guest_and_tells_the_citizen_only_when_they_can_be_heard(
        browser: Browser, booth_account: Booth, clients: Any, demo: dict[str, str],  # noqa: F811
        specialists: Any, catalogue: Any) -> None:  # noqa: F811
    url = booth_account.url
    page = await browser.new_page(viewport={"width": 1600, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await walk_to_consent(page, f"{url}/booth/{booth_account.id}?token={booth_account.token}", demo["region"],
                          demo["matter"])
    await page.click("#consent-yes")
    await page.wait_for_selector("body[data-screen='waiting']")
    agent_sock = clients("/agent")
    await agent_sock.connect(url, token(Role.SPECIALIST, "spec-1", demo["home_centre"], "/agent"))
    await agent_sock.ok("presence", {"status": "available"})
    sid = (await agent_sock.next("offer", within=20))["sid"]
    await agent_sock.ok("accept", {"sid": sid})
    await page.wait_for_selector("body[data-screen='service']")
    specialist = specialists(agent_sock, "spec-1")
    specialist.start_ice()
    await specialist.offer(sid, "booth", "call", send=VideoStreamTrack(), audio=True)
    await page.wait_for_selector("body[data-recording='on']", timeout=30000)  # the recorder mixes the voices
    await page.wait_for_selector("body[data-voices='1']")  # the booth's microphone (the specialist sends none here)

    # A team lead joins silently (monitor): the booth answers with its camera and microphone, the
    # citizen is not told and does not hear them.
    lead_sock, joined = await join_as_lead(clients, url, demo, sid)
    gid = joined["gid"]
    guest = specialists(lead_sock, LEAD)
    guest.start_ice()
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    guest.pcs["g"] = pc
    arrived: asyncio.Queue[Any] = asyncio.Queue()
    pc.on("track", arrived.put_nowait)
    pc.addTrack(AudioStreamTrack())  # the guest's voice (sendrecv, as the guest page does)
    pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    await lead_sock.ok("signal", {"sid": sid, "to": "booth", "kind": "offer", "pc": "g",
                                  "data": {"type": "offer", "sdp": loopback_only(pc.localDescription.sdp)}})
    answer = await lead_sock.next("signal", lambda d: d["kind"] == "answer" and d["from"] == "booth", within=20)
    assert answer["pc"] == "g"
    await pc.setRemoteDescription(RTCSessionDescription(sdp=loopback_only(answer["data"]["sdp"]), type="answer"))
    tracks = {}
    async with asyncio.timeout(20):
        while len(tracks) < 2:
            t = await arrived.get()
            tracks[t.kind] = t
    frame = await asyncio.wait_for(tracks["video"].recv(), 20)  # the booth's camera reaches the guest
    assert frame.width > 0
    await asyncio.wait_for(tracks["audio"].recv(), 20)  # and its microphone
    seen = await page.evaluate("window.__rwGuests")
    assert seen["peers"] == [gid] and seen["heard"] == [] and seen["muted"] == {gid: True}
    assert await page.locator("#guest-notice").is_hidden()

    # Barge in: the notice, in large type, without a name; the guest's voice plays and is recorded.
    await lead_sock.ok("mode", {"sid": sid, "mode": "barge"})
    await page.wait_for_selector("#guest-notice:not([hidden])")
    notice = page.locator("#guest-notice")
    assert (await notice.inner_text()).strip() == "主管已加入通话，可以听到您说话"
    assert await notice.get_attribute("aria-live") == "polite"
    size = await notice.evaluate("(el) => parseFloat(getComputedStyle(el).fontSize)")
    assert size >= 28
    await page.wait_for_selector("body[data-voices='2']")
    seen = await page.evaluate("window.__rwGuests")
    assert seen["heard"] == [gid] and seen["muted"] == {gid: False}
    await page.click("#btn-lang")
    await page.wait_for_selector("#guest-notice:has-text('A supervisor has joined the call')")
    await page.click("#btn-lang")

    # Whisper: only the specialist hears them; the booth mutes them and the notice goes.
    await lead_sock.ok("mode", {"sid": sid, "mode": "whisper"})
    await page.wait_for_selector("#guest-notice", state="hidden")
    await page.wait_for_selector("body[data-voices='1']")
    assert (await page.evaluate("window.__rwGuests"))["muted"] == {gid: True}

    # Leaving ends the guest's peer at the booth; the call goes on.
    await lead_sock.ok("mode", {"sid": sid, "mode": "barge"})
    await page.wait_for_selector("#guest-notice:not([hidden])")
    await lead_sock.ok("leave", {"sid": sid})
    await page.wait_for_selector("#guest-notice", state="hidden")
    seen = await page.evaluate("window.__rwGuests")
    assert seen["peers"] == [] and seen["heard"] == []
    await page.wait_for_selector("body[data-voices='1'][data-pc_call='connected']")
    assert errors == []
