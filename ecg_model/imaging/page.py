"""Find the printed page in a photo and undo the perspective."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .geometry import order_corners, resize_to_long_side

DETECT_LONG_SIDE = 800


@dataclass(frozen=True)
class PageDetection:
    """Where the page is.

    Attributes:
        corners: 4x2 input pixels (TL, TR, BR, BL), or None when the page fills the image
            (a scan or a screenshot) or no page could be told from its background.
        area_fraction: page area / image area (1.0 when it fills the image).
        reason: a short explanation of the decision, for the Preprocessing page.
    """

    corners: np.ndarray | None
    area_fraction: float
    reason: str


def paper_likelihood(rgb: np.ndarray) -> np.ndarray:
    """Bright, unsaturated pixels score high: paper against a table, a hand or a screen."""
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    v = hsv[:, :, 2].astype(np.float32)
    s = hsv[:, :, 1].astype(np.float32)
    return v * (1.0 - 0.7 * s / 255.0)


def _threshold_quad(small: np.ndarray) -> np.ndarray | None:
    """The largest bright, unsaturated region's quadrilateral (good on dark or coloured tables)."""
    h, w = small.shape[:2]
    score = cv2.GaussianBlur(paper_likelihood(small), (0, 0), 2.0)
    score_u8 = np.clip(score, 0, 255).astype(np.uint8)
    _, mask = cv2.threshold(score_u8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    # Percentiles from the byte histogram: np.percentile on the float image cost a third of the stage.
    cdf = np.cumsum(cv2.calcHist([score_u8], [0], None, [256], [0, 256]).ravel())
    p5, p95 = np.searchsorted(cdf, [0.05 * cdf[-1], 0.95 * cdf[-1]])
    if float(p95 - p5) < 40:
        return None  # a uniform image gives Otsu nothing to split
    k = max(3, int(0.02 * max(h, w)) | 1)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (5, 5)))
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    contour = max(contours, key=cv2.contourArea)
    if cv2.contourArea(contour) < 0.15 * h * w:
        return None
    return _quad_from_hull(cv2.convexHull(contour))


def _intersection(l1: tuple[float, float], l2: tuple[float, float]) -> np.ndarray | None:
    (r1, t1), (r2, t2) = l1, l2
    a = np.array([[np.cos(t1), np.sin(t1)], [np.cos(t2), np.sin(t2)]])
    if abs(np.linalg.det(a)) < 1e-6:
        return None
    return np.linalg.solve(a, np.array([r1, r2]))


def _edge_quads(gray: np.ndarray, max_lines: int = 14) -> list[np.ndarray]:
    """Quadrilaterals bounded by two pairs of long straight edges (a document scanner's way).

    Works where brightness cannot: a white page on a light desk, or a page half in shadow,
    still has a sharp, straight outline.
    """
    h, w = gray.shape
    blurred = cv2.GaussianBlur(gray, (0, 0), 1.0)
    edges = cv2.Canny(blurred, 20, 60)
    lines = cv2.HoughLines(edges, 1, np.pi / 180, threshold=int(0.2 * min(h, w)))
    if lines is None:
        return []
    kept: list[tuple[float, float]] = []
    for rho, theta in np.asarray(lines).reshape(-1, 2):
        if any(abs(rho - r) < 6 and abs(theta - t) < np.radians(4) for r, t in kept):
            continue
        kept.append((float(rho), float(theta)))
        if len(kept) >= max_lines:
            break
    pairs = []
    for i in range(len(kept)):
        for j in range(i + 1, len(kept)):
            (r1, t1), (r2, t2) = kept[i], kept[j]
            dt = abs(t1 - t2)
            if dt < np.radians(25) and abs(r1 - r2) > 0.2 * min(h, w):  # noqa: SIM114
                pairs.append((kept[i], kept[j], (t1 + t2) / 2))
            elif dt > np.pi - np.radians(25) and abs(r1 + r2) > 0.2 * min(h, w):
                # theta near 0 and near pi describe almost the same direction with rho negated.
                pairs.append((kept[i], kept[j], ((t1 + t2 + np.pi) / 2) % np.pi))
    quads = []
    for a in range(len(pairs)):
        for b in range(a + 1, len(pairs)):
            diff = abs(pairs[a][2] - pairs[b][2]) % np.pi
            if not np.radians(50) < diff < np.radians(130):
                continue
            pts = [_intersection(la, lb) for la in pairs[a][:2] for lb in pairs[b][:2]]
            if any(p is None for p in pts):
                continue
            quad = np.array(pts, np.float64)
            if (quad < -0.05 * max(h, w)).any() or (quad[:, 0] > 1.05 * w).any() or (quad[:, 1] > 1.05 * h).any():
                continue
            hull = cv2.convexHull(quad.astype(np.float32))
            if len(hull) != 4 or cv2.contourArea(hull) < 0.15 * h * w:
                continue
            quads.append(hull.reshape(4, 2).astype(np.float64))
    return quads


