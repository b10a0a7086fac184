"""Synthetic prints of the documents citizens put under the 高拍仪, with real Chinese text.

``render_document(name, width, height, rng, identity=None)`` draws the flat, upright printed
page (BGR uint8, ``width`` x ``height`` px) of one of ``PAGE_MM``'s documents: both sides of a
resident ID card, a household register's 常住人口登记卡 page, a business licence (副本), a bank
card and an A4 form, letter or contract. Text is set with Pillow in Noto Sans/Serif CJK SC at
the sizes printed on the real thing (in mm), at the pixel size asked, so it stays sharp however
large the page is warped into a scene (``synthetic_scene``). Every person, company and number is
fictional but well formed: ID numbers carry a GB 11643 check character (wrong on purpose with
``make_identity(valid=False)``), bank card numbers a Luhn digit, credit codes a GB 32100 one.

People and numbers come from ``synthetic_identity``.

``DOCUMENT_CLASS`` says what the document check must recognise each document as. The portrait
on an ID card is a painted head (skin-toned face with shading, dark hair above, eyes, brows,
mouth, shoulders in dark clothes) on a light photo background: what the recogniser's portrait
detector looks for. Same ``rng`` state, same print.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont

from citizen_client.synthetic_identity import REGIONS as REGIONS
from citizen_client.synthetic_identity import SURNAMES as SURNAMES
from citizen_client.synthetic_identity import TODAY as TODAY
from citizen_client.synthetic_identity import Identity as Identity
from citizen_client.synthetic_identity import credit_code as credit_code
from citizen_client.synthetic_identity import luhn_digit as luhn_digit
from citizen_client.synthetic_identity import make_identity as make_identity
from citizen_client.synthetic_identity import mobile_number, person_name

Image = NDArray[Any]  # 8-bit BGR
Box = tuple[int, int, int, int]  # x, y, w, h in the page's pixels
BGR = tuple[int, int, int]


# Printed size (width, height) in mm, upright as read.
PAGE_MM: dict[str, tuple[float, float]] = {
    "id_card_front": (85.6, 54.0),
    "id_card_back": (85.6, 54.0),
    "household_register": (105.0, 143.0),  # a 户口簿 inner page (常住人口登记卡), portrait
    "business_licence": (297.0, 210.0),  # the 副本, A4 landscape
    "bank_card": (85.6, 54.0),
    "a4_page": (210.0, 297.0),
}
CARDS = frozenset({"id_card_front", "id_card_back", "bank_card"})
"""The ID-1 cards (85.6 x 54 mm, 3.18 mm corner radius)."""

DOCUMENT_CLASS: dict[str, str] = {
    "id_card_front": "id_card_front",
    "id_card_back": "id_card_back",
    "household_register": "household_register",
    "business_licence": "business_licence",
    "bank_card": "bank_card",
    "a4_page": "page",
    # synthetic_scene's older prints: Latin gibberish, no keywords.
    "a4_form": "page",
    "licence": "page",
    "id_card": "unknown",  # a card on which nothing can be read
}
"""Document name -> the class the document check must recognise it as."""

_FONT_DIR = Path("/usr/share/fonts/opentype/noto")
_SC = 2  # face index of Simplified Chinese in the Noto CJK collections

INK: BGR = (28, 26, 24)
LABEL_BLUE: BGR = (150, 112, 72)  # the blue-grey of an ID card's printed labels
SEAL_RED: BGR = (40, 36, 205)
GOLD: BGR = (40, 185, 235)


def _cn_date(d: date) -> str:
    return f"{d.year}年{d.month:02d}月{d.day:02d}日"


def _pick(rng: np.random.Generator, items: Sequence[str]) -> str:
    return str(items[int(rng.integers(len(items)))])


# --- the page canvas -------------------------------------------------------------------------


@functools.lru_cache(maxsize=96)
def _font(px: int, bold: bool = False, serif: bool = False) -> ImageFont.FreeTypeFont:
    family = "NotoSerifCJK" if serif else "NotoSansCJK"
    path = _FONT_DIR / f"{family}-{'Bold' if bold else 'Regular'}.ttc"
    return ImageFont.truetype(str(path), max(4, px), index=_SC)


@functools.lru_cache(maxsize=8192)
def _advance(px: int, bold: bool, serif: bool, ch: str) -> float:
    return float(_font(px, bold, serif).getlength(ch))


@dataclass(frozen=True)
class Rendered:
    """A printed page, every string printed on it, and where its named parts are."""

    image: Image
    texts: tuple[str, ...]
    regions: Mapping[str, Box] = field(default_factory=dict)  # e.g. "id_number", "photo"
    fields: Mapping[str, str] = field(default_factory=dict)  # e.g. "card_number", "credit_code"


class _Page:
    """A page being printed, in numpy: shapes with OpenCV, text with Pillow on the text's own box.

    Pillow draws each string on a copy of just the pixels under it (BGR bytes in its "RGB" slots,
    so colours are BGR too), which is copied back: a whole-page round trip through Pillow would
    cost more than all the printing on a 12 MP page.
    """

    def __init__(self, width: int, height: int, width_mm: float) -> None:
        self.w, self.h = width, height
        self.mm = width / width_mm
        self.img: Image = np.zeros((height, width, 3), np.uint8)  # replaced by the background
        self.texts: list[str] = []
        self.regions: dict[str, Box] = {}
        self.fields: dict[str, str] = {}

    def px(self, v: float) -> int:
        return int(round(v * self.mm))

    def pt(self, x: float, y: float) -> tuple[int, int]:
        return self.px(x), self.px(y)

    def text(self, x: float, y: float, s: str, size: float, color: BGR = INK, *, bold: bool = False,
             serif: bool = False, pitch: float | None = None, anchor: str = "ls",
             name: str | None = None) -> Box:
        """Print ``s`` with its left baseline at (x, y) mm, em ``size`` mm; ``pitch``: fixed advance."""
        font = _font(self.px(size), bold, serif)
        self.texts.append(s)
        if pitch is None:
            pieces = [(x * self.mm, y * self.mm, s)]
        else:
            pieces = [((x + i * pitch) * self.mm, y * self.mm, ch) for i, ch in enumerate(s) if ch != " "]
        boxes = []
        for px_, py_, t in pieces:
            bl, bt, br, bb = font.getbbox(t, anchor=anchor)
            boxes.append((px_ + bl, py_ + bt, px_ + br, py_ + bb))
        left = int(math.floor(min(bx[0] for bx in boxes))) - 2
        top = int(math.floor(min(bx[1] for bx in boxes))) - 2
        right = int(math.ceil(max(bx[2] for bx in boxes))) + 2
        bottom = int(math.ceil(max(bx[3] for bx in boxes))) + 2
        x0, y0, x1, y1 = max(0, left), max(0, top), min(self.w, right), min(self.h, bottom)
        if x1 > x0 and y1 > y0:
            patch = PILImage.fromarray(self.img[y0:y1, x0:x1], "RGB")
            draw = ImageDraw.Draw(patch)
            for px_, py_, t in pieces:
                draw.text((px_ - x0, py_ - y0), t, fill=color, font=font, anchor=anchor)
            self.img[y0:y1, x0:x1] = np.asarray(patch)
        box = (left + 2, top + 2, right - left - 4, bottom - top - 4)
        if name is not None:
            self.regions[name] = box
        return box

    def wrap(self, s: str, width: float, size: float, indent: int = 0) -> list[str]:
        """Break ``s`` into lines at most ``width`` mm wide (CJK breaks anywhere); first line indented."""
        lines: list[str] = []
        line = "\u3000" * indent
        px = self.px(size)
        used = sum(_advance(px, False, False, ch) for ch in line)
        for ch in s:
            adv = _advance(px, False, False, ch)
            if used + adv > width * self.mm and line and ch not in "，。；：、）》”":
                lines.append(line)
                line, used = "", 0.0
            line += ch
            used += adv
        if line:
            lines.append(line)
        return lines

    def paragraph(self, x: float, y: float, s: str, width: float, size: float, leading: float,
                  indent: int = 2, color: BGR = INK) -> float:
        """Print a wrapped paragraph from baseline y; return the baseline after it."""
        for line in self.wrap(s, width, size, indent):
            self.text(x, y, line, size, color)
            y += leading
        return y

    def line(self, x0: float, y0: float, x1: float, y1: float, thick: float, color: BGR = INK) -> None:
        cv2.line(self.img, self.pt(x0, y0), self.pt(x1, y1), color, max(1, self.px(thick)), cv2.LINE_AA)

    def rect(self, x0: float, y0: float, x1: float, y1: float, thick: float, color: BGR = INK) -> None:
        cv2.rectangle(self.img, self.pt(x0, y0), self.pt(x1, y1), color, max(1, self.px(thick)), cv2.LINE_AA)

    def done(self) -> Rendered:
        return Rendered(self.img, tuple(self.texts), dict(self.regions), dict(self.fields))


def _union(boxes: Sequence[Box]) -> Box:
    """The smallest box holding all of ``boxes``."""
    x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    x1, y1 = max(b[0] + b[2] for b in boxes), max(b[1] + b[3] for b in boxes)
    return (x0, y0, x1 - x0, y1 - y0)


def _background(page: _Page, a: BGR, b: BGR, rng: np.random.Generator, waves: int = 0,
                wave_color: BGR | None = None, mottle: float = 0.0) -> None:
    """Fill the page with a diagonal gradient a -> b, mottling and optional guilloche waves.

    The gradient is smooth: built tiny and upsampled; the waves are drawn at full size.
    """
    sh, sw = (48, max(2, 48 * page.w // page.h)) if page.h >= page.w else (max(2, 48 * page.h // page.w), 48)
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    t = (xx / sw * 0.6 + yy / sh * 0.4)[..., None]
    small = np.array(a, np.float32) * (1 - t) + np.array(b, np.float32) * t
    if mottle:
        noise = cv2.resize(rng.uniform(-1, 1, (max(2, sh // 4), max(2, sw // 4))).astype(np.float32), (sw, sh),
                           interpolation=cv2.INTER_CUBIC)
        small *= (1 + mottle * noise)[..., None]
    page.img = cv2.resize(np.clip(small, 0, 255).astype(np.uint8), (page.w, page.h), interpolation=cv2.INTER_LINEAR)
    if waves and wave_color is not None:
        phase = float(rng.uniform(0, 2 * np.pi))
        thick = max(1, page.h // 700)
        xs = np.linspace(0, page.w, 160)
        for k in range(waves):
            y0 = (k + 0.5) * page.h / waves
            ys = y0 + 0.35 * page.h / waves * np.sin(xs / page.w * 2 * np.pi * 2.5 + phase + k * 0.6)
            pts = (np.stack([xs, ys], axis=1) * 16).astype(np.int32)
            cv2.polylines(page.img, [pts], False, wave_color, thick, cv2.LINE_AA, 4)


def _star(img: Image, cx: float, cy: float, r: float, color: BGR, turn: float = 0.0) -> None:
    pts = []
    for i in range(10):
        rad = r if i % 2 == 0 else r * 0.382
        a = math.radians(-90 + turn + 36 * i)
        pts.append((cx + rad * math.cos(a), cy + rad * math.sin(a)))
    cv2.fillPoly(img, [np.array(pts, np.int32)], color, cv2.LINE_AA)


def _emblem(img: Image, cx: float, cy: float, r: float) -> None:
    """A stylised national emblem (国徽): red disc, gold wheat ring, stars, gate and gear."""
    c = (int(cx), int(cy))
    cv2.circle(img, c, int(r), (30, 40, 190), -1, cv2.LINE_AA)
    cv2.circle(img, c, int(r * 0.9), GOLD, max(1, int(r * 0.12)), cv2.LINE_AA)
    for k in range(28):  # ears of wheat on the ring
        a = math.radians(100 + k * (340 / 28))
        ex, ey = cx + r * 0.9 * math.cos(a), cy + r * 0.9 * math.sin(a)
        cv2.ellipse(img, (int(ex), int(ey)), (max(1, int(r * 0.1)), max(1, int(r * 0.045))),
                    math.degrees(a) + 90, 0, 360, (30, 150, 215), -1, cv2.LINE_AA)
    cv2.circle(img, c, int(r * 0.74), (30, 40, 200), -1, cv2.LINE_AA)
    _star(img, cx - r * 0.28, cy - r * 0.38, r * 0.2, GOLD)
    for k, (dx, dy) in enumerate(((0.02, -0.55), (0.16, -0.42), (0.2, -0.22), (0.1, -0.05))):
        _star(img, cx + r * dx, cy + r * dy, r * 0.08, GOLD, turn=15 * k)
    # The gate: two roofs over a wide base.
    cv2.rectangle(img, (int(cx - r * 0.5), int(cy + r * 0.18)), (int(cx + r * 0.5), int(cy + r * 0.42)), GOLD, -1)
    for y, half, tall in ((0.18, 0.42, 0.1), (0.05, 0.3, 0.09)):
        roof = np.array([(cx - r * half, cy + r * y), (cx + r * half, cy + r * y),
                         (cx + r * (half - 0.08), cy + r * (y - tall)), (cx - r * (half - 0.08), cy + r * (y - tall))])
        cv2.fillPoly(img, [roof.astype(np.int32)], GOLD, cv2.LINE_AA)
    for k in range(5):
        x = cx - r * 0.36 + k * r * 0.18
        cv2.rectangle(img, (int(x - r * 0.03), int(cy + r * 0.28)), (int(x + r * 0.03), int(cy + r * 0.42)),
                      (30, 40, 200), -1)
    cv2.circle(img, (int(cx), int(cy + r * 0.68)), max(1, int(r * 0.15)), GOLD, -1, cv2.LINE_AA)
    cv2.circle(img, (int(cx), int(cy + r * 0.68)), max(1, int(r * 0.06)), (30, 40, 200), -1, cv2.LINE_AA)


def _seal(page: _Page, cx: float, cy: float, r: float, inscription: str, color: BGR = SEAL_RED,
          below: str = "") -> Box:
    """Stamp a round red seal (ring, star, inscription along the arc) over what is printed.

    Drawn on its own mask and blended at ~85 %, so the text under it shows through, as with ink.
    """
    img = page.img
    R = page.px(r)
    size = 2 * R + 4
    mask = np.zeros((size, size), np.uint8)
    c = size / 2
    cv2.circle(mask, (int(c), int(c)), int(R - page.mm * 0.5), 255, max(1, page.px(0.9)), cv2.LINE_AA)
    _star(mask, c, c, R * 0.3, (255, 255, 255))
    n = len(inscription)
    span = min(250.0, 21.0 * n)  # degrees of arc the inscription takes
    em = max(4, int(min(R * 0.26, R * 0.68 * math.radians(span / n) * 0.95)))
    font = _font(em, True)
    for i, ch in enumerate(inscription):
        a = -90 - span / 2 + span * (i + 0.5) / n  # degrees, clockwise from 3 o'clock
        glyph = PILImage.new("L", (em * 2, em * 2), 0)
        ImageDraw.Draw(glyph).text((em, em), ch, fill=255, font=font, anchor="mm")
        g = np.array(glyph.rotate(-(a + 90), resample=PILImage.Resampling.BILINEAR))
        gx = c + R * 0.68 * math.cos(math.radians(a)) - em
        gy = c + R * 0.68 * math.sin(math.radians(a)) - em
        x0, y0 = int(gx), int(gy)
        x1, y1 = min(size, x0 + g.shape[1]), min(size, y0 + g.shape[0])
        if x0 >= 0 and y0 >= 0:
            np.maximum(mask[y0:y1, x0:x1], g[: y1 - y0, : x1 - x0], out=mask[y0:y1, x0:x1])
    if below:
        pil = PILImage.fromarray(mask)
        small = _font(max(4, int(R * 0.2)), True)
        ImageDraw.Draw(pil).text((c, c + R * 0.55), below, fill=255, font=small, anchor="mm")
        mask = np.array(pil)
    page.texts.append(inscription + below)
    ox, oy = int(page.px(cx) - c), int(page.px(cy) - c)
    sx0, sy0 = max(0, -ox), max(0, -oy)
    x0, y0 = max(0, ox), max(0, oy)
    x1, y1 = min(page.w, ox + size), min(page.h, oy + size)
    if x1 > x0 and y1 > y0:
        w = mask[sy0:sy0 + y1 - y0, sx0:sx0 + x1 - x0].astype(np.float32) * (0.85 / 255)
        roi = img[y0:y1, x0:x1]
        ink = np.empty_like(roi)
        ink[:] = color
        img[y0:y1, x0:x1] = cv2.blendLinear(ink, roi, w, 1.0 - w)
    return (x0, y0, x1 - x0, y1 - y0)


def _qr(page: _Page, x: float, y: float, side: float, rng: np.random.Generator) -> Box:
    """A QR-code-like block (random modules, three finder patterns) at (x, y) mm, ``side`` mm."""
    n = 25
    cells = rng.random((n, n)) < 0.5
    for fy, fx in ((0, 0), (0, n - 7), (n - 7, 0)):
        cells[fy:fy + 7, fx:fx + 7] = False
        cells[fy:fy + 7, fx] = cells[fy:fy + 7, fx + 6] = True
        cells[fy, fx:fx + 7] = cells[fy + 6, fx:fx + 7] = True
        cells[fy + 2:fy + 5, fx + 2:fx + 5] = True
    x0, y0, s = page.px(x), page.px(y), page.px(side)
    block = cv2.resize(np.where(cells, 20, 250).astype(np.uint8), (s, s), interpolation=cv2.INTER_NEAREST)
    roi = page.img[y0:y0 + s, x0:x0 + s]
    roi[:] = block[: roi.shape[0], : roi.shape[1], None]
    return (x0, y0, roi.shape[1], roi.shape[0])


def _scribble(page: _Page, x: float, y: float, width: float, rng: np.random.Generator) -> None:
    """A handwritten signature: a quick wavy stroke in blue-black ink."""
    n = 40
    t = np.linspace(0, 1, n)
    xs = x + width * t + rng.normal(0, 0.4, n)
    ys = y - 2.5 * np.sin(t * float(rng.uniform(10, 18)) + float(rng.uniform(0, 6))) * (0.6 + 0.4 * rng.random(n))
    pts = (np.stack([xs, ys], axis=1) * page.mm).astype(np.int32)
    cv2.polylines(page.img, [pts], False, (110, 50, 25), max(1, page.px(0.45)), cv2.LINE_AA)


# --- portrait -----------------------------------------------------------------------------


def _portrait(w: int, h: int, rng: np.random.Generator, sex: str) -> Image:
    """A head-and-shoulders photo, w x h: painted small and upsampled (a photo is smooth).

    Proportions of an ID photo: hair from ~10 % of the height, chin at ~72 %, shoulders below
    ~78 %; a skin-toned, shaded face between dark hair and a light background.
    """
    sw = 160
    sh = max(8, round(sw * h / w))
    bg = np.array([rng.uniform(236, 252), rng.uniform(236, 250), rng.uniform(232, 248)])
    img = np.empty((sh, sw, 3), np.uint8)
    img[:] = (bg * np.linspace(1.0, 0.95, sh)[:, None]).astype(np.uint8)[:, None, :]
    skin = np.array([rng.uniform(118, 150), rng.uniform(150, 182), rng.uniform(198, 232)])
    hair = np.full(3, rng.uniform(18, 42)) + np.array([0, 3, 6])
    clothes = np.array(((45, 40, 38), (70, 45, 30), (35, 35, 40), (60, 60, 62))[int(rng.integers(4))], float)
    cx = sw * (0.5 + float(rng.uniform(-0.03, 0.03)))
    fy = sh * float(rng.uniform(0.43, 0.47))
    ax, ay = sw * float(rng.uniform(0.23, 0.26)), sh * float(rng.uniform(0.25, 0.28))

    def ell(target: Image, centre: tuple[float, float], axes: tuple[float, float], color: Any,
            a0: float = 0, a1: float = 360) -> None:
        cv2.ellipse(target, (int(centre[0] * 16), int(centre[1] * 16)), (int(axes[0] * 16), int(axes[1] * 16)),
                    0, a0, a1, np.asarray(color, float).tolist(), -1, cv2.LINE_AA, 4)

    if sex == "女":  # long hair falling behind the shoulders
        ell(img, (cx, fy + 0.3 * ay), (1.35 * ax, 1.45 * ay), hair)
    ell(img, (cx, fy - 0.2 * ay), (1.14 * ax, 1.05 * ay), hair)  # the hair around the head
    ell(img, (cx, sh * 1.06), (sw * 0.56, sh * 0.28), clothes, 180, 360)  # shoulders
    neck = np.array([(cx - 0.5 * ax, fy + 0.5 * ay), (cx + 0.5 * ax, fy + 0.5 * ay),
                     (cx + 0.55 * ax, sh * 0.8), (cx, sh * 0.9), (cx - 0.55 * ax, sh * 0.8)]) * 16
    cv2.fillPoly(img, [neck.astype(np.int32)], (skin * 0.78).tolist(), cv2.LINE_AA, 4)
    for side in (-1, 1):  # ears
        ell(img, (cx + side * 0.97 * ax, fy + 0.02 * ay), (0.15 * ax, 0.22 * ay), skin * 0.88)
    face = np.zeros((sh, sw), np.uint8)
    ell(face, (cx, fy), (ax, ay), 255)
    ell(img, (cx, fy), (ax, ay), skin)
    # Shade the face: light from the upper left, darker towards the jaw and the edges.
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    d = ((xx - (cx - 0.3 * ax)) / (1.6 * ax)) ** 2 + ((yy - (fy - 0.35 * ay)) / (1.6 * ay)) ** 2
    shade = 1 + (np.clip(1.08 - 0.35 * d, 0.7, 1.08) - 1) * (face.astype(np.float32) / 255)
    img = np.clip(img * shade[..., None], 0, 255).astype(np.uint8)
    # Hair over the forehead: a fringe with a curved edge, parted a little off centre.
    ell(img, (cx, fy - 0.78 * ay), (1.04 * ax, 0.38 * ay), hair)
    ell(img, (cx + float(rng.uniform(-0.35, 0.35)) * ax, fy - 0.62 * ay), (0.75 * ax, 0.22 * ay), hair)
    eye_y = fy - 0.1 * ay
    for side in (-1, 1):
        ex = cx + side * 0.4 * ax
        ell(img, (ex, eye_y - 0.2 * ay), (0.2 * ax, 0.045 * ay), hair * 1.3)  # brow
        ell(img, (ex, eye_y), (0.16 * ax, 0.06 * ay), (232, 235, 238))
        ell(img, (ex, eye_y), (0.07 * ax, 0.058 * ay), (35, 30, 30))
        ell(img, (ex, eye_y - 0.03 * ay), (0.17 * ax, 0.045 * ay), skin * 0.55, 200, 340)  # upper lid
    ell(img, (cx + 0.04 * ax, fy + 0.18 * ay), (0.07 * ax, 0.2 * ay), skin * 0.9)  # nose shadow
    for side in (-1, 1):
        ell(img, (cx + side * 0.08 * ax, fy + 0.34 * ay), (0.045 * ax, 0.025 * ay), skin * 0.6)
    ell(img, (cx, fy + 0.58 * ay), (0.28 * ax, 0.065 * ay), (skin[0] * 0.7, skin[1] * 0.6, skin[2] * 0.85))
    cv2.line(img, (int(cx - 0.26 * ax), int(fy + 0.58 * ay)), (int(cx + 0.26 * ax), int(fy + 0.58 * ay)),
             (skin * 0.45).tolist(), 1, cv2.LINE_AA)
    img = cv2.GaussianBlur(img, (0, 0), 0.6)
    out: Image = cv2.resize(img, (w, h), interpolation=cv2.INTER_CUBIC)
    return out


# --- ID card ------------------------------------------------------------------------------


def _id_front(page: _Page, rng: np.random.Generator, who: Identity) -> None:
    _background(page, (238, 236, 232), (232, 236, 242), rng, waves=9, wave_color=(226, 222, 232), mottle=0.02)
    # Photo, top right (about 26 x 32 mm).
    x0, y0, x1, y1 = page.px(54.5), page.px(6.0), page.px(81.0), page.px(39.0)
    page.img[y0:y1, x0:x1] = _portrait(x1 - x0, y1 - y0, rng, who.sex)
    page.regions["photo"] = (x0, y0, x1 - x0, y1 - y0)
    lab, val = 2.8, 3.1
    page.text(6.5, 11.0, "姓  名", lab, LABEL_BLUE)
    page.text(17.0, 11.3, who.name, 3.8, INK, name="name")
    page.text(6.5, 18.0, "性  别", lab, LABEL_BLUE)
    page.text(17.0, 18.0, who.sex, val, INK, name="sex")
    page.text(26.5, 18.0, "民  族", lab, LABEL_BLUE)
    page.text(36.5, 18.0, who.nation, val, INK, name="nation")
    page.text(6.5, 24.5, "出  生", lab, LABEL_BLUE)
    b = who.birth
    page.regions["birth"] = _union([
        page.text(17.0, 24.5, f"{b.year}", val, INK), page.text(25.5, 24.5, "年", lab, LABEL_BLUE),
        page.text(30.0, 24.5, f"{b.month}", val, INK), page.text(34.0, 24.5, "月", lab, LABEL_BLUE),
        page.text(38.0, 24.5, f"{b.day}", val, INK), page.text(42.0, 24.5, "日", lab, LABEL_BLUE)])
    page.text(6.5, 31.0, "住  址", lab, LABEL_BLUE)
    lines = page.wrap(who.address, 35.0, val)[:3]
    page.regions["address"] = _union([page.text(17.0, 31.0 + 4.6 * i, t, val, INK) for i, t in enumerate(lines)])
    page.text(6.5, 48.5, "公民身份号码", lab, LABEL_BLUE)
    page.text(28.0, 49.0, who.number, 4.4, INK, bold=True, pitch=2.85, name="id_number")
    page.fields.update(id_number=who.number, name=who.name)


def _id_back(page: _Page, rng: np.random.Generator, who: Identity) -> None:
    _background(page, (226, 236, 228), (236, 232, 222), rng, waves=11, wave_color=(214, 226, 216), mottle=0.02)
    r = page.px(8.2)
    _emblem(page.img, page.px(14.0), page.px(14.5), r)
    page.regions["emblem"] = (page.px(14.0) - r, page.px(14.5) - r, 2 * r, 2 * r)
    page.text(29.0, 14.0, "中华人民共和国", 5.2, INK, bold=True, pitch=6.8)
    page.text(31.0, 26.5, "居民身份证", 7.4, INK, bold=True, pitch=9.6)
    page.text(14.5, 41.0, "签发机关", 2.8, INK)
    page.text(31.0, 41.0, who.issuer, 3.1, INK, name="issuer")
    page.text(14.5, 48.0, "有效期限", 2.8, INK)
    until = who.valid_until if isinstance(who.valid_until, str) else f"{who.valid_until:%Y.%m.%d}"
    validity = f"{who.valid_from:%Y.%m.%d}-{until}"
    page.text(31.0, 48.0, validity, 3.1, INK, name="validity")
    page.fields.update(issuer=who.issuer, validity=validity)


# --- household register -------------------------------------------------------------------

_RELATIONS = {"男": ("户主", "户主", "夫", "长子", "次子", "父亲"), "女": ("户主", "户主", "妻", "长女", "次女", "母亲")}
_EDUCATION = ("大学本科", "大学专科", "高中", "研究生", "初中")
_JOBS = ("职员", "工程师", "教师", "个体经营", "会计", "医生", "退休")


def _household(page: _Page, rng: np.random.Generator, who: Identity) -> None:
    _background(page, (236, 238, 240), (226, 234, 238), rng, waves=14, wave_color=(222, 226, 232), mottle=0.03)
    line_col: BGR = (120, 95, 70)
    page.text(52.5, 13.0, "常住人口登记卡", 6.2, INK, bold=True, serif=True, anchor="ms")
    place = next((p for c, p, _, _ in REGIONS if c == who.number[:6]), "上海市黄浦区")
    rows: list[tuple[str, str, str, str]] = [
        ("姓名", who.name, "户主或与户主关系", _pick(rng, _RELATIONS[who.sex])),
        ("曾用名", "", "性别", who.sex),
        ("出生地", place, "民族", who.nation),
        ("籍贯", place[:6], "出生日期", _cn_date(who.birth)),
        ("本市（县）其他住址", "", "", ""),
        ("宗教信仰", "无", "公民身份证件编号", who.number),
        ("身高", f"{int(rng.integers(150, 186))}厘米", "血型", _pick(rng, ("A型", "B型", "O型", "AB型"))),
        ("文化程度", _pick(rng, _EDUCATION), "婚姻状况", _pick(rng, ("未婚", "已婚", "已婚"))),
        ("兵役状况", _pick(rng, ("未服兵役", "退出现役")), "服务处所", ""),
        ("职业", _pick(rng, _JOBS), "", ""),
        ("何时由何地迁来本市（县）", "", "", ""),
        ("何时由何地迁来本址", f"{who.valid_from.year}年由本区迁来", "", ""),
    ]
    x = (7.0, 25.0, 50.0, 70.5, 98.0)
    top, row_h = 19.0, 8.8
    lab, val = 2.3, 2.7
    page.rect(x[0], top, x[-1], top + row_h * (len(rows) + 1), 0.35, line_col)
    for i, (l1, v1, l2, v2) in enumerate(rows):
        y = top + i * row_h
        page.line(x[0], y, x[-1], y, 0.2, line_col)
        mid = y + row_h / 2 + 0.9
        for lx, label, right in ((x[0], l1, x[1]), (x[2], l2, x[3])):
            if not label:
                continue
            lines = page.wrap(label, right - lx - 1.4, lab)
            for k, t in enumerate(lines[:2]):
                page.text(lx + 0.7, mid - (len(lines[:2]) - 1) * 1.5 + k * 3.0, t, lab, line_col)
        if l2:
            for xx in x[1:4]:
                page.line(xx, y, xx, y + row_h, 0.2, line_col)
        else:
            page.line(x[1], y, x[1], y + row_h, 0.2, line_col)
        if v1:
            page.text(x[1] + 1.0, mid, v1, val if len(v1) < 9 else 2.3, INK, name="name" if l1 == "姓名" else None)
        if v2:
            number = v2 == who.number
            page.text(x[3] + 1.2, mid, v2, val if len(v2) < 9 else 2.2, INK,
                      pitch=1.34 if number else None, name="id_number" if number else None)
    y = top + len(rows) * row_h
    page.line(x[0], y, x[-1], y, 0.2, line_col)
    page.line(x[2], y, x[2], y + row_h, 0.2, line_col)
    page.text(x[0] + 0.7, y + row_h / 2 + 0.9, "承办人签章", lab, line_col)
    page.text(x[2] + 0.7, y + row_h / 2 + 0.9, "登记日期", lab, line_col)
    page.text(x[3] - 4.0, y + row_h / 2 + 0.9, _cn_date(who.valid_from), 2.3, INK)
    _scribble(page, x[1] - 3.0, y + row_h / 2 + 1.0, 16.0, rng)
    police = who.issuer.replace("分局", "") + "分局"
    page.fields.update(id_number=who.number, name=who.name)
    page.regions["seal"] = _seal(page, 80.0, 127.0, 12.5, police, below="户口专用章")


# --- business licence ---------------------------------------------------------------------

_BRANDS = ("恒信", "华睿", "锦程", "博远", "瑞丰", "星河", "同创", "嘉和", "中联", "汇通", "启明", "宏泰")
_TRADES = (
    ("信息科技", ("计算机软硬件的技术开发、技术咨询、技术服务", "信息系统集成服务", "数据处理服务", "电子产品销售")),
    ("贸易", ("日用百货、针纺织品、服装鞋帽的销售", "货物进出口", "技术进出口", "五金交电销售")),
    ("餐饮管理", ("餐饮服务", "餐饮企业管理", "食品销售", "会务服务")),
    ("文化传播", ("文化艺术交流活动策划", "广告设计、制作、代理", "会议及展览服务", "图文设计制作")),
    ("建筑工程", ("建设工程施工", "建筑装饰材料销售", "工程管理服务", "园林绿化工程施工")),
)
_KINDS = ("有限责任公司（自然人投资或控股）", "有限责任公司（自然人独资）", "股份有限公司（非上市）")
_CAPITAL = ("人民币壹佰万元整", "人民币伍佰万元整", "人民币贰佰万元整", "人民币伍拾万元整", "人民币壹仟万元整")


def _licence(page: _Page, rng: np.random.Generator) -> None:
    _background(page, (236, 242, 246), (230, 238, 244), rng, waves=18, wave_color=(222, 232, 240), mottle=0.02)
    border: BGR = (50, 90, 185)
    # Double border: a broad band with a fine rule inside it.
    t = page.px(4.0)
    cv2.rectangle(page.img, page.pt(7, 7), page.pt(290, 203), border, t)
    cv2.rectangle(page.img, page.pt(7, 7), page.pt(290, 203), (120, 180, 230), max(1, t // 4))
    cv2.rectangle(page.img, page.pt(12, 12), page.pt(285, 198), border, max(1, page.px(0.6)))
    _emblem(page.img, page.px(148.5), page.px(27.0), page.px(11.0))
    code, place, _, streets = REGIONS[int(rng.integers(len(REGIONS)))]
    city = place.split("省")[-1]
    district = city.split("市")[-1]
    brand = _pick(rng, _BRANDS)
    trade, scope_items = _TRADES[int(rng.integers(len(_TRADES)))]
    company = f"{city.split('市')[0]}{brand}{trade}有限公司"
    uscc = credit_code(rng, code)
    page.text(148.5, 58.0, "营业执照", 15.0, (30, 30, 150), bold=True, serif=True, anchor="ms")
    page.text(148.5, 68.0, "（副　本）", 5.0, INK, serif=True, anchor="ms")
    page.text(24.0, 36.0, "统一社会信用代码", 4.2, INK, bold=True)
    page.text(24.0, 44.0, uscc, 4.6, INK, bold=True, name="credit_code")
    page.text(24.0, 51.0, f"证照编号：{int(rng.integers(10**13, 10**14))}", 2.6, INK)
    page.regions["qr"] = _qr(page, 246.0, 24.0, 26.0, rng)
    for i, line in enumerate(("扫描二维码登录“国家", "企业信用信息公示系统”", "了解更多登记、备案、", "许可、监管信息")):
        page.text(244.0, 55.0 + i * 3.4, line, 2.3, INK)
    legal = person_name(rng, "男" if rng.random() < 0.6 else "女")
    founded = date(int(rng.integers(2005, 2025)), int(rng.integers(1, 13)), int(rng.integers(1, 29)))
    street = _pick(rng, streets)
    address = f"{place}{street}{int(rng.integers(1, 900))}号{int(rng.integers(1, 30))}层{int(rng.integers(1, 20))}0{int(rng.integers(1, 9))}室"
    scope = "；".join(scope_items[: int(rng.integers(2, len(scope_items) + 1))])
    scope = f"一般项目：{scope}。（除依法须经批准的项目外，凭营业执照依法自主开展经营活动）"
    lab, val, lead = 4.0, 3.8, 10.0
    left = [("名　　称", company), ("类　　型", _pick(rng, _KINDS)), ("法定代表人", legal)]
    y = 86.0
    for label, value in left:
        page.text(28.0, y, label, lab, INK, bold=True)
        page.text(56.0, y, value, val, INK)
        y += lead
    page.text(28.0, y, "经营范围", lab, INK, bold=True)
    for line in page.wrap(scope, 88.0, 3.4)[:7]:
        page.text(56.0, y, line, 3.4, INK)
        y += 5.6
    right = [("注册资本", _pick(rng, _CAPITAL)), ("成立日期", _cn_date(founded)),
             ("营业期限", f"{_cn_date(founded)} 至 长期"), ("住　　所", address)]
    y = 86.0
    for label, value in right:
        page.text(160.0, y, label, lab, INK, bold=True)
        lines = page.wrap(value, 100.0, val)
        for line in lines[:2]:
            page.text(184.0, y, line, val, INK)
            y += 5.6
        y += lead - 5.6
    page.text(190.0, 160.0, "登记机关", lab, INK, bold=True)
    issued = founded + timedelta(days=int(rng.integers(0, 3 * 365)))
    page.text(212.0, 180.0, _cn_date(issued), 4.2, INK)
    page.text(148.5, 194.0, "国家企业信用信息公示系统网址：http://www.gsxt.gov.cn", 2.6, INK, anchor="ms")
    page.text(60.0, 186.0, "市场主体应当于每年1月1日至6月30日通过", 2.6, INK)
    page.text(60.0, 190.0, "国家企业信用信息公示系统报送公示年度报告。", 2.6, INK)
    page.fields.update(credit_code=uscc, company=company)
    page.regions["seal"] = _seal(page, 232.0, 168.0, 21.0, f"{city.split('市')[0]}市{district}市场监督管理局")


# --- bank card ----------------------------------------------------------------------------

# Bank (Chinese, English), background gradient (BGR), issuer prefixes and number lengths.
BANKS: tuple[tuple[str, str, BGR, BGR, tuple[tuple[str, int], ...]], ...] = (
    ("中国工商银行", "INDUSTRIAL AND COMMERCIAL BANK OF CHINA", (40, 30, 170), (70, 60, 215), (("622202", 19), ("621226", 19))),
    ("招商银行", "CHINA MERCHANTS BANK", (45, 35, 160), (110, 95, 210), (("622588", 16), ("621483", 16))),
    ("中国建设银行", "CHINA CONSTRUCTION BANK", (130, 70, 20), (190, 130, 60), (("621700", 19), ("622700", 19))),
    ("中国银行", "BANK OF CHINA", (60, 50, 150), (150, 150, 170), (("621661", 19), ("621785", 19))),
    ("中国农业银行", "AGRICULTURAL BANK OF CHINA", (90, 120, 20), (150, 170, 80), (("622848", 19), ("622845", 19))),
    ("交通银行", "BANK OF COMMUNICATIONS", (120, 60, 10), (170, 120, 60), (("622262", 19), ("622258", 16))),
)


def _bank_card(page: _Page, rng: np.random.Generator) -> None:
    bank, english, a, b, prefixes = BANKS[int(rng.integers(len(BANKS)))]
    prefix, length = prefixes[int(rng.integers(len(prefixes)))]
    _background(page, a, b, rng, waves=7, wave_color=tuple(min(255, c + 25) for c in b), mottle=0.04)  # type: ignore[arg-type]
    number = prefix + "".join(str(d) for d in rng.integers(0, 10, length - len(prefix) - 1))
    number += luhn_digit(number)
    white: BGR = (250, 250, 250)
    # Bank mark: a ring with a square hole, as many Chinese banks' logos are shaped.
    cv2.circle(page.img, page.pt(9.5, 8.5), page.px(3.4), white, max(1, page.px(0.9)), cv2.LINE_AA)
    cv2.rectangle(page.img, page.pt(8.3, 7.3), page.pt(10.7, 9.7), white, -1)
    # Chip: gold pad with contact lines.
    cx0, cy0, cx1, cy1 = page.px(9.0), page.px(18.0), page.px(20.5), page.px(27.0)
    chip = np.empty((cy1 - cy0, cx1 - cx0, 3), np.float32)
    chip[:] = (70, 175, 215)
    chip *= np.linspace(1.1, 0.8, cx1 - cx0, dtype=np.float32)[None, :, None]
    page.img[cy0:cy1, cx0:cx1] = np.clip(chip, 0, 255).astype(np.uint8)
    dark: BGR = (40, 110, 150)
    for y in (21.0, 24.0):
        cv2.line(page.img, page.pt(9.0, y), page.pt(20.5, y), dark, max(1, page.px(0.25)))
    cv2.line(page.img, page.pt(14.75, 18.0), page.pt(14.75, 27.0), dark, max(1, page.px(0.25)))
    cv2.rectangle(page.img, page.pt(9.0, 18.0), page.pt(20.5, 27.0), dark, max(1, page.px(0.25)))
    # UnionPay mark, bottom right: three slanted tiles with 银联 / UnionPay over them.
    for k, col in enumerate(((40, 30, 215), (150, 60, 10), (120, 130, 0))):
        x = 62.0 + k * 6.2
        tile = np.array([page.pt(x + 1.6, 40.0), page.pt(x + 7.6, 40.0), page.pt(x + 6.0, 51.5), page.pt(x, 51.5)])
        cv2.fillPoly(page.img, [tile], col, cv2.LINE_AA)
    page.text(14.5, 11.2, bank, 4.6, white, bold=True, name="bank")
    page.text(14.5, 14.4, english, 1.7, white)
    page.text(70.0, 7.5, "借记卡", 2.6, white, bold=True)
    groups = " ".join(number[i:i + 4] for i in range(0, len(number), 4))
    # Embossed digits: a dark edge under light metal.
    shadow: BGR = (40, 40, 40)
    pitch = 3.55 if length == 16 else 3.05
    spaced = groups
    page.text(8.25, 36.25, spaced, 4.6, shadow, bold=True, pitch=pitch)
    page.texts.pop()
    page.text(8.0, 36.0, spaced, 4.6, (235, 235, 230), bold=True, pitch=pitch, name="card_number")
    mm, yy = int(rng.integers(1, 13)), int(rng.integers(27, 33))
    expiry = f"{mm:02d}/{yy:02d}"
    page.text(30.0, 43.5, "有效期", 2.3, white)
    page.text(30.0, 46.0, "VALID THRU", 1.5, white)
    page.text(41.0, 45.6, expiry, 3.4, white, bold=True, name="expiry")
    page.text(72.0, 46.2, "银联", 4.4, white, bold=True, anchor="ms", name="unionpay")
    page.text(72.0, 50.3, "UnionPay", 2.4, white, bold=True, anchor="ms")
    page.fields.update(card_number=number, bank=bank, expiry=expiry)


# --- A4 forms, letters and contracts --------------------------------------------------------

_CENTRES = ("上海市黄浦区政务服务中心", "杭州市西湖区行政服务中心", "南京市玄武区政务服务中心",
            "苏州市吴中区政务服务中心", "合肥市蜀山区政务服务中心", "深圳市南山区行政服务大厅")
_MATTERS = ("社会保险关系转移", "住房公积金提取", "不动产登记资料查询", "个体工商户变更登记",
            "医疗保险异地就医备案", "居住证签注", "职业资格证书补办", "退休待遇资格认证")
_REASONS = ("工作调动至外地，目前无法返回原参保地", "长期在外地照顾家中老人", "原单位已注销，相关材料无法由单位出具",
            "近期住院治疗，行动不便", "户籍所在地与实际居住地不一致")
_FILLER = (
    "本人承诺以上所述内容真实、准确、完整，如有不实之处，愿意承担由此产生的一切法律责任。",
    "相关证明材料已按要求准备齐全，请予以审核办理。",
    "如需补充材料，本人将在接到通知后五个工作日内予以补正。",
    "办理过程中如有疑问，可通过上述联系电话与本人联系。",
    "恳请贵单位在审核过程中给予支持和帮助，不胜感激。",
    "本人已认真阅读办事指南，知晓办理流程及所需时限。",
)
A4_TITLES = ("申请表", "授权委托书", "房屋租赁合同", "情况说明")
FORBIDDEN_ON_PAGES = ("公民身份号码", "姓名", "出生", "中华人民共和国", "居民身份证", "签发机关", "有效期限",
                      "常住人口登记卡", "户口簿", "户主", "营业执照", "统一社会信用代码", "法定代表人",
                      "银联", "UnionPay", "银行")
"""Keywords of the other classes: an A4 page never prints them."""


def _a4_page(page: _Page, rng: np.random.Generator) -> None:
    _background(page, (240, 242, 243), (236, 239, 241), rng, mottle=0.015)
    kind = _pick(rng, A4_TITLES)
    who, other = person_name(rng, "男"), person_name(rng, "女")
    if rng.random() < 0.5:
        who, other = other, who
    centre, matter = _pick(rng, _CENTRES), _pick(rng, _MATTERS)
    day = TODAY - timedelta(days=int(rng.integers(0, 200)))
    code, place, _, streets = REGIONS[int(rng.integers(len(REGIONS)))]
    address = f"{place}{_pick(rng, streets)}{int(rng.integers(1, 400))}号"
    size, lead, x, width = 3.9, 7.4, 25.0, 160.0
    if kind == "申请表":
        title = f"{matter}申请表"
        page.text(105.0, 30.0, title, 7.0, INK, bold=True, anchor="ms")
        rows = [("申请人", who, "联系电话", mobile_number(rng)), ("工作单位", f"{place[-3:]}{_pick(rng, _BRANDS)}科技有限公司", "", ""),
                ("通讯地址", address, "", ""), ("申请事项", matter, "", ""),
                ("申请理由", f"因{_pick(rng, _REASONS)}，特申请办理{matter}。" + _pick(rng, _FILLER), "", "")]
        top, cols = 42.0, (25.0, 55.0, 110.0, 140.0, 185.0)
        y = top
        for label, value, l2, v2 in rows:
            tall = 30.0 if label == "申请理由" else 12.0
            page.rect(cols[0], y, cols[-1], y + tall, 0.3)
            page.line(cols[1], y, cols[1], y + tall, 0.3)
            page.text(cols[0] + 2.5, y + 7.5, label, size, INK, bold=True)
            if l2:
                page.line(cols[2], y, cols[2], y + tall, 0.3)
                page.line(cols[3], y, cols[3], y + tall, 0.3)
                page.text(cols[2] + 2.0, y + 7.5, l2, size, INK, bold=True)
                page.text(cols[3] + 2.0, y + 7.5, v2, size, INK)
            if tall > 12:
                page.paragraph(cols[1] + 2.0, y + 7.5, value, cols[-1] - cols[1] - 4.0, size, 6.2, indent=0)
            else:
                page.text(cols[1] + 2.0, y + 7.5, value, size, INK)
            y += tall
        y += 12.0
        page.text(x, y, "申请人承诺：", size, INK, bold=True)
        y = page.paragraph(x, y + lead, _FILLER[0] + _FILLER[5], width, size, lead)
        y += 6.0
        page.text(x, y, "所附材料：", size, INK, bold=True)
        for i, m in enumerate(("申请人有效身份证件复印件", f"{matter}相关证明材料", "其他需要提交的材料")):
            y += lead
            page.text(x + 8.0, y, f"{i + 1}. {m}", size, INK)
        y += 2 * lead
    elif kind == "授权委托书":
        page.text(105.0, 32.0, kind, 8.0, INK, bold=True, anchor="ms", pitch=None)
        y = 50.0
        page.text(x, y, f"委托人：{who}　　联系电话：{mobile_number(rng)}", size, INK)
        page.text(x, y + lead, f"受托人：{other}　　联系电话：{mobile_number(rng)}", size, INK)
        y += 2.6 * lead
        body = (f"本人因工作原因，无法亲自前往{centre}办理{matter}相关手续，现委托{other}作为本人的合法代理人，"
                f"全权代表本人办理上述事项。受托人在办理上述事项过程中所签署的有关文件，本人均予以承认，并承担相应的法律责任。")
        y = page.paragraph(x, y, body, width, size, lead)
        end = day + timedelta(days=int(rng.integers(30, 180)))
        y = page.paragraph(x, y + 2, f"委托期限：自{_cn_date(day)}起至{_cn_date(end)}止。", width, size, lead)
        y = page.paragraph(x, y + 2, "受托人无转委托权。" + _pick(rng, _FILLER), width, size, lead)
        y = page.paragraph(x, y + 2, "特此委托。", width, size, lead)
        y += 2 * lead
    elif kind == "房屋租赁合同":
        page.text(105.0, 30.0, kind, 8.0, INK, bold=True, anchor="ms")
        y = 46.0
        page.text(x, y, f"出租方（甲方）：{who}", size, INK)
        page.text(x, y + lead, f"承租方（乙方）：{other}", size, INK)
        y += 2.4 * lead
        rent = int(rng.integers(20, 90)) * 100
        months = int(rng.choice([6, 12, 24]))
        clauses = (
            "根据《民法典》及有关法律法规的规定，甲乙双方在平等、自愿、协商一致的基础上，就乙方承租甲方房屋事宜，订立本合同。",
            f"第一条　房屋基本情况：甲方将位于{address}的房屋出租给乙方居住使用，建筑面积{int(rng.integers(35, 140))}平方米。",
            f"第二条　租赁期限：租赁期自{_cn_date(day)}起，共计{months}个月。",
            f"第三条　租金及支付方式：月租金为人民币{rent}元，按季度支付，乙方应于每季度首月五日前以转账方式支付给甲方。",
            f"第四条　押金：乙方应于签订本合同时向甲方支付押金人民币{rent}元，租赁期满乙方结清各项费用后，甲方应无息退还。",
            "第五条　维修责任：租赁期间，房屋及附属设施的自然损坏由甲方负责维修；因乙方使用不当造成的损坏，由乙方负责修复或赔偿。",
            "第六条　合同的解除：任何一方提前解除合同，应提前三十日书面通知对方，并按约定承担违约责任。",
            "第七条　其他约定：本合同未尽事宜，由双方协商解决；协商不成的，可依法向房屋所在地人民法院起诉。",
            "第八条　本合同一式两份，甲乙双方各执一份，自双方签字之日起生效。",
        )
        for c in clauses:
            y = page.paragraph(x, y, c, width, size, lead, indent=0 if c.startswith("第") else 2) + 1.5
        y += lead
        page.text(x, y, "甲方（签字）：", size, INK)
        _scribble(page, x + 30.0, y - 1.0, 22.0, rng)
        page.text(x + 85.0, y, "乙方（签字）：", size, INK)
        y += lead
    else:
        page.text(105.0, 32.0, kind, 8.0, INK, bold=True, anchor="ms")
        y = 50.0
        page.text(x, y, f"{centre}：", size, INK)
        y += lead
        paragraphs = [
            f"本人{who}，现居住于{address}。因{_pick(rng, _REASONS)}，需办理{matter}相关事项，现将有关情况说明如下：",
            f"本人自{day.year - int(rng.integers(2, 12))}年起在该地居住和工作，期间一直按时缴纳各项费用，"
            f"无不良记录。由于{_pick(rng, _REASONS)}，暂时无法提供原单位出具的证明。",
            _pick(rng, _FILLER) + _pick(rng, _FILLER),
            "特此说明。",
        ]
        for para in paragraphs:
            y = page.paragraph(x, y, para, width, size, lead) + 2.0
        y += lead
    page.text(120.0, y, "签字：", size, INK)
    _scribble(page, 134.0, y - 1.0, 26.0, rng)
    page.text(120.0, y + lead * 1.4, f"日期：{_cn_date(day)}", size, INK)
    page.fields.update(title=kind)


# --- the one entry point ------------------------------------------------------------------


def card_mask(width: int, height: int) -> Image:
    """The alpha mask of an ID-1 card printed at width x height: 3.18 mm rounded corners."""
    mm = width / 85.6
    mask = np.zeros((height, width), np.uint8)
    r = max(1, int(round(3.18 * mm)))
    cv2.rectangle(mask, (r, 0), (width - 1 - r, height - 1), 255, -1)
    cv2.rectangle(mask, (0, r), (width - 1, height - 1 - r), 255, -1)
    for cx, cy in ((r, r), (width - 1 - r, r), (width - 1 - r, height - 1 - r), (r, height - 1 - r)):
        cv2.circle(mask, (cx, cy), r, 255, -1, cv2.LINE_AA)
    return mask


def render_document(document: str, width: int, height: int, rng: np.random.Generator,
                    identity: Identity | None = None) -> Rendered:
    """Print ``document`` (a ``PAGE_MM`` name) upright at width x height px.

    ID sides and the household register print ``identity`` (drawn from ``rng`` when None).
    """
    if document not in PAGE_MM:
        raise ValueError(f"unknown document {document!r}")
    page = _Page(width, height, PAGE_MM[document][0])
    if document in ("id_card_front", "id_card_back", "household_register"):
        who = identity if identity is not None else make_identity(rng)
        {"id_card_front": _id_front, "id_card_back": _id_back, "household_register": _household}[document](
            page, rng, who)
    elif document == "business_licence":
        _licence(page, rng)
    elif document == "bank_card":
        _bank_card(page, rng)
    else:
        _a4_page(page, rng)
    return page.done()


def page_size(document: str, width: int) -> tuple[int, int]:
    """The (width, height) in px of ``document`` printed ``width`` px wide."""
    w_mm, h_mm = PAGE_MM[document]
    return width, max(1, int(round(width * h_mm / w_mm)))
