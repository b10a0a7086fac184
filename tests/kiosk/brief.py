"""The kiosk's brief, measured: every screen of the flow, reached as a citizen (and the real server)
would reach it, then its type and buttons measured and axe-core run on it.

``SCREENS`` is the walk: a list of (name, step), each step an async function that brings the
page from the previous screen to this one. A new screen or overlay is one more line (a slip, a
signature, the chat, the call-staff alert): put it where the walk passes by it, e.g.
``("chat", open_chat)`` after ``("service", serve)``, with a step that opens it and one that closes
it again if the next step needs the screen under it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from playwright.async_api import Page

from tests.screens import walk_to_consent
from tests.signaling.conftest import Client, token
from window_server.domain.auth import Role

MIN_TEXT_PX = 28  # docs/booth.md: type at least 28 px
MIN_BUTTON_PX = 80  # and buttons at least 80 px high (and as wide)
PORTRAIT = {"width": 1080, "height": 1920}
LANDSCAPE = {"width": 1920, "height": 1080}
AXE = Path(__file__).resolve().parents[1] / "vendor" / "axe-core" / "axe.min.js"

# Rules switched off, each with its reason (nothing else is):
AXE_OFF = {
    # The kiosk is a fixed full-screen touch terminal (Chromium --kiosk): a pinch zoom would leave
    # the next citizen a zoomed page with no way back, so the page sets user-scalable=no and
    # meets the need another way: no type under 28 px (measured here) on a booth's screen.
    "meta-viewport",
}

MEASURE = """([minText, minButton]) => {
  const shown = (e) => {
    if (e.closest('section.screen:not(.active)') || e.closest('.defs')) return false;
    const s = getComputedStyle(e);
    if (s.visibility === 'hidden' || Number(s.opacity) === 0) return false;
    const r = e.getBoundingClientRect();
    return r.width > 0 && r.height > 0;
  };
  const name = (e) => {
    const cls = typeof e.className === 'string' && e.className.trim() ? '.' + e.className.trim().split(/\\s+/).join('.') : '';
    const words = (e.innerText || e.value || e.placeholder || '').trim().replace(/\\s+/g, ' ').slice(0, 24);
    return `${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''}${cls} "${words}"`;
  };
  const text = [], buttons = [];
  for (const e of document.body.querySelectorAll('*')) {
    const own = [...e.childNodes].some((n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim());
    if (!(own || e.matches('input, textarea, select')) || !shown(e)) continue;
    const px = parseFloat(getComputedStyle(e).fontSize);
    if (px < minText - 0.05) text.push(`${name(e)} ${px.toFixed(1)}px`);
  }
  for (const e of document.body.querySelectorAll('button, [role=button], a[href], input[type=button], input[type=submit]')) {
    if (!shown(e)) continue;
    const r = e.getBoundingClientRect();
    if (r.height < minButton - 0.5 || r.width < minButton - 0.5) buttons.push(`${name(e)} ${Math.round(r.width)}x${Math.round(r.height)}`);
  }
  return { text, buttons };
}"""

AXE_RUN = """async (off) => {
  const rules = Object.fromEntries(off.map((id) => [id, { enabled: false }]));
  const r = await axe.run(document, { rules, resultTypes: ['violations'] });
  return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) =>
    `${v.id} (${v.impact}): ` + v.nodes.slice(0, 4).map((n) => n.target.join(' ') + ' — ' + (n.failureSummary || '').replace(/\\s+/g, ' ')).join(' | '));
}"""


async def measure(page: Page) -> dict[str, list[str]]:
    """The visible text under MIN_TEXT_PX and the visible buttons under MIN_BUTTON_PX."""
    return dict(await page.evaluate(MEASURE, [MIN_TEXT_PX, MIN_BUTTON_PX]))


async def axe_findings(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now (axe injected once)."""
    if not await page.evaluate("typeof window.axe === 'object'"):
        await page.add_script_tag(path=str(AXE))  # the context bypasses the kiosk's CSP for this
    return list(await page.evaluate(AXE_RUN, sorted(AXE_OFF)))


@dataclass
class Walk:
    """One citizen's walk through the kiosk, with the real server and a specialist at hand."""

    page: Page
    base: str
    booth: Any  # tests.booth.conftest.Booth
    demo: dict[str, str]
    catalogue: Any
    clients: Callable[[str], Client]
    lang: str = "zh"
    agent: Client | None = None
    sid: str = ""
    materials: list[str] = field(default_factory=list)
    still: bytes = b""

    @property
    def url(self) -> str:
        return f"{self.base}/booth/{self.booth.id}?token={self.booth.token}"

    async def screen(self, name: str, within_ms: int = 20000) -> None:
        await self.page.wait_for_selector(f"body[data-screen='{name}']", timeout=within_ms)

    async def upload(self, kind: str) -> str:
        """The booth uploads a still of ``kind`` for the session (as its device agent does)."""
        async with aiohttp.ClientSession() as http, http.post(
                f"{self.base}/api/sessions/{self.sid}/materials", params={"kind": kind, "camera": "main"},
                data=self.still, headers={"Authorization": f"Bearer {self.booth.token}", "X-Booth": self.booth.id,
                                          "Content-Type": "image/jpeg"}) as resp:
            assert resp.status == 201, await resp.text()
            return str((await resp.json())["material"]["id"])

    async def verdict(self, material_id: str, verdict: str, reason: str = "") -> dict[str, Any]:
        assert self.agent is not None
        payload = {"sid": self.sid, "material_id": material_id, "verdict": verdict, "reason": reason}
        if verdict == "accepted":
            payload["override_reason"] = "看过原件"  # in case the automatic check rejected it
        return await self.agent.ok("verdict", payload)

    async def serve(self) -> None:
        """A specialist of the matter's home centre takes the waiting ticket."""
        agent = self.clients("/agent")
        await agent.connect(self.base, token(Role.SPECIALIST, "spec-brief", self.demo["home_centre"], "/agent",
                                             langs=("zh", "en")))
        await agent.ok("presence", {"status": "available"})
        offer = await agent.next("offer", within=20)
        self.sid = offer["sid"]
        await agent.ok("accept", {"sid": self.sid})
        self.agent = agent
        await self.screen("service")