def _quad_score(quad: np.ndarray, grad: np.ndarray, lab: np.ndarray) -> float:
    """How much a quadrilateral looks like a page outline: every side on a strong edge, and
    every side separating the page from something else (inside band vs outside band).

    The weakest side decides, so the grid's own border (paper on both sides) scores low.
    """
    h, w = grad.shape
    ordered = order_corners(quad)
    centre = ordered.mean(axis=0)
    side_scores = []
    for k in range(4):
        a, b = ordered[k], ordered[(k + 1) % 4]
        t = np.linspace(0.05, 0.95, 40)[:, None]
        pts = a + (b - a) * t
        normal = np.array([-(b - a)[1], (b - a)[0]])
        normal /= max(np.linalg.norm(normal), 1e-9)
        if np.dot(centre - (a + b) / 2, normal) < 0:
            normal = -normal  # make it point inwards
        support = []
        for off in (-2, -1, 0, 1, 2):
            q = np.round(pts + off * normal).astype(int)
            ok = (q[:, 0] >= 0) & (q[:, 0] < w) & (q[:, 1] >= 0) & (q[:, 1] < h)
            vals = np.zeros(len(q))
            vals[ok] = grad[q[ok, 1], q[ok, 0]]
            support.append(vals)
        edge = float(np.mean(np.max(support, axis=0) > 12.0))
        inner = np.round(pts + 6 * normal).astype(int)
        outer = np.round(pts - 6 * normal).astype(int)
        inside_ok = (inner[:, 0] >= 0) & (inner[:, 0] < w) & (inner[:, 1] >= 0) & (inner[:, 1] < h)
        outside_ok = (outer[:, 0] >= 0) & (outer[:, 0] < w) & (outer[:, 1] >= 0) & (outer[:, 1] < h)
        both = inside_ok & outside_ok
        if both.sum() < 10:
            # This side runs along the image border: no evidence either way; count it as weak.
            side_scores.append(0.3 * edge)
            continue
        diff = lab[inner[both, 1], inner[both, 0]].astype(np.float32) - lab[outer[both, 1], outer[both, 0]].astype(np.float32)
        contrast = float(np.median(np.linalg.norm(diff, axis=1)))
        side_scores.append(edge * min(contrast / 25.0, 1.5))
    return float(min(side_scores))


