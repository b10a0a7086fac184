"""The conversation in real Chromium: the kiosk at 1080×1920 (and 1920×1080) and the specialist's
console, in Chinese and in English.

Issue 18 (helper C). A window_server app in demo mode (booth ``sh-huangpu-01``, specialist
``spec-js-nantong`` with service number JS0600-01); the kiosk and the console in two Chromium
contexts with the fake camera and microphone, calling each other. The kiosk shows who serves
(centre · 工号), the specialist's typed words large, sends a quick reply and typed words the
console shows (a quick reply in Chinese with its key), gets the conversation back after a
reload (so does the console), shows every spoken prompt as a caption and, headless Chromium
having no voices, says that this machine cannot speak; then the citizen hangs up, confirms,
and rates. Screenshots of every step land in the test's tmp folder.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext

from tests.kiosk.brief import axe_findings, measure
from tests.screens import Screens, chromium, open_screens, specialist_ready, walk_to_consent
from window_server.appkeys import STORE

MATTER = "js-320600-housing-fund-transfer"  # served by js-nantong
REGION = "320600"
BOOTH = "sh-huangpu-01"  # demo mode's booth, token demo-<booth>
SPECIALIST = "spec-js-nantong"
STAFF_NO = "JS0600-01"  # its demo service number, from its centre
PORTRAIT = {"width": 1080, "height": 1920}
LANDSCAPE = {"width": 1920, "height": 1080}
CONSOLE = {"width": 1600, "height": 900}
ID_NUMBER = "11010519491231002X"  # a well-formed (fictional) resident ID number

WORDS = {
    "zh": {"serving": f"为您服务：南通市政务服务中心 · 工号 {STAFF_NO}", "cant_hear": "听不清",
           "no_voice": "本机没有语音播报，请看屏幕上的文字", "send": "发送", "hangup": "结束通话"},
    "en": {"serving": f"Serving you: Nantong Government Service Centre · staff no. {STAFF_NO}",
           "cant_hear": "I can't hear you", "no_voice": "This machine cannot speak. Please read the text on the screen.",
           "send": "Send", "hangup": "End call"},
}
MINE = ("chat", "serving", "caption", "hang-up", "modal")  # the elements this part added (and the modal)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium("--autoplay-policy=no-user-gesture-required") as b:
        yield b


async def open_page(browser: Browser, shots: Path, who: str, viewport: dict[str, int]) -> tuple[BrowserContext, Screens]:
    return await open_screens(browser, shots, who, viewport, bypass_csp=True)  # axe-core is injected


async def px(page: Any, selector: str, prop: str = "fontSize") -> float:
    return float(await page.eval_on_selector(selector, f"(e) => parseFloat(getComputedStyle(e).{prop})"))


async def height(page: Any, selector: str) -> float:
    return float(await page.eval_on_selector(selector, "(e) => e.getBoundingClientRect().height"))


def mine(found: dict[str, list[str]]) -> list[str]:
    return [f for rows in found.values() for f in rows if any(m in f for m in MINE)]


@pytest.mark.parametrize(("lang", "viewport"), [("zh", PORTRAIT), ("en", PORTRAIT), ("zh", LANDSCAPE)],
                         ids=["zh-portrait", "en-portrait", "zh-landscape"])
async def test_text_beside_the_video_who_serves_captions_and_the_hang_up(
        lang: str, viewport: dict[str, int], start_server: Any, browser: Browser, tmp_path: Path) -> None:
    w = WORDS[lang]
    srv = await start_server(demo=True)
    cctx, c = await open_page(browser, tmp_path, f"{lang}-console", CONSOLE)
    kctx, k = await open_page(browser, tmp_path, f"{lang}-kiosk", viewport)
    try:
        await specialist_ready(c.page, srv.url, SPECIALIST)

        await walk_to_consent(k.page, f"{srv.url}/booth/{BOOTH}?token=demo-{BOOTH}", REGION, MATTER)
        await k.page.click("#consent-yes")
        await k.screen("waiting")
        if lang == "en":  # the ticket is for Chinese-speaking specialists; the citizen reads English
            await k.page.click("#btn-lang")
        # Every spoken prompt is on screen too; headless Chromium has no voice: the kiosk says so.
        assert await k.page.evaluate("speechSynthesis.getVoices().length") == 0
        await k.page.wait_for_selector("#caption:not([hidden]) #caption-novoice:not([hidden])")
        assert await k.text("#caption-novoice") == w["no_voice"]
        spoken = await k.page.evaluate("window.rwKioskSpoken()")
        assert spoken and await k.text("#caption-text") == spoken[-1]["text"]
        assert await px(k.page, "#caption-text") >= 28
        await k.shot("waiting-caption")

        await c.page.wait_for_selector("#offer:not([hidden])", timeout=15000)
        await c.page.keyboard.press("a")
        await c.page.wait_for_selector("#service:not([hidden])")
        sid = str(await c.page.evaluate("window.rwConsole.state.sess.sid"))
        await k.screen("service")

        # Who serves: the centre and the service number, never a name.
        await k.page.wait_for_selector(f"#serving:text-is('{w['serving']}')")
        assert await px(k.page, "#serving") >= 28

        # The specialist types (Enter sends); the kiosk shows it large, ID numbers masked.
        await c.page.fill("#chat-input", f"请把身份证放到拍摄仪下面 {ID_NUMBER}")
        await c.page.press("#chat-input", "Enter")
        await k.page.wait_for_selector("#chat-latest:not(.empty)")
        latest = await k.text("#chat-latest")
        assert latest.startswith("请把身份证放到拍摄仪下面") and ID_NUMBER not in latest and "********" in latest
        assert await px(k.page, "#chat-latest") >= 36
        assert await k.page.get_attribute("#chat-latest", "aria-live") == "polite"
        await c.page.wait_for_selector("#chat-list li.from-agent")
        assert await c.page.input_value("#chat-input") == ""

        # The citizen answers with a quick reply and with typed words; the console shows both,
        # the quick reply in Chinese with its key.
        chip = "#chat-chips [data-quick='cant_hear']"
        assert await k.text(chip) == w["cant_hear"] and await height(k.page, chip) >= 80
        await k.page.click(chip)
        await c.page.wait_for_selector("#chat-list li[data-quick='cant_hear']")
        seen = await c.page.text_content("#chat-list li[data-quick='cant_hear']") or ""
        assert "听不清" in seen and "cant_hear" in seen
        await k.page.fill("#chat-input", "我没带户口本")
        assert await k.text("#chat-send") == w["send"]
        await k.page.click("#chat-send")
        await c.page.wait_for_selector("#chat-list li.from-booth:has-text('我没带户口本')")
        await k.page.wait_for_selector("#chat-log li >> nth=2")
        assert await k.text("#chat-latest") == latest  # the specialist's words stay the big ones
        for sel in ("#chat-log li", "#chat-input", "#chat-title"):
            assert await px(k.page, sel) >= 28, sel
        assert await height(k.page, "#btn-hang-up") >= 80 and await height(k.page, "#chat-send") >= 80
        found = await measure(k.page)
        assert mine(found) == [], found
        assert [f for f in await axe_findings(k.page) if any(m in f for m in MINE)] == []
        await k.shot("service-chat")
        await c.shot("console-chat")

        # A reload of either page brings the conversation back.
        await k.page.reload()
        await k.screen("service")
        await k.page.wait_for_selector("#chat-log li >> nth=2")
        assert await k.text("#chat-latest") == latest
        if lang == "en":
            await k.page.click("#btn-lang")
        await k.page.wait_for_selector(f"#serving:text-is('{w['serving']}')")
        await k.page.wait_for_selector(f"#chat-log li.from-booth:has-text(\"{w['cant_hear']}\")")
        await c.page.reload()
        await c.page.wait_for_selector("#service:not([hidden])", timeout=15000)
        await c.page.wait_for_selector("#chat-list li >> nth=2")
        await k.shot("after-reload")

        # The citizen ends the call: a confirmation first, then the rating.
        assert await k.text("#btn-hang-up") == w["hangup"]
        await k.page.click("#btn-hang-up")
        await k.page.wait_for_selector("#modal:not([hidden])")
        await k.shot("hang-up-confirm")
        await k.page.click("#modal-no")  # not yet: the call goes on
        assert await k.page.is_hidden("#modal")
        await k.screen("service")
        await k.page.click("#btn-hang-up")
        await k.page.click("#modal-yes")
        await k.screen("rating")
        await k.shot("rating")
        await c.page.wait_for_selector("#toasts :text('群众已结束通话')")
        await c.page.wait_for_selector("#idle:not([hidden])")
        await c.shot("console-hung-up")
        s = await srv.app[STORE].session(sid)
        assert (s["state"], s["outcome"]) == ("completed", "")
        await k.page.click("[data-level='4']")
        await k.screen("receipt")
        assert await k.text("#receipt-sid") == sid
        await k.page.click("#receipt-done")
        await k.screen("welcome")
        assert await k.page.locator("#chat-log li").count() == 0  # nothing of this citizen is left
        assert not k.errors and not c.errors, (k.errors, c.errors)
    finally:
        await kctx.close()
        await cctx.close()
