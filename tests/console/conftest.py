"""Console fixtures: real Chromium (Debian's, never `playwright install`), pages as a specialist.

Screenshots of every step go to ``<tmp_path>/screenshots`` of the test (printed at the end).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page

from tests.screens import DEMO_PASSWORD, chromium
from window_server.domain.catalogue import Catalogue
from window_server.runtime.catalogue import load_catalogue

from .peers import loopback_ice

PASSWORD = DEMO_PASSWORD
VIEWPORT = {"width": 1600, "height": 900}


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


@pytest.fixture
def loopback() -> Iterator[None]:
    """aiortc peers of this test gather 127.0.0.1 only."""
    with loopback_ice():
        yield


@dataclass(frozen=True)
class Journey:
    """A matter with its own centre, a partner centre that may also serve it, an intake centre."""

    matter: str
    home: str
    partner: str
    intake: str

    @property
    def booth(self) -> str:
        return f"{self.intake}-01"

    @property
    def booth_token(self) -> str:
        return f"demo-{self.booth}"  # demo mode's published booth token


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return load_catalogue(None, None)


@pytest.fixture(scope="session")
def journey(catalogue: Catalogue) -> Journey:
    m = catalogue.matter("js-320600-housing-fund-transfer")  # ID card + application form
    return Journey(matter=m.code, home="js-nantong", partner="js-province", intake="sh-huangpu")


class Console:
    """One specialist's console page with screenshots and the page's own figures."""

    def __init__(self, page: Page, base: str, shots: Path, who: str) -> None:
        self.page, self.base, self.shots, self.who = page, base, shots, who
        self.errors: list[str] = []
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.n = 0

    async def shot(self, name: str) -> Path:
        self.n += 1
        path = self.shots / f"{self.who}-{self.n:02d}-{name}.png"
        await self.page.screenshot(path=str(path))
        return path

    async def login(self, username: str, password: str = PASSWORD, *, shot: bool = True) -> None:
        await self.page.goto(self.base + "/console")  # redirected to the login page
        await self.page.wait_for_selector("#login-form")
        await self.page.fill("#username", username)
        await self.page.fill("#password", password)
        if shot:
            await self.shot("login")
        await self.page.click("#login-submit")
        await self.page.wait_for_url(self.base + "/console")
        await self.page.wait_for_selector("#conn.on", timeout=15000)

    async def available(self) -> None:
        await self.page.click("#btn-available")
        await self.page.wait_for_selector("#status-pill.p-available", timeout=10000)

    async def evaluate(self, js: str, arg: Any = None) -> Any:
        return await self.page.evaluate(js, arg)

    async def stats(self, pc: str) -> dict[str, Any] | None:
        result: dict[str, Any] | None = await self.page.evaluate("(pc) => window.rwConsole.stats(pc)", pc)
        return result

    async def frames_decoded(self, pc: str, within_ms: int = 20000) -> int:
        """Wait (in the page) until getStats() of ``pc`` reports framesDecoded > 0; return it."""
        n = await self.page.evaluate(
            """async ([pc, within]) => {
                 const end = performance.now() + within;
                 while (performance.now() < end) {
                   const s = await window.rwConsole.stats(pc);
                   if (s && s.framesDecoded > 0) return s.framesDecoded;
                   await new Promise((r) => setTimeout(r, 50));
                 }
                 return 0;
               }""", [pc, within_ms])
        return int(n)


@pytest.fixture
async def consoles(browser: Browser, tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """Open specialist consoles, each in its own browser context (its own cookie)."""
    shots = tmp_path / "screenshots"
    shots.mkdir()
    made: list[tuple[BrowserContext, Console]] = []

    async def open_console(base: str, who: str) -> Console:
        ctx = await browser.new_context(viewport=VIEWPORT, locale="zh-CN")
        page = await ctx.new_page()
        c = Console(page, base, shots, who)
        made.append((ctx, c))
        return c

    yield open_console
    for ctx, _c in made:
        await ctx.close()
    print(f"\nscreenshots: {shots}")
    errors = [f"{c.who}: {e}" for _ctx, c in made for e in c.errors]
    assert not errors, errors
