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


def detect_page(rgb: np.ndarray) -> PageDetection:
    """Locate the page as the largest bright quadrilateral.

    Works on a copy whose long side is 800 px; the corners come back in input pixels.
    """
    small, factor = resize_to_long_side(rgb, DETECT_LONG_SIDE)
    h, w = small.shape[:2]
    score = cv2.GaussianBlur(paper_likelihood(small), (0, 0), 2.0)
    score_u8 = np.clip(score, 0, 255).astype(np.uint8)
    thresh, mask = cv2.threshold(score_u8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    bright_share = float(np.count_nonzero(mask)) / mask.size
    # Uniform images (a scan of the page alone) give Otsu nothing to split.
    spread = float(np.percentile(score, 95) - np.percentile(score, 5))
    if spread < 40 or bright_share > 0.97:
        return PageDetection(None, 1.0, "page fills the image")
    k = max(3, int(0.02 * max(h, w)) | 1)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (5, 5)))
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return PageDetection(None, 1.0, "no page found; using the whole image")
    contour = max(contours, key=cv2.contourArea)
    area = cv2.contourArea(contour) / float(h * w)
    if area < 0.15:
        return PageDetection(None, 1.0, "no page-sized bright region; using the whole image")
    hull = cv2.convexHull(contour)
    quad = _quad_from_hull(hull)
    x, y, bw, bh = cv2.boundingRect(hull)
    margin = 0.01 * max(h, w)
    touches = sum([x <= margin, y <= margin, x + bw >= w - margin, y + bh >= h - margin])
    if area > 0.9 or touches >= 3:
        return PageDetection(None, min(area, 1.0), "page fills the image")
    if quad is None:
        return PageDetection(None, area, "page outline is not a quadrilateral; using the whole image")
    corners = order_corners(quad / factor)
    return PageDetection(corners, area, f"page found ({area:.0%} of the image)")


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
