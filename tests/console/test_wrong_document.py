"""Issue 17's "Done when" in real Chromium: the wrong document is not taken, the right card is read.

One ``python -m window_server`` node on a real redis-server, the kiosk page with the booth's device
agent (synthetic 高拍仪, in this process) and the serving specialist's console. The 高拍仪 shows an
A4 form while the specialist captures 居民身份证（人像面）: the still is recognised as a page, the
booth is told in plain words that it is the wrong document, the checklist stays unticked, the
identity panel has no ID photo, and V only opens a confirmation (Esc: nothing accepted, the
server's record unchanged). Then the card itself: recognised as an ID photo side, accepted with V,
its number in full only in the serving console's ID panel (fetched from id-fields, which is logged
and refused to another specialist) and masked in the gallery, the history, the session's events and
never on the kiosk. Then the A4 form is accepted after all by confirming an override with a reason,
which the record and the session's events keep; the identity check still uses the card. Last, two
console rules with a record replayed into the page: a verdict on a still that changed since the
console showed it is refused (stale_material) and the still redrawn as the server holds it, and a
still that has just taken the viewer while its class is being recognised makes V only say 正在识别.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page
from redis.asyncio import Redis

from citizen_client.agent import DeviceAgent
from citizen_client.camera import SyntheticCamera
from window_server.domain.privacy import mask_id_number
from window_server.store.events import read_entries
from window_server.store.keys import key

from .conftest import VIEWPORT, Journey
from .test_journey import Kiosk, capture, device_agent, node, session_act, show

WRONG_ADVICE = "这不是身份证人像面，请放身份证人像面"


async def record(page: Page, base: str, sid: str, mid: str) -> dict[str, Any]:
    """The server's record of a still, as the console's own login reads it."""
    resp = await page.request.get(f"{base}/api/sessions/{sid}/materials")
    assert resp.status == 200, await resp.text()
    found = [m for m in (await resp.json())["materials"] if m["id"] == mid]
    assert found, mid
    return dict(found[0])


async def events(redis: Redis, sid: str) -> list[dict[str, str]]:
    """Every event of the session so far (XRANGE)."""
    return [fields for _id, fields in read_entries(await redis.xrange(key("session_events", sid=sid)))]


def card_number(agent: DeviceAgent) -> str:
    """The fictional ID number printed on the synthetic 高拍仪's ID card."""
    camera = agent.camera
    assert isinstance(camera, SyntheticCamera)
    return camera.identity.number


