"""Guests in real Chromium (issue 19): a team lead monitors, whispers to and barges into a live
session; a department reviewer is invited from the console, joins, marks a material and leaves.

Real parts: a window_server app in demo mode on a real redis-server; the kiosk of booth
sh-huangpu-01 and the booth's device agent (synthetic 高拍仪, aiortc, ICE on 127.0.0.1) in this
process; the serving specialist's console (spec-sh-huangpu), the team lead's guest page
(lead-sh-huangpu, the serving centre's) and the reviewer's guest page (review-310101, the matter's
region) in their own Chromium contexts with the fake camera and microphone. Waits are on the DOM
(the pages mark a tile data-live on its first rendered frame, requestVideoFrameCallback) and on the
session's event stream (XREAD BLOCK); figures are read once with a non-polling page.evaluate.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page
from redis.asyncio import Redis

from tests.console.conftest import Journey
from tests.console.peers import loopback_ice
from tests.console.test_journey import device_agent, session_act, show
from tests.screens import (
    DEMO_PASSWORD,
    Screens,
    chromium,
    open_screens,
    specialist_ready,
    walk_to_consent,
)
from window_server.store.events import read_entries
from window_server.store.keys import key

MATTER = "sh-310101-company-change"  # 黄浦区市场监督管理局, served by sh-huangpu
REGION = "310101"
JOURNEY = Journey(matter=MATTER, home="sh-huangpu", partner="sh-huangpu", intake="sh-huangpu")
SPECIALIST, LEAD, REVIEWER = "spec-sh-huangpu", "lead-sh-huangpu", f"review-{REGION}"
WIDE = {"width": 1600, "height": 900}


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


async def guest_login(page: Page, base: str, username: str, query: str = "") -> None:
    """Open the guest page; it shows its login form; sign in and let it load again."""
    await page.goto(f"{base}/guest{query}")
    await page.wait_for_selector("body[data-view='login']")
    await page.fill("#username", username)
    await page.fill("#password", DEMO_PASSWORD)
    async with page.expect_navigation():
        await page.click("#login-submit")


async def in_service(browser: Browser, base: str, shots: Path, control_port: int) -> tuple[Screens, Screens, str]:
    """The specialist available, a citizen's ticket offered and accepted; the kiosk in service."""
    _c, console = await open_screens(browser, shots, "console", WIDE)
    _k, kiosk = await open_screens(browser, shots, "kiosk", WIDE)
    await specialist_ready(console.page, base, SPECIALIST)
    await walk_to_consent(kiosk.page, f"{base}/booth/{JOURNEY.booth}?token={JOURNEY.booth_token}&device={control_port}",
                          REGION, MATTER)
    await kiosk.page.click("#consent-yes")
    await kiosk.screen("waiting", within_ms=60000)
    await console.page.wait_for_selector("#offer:not([hidden])", timeout=60000)
    await console.page.keyboard.press("a")
    await console.page.wait_for_selector("#service:not([hidden])")
    sid = str(await console.page.evaluate("window.rwConsole.state.sess.sid"))
    await kiosk.screen("service", within_ms=60000)
    return console, kiosk, sid


async def frames(page: Page, to: str) -> int:
    """Video frames the guest page decoded from one pair so far (getStats, read once)."""
    s = await page.evaluate("(to) => window.rwGuest.stats(to)", to)
    return int((s or {}).get("framesDecoded", 0))


async def audible(page: Page) -> dict[str, bool]:
    """Toward which sides the guest page's microphone track is enabled."""
    return dict(await page.evaluate("() => window.rwGuest.audible()"))


async def acts(redis: Redis, sid: str) -> list[str]:
    return [f.get("act", "") for _id, f in read_entries(await redis.xrange(key("session_events", sid=sid)))]


