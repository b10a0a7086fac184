"""The live preview as an aiortc video track, paced at the camera's frame rate."""

from __future__ import annotations

import asyncio
import contextlib
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
        image, pts = await self.next_image()
        return to_frame(image, pts)

    async def next_image(self) -> tuple[Image, int]:
        """The next camera image when it is due, and its presentation time (90 kHz)."""
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
        return image, int(self._n * VIDEO_CLOCK / self.fps)


def to_frame(image: Image, pts: int) -> VideoFrame:
    """A new video frame of a BGR image (each peer connection's encoder gets its own)."""
    frame = VideoFrame.from_ndarray(image, format="bgr24")
    frame.pts = pts
    frame.time_base = TIME_BASE
    return frame


class PreviewFeed:
    """One camera, several previews: the specialist's and each guest's (docs/booth.md, Guests).

    The camera is read once, by one ``PreviewTrack`` in a task this feed owns; every subscriber
    (one per peer connection) gets the latest image, never a backlog (a slow encoder skips frames
    rather than falling behind), as its own ``VideoFrame``: PyAV frames keep a converter of their
    own, and two encoder threads converting one shared frame crash the process (it did here,
    which is also why ``aiortc.contrib.media.MediaRelay``, which hands one frame to all, is not
    used). The reading stops when the last subscriber is gone, so an idle booth grabs no preview
    frames.
    """

    def __init__(self, camera: Camera, meter: FpsMeter, fps: float | None = None) -> None:
        self.camera, self.meter, self.fps = camera, meter, fps
        self._subscribers: set[FeedTrack] = set()
        self._task: asyncio.Task[None] | None = None
        self._ending: set[asyncio.Task[None]] = set()

    def subscribe(self) -> FeedTrack:
        """A new track of this camera for one peer connection."""
        track = FeedTrack(self)
        self._subscribers.add(track)
        return track

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._read(PreviewTrack(self.camera, self.meter, self.fps)),
                                             name="preview-feed")

    def _drop(self, track: FeedTrack) -> None:
        self._subscribers.discard(track)
        if not self._subscribers and self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            self._ending.add(task)
            task.add_done_callback(self._ending.discard)

    async def _read(self, source: PreviewTrack) -> None:
        try:
            while True:
                try:
                    frame: tuple[Image, int] | None = await source.next_image()
                except MediaStreamError:
                    frame = None  # the camera failed: every preview ends; a new offer starts afresh
                for track in list(self._subscribers):
                    track._put(frame)
                if frame is None:
                    self._subscribers.clear()
                    return
        finally:
            source.stop()

    async def close(self) -> None:
        """End every preview and the camera reading; await the reading task."""
        for track in list(self._subscribers):
            track.stop()
        for task in [*(t for t in [self._task] if t is not None), *self._ending]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._task = None


class FeedTrack(MediaStreamTrack):  # type: ignore[misc]
    """One peer connection's view of a ``PreviewFeed``: the newest frame each time."""

    kind = "video"

    def __init__(self, feed: PreviewFeed) -> None:
        super().__init__()
        self._feed: PreviewFeed | None = feed
        self._frame: tuple[Image, int] | None = None
        self._fresh = asyncio.Event()

    def _put(self, frame: tuple[Image, int] | None) -> None:
        self._frame = frame
        self._fresh.set()

    async def recv(self) -> VideoFrame:
        if self.readyState != "live" or self._feed is None:
            raise MediaStreamError
        self._feed._start()
        await self._fresh.wait()
        self._fresh.clear()
        frame = self._frame
        if frame is None or self.readyState != "live":
            self.stop()
            raise MediaStreamError
        return to_frame(*frame)

    def stop(self) -> None:
        super().stop()
        feed, self._feed = self._feed, None
        if feed is not None:
            feed._drop(self)
        self._put(None)  # a recv() waiting now ends instead of hanging