@pytest.mark.timeout(300)
async def test_a_wrong_document_is_refused_and_the_id_number_stays_masked(
    redis_url: str, redis: Redis, tmp_path: Path, browser: Browser, consoles: Any, loopback: None,
    journey: Journey, catalogue: Any,
) -> None:
    shots = tmp_path / "screenshots"
    region = catalogue.matter(journey.matter).home_region
    async with node(redis_url, tmp_path / "data") as url, device_agent(url, journey) as (agent, control_port):
        number = card_number(agent)
        masked = mask_id_number(number)
        spec = await consoles(url, "serving")
        await spec.login(f"spec-{journey.home}")
        await spec.available()
        page = spec.page

        kctx = await browser.new_context(viewport=VIEWPORT, locale="zh-CN")
        kiosk = Kiosk(await kctx.new_page(), shots)
        try:
            await kiosk.take_ticket(url, journey, region, control_port)
            await page.wait_for_selector("#offer:not([hidden])", timeout=15000)
            await page.keyboard.press("a")
            await page.wait_for_selector("#service:not([hidden])")
            sid = str(await spec.evaluate("window.rwConsole.state.sess.sid"))
            await kiosk.screen("service")

            # --- an A4 form under the camera, filed as 居民身份证（人像面） -----------------------
            show(agent, "a4_form")
            wrong = await capture(spec, "id_card_front")
            thumb = f"#gallery .thumb[data-id='{wrong}']"
            assert await page.get_attribute(thumb, "data-class") == "page"
            await page.wait_for_selector(f"{thumb}.wrong[data-auto='rejected']")
            verdict_box = await page.inner_text("#viewer .verdict")
            assert "识别为：纸质材料" in verdict_box and "类型不符" in verdict_box, verdict_box
            # the booth is told, in plain words, that it is the wrong document
            advice = f"#materials li[data-material='{wrong}'].bad .advice"
            await kiosk.page.wait_for_selector(f"{advice}:text-is({json.dumps(WRONG_ADVICE, ensure_ascii=False)})", timeout=30000)
            await kiosk.shot("wrong-document")
            # the checklist stays unticked, and there is no ID photo for the identity check
            await page.wait_for_selector("#checklist li[data-kind='id_card_front'].st-bad")
            await page.wait_for_selector("#id-photo #id-no-photo:has-text('请先通过身份证人像面')")
            await spec.shot("wrong-document")

            # V asks for a confirmation with a reason; without it nothing is accepted
            await page.keyboard.press("v")
            await page.wait_for_selector(f"#dlg-override[open][data-material='{wrong}']")
            await page.keyboard.press("Enter")  # no reason picked: only a word in the dialog
            await page.wait_for_selector("#ovr-error:has-text('请选择原因')")
            await spec.shot("override-asked")
            await page.keyboard.press("Escape")
            await page.wait_for_selector("#dlg-override", state="hidden")
            assert await page.locator(f"{thumb}.rv-accepted").count() == 0
            await page.wait_for_selector("#checklist li[data-kind='id_card_front'].st-bad")
            stored = await record(page, url, sid, wrong)
            assert stored["review"] is None, stored
            assert (stored["class"], stored["verdict"]) == ("page", "rejected") and "wrong_kind" in stored["reasons"]
            assert not [e for e in await events(redis, sid) if e.get("act") == "verdict"]

            # --- the card itself ----------------------------------------------------------------
            show(agent, "id_card_front")
            right = await capture(spec, "id_card_front")
            card = f"#gallery .thumb[data-id='{right}']"
            assert await page.get_attribute(card, "data-class") == "id_card_front"
            await page.wait_for_selector(f"{card}[data-auto='accepted']")
            # the serving console reads the full number (id-fields) in its ID panel only
            await page.wait_for_selector(f"#viewer dl.idf.full[data-material='{right}'] #idf-number:text-is('{number}')",
                                         timeout=15000)
            await page.keyboard.press("v")
            await page.wait_for_selector(f"{card}.rv-accepted")
            await page.wait_for_selector("#checklist li[data-kind='id_card_front'].st-ok")
            await page.wait_for_selector(f"#id-photo img[data-src*='/{right}/'][src^='blob:']")
            await kiosk.page.wait_for_selector(f"#materials li[data-material='{right}'].good")
            await spec.shot("card-accepted")
            await kiosk.shot("card-accepted")

            # masked everywhere else: the gallery, the history, the session's events, the kiosk
            await page.wait_for_selector(f"{card} img[data-src$='/{right}/masked'][src^='blob:']")  # the thumb too
            gallery = await page.inner_text("#gallery")
            assert masked in gallery and number not in gallery, gallery
            await page.wait_for_selector(f"#history li.ev-recognised:has-text('{masked}')", timeout=15000)
            assert number not in await page.inner_text("#history")
            seen = await events(redis, sid)
            assert not [e for e in seen if any(number in v for v in e.values())]
            recognised = [e for e in seen if e.get("act") == "recognised" and e.get("material") == right]
            assert [(e["class"], e.get("id_number_masked")) for e in recognised] == [("id_card_front", masked)]
            assert number not in await kiosk.page.content()
            # the unmasked view is in the access log; another specialist may not read the number
            await session_act(redis, sid, "material_viewed",
                              lambda f: f.get("material") == right and f.get("variant") == "id_fields")
            other = await consoles(url, "other")
            await other.login(f"spec-{journey.partner}", shot=False)
            denied = await other.page.request.get(f"{url}/api/sessions/{sid}/materials/{right}/id-fields")
            assert denied.status == 403, await denied.text()
            assert number not in await denied.text()

            # H: the masked rendition (number and photo blacked out) instead of the still
            await page.keyboard.press("h")
            await page.wait_for_selector(f"#viewer .pane[data-variant='masked'] img[data-src$='/{right}/masked'][src^='blob:']")
            await spec.shot("masked-rendition")
            await page.keyboard.press("h")
            await page.wait_for_selector("#viewer .pane[data-variant='corrected']")

            # --- the A4 form after all: only a confirmed override with a reason accepts it ------
            await page.click(thumb)
            await page.keyboard.press("v")
            await page.wait_for_selector(f"#dlg-override[open][data-material='{wrong}']")
            await page.keyboard.press("2")  # 识别有误
            await page.keyboard.press("Enter")
            await page.wait_for_selector(f"{thumb}.rv-accepted")
            stored = await record(page, url, sid, wrong)
            assert stored["review"]["verdict"] == "accepted" and stored["review"]["override"] is True, stored
            assert stored["review"]["override_reason"] == "识别有误"
            overridden = await session_act(redis, sid, "verdict", lambda f: f.get("material") == wrong)
            assert (overridden["verdict"], overridden["override"], overridden["override_reason"]) == (
                "accepted", "true", "识别有误")
            await page.wait_for_selector("#history li.ev-verdict:has-text('人工改判：识别有误')", timeout=15000)
            # the identity check still compares the card, not the page accepted as the ID photo side
            await page.wait_for_selector(f"#id-photo img[data-src*='/{right}/']")
            await page.select_option("#id-method", "id_card_face")
            await page.click("#btn-id-pass")
            await page.wait_for_selector("#id-state.ok")
            identity = await session_act(redis, sid, "identity")
            assert (identity["result"], identity["material_id"]) == ("passed", right)
            await spec.shot("overridden")

            # A verdict on a still that is no longer what the console showed is refused (stale_material):
            # the console says so and shows the still as the server holds it. An out-of-date record
            # (the A4 form as if the check had passed it) is replayed into the page to make it so.
            await page.click(thumb)
            await page.evaluate("(m) => window.rwConsole.materials.onRecognised({sid: m.sid, material: m})",
                                {**stored, "verdict": "accepted", "reasons": []})
            await page.wait_for_selector(f"{thumb}[data-auto='accepted']")
            await page.keyboard.press("v")
            await page.wait_for_selector(".toast:has-text('这张材料刚有变化')")
            await page.wait_for_selector(f"{thumb}[data-auto='rejected']")
            assert (await record(page, url, sid, wrong))["review"] == stored["review"]

            # A still that arrives takes the viewer while its class is being recognised (material_added
            # has class null): V then acts on it, the still shown, and only says to wait. The push is
            # replayed into the page so the still stays pending for as long as the test needs.
            pending = {**stored, "id": "m0000000000000000", "class": None, "recognition": None, "masked": False,
                       "verdict": "accepted", "reasons": [], "review": None, "request": None}
            await page.evaluate("(m) => window.rwConsole.materials.onAdded({sid: m.sid, material: m})", pending)
            await page.wait_for_selector("#viewer .verdict[data-id='m0000000000000000'] .recog.pending")
            await page.keyboard.press("v")
            await page.wait_for_selector(".toast:has-text('正在识别，请稍候')")
            assert await page.locator("#gallery .thumb[data-id='m0000000000000000'].rv-accepted").count() == 0
            assert not kiosk.errors, kiosk.errors
        finally:
            await kctx.close()
