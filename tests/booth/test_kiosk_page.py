"""The kiosk page in real Chromium: matter choice → ticket → service → rating → receipt → start.

The specialist is driven from the test over socket.io (/agent) with aiortc peers; the booth's
device agent (synthetic camera) runs beside the page as on a real booth. A screenshot of every
screen lands in the test's tmp folder (``screens/``).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import cv2
import numpy as np
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription, VideoStreamTrack
from av import VideoFrame
from playwright.async_api import Browser, Page

from citizen_client.control import start_control
from tests.screens import chromium
from tests.service import running_service, service_env
from window_server.accounts.store import AccountStore, LoginPolicy
from window_server.appkeys import CATALOGUE
from window_server.domain.auth import Role
from window_server.store.keys import key

from .conftest import SECRET, Booth, loopback_only, token
from .test_restart import free_port

VIEWPORT = {"width": 1600, "height": 900}


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


class Kiosk:
    """A kiosk page, with a screenshot of each screen it reaches."""

    def __init__(self, page: Page, shots: Path, lang: str) -> None:
        self.page, self.shots, self.lang, self.n = page, shots, lang, 0
        self.errors: list[str] = []
        self.small: dict[str, list[str]] = {}  # touch targets under TOUCH_PX, per screen shot
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    async def screen(self, name: str, within: float = 20) -> None:
        await self.page.wait_for_selector(f"section[data-screen={name}].active", timeout=within * 1000)

    async def shot(self, name: str) -> Path:
        self.n += 1
        path = self.shots / f"{self.lang}-{self.n:02d}-{name}.png"
        await self.page.screenshot(path=str(path))
        if found := await small_targets(self.page):
            self.small[name] = found
        return path

    async def text(self, selector: str) -> str:
        return (await self.page.locator(selector).inner_text()).strip()


class Face(VideoStreamTrack):
    """The specialist's camera: a drawn face, so a screenshot shows it arrived."""

    def __init__(self) -> None:
        super().__init__()
        img = np.full((480, 640, 3), (120, 90, 40), np.uint8)
        cv2.ellipse(img, (320, 470), (190, 120), 0, 180, 360, (60, 60, 60), -1)
        cv2.circle(img, (320, 220), 95, (150, 185, 225), -1)
        cv2.circle(img, (285, 200), 10, (40, 40, 40), -1)
        cv2.circle(img, (355, 200), 10, (40, 40, 40), -1)
        cv2.ellipse(img, (320, 255), (40, 20), 0, 0, 180, (40, 40, 120), 5)
        self.img = img

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = VideoFrame.from_ndarray(self.img, format="bgr24")
        frame.pts, frame.time_base = pts, time_base
        return frame


def matter_in(catalogue: Any, code: str) -> Any:
    m = catalogue.matter(code)
    return m, catalogue.region(m.home_region)


