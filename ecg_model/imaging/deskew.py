"""Residual rotation of a page, measured on its straightest structures (grid lines, baselines)."""

from __future__ import annotations

import cv2
import numpy as np

MAX_POINTS = 30_000


def _sharpness(xs: np.ndarray, ys: np.ndarray, angles_deg: np.ndarray, bins: int) -> np.ndarray:
    """Sum of squared row counts after projecting points along each candidate angle.

    All angles at once: one (angles x points) projection and one bincount with each angle's
    rows offset into its own range (a Python loop over angles cost twice as much).
    """
    a = np.radians(angles_deg).astype(np.float32)[:, None]
    # A line at angle a (counter-clockwise on screen) satisfies y + x*tan(a) = const.
    proj = ys[None, :] * np.cos(a) + xs[None, :] * np.sin(a)
    proj -= proj.min(axis=1, keepdims=True)
    idx = np.minimum(proj.astype(np.int32), bins - 1)
    idx += (np.arange(angles_deg.size, dtype=np.int32) * bins)[:, None]
    counts = np.bincount(idx.ravel(), minlength=angles_deg.size * bins).reshape(angles_deg.size, bins)
    counts = counts.astype(np.float64)
    return np.einsum("ij,ij->i", counts, counts)


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
    # The 90th percentile of a sample is as good a threshold as the whole image's, at a tenth of the cost.
    thr = max(float(np.percentile(dark[::3, ::3], 90)), 1e-6)
    ys, xs = np.nonzero(dark >= thr)
    if xs.size < 200:
        return 0.0
    # A random order, so that any leading slice is a fair sample of the whole page.
    pick = np.random.default_rng(seed).permutation(xs.size)[:MAX_POINTS]
    xs, ys = xs[pick], ys[pick]
    xs = xs.astype(np.float32) - np.float32(w / 2)
    ys = ys.astype(np.float32) - np.float32(h / 2)
    bins = int(np.hypot(h, w)) + 2
    best = 0.0
    # Coarse to fine; the coarse pass only has to land within its step, so it reads a third
    # of the points.
    for step, span, n in ((1.5, max_angle, MAX_POINTS // 3), (0.15, 1.5, MAX_POINTS), (0.02, 0.16, MAX_POINTS)):
        angles = np.arange(best - span, best + span + step / 2, step)
        angles = angles[np.abs(angles) <= max_angle + 1e-9]
        scores = _sharpness(xs[:n], ys[:n], angles, bins)
        best = float(angles[int(np.argmax(scores))])
    return best


def rotation_matrix(shape_hw: tuple[int, int], angle_deg: float) -> np.ndarray:
    """3x3 affine that undoes a counter-clockwise content rotation of ``angle_deg``."""
    h, w = shape_hw
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), -angle_deg, 1.0)
    return np.vstack([m, [0.0, 0.0, 1.0]])
