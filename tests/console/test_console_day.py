"""The console for a 40-session day (issue 19), in real Chromium at 1920×1080 with aiortc booths.

- A ringing offer takes the centre of the screen with its ring, countdown, the citizen's language
  (an English-speaking citizen: "English / 英语") and priority lane; the session header keeps both.
- The console fits 1920×1080 without page scroll during a session: the header with 转派/办结 stays
  in view while the session's body scrolls; body text is 14 px or more.
- A missed offer is told plainly in the centre ("你错过了 A001 的呼叫"); the specialist then takes the
  citizen from the queue list (接办).
- The screen-share guard: a warning first; the console's own tab is refused and nothing is offered
  to the booth; another tab is shared.

How Chromium picks a share here (checked with /usr/bin/chromium headless): with
``--use-fake-ui-for-media-stream`` (tests/screens.py's flags) getDisplayMedia ignores
``selfBrowserSurface: "exclude"`` and hands over the calling tab itself (``displaySurface``
"browser", its capture handle "rw-console"; with plain ``{video: true}`` a fake "monitor"), so the
guard's refusal is what keeps it from the booth. Without that flag,
``--auto-select-tab-capture-source-by-title=<title>`` picks the other tab of that title (no
capture handle), while the console's own title never matches (the picker excludes it:
getDisplayMedia does not settle). ``--auto-accept-this-tab-capture`` captures the calling tab
only when ``preferCurrentTab`` is true, which the console never asks for.
"""

from __future__ import annotations

from typing import Any

from playwright.async_api import async_playwright

from tests.screens import CHROMIUM, CHROMIUM_ARGS

from .conftest import PASSWORD, Console, Journey
from .peers import AiortcBooth

FULL_HD = {"width": 1920, "height": 1080}
ENGLISH_MATTER = "js-320100-medical-filing"  # home region 320100: js-nanjing speaks zh and en
GUIDE_TITLE = "RW share guide"  # the other tab a specialist shares


async def full_hd(consoles: Any, base: str, who: str) -> Console:
    c: Console = await consoles(base, who)
    await c.page.set_viewport_size(FULL_HD)
    return c


async def request(booth: AiortcBooth, matter: str, **extra: Any) -> dict[str, Any]:
    reply = await booth.call("request_service", {"matter": matter, "consent": True, **extra})
    assert "ok" in reply, reply
    booth.sid = reply["ok"]["sid"]
    return dict(reply["ok"])


async def page_fits(c: Console) -> dict[str, Any]:
    """The page's scroll and where the session header's buttons are, read in the page."""
    result: dict[str, Any] = await c.evaluate("""() => {
        const box = (sel) => { const r = document.querySelector(sel).getBoundingClientRect();
                               return {top: r.top, bottom: r.bottom, left: r.left, right: r.right}; };
        return {scroll: document.scrollingElement.scrollHeight, inner: innerHeight, width: innerWidth,
                transfer: box("#btn-transfer"), complete: box("#btn-complete"), head: box(".session-head")};
    }""")
    return result


async def font_sizes(c: Console, selectors: list[str]) -> dict[str, float]:
    sizes: dict[str, float] = await c.evaluate("""(sels) => {
        const out = {};
        for (const sel of sels) {
          const el = document.querySelector(sel);
          if (el) out[sel] = parseFloat(getComputedStyle(el).fontSize);
        }
        return out;
    }""", selectors)
    return sizes


