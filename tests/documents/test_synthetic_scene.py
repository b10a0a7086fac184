"""The synthetic scene renderer: true corners, determinism, speed, defects."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from citizen_client import synthetic_scene as ss
from window_server.documents.geometry import order_corners, upright_size


def test_true_corners_follow_the_ordering_rule_and_the_paper() -> None:
    rng = np.random.default_rng(2)
    spec = ss.random_spec(rng, document="a4_form", rotation=180.0, perspective=0.0, plate="dark",
                          clutter=0, fingertip=False, arm_shadow=0.0)
    scene = ss.render_scene(spec, 1600, 1200, rng)
    assert scene.corners is not None and scene.page_corners is not None
    assert np.allclose(scene.corners, order_corners(scene.page_corners))
    # Turned 180 degrees: the rule starts at the printed bottom-right corner.
    assert np.allclose(scene.corners[0], scene.page_corners[2])
    w, h = upright_size(scene.corners)
    assert h / w == pytest.approx(297 / 210, rel=0.01)
    # Paper inside, plate outside.
    gray = cv2.cvtColor(scene.image, cv2.COLOR_BGR2GRAY)
    mask = np.zeros_like(gray)
    cv2.fillPoly(mask, [scene.corners.astype(np.int32)], 255)
    inner = cv2.erode(mask, np.ones((25, 25), np.uint8))
    outer = cv2.dilate(mask, np.ones((25, 25), np.uint8))
    assert np.median(gray[inner > 0]) > 180 and np.median(gray[outer == 0]) < 90


def test_same_seed_same_scene() -> None:
    spec = ss.random_spec(np.random.default_rng(4))
    a = ss.render_scene(spec, 800, 600, np.random.default_rng(9)).image
    b = ss.render_scene(spec, 800, 600, np.random.default_rng(9)).image
    assert np.array_equal(a, b)


def test_empty_plate_has_no_corners() -> None:
    spec = dataclasses.replace(ss.random_spec(np.random.default_rng(1)), document=None, clutter=3)
    scene = ss.render_scene(spec, 800, 600, np.random.default_rng(1))
    assert scene.corners is None and scene.image.shape == (600, 800, 3)


def test_random_good_specs_keep_the_page_in_frame() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        spec = ss.random_spec(rng, aspect=4 / 3)
        quad = ss.page_quad(spec, 1600, 1200)
        assert quad[:, 0].min() > 0 and quad[:, 1].min() > 0
        assert quad[:, 0].max() < 1600 and quad[:, 1].max() < 1200


def test_defect_shots() -> None:
    rng = np.random.default_rng(8)
    cut, _ = ss.render_shot("cut_off", 1600, 1200, rng)
    assert cut.corners is not None
    assert (cut.corners < 0).any() or (cut.corners[:, 0] > 1600).any() or (cut.corners[:, 1] > 1200).any()
    tiny, spec = ss.render_shot("tiny", 1600, 1200, rng)
    assert spec.coverage < 0.05
    good, spec = ss.render_shot("good", 1600, 1200, np.random.default_rng(3))
    dark, _ = ss.render_shot("dark", 1600, 1200, np.random.default_rng(3))
    assert dark.image.mean() < 0.4 * good.image.mean()
    with pytest.raises(ValueError):
        ss.render_shot("sepia", 100, 100, rng)
