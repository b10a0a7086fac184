"""Playback in real Chromium: the console's playback view and the dashboard's recordings panel.

A session's booth uploads a recorded leg over the HTTP API (a real WebM cut in chunks; its last
chunk never arrives, so the recording is incomplete with a gap at its end). The specialist who
served it plays it in the console, a manager of its intake centre in the dashboard: clicking an
event in the timeline seeks the <video> to the event's offset within its segment, computed here
from the API's own figures; the manager's views are in the session's and the person's access log.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.console import conftest as console_fixtures
from tests.materials import conftest as materials_fixtures
from tests.materials.conftest import Env
from tests.recording.conftest import webm
from tests.signaling import conftest as signaling_fixtures
from window_server.appkeys import RECORDING, STORE
from window_server.domain.auth import Role

# fixtures: Debian's Chromium (the console's tests'), a server with a held session (the materials')
browser = console_fixtures.browser
env, make_env = materials_fixtures.env, materials_fixtures.make_env
catalogue, demo = signaling_fixtures.catalogue, signaling_fixtures.demo

MANAGER = "mgr-rec-1"
NOTE_AT, DONE_AT = 1500, 2500  # ms after the segment started: when the note and the completion happen


@pytest.fixture(scope="session")
def pieces() -> list[bytes]:
    data = webm(seconds=3.0)
    third = len(data) // 3
    return [data[:third], data[third:2 * third], data[2 * third:]]


async def recorded(env: Env, pieces: list[bytes]) -> dict[str, Any]:
    """One leg of three chunks (t 1, 2, 3 s) ended as four: chunk 3 is lost; a note and the end inside it."""
    booth = env.booth_headers()
    async with env.srv.http.post(f"{env.url}/api/sessions/{env.sid}/recording/segments", headers=booth,
                                 json={"mime": "video/webm;codecs=vp8,opus", "width": 320, "height": 180}) as resp:
        assert resp.status == 201, await resp.text()
        started = int((await resp.json())["segment"]["started_at"])
    for seq, data in enumerate(pieces):
        url = f"{env.url}/api/sessions/{env.sid}/recording/segments/0/chunks/{seq}"
        async with env.srv.http.put(url, params={"t": str((seq + 1) * 1000)}, data=data,
                                    headers={**booth, "Content-Type": "video/webm"}) as resp:
            assert resp.status == 201, await resp.text()
    async with env.srv.http.post(f"{env.url}/api/sessions/{env.sid}/recording/segments/0/end", headers=booth,
                                 json={"chunks": 4, "t": 4000}) as resp:
        assert resp.status == 200, await resp.text()
    store = env.app[STORE]
    await store.annotate(env.agent, env.sid, "note", text="看过身份证", now=started + NOTE_AT)
    await store.complete(env.agent, env.sid, "consultation", now=started + DONE_AT)
    await env.app[RECORDING].finalize(env.sid, started + 10_000)
    status, view, _ = await env.get("/recording", env.cookie(env.agent_cookie))
    assert status == 200, view
    assert view["recording"]["state"] == "incomplete"
    return dict(view)


def offset_of(view: dict[str, Any], act: str) -> float:
    """Where the player must seek for the event ``act``: its time within the segment covering it (s)."""
    ts = int(next(e for e in view["events"] if e["act"] == act)["ts"])
    seg = next(s for s in view["recording"]["segments"] if s["started_at"] <= ts <= s["ended_at"])
    return (ts - int(seg["started_at"])) / 1000


async def page_as(browser: Browser, env: Env, cookie: str) -> tuple[BrowserContext, Page, list[str]]:
    ctx = await browser.new_context(viewport={"width": 1500, "height": 1000}, locale="zh-CN")
    await ctx.add_cookies([{"name": "rw_session", "value": cookie, "url": env.url}])
    page = await ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    return ctx, page, errors


async def seeks_to(page: Page, root: str, act: str, expected: float, *, keyboard: bool = False) -> None:
    """Click (or Enter on) the event ``act`` in the player under ``root``; the video is at ``expected``."""
    button = page.locator(f"{root} .pl-event[data-act='{act}']")
    if keyboard:
        await page.keyboard.press("Enter")
    else:
        await button.click()
    await page.wait_for_function(
        """([root, want]) => {
             const v = document.querySelector(`${root} video`);
             return v && v.readyState >= 1 && !v.seeking && Math.abs(v.currentTime - want) < 0.01;
           }""", arg=[root, expected], timeout=10_000)


async def test_the_console_plays_a_session_back_and_an_event_seeks_the_video(
        browser: Browser, env: Env, pieces: list[bytes], tmp_path: Any) -> None:
    view = await recorded(env, pieces)
    seg = view["recording"]["segments"][0]
    assert seg["gaps"] == [{"from": seg["started_at"] + 3000, "to": seg["started_at"] + 4000}]
    ctx, page, errors = await page_as(browser, env, env.agent_cookie)
    try:
        await page.goto(env.url + "/console")
        await page.wait_for_selector("body:not(.booting)", timeout=15_000)
        await page.keyboard.press("p")  # the playback view's key
        await expect(page.locator("#dlg-playback")).to_have_attribute("open", "", timeout=5_000)
        row = page.locator(f"#pb-rows tr[data-sid='{env.sid}']")
        await expect(row.locator(".pb-rec")).to_have_text("不完整", timeout=10_000)
        await row.locator(".pb-play").click()

        player = page.locator("#pb-player")
        await expect(player).to_have_attribute("data-state", "incomplete", timeout=10_000)
        await expect(player.locator(".pl-state")).to_have_text("不完整")
        present = player.locator(".pl-seg[data-n='0'] .pl-present")
        await expect(present).to_contain_text(f"展台 {env.booth}")
        await expect(present).to_contain_text(f"专员 {env.agent}")
        await expect(player.locator(".pl-gap")).to_have_count(1)  # the lost last chunk, red on the bar
        await expect(player.locator(".pl-gapitem")).to_have_count(1)

        await seeks_to(page, "#pb-player", "note", offset_of(view, "note"))
        # by keyboard: from the note, down to the completion, Enter
        await page.locator("#pb-player .pl-event[data-act='note']").focus()
        await page.keyboard.press("ArrowDown")
        await expect(page.locator("#pb-player .pl-event[data-act='complete']")).to_be_focused()
        await seeks_to(page, "#pb-player", "complete", offset_of(view, "complete"), keyboard=True)
        await page.screenshot(path=str(tmp_path / "console-playback.png"))

        await page.keyboard.press("Escape")  # closes the view (and stops the video)
        await expect(page.locator("#dlg-playback")).not_to_have_attribute("open", "")
        await expect(player.locator("video")).to_have_count(0)
        await page.click("#btn-lang")  # English: the view's words follow
        await expect(page.locator("#btn-playback-label")).to_have_text("Playback")
        await page.click("#btn-playback")
        await expect(row.locator(".pb-rec")).to_have_text("Incomplete", timeout=10_000)
        assert not errors, errors
    finally:
        await ctx.close()


async def test_the_dashboard_plays_a_recording_and_shows_who_saw_it(
        browser: Browser, env: Env, pieces: list[bytes], tmp_path: Any) -> None:
    view = await recorded(env, pieces)
    cookie = await env.staff(MANAGER, Role.MANAGER, env.demo["intake_centre"])
    ctx, page, errors = await page_as(browser, env, cookie)
    try:
        await page.goto(env.url + "/dashboard")
        await expect(page.locator("body[data-ready='1']")).to_be_attached(timeout=15_000)
        row = page.locator(f"#rec-list tbody tr[data-sid='{env.sid}']")
        await expect(row).to_have_class(re.compile(r"\balarm\b"), timeout=10_000)  # incomplete: flagged and counted
        await expect(page.locator("#rec-incomplete")).to_have_text("录像不完整 1")
        await page.select_option("#rec-status", "incomplete")
        await expect(page.locator("#rec-list tbody tr[data-sid]")).to_have_count(1)
        await row.locator(".rec-open").click()

        player = page.locator("#rec-player")
        await expect(player).to_have_attribute("data-state", "incomplete", timeout=10_000)
        await seeks_to(page, "#rec-player", "note", offset_of(view, "note"))
        await seeks_to(page, "#rec-player", "complete", offset_of(view, "complete"))

        # the manager's views are in the session's access log, and in the manager's own
        played = page.locator(f"#rec-access tbody tr[data-action='recording'][data-who='{MANAGER}']")
        await expect(played.first).to_be_attached(timeout=10_000)
        csv = await page.request.get(await page.locator("#rec-access-csv").evaluate("(a) => a.href"))
        assert csv.ok and MANAGER in await csv.text()
        await page.fill("#rec-person", MANAGER)
        await page.click("#rec-person-go")
        await expect(page.locator("#rec-person-log tbody tr[data-action='recording']").first).to_be_attached(
            timeout=10_000)

        # a legal hold, set with a reason and lifted
        await page.fill("#rec-hold-reason", "行政复议")
        await page.click("#rec-hold-set")
        await expect(page.locator("#rec-hold-state")).to_contain_text("行政复议", timeout=10_000)
        await page.screenshot(path=str(tmp_path / "dashboard-recordings.png"), full_page=True)
        await page.click("#rec-hold-lift")
        await expect(page.locator("#rec-hold-state")).to_have_text("未设置法律保全", timeout=10_000)
        assert not errors, errors
    finally:
        await ctx.close()