def detect_page(rgb: np.ndarray) -> PageDetection:
    """Locate the page: candidates from brightness and from straight edges, the best kept.

    Works on a copy whose long side is 800 px; the corners come back in input pixels.
    """
    small, factor = resize_to_long_side(rgb, DETECT_LONG_SIDE, integer=True)
    h, w = small.shape[:2]
    gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    # A scan or a screenshot has an even, nearly white margin all round: nothing to find.
    rim = max(2, int(0.02 * min(h, w)))
    border = np.concatenate([gray[:rim].ravel(), gray[-rim:].ravel(), gray[:, :rim].ravel(), gray[:, -rim:].ravel()])
    median = float(np.median(border))
    if median >= 235 and float(np.percentile(np.abs(border.astype(np.float32) - median), 75)) <= 6:
        return PageDetection(None, 1.0, "page fills the image (scan or screenshot)")
    lab = cv2.cvtColor(cv2.GaussianBlur(small, (0, 0), 1.5), cv2.COLOR_RGB2LAB)
    gx = cv2.Sobel(cv2.GaussianBlur(gray, (0, 0), 1.0), cv2.CV_32F, 1, 0, ksize=3) / 4.0
    gy = cv2.Sobel(cv2.GaussianBlur(gray, (0, 0), 1.0), cv2.CV_32F, 0, 1, ksize=3) / 4.0
    grad = cv2.magnitude(gx, gy)
    scored: list[tuple[float, np.ndarray]] = []
    bright = _threshold_quad(small)
    if bright is not None:
        scored.append((_quad_score(bright, grad, lab), bright))
    # The straight-edge search costs more; it runs when brightness alone found no clear page.
    if not scored or scored[0][0] < 0.9:
        # Lines are searched on a half-size copy first (Hough's cost grows with every edge
        # pixel), and at full detection size only when that finds no clear outline.
        # The grid, the traces and the text are long straight dark lines too, and on a busy
        # page they take every place among the strongest Hough lines: a closing wider than
        # any printed line paints them over with paper first, leaving the page's outline.
        k = max(5, int(0.011 * max(h, w)) | 1)
        clean = cv2.morphologyEx(gray, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
        for scale in ((2.0, 1.0) if max(h, w) > 500 else (1.0,)):
            img = cv2.resize(clean, (int(w / scale), int(h / scale)), interpolation=cv2.INTER_AREA) if scale > 1 else clean
            scored += [(_quad_score(q * scale, grad, lab), q * scale) for q in _edge_quads(img)]
            if max((sq[0] for sq in scored), default=0.0) >= 0.35:
                break
    if not scored:
        return PageDetection(None, 1.0, "page fills the image (no outline found)")
    score, quad = max(scored, key=lambda sq: sq[0])
    area = cv2.contourArea(order_corners(quad).astype(np.float32)) / float(h * w)
    if score < 0.35:
        return PageDetection(None, 1.0, "page fills the image (no clear page outline)")
    x, y, bw, bh = cv2.boundingRect(quad.astype(np.float32))
    margin = 0.01 * max(h, w)
    touches = sum([x <= margin, y <= margin, x + bw >= w - margin, y + bh >= h - margin])
    if area > 0.92 or touches >= 3:
        return PageDetection(None, min(area, 1.0), "page fills the image")
    corners = order_corners(quad / factor)
    return PageDetection(corners, area, f"page found ({area:.0%} of the image, outline score {score:.2f})")


def _quad_from_hull(hull: np.ndarray) -> np.ndarray | None:
    """Four corners from a convex hull: polygon simplification, else the min-area rectangle."""
    perimeter = cv2.arcLength(hull, True)
    for eps in (0.01, 0.02, 0.03, 0.05, 0.08):
        approx = cv2.approxPolyDP(hull, eps * perimeter, True)
        if len(approx) == 4:
            return approx.reshape(4, 2).astype(np.float64)
    if len(hull) >= 4:
        box = cv2.boxPoints(cv2.minAreaRect(hull))
        return np.asarray(box, np.float64)
    return None


def page_size_px(corners: np.ndarray) -> tuple[int, int]:
    """Output (width, height) for the rectified page: the mean lengths of opposite edges."""
    tl, tr, br, bl = corners
    width = (np.linalg.norm(tr - tl) + np.linalg.norm(br - bl)) / 2
    height = (np.linalg.norm(bl - tl) + np.linalg.norm(br - tr)) / 2
    return max(1, int(round(width))), max(1, int(round(height)))


def rectify_homography(corners: np.ndarray, out_wh: tuple[int, int]) -> np.ndarray:
    """Homography from input pixels to a flat page of ``out_wh``."""
    w, h = out_wh
    dst = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    return cv2.getPerspectiveTransform(corners.astype(np.float32), dst)
