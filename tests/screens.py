"""A Chromium page driven step by step in the tests: numbered screenshots, its page errors, and
the kiosk's walk from the welcome screen to the consent screen."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Page


class Screens:
    """A page with a numbered screenshot of each step and the page errors it raised."""

    def __init__(self, page: Page, shots: Path, who: str) -> None:
        self.page, self.shots, self.who, self.n = page, shots, who, 0
        self.errors: list[str] = []
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    async def shot(self, name: str) -> None:
        self.n += 1
        await self.page.screenshot(path=str(self.shots / f"{self.who}-{self.n:02d}-{name}.png"))

    async def screen(self, name: str, within_ms: int = 20000) -> None:
        await self.page.wait_for_selector(f"body[data-screen='{name}']", timeout=within_ms)

    async def text(self, selector: str) -> str:
        return (await self.page.text_content(selector) or "").strip()


async def walk_to_consent(page: Page, url: str, region: str, matter: str) -> None:
    """Open the kiosk at ``url`` and choose the matter as a citizen would, up to the consent screen."""
    await page.goto(url)
    await page.wait_for_selector("body[data-screen='welcome']")
    await page.click("#btn-start")
    await page.click(f"[data-province='{region[:2]}0000']")
    await page.click(f"[data-region='{region}']")
    await page.click(f"[data-matter='{matter}']")
    await page.click("[data-priority='']")
    await page.wait_for_selector("body[data-screen='consent']")
