"""Chromium in the tests: one way to launch it, a page driven step by step (numbered screenshots,
its page errors), the kiosk's walk from the welcome screen to the consent screen, and a specialist
signed in to the console and available."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import Browser, BrowserContext, Page, async_playwright

CHROMIUM = "/usr/bin/chromium"  # Debian's; never `playwright install` (no downloads here)
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]
DEMO_PASSWORD = "demo1234"  # window_server.accounts.store.DEMO_PASSWORD


@asynccontextmanager
async def chromium(*extra: str) -> AsyncIterator[Browser]:
    """Headless Chromium with the fake camera and microphone (``extra``: more flags)."""
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *extra])
        try:
            yield b
        finally:
            await b.close()


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
    """Open the kiosk at ``url`` and choose the matter as a citizen would, up to the consent screen:
    the matter first (its name, offered by one or several regions), then the place of ``region``
    when the kiosk asks for it, then no priority."""
    await page.goto(url)
    await page.wait_for_selector("body[data-screen='welcome']")
    await page.click("#btn-start")
    await page.wait_for_selector("body[data-screen='matter']")
    await page.click(f"#matter-list [data-matters~='{matter}']")
    await page.wait_for_selector("body[data-screen='place'], body[data-screen='priority']")
    if await page.locator("body[data-screen='place']").count():  # several regions offer it: which one
        await page.click(f"#place-list [data-region='{region}'][data-matter='{matter}']")
    await page.wait_for_selector("body[data-screen='priority']")
    await page.click("[data-priority='']")
    await page.wait_for_selector("body[data-screen='consent']")


async def open_screens(browser: Browser, shots: Path, who: str, viewport: dict[str, int],
                       **context: object) -> tuple[BrowserContext, Screens]:
    """A page of its own browser context (its own localStorage) in Chinese, wrapped in Screens."""
    ctx = await browser.new_context(viewport=viewport, locale="zh-CN", **context)  # type: ignore[arg-type]
    return ctx, Screens(await ctx.new_page(), shots, who)


async def specialist_ready(page: Page, base: str, username: str, password: str = DEMO_PASSWORD) -> None:
    """Sign a specialist in to the console at ``base`` and switch them to available."""
    await page.goto(base + "/console")
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("#login-submit")
    await page.wait_for_selector("#conn.on", timeout=15000)
    await page.click("#btn-available")
    await page.wait_for_selector("#status-pill.p-available", timeout=10000)
