"""The console in real Chromium: sign in, go available, an offer, accept, media both ways."""

from __future__ import annotations

from typing import Any

from .conftest import Journey
from .peers import AiortcBooth


async def test_sign_in_offer_accept_and_media_both_ways(
    start_server: Any, consoles: Any, loopback: None, journey: Journey
) -> None:
    srv = await start_server(demo=True)
    c = await consoles(srv.url, "spec")
    await c.login(f"spec-{journey.home}")
    await c.shot("signed-in")
    await c.available()
    await c.shot("available")

    booth = AiortcBooth(srv.url, journey.booth, journey.booth_token)
    try:
        await booth.connect()
        ticket = await booth.request(journey.matter)
        await c.page.wait_for_selector("#offer:not([hidden])", timeout=10000)
        await c.page.wait_for_function("(t) => document.querySelector('#offer-body').textContent.includes(t)",
                                       arg=ticket["ticket"], timeout=5000)
        assert "秒" in (await c.page.text_content("#offer-left") or "")  # the countdown runs
        await c.shot("offer")

        await c.page.keyboard.press("a")  # A: accept
        await c.page.wait_for_selector("#service:not([hidden])", timeout=10000)
        assert await c.frames_decoded("call") > 0  # the citizen's video decodes in the console
        assert await booth.frames("call") > 0  # and the specialist's video reaches the booth
        state = await booth.next("session_state", lambda d: d["state"] == "in_service")
        assert state["sid"] == ticket["sid"]
        await c.page.wait_for_selector("#w-citizen", state="hidden")
        await c.shot("in-service")

        # The specialist shares a screen: the guard warns first; this Chromium's fake picker hands over
        # the console's own tab, which is refused (issue 19: test_console_day.py shares another tab).
        await c.page.click("#btn-share")
        await c.page.click("#share-pick")
        await c.page.wait_for_selector("#share-error:has-text('工作台')")
        await c.page.click("#dlg-share .js-cancel")
        assert "screen" not in booth.pcs

        # The specialist asks the booth to share; the booth offers pc "screen", the console answers.
        await c.page.click("#btn-ask-share")
        asked = await booth.next("screen_share_request")
        assert asked["sid"] == ticket["sid"]
        await booth.share_screen()
        await c.page.wait_for_selector("#tile-screen:not([hidden])")
        assert await c.frames_decoded("screen") > 0
        await c.shot("booth-screen")
    finally:
        await booth.close()


async def test_decline_puts_the_session_back_in_the_queue(
    start_server: Any, consoles: Any, loopback: None, journey: Journey
) -> None:
    srv = await start_server(demo=True)
    c = await consoles(srv.url, "spec")
    await c.login(f"spec-{journey.home}", shot=False)
    await c.available()
    booth = AiortcBooth(srv.url, journey.booth, journey.booth_token)
    try:
        await booth.connect()
        ticket = await booth.request(journey.matter)
        await c.page.wait_for_selector("#offer:not([hidden])", timeout=10000)
        await c.page.keyboard.press("d")  # D: decline
        await c.page.wait_for_selector("#offer", state="hidden")
        back = await booth.next("session_state", lambda d: d["state"] == "waiting")
        assert back["sid"] == ticket["sid"]
        row = c.page.locator(f"#queue-rows tr[data-sid='{ticket['sid']}']")  # waiting in my scope's queue
        await row.wait_for()
        assert ticket["ticket"] in (await row.text_content() or "")
        await c.shot("queue-after-decline")
    finally:
        await booth.close()
