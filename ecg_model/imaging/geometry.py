"""Small geometric helpers shared by the stages: corner order, angles, resizing."""

from __future__ import annotations

import math

import cv2
import numpy as np


def order_corners(quad: np.ndarray) -> np.ndarray:
    """Order four corners as top-left, top-right, bottom-right, bottom-left of a landscape page.

    ECG printouts are landscape, so of the longer pair of opposite edges the higher one (its
    midpoint nearest the top of the image) is the top. The corners keep their cyclic order
    round the quadrilateral, so the page is only ever turned, never mirrored: a page turned
    past 90 degrees comes out upside down (the orientation check stands it up), where picking
    each corner by its x once mirrored a page photographed in portrait.
    """
    pts = np.asarray(quad, np.float64).reshape(4, 2)
    centre = pts.mean(axis=0)
    ang = np.arctan2(pts[:, 1] - centre[1], pts[:, 0] - centre[0])
    pts = pts[np.argsort(ang)]  # cyclic order (clockwise on screen, since y points down)
    lengths = [float(np.linalg.norm(pts[(i + 1) % 4] - pts[i])) for i in range(4)]
    long_pair = (0, 2) if lengths[0] + lengths[2] >= lengths[1] + lengths[3] else (1, 3)
    top = min(long_pair, key=lambda i: float(pts[i][1] + pts[(i + 1) % 4][1]))
    return np.array([pts[(top + k) % 4] for k in range(4)], np.float64)


def horizontal_axis_angle(to_input: np.ndarray, at_xy: tuple[float, float]) -> float:
    """Angle (degrees, counter-clockwise positive) of the +x axis at ``at_xy`` after mapping.

    Args:
        to_input: 3x3 homography from working coordinates to input-image coordinates.
        at_xy: the point (in working coordinates) where the axis is measured.
    """
    x, y = at_xy
    pts = np.array([[[x - 1.0, y], [x + 1.0, y]]], np.float64)
    mapped = cv2.perspectiveTransform(pts, to_input)[0]
    dx, dy = mapped[1] - mapped[0]
    return float(math.degrees(math.atan2(-dy, dx)))


def resize_to_long_side(img: np.ndarray, long_side: int, integer: bool = False) -> tuple[np.ndarray, float]:
    """Resize so the longer side is ``long_side``; returns (image, factor new/old).

    With ``integer``, shrink by a whole factor instead (the long side ends near ``long_side``):
    area averaging by a whole factor is several times quicker in OpenCV.
    """
    h, w = img.shape[:2]
    factor = long_side / max(h, w)
    if integer and factor < 1:
        factor = 1.0 / max(1, int(round(1.0 / factor)))
    if abs(factor - 1.0) < 1e-3:
        return img, 1.0
    interp = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
    out = cv2.resize(img, (max(1, int(round(w * factor))), max(1, int(round(h * factor)))),
                     interpolation=interp)
    return out, factor


def scale_matrix(factor: float) -> np.ndarray:
    return np.array([[factor, 0, 0], [0, factor, 0], [0, 0, 1]], np.float64)


def resize_matrix(src_wh: tuple[int, int], dst_wh: tuple[int, int]) -> np.ndarray:
    """3x3 map from a source image's pixel coordinates to those of ``cv2.resize(src, dst_wh)``.

    ``cv2.resize`` scales each axis by the ratio of whole sizes (not by the factor asked for)
    and aligns pixel *edges*: x' = (x + 1/2) * dst_w / src_w - 1/2, with pixel centres on whole
    numbers as in the warps. A plain ``scale_matrix(factor)`` put the page up to a pixel off
    at the far side of a large photo.
    """
    sx, sy = dst_wh[0] / src_wh[0], dst_wh[1] / src_wh[1]
    return np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1]], np.float64)
