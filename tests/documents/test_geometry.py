"""The corner-ordering rule and quad helpers: table-driven, no images."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from window_server.documents.geometry import (
    area_inside_frame,
    order_corners,
    quad_area,
    rectify_transform,
    touches_border,
    upright_size,
)


def rect(w: float, h: float, rotation: float, centre: tuple[float, float] = (500, 500)) -> np.ndarray:
    """Corners TL, TR, BR, BL of a w x h rectangle turned clockwise by rotation degrees."""
    pts = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
    a = math.radians(rotation)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return pts @ rot.T + np.array(centre)


@pytest.mark.parametrize(
    ("rotation", "start", "upright"),
    [
        # start: which printed corner (0 TL, 1 TR, 2 BR, 3 BL) comes first; upright (w, h).
        (0, 0, (300, 200)),
        (12, 0, (300, 200)),
        (-30, 0, (300, 200)),
        (44, 0, (300, 200)),
        (46, 3, (200, 300)),  # past 45 degrees the page is read the other way up
        (90, 3, (200, 300)),
        (135 + 2, 2, (300, 200)),
        (180, 2, (300, 200)),
        (270, 1, (200, 300)),
        (-95, 1, (200, 300)),
    ],
)
def test_order_corners_starts_at_the_top_left_of_the_nearest_upright(
    rotation: float, start: int, upright: tuple[int, int]
) -> None:
    printed = rect(300, 200, rotation)
    ordered = order_corners(printed)
    expected = np.roll(printed, -start, axis=0)
    assert np.allclose(ordered, expected)
    assert np.allclose(upright_size(ordered), upright)


def test_order_corners_ignores_input_order_and_runs_clockwise() -> None:
    printed = rect(300, 200, 17)
    want = order_corners(printed)
    for perm in itertools.permutations(range(4)):
        assert np.allclose(order_corners(printed[list(perm)]), want)
    # Clockwise on screen (y down): the shoelace sum is positive.
    x, y = want[:, 0], want[:, 1]
    assert np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)) > 0


def test_order_corners_handles_perspective() -> None:
    keystone = np.array([[110, 100], [390, 100], [420, 300], [80, 300]], float)
    assert np.allclose(order_corners(keystone[::-1]), keystone)


def test_areas() -> None:
    quad = rect(300, 200, 0, centre=(150, 100))
    assert quad_area(quad) == pytest.approx(60000)
    assert area_inside_frame(quad, 1000, 1000) == pytest.approx(60000, rel=1e-3)
    assert area_inside_frame(quad - [150, 0], 1000, 1000) == pytest.approx(30000, rel=1e-3)


def test_rectify_transform_maps_corners_to_the_output_edges() -> None:
    quad = np.array([[110, 100], [390, 100], [420, 300], [80, 300]], float)
    m = rectify_transform(quad, 300, 200)
    pts = np.c_[quad, np.ones(4)] @ m.T
    pts = pts[:, :2] / pts[:, 2:]
    assert np.allclose(pts, [[-0.5, -0.5], [299.5, -0.5], [299.5, 199.5], [-0.5, 199.5]], atol=1e-6)


@pytest.mark.parametrize(
    ("quad", "cut"),
    [
        (rect(300, 200, 5, (500, 500)), False),
        (rect(300, 200, 5, (100, 500)), True),  # a corner beyond the left edge
        (np.array([[100, 100], [600, 100], [600, 995], [100, 995]], float), True),  # along bottom
        (np.array([[100, 100], [600, 100], [600, 960], [100, 960]], float), False),
    ],
)
def test_touches_border(quad: np.ndarray, cut: bool) -> None:
    assert touches_border(quad, 1000, 1000, margin=2, band=15) is cut
