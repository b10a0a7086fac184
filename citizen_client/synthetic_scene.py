"""Synthetic document-camera scenes: the one stand-in for 高拍仪 hardware in this project.

Pure numpy/OpenCV (and Pillow for Chinese text). ``render_scene(spec, width, height, rng)`` draws
a document onto a plate, with optional texture, clutter, a fingertip and
the shadow of the camera arm, and returns the frame with its true page corners (ordered by
``window_server.documents.geometry.order_corners``). ``random_spec`` draws a varied good shot;
the defect functions turn it into a bad one (defocus, motion blur, glare, darkness, a page
partly out of frame, a tiny page) and ``render_shot(kind, ...)`` does both in one call.
Rendering an 8 MP frame takes ~0.3 s (a Chinese print adds 20-130 ms). The same ``rng`` seed gives the same scene, so a moving
"desk" for the synthetic camera is a sequence of specs (rotation, centre, ...) each rendered
with a generator seeded alike.

Two families of documents: the first three (``DOCUMENTS``: "id_card", "a4_form", "licence",
Latin gibberish, what the image-quality tests were tuned on and what ``random_spec`` picks by
default) and ``CLASS_DOCUMENTS``, prints with real Chinese text from ``synthetic_documents``
(both ID card sides, household register, business licence, bank card, A4 page) for the document
recogniser; ``labelled_scene`` renders one of those with the truth about it.
"""

from __future__ import annotations

import dataclasses
import math
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from citizen_client import synthetic_documents as sd
from citizen_client.synthetic_documents import Identity
from window_server.documents.geometry import order_corners

Image = NDArray[Any]  # 8-bit BGR; Any: OpenCV's stubs do not carry dtypes
Corners = NDArray[np.float64]

# Printed size (width, height) in millimetres, upright as the document is read.
DOCUMENT_MM: dict[str, tuple[float, float]] = {
    "id_card": (85.6, 54.0),
    "a4_form": (210.0, 297.0),
    "licence": (297.0, 210.0),
    **sd.PAGE_MM,
}
DOCUMENTS = ("id_card", "a4_form", "licence")  # what random_spec picks from (quality tests' set)
CLASS_DOCUMENTS = tuple(sd.PAGE_MM)  # prints with real Chinese text, one per recognised class
CARDS = frozenset({"id_card", *sd.CARDS})  # ID-1 cards: rounded corners, card coverage
IDENTITY_DOCUMENTS = frozenset({"id_card_front", "id_card_back", "household_register"})
PLATES = ("dark", "pale")
TEXTURES = ("none", "noise", "wood")
DEFECTS = ("defocus", "motion", "glare", "dark", "cut_off", "tiny", "empty")

_LETTERS = string.ascii_uppercase + string.digits


@dataclass(frozen=True)
class SceneSpec:
    """What is on the plate and how the camera sees it."""

    document: str | None = "a4_form"  # a DOCUMENT_MM name, or None for an empty plate
    plate: str = "dark"  # "dark" or "pale"
    texture: str = "none"  # "none", "noise" or "wood"
    rotation: float = 0.0  # degrees, clockwise on screen
    perspective: float = 0.0  # keystone strength, 0 (flat) .. ~0.15
    tilt: float = 0.0  # direction of the keystone, degrees
    centre: tuple[float, float] = (0.5, 0.5)  # page centre, as fractions of the frame
    coverage: float = 0.35  # page area / frame area
    clutter: int = 0  # pens and cables on the plate
    fingertip: bool = False  # a fingertip over one page edge
    arm_shadow: float = 0.0  # darkening inside the camera arm's shadow (0 = none, 0.4 = 40 %)
    exposure: float = 1.0  # overall gain
    noise: float = 2.0  # sensor noise, grey levels (sigma)
    softness: float = 0.6  # optical blur, sigma in pixels
    identity: Identity | None = None  # who ID sides / the register print (None: drawn from the rng)


@dataclass(frozen=True)
class Scene:
    """A rendered frame and where the page is in it."""

    image: Image
    corners: Corners | None  # clockwise from the page's top-left by the ordering rule
    page_corners: Corners | None  # the printed page's own TL, TR, BR, BL


