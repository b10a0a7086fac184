"""The hall in real Chromium at 1080×1920: a citizen takes a slip and sits down; the hall display
calls the ticket (on screen and spoken, or a no-voice notice); a free booth shows the call, the
citizen touches it there and a specialist gets the session; and a booth's call for staff reaches
the hall staff view, where 已处理 clears it on the booth. Screenshots land in ``screens/``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page

from tests.screens import Screens, chromium, walk_to_consent
from tests.signaling.conftest import SECRET, Client, catalogue, clients, demo, token  # noqa: F401  (fixtures)
from window_server.appkeys import ACCOUNTS
from window_server.domain.auth import Role

PORTRAIT = {"width": 1080, "height": 1920}
PW = "a long enough password 1"
WAIT = 20_000  # ms: the longest any step may take


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


@pytest.fixture
async def srv(start_server: Callable[..., Awaitable[Any]], demo: dict[str, str]) -> Any:  # noqa: F811
    s = await start_server(secret=SECRET, offer_timeout_seconds=30, call_back_seconds=120)
    await s.app[ACCOUNTS].add_user("hall-x", PW, Role.HALL_STAFF, demo["intake_centre"])
    return s


async def kiosk(browser: Browser, srv: Any, booth: str, centre: str, shots: Path, who: str) -> Screens:
    """A booth's kiosk page in its own browser (each booth has its own localStorage)."""
    _, tok = await srv.app[ACCOUNTS].add_booth(booth, centre, f"测试{booth[-2:]}号亭")
    ctx = await browser.new_context(viewport=PORTRAIT)
    page = await ctx.new_page()
    s = Screens(page, shots, who)
    s.url = f"{srv.url}/booth/{booth}?token={tok}&device=1&idle=600"  # type: ignore[attr-defined]
    return s


async def hall_page(browser: Browser, url: str, shots: Path, who: str) -> tuple[BrowserContext, Screens]:
    """A hall page, logged in through its own login form as the hall's staff account."""
    ctx = await browser.new_context(viewport=PORTRAIT)
    page = await ctx.new_page()
    await page.goto(url)
    await page.wait_for_selector("#login-form")
    await page.fill("#username", "hall-x")
    await page.fill("#password", PW)
    await page.click("#login-submit")
    await page.wait_for_selector("body.display, body.staff", timeout=WAIT)
    return ctx, Screens(page, shots, who)


async def box(page: Page, selector: str) -> dict[str, float]:
    return await page.eval_on_selector(selector, """(el) => {
      const r = el.getBoundingClientRect();
      return {height: r.height, font: parseFloat(getComputedStyle(el).fontSize)};
    }""")


