"""Document-camera (高拍仪) adapters: one interface, a UVC back-end and a synthetic one.

A ``Camera`` gives two things that must never be confused: a live *preview* (≤ 1280×720,
for the specialist's video and the kiosk's thumbnail) and full-resolution *stills* as JPEG
bytes (uploaded over HTTPS, never sent as video). Every method that touches pixels runs in the
camera's own thread, so the event loop never blocks on OpenCV.

- ``SyntheticCamera``: a moving desk with an ID card's portrait side (a fixed fictional resident
  with a valid number, ``identity``), an A4 form and a business licence, one at a time as a
  citizen would put them under the camera. Stills are rendered at 8 MP only when
  asked; the preview warps a pre-rendered 1280×960 frame (a few ms per frame).
- ``UvcCamera``: any UVC camera through OpenCV; probes the sizes the driver accepts and uses the
  largest for stills. Written against the V4L2 behaviour of common 高拍仪 heads; there is no
  hardware on the CI machines, so only its size-choosing rule is tested.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

import cv2
import numpy as np
from numpy.typing import NDArray

from citizen_client import synthetic_scene as ss
from citizen_client.synthetic_documents import Identity, make_identity

log = logging.getLogger(__name__)

Image = NDArray[Any]  # 8-bit BGR
JPEG_QUALITY = 92
PREVIEW_MAX = (1280, 720)


class CameraError(RuntimeError):
    """The camera cannot be opened or did not deliver a frame."""


@dataclass(frozen=True)
class CameraInfo:
    """What a camera offers, as registered on /device."""

    id: str
    role: str  # "main" (document head) or "aux" (face head)
    preview: tuple[int, int]
    still: tuple[int, int]
    fps: float
    kind: str  # "synthetic" or "uvc"

    def to_wire(self) -> dict[str, Any]:
        """The camera as the /device ``register`` event carries it."""
        return {"id": self.id, "role": self.role, "preview": list(self.preview), "still": list(self.still)}


class Camera(Protocol):
    """A document camera: preview frames for video, full-resolution stills for evidence."""

    info: CameraInfo

    async def open(self) -> None:
        """Open the device (or prepare the scene); raise CameraError."""

    async def close(self) -> None:
        """Release the device and the camera's thread."""

    async def preview_frame(self) -> Image:
        """Return the current preview frame, BGR at ``info.preview`` size."""

    async def capture_still(self) -> bytes:
        """Grab one still at ``info.still`` size and return it as JPEG bytes."""


def encode_jpeg(image: Image, quality: int = JPEG_QUALITY) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise CameraError("JPEG encoding failed")
    return bytes(buf)


