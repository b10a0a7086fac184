"""The kiosk's brief on what the hall adds to it (helper D1's measure and axe-core, tests/kiosk/brief.py):
the waiting screen with a ringing call for staff, the slip, and the hall's call on a free booth, at
1080×1920 and 1920×1080, in Chinese and English: no visible text under 28 px, no visible button
under 80 px, no serious or critical axe-core finding. Screenshots land in the test's tmp folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page

from tests.booth.conftest import booth_account, loopback_ice  # noqa: F401  (fixtures)
from tests.kiosk.brief import LANDSCAPE, PORTRAIT, axe_findings, measure
from tests.kiosk.conftest import browser  # noqa: F401  (fixture)
from tests.screens import walk_to_consent
from tests.signaling.conftest import catalogue, clients, demo, server  # noqa: F401  (fixtures)


async def english(page: Page, lang: str) -> None:
    if lang == "en" and await page.evaluate("document.documentElement.lang") != "en":
        await page.click("#btn-lang")


@pytest.mark.parametrize(("viewport", "lang"), [(PORTRAIT, "zh"), (LANDSCAPE, "zh"), (PORTRAIT, "en")],
                         ids=["portrait-zh", "landscape-zh", "portrait-en"])
async def test_the_hall_on_the_kiosk_meets_the_brief(
        viewport: dict[str, int], lang: str, browser: Browser, booth_account: Any,  # noqa: F811
        demo: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    context = await browser.new_context(viewport=viewport, bypass_csp=True)  # axe is injected as a script
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    small: dict[str, list[str]] = {}
    findings: dict[str, list[str]] = {}
    shots: list[str] = []

    async def check(name: str) -> None:
        shots.append(name)
        await page.screenshot(path=str(tmp_path / f"{len(shots):02d}-{name}.png"))
        sizes = await measure(page)
        if sizes["text"] or sizes["buttons"]:
            small[name] = sizes["text"] + sizes["buttons"]
        if found := await axe_findings(page):
            findings[name] = found

    try:
        await walk_to_consent(page, f"{booth_account.url}/booth/{booth_account.id}?token={booth_account.token}",
                              demo["region"], demo["matter"])
        await english(page, lang)
        await page.click("#consent-yes")
        await page.wait_for_selector("body[data-screen='waiting']")
        await page.click("section[data-screen='waiting'] .help-call")
        await page.wait_for_selector("section[data-screen='waiting'] .help-ringing", state="visible")
        await check("waiting-ringing")
        await page.click("section[data-screen='waiting'] .help-cancel")
        await page.wait_for_selector("section[data-screen='waiting'] .help-call", state="visible")
        await page.click("#btn-sit-down")
        await page.wait_for_selector("#modal:not([hidden])")
        await page.click("#modal-yes")
        await page.wait_for_selector("body[data-screen='slip']")
        await check("slip")
        await page.click("#slip-done")
        await page.wait_for_selector("body[data-screen='welcome']")
        await english(page, lang)  # every citizen starts in Chinese
        await page.wait_for_selector("#hall-calls .hall-call", state="visible")  # nobody was ahead: called
        await check("hall-call")
        assert not small, "under the brief (28 px text, 80 px buttons):\n" + "\n".join(
            f"  {screen}: {', '.join(found)}" for screen, found in small.items())
        assert not findings, "axe-core, serious or critical:\n" + "\n".join(
            f"  {screen}: {'; '.join(found)}" for screen, found in findings.items())
        assert not errors, errors
    finally:
        await context.close()
