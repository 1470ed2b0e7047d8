"""Even out uneven light: divide each channel by its smooth paper-brightness background."""

from __future__ import annotations

import cv2
import numpy as np


def estimate_background(rgb: np.ndarray, window_frac: float = 0.04) -> np.ndarray:
    """The paper's brightness under the lines, per channel, as uint8 H x W x 3.

    Lines are thin and dark, so a grey-level closing (max filter, then min) wider than a line
    removes them; it runs on a quarter-size copy because light varies slowly.
    """
    h, w = rgb.shape[:2]
    small = cv2.pyrDown(cv2.pyrDown(rgb)) if min(h, w) >= 64 else rgb  # quarter size, cheaply
    k = max(3, int(window_frac * max(small.shape[:2])) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))
    closed = cv2.morphologyEx(small, cv2.MORPH_CLOSE, kernel)
    if min(closed.shape[:2]) >= 64:
        # The wide blur at half this size again: the same smooth surface for a quarter of the cost.
        closed = cv2.GaussianBlur(cv2.pyrDown(closed), (0, 0), k / 4.0)
    else:
        closed = cv2.GaussianBlur(closed, (0, 0), k / 2.0)
    return cv2.resize(closed, (w, h), interpolation=cv2.INTER_LINEAR)


def flatten_illumination(rgb: np.ndarray) -> np.ndarray:
    """Paper becomes white (255) everywhere; lines keep their contrast relative to it."""
    background = np.maximum(estimate_background(rgb), 8)
    return cv2.divide(rgb, background, scale=255.0)
