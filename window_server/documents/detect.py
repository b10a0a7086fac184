"""Find the page in a small (~1,000 px) copy of a still: propose outlines, snap, verify.

Cheap cues propose page outlines (brightness masks, the same with gaps closed, regions between
edges). Each outline's hull gives a rough quadrilateral whose sides are snapped onto the
page-like edge nearby with a robust line fit; each quad is then verified by how much of its
perimeter shows "bright paper inside, plate outside", and the best score wins. No single cue
survives every plate (a pale plate in the arm's shadow defeats a global threshold; a cable
across the page splits an edge region), but together they do. Two slower steps run only when
needed: shaving fingers and pens off outlines, and pushing a side that stuck inside the page
out onto the real edge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from window_server.documents.codec import Image
from window_server.documents.geometry import (
    Quad,
    interior_angles,
    is_convex,
    order_corners,
    quad_area,
    upright_size,
)

Line = tuple[NDArray[np.float64], NDArray[np.float64]]  # a point on it, unit direction
Contour = NDArray[Any]  # OpenCV contour, (n, 1, 2) int32

MIN_AREA = 0.01  # smallest page considered, as a fraction of the frame (too_small is 0.05)
MIN_SUPPORT = 0.7  # share of the visible perimeter that must look like a page edge
CONFIDENT = 0.95  # support above which the slower cues are not tried
MAX_ASPECT = 4.0  # receipts are long, pens are longer
MIN_ANGLE, MAX_ANGLE = 55.0, 125.0  # interior angles under mild perspective


@dataclass(frozen=True)
class Detection:
    """A verified page outline in the analysed image's pixels, ordered by the corner rule."""

    quad: Quad
    support: float  # share of the visible perimeter showing a page edge, 0..1


def find_page(image: Image) -> Detection | None:
    """Return the page in a BGR image of about 700-1,500 px, or None when there is none."""
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    scale = max(gray.shape) / 1000.0
    search = _Search(cv2.GaussianBlur(gray, (0, 0), 0.8 * scale).astype(np.float32))
    outlines = _candidate_outlines(image, gray, scale)
    for contour in outlines:
        search.try_outline(contour)
    # Shaving is the slow cue: only when no outline fitted the page convincingly.
    if search.best is None or search.best.support < CONFIDENT:
        for contour in outlines:
            for fraction in (0.2, 0.4):
                if (shaved := _shave(contour, fraction)) is not None:
                    search.try_outline(shaved)
    search.expand_best()
    return search.best


class _Search:
    """Fit, refine and verify candidate outlines; keep the best-scoring page."""

    def __init__(self, profile_src: Image) -> None:
        self.src = profile_src
        self.frame_area = float(profile_src.shape[0] * profile_src.shape[1])
        self.best: Detection | None = None
        self.best_score = 0.0
        self.seen: list[Quad] = []

    def try_outline(self, contour: Contour) -> None:
        rough = order_corners(_fit_quad(contour))
        # Cues often agree: refining the same rough quad twice only costs time.
        tol = 0.02 * float(np.linalg.norm(rough.max(axis=0) - rough.min(axis=0)))
        if any(np.all(np.linalg.norm(rough - q, axis=1) < tol) for q in self.seen):
            return
        self.seen.append(rough)
        self.try_quad(refine_quad(self.src, rough))

    def try_quad(self, quad: Quad | None) -> None:
        if quad is None or not _plausible(quad, self.frame_area):
            return
        support, visible = edge_support(self.src, quad)
        if support < MIN_SUPPORT:
            return
        # Supported perimeter minus twice the unsupported: the page beats a rectangle printed
        # inside it (shorter) and an outline that swallowed a finger (long unsupported runs).
        score = visible * (support - 2.0 * (1.0 - support))
        if score > self.best_score:
            self.best, self.best_score = Detection(order_corners(quad), support), score

    def expand_best(self) -> None:
        """Push sides of the best quad outward onto the page edge, if one lies further out.

        A side can stick inside the page, on the lower border of a dark photo or where a
        finger cut the outline; the true edge is then the first drop beyond it after which
        no paper follows.
        """
        if self.best is None:
            return
        quad = self.best.quad
        w, h = upright_size(quad)
        reach, n = int(0.6 * min(w, h)), int(np.clip(min(w, h) / 4, 12, 60))
        prof = _profiles(self.src, quad, reach, n, inner=3)
        new = _corners([_fit_side(prof, k, innermost=True) for k in range(4)], quad)
        if new is not None and is_convex(new) and not np.allclose(new, quad, atol=1.0):
            self.try_quad(refine_quad(self.src, new))


# --- candidate outlines --------------------------------------------------------------------


