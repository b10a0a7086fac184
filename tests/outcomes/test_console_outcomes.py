"""Completing at the console in real Chromium (issue 18): the 需补正 list with how each material is
supplied, and the 结果寄递 address typed with the keyboard, saved masked, required before completing."""

from __future__ import annotations

import json
from typing import Any

from playwright.async_api import expect

from tests.console.conftest import Console, Journey
from tests.signaling.conftest import SECRET, Client, token
from window_server.domain.auth import Role
from window_server.store.keys import key


async def _serve(c: Console, booth: Client, journey: Journey) -> str:
    ticket = await booth.ok("request_service", {"matter": journey.matter, "consent": True})
    await c.page.wait_for_selector("#offer:not([hidden])", timeout=30000)
    await c.page.click("#btn-accept")
    await c.page.wait_for_selector("#service:not([hidden])", timeout=30000)
    # the view shows before the accept's session_state lands; E completes only an in_service session
    await c.page.wait_for_selector("#btn-complete:enabled", timeout=30000)
    return str(ticket["sid"])


async def test_the_complete_dialog_sends_how_each_material_is_supplied_and_the_address(
        start_server: Any, consoles: Any, journey: Journey, redis: Any) -> None:
    srv = await start_server(demo=True, secret=SECRET)
    c = await consoles(srv.url, "spec")
    await c.login(f"spec-{journey.home}", shot=False)
    booth = Client("/booth")
    await booth.connect(srv.url, token(Role.BOOTH, journey.booth, journey.intake, "/booth"))
    page = c.page
    try:
        await c.available()
        sid = await _serve(c, booth, journey)

        # 需补正: every required material not accepted is ticked; each has its ways, the default first.
        await page.keyboard.press("e")
        await page.check("input[name=outcome][value=needs_supplement]")
        await page.wait_for_selector("#done-missing-box:not([hidden])")
        assert await page.locator("#done-delivery-box").is_hidden()
        ticked = await page.eval_on_selector_all("input[name=missing]:checked", "els => els.map(e => e.value)")
        assert ticked == ["application_form", "id_card_front", "id_card_back"]
        options = await page.eval_on_selector_all("select[data-kind=application_form] option", "els => els.map(e => e.value)")
        assert options == ["visit", "post"]  # an original: brought back or posted, never uploaded
        await page.select_option("select[data-kind=application_form]", "post")
        await page.uncheck("input[name=missing][value=id_card_front]")
        await c.shot("complete-missing")
        await page.click("#done-submit")
        await booth.next("session_state", lambda d: d["sid"] == sid and d["state"] == "completed", within=30)
        stored = json.loads(await redis.hget(key("session", sid=sid), "missing"))
        assert stored == [{"kind": "application_form", "how": "post"}, {"kind": "id_card_back", "how": "visit"}]
        await page.click("#btn-ready")
        await page.wait_for_selector("#status-pill.p-available")

        # 寄递: refused without an address; typed with the keyboard, Enter saves it (masked back).
        sid = await _serve(c, booth, journey)
        await page.keyboard.press("e")
        await page.check("input[name=outcome][value=postal_delivery]")
        await page.wait_for_selector("#done-delivery-box:not([hidden])")
        await page.click("#done-submit")
        await page.wait_for_selector("#done-error:not(:empty)")
        assert "寄递地址" in (await page.text_content("#done-error") or "")
        await page.focus("#delivery-recipient")
        await page.keyboard.type("赵六")
        await page.keyboard.press("Tab")
        await page.keyboard.type("13700001111")
        await page.keyboard.press("Tab")
        await page.keyboard.type("浙江省杭州市西湖区文三路90号")
        await page.keyboard.press("Enter")
        await page.wait_for_selector("#delivery-saved:has-text('浙江省杭州市西湖区****')")
        assert await page.locator("#dlg-complete[open]").count() == 1  # Enter saved, it did not complete
        await c.shot("complete-delivery")
        await page.click("#done-submit")
        await booth.next("session_state", lambda d: d["sid"] == sid and d["state"] == "completed", within=30)
        s = await redis.hgetall(key("session", sid=sid))
        assert s["outcome"] == "postal_delivery"
        assert json.loads(s["delivery"]) == {"recipient": "赵*", "phone": "137****1111", "address": "浙江省杭州市西湖区****"}
        view = (await booth.ok("resume"))["session"]
        assert view["delivery"] == {"address": "浙江省杭州市西湖区****", "recipient": "赵*"}
        # not kept in the page once the completion is acknowledged (the booth's push may come first)
        await expect(page.locator("#delivery-address")).to_have_value("", timeout=30000)
    finally:
        await booth.close()
