"""The dashboard page in real Chromium (Debian's, never `playwright install`): it updates live."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, expect

from tests.dashboard.conftest import PASSWORD, Chain
from tests.screens import chromium as launch_chromium
from tests.signaling.conftest import SECRET
from window_server.appkeys import ACCOUNTS, QUEUE
from window_server.domain.auth import Role


@pytest.fixture(scope="session")
async def chromium() -> AsyncIterator[Browser]:
    async with launch_chromium() as browser:
        yield browser


async def test_a_manager_sees_the_queue_change_live(
    start_server: Any, chromium: Browser, chain: Chain, tmp_path: Path
) -> None:
    srv = await start_server(secret=SECRET, heartbeat_ttl_seconds=3600,
                             dashboard_push_seconds=0.2)
    await srv.app[ACCOUNTS].add_user("mgr-intake", PASSWORD, Role.MANAGER, chain.intake)
    queue = srv.app[QUEUE]
    context = await chromium.new_context(viewport={"width": 1500, "height": 1400}, locale="zh-CN")
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        await page.goto(srv.url + "/dashboard")
        await page.fill("#username", "mgr-intake")
        await page.fill("#password", PASSWORD)
        await page.click("#login-submit")
        await expect(page.locator("body[data-ready='1']")).to_be_attached(timeout=15_000)
        await expect(page.locator("body[data-live='up']")).to_be_attached(timeout=10_000)
        waiting = page.locator("#tile-waiting")
        row = page.locator(f"#centres tbody tr[data-centre='{chain.intake}'] td[data-col='waiting']")
        await expect(waiting).to_have_text("0")
        await expect(page.locator("#centres tbody tr")).to_have_count(1)  # a manager sees their centre only

        # A citizen at the manager's hall takes a ticket: the page shows it, pushed live (how
        # fast, p50/p99, is bench/dashboard_bench.py's to measure).
        res = await queue.request_service(booth="bth-1", intake_centre=chain.intake, matter=chain.matter,
                                          consent=True)
        await expect(waiting).to_have_text("1", timeout=5_000)
        await expect(row).to_have_text("1")
        await expect(page.locator("[data-kpi='tickets'] .value")).to_have_text("1", timeout=5_000)

        # Nobody can serve its region: the alarm shows.
        await expect(page.locator("#alarms .alarm-item.no_specialist")).to_have_count(1, timeout=5_000)

        # A second citizen, then the first leaves: the counts follow.
        second = await queue.request_service(booth="bth-2", intake_centre=chain.intake, matter=chain.matter2,
                                             consent=True)
        await expect(waiting).to_have_text("2", timeout=5_000)
        await queue.leave(res.ok["sid"], "bth-1")
        await expect(waiting).to_have_text("1", timeout=5_000)
        await expect(page.locator("[data-kpi='abandoned'] .value")).to_contain_text("1", timeout=5_000)
        await page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)

        # English, and the figures stay.
        await page.click("#btn-lang")
        await expect(page.locator("h1")).to_have_text("Remote Window · Manager dashboard")
        await expect(waiting).to_have_text("1")
        await page.screenshot(path=str(tmp_path / "dashboard-en.png"), full_page=True)
        assert second.ok["sid"]
        assert not errors, errors
    finally:
        await context.close()
    print(f"screenshots: {tmp_path / 'dashboard.png'}, {tmp_path / 'dashboard-en.png'}")


async def test_the_login_page_refuses_a_specialist(start_server: Any, chromium: Browser, chain: Chain) -> None:
    srv = await start_server(secret=SECRET)
    await srv.app[ACCOUNTS].add_user("spec-x", PASSWORD, Role.SPECIALIST, chain.home)
    context = await chromium.new_context()
    page = await context.new_page()
    try:
        await page.goto(srv.url + "/dashboard")
        await page.fill("#username", "spec-x")
        await page.fill("#password", PASSWORD)
        await page.click("#login-submit")
        await expect(page.locator("#login-error")).to_contain_text("组长", timeout=10_000)
    finally:
        await context.close()