def random_spec(rng: np.random.Generator, aspect: float = 4 / 3, **overrides: object) -> SceneSpec:
    """Return a varied good shot (any of DOCUMENTS unless ``document`` is given, plate, rotation;
    mild perspective) for a frame of the given width/height aspect; overrides replace fields.

    Cards cover 10-30 % of the frame, paper 20-50 %. (An old document passed as ``document``
    keeps the coverage of the one drawn, as it always did: the quality tests' sets stay put.)
    """
    document = str(rng.choice(DOCUMENTS))
    quarter = float(rng.choice([0.0, 90.0, 180.0, 270.0]))
    rotation = quarter + (float(rng.uniform(-12, 12)) if rng.random() < 0.7 else float(rng.uniform(0, 90)))
    sized = overrides["document"] if overrides.get("document") in CLASS_DOCUMENTS else document
    coverage = float(rng.uniform(0.10, 0.30)) if sized in CARDS else float(rng.uniform(0.2, 0.5))
    spec = SceneSpec(
        document=document,
        plate=str(rng.choice(PLATES)),
        texture=str(rng.choice(TEXTURES)),
        rotation=rotation % 360.0,
        perspective=float(rng.uniform(0.0, 0.08)),
        tilt=float(rng.uniform(0, 360)),
        centre=(0.5, 0.5),
        coverage=coverage,
        clutter=int(rng.integers(0, 4)),
        fingertip=bool(rng.random() < 0.3),
        arm_shadow=float(rng.uniform(0.15, 0.4)) if rng.random() < 0.3 else 0.0,
        exposure=float(rng.uniform(0.85, 1.02)),
        noise=float(rng.uniform(1.0, 3.0)),
        softness=float(rng.uniform(0.4, 0.9)),
    )
    spec = dataclasses.replace(spec, **overrides)  # type: ignore[arg-type]
    if "centre" in overrides:
        return spec
    while (centre := _fit_centre(spec, aspect, rng)) is None:
        spec = dataclasses.replace(spec, coverage=spec.coverage * 0.9)  # too big for the frame
    return dataclasses.replace(spec, centre=centre)


def render_scene(spec: SceneSpec, width: int, height: int, rng: np.random.Generator) -> Scene:
    """Render one frame of the scene, width x height BGR, and return it with the true corners."""
    return _render(spec, width, height, rng)[0]


@dataclass(frozen=True)
class Label:
    """The truth about a labelled scene: what is printed, and the class it must be seen as."""

    document: str
    cls: str  # sd.DOCUMENT_CLASS[document]
    spec: SceneSpec
    identity: Identity | None  # for ID sides and the household register
    fields: Mapping[str, str] = field(default_factory=dict)  # e.g. "id_number", "card_number"
    texts: tuple[str, ...] = ()  # every string printed on the page
    # Named parts ("id_number", "photo", "card_number", ...) as (x, y, w, h) fractions of the
    # upright printed page: multiply by a rectified page's size to get its pixels.
    boxes: Mapping[str, tuple[float, float, float, float]] = field(default_factory=dict)


def labelled_scene(document: str, rng: np.random.Generator, width: int, height: int,
                   **overrides: Any) -> tuple[Scene, Label]:
    """Render a random good shot of ``document`` (any DOCUMENT_MM name) and the truth about it.

    ``identity=`` fixes who an ID side or register shows (else one is drawn from ``rng``); other
    overrides replace SceneSpec fields as in ``random_spec``.
    """
    identity = overrides.pop("identity", None)
    if identity is None and document in IDENTITY_DOCUMENTS:
        identity = sd.make_identity(rng)
    spec = random_spec(rng, aspect=width / height, document=document, identity=identity, **overrides)
    scene, printed = _render(spec, width, height, rng)
    if printed is None:
        return scene, Label(document, sd.DOCUMENT_CLASS[document], spec, identity)
    ph, pw = printed.image.shape[:2]
    boxes = {k: (x / pw, y / ph, w / pw, h / ph) for k, (x, y, w, h) in printed.regions.items()}
    return scene, Label(document, sd.DOCUMENT_CLASS[document], spec, identity, dict(printed.fields),
                        printed.texts, boxes)


def _render(spec: SceneSpec, width: int, height: int,
            rng: np.random.Generator) -> tuple[Scene, sd.Rendered | None]:
    plate = _plate(spec, width, height, rng)
    px_per_mm = _px_per_mm(spec, width, height)
    page_corners = None if spec.document is None else page_quad(spec, width, height)
    cables = sum(rng.random() < 0.4 for _ in range(spec.clutter))
    # Cables run under the page; pens lie on the plate next to it.
    for _ in range(cables):
        _cable(plate, page_corners, px_per_mm, rng)
    printed = None
    if spec.document is not None and page_corners is not None:
        printed = _paste_page(plate, spec.document, page_corners, rng, spec.identity)
    for _ in range(spec.clutter - cables):
        _pen(plate, page_corners, px_per_mm, rng)
    if spec.fingertip and page_corners is not None:
        _fingertip(plate, page_corners, px_per_mm, rng)
    image = _light_and_optics(plate, spec, rng)
    corners = None if page_corners is None else order_corners(page_corners)
    return Scene(image, corners, page_corners), printed