async def test_a_ringing_offer_takes_the_centre_with_the_language_and_the_console_fits_full_hd(
    start_server: Any, consoles: Any, loopback: None, journey: Journey
) -> None:
    srv = await start_server(demo=True)
    c = await full_hd(consoles, srv.url, "nanjing")
    await c.login("spec-js-nanjing", shot=False)
    await c.available()
    booth = AiortcBooth(srv.url, journey.booth, journey.booth_token)
    try:
        await booth.connect()
        ticket = await request(booth, ENGLISH_MATTER, lang="en", priority="elderly")
        await c.page.wait_for_selector("#work #offer:not([hidden])", timeout=10000)  # in the centre
        assert await c.page.locator("#idle").is_hidden()  # the centre does not say 等待办件
        assert "等待办件" not in (await c.page.inner_text("#work"))
        await c.page.wait_for_selector(f"#offer-body:has-text('{ticket['ticket']}')")
        assert "English / 英语" in (await c.page.text_content("#offer-lang") or "")
        assert "优先：老年人" in (await c.page.text_content("#offer-prio") or "")
        assert "秒" in (await c.page.text_content("#offer-left") or "")  # the countdown runs
        assert await c.evaluate("() => window.rwConsole.beeps") >= 1  # it rings (silent if audio is blocked)
        assert await c.evaluate("() => window.rwConsole.ringing") is True
        card = await c.page.locator("#offer .offer-card").bounding_box()
        work = await c.page.locator("#work").bounding_box()
        assert card and work and card["width"] >= 600  # large, and in the middle of the main area
        assert abs((card["x"] + card["width"] / 2) - (work["x"] + work["width"] / 2)) < work["width"] / 10
        await c.shot("ringing-offer-english")

        await c.page.keyboard.press("a")  # the shortcut still accepts
        await c.page.wait_for_selector("#service:not([hidden])", timeout=10000)
        await c.page.wait_for_selector("#offer", state="hidden")
        assert await c.evaluate("() => window.rwConsole.ringing") is False  # the ring stopped with the offer
        assert await c.frames_decoded("call") > 0
        await c.page.wait_for_selector("#s-lang:has-text('English / 英语')")
        await c.page.wait_for_selector("#s-prio:has-text('老年人')")

        # 1920×1080 during a session: no page scroll, 转派/办结 in view, the body scrolls inside
        fits = await page_fits(c)
        assert fits["scroll"] <= fits["inner"], fits
        for b in ("transfer", "complete", "head"):
            assert fits[b]["top"] >= 0 and fits[b]["bottom"] <= fits["inner"] and fits[b]["right"] <= fits["width"]
        await c.evaluate("() => { const b = document.querySelector('#service-body'); b.scrollTop = b.scrollHeight; }")
        after = await page_fits(c)
        assert after["head"] == fits["head"] and after["scroll"] <= after["inner"]  # the header stayed put
        sizes = await font_sizes(c, ["body", "#queue-rows td", "#s-meta", "#s-matter", "#history li", ".keys span",
                                     "#checklist li", "#id-result", "#cap-status", ".toolbar button", ".topbar .pill",
                                     "#chat-title", ".tile figcaption", "#notes li"])
        assert sizes["body"] >= 14 and len(sizes) >= 10, sizes
        assert all(px >= 14 for px in sizes.values()), sizes
        await c.shot("in-service-full-hd")
    finally:
        await booth.close()


async def test_a_missed_offer_is_told_then_taken_from_the_queue(
    start_server: Any, consoles: Any, loopback: None, journey: Journey
) -> None:
    srv = await start_server(demo=True, offer_timeout_seconds=2)
    c = await full_hd(consoles, srv.url, "missed")
    await c.login(f"spec-{journey.home}", shot=False)
    await c.available()
    booth = AiortcBooth(srv.url, journey.booth, journey.booth_token)
    try:
        await booth.connect()
        ticket = await request(booth, journey.matter)
        await c.page.wait_for_selector("#offer:not([hidden])", timeout=10000)
        # nobody answers: the offer runs out
        missed = c.page.locator("#missed")
        await missed.wait_for(state="visible", timeout=10000)
        assert f"你错过了 {ticket['ticket']} 的呼叫" in (await c.page.text_content("#missed-text") or "")
        await c.page.wait_for_selector("#offer", state="hidden")
        assert await c.evaluate("() => window.rwConsole.ringing") is False
        await c.shot("missed")

        row = c.page.locator(f"#queue-rows tr[data-sid='{ticket['sid']}']")
        take = row.locator("button[data-take]")
        await take.wait_for(timeout=10000)  # the router will not offer it again; I may take it
        assert await missed.is_visible()  # persistent, not a toast
        await take.click()
        await c.page.wait_for_selector("#service:not([hidden])", timeout=10000)
        await missed.wait_for(state="hidden")
        assert await c.page.text_content("#s-ticket") == ticket["ticket"]
        served = await booth.next("session_state", lambda d: d["state"] == "in_service")
        assert served["sid"] == ticket["sid"]
        assert await c.frames_decoded("call") > 0
        assert await booth.frames("call") > 0
        await c.shot("taken-from-queue")
    finally:
        await booth.close()