def _candidate_outlines(image: Image, gray: Image, scale: float) -> list[Contour]:
    """Return contours that might be the page, from several independent cues."""
    h, w = gray.shape
    smooth = cv2.GaussianBlur(gray, (0, 0), 1.2 * scale)
    min_area = MIN_AREA * h * w
    out: list[Contour] = []

    # Cue 1: "paper-ness" = brightness minus colourfulness beyond a tint, thresholded by Otsu.
    # Skin, wood and coloured pens are colourful; paper, ID cards and licences are at most
    # tinted (chroma <= ~30 of 255), so a tint costs nothing and real colour costs double.
    b, g, r = cv2.split(image)
    chroma = cv2.subtract(cv2.max(cv2.max(b, g), r), cv2.min(cv2.min(b, g), r))
    excess = cv2.subtract(chroma, np.full_like(chroma, 30))
    paper = cv2.subtract(smooth, cv2.add(excess, excess))
    paper = cv2.GaussianBlur(paper, (0, 0), 1.0 * scale)
    t1, mask = cv2.threshold(paper, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    masks = [mask]
    # A big black object (phone, cable) makes Otsu split "black" from "everything else",
    # plate included; Otsu again within the bright class separates plate from paper.
    bright = paper[paper > t1]
    if bright.size > 1000:
        t2, _ = cv2.threshold(bright.reshape(-1, 1), 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
        if t2 > t1 + 8:
            masks.append(cv2.threshold(paper, t2, 255, cv2.THRESH_BINARY)[1])
    for m in masks:
        m = cv2.morphologyEx(m, cv2.MORPH_OPEN, _disc(max(3, int(3 * scale))))
        out += _largest_outer(m, min_area, 3)
        # Cue 2: the same mask with gaps closed, for a dark cable lying across the page.
        closed = cv2.morphologyEx(m, cv2.MORPH_CLOSE, np.ones((int(25 * scale),) * 2, np.uint8))
        out += _largest_outer(closed, min_area, 2)
    # Cue 3: regions enclosed by edges. Edges are local, so a soft arm shadow that darkens
    # page and plate alike does not move them, where a global threshold fails.
    # Edge maps leak through one-pixel gaps, and where the gaps fall changes with smoothing:
    # a few levels, fine to coarse, each closing wider gaps.
    for sigma, grow in ((1.0, 3), (1.2, 5), (2.0, 5)):
        blurred = cv2.GaussianBlur(gray, (0, 0), sigma * max(1.0, scale))
        edges = cv2.Canny(blurred, 20, 50, L2gradient=True)
        edges = cv2.dilate(edges, np.ones((grow, grow), np.uint8))
        contours, hierarchy = cv2.findContours(255 - edges, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
        if hierarchy is not None:
            # Top level of a two-level hierarchy: the outer boundary of every region.
            tops = [c for c, hi in zip(contours, hierarchy[0], strict=True) if hi[3] < 0]
            tops = [c for c in tops if min_area <= cv2.contourArea(c) <= 0.97 * h * w]
            out += sorted(tops, key=cv2.contourArea, reverse=True)[:3]
    return out


def _shave(contour: Contour, fraction: float) -> Contour | None:
    """Return the outline opened with a disc of `fraction` of its short side (None: vanished).

    A finger, pen or cable touching the page joins its outline; an opening wider than them
    but narrower than the page cuts them away again.
    """
    (_, _), (rw, rh), _ = cv2.minAreaRect(contour)
    x, y, w, h = cv2.boundingRect(contour)
    # Work at <= 100 px: the shaved outline is only a starting point for the edge fit.
    f = min(1.0, 100.0 / max(w, h))
    k = int(fraction * min(rw, rh) * f)
    if k < 3:
        return None
    filled = np.zeros((int(h * f) + 3, int(w * f) + 3), np.uint8)
    pts = ((contour.reshape(-1, 2) - [x, y]) * f + 1).round().astype(np.int32)
    cv2.fillPoly(filled, [pts], 255)
    opened = cv2.morphologyEx(filled, cv2.MORPH_OPEN, _disc(k))
    contours, _ = cv2.findContours(opened, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    best = max(contours, key=cv2.contourArea)
    return ((best.reshape(-1, 2) - 1) / f + [x, y]).round().astype(np.int32).reshape(-1, 1, 2)


def _largest_outer(mask: Image, min_area: float, n: int) -> list[Contour]:
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    big = [c for c in contours if cv2.contourArea(c) >= min_area]
    return sorted(big, key=cv2.contourArea, reverse=True)[:n]


def _disc(size: int) -> Image:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))


def _fit_quad(contour: Contour) -> Quad:
    """Return a rough quadrilateral for a contour: its hull simplified to four corners."""
    hull = cv2.convexHull(contour)
    peri = cv2.arcLength(hull, True)
    for eps in (0.01, 0.02, 0.035, 0.05, 0.08):
        approx = cv2.approxPolyDP(hull, eps * peri, True)
        if len(approx) == 4:
            return approx.reshape(4, 2).astype(np.float64)
        if len(approx) < 4:
            break
    box = cv2.boxPoints(cv2.minAreaRect(hull))
    return np.asarray(box, dtype=np.float64)


def _plausible(quad: Quad, frame_area: float) -> bool:
    """Return True when a quad could be a flat page seen from above."""
    if not is_convex(quad):
        return False
    area = quad_area(quad)
    if area < MIN_AREA * frame_area:
        return False
    w, h = upright_size(quad)
    if max(w, h) > MAX_ASPECT * min(w, h):
        return False
    angles = interior_angles(quad)
    return bool(np.all((angles > MIN_ANGLE) & (angles < MAX_ANGLE)))


# --- edge profiles ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Profiles:
    values: Image  # (4 * n, 2 * radius + 1) intensities along outward normals
    in_frame: NDArray[np.bool_]  # (4 * n, 2 * radius + 1) which profile points lie in the image
    points: NDArray[np.float64]  # (4 * n, 2) where each profile crosses the side
    normals: NDArray[np.float64]  # (4 * n, 2) outward unit normals
    offsets: NDArray[np.float64]  # (inner + radius + 1,) from -inner to radius
    n: int  # samples per side

    def covered(self, lo: int, hi: int) -> NDArray[np.bool_]:
        """Return which profiles lie in the image from offset lo to hi (inclusive)."""
        zero = int(np.searchsorted(self.offsets, 0.0))
        inside: NDArray[np.bool_] = np.all(self.in_frame[:, zero + lo : zero + hi + 1], axis=1)  # stubs: Any
        return inside


def _profiles(
    src: Image, quad: Quad, radius: int, n: int, inner: int | None = None
) -> _Profiles:
    """Sample intensity profiles across each side of the quad, along outward normals, from
    `inner` (default: radius) pixels inside to `radius` pixels outside."""
    centre = quad.mean(axis=0)
    t = np.linspace(0.06, 0.94, n)
    pts, normals = [], []
    for k in range(4):
        p, q = quad[k], quad[(k + 1) % 4]
        d = q - p
        normal = np.array([d[1], -d[0]]) / (np.hypot(d[0], d[1]) + 1e-12)
        if np.dot(normal, (p + q) / 2 - centre) < 0:
            normal = -normal
        pts.append(p + t[:, None] * d)
        normals.append(np.repeat(normal[None, :], n, axis=0))
    points, norms = np.vstack(pts), np.vstack(normals)
    offsets = np.arange(-(radius if inner is None else inner), radius + 1, dtype=np.float64)
    coords = points[:, None, :] + offsets[None, :, None] * norms[:, None, :]
    h, w = src.shape
    x, y = coords[..., 0], coords[..., 1]
    in_frame = (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)
    values = cv2.remap(src, x.astype(np.float32), y.astype(np.float32), cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE)
    return _Profiles(values, in_frame, points, norms, offsets, n)


_SEARCH = (0.08, 0.035, 0.015)  # search radius per round, share of the page diagonal


def refine_quad(src: Image, quad: Quad) -> Quad | None:
    """Snap each side onto the page edge nearby with a robust line fit; None if it falls apart."""
    for reach in _SEARCH:
        w, h = upright_size(quad)
        diag = float(np.hypot(w, h))
        radius = int(max(4, reach * diag))
        n = int(np.clip(min(w, h) / 4, 12, 60))
        prof = _profiles(src, quad, radius, n)
        new = _corners([_fit_side(prof, k) for k in range(4)], quad)
        if new is None or not is_convex(new) or np.max(np.linalg.norm(new - quad, axis=1)) > 0.25 * diag:
            return None
        quad = new
    return quad


def _corners(lines: list[Line | None], quad: Quad) -> Quad | None:
    """Intersect consecutive sides; a side without a fitted line keeps its current one."""
    sides = [
        line if line is not None else _line_through(quad[k], quad[(k + 1) % 4])
        for k, line in enumerate(lines)
    ]
    new = np.empty_like(quad)
    for k in range(4):
        corner = _intersect(sides[(k - 1) % 4], sides[k])
        if corner is None:
            return None
        new[k] = corner
    return new


def _fit_side(prof: _Profiles, k: int, innermost: bool = False) -> Line | None:
    """Return (point, direction) of the page edge along side k, or None without enough evidence.

    Each profile votes for its strongest page-like drop near the side, or with `innermost`
    for the first clear one going outward.
    """
    sl = slice(k * prof.n, (k + 1) * prof.n)
    # A page near the frame border leaves part of the search outside: use what is inside.
    # Points outside the frame repeat the border pixel, which makes no false edge.
    valid = prof.covered(0, 0)[sl]
    if valid.sum() < 4:
        return None
    values = prof.values[sl][valid]
    # Outward derivative; a page edge is a drop (bright paper -> darker plate) ...
    deriv = values[:, 2:] - values[:, :-2]
    # ... after which the profile never climbs back above the middle of the step. That rules
    # out a printed border or a text line just inside the page, which is paper again beyond.
    after_max = np.maximum.accumulate(values[:, ::-1], axis=1)[:, ::-1]
    mid = (values[:, :-2] + values[:, 2:]) / 2
    tail = np.concatenate([after_max[:, 3:], np.full((len(values), 1), -np.inf, np.float32)], axis=1)
    ok = tail <= mid
    score = np.where(ok, -deriv, 0.0)
    offsets = prof.offsets[1:-1]
    if innermost:
        clear = score >= 10.0
        j = np.argmax(clear, axis=1)  # first True
        strength = np.where(clear.any(axis=1), score[np.arange(len(j)), j], 0.0)
    else:
        # Prefer drops near the current side: the rough outline is close, while a dark pen a
        # few millimetres off the page is a stronger drop further out.
        prior = 1.0 / (1.0 + (offsets / (0.35 * offsets[-1])) ** 2)
        j = np.argmax(score * prior, axis=1)
        strength = score[np.arange(len(j)), j]
    good = strength >= 6.0
    if good.sum() < max(4, 0.3 * prof.n):
        return None
    # Sub-pixel peak by a parabola through the neighbours.
    jj = np.clip(j, 1, score.shape[1] - 2)
    s0, s1, s2 = (score[np.arange(len(jj)), jj + d] for d in (-1, 0, 1))
    denom = s0 - 2 * s1 + s2
    sub = np.where(np.abs(denom) > 1e-6, 0.5 * (s0 - s2) / np.where(denom == 0, 1, denom), 0.0)
    pos = offsets[jj] + np.clip(sub, -0.5, 0.5)
    pts = prof.points[sl][valid] + pos[:, None] * prof.normals[sl][valid]
    pts = pts[good]
    return _robust_line(pts)


def _robust_line(pts: NDArray[np.float64]) -> Line | None:
    """Fit a line ignoring outliers (a finger or pen over the edge): Huber, then trimmed L2."""
    line = cv2.fitLine(pts.astype(np.float32), cv2.DIST_HUBER, 0, 0.01, 0.01).ravel()
    for _ in range(2):
        d, p0 = line[:2].astype(np.float64), line[2:].astype(np.float64)
        rel = pts - p0
        resid = np.abs(rel[:, 0] * d[1] - rel[:, 1] * d[0])
        tol = max(1.0, 2.5 * float(np.median(resid)))
        inliers = pts[resid <= tol]
        if len(inliers) < max(4, 0.3 * len(pts)):
            return None
        line = cv2.fitLine(inliers.astype(np.float32), cv2.DIST_L2, 0, 0.01, 0.01).ravel()
    return line[2:].astype(np.float64), line[:2].astype(np.float64)


def _line_through(p: NDArray[np.float64], q: NDArray[np.float64]) -> Line:
    d = q - p
    return p, d / (np.hypot(d[0], d[1]) + 1e-12)


def _intersect(a: Line, b: Line) -> NDArray[np.float64] | None:
    (p, d), (q, e) = a, b
    cross = d[0] * e[1] - d[1] * e[0]
    if abs(cross) < 1e-6:
        return None
    t = ((q[0] - p[0]) * e[1] - (q[1] - p[1]) * e[0]) / cross
    point: NDArray[np.float64] = p + t * d  # stubs: t is Any (an element of an array)
    return point


def edge_support(src: Image, quad: Quad) -> tuple[float, float]:
    """Return the share of the visible perimeter where inside is clearly brighter than outside,
    and the visible perimeter's length (px)."""
    w, h = upright_size(quad)
    r = int(max(8, 0.025 * np.hypot(w, h)))
    prof = _profiles(src, quad, r, int(np.clip(min(w, h) / 3, 16, 80)))
    valid = prof.covered(-4, 4)
    visible = float(valid.mean()) * 2.0 * (w + h)
    if valid.mean() < 0.3:
        return 0.0, visible  # mostly outside the frame: nothing to verify against
    v = prof.values[valid]
    # The brightest point just inside: a printed frame line hugging the edge of a small page
    # must not count as the page being dark.
    inside = v[:, r - 5 : r].max(axis=1)
    outside = v[:, r + 2 : r + 5].mean(axis=1)
    beyond = np.percentile(v[:, r + 3 :], 75, axis=1)
    contrast = inside - outside
    # Beyond a page edge lies plate; beyond a printed frame line lies paper again.
    ok = (contrast >= 10.0) & (contrast >= 0.08 * inside) & (beyond < (inside + outside) / 2)
    return float(ok.mean()), visible
