"""The signed PDF: the document's pages in large type, the signature drawn from its strokes, the stamp.

Pages are A4 at 150 dpi, drawn with Pillow in Noto Sans CJK SC (the font the synthetic documents
use, from ``fonts-noto-cjk``), grey-scale PNG, wrapped into a PDF by img2pdf (lossless). The
last page carries the signature, scaled from the pad into a box, and the stamp: when it was signed
(local time with the UTC offset and the zone), the session number, the document's SHA-256, the sign
request and the signature's number. The PDF's metadata repeats them (Subject, Keywords) and its
dates are the signing time, so the same strokes, document and stamp give the same bytes: the
stored strokes reproduce the stored PDF. CPU work: call it in a thread.
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import img2pdf
from PIL import Image, ImageDraw, ImageFont

FONT_DIR = Path("/usr/share/fonts/opentype/noto")
_SC, _MONO_SC = 2, 7  # faces in the Noto Sans CJK collection: Simplified Chinese, and its monospaced cut
DPI = 150
PAGE = (1240, 1754)  # A4 at 150 dpi
MARGIN = 110
INK = 0
GREY = 90
TITLE_PX, BODY_ZH_PX, BODY_EN_PX, SMALL_PX, STAMP_PX = 46, 34, 27, 20, 22
SIG_BOX = (900, 300)
PEN_PX = 3.0  # the kiosk's pen width on the pad, in CSS pixels

_TOKEN = re.compile(r"[!-~]+|\s|.")  # an ASCII word, a space, or one character (a CJK one breaks anywhere)


@dataclass(frozen=True)
class Stamp:
    """What the stamp line says: when, which session, which document, which request, which signature."""

    sid: str
    at_ms: int
    tz: str
    doc_sha256: str
    request_id: str
    n: int

    def when(self) -> datetime:
        return datetime.fromtimestamp(self.at_ms / 1000, ZoneInfo(self.tz))

    def local_time(self) -> str:
        """``2026-12-03 17:45:12 UTC+08:00 (Asia/Shanghai)``."""
        t = self.when()
        off = t.strftime("%z")
        return f"{t:%Y-%m-%d %H:%M:%S} UTC{off[:3]}:{off[3:]} ({self.tz})"

    def lines(self) -> list[str]:
        return [
            f"签署时间 Signed at: {self.local_time()}",
            f"会话编号 Session: {self.sid}",
            "文件 SHA-256 Document:",
            self.doc_sha256,
            f"签名请求 Request: {self.request_id} · 第 {self.n + 1} 份签名 Signature no. {self.n + 1}",
        ]


@functools.cache
def font(px: int, *, bold: bool = False, mono: bool = False) -> ImageFont.FreeTypeFont:
    path = FONT_DIR / f"NotoSansCJK-{'Bold' if bold and not mono else 'Regular'}.ttc"
    return ImageFont.truetype(str(path), px, index=_MONO_SC if mono else _SC)


def wrap(text: str, f: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """Lines of ``text`` no wider than ``width``: English breaks at spaces, Chinese anywhere."""
    lines: list[str] = []
    line = ""
    for tok in _TOKEN.findall(text):
        if f.getlength(line + tok) <= width:
            line += tok
            continue
        if tok.isspace():
            lines.append(line.rstrip())
            line = ""
            continue
        if line.strip():
            lines.append(line.rstrip())
        line = ""
        for ch in tok:  # a word wider than the line is cut where it must be
            if line and f.getlength(line + ch) > width:
                lines.append(line)
                line = ""
            line += ch
    if line.strip():
        lines.append(line.rstrip())
    return lines


def draw_strokes(strokes: Sequence[Sequence[Sequence[float]]], width: int, height: int,
                 box: tuple[int, int] = SIG_BOX) -> Image.Image:
    """The signature in a ``box`` (white, grey-scale): the pad scaled to fit, centred, the pen scaled too."""
    img = Image.new("L", box, 255)
    draw = ImageDraw.Draw(img)
    scale = min(box[0] / width, box[1] / height)
    ox, oy = (box[0] - width * scale) / 2, (box[1] - height * scale) / 2
    pen = max(2, round(PEN_PX * scale * 1.5))
    for stroke in strokes:
        pts = [(ox + float(p[0]) * scale, oy + float(p[1]) * scale) for p in stroke]
        if len(pts) == 1 or len(set(pts)) == 1:
            x, y = pts[0]
            r = pen / 2
            draw.ellipse((x - r, y - r, x + r, y + r), fill=INK)
        else:
            draw.line(pts, fill=INK, width=pen, joint="curve")
            for x, y in (pts[0], pts[-1]):  # round ends
                r = pen / 2
                draw.ellipse((x - r, y - r, x + r, y + r), fill=INK)
    return img


class _Pages:
    """Pages being filled top to bottom."""

    def __init__(self) -> None:
        self.pages: list[Image.Image] = []
        self.y = 0
        self.bottom = PAGE[1] - MARGIN - 40  # room for the footer
        self.new()

    def new(self) -> None:
        self.pages.append(Image.new("L", PAGE, 255))
        self.y = MARGIN

    @property
    def draw(self) -> ImageDraw.ImageDraw:
        return ImageDraw.Draw(self.pages[-1])

    def room(self, height: int) -> None:
        if self.y + height > self.bottom:
            self.new()

    def text(self, text: str, f: ImageFont.FreeTypeFont, *, fill: int = INK, gap: float = 1.45,
             after: int = 0, indent: int = 0) -> None:
        step = round(f.size * gap)
        for line in wrap(text, f, PAGE[0] - 2 * MARGIN - indent):
            self.room(step)
            self.draw.text((MARGIN + indent, self.y), line, fill=fill, font=f)
            self.y += step
        self.y += after

    def rule(self, after: int = 24) -> None:
        self.room(after * 2)
        self.draw.line((MARGIN, self.y, PAGE[0] - MARGIN, self.y), fill=160, width=2)
        self.y += after


def render_pages(document: dict[str, Any], strokes: dict[str, Any], stamp: Stamp) -> list[Image.Image]:
    """The signed document's pages (see the module's doc)."""
    p = _Pages()
    p.text(document["title"]["zh"], font(TITLE_PX, bold=True), after=4)
    p.text(document["title"]["en"], font(BODY_EN_PX), fill=GREY, after=26)
    for para in document["paragraphs"]:
        p.text(para["zh"], font(BODY_ZH_PX), after=12)
    p.rule()
    p.text("English translation (for reference; the Chinese text above is binding)", font(SMALL_PX), fill=GREY,
           after=10)
    for para in document["paragraphs"]:
        p.text(para["en"], font(BODY_EN_PX), after=8)
    stamp_font = font(STAMP_PX, mono=True)
    step = round(STAMP_PX * 1.5)
    lines = stamp.lines()
    block = 60 + SIG_BOX[1] + 24 + step * len(lines)
    p.y += 30
    p.room(block)
    p.text("申请人签名 Signature of the applicant", font(BODY_EN_PX, bold=True), after=10)
    sig = draw_strokes(strokes["strokes"], int(strokes["width"]), int(strokes["height"]))
    page = p.pages[-1]
    page.paste(sig, (MARGIN, p.y))
    p.draw.rectangle((MARGIN, p.y, MARGIN + SIG_BOX[0], p.y + SIG_BOX[1]), outline=160, width=2)
    p.y += SIG_BOX[1] + 24
    for line in lines:
        p.draw.text((MARGIN, p.y), line, fill=INK, font=stamp_font)
        p.y += step
    total = len(p.pages)
    small = font(SMALL_PX)
    for i, pg in enumerate(p.pages, 1):
        ImageDraw.Draw(pg).text((MARGIN, PAGE[1] - MARGIN), f"{stamp.sid} · {document['title']['zh']} · 第 {i}/{total} 页 "
                                f"Page {i} of {total}", fill=GREY, font=small)
    return p.pages


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", dpi=(DPI, DPI), optimize=False, compress_level=6)
    return buf.getvalue()


def keywords(document: dict[str, Any], stamp: Stamp) -> list[str]:
    """The PDF's Keywords: the stamp's facts, machine-readable (img2pdf joins them with commas)."""
    return ["rw-signature", f"sid={stamp.sid}", f"doc={document['doc']}", f"doc_sha256={stamp.doc_sha256}",
            f"request={stamp.request_id}", f"n={stamp.n}", f"signed_at={stamp.when().isoformat()}"]


def render_pdf(document: dict[str, Any], strokes: dict[str, Any], stamp: Stamp) -> bytes:
    """The signed PDF (deterministic for the same document, strokes and stamp)."""
    pages = [_png(pg) for pg in render_pages(document, strokes, stamp)]
    when = stamp.when()
    layout = img2pdf.get_fixed_dpi_layout_fun((DPI, DPI))
    pdf = img2pdf.convert(
        pages, layout_fun=layout, title=document["title"]["zh"], subject=f"{stamp.sid} SHA-256 {stamp.doc_sha256}",
        keywords=keywords(document, stamp), creator="Remote Window", producer="Remote Window",
        creationdate=when, moddate=when, engine=img2pdf.Engine.internal)  # pikepdf would add a random /ID
    assert isinstance(pdf, bytes)
    return pdf
