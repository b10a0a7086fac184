"""Quadrilateral geometry: the corner-ordering rule, sizes and the rectifying homography.

The ordering rule (one place for it; the synthetic scene uses it for its true corners):

1. Sort the four corners clockwise as seen on screen (image y points down), by their angle
   around the centroid.
2. Of the four ways to start that cycle, take the one whose *top edge* - the mean of the
   first edge (TL -> TR) and the third edge walked backwards (BL -> BR) - points closest to
   the image's +x axis.

So the page comes out upright in the orientation reached by the smallest rotation, whatever
its print direction: without reading the content no rule can tell a page from the same page
turned 180 degrees. A page turned exactly 45 degrees is a tie; near it the start corner flips.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from numpy.typing import NDArray

Quad = NDArray[np.float64]  # shape (4, 2): x, y


def order_corners(points: NDArray[np.floating] | list[list[float]]) -> Quad:
    """Return the four corners clockwise from the page's top-left, by the rule above."""
    pts = np.asarray(points, dtype=np.float64).reshape(4, 2)
    centre = pts.mean(axis=0)
    angles = np.arctan2(pts[:, 1] - centre[1], pts[:, 0] - centre[0])
    cyc = pts[np.argsort(angles, kind="stable")]
    best_start, best_cos = 0, -2.0
    for start in range(4):
        p = np.roll(cyc, -start, axis=0)
        top = (p[1] - p[0]) + (p[2] - p[3])
        norm = math.hypot(top[0], top[1])
        cos = top[0] / norm if norm > 0 else -1.0
        # The strict '>' makes an exact tie (a 45-degree square) pick the lowest start.
        if cos > best_cos + 1e-12:
            best_start, best_cos = start, cos
    return np.roll(cyc, -best_start, axis=0)


def side_lengths(quad: Quad) -> NDArray[np.float64]:
    """Return the lengths of the sides top, right, bottom, left."""
    lengths: NDArray[np.float64] = np.linalg.norm(np.roll(quad, -1, axis=0) - quad, axis=1)  # stubs: Any
    return lengths


def upright_size(quad: Quad) -> tuple[float, float]:
    """Return (width, height) of the rectified page: means of opposite sides, in quad pixels."""
    top, right, bottom, left = side_lengths(quad)
    return (top + bottom) / 2.0, (left + right) / 2.0


def quad_area(quad: Quad) -> float:
    """Return the area of a simple polygon (shoelace)."""
    x, y = quad[:, 0], quad[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


def area_inside_frame(quad: Quad, width: int, height: int) -> float:
    """Return the area of the part of a convex quad that lies inside a width x height frame."""
    frame = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    area, _ = cv2.intersectConvexConvex(quad.astype(np.float32), frame)
    return float(max(area, 0.0))


def is_convex(quad: Quad) -> bool:
    """Return True when the quad is strictly convex (all turns have the same sign)."""
    d1 = np.roll(quad, -1, axis=0) - quad
    d2 = np.roll(d1, -1, axis=0)
    cross = d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]
    return bool(np.all(cross > 0) or np.all(cross < 0))


def interior_angles(quad: Quad) -> NDArray[np.float64]:
    """Return the four interior angles in degrees."""
    prev = np.roll(quad, 1, axis=0) - quad
    nxt = np.roll(quad, -1, axis=0) - quad
    cos = np.sum(prev * nxt, axis=1) / (
        np.linalg.norm(prev, axis=1) * np.linalg.norm(nxt, axis=1) + 1e-12
    )
    degrees: NDArray[np.float64] = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))  # stubs: Any
    return degrees


def rectify_transform(quad: Quad, out_width: int, out_height: int) -> NDArray[np.float64]:
    """Return the homography that maps the quad onto an upright out_width x out_height image.

    Corners map to the outer pixel edges (-0.5 and size - 0.5) because a page corner is the
    corner of the paper, not the centre of a pixel.
    """
    dst = np.array(
        [[-0.5, -0.5], [out_width - 0.5, -0.5], [out_width - 0.5, out_height - 0.5],
         [-0.5, out_height - 0.5]],
        dtype=np.float32,
    )
    return cv2.getPerspectiveTransform(quad.astype(np.float32), dst).astype(np.float64)


def scale_quad(quad: Quad, sx: float, sy: float) -> Quad:
    """Map corners between two resolutions of one image (pixel centres at +0.5)."""
    out = np.empty_like(quad)
    out[:, 0] = (quad[:, 0] + 0.5) * sx - 0.5
    out[:, 1] = (quad[:, 1] + 0.5) * sy - 0.5
    return out


def touches_border(quad: Quad, width: int, height: int, margin: float, band: float) -> bool:
    """Return True when the page reaches the frame's border, so part of it may be outside.

    Either a corner lies within `margin` px of the border (or beyond it), or a whole side
    runs within `band` px along one frame edge: where the page leaves the frame the outline
    follows the border, and the fitted corners can land just inside it.
    """
    x, y = quad[:, 0], quad[:, 1]
    if x.min() < margin or y.min() < margin or x.max() > width - 1 - margin or y.max() > height - 1 - margin:
        return True
    nx, ny = np.roll(x, -1), np.roll(y, -1)
    along = (
        ((x < band) & (nx < band))
        | ((y < band) & (ny < band))
        | ((x > width - 1 - band) & (nx > width - 1 - band))
        | ((y > height - 1 - band) & (ny > height - 1 - band))
    )
    return bool(along.any())