def thumbnail_jpeg(image: Image, width: int = 640, quality: int = 75) -> bytes:
    """A small JPEG of a preview frame (the kiosk's view of the document camera)."""
    h, w = image.shape[:2]
    if w > width:
        image = cv2.resize(image, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
    return encode_jpeg(image, quality)


def camera_spec_problem(spec: str) -> str | None:
    """Why ``spec`` names no camera (None when it does)."""
    if spec == "synthetic" or (spec.startswith("uvc:") and spec[4:].isdigit()):
        return None
    return f"--camera must be 'synthetic' or 'uvc:<index>', got {spec!r}"


def open_camera(spec: str, *, seed: int = 0) -> Camera:
    """Build the camera named on the command line: ``synthetic`` or ``uvc:<index>``."""
    if problem := camera_spec_problem(spec):
        raise ValueError(problem)
    if spec == "synthetic":
        return SyntheticCamera(seed=seed)
    return UvcCamera(int(spec[4:]))


# --- synthetic ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pose:
    """Where the citizen's hands have moved the document at one instant."""

    document: str
    dx: float  # pixels of the 1280×960 base frame
    dy: float
    angle: float  # degrees, clockwise on screen


class SyntheticCamera:
    """A moving desk scene standing in for a 高拍仪 in demos, tests and benchmarks."""

    STILL = (3264, 2448)  # 8 MP, 4:3 like the sensor of a real main head
    BASE = (1280, 960)  # the sensor seen at preview scale
    PREVIEW = (1280, 720)  # the centre 16:9 band of the sensor, as UVC heads crop it
    FPS = 15.0
    DOCUMENTS = ("id_card_front", "a4_form", "licence")
    # Coverage of the 4:3 sensor chosen so each page fits the 16:9 preview band too.
    COVERAGE = {"id_card_front": 0.16, "a4_form": 0.22, "licence": 0.30}

    def __init__(self, *, seed: int = 0, cycle_s: float = 20.0, camera_id: str = "main",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.info = CameraInfo(camera_id, "main", self.PREVIEW, self.STILL, self.FPS, "synthetic")
        self.seed = seed
        self.cycle_s = cycle_s
        self.clock = clock
        self.pinned: str | None = None
        self.identity: Identity = desk_identity(seed)
        self.specs = {doc: self._spec(doc, i) for i, doc in enumerate(self.DOCUMENTS)}
        self._bases: dict[str, Image] = {}
        self._t0 = clock()
        # Stills take ~0.4 s: a second thread keeps preview frames flowing meanwhile.
        self._preview_pool = ThreadPoolExecutor(1, thread_name_prefix="synthetic-preview")
        self._still_pool = ThreadPoolExecutor(1, thread_name_prefix="synthetic-still")

    def _spec(self, document: str, i: int) -> ss.SceneSpec:
        rng = np.random.default_rng(self.seed * 10 + i)
        return ss.random_spec(
            rng, aspect=4 / 3, document=document, plate="dark", texture=str(rng.choice(["none", "wood"])),
            rotation=float(rng.uniform(-4, 4)) % 360.0, perspective=float(rng.uniform(0.0, 0.03)),
            centre=(0.5, 0.5), coverage=self.COVERAGE[document], clutter=int(rng.integers(0, 2)),
            fingertip=False, arm_shadow=0.0, exposure=float(rng.uniform(0.94, 1.0)), noise=1.5, softness=0.5,
            identity=self.identity if document == "id_card_front" else None,
        )

    def show(self, document: str | None) -> None:
        """Keep one document on the plate (None: cycle through all three again)."""
        if document is not None and document not in self.DOCUMENTS:
            raise ValueError(f"document must be one of {self.DOCUMENTS}")
        self.pinned = document

    def pose(self, t: float) -> Pose:
        """The scene at ``t`` seconds after opening: which document, and how it drifts."""
        doc = self.pinned or self.DOCUMENTS[int(t // self.cycle_s) % len(self.DOCUMENTS)]
        return Pose(doc, 18.0 * math.sin(2 * math.pi * t / 6.0), 10.0 * math.sin(2 * math.pi * t / 4.3 + 1.0),
                    1.2 * math.sin(2 * math.pi * t / 8.0))

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        for doc, spec in self.specs.items():
            self._bases[doc] = await loop.run_in_executor(self._preview_pool, self._render_base, doc, spec)
        # One still at start: the first real capture should not pay for the still thread's warm-up.
        await loop.run_in_executor(self._still_pool, self._still, self.pose(0.0))

    async def close(self) -> None:
        self._preview_pool.shutdown(wait=True, cancel_futures=True)
        self._still_pool.shutdown(wait=True, cancel_futures=True)

    def _render_base(self, doc: str, spec: ss.SceneSpec) -> Image:
        w, h = self.BASE
        return ss.render_scene(spec, w, h, np.random.default_rng(self.seed * 10 + self.DOCUMENTS.index(doc))).image

    async def preview_frame(self) -> Image:
        t = self.clock() - self._t0
        return await asyncio.get_running_loop().run_in_executor(self._preview_pool, self._preview, self.pose(t))

    def _preview(self, pose: Pose) -> Image:
        base = self._bases.get(pose.document)
        if base is None:
            base = self._bases[pose.document] = self._render_base(pose.document, self.specs[pose.document])
        bw, bh = self.BASE
        pw, ph = self.PREVIEW
        # cv2 turns counter-clockwise for a positive angle; the scene's angles are clockwise.
        m = cv2.getRotationMatrix2D((bw / 2, bh / 2), -pose.angle, 1.0)
        m[0, 2] += pose.dx
        m[1, 2] += pose.dy - (bh - ph) / 2  # keep the centre 16:9 band
        out: Image = cv2.warpAffine(base, m, (pw, ph), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return out

    def still_spec(self, pose: Pose) -> ss.SceneSpec:
        """The scene spec of a still taken at ``pose``: the preview's page, moved the same way."""
        spec = self.specs[pose.document]
        bw, bh = self.BASE
        a = math.radians(pose.angle)
        x, y = (spec.centre[0] - 0.5) * bw, (spec.centre[1] - 0.5) * bh
        cx = (math.cos(a) * x - math.sin(a) * y + pose.dx) / bw + 0.5
        cy = (math.sin(a) * x + math.cos(a) * y + pose.dy) / bh + 0.5
        return dataclasses.replace(spec, centre=(cx, cy), rotation=(spec.rotation + pose.angle) % 360.0,
                                   tilt=spec.tilt + pose.angle)

    async def capture_still(self) -> bytes:
        pose = self.pose(self.clock() - self._t0)
        return await asyncio.get_running_loop().run_in_executor(self._still_pool, self._still, pose)

    def _still(self, pose: Pose) -> bytes:
        w, h = self.STILL
        rng = np.random.default_rng(self.seed * 10 + self.DOCUMENTS.index(pose.document))
        spec = self.still_spec(pose)
        image = ss.render_scene(dataclasses.replace(spec, noise=0.0), w, h, rng).image
        return encode_jpeg(_sensor_noise(image, spec.noise, rng))


def desk_identity(seed: int) -> Identity:
    """The fictional resident whose card lies on the synthetic desk: a valid number, and a card
    valid until 2036 or later (or 长期), so a capture is read and accepted for years to come."""
    rng = np.random.default_rng(7919 + seed)
    while True:
        who = make_identity(rng)
        if not isinstance(who.valid_until, date) or who.valid_until >= date(2036, 1, 1):
            return who


def _sensor_noise(image: Image, sigma: float, rng: np.random.Generator) -> Image:
    """Add sensor noise drawn at quarter area and upsampled: a third of the cost of full-size noise
    (the renderer's own noise is most of an 8 MP still's time), invisible at 1-3 grey levels."""
    if sigma <= 0:
        return image
    h, w = image.shape[:2]
    small = np.empty(((h + 1) // 2, (w + 1) // 2, 3), np.int16)
    cv2.setRNGSeed(int(rng.integers(0, 2**31 - 1)))
    cv2.randn(small, np.zeros(3), np.full(3, float(sigma)))
    noise = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
    out: Image = cv2.add(image, noise, dtype=cv2.CV_8U)
    return out


# --- UVC through OpenCV ----------------------------------------------------------------------------

#: Sizes tried when probing, largest first: the 高拍仪 main heads of DOMAIN.md and common webcams.
UVC_SIZES: tuple[tuple[int, int], ...] = (
    (4208, 3120), (3840, 2160), (3648, 2736), (3264, 2448), (2592, 1944), (2560, 1440),
    (2048, 1536), (1920, 1080), (1600, 1200), (1280, 960), (1280, 720), (1024, 768), (800, 600), (640, 480),
)


def choose_sizes(accepted: Sequence[tuple[int, int]]) -> tuple[tuple[int, int], tuple[int, int]]:
    """Return (still, preview): the largest accepted size, and the largest within 1280×720."""
    if not accepted:
        raise CameraError("the camera accepted no frame size")
    still = max(accepted, key=lambda s: (s[0] * s[1], s[0]))
    fitting = [s for s in accepted if s[0] <= PREVIEW_MAX[0] and s[1] <= PREVIEW_MAX[1]]
    preview = max(fitting, key=lambda s: (s[0] * s[1], s[0])) if fitting else min(accepted, key=lambda s: s[0] * s[1])
    return still, preview


class UvcCamera:
    """A UVC document camera through OpenCV (V4L2 on Linux), preview and full-size stills."""

    SETTLE_FRAMES = 3  # frames dropped after a size change while exposure and focus settle

    def __init__(self, index: int, *, camera_id: str = "main", fps: float = 15.0) -> None:
        self.index = index
        self.fps = fps
        self.info = CameraInfo(camera_id, "main", (0, 0), (0, 0), fps, "uvc")
        self._cap: Any = None
        self._lock = threading.Lock()  # the device: the reader and a still never use it at once
        self._latest: Image | None = None
        self._stop = threading.Event()
        self._reader: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"uvc{index}")

    async def open(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._pool, self._open)
        self._reader = threading.Thread(target=self._read_loop, name=f"uvc{self.index}-reader", daemon=True)
        self._reader.start()

    def _open(self) -> None:
        cap = cv2.VideoCapture(self.index, cv2.CAP_V4L2)
        if not cap.isOpened():
            raise CameraError(f"cannot open UVC camera {self.index}")
        cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*"MJPG"))  # high sizes need MJPEG over USB 2
        accepted = []
        for w, h in UVC_SIZES:  # V4L2 snaps a request to a size the driver has; read back what it chose
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, w)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, h)
            got = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
            if got[0] > 0 and got[1] > 0 and got not in accepted:
                accepted.append(got)
        still, preview = choose_sizes(accepted)
        self._set_size(cap, preview)
        cap.set(cv2.CAP_PROP_FPS, self.fps)
        self._cap = cap
        self.info = dataclasses.replace(self.info, preview=preview, still=still)
        log.info("uvc camera %d: still %dx%d, preview %dx%d (accepted %s)", self.index, *still, *preview, accepted)

    @staticmethod
    def _set_size(cap: Any, size: tuple[int, int]) -> None:
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, size[0])
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, size[1])

    def _read_loop(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                ok, frame = self._cap.read()
            if ok:
                self._latest = frame
            else:
                self._stop.wait(0.05)

    async def close(self) -> None:
        self._stop.set()
        if self._reader is not None:
            await asyncio.get_running_loop().run_in_executor(self._pool, self._reader.join, 2.0)
        if self._cap is not None:
            self._cap.release()
        self._pool.shutdown(wait=True, cancel_futures=True)

    async def preview_frame(self) -> Image:
        frame = self._latest
        if frame is None:
            raise CameraError("no preview frame yet")
        w, h = self.info.preview
        if frame.shape[1] != w or frame.shape[0] != h:
            return await asyncio.get_running_loop().run_in_executor(
                self._pool, lambda: cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA))
        return frame

    async def capture_still(self) -> bytes:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._still)

    def _still(self) -> bytes:
        with self._lock:  # the preview pauses while the head switches to its full size
            self._set_size(self._cap, self.info.still)
            try:
                frame = None
                for _ in range(self.SETTLE_FRAMES + 1):
                    ok, frame = self._cap.read()
                    if not ok:
                        raise CameraError("the camera delivered no still")
            finally:
                self._set_size(self._cap, self.info.preview)
        assert frame is not None
        if (frame.shape[1], frame.shape[0]) != self.info.still:
            log.warning("uvc camera %d: asked for %s, got %dx%d", self.index, self.info.still,
                        frame.shape[1], frame.shape[0])
        return encode_jpeg(frame)