Step = Callable[[Walk], Awaitable[None]]


# --- the steps ----------------------------------------------------------------------------------

async def setup(w: Walk) -> None:
    await w.page.goto(f"{w.base}/booth/{w.booth.id}")  # no token yet: the booth asks for set-up
    await w.screen("setup")


async def welcome(w: Walk) -> None:
    await w.page.goto(w.url)
    await w.screen("welcome")
    if w.lang == "en":
        await w.page.click("#btn-lang")


async def matter(w: Walk) -> None:
    await w.page.click("#btn-start")
    await w.screen("matter")
    await w.page.wait_for_selector("#matter-list .matter")


async def matter_category(w: Walk) -> None:
    await w.page.click("#matter-categories .category >> nth=0")
    await w.page.wait_for_selector("#matter-categories .category[aria-pressed='true']")


async def matter_search(w: Walk) -> None:
    await w.page.fill("#matter-search", "qysl")
    await w.page.wait_for_selector("#matter-list [data-name='企业设立登记']")


async def place(w: Walk) -> None:
    await w.page.click("#matter-list [data-name='企业设立登记']")
    await w.screen("place")


async def priority(w: Walk) -> None:
    await w.page.click("#place-list .place >> nth=0")
    await w.screen("priority")


async def consent(w: Walk) -> None:
    await w.page.click("[data-priority='']")
    await w.screen("consent")


async def declined(w: Walk) -> None:
    await w.page.click("#consent-no")
    await w.screen("declined")


async def waiting(w: Walk) -> None:
    """Back to the start, the walk again with the demo matter, and a ticket."""
    await w.page.click("#declined-home")
    await w.screen("welcome")
    await walk_to_consent(w.page, w.url, w.demo["region"], w.demo["matter"])
    if w.lang == "en":
        await w.page.click("#btn-lang")
    await w.page.click("#consent-yes")
    await w.screen("waiting")
    await w.page.wait_for_selector("#ticket:not(:empty)")


async def modal(w: Walk) -> None:
    await w.page.click("#btn-leave")
    await w.page.wait_for_selector("#modal:not([hidden])")


async def service(w: Walk) -> None:
    """The citizen stays; a specialist serves; the checklist has a still in each state."""
    await w.page.click("#modal-no")
    await w.page.wait_for_selector("#modal", state="hidden")
    await w.serve()
    kinds = [m.kind for m in w.catalogue.matter(w.demo["matter"]).materials]
    first = await w.upload(kinds[0])
    await w.page.wait_for_selector(f"#materials li[data-material='{first}']")
    await w.verdict(first, "rejected", "glare")
    await w.page.wait_for_selector(f"#materials li[data-material='{first}'].bad .advice")
    second = await w.upload(kinds[1])
    await w.verdict(second, "accepted")
    await w.page.wait_for_selector(f"#materials li[data-material='{second}'].good")
    w.materials = [first, second]


async def rating(w: Walk) -> None:
    assert w.agent is not None
    await w.agent.ok("complete", {"sid": w.sid, "outcome": "consultation", "case_number": "SH-2026-000042"})
    await w.screen("rating")


async def reason(w: Walk) -> None:
    await w.page.click("[data-level='2']")
    await w.screen("reason")
    await w.page.click("[data-reason='reason_wait']")


async def receipt(w: Walk) -> None:
    await w.page.click("#reason-submit")
    await w.screen("receipt")


async def ended(w: Walk) -> None:
    """The ended screen (a call that broke off) as the page shows it when the server says so."""
    await w.page.evaluate("import('/kiosk/static/connection.js').then((c) => c.showEnded('interrupted'))")
    await w.screen("ended")


SCREENS: list[tuple[str, Step]] = [
    ("setup", setup),
    ("welcome", welcome),
    ("matter", matter),
    ("matter-category", matter_category),
    ("matter-search", matter_search),
    ("place", place),
    ("priority", priority),
    ("consent", consent),
    ("declined", declined),
    ("waiting", waiting),
    ("modal", modal),
    ("service", service),
    ("rating", rating),
    ("reason", reason),
    ("receipt", receipt),
    ("ended", ended),
]