async def test_a_seated_citizen_is_called_back_from_the_hall_display(
        browser: Browser, srv: Any, clients: Callable[[str], Client], demo: dict[str, str],  # noqa: F811
        tmp_path: Path) -> None:
    shots = tmp_path / "screens"
    shots.mkdir()
    hall = demo["intake_centre"]
    _display_ctx, display = await hall_page(browser, f"{srv.url}/hall/{hall}/display", shots, "display")
    first = await kiosk(browser, srv, "hall-ui-01", hall, shots, "booth1")
    second = await kiosk(browser, srv, "hall-ui-02", hall, shots, "booth2")
    await second.page.goto(second.url)  # type: ignore[attr-defined]
    await second.screen("welcome")

    # booth 1: a ticket, then 先去休息区坐一下 → confirm → the slip
    await walk_to_consent(first.page, first.url, demo["region"], demo["matter"])  # type: ignore[attr-defined]
    await first.page.click("#consent-yes")
    await first.screen("waiting")
    ticket = await first.text("#ticket")
    size = await box(first.page, "#btn-sit-down")
    assert size["height"] >= 80 and size["font"] >= 28, size
    await first.shot("waiting")
    await first.page.click("#btn-sit-down")
    await first.page.wait_for_selector("#modal:not([hidden])")
    await first.page.click("#modal-yes")
    await first.screen("slip")
    assert await first.text("#slip-ticket") == ticket
    assert "分钟" in await first.text("#slip-deadline")
    if await first.page.is_visible("#slip-qr-box"):  # the session has a public status page (helper D2)
        qr = await first.page.get_attribute("#slip-qr", "data-qr") or ""
        assert qr.startswith(f"{srv.url}/r/") and len(qr) > len(srv.url) + 3
    await first.shot("slip")
    # the printed slip: only the slip, without the buttons, on 80 mm paper
    await first.page.emulate_media(media="print")
    assert await first.page.is_visible("#slip-ticket") and not await first.page.is_visible("#slip-print")
    assert not await first.page.is_visible("header.bar")
    await first.page.emulate_media(media="screen")
    await first.page.click("#slip-done")
    await first.screen("welcome")

    # nobody was ahead of it: the display calls it, with the words on screen (and the voice if any)
    await display.page.wait_for_selector(f"#called .call[data-ticket='{ticket}']", timeout=WAIT)
    await display.page.wait_for_function(
        "(t) => window.rwHallSpoken().some((s) => s.ticket === t)", arg=ticket, timeout=WAIT)
    caption = await display.text("#caption")
    assert f"请 {ticket} 号到远程窗口办理" in caption and f"Number {ticket}" in caption
    no_voice = await display.page.evaluate("speechSynthesis.getVoices().length === 0")
    assert await display.page.is_visible("#novoice") is no_voice
    await display.shot("called")

    # booth 2 is free: it shows the call; touching it brings the citizen's session here
    button = f"#hall-calls .hall-call[data-ticket='{ticket}']"
    await second.page.wait_for_selector(button, timeout=WAIT)
    assert await second.text(button) == f"{ticket} 号，请点这里开始办理"
    size = await box(second.page, button)
    assert size["height"] >= 80 and size["font"] >= 28, size
    await first.page.wait_for_selector(button, timeout=WAIT)  # booth 1 is free again too
    await first.page.reload()  # a reloaded booth asks for the calls (hall_calls) and shows them again
    await first.screen("welcome")
    await first.page.wait_for_selector(button, timeout=WAIT)
    await second.shot("call")
    agent = clients("/agent")
    await agent.connect(srv.url, token(Role.SPECIALIST, "spec-hall-ui", demo["home_centre"], "/agent"))
    await second.page.click(button)
    await second.screen("waiting")
    assert await second.text("#ticket") == ticket
    await first.page.wait_for_selector(button, state="detached", timeout=WAIT)
    await display.page.wait_for_selector("#called .call", state="detached", timeout=WAIT)
    await second.shot("claimed")
    # the specialist who goes available gets it first, and the citizen is served at booth 2
    await agent.ok("presence", {"status": "available"})
    offer = await agent.next("offer", within=20)
    await agent.ok("accept", {"sid": offer["sid"]})
    await second.screen("service")
    await second.shot("service")
    assert not first.errors and not second.errors and not display.errors


async def test_a_call_for_staff_reaches_the_hall_staff_view(
        browser: Browser, srv: Any, demo: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    shots = tmp_path / "screens"
    shots.mkdir()
    hall = demo["intake_centre"]
    _staff_ctx, staff = await hall_page(browser, f"{srv.url}/hall/{hall}/staff", shots, "staff")
    await staff.page.wait_for_selector("#help-none:not([hidden])", timeout=WAIT)
    booth = await kiosk(browser, srv, "hall-ui-03", hall, shots, "booth3")
    await walk_to_consent(booth.page, booth.url, demo["region"], demo["matter"])  # type: ignore[attr-defined]
    await booth.page.click("#consent-yes")
    await booth.screen("waiting")
    call = "section[data-screen='waiting'] .help-call"
    size = await box(booth.page, call)
    assert size["height"] >= 80 and size["font"] >= 28, size
    await booth.page.click(call)
    ringing = "section[data-screen='waiting'] .help-ringing"
    await booth.page.wait_for_selector(ringing, state="visible")
    assert await booth.text(ringing) == "工作人员马上就来"
    assert await booth.page.is_visible("section[data-screen='waiting'] .help-cancel")
    await booth.shot("ringing")

    # the staff view lists the booth, rings, and counts the time since the call
    row = "#help-rows tr[data-booth='hall-ui-03']"
    await staff.page.wait_for_selector(row, timeout=WAIT)
    assert await staff.text(f"{row} td.booth") == "测试03号亭"
    assert await staff.page.evaluate("window.rwHallAlerts().length") == 1
    await staff.page.wait_for_function(
        "(sel) => /^\\d+:\\d\\d$/.test(document.querySelector(sel)?.textContent || '')",
        arg=f"{row} td.waited", timeout=WAIT)
    await staff.shot("help")
    await staff.page.click(f"{row} button.ack")
    await staff.page.wait_for_selector(row, state="detached", timeout=WAIT)
    # the booth hears someone is coming: the ringing stops
    await booth.page.wait_for_selector(ringing, state="hidden", timeout=WAIT)
    assert await booth.page.is_visible(call)
    assert "工作人员已经看到" in await booth.text("#toast")
    await booth.shot("coming")
    await staff.page.wait_for_selector("#help-none:not([hidden])", timeout=WAIT)
    assert not booth.errors and not staff.errors