async def answer_booth_offer(specialist: Any, sid: str, name: str) -> RTCPeerConnection:
    """The console's side of a booth-initiated offer (the booth shares its screen)."""
    offer = await specialist.client.next("signal", lambda d: d["kind"] == "offer" and d.get("pc") == name, within=20)
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    specialist.pcs[name] = pc
    await pc.setRemoteDescription(RTCSessionDescription(sdp=loopback_only(offer["data"]["sdp"]), type="offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    await specialist.client.ok("signal", {"sid": sid, "to": "booth", "kind": "answer", "pc": name,
                                          "data": {"type": "answer", "sdp": loopback_only(pc.localDescription.sdp)}})
    return pc


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_the_kiosk_flow_from_matter_to_receipt(
        lang: str, browser: Browser, booth_account: Any, clients: Any, demo: dict[str, str], start_agent: Any,
        specialists: Any, redis: Any, tmp_path: Path) -> None:
    url = booth_account.url
    shots = tmp_path / "screens"
    shots.mkdir()
    device = await start_agent(url, booth_account.id, booth_account.token)
    control, control_port = await start_control(device, 0, origins=frozenset({url}))
    catalogue = booth_account.srv.app[CATALOGUE]
    matter, region = matter_in(catalogue, demo["matter"])
    province = catalogue.region(region.province_code)

    def name(r: Any) -> str:
        return str(r.name_en if lang == "en" else r.name_zh)

    page = await browser.new_page(viewport=VIEWPORT)
    k = Kiosk(page, shots, lang)
    try:
        await page.goto(f"{url}/booth/{booth_account.id}?token={booth_account.token}&device={control_port}&idle=4")
        # The booth token leaves the address bar and stays in the browser for the next loads.
        assert "token" not in page.url
        stored = await page.evaluate(f"localStorage.getItem('rw.kiosk.{booth_account.id}.token')")
        assert stored == booth_account.token
        await k.screen("welcome")
        if lang == "en":
            await page.click("#btn-lang")
        assert await page.evaluate("document.documentElement.lang") == ("en" if lang == "en" else "zh-CN")
        assert await k.text("#btn-start") == ("Start" if lang == "en" else "开始办理")
        await k.shot("welcome")

        # The matter first (by its name, offered by several regions), then the place.
        await page.click("#btn-start")
        await k.screen("matter")
        if lang == "zh":  # the optional search (the only keyboard use besides the comment)
            await page.fill("#matter-search", matter.name_zh[:3])
            assert await page.locator(".matter").count() >= 1
        await k.shot("matter")
        await page.click(f"#matter-list [data-matters~='{matter.code}']")
        await k.screen("place")
        assert name(matter) in await k.text("#place-matter")
        assert name(province) in await k.text("#place-list")
        await k.shot("place")
        await page.click(f"#place-list [data-matter='{matter.code}']")
        await k.screen("priority")
        await k.shot("priority")
        await page.click("[data-priority='elderly']")
        await k.screen("consent")
        assert name(matter) in await k.text("#consent-summary")
        await k.shot("consent")
        await page.click("#consent-yes")

        await k.screen("waiting")
        ticket = await k.text("#ticket")
        assert re.fullmatch(r"P\d{3}", ticket), ticket  # the priority lane
        await page.wait_for_selector("#waiting-position:not(:empty)")
        await k.shot("waiting")
        spoken = await page.evaluate("window.rwKioskSpoken()")
        assert any(ticket in s["text"] and s["lang"] == lang for s in spoken), spoken

        # The specialist takes the call.
        agent_sock = clients("/agent")
        await agent_sock.connect(url, token_for_agent(demo))
        await agent_sock.ok("presence", {"status": "available"})
        offer = await agent_sock.next("offer")
        sid = offer["sid"]
        await agent_sock.ok("accept", {"sid": sid})
        await k.screen("service")
        specialist = specialists(agent_sock, "spec-1")
        specialist.start_ice()
        await specialist.offer(sid, "booth", "call", send=Face(), audio=True)
        await page.wait_for_selector("body[data-pc_call=connected]", timeout=20000)
        booth_camera = await specialist.track("call")  # the page answered with its camera (and microphone)
        assert (await asyncio.wait_for(booth_camera.recv(), 10)).width > 0
        await page.wait_for_selector("#remote-video[data-live]")
        await page.wait_for_selector("#doc-img[data-live]")  # the 高拍仪's view

        # A capture, the automatic check, then the specialist asks for a re-capture in plain words.
        ack = await agent_sock.ok("capture", {"sid": sid, "kind": matter.materials[0].kind, "camera": "main"})
        result = await agent_sock.next("capture_result", lambda d: d["request_id"] == ack["request_id"], within=30)
        await page.wait_for_selector(f"#materials li[data-material='{result['material_id']}']")
        verdict = await agent_sock.ok("verdict", {"sid": sid, "material_id": result["material_id"],
                                                  "verdict": "rejected", "reason": "glare"})
        advice = verdict["advice_en"] if lang == "en" else verdict["advice_zh"]
        # the specialist's words replace the automatic check's (whichever of the still's
        # recognition and the verdict reaches the page first: the verdict stands)
        mine = f"#materials li[data-material='{result['material_id']}'].bad .advice"
        await page.wait_for_selector(f"{mine}:text-is({json.dumps(advice, ensure_ascii=False)})")
        assert await k.text(mine) == advice
        await k.shot("service")

        # The specialist asks to see the booth's screen; the citizen agrees; the booth offers it.
        await agent_sock.ok("screen_share_request", {"sid": sid})
        await page.wait_for_selector("#modal:not([hidden])")
        await k.shot("share-request")
        await page.click("#modal-yes")
        reply = await agent_sock.next("screen_share_reply", lambda d: d["sid"] == sid)
        assert reply["accepted"] is True
        await answer_booth_offer(specialist, sid, "screen")
        await page.wait_for_selector("#btn-share-stop:not([hidden])")
        # Then the specialist shows their own screen: one share at a time, the new offer replaces it.
        await specialist.offer(sid, "booth", "screen", send=Face())
        await page.wait_for_selector("#shared-pane:not([hidden])")
        await page.wait_for_selector("#shared-video[data-live]")
        assert await page.locator("#btn-share-stop").is_hidden()
        await k.shot("shared-screen")

        # The end: outcome and case number, a bad review with reasons, the receipt with its QR code.
        await agent_sock.ok("complete", {"sid": sid, "outcome": "consultation", "case_number": "SZ-2026-000123"})
        await k.screen("rating")
        await k.shot("rating")
        await page.click("[data-level='2']")
        await k.screen("reason")
        await page.click("[data-reason='reason_wait']")
        await page.click("[data-reason='reason_unsolved']")
        await page.fill("#reason-comment", "form unclear")
        await k.shot("reason")
        await page.click("#reason-submit")
        await k.screen("receipt")
        assert await k.text("#receipt-sid") == sid
        assert await k.text("#receipt-case") == "SZ-2026-000123"
        assert await k.text("#receipt-outcome") == ("Your question was answered" if lang == "en" else "已解答您的咨询")
        qr = await page.get_attribute("#receipt-qr", "data-qr") or ""  # the public status page (issue 18)
        assert re.fullmatch(rf"{re.escape(url.rstrip('/'))}/r/[A-Za-z0-9_-]{{22}}", qr), qr
        await k.shot("receipt")
        stored_rating = await redis.hmget(key("session", sid=sid), ["state", "rating", "rating_comment"])
        assert stored_rating == ["rated", "2", "等待时间太长；事情没有办成；form unclear"]

        # Nobody touches the receipt: back to the start, everything of this citizen cleared.
        await k.screen("welcome", within=15)
        assert await k.text("#receipt-sid") == "" and await page.locator("#materials li").count() == 0
        assert await page.evaluate("document.documentElement.lang") == "zh-CN"
        assert await page.evaluate("document.querySelector('#self-video').srcObject") is None
        await k.shot("back-to-start")
        assert not k.errors, k.errors
        assert not k.small, k.small  # every screen's buttons are big enough to touch
    finally:
        await page.close()
        await control.cleanup()


