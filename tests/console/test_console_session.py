"""A session at the console in real Chromium: identity check, notes, the intake rule, completion,
wrap-up and rating; a reload that resumes; a cold transfer to a centre whose receiver sees the history;
the receiver's browser closed and the session back when they sign in again."""

from __future__ import annotations

from typing import Any

from .conftest import Console, Journey
from .peers import AiortcBooth


async def _serve(c: Console, booth: AiortcBooth, journey: Journey) -> str:
    await c.available()
    ticket = await booth.request(journey.matter)
    await c.page.wait_for_selector("#offer:not([hidden])", timeout=10000)
    await c.page.click("#btn-accept")
    await c.page.wait_for_selector("#service:not([hidden])", timeout=10000)
    assert await c.frames_decoded("call") > 0
    return str(ticket["sid"])


async def test_identity_notes_intake_rule_completion_wrap_up_and_rating(
    start_server: Any, consoles: Any, loopback: None, journey: Journey
) -> None:
    srv = await start_server(demo=True, wrap_up_seconds=120)
    c = await consoles(srv.url, "spec")
    await c.login(f"spec-{journey.home}", shot=False)
    booth = AiortcBooth(srv.url, journey.booth, journey.booth_token)
    try:
        await booth.connect()
        sid = await _serve(c, booth, journey)
        page = c.page

        await page.keyboard.press("n")  # N: note
        await page.keyboard.type("市民需办理公积金转移，已核对缴存证明")
        await page.keyboard.press("Enter")
        await page.wait_for_selector("#notes li:has-text('已核对缴存证明')")

        await page.keyboard.press("e")  # E: complete — intake is refused without an identity check
        await page.check("input[name=outcome][value=intake]")
        await page.wait_for_selector("#done-identity:not([hidden])")
        assert await page.is_disabled("#done-submit")
        await c.shot("intake-needs-identity")
        await page.click("#form-complete .js-cancel")

        await page.select_option("#id-method", "id_card_face")
        await page.click("#btn-id-pass")  # no accepted ID photo side yet: nothing to compare with
        await page.wait_for_selector("#toasts .toast.bad:has-text('请先通过身份证人像面')")
        assert not await page.locator("#id-state.ok").count()
        await page.select_option("#id-method", "id_card_chip")
        await page.click("#btn-id-pass")
        await page.wait_for_selector("#id-state.ok")
        await page.wait_for_selector("#history li.ev-identity")
        assert "读取证件芯片" in (await page.text_content("#id-result") or "")
        await c.shot("identity-passed")

        await page.keyboard.press("e")
        await page.check("input[name=outcome][value=intake]")
        assert not await page.is_disabled("#done-submit")
        await page.fill("#done-case", "NT2026-000042")
        await c.shot("complete-dialog")
        await page.click("#done-submit")
        await page.wait_for_selector("#idle:not([hidden])")
        await page.wait_for_selector("#wrapup:not([hidden])")  # the wrap-up timer runs
        done = await booth.next("session_state", lambda d: d["state"] == "completed")
        assert done["sid"] == sid

        assert "ok" in await booth.call("rate", {"sid": sid, "level": 5})
        await page.wait_for_selector("#wrap-rating:has-text('非常满意')")
        await c.shot("wrap-up-rated")

        await page.click("#btn-lang")  # English on a switch
        await page.wait_for_selector("#wrap-rating:has-text('Very satisfied')")
        assert await page.text_content("#btn-ready") == "Ready now"
        await c.shot("wrap-up-english")
        await page.click("#btn-ready")
        await page.wait_for_selector("#status-pill.p-available")
    finally:
        await booth.close()


async def test_reload_resumes_and_cold_transfer_shows_history_then_browser_closed(
    start_server: Any, consoles: Any, loopback: None, journey: Journey
) -> None:
    srv = await start_server(demo=True, reconnect_grace_seconds=60)
    a = await consoles(srv.url, "first")
    b = await consoles(srv.url, "second")
    await a.login(f"spec-{journey.home}", shot=False)
    await b.login(f"spec-{journey.partner}", shot=False)
    booth = AiortcBooth(srv.url, journey.booth, journey.booth_token)
    try:
        await booth.connect()
        sid = await _serve(a, booth, journey)
        await a.page.keyboard.press("n")
        await a.page.keyboard.type("材料齐全，需由省中心审核")
        await a.page.keyboard.press("Enter")
        await a.page.select_option("#id-method", "id_card_chip")  # no still: the chip was read
        await a.page.click("#btn-id-pass")
        await a.page.wait_for_selector("#id-state.ok")

        # The console reloads mid-session: it resumes the session and renegotiates the call.
        offers = booth.offers
        await a.page.reload()
        await a.page.wait_for_selector("#service:not([hidden])", timeout=15000)
        assert await a.frames_decoded("call") > 0
        assert booth.offers > offers  # a new peer connection, not an ICE restart
        assert await a.page.text_content("#s-ticket") != "…"
        await a.page.wait_for_selector("#id-state.ok")  # the identity check came back with the detail
        await a.shot("resumed-after-reload")

        # Cold transfer to another centre, with a reason (the journey test does a warm one to a
        # named specialist): the first console leaves the call at once.
        await b.available()
        await a.page.keyboard.press("t")
        await a.page.check("input[name=target][value=centre]")
        await a.page.select_option("#xfer-centre", journey.partner)
        await a.page.check("input[name=mode][value=cold]")
        await a.page.fill("#xfer-reason", "需省级中心复核缴存记录")
        await a.shot("transfer-dialog")
        await a.page.click("#xfer-submit")
        await a.page.wait_for_selector("#s-state.st-transferring")
        await a.page.wait_for_selector("#banner:has-text('冷转')")
        assert await a.stats("call") is None  # cold: no call any more on the first console
        await b.page.wait_for_selector("#offer:not([hidden])", timeout=10000)
        await b.page.wait_for_selector("#offer-body:has-text('需省级中心复核缴存记录')")
        assert "转派" in (await b.page.text_content("#offer-title") or "")
        await b.shot("transfer-offer")
        await a.shot("transferring")

        await b.page.keyboard.press("a")
        await b.page.wait_for_selector("#service:not([hidden])", timeout=10000)
        assert await b.frames_decoded("call") > 0
        history = b.page.locator("#history")
        await history.locator("li.ev-transfer:has-text('需省级中心复核缴存记录')").wait_for()
        await history.locator("li.ev-identity").wait_for()
        await b.page.wait_for_selector("#notes li:has-text('需由省中心审核')")
        await b.page.wait_for_selector("#id-state.ok")
        await b.shot("after-transfer-history")
        await a.page.wait_for_selector("#idle:not([hidden])")  # the first specialist is done with it
        # issue 19: the first specialist's centre says where it went, not 上一件已办结
        await a.page.wait_for_selector("#idle-xfer:has-text('已转派给')")
        assert "上一件已办结" not in (await a.page.text_content("#idle") or "")

        # The receiver's browser closes mid-session: reconnecting, then back on signing in again.
        await b.page.context.close()
        lost = await booth.next("session_state", lambda d: d["state"] == "reconnecting")
        assert lost["sid"] == sid
        again = await consoles(srv.url, "second-again")
        await again.login(f"spec-{journey.partner}", shot=False)
        await again.page.wait_for_selector("#service:not([hidden])", timeout=15000)
        back = await booth.next("session_state", lambda d: d["state"] == "in_service")
        assert back["sid"] == sid
        assert await again.frames_decoded("call") > 0
        await again.page.locator("#history li.ev-transfer").wait_for()
        await again.shot("back-after-browser-closed")
    finally:
        await booth.close()
