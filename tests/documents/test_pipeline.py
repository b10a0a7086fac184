"""The entry points: check, process, correct; corners, upright output, agreement of paths."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from citizen_client import synthetic_scene as ss
from window_server.documents import pipeline
from window_server.documents.codec import encode_jpeg, encode_png
from window_server.documents.pipeline import (
    DocumentNotFound,
    check_image,
    correct_image,
    process_image,
)
from window_server.documents.quality import QualityThresholds


def decode(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def test_check_reports_the_page(good_scene: ss.Scene, good_jpeg: bytes) -> None:
    result = check_image(good_jpeg)
    assert result.document_found and result.verdict == "accepted" and result.reasons == ()
    assert (result.width, result.height) == (2592, 1944)
    assert result.corners is not None and len(result.corners) == 4
    assert good_scene.corners is not None
    assert np.max(np.abs(np.array(result.corners) - good_scene.corners)) < 5
    assert 0.05 < result.coverage < 1 and result.ms > 0
    assert set(result.to_json()) == {
        "document_found", "corners", "verdict", "reasons", "sharpness", "glare", "brightness",
        "coverage", "ms",
    }


def test_png_input_is_checked_like_jpeg(good_scene: ss.Scene) -> None:
    result = check_image(encode_png(good_scene.image))
    assert result.accepted and good_scene.corners is not None
    assert np.max(np.abs(np.array(result.corners) - good_scene.corners)) < 5


def test_no_document(empty_jpeg: bytes) -> None:
    result = check_image(empty_jpeg)
    assert not result.document_found and result.corners is None
    assert result.verdict == "rejected" and result.reasons[0] == "no_document"
    assert result.coverage == 0.0
    with pytest.raises(DocumentNotFound) as info:
        correct_image(empty_jpeg)
    assert info.value.code == "no_document"
    assert process_image(empty_jpeg)[1] is None


def test_thresholds_are_applied(good_jpeg: bytes) -> None:
    strict = QualityThresholds(min_sharpness=5.0, min_coverage=0.99)
    assert check_image(good_jpeg, strict).reasons == ("too_small", "blur")


@pytest.mark.parametrize(
    ("document", "aspect"), [("a4_form", 297 / 210), ("id_card", 85.6 / 54), ("licence", 297 / 210)]
)
@pytest.mark.parametrize("rotation", [3.0, 92.0, 181.0, 268.0, 30.0])
def test_corrected_page_is_cropped_at_the_document_aspect(document: str, aspect: float, rotation: float) -> None:
    rng = np.random.default_rng(int(rotation))
    spec = ss.random_spec(rng, document=document, rotation=rotation, perspective=0.04, fingertip=False)
    scene = ss.render_scene(spec, 1600, 1200, rng)
    page = decode(correct_image(encode_jpeg(scene.image)))
    h, w = page.shape[:2]
    assert max(w, h) / min(w, h) == pytest.approx(aspect, rel=0.04)
    # Upright by the corner rule: the page's own orientation flips with each quarter turn.
    quarter = round(rotation / 90) % 2
    printed_landscape = document != "a4_form"
    assert (w > h) == (printed_landscape != bool(quarter))
    # The crop is paper, not plate: the border rows are bright.
    gray = cv2.cvtColor(page, cv2.COLOR_BGR2GRAY)
    edge = np.concatenate([gray[2, :], gray[-3, :], gray[:, 2], gray[:, -3]])
    assert np.median(edge) > 150


def test_correct_keeps_full_resolution(good_scene: ss.Scene, good_jpeg: bytes) -> None:
    page = decode(correct_image(good_jpeg))
    assert good_scene.corners is not None
    top = np.linalg.norm(good_scene.corners[1] - good_scene.corners[0])
    assert page.shape[1] == pytest.approx(top, rel=0.03)


def test_check_and_process_agree_on_12_mp() -> None:
    rng = np.random.default_rng(5)
    scene = ss.render_scene(ss.random_spec(rng, aspect=4 / 3), 4000, 3000, rng)
    data = encode_jpeg(scene.image)
    checked = check_image(data)  # decoded at half size in the decoder
    processed, corrected = process_image(data)  # decoded in full
    assert checked.corners is not None and processed.corners is not None and corrected is not None
    assert np.max(np.abs(np.array(checked.corners) - np.array(processed.corners))) < 0.002 * 5000
    assert checked.verdict == processed.verdict and checked.reasons == processed.reasons
    assert checked.sharpness == pytest.approx(processed.sharpness, abs=0.08)
    assert checked.brightness == pytest.approx(processed.brightness, abs=0.03)
    assert checked.coverage == pytest.approx(processed.coverage, abs=0.005)
    assert decode(corrected).shape[0] > 1000


def test_locate_returns_input_pixels(good_scene: ss.Scene) -> None:
    quad = pipeline.locate(good_scene.image)
    assert quad is not None and good_scene.corners is not None
    assert np.max(np.abs(quad - good_scene.corners)) < 5
