"""The receipt in real Chromium at 1080×1920 (issue 18), Chinese and English: a 需补正 session lists
the missing materials with how to supply each; a 寄递 session shows the masked address; 打印回执's
print layout fits an 80 mm receipt printer and prints nothing else; the QR code's URL opens the
public status page with the matter, the state and the next step.

Real parts only: a window_server in demo mode (booth ``sh-huangpu-01``, token ``demo-<booth>``), the
kiosk page in Chromium, the specialist on a real /agent socket.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page

from tests.booth.test_kiosk_page import small_targets
from tests.screens import Screens, walk_to_consent
from tests.signaling.conftest import SECRET, Client, token
from window_server.domain.auth import Role

MATTER = "js-320600-housing-fund-transfer"  # served by js-nantong; all three materials originals
REGION = "320600"
BOOTH = "sh-huangpu-01"
AGENT, HOME = "spec-js-nantong", "js-nantong"
PORTRAIT = {"width": 1080, "height": 1920}
MM80_PX = 302  # 80 mm at 96 CSS px per inch, rounded down
RECIPIENT, PHONE, ADDRESS = "王小明", "13912345678", "江苏省南通市崇川区人民中路188号5栋1203室"

WORDS = {
    "zh": {"missing": "还需要补交这些材料", "post": "请邮寄到南通市住房公积金管理中心", "visit": "请带原件回来现场补交",
           "delivery": "办理结果将寄到：江苏省南通市崇川区****", "state": "需要补正材料", "next": "请按下面的清单补交材料",
           "posted": "结果将邮寄给您", "status_visit": "请带原件回来现场补交", "matter": "住房公积金异地转移接续", "print": "打印回执"},
    "en": {"missing": "Please still supply these documents", "post": "Please post it to 南通市住房公积金管理中心",
           "visit": "Please bring the original back here",
           "delivery": "The result will be posted to: 江苏省南通市崇川区****", "state": "Some materials are still needed",
           "next": "Please supply the materials listed below", "posted": "The result will be posted to you.", "status_visit": "Please bring the original back to the hall",
           "matter": "Transfer of the housing provident fund between cities", "print": "Print receipt"},
}


async def _to_receipt(k: Screens, agent: Client, url: str, lang: str, complete: dict[str, Any],
                      before: Any = None) -> str:
    """A citizen takes a ticket, the specialist serves and completes; the citizen skips the rating."""
    page = k.page
    await walk_to_consent(page, f"{url}/booth/{BOOTH}?token=demo-{BOOTH}&idle=600", REGION, MATTER)
    if lang == "en":
        await page.click("#btn-lang")
    await page.click("#consent-yes")
    await k.screen("waiting")
    offer = await agent.next("offer", within=30)
    sid: str = offer["sid"]
    await agent.ok("accept", {"sid": sid})
    await k.screen("service")
    if before is not None:
        await before(sid)
    await agent.ok("complete", {"sid": sid, **complete})
    await k.screen("rating")
    await page.click("#rating-skip")
    await k.screen("receipt")
    await page.wait_for_selector("#receipt-qr[data-qr*='/r/']")
    return sid


async def _print_layout(page: Page) -> dict[str, Any]:
    """The receipt's box and what else is visible, as printed."""
    await page.emulate_media(media="print")
    try:
        return dict(await page.evaluate("""() => {
            const box = document.querySelector('#receipt').getBoundingClientRect();
            const qr = document.querySelector('#receipt-qr').getBoundingClientRect();
            const receipt = document.querySelector('#receipt');
            const visible = [...document.querySelectorAll('body *')]
              .filter(e => !receipt.contains(e) && !e.contains(receipt) && e.getClientRects().length > 0
                           && getComputedStyle(e).visibility !== 'hidden')
              .map(e => e.id || e.className || e.tagName);
            return {bottom: box.bottom, top: box.top, width: box.width, right: box.right, height: box.height, qr_right: qr.right, qr_width: qr.width, visible};
        }"""))
    finally:
        await page.emulate_media(media="screen")


async def test_a_needs_supplement_receipt_lists_each_material_with_how_and_prints_on_80mm(
        start_server: Any, browser: Browser, tmp_path: Path) -> None:
    await _supplement(start_server, browser, tmp_path, "zh")


async def test_the_same_receipt_in_english(start_server: Any, browser: Browser, tmp_path: Path) -> None:
    await _supplement(start_server, browser, tmp_path, "en")


