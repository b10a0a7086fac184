"""Is there an ID photo on this card, and where: a portrait detector without a face model.

OpenCV 5.1 as installed here has no ``CascadeClassifier`` (no Haar cascades) and its
``FaceDetectorYN`` needs a YuNet model that no package here ships (nothing may be downloaded), so
this looks for what an ID photo is, in colour and layout (docs/documents.md, Recognition).
"""

from __future__ import annotations

import cv2
import numpy as np

from window_server.documents.ocr import Image

Box = tuple[int, int, int, int]  # x, y, w, h


def find_portrait(card: Image) -> Box | None:
    """The photo area of an upright card (x, y, w, h in its pixels) if a portrait is there.

    OpenCV 5 has no Haar cascades and its face detector needs a model nothing here ships, so this
    looks for what an ID photo is: in the card's right 45 %, a skin-toned blob of face proportions,
    dark hair right above it, and a light, plain background beside it. The photo area returned is
    the head with its surroundings down to the shoulders.
    """
    h, w = card.shape[:2]
    scale = 240.0 / w
    small = cv2.resize(card, (240, max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    sh, sw = small.shape[:2]
    x_off = int(0.55 * sw)
    region = small[:, x_off:]
    ycc = cv2.cvtColor(region, cv2.COLOR_BGR2YCrCb)
    y, cr, cb = cv2.split(ycc)
    b, g, r = (np.asarray(c, np.int16) for c in cv2.split(region))
    skin = ((cr >= 136) & (cr <= 180) & (cb >= 80) & (cb <= 130) & (y >= 60) & (r > g) & (g >= b - 5)
            & (r - b >= 20)).astype(np.uint8)
    opened = cv2.morphologyEx(skin, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    n, _labels, stats, _ = cv2.connectedComponentsWithStats(opened)
    if n <= 1:
        return None
    rh, rw = region.shape[:2]
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    fx, fy, fw, fh, area = (int(v) for v in stats[best])
    if not (0.03 * rh * rw <= area <= 0.45 * rh * rw and 0.8 <= fh / max(1, fw) <= 2.4 and fw >= 0.12 * rw):
        return None
    band = y[max(0, fy - max(2, fh // 3)):fy + max(1, fh // 8), fx:fx + fw]
    if band.size == 0 or float(np.mean(band < 90)) < 0.25:
        return None
    hair_top = fy - max(2, fh // 3)
    side = np.concatenate([y[fy:fy + fh // 2, max(0, fx - fw // 3):fx].ravel(),
                           y[fy:fy + fh // 2, fx + fw:fx + fw + fw // 3].ravel()])
    if side.size == 0 or float(np.median(side)) < 140:
        return None
    # An ID photo around a face fw x fh: ~0.4 fw either side, hair from ~0.55 fh above the face,
    # shoulders to ~1.2 fh below its top; a little more, to be sure it is all covered.
    x0 = max(0, fx - int(0.5 * fw)) + x_off
    x1 = min(rw, fx + fw + int(0.5 * fw)) + x_off
    y0 = max(0, min(hair_top, fy - int(0.65 * fh)))
    y1 = min(sh, fy + int(1.3 * fh))
    return (round(x0 / scale), round(y0 / scale), round((x1 - x0) / scale), round((y1 - y0) / scale))