def page_quad(spec: SceneSpec, width: int, height: int) -> Corners:
    """Return where the printed page's TL, TR, BR, BL corners land in the frame."""
    assert spec.document is not None
    w_mm, h_mm = DOCUMENT_MM[spec.document]
    area = spec.coverage * width * height
    pw, ph = math.sqrt(area * w_mm / h_mm), math.sqrt(area * h_mm / w_mm)
    quad = np.array([[-pw / 2, -ph / 2], [pw / 2, -ph / 2], [pw / 2, ph / 2], [-pw / 2, ph / 2]])
    # Keystone: corners on the near side of the tilt axis grow, the far ones shrink.
    d = np.array([math.cos(math.radians(spec.tilt)), math.sin(math.radians(spec.tilt))])
    half_diag = math.hypot(pw, ph) / 2
    quad = quad * (1.0 + spec.perspective * (quad @ d) / half_diag)[:, None]
    a = math.radians(spec.rotation)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    out: Corners = quad @ rot.T + np.array([spec.centre[0] * width, spec.centre[1] * height])
    return out


# --- defects ------------------------------------------------------------------------------


def defocus(image: Image, sigma: float, rng: np.random.Generator, noise: float = 2.0) -> Image:
    """Return the frame out of focus: Gaussian blur of sigma px, then fresh sensor noise."""
    return _add_noise(cv2.GaussianBlur(image, (0, 0), sigma), noise, rng)


def motion_blur(
    image: Image, length: float, angle: float, rng: np.random.Generator, noise: float = 2.0
) -> Image:
    """Return the frame smeared along a line of `length` px at `angle` degrees, plus noise."""
    n = max(3, int(round(length)) | 1)
    kernel = np.zeros((n, n), np.float32)
    c = n // 2
    dx, dy = math.cos(math.radians(angle)) * c, math.sin(math.radians(angle)) * c
    cv2.line(kernel, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1.0, 1, cv2.LINE_AA)
    return _add_noise(cv2.filter2D(image, -1, kernel / kernel.sum()), noise, rng)


def glare_spot(
    image: Image, corners: Corners, rng: np.random.Generator, radius: float = 0.12
) -> Image:
    """Return the frame with a blown-out highlight on the page (radius: of the page's short side)."""
    w = rng.dirichlet(np.full(4, 4.0))
    cx, cy = w @ corners
    short = min(np.linalg.norm(corners[1] - corners[0]), np.linalg.norm(corners[2] - corners[1]))
    sigma = radius * short
    h, wd = image.shape[:2]
    x0, x1 = max(0, int(cx - 4 * sigma)), min(wd, int(cx + 4 * sigma) + 1)
    y0, y1 = max(0, int(cy - 4 * sigma)), min(h, int(cy + 4 * sigma) + 1)
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2)) * 420.0
    out = image.copy()
    roi = out[y0:y1, x0:x1].astype(np.float32) + blob[..., None]
    out[y0:y1, x0:x1] = np.clip(roi, 0, 255).astype(np.uint8)
    return out


def darken(image: Image, factor: float, rng: np.random.Generator, noise: float = 3.0) -> Image:
    """Return the frame as if shot in poor light: scaled down, with the extra sensor noise."""
    out = cv2.convertScaleAbs(image, alpha=factor)
    return _add_noise(out, noise, rng)


