"""Issue 18's Done-when in one walk, in real Chromium at 1080×1920: an elderly citizen finds the
matter by its pinyin initials, is asked the place after it, takes the priority lane and agrees to
the recording; in the session the specialist types (shown large), the citizen answers with a
quick-reply chip, reads and signs the letter of commitment with a finger; the session ends 需补正,
the receipt lists what is missing and how, its print layout fits an 80 mm roll, and the QR code
opens the public status page with the next step. The parts are tested in depth in tests/kiosk,
tests/conversation, tests/signing, tests/outcomes and tests/hall (the seated citizen called back
from the hall display, the call-staff alert reaching the hall staff view).

Real parts: a window_server in demo mode, the kiosk in Chromium, the specialist on a real /agent
socket (the console's own pages are walked in the parts' tests).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.async_api import Browser

from tests.outcomes.test_receipt_page import MM80_PX, _print_layout
from tests.screens import Screens
from tests.signaling.conftest import SECRET, Client, token
from tests.signing.test_kiosk_signing import draw
from window_server.domain.auth import Role

MATTER = "js-320600-housing-fund-transfer"  # 住房公积金异地转移接续: three regions, served by js-nantong
BOOTH = "sh-huangpu-01"
AGENT, HOME = "spec-js-nantong", "js-nantong"
PORTRAIT = {"width": 1080, "height": 1920}


async def test_pinyin_search_to_a_signed_needs_supplement_receipt_and_its_status_page(
        start_server: Any, browser: Browser, tmp_path: Path) -> None:
    srv = await start_server(demo=True, secret=SECRET)
    agent = Client("/agent")
    await agent.connect(srv.url, token(Role.SPECIALIST, AGENT, HOME, "/agent", langs=("zh", "en")))
    await agent.ok("presence", {"status": "available"})
    ctx = await browser.new_context(viewport=PORTRAIT, locale="zh-CN")
    k = Screens(await ctx.new_page(), tmp_path, "journey")
    page = k.page
    try:
        # Finding the matter: pinyin initials of 住房公积金异地转移接续, then the place it belongs to.
        await page.goto(f"{srv.url}/booth/{BOOTH}?token=demo-{BOOTH}&idle=600")
        await k.screen("welcome")
        await page.click("#btn-start")
        await k.screen("matter")
        await page.fill("#matter-search", "zfgjjydzy")
        await page.wait_for_selector("#matter-list [data-name='住房公积金异地转移接续']")
        await k.shot("search")
        await page.click("#matter-list [data-name='住房公积金异地转移接续']")
        await k.screen("place")
        assert await page.locator("#place-list .place").count() == 3  # asked because three places own it
        await page.click("#place-list [data-region='320600']")
        await k.screen("priority")
        assert "南通市住房公积金管理中心" in await k.text("body")  # the department, shown before the ticket
        await page.click("[data-priority='elderly']")
        await k.screen("consent")
        await page.click("#consent-yes")
        await k.screen("waiting")
        assert (await k.text("#ticket")).startswith("P")  # the priority lane

        offer = await agent.next("offer", within=30)
        sid: str = offer["sid"]
        assert offer["matter"] == MATTER
        await agent.ok("accept", {"sid": sid})
        await k.screen("service")
        await page.wait_for_selector("#materials li[data-state='needed']")  # the matter's checklist, before any still

        # Text beside the video: the specialist's words large, the citizen's quick reply back.
        await agent.ok("chat", {"sid": sid, "text": "请把户口本放到拍摄仪下面"})
        await page.wait_for_selector("#chat-latest:has-text('请把户口本放到拍摄仪下面')")
        await page.click("#chat-chips [data-quick='no_material']")
        said = await agent.next("chat", lambda d: d.get("from") == "booth", within=15)
        assert said["quick"] == "no_material" and said["text"] == "我没有这个材料"
        await k.shot("chat")

        # Signing: the letter of commitment, read and signed with a finger.
        await agent.ok("sign_request", {"sid": sid, "doc": "commitment"})
        await page.wait_for_selector("#signing:not([hidden]) #sign-doc p")
        assert sid in await k.text("#sign-doc")
        await page.click("#sign-go")
        await page.wait_for_selector("#sign-pad-step:not([hidden])")
        await draw(page, [[(0.1, 0.7), (0.2, 0.3), (0.3, 0.7), (0.4, 0.35)], [(0.5, 0.5), (0.7, 0.45), (0.9, 0.5)]])
        await page.click("#sign-confirm")
        signed = await agent.next("signature_added", within=20)
        assert signed["sid"] == sid
        await page.wait_for_selector("#signing", state="hidden")
        await k.shot("signed")

        # 需补正: the receipt says what is missing and how to supply each.
        await agent.ok("complete", {"sid": sid, "outcome": "needs_supplement",
                                    "missing": [{"kind": "application_form", "how": "post"}]})
        await k.screen("rating")
        await page.click("#rating-list [data-level='5']")
        await k.screen("receipt")
        rows = await page.locator("#receipt-missing li").all_inner_texts()
        assert len(rows) == 1 and "请邮寄到南通市住房公积金管理中心" in rows[0], rows
        assert await k.text("#receipt-rating") == "非常满意"
        await k.shot("receipt")

        layout = await _print_layout(page)  # the receipt printer's 80 mm roll, nothing else printed
        assert layout["width"] <= MM80_PX and layout["visible"] == [], layout

        url = await page.get_attribute("#receipt-qr", "data-qr")
        assert url and re.fullmatch(rf"{re.escape(str(srv.url).rstrip('/'))}/r/[A-Za-z0-9_-]{{22}}", url), url
        status = Screens(await ctx.new_page(), tmp_path, "status")
        await status.page.goto(url)
        assert "住房公积金异地转移接续" in await status.page.locator("#status-matter").inner_text()
        assert await status.page.locator("#status-words").inner_text() == "需要补正材料"
        assert "请邮寄" in await status.page.locator("#status-missing").inner_text()
        assert sid not in await status.page.content()  # the public page names no session, no person
        await status.shot("status")
        assert not k.errors and not status.errors, (k.errors, status.errors)
    finally:
        await ctx.close()
        await agent.close()