def token_for_agent(demo: dict[str, str]) -> str:
    # langs: a citizen who chose English is queued for specialists who speak it
    return token(Role.SPECIALIST, "spec-1", demo["home_centre"], "/agent", langs=("zh", "en"))


async def take_a_ticket(k: Kiosk) -> str:
    page = k.page
    await k.screen("welcome")
    await page.click("#btn-start")
    await page.click("#matter-list .matter >> nth=0")  # offered by several regions: the place follows
    await page.click("#place-list .place >> nth=0")
    await page.click("[data-priority='']")
    await page.click("#consent-yes")
    await k.screen("waiting")
    return await k.text("#ticket")


async def test_a_reload_and_a_server_restart_keep_the_ticket(
        browser: Browser, redis: Any, redis_url: str, catalogue: Any, make_settings: Any, demo: dict[str, str],
        tmp_path: Path) -> None:
    port = free_port()
    env = service_env(REDIS_URL=redis_url, RW_SECRET=SECRET, RW_DEMO="false", RW_LOG_LEVEL="WARNING",
                      RW_DATA_DIR=str(tmp_path / "data"))
    store = AccountStore(redis, catalogue, LoginPolicy.from_settings(make_settings()), configured_secret=SECRET)
    booth = Booth(None, "reload-booth-01", (await store.add_booth("reload-booth-01", demo["intake_centre"]))[1],
                  demo["intake_centre"])
    page = await browser.new_page(viewport=VIEWPORT)
    k = Kiosk(page, tmp_path, "zh")
    try:
        async with running_service("--port", str(port), env=env, stderr=asyncio.subprocess.DEVNULL) as (proc, url):
            await page.goto(f"{url}/booth/{booth.id}?token={booth.token}")
            ticket = await take_a_ticket(k)
            assert ticket.startswith("A")
            await page.reload()  # the token is remembered; the open session comes back
            await k.screen("waiting")
            assert await k.text("#ticket") == ticket
            proc.kill()
            await proc.wait()
        await page.wait_for_selector("#banner:not([hidden])")  # "reconnecting…", the ticket stays on screen
        assert await k.text("#ticket") == ticket
        async with running_service("--port", str(port), env=env, stderr=asyncio.subprocess.DEVNULL):
            await page.wait_for_selector("#banner", state="hidden", timeout=30000)
            await k.screen("waiting")
            assert await k.text("#ticket") == ticket
            await page.click("#btn-leave")  # leaving the queue ends it and clears the page
            await page.click("#modal-yes")
            await k.screen("welcome")
            assert await k.text("#ticket") == ""
        assert not k.errors, k.errors
    finally:
        await page.close()


