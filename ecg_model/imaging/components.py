"""Selecting connected components by label, quickly (a hot spot of grid removal)."""

from __future__ import annotations

import cv2
import numpy as np


def keep_components(labels: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """uint8 mask, 255 where ``keep[label]`` is true.

    With at most 256 labels this is a byte look-up table (about six times quicker than
    indexing ``keep`` with an int32 label image); otherwise a plain gather.
    """
    table = np.where(keep, 255, 0).astype(np.uint8)
    if table.size <= 256:
        return cv2.LUT(labels.astype(np.uint8), np.pad(table, (0, 256 - table.size)))
    return np.take(table, labels)