@pytest.mark.timeout(240)
async def test_a_team_lead_monitors_whispers_and_barges_in(
        start_server: Any, browser: Browser, redis: Redis, tmp_path: Path) -> None:
    srv = await start_server(demo=True)
    with loopback_ice():
        async with device_agent(srv.url, JOURNEY) as (_agent, control_port):
            console, kiosk, sid = await in_service(browser, srv.url, tmp_path, control_port)
            _l, lead = await open_screens(browser, tmp_path, "lead", WIDE)
            page = lead.page

            # 监听: straight from the dashboard's link; sees and hears both sides and the 高拍仪.
            await guest_login(page, srv.url, LEAD, f"?sid={sid}&mode=monitor")
            await page.wait_for_selector("body[data-view='session'][data-mode='monitor']", timeout=60000)
            for tile in ("#tile-booth", "#tile-agent", "#tile-device"):
                await page.wait_for_selector(f"{tile}[data-live]", timeout=60000)
            assert await frames(page, "booth") > 0 and await frames(page, "agent") > 0 and await frames(page, "device") > 0
            assert await audible(page) == {"booth": False, "agent": False, "device": False}
            await console.page.wait_for_selector("#guests .guest[data-mode='monitor']")  # staff are told
            assert "演示组长" in await console.text("#guests")
            assert await kiosk.page.locator("#guest-notice").is_hidden()  # the citizen cannot hear them
            await lead.shot("monitor")
            await session_act(redis, sid, "guest_join")

            # 耳语: only the specialist hears the lead.
            await page.click("#mode-whisper")
            await page.wait_for_selector("body[data-mode='whisper'] #mode-whisper[aria-pressed='true']")
            assert await audible(page) == {"booth": False, "agent": True, "device": False}
            await console.page.wait_for_selector("#guests .guest[data-mode='whisper']")
            await console.page.wait_for_selector("#guest-audio audio", state="attached")
            assert await console.page.evaluate("() => [...document.querySelectorAll('#guest-audio audio')].every((a) => !a.muted)")
            await session_act(redis, sid, "guest_mode")
            assert await kiosk.page.locator("#guest-notice").is_hidden()
            await lead.shot("whisper")

            # 强插: everyone hears the lead, and the citizen's screen says so.
            await page.click("#mode-barge")
            await page.wait_for_selector("body[data-mode='barge']")
            assert await audible(page) == {"booth": True, "agent": True, "device": False}
            await kiosk.page.wait_for_selector("#guest-notice:not([hidden])", timeout=15000)
            assert "主管" in await kiosk.text("#guest-notice")
            assert "演示组长" not in await kiosk.text("#guest-notice")  # never a name at the booth
            await console.page.wait_for_selector("#guests .guest[data-mode='barge']")
            await kiosk.shot("barge-notice")
            await lead.shot("barge")

            # 离开: the notice goes, the console's header empties.
            await page.click("#btn-leave")
            await page.wait_for_selector("body[data-view='ended']")
            await kiosk.page.wait_for_selector("#guest-notice", state="hidden", timeout=15000)
            await console.page.wait_for_selector("#guests .guest", state="detached")
            await session_act(redis, sid, "guest_leave")
            history = await acts(redis, sid)
            assert history.count("guest_join") == 1 and history.count("guest_mode") == 2, history
            assert history.index("guest_join") < history.index("guest_mode") < history.index("guest_leave")
            assert not (console.errors or kiosk.errors or lead.errors), (console.errors, kiosk.errors, lead.errors)


