"""The kiosk records the call (issue 16): the consent screen, declining, and a recorded call.

Real parts only: a window_server app on 127.0.0.1 in demo mode (its booth ``sh-huangpu-01`` and
specialist ``spec-js-nantong``), the kiosk page and the specialist's console in two Chromium
contexts with the fake camera and microphone. The kiosk's MediaRecorder uploads real WebM chunks;
the server's own answer (``GET /api/sessions/{sid}/recording``, asked as the specialist) shows
what arrived.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import av
import pytest
from playwright.async_api import Browser, BrowserContext, Page

from tests.console.conftest import VIEWPORT
from tests.screens import Screens, chromium, open_screens, specialist_ready, walk_to_consent

from .test_kiosk_page import small_targets

MATTER = "js-320600-housing-fund-transfer"  # served by js-nantong
REGION = "320600"
BOOTH = "sh-huangpu-01"  # demo mode's booth of the intake centre, token demo-<booth>
SPECIALIST = "spec-js-nantong"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    # A booth runs Chromium with sound allowed without a touch (docs/booth.md): the recorder's mix too.
    async with chromium("--autoplay-policy=no-user-gesture-required") as b:
        yield b


async def open_page(browser: Browser, shots: Path, who: str) -> tuple[BrowserContext, Screens]:
    return await open_screens(browser, shots, who, VIEWPORT)


async def to_consent(k: Screens, base: str) -> None:
    await walk_to_consent(k.page, f"{base}/booth/{BOOTH}?token=demo-{BOOTH}", REGION, MATTER)


async def test_the_consent_screen_says_what_who_and_how_long_and_declining_sends_to_the_counter(
        start_server: Any, browser: Browser, tmp_path: Path) -> None:
    srv = await start_server(demo=True, recording_retention_days=30)
    ctx, k = await open_page(browser, tmp_path, "kiosk")
    try:
        await to_consent(k, srv.url)
        # What is recorded, who may see it, how long it is kept (the server's retention setting).
        assert "画面和声音" in await k.text("#consent-what") and "共享的屏幕" in await k.text("#consent-what")
        assert "专员和他们的主管" in await k.text("#consent-who")
        # Who may join live (issue 19's guests): the supervisor and the approving department.
        assert "主管可能旁听" in await k.text("#consent-join") and "审批的部门" in await k.text("#consent-join")
        assert "保存 30 天" in await k.text("#consent-keep")
        await k.shot("consent")
        await k.page.click("#btn-lang")
        assert (await k.text("#consent-keep")).startswith("30 days")
        assert "approving department" in await k.text("#consent-join")
        assert "screen shared" in await k.text("#consent-what")
        await k.page.click("#btn-lang")
        assert not await small_targets(k.page)

        # 不同意: no ticket, no queue; the hall's counter, and a big way back to the start.
        await k.page.click("#consent-no")
        await k.screen("declined")
        assert await k.text("#declined-counter") == "请到大厅人工窗口办理，工作人员会帮您。"
        assert "全程录音录像" in await k.text("section[data-screen=declined] .lead")
        spoken = await k.page.evaluate("window.rwKioskSpoken()")
        assert "人工窗口" in spoken[-1]["text"]
        assert not await small_targets(k.page)
        await k.shot("declined")
        await k.page.click("#declined-home")
        await k.screen("welcome")
        assert await k.text("#ticket") == ""
        assert not k.errors, k.errors
    finally:
        await ctx.close()


def frame_sizes(webm: bytes) -> dict[tuple[int, int], int]:
    """How many video frames of each size a WebM decodes to."""
    sizes: dict[tuple[int, int], int] = {}
    with av.open(io.BytesIO(webm)) as f:
        for frame in f.decode(video=0):
            sizes[(frame.width, frame.height)] = sizes.get((frame.width, frame.height), 0) + 1
    return sizes


async def recording_of(console: Page, base: str, sid: str) -> dict[str, Any]:
    """``GET /api/sessions/{sid}/recording`` with the specialist's login cookie."""
    resp = await console.request.get(f"{base}/api/sessions/{sid}/recording")
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def test_a_call_is_recorded_and_both_screens_say_so(start_server: Any, browser: Browser, tmp_path: Path) -> None:
    srv = await start_server(demo=True)
    cctx, c = await open_page(browser, tmp_path, "console")
    kctx, k = await open_page(browser, tmp_path, "kiosk")
    try:
        await specialist_ready(c.page, srv.url, SPECIALIST)

        await to_consent(k, srv.url)
        await k.page.click("#consent-yes")
        await k.screen("waiting")
        await c.page.wait_for_selector("#offer:not([hidden])", timeout=15000)
        await c.page.keyboard.press("a")
        await c.page.wait_for_selector("#service:not([hidden])")
        sid = str(await c.page.evaluate("window.rwConsole.state.sess.sid"))
        await k.screen("service")

        # The kiosk records once the call has media, and says so while its chunks are acknowledged.
        await k.page.wait_for_function("() => window.__rwRecorder.acked >= 1", timeout=30000)
        await k.page.wait_for_selector("#rec-badge:not([hidden])")
        assert await k.text("#rec-badge") == "● 录制中"
        snap = await k.page.evaluate("window.__rwRecorder")
        assert snap["state"] == "recording" and snap["segment"] == 0 and snap["failed"] == 0, snap
        await c.page.wait_for_selector("#s-rec:not([hidden])")  # the console heard recording_status
        assert await c.text("#s-rec") == "● 录制中"
        await k.shot("recording")
        await c.shot("recording")

        # A screen share is drawn into the recording while it lasts: the citizen shares the booth's.
        await c.page.click("#btn-ask-share")
        await k.page.wait_for_selector("#modal:not([hidden])")
        await k.page.click("#modal-yes")
        await k.page.wait_for_function("() => window.__rwRecorder.drawing.share === true", timeout=20000)
        drawing = await k.page.evaluate("window.__rwRecorder.drawing")
        assert drawing == {"remote": True, "local": True, "share": True}, drawing
        acked = int(await k.page.evaluate("window.__rwRecorder.acked"))  # a chunk cut with the share in it
        await k.page.wait_for_function(f"() => window.__rwRecorder.acked > {acked}", timeout=20000)
        await k.page.click("#btn-share-stop")
        await k.page.wait_for_function("() => !window.__rwRecorder.drawing.share", timeout=20000)

        body = await recording_of(c.page, srv.url, sid)
        seg = body["recording"]["segments"][0]
        assert seg["n"] == 0 and seg["chunks"] >= 1 and seg["bytes"] > 0, body
        assert {"role": "booth", "id": BOOTH} in seg["present"]
        assert any(p["role"] == "specialist" and p["id"] == SPECIALIST for p in seg["present"]), seg

        # The end of the call ends the segment: its last chunk, then its end; nothing missing.
        await c.page.keyboard.press("e")
        await c.page.check("input[name=outcome][value=consultation]")
        await c.page.click("#done-submit")
        await k.screen("rating")
        await k.page.wait_for_function(
            "() => window.__rwRecorder.state === 'idle' && window.__rwRecorder.queued === 0", timeout=20000)
        assert await k.page.is_hidden("#rec-badge")
        seg = (await recording_of(c.page, srv.url, sid))["recording"]["segments"][0]
        assert seg["ended_at"] and seg["complete"] and not seg["gaps"], seg
        snap = await k.page.evaluate("window.__rwRecorder")
        assert seg["chunks"] == snap["acked"] == snap["sent"] and snap["dropped"] == 0, (seg, snap)

        # What was recorded decodes: both faces at 640x360 side by side, twice as tall while shared.
        resp = await c.page.request.get(f"{srv.url}/api/sessions/{sid}/recording/segments/0.webm")
        assert resp.status == 200
        sizes = await asyncio.to_thread(frame_sizes, await resp.body())
        assert set(sizes) == {(1280, 360), (1280, 720)}, sizes
        assert not k.errors and not c.errors, (k.errors, c.errors)
    finally:
        await kctx.close()
        await cctx.close()
