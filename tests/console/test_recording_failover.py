"""A booth that dies mid-call (issue 16): the recording is incomplete, ≤ 10 s lost, another node plays it.

Real parts only: two ``python -m window_server`` nodes on one redis-server sharing one data
directory (the path nodes must share, docs/operations.md), the kiosk page on node 1 and the
specialist's console on node 2, each in its own Chromium context with the fake camera and
microphone. The kiosk's context is closed mid-call, as a booth PC that loses power: the session
goes to reconnecting, then interrupted, then is sealed and its recording finalized. Node 2 then
serves the segment, remuxed from the chunks node 1 stored, and PyAV reads it.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import av
import pytest
from playwright.async_api import Browser, Page
from redis.asyncio import Redis

from tests.screens import walk_to_consent

from .conftest import VIEWPORT, Console, Journey
from .test_journey import node, session_act

MAX_LOST_MS = 10_000  # issue 16: a booth that dies loses at most this much of the recording


def streams_of(path: Path) -> tuple[int, int, float]:
    """(video frames, audio frames, seconds) decoded from a WebM file."""
    video = audio = 0
    last = 0.0
    with av.open(str(path)) as f:
        assert f.streams.video and f.streams.audio, "a video and an audio stream"
        for frame in f.decode(f.streams.video[0], f.streams.audio[0]):
            if isinstance(frame, av.VideoFrame):
                video += 1
            else:
                audio += 1
            if frame.time is not None:
                last = max(last, float(frame.time))
        seconds = f.duration / av.time_base if f.duration else last
    return video, audio, seconds


@pytest.mark.timeout(240)
async def test_a_booth_killed_mid_call_leaves_an_incomplete_recording_another_node_plays(
    redis_url: str, redis: Redis, tmp_path: Path, browser: Browser, consoles: Any, journey: Journey, catalogue: Any,
) -> None:
    region = catalogue.matter(journey.matter).home_region
    env = {"RW_SEAL_GRACE_SECONDS": "1", "RW_RECONNECT_GRACE_SECONDS": "2"}
    async with node(redis_url, tmp_path / "data", **env) as url1, node(redis_url, tmp_path / "data", **env) as url2:
        spec: Console = await consoles(url2, "spec")  # the specialist on node 2
        await spec.login(f"spec-{journey.home}", shot=False)
        await spec.available()

        kctx = await browser.new_context(viewport=VIEWPORT, locale="zh-CN")
        kiosk: Page = await kctx.new_page()
        errors: list[str] = []
        kiosk.on("pageerror", lambda e: errors.append(str(e)))
        closed = False
        try:
            # the booth on node 1
            await walk_to_consent(kiosk, f"{url1}/booth/{journey.booth}?token={journey.booth_token}", region,
                                  journey.matter)
            await kiosk.click("#consent-yes")
            await spec.page.wait_for_selector("#offer:not([hidden])", timeout=15000)
            await spec.page.keyboard.press("a")
            await spec.page.wait_for_selector("#service:not([hidden])")
            sid = str(await spec.evaluate("window.rwConsole.state.sess.sid"))

            # Recording: two chunks acknowledged (and the console says so), then the booth dies.
            await kiosk.wait_for_function("() => window.__rwRecorder.acked >= 2", timeout=30000)
            await spec.page.wait_for_selector("#s-rec:not([hidden])")
            await spec.shot("recording")
            assert not errors, errors
            closed_at = time.time() * 1000
            await kctx.close()
            closed = True
        finally:
            if not closed:
                await kctx.close()

        # reconnecting → interrupted (RW_RECONNECT_GRACE_SECONDS) → sealed (RW_SEAL_GRACE_SECONDS):
        # the recording is finalized as incomplete, its gap at the end of the one segment.
        await session_act(redis, sid, "sealed", within=90)
        resp = await spec.page.request.get(f"{url1}/api/sessions/{sid}/recording")
        assert resp.status == 200, await resp.text()
        rec = (await resp.json())["recording"]
        assert rec["state"] == "incomplete", rec
        [seg] = rec["segments"]
        assert seg["chunks"] >= 2 and not seg["complete"], seg
        tail = seg["gaps"][-1]
        assert tail["from"] == seg["started_at"] + seg["duration_ms"], seg
        lost = closed_at - tail["from"]
        assert 0 < lost <= MAX_LOST_MS, (lost, seg)

        # Node 2 plays what node 1 stored: the chunks joined and remuxed, a real WebM.
        resp = await spec.page.request.get(f"{url2}/api/sessions/{sid}/recording/segments/0.webm")
        assert resp.status == 200, await resp.text()
        assert resp.headers["content-type"].startswith("video/webm")
        webm = tmp_path / "segment-0.webm"
        webm.write_bytes(await resp.body())
        video, audio, seconds = await asyncio.to_thread(streams_of, webm)
        assert video > 0 and audio > 0 and seconds > 0, (video, audio, seconds)
