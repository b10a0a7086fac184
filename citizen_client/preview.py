"""The live preview as an aiortc video track, paced at the camera's frame rate."""

from __future__ import annotations

import asyncio
import fractions
import logging
import time
from collections import deque
from collections.abc import Callable

from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
from av import VideoFrame

from citizen_client.camera import Camera, CameraError, Image

log = logging.getLogger(__name__)

VIDEO_CLOCK = 90_000  # RTP video clock rate
TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK)


class FpsMeter:
    """Frames per second over a sliding window (what /status reports)."""

    def __init__(self, window_s: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self.clock = clock
        self.stamps: deque[float] = deque()
        self.last: Image | None = None

    def tick(self, frame: Image) -> None:
        now = self.clock()
        self.stamps.append(now)
        self.last = frame
        self._trim(now)

    def _trim(self, now: float) -> None:
        while self.stamps and self.stamps[0] < now - self.window_s:
            self.stamps.popleft()

    @property
    def fps(self) -> float:
        self._trim(self.clock())
        if len(self.stamps) < 2:
            return 0.0
        return round((len(self.stamps) - 1) / self.window_s, 1)


class PreviewTrack(MediaStreamTrack):  # type: ignore[misc]
    """Sends the camera's preview at ``fps``; a late frame is dropped, never queued up."""

    kind = "video"

    def __init__(self, camera: Camera, meter: FpsMeter, fps: float | None = None) -> None:
        super().__init__()
        self.camera = camera
        self.meter = meter
        self.fps = fps or camera.info.fps
        self._start: float | None = None
        self._n = 0

    async def recv(self) -> VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        period = 1.0 / self.fps
        now = time.monotonic()
        if self._start is None:
            self._start = now
        else:
            self._n += 1
            due = self._start + self._n * period
            if now > due + period:  # fell behind (a busy CPU): skip, keep the clock honest
                self._n = int((now - self._start) / period)
                due = self._start + self._n * period
            if due > now:
                await asyncio.sleep(due - now)
        try:
            image = await self.camera.preview_frame()
        except CameraError as exc:
            log.warning("preview frame failed: %s", exc)
            raise MediaStreamError from exc
        self.meter.tick(image)
        frame = VideoFrame.from_ndarray(image, format="bgr24")
        frame.pts = int(self._n * VIDEO_CLOCK / self.fps)
        frame.time_base = TIME_BASE
        return frame
