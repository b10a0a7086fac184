"""The acceptance test of issue 7: a citizen and specialists of two centres complete a session.

Real parts only: two ``python -m window_server`` processes on one real redis-server, the kiosk
page (issue 6) in one Chromium context with the fake camera, the device agent (issue 6) with its
synthetic 高拍仪 in this process, and specialist consoles in other Chromium contexts. The booth is
on node 1, the first specialist on node 2, the receiving specialist (another centre) on node 1.

ticket → offer → accept → media both ways (framesDecoded > 0 on both sides) and the document
camera's preview → capture ID front and a form page (the synthetic 高拍仪 shows the document asked
for, and each still is recognised as it before a verdict key) → one rejected with a reason and captured
again → identity check → warm transfer to another centre's specialist who sees the history →
that specialist's browser closes mid-session (reconnecting) and comes back on signing in again,
nothing captured lost → complete → rating 5 → receipt → (issue 16) the kiosk's recording has a
segment per call leg with who was present, it is sealed, and its evidence package, downloaded from
the other node, verifies. Screenshots of every step.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page
from redis.asyncio import Redis

from citizen_client.agent import AgentConfig, DeviceAgent
from citizen_client.camera import SyntheticCamera, open_camera
from citizen_client.control import start_control
from tests.screens import Screens, walk_to_consent
from tests.service import ROOT, service_env
from window_server.evidence.keys import parse_public_key
from window_server.evidence.verify import verify_package
from window_server.store.events import read_entries
from window_server.store.keys import key

from .conftest import VIEWPORT, Console, Journey

# Every RTCPeerConnection the kiosk makes, so the test can read its getStats() (no hooks in
# the kiosk's own code).
RECORD_PCS = """
(() => {
  const Native = window.RTCPeerConnection;
  window.__pcs = [];
  function Recorded(...args) { const pc = new Native(...args); window.__pcs.push(pc); return pc; }
  Recorded.prototype = Native.prototype;
  Object.setPrototypeOf(Recorded, Native);
  window.RTCPeerConnection = Recorded;
})();
"""

KIOSK_FRAMES = """async (within) => {
  const end = performance.now() + within;
  while (performance.now() < end) {
    let n = 0;
    for (const pc of window.__pcs || []) {
      if (pc.connectionState === "closed") continue;
      (await pc.getStats()).forEach((r) => {
        if (r.type === "inbound-rtp" && r.kind === "video") n += r.framesDecoded || 0;
      });
    }
    if (n > 0) return n;
    await new Promise((r) => setTimeout(r, 50));
  }
  return 0;
}"""


@contextlib.asynccontextmanager
async def node(redis_url: str, data_dir: Path, **settings: str) -> AsyncIterator[str]:
    """A real ``python -m window_server`` process in demo mode, in its own process group.

    Both nodes share one data directory: the stills' blob store is shared storage in a real
    deployment too (docs/console.md). The node's document workers (a multiprocessing
    forkserver) inherit its stdout; stopping the whole group is what lets the pipe close.
    """
    env = service_env(**{"REDIS_URL": redis_url, "RW_DEMO": "true", "RW_LOG_LEVEL": "WARNING",
                         "RW_SEAL_GRACE_SECONDS": "1", **settings})
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "window_server", "--port", "0", "--data-dir", str(data_dir),
        env=env, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(60):
            while not (m := re.search(r"running at (http://\S+)", (await proc.stdout.readline()).decode())):
                assert proc.returncode is None, "the node exited before announcing its URL"
        yield m.group(1)
    finally:
        for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 15)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(grace):
                    await proc.wait()
                    break


@contextlib.asynccontextmanager
async def device_agent(server: str, journey: Journey) -> AsyncIterator[tuple[DeviceAgent, int]]:
    """The booth's device agent with the synthetic 高拍仪, its control API on 127.0.0.1:0."""
    camera = open_camera("synthetic")
    await camera.open()
    agent = DeviceAgent(AgentConfig(server=server, booth=journey.booth, token=journey.booth_token,
                                    control_port=0), camera)
    runner, port = await start_control(agent, 0, origins=frozenset({server}))
    task = asyncio.create_task(agent.run())
    try:
        await agent.wait_for(lambda s: s.registered, within=30)
        yield agent, port
    finally:
        async with asyncio.timeout(30):
            await agent.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await runner.cleanup()
            await camera.close()


async def session_act(redis: Redis, sid: str, act: str, where: Callable[[dict[str, str]], bool] = lambda f: True,
                      within: float = 30) -> dict[str, str]:
    """Wait for ``act`` (matching ``where``) in the session's event stream (XREAD BLOCK, no polling)."""
    last = "0"
    async with asyncio.timeout(within):
        while True:
            for _stream, entries in await redis.xread({key("session_events", sid=sid): last}, block=1000) or []:
                for entry_id, fields in read_entries(entries):
                    last = entry_id
                    if fields.get("act") == act and where(fields):
                        return dict(fields)


