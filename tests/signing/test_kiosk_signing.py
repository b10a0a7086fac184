"""Signing in real Chromium: the specialist's console asks, the kiosk (1080×1920) shows the letter,
the citizen signs with the pointer and confirms; the console gets the signed PDF at once.

Issue 18 (helper B). A window_server app in demo mode (booth ``sh-huangpu-01``, specialist
``spec-js-nantong``); the kiosk and the console in two Chromium contexts with the fake camera. The
signature is drawn with ``page.mouse`` (pointer events on the pad's canvas); the PDF is downloaded
with the console's login and its stamp carries the session number and the document's SHA-256.
Then the application form is asked for and the citizen chooses 暂不签, which the console shows.
Screenshots of every step land in the test's tmp folder.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pikepdf
import pytest
from playwright.async_api import Browser, BrowserContext

from tests.kiosk.brief import axe_findings, measure
from tests.screens import Screens, chromium, open_screens, specialist_ready, walk_to_consent
from window_server.appkeys import REDIS
from window_server.evidence.chain import canonical
from window_server.signing.service import SIGNING
from window_server.store.keys import key

MATTER = "js-320600-housing-fund-transfer"  # served by js-nantong
REGION = "320600"
BOOTH = "sh-huangpu-01"  # demo mode's booth, token demo-<booth>
SPECIALIST = "spec-js-nantong"
PORTRAIT = {"width": 1080, "height": 1920}
LANDSCAPE = {"width": 1920, "height": 1080}
CONSOLE = {"width": 1600, "height": 900}
WORDS = {
    "zh": {"title": "告知承诺书", "form": "申请表", "page": "第 {n} 页，共 {total} 页"},
    "en": {"title": "Letter of commitment", "form": "Application form", "page": "Page {n} of {total}"},
}


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


async def open_page(browser: Browser, shots: Path, who: str, viewport: dict[str, int]) -> tuple[BrowserContext, Screens]:
    return await open_screens(browser, shots, who, viewport, bypass_csp=True)  # axe-core is injected


def signing_findings(found: dict[str, list[str]]) -> list[str]:
    """The size brief's findings among the signing view's elements (the document's paragraphs too)."""
    return [f for rows in found.values() for f in rows if "sign" in f or f.startswith(("p.zh", "p.en", "span.zh",
                                                                                         "span.en"))]


async def draw(page: Any, strokes: list[list[tuple[float, float]]]) -> None:
    """Write on the pad as a finger would: each stroke down, moved through its points, up."""
    box = await page.locator("#sign-pad").bounding_box()
    assert box and box["width"] > 300 and box["height"] > 150
    for stroke in strokes:
        x0, y0 = stroke[0]
        await page.mouse.move(box["x"] + x0 * box["width"], box["y"] + y0 * box["height"])
        await page.mouse.down()
        for x, y in stroke[1:]:
            await page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"], steps=4)
        await page.mouse.up()


@pytest.mark.parametrize(("lang", "viewport"), [("zh", PORTRAIT), ("en", LANDSCAPE)], ids=["zh-portrait", "en-landscape"])
async def test_the_citizen_reads_signs_and_the_specialist_gets_the_stamped_pdf(
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
        await c.page.wait_for_selector("#offer:not([hidden])", timeout=15000)
        await c.page.keyboard.press("a")
        await c.page.wait_for_selector("#service:not([hidden])")
        sid = str(await c.page.evaluate("window.rwConsole.state.sess.sid"))
        await k.screen("service")

        # The specialist asks (S, keyboard only): the letter of commitment is the first choice.
        await c.page.wait_for_selector("#btn-sign")
        await c.page.keyboard.press("s")
        await c.page.wait_for_selector("#dlg-sign[open]")
        await c.shot("ask-to-sign")
        await c.page.keyboard.press("Enter")
        await c.page.wait_for_selector("#sign-pending:not([hidden])")

        # The kiosk shows the document over the service screen, large, in pages.
        await k.page.wait_for_selector("#signing:not([hidden]) #sign-doc p")
        assert await k.page.evaluate("document.body.dataset.screen") == "service"  # the call goes on underneath
        if lang == "en":  # the view has its own language button: the bar is under it
            await k.page.click("#sign-lang")
            await k.page.wait_for_selector("#sign-doc p.en:visible")
            assert "binding" in await k.text("#sign-subtitle")
        assert w["title"] in await k.text("#sign-title")
        assert sid in await k.text("#sign-doc")
        assert "南通市住房公积金管理中心" in await k.text("#sign-doc")  # the department, from the catalogue
        for sel in ("#sign-doc p.zh", *(("#sign-doc p.en",) if lang == "en" else ())):
            size = await k.page.eval_on_selector(sel, "(e) => parseFloat(getComputedStyle(e).fontSize)")
            assert size >= 28
        assert signing_findings(await measure(k.page)) == []
        assert [f for f in await axe_findings(k.page) if "sign" in f] == []
        await k.shot("document")
        first = await k.text("#sign-where")
        assert await k.page.is_disabled("#sign-prev")
        pages = 1
        while not await k.page.is_disabled("#sign-next"):  # the big buttons page through it, no gestures
            await k.page.click("#sign-next")
            pages += 1
        assert first == w["page"].format(n=1, total=pages)
        if pages > 1:
            assert await k.text("#sign-where") == w["page"].format(n=pages, total=pages)
            await k.page.click("#sign-prev")
        await k.shot("document-end")

        # The pad: 确认签名 stays disabled until there is ink; 重写 clears it.
        await k.page.click("#sign-go")
        await k.page.wait_for_selector("#sign-pad-step:not([hidden])")
        assert await k.page.is_disabled("#sign-confirm")
        assert signing_findings(await measure(k.page)) == []
        await draw(k.page, [[(0.1, 0.7), (0.2, 0.3), (0.3, 0.7)]])
        assert not await k.page.is_disabled("#sign-confirm")
        await k.page.click("#sign-clear")
        assert await k.page.is_disabled("#sign-confirm")
        await draw(k.page, [[(0.1, 0.7), (0.18, 0.25), (0.26, 0.72), (0.34, 0.3)],
                            [(0.45, 0.5), (0.6, 0.45), (0.75, 0.55), (0.9, 0.4)]])
        await k.shot("signed-pad")
        await k.page.click("#sign-confirm")
        await k.page.wait_for_selector("#signing", state="hidden", timeout=20000)
        await k.shot("thanks")

        # The console lists the signature at once with its PDF, which carries the stamp.
        link = c.page.locator("#sign-list a.sign-pdf").first
        await link.wait_for(timeout=15000)
        await c.shot("signed")
        href = await link.get_attribute("href")
        assert href and href.startswith(f"/api/sessions/{sid}/signatures/")
        resp = await c.page.request.get(srv.url + href)
        assert resp.status == 200 and resp.headers["content-type"] == "application/pdf"
        pdf = await resp.body()
        stored = json.loads((await srv.app[REDIS].lrange(key("signatures", sid=sid), 0, -1))[0])
        assert hashlib.sha256(pdf).hexdigest() == stored["pdf_sha256"]
        assert hashlib.sha256(canonical(stored["document"])).hexdigest() == stored["sha256"]
        with pikepdf.open(io.BytesIO(pdf)) as doc:
            keywords = str(doc.docinfo["/Keywords"])
            subject = str(doc.docinfo["/Subject"])
        assert f"sid={sid}" in keywords and f"doc_sha256={stored['sha256']}" in keywords
        assert sid in subject and stored["sha256"] in subject
        # what the finger drew: two strokes of pointer points, time never going back
        strokes_blob = await srv.app[SIGNING].blobs.get(stored["strokes_sha256"])
        strokes = json.loads(strokes_blob)["strokes"]
        assert len(strokes) == 2 and all(len(s) >= 4 for s in strokes)
        times = [p[2] for s in strokes for p in s]
        assert times == sorted(times) and times[-1] > 0

        # Asked again (the application form), the citizen chooses 暂不签: the console is told.
        await c.page.keyboard.press("s")
        await c.page.wait_for_selector("#dlg-sign[open]")
        await c.page.check("#form-sign input[value='application_form']")
        await c.page.click("#sign-submit")
        await k.page.wait_for_selector("#signing:not([hidden]) #sign-doc p")
        assert w["form"] in await k.text("#sign-title")
        await k.page.reload()  # a reloaded kiosk shows the request still waiting
        await k.screen("service")
        await k.page.wait_for_selector("#signing:not([hidden]) #sign-doc p")
        assert "申请表" in await k.text("#sign-title")  # a new citizen page starts in Chinese
        await k.shot("after-reload")
        await k.page.click("#sign-later")
        await k.page.wait_for_selector("#signing", state="hidden")
        await c.page.wait_for_selector(".toast:has-text('暂不签')", timeout=10000)
        await c.page.wait_for_selector("#sign-pending", state="hidden")
        await c.shot("declined")
        assert await c.page.locator("#sign-list a.sign-pdf").count() == 1
        assert k.errors == [] and c.errors == []
    finally:
        await kctx.close()
        await cctx.close()