async def test_a_page_without_a_booth_token_asks_for_set_up(browser: Browser, booth_account: Any,
                                                            tmp_path: Path) -> None:
    page = await browser.new_page(viewport=VIEWPORT)
    k = Kiosk(page, tmp_path, "zh")
    await page.goto(f"{booth_account.url}/booth/{booth_account.id}")
    await k.screen("setup")
    assert f"/booth/{booth_account.id}?token=" in await k.text("#setup-tech")
    await page.goto(f"{booth_account.url}/booth/{booth_account.id}?token=wrong-token")
    await k.screen("setup")
    assert "授权已失效" in await k.text("#setup-body")
    await page.close()


async def test_the_page_and_the_catalogue_over_http(booth_account: Any) -> None:
    url = booth_account.url
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/booth/{booth_account.id}") as resp:
            assert resp.status == 200 and "kiosk.js" in await resp.text()
            csp = resp.headers["Content-Security-Policy"]
            assert "script-src 'self'" in csp and "http://127.0.0.1:*" in csp
            assert resp.headers["Referrer-Policy"] == "no-referrer" and resp.headers["Cache-Control"] == "no-store"
        async with http.get(f"{url}/booth/Not_A_Booth") as resp:
            assert resp.status == 404
        async with http.get(f"{url}/api/catalogue") as resp:
            body = await resp.json()
    catalogue = booth_account.srv.app[CATALOGUE]
    assert [p["code"] for p in body["provinces"]] == [g.province.code for g in catalogue.regions_for_kiosk()]
    assert len(body["matters"]) == len(catalogue.matters)
    assert {m["audience"] for m in body["matters"]} == {"person", "company"}
    first = body["matters"][0]
    assert set(first) >= {"code", "name_zh", "name_en", "region", "audience", "theme", "materials"}
    for asset in ("/kiosk/static/kiosk.js", "/kiosk/vendor/qrcode.mjs", "/kiosk/vendor/socket.io.esm.min.js",
                  "/kiosk/protocol/protocol.js"):
        async with aiohttp.ClientSession() as http, http.get(url + asset) as resp:
            assert resp.status == 200, asset


TOUCH_PX = 44  # the smallest touch target (WCAG 2.5.5), in CSS pixels


async def small_targets(page: Page) -> list[str]:
    """The visible buttons of the active screen (and the top bar) smaller than TOUCH_PX."""
    return list(await page.evaluate(
        """(min) => [...document.querySelectorAll('button, [role=button], a[href], input, select')]
            .filter(e => e.offsetParent !== null && !e.closest('section[data-screen]:not(.active)'))
            .map(e => [e, e.getBoundingClientRect()])
            .filter(([e, r]) => r.width > 0 && (r.width < min || r.height < min))
            .map(([e, r]) => `${e.id || e.className || e.tagName} ${Math.round(r.width)}x${Math.round(r.height)}`)""",
        TOUCH_PX))


@pytest.mark.parametrize("viewport", [{"width": 1024, "height": 768}, {"width": 1920, "height": 1080}],
                         ids=["1024x768", "1920x1080"])
async def test_every_touch_target_is_big_enough(browser: Browser, booth_account: Any, demo: dict[str, str],
                                                viewport: dict[str, int], tmp_path: Path) -> None:
    catalogue = booth_account.srv.app[CATALOGUE]
    matter, region = matter_in(catalogue, demo["matter"])
    page = await browser.new_page(viewport=viewport)
    k = Kiosk(page, tmp_path, "zh")
    try:
        await page.goto(f"{booth_account.url}/booth/{booth_account.id}?token={booth_account.token}")
        small: dict[str, list[str]] = {}
        await k.screen("welcome")
        small["welcome"] = await small_targets(page)
        await page.click("#btn-start")
        await k.screen("matter")
        small["matter"] = await small_targets(page)
        await page.click(f"#matter-list [data-matters~='{matter.code}']")
        await k.screen("place")
        small["place"] = await small_targets(page)
        await page.click(f"#place-list [data-region='{region.code}'][data-matter='{matter.code}']")
        await k.screen("priority")
        small["priority"] = await small_targets(page)
        await page.click("[data-priority='']")
        await k.screen("consent")
        small["consent"] = await small_targets(page)
        assert not any(small.values()), {screen: found for screen, found in small.items() if found}
        assert not k.errors
    finally:
        await page.close()