class Kiosk(Screens):
    """The booth's kiosk page (issue 6), driven like a citizen would."""

    def __init__(self, page: Page, shots: Path) -> None:
        super().__init__(page, shots, "kiosk")

    async def take_ticket(self, base: str, journey: Journey, region: str, device_port: int) -> str:
        page = self.page
        url = f"{base}/booth/{journey.booth}?token={journey.booth_token}&device={device_port}"
        await walk_to_consent(page, url, region, journey.matter)
        await page.click("#consent-yes")
        await self.screen("waiting")
        await self.shot("ticket")
        return (await page.text_content("#ticket") or "").strip()

    async def frames(self, within_ms: int = 20000) -> int:
        return int(await self.page.evaluate(KIOSK_FRAMES, within_ms))


def show(agent: DeviceAgent, document: str) -> None:
    """Put ``document`` on the synthetic 高拍仪's plate (and keep it there) for the next still."""
    camera = agent.camera
    assert isinstance(camera, SyntheticCamera)
    camera.show(document)


async def capture(c: Console, kind: str, *, recognised: bool = True) -> str:
    """Choose the material kind, press C, wait for the still (and, by default, for the class it was
    recognised as: V and R judge what the console shows); return its material id."""
    before = await c.page.locator("#gallery .thumb[data-id]").count()
    await c.page.select_option("#cap-kind", kind)
    await c.page.keyboard.press("c")
    await c.page.wait_for_function("(n) => document.querySelectorAll('#gallery .thumb[data-id]').length > n",
                                   arg=before, timeout=30000)
    first = c.page.locator("#gallery .thumb[data-id]").first  # the newest is first
    assert await first.get_attribute("data-kind") == kind
    mid = str(await first.get_attribute("data-id"))
    if recognised:
        await c.page.wait_for_selector(f"#gallery .thumb[data-id='{mid}'][data-class]", timeout=60000)
    return mid


