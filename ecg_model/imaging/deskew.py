"""Residual rotation of a page, measured on its straightest structures (grid lines, baselines)."""

from __future__ import annotations

import cv2
import numpy as np

MAX_POINTS = 30_000


def _sharpness(xs: np.ndarray, ys: np.ndarray, angles_deg: np.ndarray, bins: int) -> np.ndarray:
    """Sum of squared row counts after projecting points along each candidate angle."""
    out = np.empty(angles_deg.size)
    for k, a in enumerate(np.radians(angles_deg)):
        # A line at angle a (counter-clockwise on screen) satisfies y + x*tan(a) = const.
        proj = ys * np.cos(a) + xs * np.sin(a)
        idx = np.clip((proj - proj.min()).astype(np.int64), 0, bins - 1)
        counts = np.bincount(idx, minlength=bins).astype(np.float64)
        out[k] = float(np.dot(counts, counts))
    return out


def estimate_skew(dark: np.ndarray, max_angle: float = 45.0, seed: int = 0) -> float:
    """Rotation of the page content in degrees, counter-clockwise positive.

    Args:
        dark: H x W float or uint8 map where lines are high (ink or grid).
        max_angle: search range; ECG lines are horizontal, so +-45 degrees removes the
            ambiguity with the vertical grid lines.

    Returns:
        The angle that makes horizontal lines sharpest; 0.0 when there is nothing to measure.
    """
    h, w = dark.shape[:2]
    thr = max(float(np.percentile(dark, 90)), 1e-6)
    ys, xs = np.nonzero(dark >= thr)
    if xs.size < 200:
        return 0.0
    if xs.size > MAX_POINTS:
        pick = np.random.default_rng(seed).choice(xs.size, MAX_POINTS, replace=False)
        xs, ys = xs[pick], ys[pick]
    xs = xs.astype(np.float64) - w / 2
    ys = ys.astype(np.float64) - h / 2
    bins = int(np.hypot(h, w)) + 2
    best = 0.0
    for step, span in ((1.5, max_angle), (0.15, 1.5), (0.02, 0.16)):
        angles = np.arange(best - span, best + span + step / 2, step)
        angles = angles[np.abs(angles) <= max_angle + 1e-9]
        scores = _sharpness(xs, ys, angles, bins)
        best = float(angles[int(np.argmax(scores))])
    return best


def rotation_matrix(shape_hw: tuple[int, int], angle_deg: float) -> np.ndarray:
    """3x3 affine that undoes a counter-clockwise content rotation of ``angle_deg``."""
    h, w = shape_hw
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), -angle_deg, 1.0)
    return np.vstack([m, [0.0, 0.0, 1.0]])
