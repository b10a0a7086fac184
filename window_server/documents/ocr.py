"""OCR of rectified pages: PP-OCRv4 text detection and recognition, offline, on one core.

A thin wrapper over ``rapidocr-onnxruntime`` 1.4.4, whose wheel carries the ONNX models (Chinese
and Latin print; nothing is downloaded). Only its detector and recogniser are used, directly, so
the caller picks which lines are worth reading:

- ``Ocr.detect(image, max_side)`` finds text lines on a copy of at most ``max_side`` px (the DB
  detector's cost grows with the pixels: ~90 ms at 512 px, ~130 ms at 640, ~220 ms at 800 on one
  core) and returns each as four corners in the caller's pixels;
- ``Ocr.read(image, boxes)`` recognises the chosen lines only. Each line is cut out upright in
  reading order (the caller says where the text's top-left is, so a page lying upside down or on
  its side is read without turning the image) and scaled to 48 px high. Lines of similar width are
  batched; rapidocr's own batching pads every line to at least 320 px and the batch to its widest
  line, which tripled the cost of an ID card's short labels.

There is no angle classifier: the recogniser's own confidence tells an upright line from one
upside down (0.99 against < 0.6 for most text), and ``recognise`` decides the page's orientation
with it. One engine per process, made on first use and kept (``engine()``); ONNX Runtime runs on
one thread, so a pool of N workers uses N cores. Never call it on the event loop.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

Image = NDArray[Any]  # 8-bit BGR
Points = NDArray[np.float32]  # 4 x 2: top-left, top-right, bottom-right, bottom-left

REC_HEIGHT = 48  # the recogniser's input height (PP-OCRv4)
_BATCH = 8
_BATCH_SPREAD = 1.25  # lines batched together differ in width by at most this factor


@dataclass(frozen=True)
class Line:
    """A recognised line: its text, the recogniser's confidence and its corners (reading order)."""

    text: str
    score: float
    box: Points  # in the caller's pixels, the text's own top-left first


class Ocr:
    """PP-OCRv4 detection and recognition sessions, each on one ONNX Runtime thread."""

    def __init__(self) -> None:
        # Imported here: the package pulls in onnxruntime, shapely and pyclipper (~0.3 s), which
        # only the document workers need.
        from rapidocr_onnxruntime.ch_ppocr_det import TextDetector
        from rapidocr_onnxruntime.ch_ppocr_rec import TextRecognizer
        from rapidocr_onnxruntime.main import DEFAULT_CFG_PATH
        from rapidocr_onnxruntime.utils import read_yaml
        from rapidocr_onnxruntime.utils.parse_parameters import update_model_path

        config = update_model_path(read_yaml(str(DEFAULT_CFG_PATH)))
        for part in ("Det", "Rec"):
            config[part]["intra_op_num_threads"] = 1
            config[part]["inter_op_num_threads"] = 1
        # "max": never upscale. With it the detector keeps anything under 960 px as it is, so
        # detect() sizes the image itself.
        config["Det"]["limit_type"] = "max"
        # No 320 px floor on a line's width (see the module docstring).
        config["Rec"]["rec_img_shape"] = [3, REC_HEIGHT, REC_HEIGHT]
        config["Rec"]["rec_batch_num"] = _BATCH
        self._det = TextDetector(config["Det"])
        self._rec = TextRecognizer(config["Rec"])

    def detect(self, image: Image, max_side: int = 640) -> list[Points]:
        """Return the text lines' corners in ``image`` pixels (each clockwise from the top-left)."""
        h, w = image.shape[:2]
        scale = min(1.0, max_side / max(h, w))
        small = image if scale >= 1.0 else cv2.resize(
            image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        if min(small.shape[:2]) < 16:
            return []
        boxes, _elapsed = self._det(small)
        if boxes is None or len(boxes) == 0:
            return []
        sy, sx = h / small.shape[0], w / small.shape[1]
        return [(np.asarray(b, np.float32) * np.array([sx, sy], np.float32)).astype(np.float32) for b in boxes]

    def read(self, image: Image, boxes: Sequence[Points]) -> list[tuple[str, float]]:
        """Recognise each box of ``image`` (corners in reading order: the text's top-left first)."""
        crops = [crop_line(image, b) for b in boxes]
        out: list[tuple[str, float]] = [("", 0.0)] * len(crops)
        order = sorted(range(len(crops)), key=lambda i: crops[i].shape[1])
        start = 0
        while start < len(order):
            end = start + 1
            while (end < len(order) and end - start < _BATCH
                   and crops[order[end]].shape[1] <= _BATCH_SPREAD * crops[order[start]].shape[1]):
                end += 1
            batch = order[start:end]
            results, _elapsed = self._rec([crops[i] for i in batch])
            for i, (text, score, *_rest) in zip(batch, results, strict=True):
                out[i] = (str(text), float(score))
            start = end
        return out

    def lines(self, image: Image, boxes: Sequence[Points]) -> list[Line]:
        """Recognise the boxes and return them as lines."""
        return [Line(t, s, b) for (t, s), b in zip(self.read(image, boxes), boxes, strict=True)]


def crop_line(image: Image, box: Points) -> Image:
    """Cut a line out upright (corners in reading order), 48 px high at most, never upscaled."""
    tl, tr, br, bl = (np.asarray(p, np.float32) for p in box)
    width = max(float(np.linalg.norm(tr - tl)), float(np.linalg.norm(br - bl)), 1.0)
    height = max(float(np.linalg.norm(bl - tl)), float(np.linalg.norm(br - tr)), 1.0)
    scale = min(1.0, 2 * REC_HEIGHT / height)  # the recogniser shrinks it to 48 px anyway
    ow, oh = max(1, round(width * scale)), max(1, round(height * scale))
    dst = np.array([[0, 0], [ow, 0], [ow, oh], [0, oh]], np.float32)
    m = cv2.getPerspectiveTransform(np.stack([tl, tr, br, bl]), dst)
    return cv2.warpPerspective(image, m, (ow, oh), flags=cv2.INTER_CUBIC if scale >= 1.0 else cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)


_lock = threading.Lock()


@functools.cache
def _load() -> Ocr:
    return Ocr()


def engine() -> Ocr:
    """This process's OCR engine, loaded on first use (~0.3 s) and kept."""
    with _lock:
        return _load()


def warm() -> None:
    """Load the engine and run it once (the first inference sets ONNX Runtime up)."""
    ocr = engine()
    page = np.full((96, 320, 3), 255, np.uint8)
    cv2.putText(page, "warm 0123", (10, 60), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (0, 0, 0), 2, cv2.LINE_AA)
    boxes = ocr.detect(page, 320)
    ocr.read(page, boxes or [np.array([[0, 0], [319, 0], [319, 95], [0, 95]], np.float32)])
