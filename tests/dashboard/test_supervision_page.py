"""Issue 19 on the dashboard page in real Chromium (Debian's): the specialists panel with names,
status, occupancy and the monitor link; tiles coloured against their targets with words; the chart
axes in Chinese; the labelled status column; the flow heat map; a follow-up step needs a note."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.async_api import Browser, expect

from tests.dashboard.conftest import PASSWORD
from tests.screens import chromium as launch_chromium
from window_server.appkeys import ACCOUNTS
from window_server.domain.auth import Role


@pytest.fixture(scope="module")
async def chromium() -> AsyncIterator[Browser]:
    async with launch_chromium() as browser:
        yield browser


async def test_a_team_lead_watches_specialists_and_follows_up_a_bad_review(
    dash_factory: Any, chromium: Browser, tmp_path: Path
) -> None:
    # service level 0.5 against 0.8 with a 40 % margin: amber; abandonment 1/3 against 5 %: red; ASA green
    d = await dash_factory(target_service_level=0.8, target_margin=0.4, target_abandonment_rate=0.05,
                           target_asa_seconds=30)
    c = d.chain
    cookie = await d.login("lead-home", Role.TEAM_LEAD, c.home)
    accounts = d.srv.app[ACCOUNTS]
    await accounts.add_user("a1", PASSWORD, Role.SPECIALIST, c.home, name="王一")
    await accounts.add_user("a2", PASSWORD, Role.SPECIALIST, c.home, name="李二")
    await d.at(0)
    await d.agent("a1")
    await d.agent("a2")
    await d.store.presence("a2", "available")
    bad = await d.ticket("b3", intake=c.home)  # offered to a2
    await d.at(5)
    await d.store.accept("a2", bad)
    await d.at(100)
    await d.queue.complete("a2", bad, "consultation")
    await d.queue.rate(bad, "b3", 1, "态度不好")
    await d.at(160)
    await d.store.presence("a2", "away")
    gone = await d.ticket("b2", intake=c.home)  # nobody available: it waits, then the citizen leaves
    await d.at(260)
    await d.queue.leave(gone, "b2")
    await d.store.presence("a1", "available")
    live = await d.ticket("b1", intake=c.home)  # offered to a1
    await d.at(270)
    await d.store.accept("a1", live)  # answered in 10 s: 1 of 2 (1 served + 1 abandoned) within T
    await d.drained()

    context = await chromium.new_context(viewport={"width": 1500, "height": 1400}, locale="zh-CN")
    await context.add_cookies([{"name": "rw_session", "value": cookie, "url": d.srv.url}])
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        await page.goto(d.srv.url + "/dashboard")
        await expect(page.locator("body[data-ready='1']")).to_be_attached(timeout=15_000)

        # The specialists panel: names, status, session, handled today, occupancy; links on a live session.
        row1 = page.locator("#specialists tr[data-user='a1']")
        row2 = page.locator("#specialists tr[data-user='a2']")
        await expect(row1.locator("td.name")).to_contain_text("王一", timeout=10_000)
        await expect(row1.locator("td[data-col='status']")).to_have_text("服务中")
        await expect(row1.locator("td[data-col='session']")).to_contain_text(live)
        await expect(row1.locator("td[data-col='occupancy']")).to_have_text("100.0%")  # offered, then in service
        await expect(row1.locator("td[data-col='since']")).to_have_text(re.compile(r"^\d+:\d\d$"))
        await expect(row2.locator("td.name")).to_contain_text("李二")
        await expect(row2.locator("td[data-col='status']")).to_have_text("暂离")
        await expect(row2.locator("td[data-col='handled']")).to_have_text("1")
        # a2: offered at once, in service, wrap-up: busy all of its staffed 0 → 160, then away
        await expect(row2.locator("td[data-col='occupancy']")).to_have_text("100.0%")
        await expect(row2.locator("a.guest-link")).to_have_count(0)  # no live session: nothing to join
        links = row1.locator("a.guest-link")
        await expect(links).to_have_text(["监听", "耳语", "强插"])
        monitor = row1.locator("a.guest-link[data-mode='monitor']")
        assert await monitor.get_attribute("target") == "_blank"
        async with context.expect_page() as opened:
            await monitor.click()
        tab = await opened.value
        url = urlparse(tab.url)
        assert url.path == "/guest" and parse_qs(url.query) == {"sid": [live], "mode": ["monitor"]}
        await tab.close()

        # KPI tiles against their targets, in colour and in words.
        level = page.locator("[data-kpi='service_level']")
        await expect(level).to_have_attribute("data-target", "amber")
        await expect(level.locator(".target")).to_have_text("接近目标 · 目标 ≥ 80.0%")
        await expect(page.locator("[data-kpi='abandoned']")).to_have_attribute("data-target", "red")
        await expect(page.locator("[data-kpi='abandoned'] .target")).to_contain_text("未达标")
        await expect(page.locator("[data-kpi='asa']")).to_have_attribute("data-target", "green")
        await expect(page.locator("[data-kpi='asa'] .target")).to_have_text("达标 · 目标 ≤ 0:30")

        # The status column in words, zeros left out.
        agents = page.locator(f"#centres tr[data-centre='{c.home}'] td[data-col='agents']")
        await expect(agents).to_have_text("服务中 1 · 暂离 1")

        # The charts: the time axis and the legend in Chinese, no "8am", no "Time".
        chart = page.locator("#chart-waiting")
        await expect(chart).to_have_attribute("data-x-ticks", re.compile(r"\d\d时"))
        ticks = await chart.get_attribute("data-x-ticks") or ""
        assert not re.search(r"am|pm", ticks, re.I), ticks
        legend = await page.locator("#chart-waiting .u-legend").inner_text()
        assert "时段" in legend and "Time" not in legend and "--" not in legend, legend

        # The flow: this hall's citizens served here (2: the bad one and the live one).
        cell = page.locator(f"#flow td[data-intake='{c.home}'][data-serving='{c.home}']")
        await expect(cell).to_have_text("2")

        # The bad review: a step needs a note, then shows it with who and when.
        review = page.locator(f"#reviews tr[data-sid='{bad}']")
        await review.locator("button[data-step='called_back']").click()
        await review.locator("form[data-step='called_back'] button.save").click()
        await expect(review.locator(".note-error")).to_have_text("请先填写所做工作，再记录这一步")
        await expect(review.locator("input[data-note-for='called_back']")).to_have_attribute("aria-invalid", "true")
        await review.locator("input[data-note-for='called_back']").fill("已电话回访，市民接受道歉")
        await review.locator("form[data-step='called_back'] button.save").click()
        done = review.locator("td[data-step='called_back']")
        await expect(done.locator(".step-note")).to_have_text("已电话回访，市民接受道歉", timeout=5_000)
        await expect(done).to_contain_text("lead-home")
        await expect(review.locator("button[data-step='rectified']")).to_be_visible()
        await page.screenshot(path=str(tmp_path / "dashboard-supervision.png"), full_page=True)

        # English: the axis has no Chinese left, the panel follows.
        await page.click("#btn-lang")
        await expect(chart).to_have_attribute("data-x-ticks", re.compile(r"^\d\d:\d\d"))
        assert "时" not in (await chart.get_attribute("data-x-ticks") or "")
        await expect(row1.locator("a.guest-link[data-mode='barge']")).to_have_text("Barge in")
        await expect(agents).to_have_text("In service 1 · away 1")
        await page.screenshot(path=str(tmp_path / "dashboard-supervision-en.png"), full_page=True)
        assert not errors, errors
    finally:
        await context.close()
    print(f"screenshots: {tmp_path / 'dashboard-supervision.png'}")


async def test_a_chain_manager_chooses_the_centre_of_the_panel(
    dash_factory: Any, chromium: Browser
) -> None:
    d = await dash_factory()
    c = d.chain
    cookie = await d.login("chief", Role.CHAIN_MANAGER)
    await d.srv.app[ACCOUNTS].add_user("a1", PASSWORD, Role.SPECIALIST, c.home, name="王一")
    await d.at(0)
    await d.agent("a1")
    await d.drained()
    context = await chromium.new_context(viewport={"width": 1500, "height": 1200}, locale="zh-CN")
    await context.add_cookies([{"name": "rw_session", "value": cookie, "url": d.srv.url}])
    page = await context.new_page()
    try:
        await page.goto(d.srv.url + "/dashboard")
        await expect(page.locator("body[data-ready='1']")).to_be_attached(timeout=15_000)
        await expect(page.locator("#specialists tbody")).to_contain_text("选择中心")
        await page.select_option("#spec-centre", c.home)
        await expect(page.locator("#specialists tr[data-user='a1'] td.name")).to_contain_text("王一", timeout=10_000)
        await expect(page.locator("#specialists tr[data-user='a1'] td[data-col='status']")).to_have_text("暂离")
    finally:
        await context.close()