async def _supplement(start_server: Any, browser: Browser, tmp_path: Path, lang: str) -> None:
    srv = await start_server(demo=True, secret=SECRET)
    agent = Client("/agent")
    await agent.connect(srv.url, token(Role.SPECIALIST, AGENT, HOME, "/agent", langs=("zh", "en")))
    await agent.ok("presence", {"status": "available"})
    ctx = await browser.new_context(viewport=PORTRAIT, locale="zh-CN")
    k = Screens(await ctx.new_page(), tmp_path, f"receipt-{lang}")
    w = WORDS[lang]
    try:
        await _to_receipt(k, agent, str(srv.url), lang, {"outcome": "needs_supplement", "missing": [
            {"kind": "application_form", "how": "post"}, "id_card_back"]})
        page = k.page
        assert await k.text("#receipt-missing-box h2") == w["missing"]
        rows = await page.locator("#receipt-missing li").all_inner_texts()
        assert len(rows) == 2
        assert w["post"] in rows[0] and w["visit"] in rows[1]
        assert await page.get_attribute("#receipt-missing li:nth-child(2)", "data-how") == "visit"
        assert await page.locator("#receipt-delivery").is_hidden()
        assert await k.text("#receipt-print") == w["print"]
        assert not await small_targets(page)
        await k.shot("receipt")

        # Printed: one column no wider than 80 mm, the QR code inside it, nothing else of the page.
        layout = await _print_layout(page)
        assert layout["width"] <= MM80_PX and layout["right"] <= MM80_PX, layout
        assert layout["qr_right"] <= MM80_PX and layout["qr_width"] >= 120, layout
        assert layout["visible"] == [], layout["visible"]
        await page.emulate_media(media="print")
        await page.screenshot(path=str(tmp_path / f"receipt-{lang}-print.png"), clip={
            "x": 0, "y": 0, "width": MM80_PX, "height": layout["height"]})
        await page.emulate_media(media="screen")
        pdf = await page.pdf(width="80mm", height="297mm", print_background=False)  # a length of roll
        (tmp_path / f"receipt-{lang}.pdf").write_bytes(pdf)
        assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1, layout  # the whole receipt on one narrow page
        box = re.search(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)
        assert box and 226 <= float(box.group(1)) <= 228  # 80 mm in points
        (tmp_path / f"receipt-{lang}.pdf").write_bytes(pdf)

        # The QR code's URL opens the public status page.
        url = await page.get_attribute("#receipt-qr", "data-qr")
        assert url and re.fullmatch(rf"{re.escape(str(srv.url).rstrip('/'))}/r/[A-Za-z0-9_-]{{22}}", url), url
        status = Screens(await ctx.new_page(), tmp_path, f"status-{lang}")
        await status.page.goto(url)
        if lang == "en":
            await status.page.click("#btn-lang")
        assert w["matter"] in await status.page.locator("#status-matter h2").inner_text()
        assert await status.page.locator("#status-words").inner_text() == w["state"]
        assert w["next"] in await status.page.locator("#status-next").inner_text()
        assert w["status_visit"] in await status.page.locator("#status-missing").inner_text()
        await status.shot("status")
        assert not status.errors and not k.errors, (status.errors, k.errors)
    finally:
        await ctx.close()
        await agent.close()


async def test_a_postal_receipt_shows_the_masked_address_in_both_languages(
        start_server: Any, browser: Browser, tmp_path: Path) -> None:
    srv = await start_server(demo=True, secret=SECRET)
    agent = Client("/agent")
    await agent.connect(srv.url, token(Role.SPECIALIST, AGENT, HOME, "/agent", langs=("zh", "en")))
    await agent.ok("presence", {"status": "available"})
    ctx = await browser.new_context(viewport=PORTRAIT, locale="zh-CN")
    k = Screens(await ctx.new_page(), tmp_path, "postal")
    try:
        for lang in ("zh", "en"):
            w = WORDS[lang]

            async def address(sid: str) -> None:
                await agent.ok("delivery_address", {"sid": sid, "recipient": RECIPIENT, "phone": PHONE,
                                                    "address": ADDRESS})

            await _to_receipt(k, agent, str(srv.url), lang, {"outcome": "postal_delivery"}, before=address)
            page = k.page
            where = await k.text("#receipt-delivery")
            assert where.startswith(w["delivery"]), where
            html = await page.content()
            for secret in (RECIPIENT, PHONE, "人民中路", "1203"):
                assert secret not in html
            assert await page.locator("#receipt-missing-box").is_hidden()
            layout = await _print_layout(page)
            assert layout["width"] <= MM80_PX and layout["visible"] == [], layout
            await k.shot(f"receipt-{lang}")

            status = await ctx.new_page()
            await status.goto(await page.get_attribute("#receipt-qr", "data-qr") or "")
            text = await status.locator("main").inner_text()
            assert WORDS["zh"]["posted"] in text and "南通市住房公积金管理中心" in text
            for secret in (RECIPIENT, PHONE, "人民中路", "崇川区", "王*"):
                assert secret not in await status.content()
            await status.close()

            await page.click("#receipt-done")  # the next citizen
            await k.screen("welcome")
            assert await k.text("#receipt-delivery") == "" and await page.get_attribute("#receipt-qr", "data-qr") == ""
            await agent.ok("presence", {"status": "available"})  # ready again before the wrap-up ends
        assert not k.errors, k.errors
    finally:
        await ctx.close()
        await agent.close()


async def test_a_call_ended_without_an_outcome_says_so_on_the_receipt(
        start_server: Any, browser: Browser, tmp_path: Path) -> None:
    srv = await start_server(demo=True, secret=SECRET)
    agent = Client("/agent")
    await agent.connect(srv.url, token(Role.SPECIALIST, AGENT, HOME, "/agent", langs=("zh", "en")))
    await agent.ok("presence", {"status": "available"})
    ctx = await browser.new_context(viewport=PORTRAIT, locale="zh-CN")
    k = Screens(await ctx.new_page(), tmp_path, "hang-up")
    try:
        page = k.page
        await walk_to_consent(page, f"{srv.url}/booth/{BOOTH}?token=demo-{BOOTH}&idle=600", REGION, MATTER)
        await page.click("#consent-yes")
        offer = await agent.next("offer", within=30)
        await agent.ok("accept", {"sid": offer["sid"]})
        await k.screen("service")
        # the citizen's 结束通话 (helper C's button sends this request once confirmed)
        reply = await page.evaluate("""(sid) => import('/kiosk/static/connection.js')
            .then((m) => m.request('hang_up', {sid}))""", offer["sid"])
        assert "ok" in reply, reply
        await k.screen("rating")
        await page.click("#rating-skip")
        await k.screen("receipt")
        assert await k.text("#receipt-outcome") == "通话已结束"
        assert "如还需办理，请重新取号" in await k.text("#receipt-next")
        assert await page.locator("#receipt-missing-box").is_hidden()
        await page.wait_for_selector("#receipt-qr[data-qr*='/r/']")
        await k.shot("receipt")
        assert not k.errors, k.errors
    finally:
        await ctx.close()
        await agent.close()