@pytest.mark.timeout(240)
async def test_a_reviewer_is_invited_joins_marks_a_material_and_leaves(
        start_server: Any, browser: Browser, redis: Redis, tmp_path: Path) -> None:
    srv = await start_server(demo=True)
    with loopback_ice():
        async with device_agent(srv.url, JOURNEY) as (agent, control_port):
            console, kiosk, sid = await in_service(browser, srv.url, tmp_path, control_port)
            c = console.page

            # A still first: the ID card under the 高拍仪, captured with C.
            show(agent, "id_card_front")
            await c.select_option("#cap-kind", "id_card_front")
            await c.keyboard.press("c")
            thumb = c.locator("#gallery .thumb[data-id][data-kind='id_card_front']").first
            await thumb.wait_for(timeout=60000)
            mid = str(await thumb.get_attribute("data-id"))

            # The reviewer's page waits with an empty inbox.
            _r, rev = await open_screens(browser, tmp_path, "reviewer", WIDE)
            page = rev.page
            await guest_login(page, srv.url, REVIEWER)
            await page.wait_for_selector("body[data-view='inbox'][data-role='reviewer'] #inbox-empty:not([hidden])")

            # 邀请审批部门: the console lists the region's reviewers, online ones marked.
            await c.click("#btn-invite")
            await c.wait_for_selector(f"#dlg-invite[open] #invite-list li[data-reviewer='{REVIEWER}'][data-online='1']")
            await console.shot("invite-dialog")
            await c.click(f"#invite-list li[data-reviewer='{REVIEWER}'] .invite-send")
            await c.wait_for_selector("#guests .invite[data-state='pending']")
            await session_act(redis, sid, "invite")

            # The invitation arrives with its countdown; 接受 joins as 会商.
            invite = page.locator(f"#invites li.invite[data-sid='{sid}']")
            await invite.wait_for(timeout=15000)
            assert ":" in await invite.locator(".left").inner_text()
            await rev.shot("inbox")
            await invite.locator(".accept").click()
            await page.wait_for_selector("body[data-view='session'][data-mode='consult']", timeout=60000)
            for tile in ("#tile-booth", "#tile-agent"):
                await page.wait_for_selector(f"{tile}[data-live]", timeout=60000)
            assert await audible(page) == {"booth": True, "agent": True, "device": False}
            await kiosk.page.wait_for_selector("#guest-notice:not([hidden])", timeout=15000)
            assert "审批部门" in await kiosk.text("#guest-notice")
            await c.wait_for_selector("#guests .guest[data-mode='consult'][data-role='reviewer']")
            await c.wait_for_selector("#guests .invite", state="detached")  # no longer pending

            # The stills (read only) and the checklist; the department's view of the ID card.
            await page.wait_for_selector(f"#stills .thumb[data-id='{mid}'] img")
            row = page.locator(f"#checklist li.kind[data-kind='id_card_front'] li.mat[data-id='{mid}']")
            await row.wait_for()
            await row.locator("input.note").fill("人像面清晰，与原件一致")
            await row.locator("button.view[data-view='ok']").click()
            await page.wait_for_selector(f"#checklist li.mat[data-id='{mid}'][data-mark='ok'] .marked")
            await rev.shot("marked")
            await session_act(redis, sid, "dept_mark")

            # The console shows the mark next to the material's name, with the note and who.
            mark = c.locator(f"#dept-marks li[data-material='{mid}'][data-view='ok']")
            await mark.wait_for(timeout=15000)
            text = await mark.inner_text()
            assert "符合" in text and "人像面清晰" in text and "演示审批" in text, text
            await console.shot("dept-mark")

            # 离开: back to the inbox; the booth's notice and the console's chip go.
            await page.click("#btn-leave")
            await page.wait_for_selector("body[data-view='inbox']")
            await kiosk.page.wait_for_selector("#guest-notice", state="hidden", timeout=15000)
            await c.wait_for_selector("#guests .guest", state="detached")
            await session_act(redis, sid, "guest_leave")
            history = await acts(redis, sid)
            for act in ("invite", "invite_accept", "guest_join", "dept_mark", "guest_leave"):
                assert act in history, (act, history)
            fields = [f for _id, f in read_entries(await redis.xrange(key("session_events", sid=sid)))]
            assert not any("人像面清晰" in v for f in fields for v in f.values())  # the note is not in the history
            assert not (console.errors or kiosk.errors or rev.errors), (console.errors, kiosk.errors, rev.errors)