def cut_off(spec: SceneSpec, rng: np.random.Generator) -> SceneSpec:
    """Return the spec with the page pushed partly (about 15-35 % of it) out of the frame."""
    side = int(rng.integers(0, 4))
    w_mm, h_mm = DOCUMENT_MM[spec.document or "a4_form"]
    a = math.radians(spec.rotation)
    # Half extents of the rotated page, as fractions of a square-ish frame (coverage based).
    half = math.sqrt(spec.coverage) / 2
    ext = half * (abs(math.cos(a)) * math.sqrt(w_mm / h_mm) + abs(math.sin(a)) * math.sqrt(h_mm / w_mm))
    eyt = half * (abs(math.sin(a)) * math.sqrt(w_mm / h_mm) + abs(math.cos(a)) * math.sqrt(h_mm / w_mm))
    out = float(rng.uniform(0.3, 0.7))  # how much of the half extent crosses the border
    cx, cy = float(rng.uniform(0.4, 0.6)), float(rng.uniform(0.4, 0.6))
    if side == 0:
        cx = ext * (1 - out)
    elif side == 1:
        cx = 1 - ext * (1 - out)
    elif side == 2:
        cy = eyt * (1 - out)
    else:
        cy = 1 - eyt * (1 - out)
    return dataclasses.replace(spec, centre=(cx, cy))


def tiny(spec: SceneSpec, rng: np.random.Generator) -> SceneSpec:
    """Return the spec with a page covering only 1.5-3.5 % of the frame."""
    return dataclasses.replace(spec, coverage=float(rng.uniform(0.015, 0.035)))


def render_shot(
    kind: str, width: int, height: int, rng: np.random.Generator, spec: SceneSpec | None = None
) -> tuple[Scene, SceneSpec]:
    """Render a still of `kind` ("good" or one of DEFECTS) from spec (default: a random one).

    Defect strengths are relative to the page, so they mean the same at every resolution:
    defocus sigma 0.3-0.6 % and motion 1.2-2.5 % of the page's long side, a glare spot of
    6-12 % of its short side, light at 20-32 %. Returns the scene and the spec drawn.
    """
    if kind not in ("good", *DEFECTS):
        raise ValueError(f"unknown shot kind {kind!r}")
    spec = spec or random_spec(rng, aspect=width / height)
    if kind == "cut_off":
        spec = cut_off(spec, rng)
    elif kind == "tiny":
        spec = tiny(spec, rng)
    elif kind == "empty":
        spec = dataclasses.replace(spec, document=None, clutter=int(rng.integers(0, 4)))
    scene = render_scene(spec, width, height, rng)
    if scene.corners is None:
        return scene, spec
    sides = np.linalg.norm(np.roll(scene.corners, -1, axis=0) - scene.corners, axis=1)
    image = scene.image
    if kind == "defocus":
        image = defocus(image, float(rng.uniform(0.003, 0.006)) * sides.max(), rng)
    elif kind == "motion":
        image = motion_blur(image, float(rng.uniform(0.012, 0.025)) * sides.max(), float(rng.uniform(0, 180)), rng)
    elif kind == "glare":
        image = glare_spot(image, scene.corners, rng, float(rng.uniform(0.06, 0.12)))
    elif kind == "dark":
        image = darken(image, float(rng.uniform(0.2, 0.32)), rng)
    return dataclasses.replace(scene, image=image), spec


# --- drawing ------------------------------------------------------------------------------


def _px_per_mm(spec: SceneSpec, width: int, height: int) -> float:
    w_mm, h_mm = DOCUMENT_MM[spec.document or "a4_form"]
    coverage = spec.coverage if spec.document else 0.35
    return math.sqrt(coverage * width * height / (w_mm * h_mm))


def _fit_centre(spec: SceneSpec, aspect: float, rng: np.random.Generator) -> tuple[float, float] | None:
    """Return a random page centre that keeps the page inside the frame with a margin, or None."""
    w, h = round(1000 * aspect), 1000
    for i in range(41):
        spread = 0.2 if i < 40 else 0.0  # the last try is the middle
        centre = (0.5 + float(rng.uniform(-spread, spread)), 0.5 + float(rng.uniform(-spread, spread)))
        quad = page_quad(dataclasses.replace(spec, centre=centre), w, h)
        if quad[:, 0].min() > 20 and quad[:, 1].min() > 20 and quad[:, 0].max() < w - 20 and quad[:, 1].max() < h - 20:
            return centre
    return None