async def serve(c: Console, booth: AiortcBooth, journey: Journey) -> dict[str, Any]:
    await booth.connect()
    ticket = await request(booth, journey.matter)
    await c.page.wait_for_selector("#offer:not([hidden])", timeout=10000)
    await c.page.keyboard.press("a")
    await c.page.wait_for_selector("#service:not([hidden])", timeout=10000)
    assert await booth.frames("call") > 0
    return ticket


async def test_the_share_guard_refuses_the_console_and_shares_another_tab(
    start_server: Any, consoles: Any, loopback: None, journey: Journey
) -> None:
    srv = await start_server(demo=True, widen_seconds=0)  # the partner centre's specialist serves the second
    # 1. Chromium's fake picker hands over the console's own tab: refused, nothing offered to the booth
    c = await full_hd(consoles, srv.url, "share-refused")
    await c.login(f"spec-{journey.home}", shot=False)
    await c.available()
    booth = AiortcBooth(srv.url, journey.booth, journey.booth_token)
    try:
        await serve(c, booth, journey)
        offers = booth.offers
        await c.page.click("#btn-share")
        dialog = c.page.locator("#dlg-share")
        await dialog.wait_for(state="visible")
        assert "窗口" in (await dialog.inner_text()) and "整个屏幕" in (await dialog.inner_text())  # warned first
        await c.shot("share-warning")
        await c.page.click("#share-pick")
        await c.page.wait_for_selector("#share-error:has-text('不能共享工作台本身')")
        assert await c.evaluate("() => window.rwConsole.state.marks.shareRefused") == "console"
        await c.shot("share-refused")
        await c.page.click("#dlg-share .js-cancel")
        assert await c.page.locator("#tile-screen").is_hidden()
        assert booth.offers == offers and "screen" not in booth.pcs  # nothing reached the booth
        await c.page.click("#btn-complete")
        await c.page.click("#done-submit")
        await c.page.wait_for_selector("#idle:not([hidden])", timeout=10000)
    finally:
        await booth.close()

    # 2. Without the fake picker, a tab picked by its title (not the console's) is shared
    args = [a for a in CHROMIUM_ARGS if a != "--use-fake-ui-for-media-stream"]
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=[
            *args, f"--auto-select-tab-capture-source-by-title={GUIDE_TITLE}"])
        try:
            ctx = await browser.new_context(viewport=FULL_HD, locale="zh-CN", permissions=["camera", "microphone"])
            guide = await ctx.new_page()
            await guide.set_content(f"<title>{GUIDE_TITLE}</title><h1>办事指南</h1>")
            page = await ctx.new_page()
            other = Console(page, srv.url, c.shots, "share-tab")
            await other.login(f"spec-{journey.partner}", PASSWORD, shot=False)
            await other.available()
            booth = AiortcBooth(srv.url, journey.booth, journey.booth_token)
            try:
                await serve(other, booth, journey)
                await page.click("#btn-share")
                await page.click("#share-pick")
                assert await booth.frames("screen") > 0  # the guide tab reaches the booth
                await page.wait_for_selector("#tile-screen:not([hidden])")
                assert await other.evaluate("() => window.rwConsole.state.marks.shareRefused ?? null") is None
                await other.shot("sharing-another-tab")
                await page.click("#btn-share")  # stop: bye, the booth closes it
                await page.wait_for_selector("#tile-screen", state="hidden")
            finally:
                await booth.close()
            assert not other.errors, other.errors
        finally:
            await browser.close()
