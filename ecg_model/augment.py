"""Training-time changes to a cleaned trace image that keep its diagnosis.

No horizontal flip (time runs one way) and no vertical flip (that inverts every wave).
"""

from __future__ import annotations

import cv2
import numpy as np


def augment_input(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A perturbed copy of one H x W ink map in [0, 1]."""
    h, w = x.shape
    out = x.astype(np.float32)
    # Geometry: the trace area found on another photo is a little larger, smaller or tilted.
    sx = rng.uniform(0.92, 1.08)
    sy = rng.uniform(0.9, 1.1)
    angle = np.radians(rng.uniform(-1.5, 1.5))
    tx = rng.uniform(-0.03, 0.03) * w
    ty = rng.uniform(-0.04, 0.04) * h
    cos, sin = np.cos(angle), np.sin(angle)
    m = np.array([[sx * cos, -sy * sin, 0.0], [sx * sin, sy * cos, 0.0]], np.float32)
    m[:, 2] = np.array([w / 2, h / 2]) - m[:, :2] @ np.array([w / 2, h / 2]) + np.array([tx, ty])
    out = cv2.warpAffine(out, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    # Line weight: printers and cameras draw thinner or bolder strokes.
    r = rng.random()
    if r < 0.25:
        out = cv2.dilate(out, np.ones((2, 2), np.uint8))
    elif r < 0.45:
        out = out * rng.uniform(0.55, 0.85)
    out = np.clip(out, 0, 1) ** rng.uniform(0.7, 1.4)
    # Specks left by grid removal, and pieces of trace lost in a poor photo.
    if rng.random() < 0.3:
        n = int(rng.integers(20, 200))
        ys, xs = rng.integers(0, h, n), rng.integers(0, w, n)
        out[ys, xs] = np.maximum(out[ys, xs], rng.uniform(0.3, 1.0, n).astype(np.float32))
    if rng.random() < 0.2:
        # Faint stretches of baseline lost by grid removal: short gaps across one trace row.
        for _ in range(int(rng.integers(2, 10))):
            y0, x0 = int(rng.integers(0, h - 12)), int(rng.integers(0, w - 20))
            out[y0:y0 + 12, x0:x0 + int(rng.integers(3, 20))] = 0
    if rng.random() < 0.15:
        # Remnants of printed rules: thin, long, nearly vertical lines.
        for _ in range(int(rng.integers(1, 3))):
            x = float(rng.uniform(0, w))
            cv2.line(out, (int(x), int(rng.integers(0, h // 2))), (int(x + rng.uniform(-4, 4)), int(rng.integers(h // 2, h))),
                     float(rng.uniform(0.3, 0.8)), 1)
    if rng.random() < 0.25:
        for _ in range(int(rng.integers(1, 4))):
            eh, ew = int(rng.integers(4, h // 8)), int(rng.integers(4, w // 10))
            y0, x0 = int(rng.integers(0, h - eh)), int(rng.integers(0, w - ew))
            out[y0:y0 + eh, x0:x0 + ew] = 0
    return np.clip(out, 0.0, 1.0)