def _lowfreq(shape: tuple[int, int], cells: int, rng: np.random.Generator) -> NDArray[Any]:
    """Return smooth noise in [-1, 1] at the given size (a few cells across, upsampled)."""
    h, w = shape
    ch, cw = max(2, cells * h // max(h, w)), max(2, cells * w // max(h, w))
    small = rng.uniform(-1, 1, (ch, cw)).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def _plate(spec: SceneSpec, width: int, height: int, rng: np.random.Generator) -> Image:
    """Return the empty plate: flat, mottled or wood-grained, dark or pale."""
    if spec.plate == "dark":
        base = np.array([38, 40, 44], np.float32) * float(rng.uniform(0.7, 1.4))
        wood = np.array([40, 62, 92], np.float32)
    else:
        base = np.array([182, 184, 186], np.float32) * float(rng.uniform(0.9, 1.05))
        wood = np.array([125, 165, 200], np.float32)
    # Textures are built at 1/4 size and upsampled: they are smooth anyway, and this is fast.
    sh, sw = max(2, height // 4), max(2, width // 4)
    if spec.texture == "wood":
        yy = np.mgrid[0:sh, 0:sw][0].astype(np.float32)
        period = max(sh, sw) / float(rng.uniform(25, 60))
        warp = _lowfreq((sh, sw), 6, rng) * period * 3
        grain = 0.5 + 0.5 * np.sin(2 * np.pi * (yy + warp) / period)
        shade = (0.85 + 0.15 * grain)[..., None]
        small = wood * shade
    else:
        small = np.broadcast_to(base, (sh, sw, 3)).astype(np.float32)
        if spec.texture == "noise":
            small = small * (1 + 0.07 * _lowfreq((sh, sw), 24, rng))[..., None]
            grain = rng.normal(0, 4.0, (sh, sw, 1)).astype(np.float32)
            small = small + grain
    plate: Image = cv2.resize(np.clip(small, 0, 255).astype(np.uint8), (width, height), interpolation=cv2.INTER_LINEAR)
    return plate


def _paste_page(plate: Image, document: str, quad: Corners, rng: np.random.Generator,
                identity: Identity | None = None) -> sd.Rendered | None:
    """Draw the page texture and warp it onto the plate at the quad, with soft edges.

    Returns what a Chinese print printed (None for the older documents)."""
    w_mm, h_mm = DOCUMENT_MM[document]
    side = np.linalg.norm(np.roll(quad, -1, axis=0) - quad, axis=1)
    pw = int(min(3000, max(64, (side[0] + side[2]) / 2)))
    ph = max(32, int(round(pw * h_mm / w_mm)))
    texture, mask, printed = _page_texture(document, pw, ph, rng, identity)
    h, w = plate.shape[:2]
    x0, y0 = max(0, int(np.floor(quad[:, 0].min())) - 2), max(0, int(np.floor(quad[:, 1].min())) - 2)
    x1, y1 = min(w, int(np.ceil(quad[:, 0].max())) + 3), min(h, int(np.ceil(quad[:, 1].max())) + 3)
    if x1 <= x0 or y1 <= y0:
        return printed
    src = np.array([[-0.5, -0.5], [pw - 0.5, -0.5], [pw - 0.5, ph - 0.5], [-0.5, ph - 0.5]], np.float32)
    dst = (quad - [x0, y0]).astype(np.float32)
    m = cv2.getPerspectiveTransform(src, dst)
    size = (x1 - x0, y1 - y0)
    page = cv2.warpPerspective(texture, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpPerspective(mask, m, size, flags=cv2.INTER_LINEAR, borderValue=0)
    a = alpha.astype(np.float32) * (1.0 / 255.0)
    plate[y0:y1, x0:x1] = cv2.blendLinear(page, plate[y0:y1, x0:x1], a, 1.0 - a)
    return printed


def _page_texture(document: str, pw: int, ph: int, rng: np.random.Generator,
                  identity: Identity | None = None) -> tuple[Image, Image, sd.Rendered | None]:
    """Return the printed page (BGR), its alpha mask (rounded corners for cards) and, for the
    Chinese prints, what was printed."""
    mm = pw / DOCUMENT_MM[document][0]
    printed = None
    if document in sd.PAGE_MM:
        printed = sd.render_document(document, pw, ph, rng, identity)
        page = printed.image
    elif document == "id_card":
        page = _id_card(pw, ph, mm, rng)
    elif document == "a4_form":
        page = _a4_form(pw, ph, mm, rng)
    else:
        page = _licence(pw, ph, mm, rng)
    mask = sd.card_mask(pw, ph) if document in CARDS else np.full((ph, pw), 255, np.uint8)
    return page, mask, printed


def _text_line(img: Image, x: float, y: float, width: float, height_mm: float, mm: float,
               rng: np.random.Generator, color: tuple[int, int, int] = (40, 40, 40)) -> None:
    """Draw a line of random letters filling about `width` pixels, baseline at y."""
    px = height_mm * mm
    scale = px / 22.0  # Hershey simplex capitals are ~22 px tall at scale 1
    thickness = max(1, int(round(px / 9)))
    char_w = 20 * scale
    n = max(1, int(width / char_w))
    words: list[str] = []
    while sum(len(w) + 1 for w in words) < n:
        words.append("".join(rng.choice(list(_LETTERS), int(rng.integers(2, 9)))))
    text = " ".join(words)[:n]
    cv2.putText(img, text, (int(x), int(y)), cv2.FONT_HERSHEY_SIMPLEX, scale, color, thickness, cv2.LINE_AA)


def _id_card(pw: int, ph: int, mm: float, rng: np.random.Generator) -> Image:
    img = np.empty((ph, pw, 3), np.uint8)
    img[:] = (236, 228, 214)
    # A faint guilloche-like pattern, as on the real card.
    for k in range(12):
        cv2.ellipse(img, (int(pw * 0.45), int(ph * 0.6)), (int((8 + 5 * k) * mm), int((5 + 3 * k) * mm)),
                    0, 0, 360, (226, 214, 200), max(1, int(0.3 * mm)), cv2.LINE_AA)
    # Photo box with a face and shoulders.
    x0, y0, x1, y1 = int(pw * 0.64), int(ph * 0.12), int(pw * 0.93), int(ph * 0.78)
    cv2.rectangle(img, (x0, y0), (x1, y1), (232, 232, 230), -1)
    fx, fy = (x0 + x1) // 2, int(y0 + (y1 - y0) * 0.42)
    cv2.ellipse(img, (fx, int(y1 - 0.05 * (y1 - y0))), (int(0.45 * (x1 - x0)), int(0.25 * (y1 - y0))),
                0, 180, 360, (60, 55, 50), -1, cv2.LINE_AA)
    cv2.ellipse(img, (fx, fy), (int(0.22 * (x1 - x0)), int(0.28 * (y1 - y0))), 0, 0, 360,
                (150, 175, 215), -1, cv2.LINE_AA)
    cv2.ellipse(img, (fx, fy - int(0.2 * (y1 - y0))), (int(0.24 * (x1 - x0)), int(0.12 * (y1 - y0))),
                0, 180, 360, (30, 30, 35), -1, cv2.LINE_AA)
    for i in range(5):
        _text_line(img, 5 * mm, (10 + i * 7.5) * mm, pw * 0.5 * (0.5 + 0.5 * rng.random()), 2.4, mm, rng)
    _text_line(img, 20 * mm, 48 * mm, pw * 0.6, 3.0, mm, rng, (30, 30, 30))
    return img


def _a4_form(pw: int, ph: int, mm: float, rng: np.random.Generator) -> Image:
    img = np.empty((ph, pw, 3), np.uint8)
    img[:] = (238, 240, 241)
    _text_line(img, 55 * mm, 25 * mm, 100 * mm, 6.0, mm, rng, (20, 20, 20))
    y = 40.0
    for _ in range(int(rng.integers(4, 8))):
        _text_line(img, 20 * mm, y * mm, (170 * (0.6 + 0.4 * rng.random())) * mm, 3.0, mm, rng)
        y += 7.0
    rows, cols = int(rng.integers(5, 9)), int(rng.integers(3, 5))
    tx0, tx1, ty0 = 20 * mm, 190 * mm, (y + 4) * mm
    row_h = 11 * mm
    thick = max(1, int(round(0.4 * mm)))
    for r in range(rows + 1):
        yy = int(ty0 + r * row_h)
        cv2.line(img, (int(tx0), yy), (int(tx1), yy), (50, 50, 50), thick, cv2.LINE_AA)
    for c in range(cols + 1):
        xx = int(tx0 + c * (tx1 - tx0) / cols)
        cv2.line(img, (xx, int(ty0)), (xx, int(ty0 + rows * row_h)), (50, 50, 50), thick, cv2.LINE_AA)
    for r in range(rows):
        for c in range(cols):
            cell_w = (tx1 - tx0) / cols
            _text_line(img, tx0 + c * cell_w + 2 * mm, ty0 + r * row_h + 7.5 * mm,
                       cell_w * (0.3 + 0.5 * rng.random()), 2.8, mm, rng)
    y = (y + 8) + rows * 11 + 8
    while y < 270:
        _text_line(img, 20 * mm, y * mm, (170 * (0.5 + 0.5 * rng.random())) * mm, 3.0, mm, rng)
        y += 7.0
    pts = np.array([[140 + 4 * i, 280 + 3 * math.sin(i * 1.7)] for i in range(10)]) * mm
    cv2.polylines(img, [pts.astype(np.int32)], False, (120, 60, 20), max(1, int(0.5 * mm)), cv2.LINE_AA)
    return img


def _licence(pw: int, ph: int, mm: float, rng: np.random.Generator) -> Image:
    img = np.empty((ph, pw, 3), np.uint8)
    img[:] = (214, 230, 240)
    for inset, thick in ((8, 1.6), (11, 0.6)):
        cv2.rectangle(img, (int(inset * mm), int(inset * mm)), (int(pw - inset * mm), int(ph - inset * mm)),
                      (60, 90, 160), max(1, int(thick * mm)), cv2.LINE_AA)
    _text_line(img, 100 * mm, 40 * mm, 100 * mm, 10.0, mm, rng, (30, 30, 150))
    # A QR-code-like block, top right.
    cells = rng.random((21, 21)) < 0.5
    q = max(1, int(1.2 * mm))
    qx, qy = int(pw - 50 * mm), int(20 * mm)
    for (r, c) in np.argwhere(cells):
        cv2.rectangle(img, (qx + c * q, qy + r * q), (qx + c * q + q - 1, qy + r * q + q - 1), (20, 20, 20), -1)
    y = 65.0
    for _ in range(9):
        _text_line(img, 30 * mm, y * mm, (150 * (0.5 + 0.5 * rng.random())) * mm, 4.0, mm, rng)
        y += 12.0
    # The red seal: ring, star and a short inscription.
    sx, sy, sr = int(pw - 70 * mm), int(ph - 55 * mm), int(21 * mm)
    red = (40, 40, 210)
    cv2.circle(img, (sx, sy), sr, red, max(1, int(1.2 * mm)), cv2.LINE_AA)
    star = [(sx + 0.4 * sr * math.cos(math.radians(-90 + 144 * i)), sy + 0.4 * sr * math.sin(math.radians(-90 + 144 * i)))
            for i in range(5)]
    cv2.fillPoly(img, [np.array(star, np.int32)], red, cv2.LINE_AA)
    _text_line(img, sx - 0.7 * sr, sy + 0.75 * sr, 1.4 * sr, 3.0, mm, rng, red)
    return img


def _pen(plate: Image, page: Corners | None, mm: float, rng: np.random.Generator) -> None:
    """Draw a pen on the plate, near the page perhaps but not on it."""
    h, w = plate.shape[:2]
    half, thick = 70 * mm, 9 * mm
    for _ in range(40):
        cx, cy = float(rng.uniform(0, w)), float(rng.uniform(0, h))
        a = float(rng.uniform(0, np.pi))
        axis = [(cx + t * half * math.cos(a), cy + t * half * math.sin(a)) for t in np.linspace(-1, 1, 15)]
        # Clutter lies on the plate: at least 2 mm of plate between the pen and the page.
        if page is None or max(_inside(page, p) for p in axis) < -(thick / 2 + 2 * mm):
            break
    else:
        return
    p0 = (int(axis[0][0]), int(axis[0][1]))
    p1 = (int(axis[-1][0]), int(axis[-1][1]))
    colours = [(120, 50, 20), (25, 25, 25), (40, 40, 190), (200, 200, 205)]
    colour = colours[int(rng.integers(0, len(colours)))]
    cv2.line(plate, p0, p1, colour, max(2, int(thick)), cv2.LINE_AA)
    hi = tuple(min(255, c + 60) for c in colour)
    cv2.line(plate, p0, p1, hi, max(1, int(2 * mm)), cv2.LINE_AA)


def _cable(plate: Image, page: Corners | None, mm: float, rng: np.random.Generator) -> None:
    """Draw a cable wandering over the plate (drawn before the page, so it runs under it)."""
    h, w = plate.shape[:2]
    pts = [(float(rng.uniform(0, w)), float(rng.uniform(0, h)))]
    a = float(rng.uniform(0, 2 * np.pi))
    step = 6 * mm
    for _ in range(40):
        a += float(rng.normal(0, 0.25))
        pts.append((pts[-1][0] + step * math.cos(a), pts[-1][1] + step * math.sin(a)))
    colour = (30, 30, 30) if rng.random() < 0.6 else (225, 225, 225)
    cv2.polylines(plate, [np.array(pts, np.int32)], False, colour, max(2, int(4 * mm)), cv2.LINE_AA)


def _inside(quad: Corners, point: tuple[float, float]) -> float:
    """Return how far a point lies inside the quad (negative: outside)."""
    return float(cv2.pointPolygonTest(quad.astype(np.float32), point, True))


def _fingertip(plate: Image, page: Corners, mm: float, rng: np.random.Generator) -> None:
    """Draw a finger reaching in from outside and resting over one page edge."""
    k = int(rng.integers(0, 4))
    p, q = page[k], page[(k + 1) % 4]
    t = float(rng.uniform(0.25, 0.75))
    on_edge = p + t * (q - p)
    centre = page.mean(axis=0)
    edge = (q - p) / np.linalg.norm(q - p)
    normal = np.array([edge[1], -edge[0]])
    if np.dot(normal, on_edge - centre) < 0:
        normal = -normal
    tip = on_edge - normal * 5 * mm
    base = tip + normal * 400 * mm
    width = 16 * mm
    skin = (int(rng.integers(120, 160)), int(rng.integers(150, 185)), int(rng.integers(195, 235)))
    cv2.line(plate, tuple(int(v) for v in tip), tuple(int(v) for v in base), skin, int(width), cv2.LINE_AA)
    nail = tip + normal * 5 * mm
    angle = math.degrees(math.atan2(normal[1], normal[0]))
    cv2.ellipse(plate, (int(nail[0]), int(nail[1])), (int(5 * mm), int(4 * mm)), angle, 0, 360,
                tuple(min(255, c + 25) for c in skin), -1, cv2.LINE_AA)


def _light_and_optics(plate: Image, spec: SceneSpec, rng: np.random.Generator) -> Image:
    """Apply the lamp's falloff, the arm's shadow, exposure, lens softness and sensor noise."""
    h, w = plate.shape[:2]
    sh, sw = max(2, h // 8), max(2, w // 8)
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    r2 = ((xx / sw - 0.5) ** 2 + (yy / sh - 0.5) ** 2) / 0.5
    gain = spec.exposure * (1.0 - 0.12 * r2)
    if spec.arm_shadow > 0:
        shadow = np.zeros((sh, sw), np.float32)
        side = int(rng.integers(0, 4))
        a0, a1 = sorted(rng.uniform(0.1, 0.9, 2))
        a1 = max(a1, a0 + 0.25)
        depth = float(rng.uniform(0.4, 0.8))
        if side == 0:
            poly = [(a0 * sw, 0), (a1 * sw, 0), ((a1 + 0.1) * sw, depth * sh), ((a0 + 0.1) * sw, depth * sh)]
        elif side == 1:
            poly = [(a0 * sw, sh), (a1 * sw, sh), ((a1 - 0.1) * sw, (1 - depth) * sh), ((a0 - 0.1) * sw, (1 - depth) * sh)]
        elif side == 2:
            poly = [(0, a0 * sh), (0, a1 * sh), (depth * sw, (a1 + 0.1) * sh), (depth * sw, (a0 + 0.1) * sh)]
        else:
            poly = [(sw, a0 * sh), (sw, a1 * sh), ((1 - depth) * sw, (a1 - 0.1) * sh), ((1 - depth) * sw, (a0 - 0.1) * sh)]
        cv2.fillPoly(shadow, [np.array(poly, np.int32)], 1.0)
        shadow = cv2.GaussianBlur(shadow, (0, 0), 0.04 * max(sh, sw))
        gain = gain * (1.0 - spec.arm_shadow * shadow)
    # The gain map is smooth: build it small, as 8-bit fixed point (x128), and upsample.
    gain8 = np.clip(gain * 128.0, 0, 255).astype(np.uint8)
    gain_full = cv2.resize(cv2.merge([gain8] * 3), (w, h), interpolation=cv2.INTER_LINEAR)
    lit = cv2.multiply(plate, gain_full, scale=1.0 / 128.0)
    if spec.softness > 0:
        lit = cv2.GaussianBlur(lit, (0, 0), spec.softness)
    return _add_noise(lit, spec.noise, rng)


def _add_noise(image: Image, sigma: float, rng: np.random.Generator) -> Image:
    if sigma <= 0:
        return image
    noise = np.empty(image.shape, np.int16)
    cv2.setRNGSeed(int(rng.integers(0, 2**31 - 1)))
    cv2.randn(noise, np.zeros(3), np.full(3, float(sigma)))  # per channel: a scalar fills only blue
    return cv2.add(image, noise, dtype=cv2.CV_8U)