@pytest.mark.timeout(360)
async def test_the_whole_journey_across_two_nodes(
    redis_url: str, redis: Redis, tmp_path: Path, browser: Browser, consoles: Any, loopback: None,
    journey: Journey, catalogue: Any,
) -> None:
    shots = tmp_path / "screenshots"
    region = catalogue.matter(journey.matter).home_region
    async with node(redis_url, tmp_path / "data") as url1, node(redis_url, tmp_path / "data") as url2, \
            device_agent(url1, journey) as (agent, control_port):
        first = await consoles(url2, "first")  # the home centre's specialist, on node 2
        await first.login(f"spec-{journey.home}")
        await first.available()
        await first.shot("available")

        kctx = await browser.new_context(viewport=VIEWPORT, locale="zh-CN")
        await kctx.add_init_script(RECORD_PCS)
        kiosk = Kiosk(await kctx.new_page(), shots)
        try:
            # --- ticket → offer → accept → media both ways, and the 高拍仪 preview ----------
            ticket = await kiosk.take_ticket(url1, journey, region, control_port)
            await first.page.wait_for_selector("#offer:not([hidden])", timeout=15000)
            await first.page.wait_for_selector(f"#offer-body:has-text('{ticket}')")
            await first.shot("offer")
            await first.page.keyboard.press("a")
            await first.page.wait_for_selector("#service:not([hidden])")
            sid = str(await first.evaluate("window.rwConsole.state.sess.sid"))
            assert await first.frames_decoded("call") > 0, "the citizen's video in the console"
            await kiosk.screen("service")
            assert await kiosk.frames() > 0, "the specialist's video at the booth"
            assert await first.frames_decoded("preview") > 0, "the device agent's preview in the console"
            assert agent.status()["preview"]["peer"] == "connected"
            await kiosk.shot("in-service")
            await first.shot("in-service")

            # --- capture the ID front and a form page; reject one with a reason, re-capture -----
            show(agent, "id_card_front")
            id_front = await capture(first, "id_card_front")
            assert await first.page.get_attribute(f"#gallery .thumb[data-id='{id_front}']", "data-class") == "id_card_front"
            await first.page.click(f"#gallery .thumb[data-id='{id_front}']")
            await first.page.keyboard.press("v")  # V: accept
            await first.page.wait_for_selector(f"#gallery .thumb[data-id='{id_front}'].rv-accepted")
            show(agent, "a4_form")
            form = await capture(first, "application_form")
            assert await first.page.get_attribute(f"#gallery .thumb[data-id='{form}']", "data-class") == "page"
            await first.shot("captured")
            await first.page.keyboard.press("r")  # R: reject, with a reason the citizen is told
            await first.page.check("input[name=vreason][value=illegible]")
            await first.shot("reject-reason")
            await first.page.click("#reject-submit")
            await first.page.wait_for_selector(f"#gallery .thumb[data-id='{form}'].rv-rejected")
            rejected = await session_act(redis, sid, "verdict", lambda f: f["material"] == form)
            assert (rejected["verdict"], rejected["why"]) == ("rejected", "illegible")
            assert await first.page.input_value("#cap-kind") == "application_form"  # ready to re-capture
            await kiosk.shot("told-to-recapture")
            again = await capture(first, "application_form")
            await first.page.keyboard.press("v")
            await first.page.wait_for_selector(f"#gallery .thumb[data-id='{again}'].rv-accepted")
            await first.page.wait_for_selector("#checklist li[data-kind='application_form'].st-ok")
            await first.page.wait_for_selector("#checklist li[data-kind='id_card_front'].st-ok")

            # --- identity check: the ID photo beside the live face ------------------------------
            await first.page.wait_for_selector("#id-photo img[src^='blob:']")
            await first.page.select_option("#id-method", "id_card_face")
            await first.page.click("#btn-id-pass")
            await first.page.wait_for_selector("#id-state.ok")
            identity = await session_act(redis, sid, "identity")
            assert (identity["result"], identity["material_id"]) == ("passed", id_front)
            await first.shot("identity-checked")

            # --- warm transfer to a specialist of another centre (on the other node) ------------
            second = await consoles(url1, "second")
            await second.login(f"spec-{journey.partner}", shot=False)
            await second.available()
            await first.page.keyboard.press("t")
            await first.page.check("input[name=target][value=agent]")
            await first.page.fill("#xfer-agent", f"spec-{journey.partner}")
            await first.page.check("input[name=mode][value=warm]")
            await first.page.fill("#xfer-reason", "需省级中心复核缴存记录")
            await first.page.click("#xfer-submit")
            await second.page.wait_for_selector("#offer-body:has-text('需省级中心复核缴存记录')", timeout=15000)
            await second.shot("transfer-offer")
            assert await first.frames_decoded("call") > 0  # warm: the first specialist is still there
            await second.page.keyboard.press("a")
            await second.page.wait_for_selector("#service:not([hidden])")
            assert await second.frames_decoded("call") > 0
            assert await second.frames_decoded("preview") > 0
            for sel in ("#history li.ev-transfer:has-text('需省级中心复核缴存记录')", "#history li.ev-identity",
                        "#history li.ev-verdict", "#history li.ev-material_added",
                        f"#gallery .thumb[data-id='{form}'].rv-rejected",
                        f"#gallery .thumb[data-id='{again}'].rv-accepted", "#id-state.ok"):
                await second.page.wait_for_selector(sel, timeout=15000)
            await second.shot("history-after-transfer")
            await first.page.wait_for_selector("#idle:not([hidden])")
            await kiosk.shot("after-transfer")

            # --- the receiver's browser closes mid-session; back on signing in again ------------
            await second.page.context.close()
            lost = await session_act(redis, sid, "media_lost")
            assert lost["party"] == "agent"
            third = await consoles(url2, "second-again")
            await third.login(f"spec-{journey.partner}", shot=False)
            await third.page.wait_for_selector("#service:not([hidden])", timeout=15000)
            await session_act(redis, sid, "media_back")
            assert await third.frames_decoded("call") > 0
            assert await third.frames_decoded("preview") > 0
            for mid in (id_front, form, again):  # nothing captured is lost
                await third.page.wait_for_selector(f"#gallery .thumb[data-id='{mid}']", timeout=15000)
            await third.page.wait_for_selector("#id-state.ok")
            await third.shot("back-after-browser-closed")

            # --- complete → rating 5 → receipt ---------------------------------------------------
            await third.page.keyboard.press("e")
            await third.page.check("input[name=outcome][value=intake]")
            await third.page.fill("#done-case", "JS2026-0007")
            await third.page.click("#done-submit")
            await third.page.wait_for_selector("#wrapup:not([hidden])")
            await kiosk.screen("rating")
            await kiosk.shot("rating")
            await kiosk.page.click("[data-level='5']")
            await kiosk.screen("receipt")
            assert (await kiosk.page.text_content("#receipt-sid") or "").strip() == sid
            assert "JS2026-0007" in (await kiosk.page.text_content("#receipt-case") or "")
            await kiosk.shot("receipt")
            await third.page.wait_for_selector("#wrap-rating:has-text('非常满意')")
            await third.shot("rated")
            assert not kiosk.errors, kiosk.errors

            # --- one recording, a segment per call leg; sealed, and its package verifies ----------
            await session_act(redis, sid, "sealed", within=90)
            resp = await first.page.request.get(f"{url2}/api/sessions/{sid}/recording")
            assert resp.status == 200, await resp.text()
            recording = (await resp.json())["recording"]
            # the home specialist; the partner after the transfer; the partner again after her browser
            # came back (a reconnect is a new call, so a new segment: the gap between them is on the timeline)
            assert [[p["id"] for p in seg["present"] if p["role"] == "specialist"] for seg in recording["segments"]] == [
                [f"spec-{journey.home}"], [f"spec-{journey.partner}"], [f"spec-{journey.partner}"]]
            assert all(seg["chunks"] > 0 for seg in recording["segments"]), recording
            assert recording["state"] == "complete", recording
            package = await first.page.request.get(f"{url1}/api/sessions/{sid}/evidence")  # the other node
            assert package.status == 200, await package.text()
            (tmp_path / "evidence.zip").write_bytes(await package.body())
            pem = await (await first.page.request.get(f"{url1}/api/evidence/public-key")).body()
            report = verify_package(tmp_path / "evidence.zip", parse_public_key(pem))
            assert report.lines()[0] == "OK", report.lines()
        finally:
            async with asyncio.timeout(30):
                await kctx.close()
