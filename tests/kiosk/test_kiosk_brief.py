"""The kiosk's brief on every screen, in Chromium at 1080×1920 (portrait) and 1920×1080
(landscape): no visible text under 28 px, no visible button under 80 px, and no serious or
critical axe-core finding. The walk is ``tests/kiosk/brief.py`` ``SCREENS``; a screenshot of each
screen lands in the test's tmp folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser

from window_server.appkeys import CATALOGUE

from .brief import LANDSCAPE, PORTRAIT, SCREENS, Walk, axe_findings, measure


@pytest.mark.parametrize(("viewport", "lang"), [(PORTRAIT, "zh"), (LANDSCAPE, "zh"), (PORTRAIT, "en"),
                                                (LANDSCAPE, "en")],
                         ids=["portrait-zh", "landscape-zh", "portrait-en", "landscape-en"])
async def test_every_screen_meets_the_brief(viewport: dict[str, int], lang: str, browser: Browser,
                                            booth_account: Any, demo: dict[str, str], clients: Any,
                                            still: bytes, tmp_path: Path) -> None:
    context = await browser.new_context(viewport=viewport, bypass_csp=True)  # axe is injected as a script
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    walk = Walk(page, booth_account.url, booth_account, demo, booth_account.srv.app[CATALOGUE], clients, lang=lang,
                still=still)
    small: dict[str, list[str]] = {}
    findings: dict[str, list[str]] = {}
    try:
        for n, (name, step) in enumerate(SCREENS, start=1):
            await step(walk)
            await page.screenshot(path=str(tmp_path / f"{n:02d}-{name}.png"))
            sizes = await measure(page)
            if sizes["text"] or sizes["buttons"]:
                small[name] = sizes["text"] + sizes["buttons"]
            if found := await axe_findings(page):
                findings[name] = found
        assert not small, "under the brief (28 px text, 80 px buttons):\n" + "\n".join(
            f"  {screen}: {', '.join(found)}" for screen, found in small.items())
        assert not findings, "axe-core, serious or critical:\n" + "\n".join(
            f"  {screen}: {'; '.join(found)}" for screen, found in findings.items())
        assert not errors, errors
    finally:
        await context.close()
