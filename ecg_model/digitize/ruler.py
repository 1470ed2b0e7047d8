"""The grid as a ruler along each row: millimetres of paper at every column.

A phone photo straightened by one homography still stretches and squeezes the page a little
from place to place (lens distortion, a curled sheet), enough to move a QRS complex by a few
samples. The vertical grid lines are printed every millimetre, so along each row of traces
their local phase says how many millimetres of paper lie left of any column: the profile of
grid darkness is demodulated at the page's mean pitch (or five times it, where only the 5 mm
lines survive a blur), averaged over a few centimetres and fitted with a low-order polynomial
(paper bends smoothly), and corrects the column's position in millimetres. The horizontal lines
do the same across the row: how far a bowed sheet moves the row's zero line along x.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..imaging.grid import any_darkness, darkness

# Averaging of the demodulated grid signal, in millimetres: long enough to average many
# lines (12 mm was noisier on the tuning photos), short enough for the fit to follow a bend.
_WINDOW_MM = 25.0
# Below this share of the clean grid's contrast the phase is not trusted and the ruler
# falls back to the page's mean pitch.
_MIN_CONTRAST = 0.15


def grid_map(flat_rgb: np.ndarray, trace_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(grid darkness, weight): the printed grid without the traces; weight 0 where a trace
    or its halo hides the paper."""
    grid = any_darkness(flat_rgb) * (darkness(flat_rgb) < 0.45)
    hidden = cv2.dilate(trace_mask, np.ones((5, 5), np.uint8)) > 0
    return grid.astype(np.float32), (~hidden).astype(np.float32)


def _line_detail(grid: np.ndarray, weight: np.ndarray, axis: int,
                 px_per_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """The grid's profile averaged along ``axis`` over the paper the traces leave visible, with
    the slow shading (a 2 mm running mean) taken out so that only the line pattern remains;
    and where the profile saw enough paper (at least a fifth of the averaged pixels)."""
    g = (grid * weight).sum(axis=axis, dtype=np.float64)
    n = weight.sum(axis=axis, dtype=np.float64)
    seen = n > 0.2 * grid.shape[axis]
    profile = np.where(seen, g / np.maximum(n, 1e-9), 0.0)
    k = max(3, int(2 * px_per_mm) | 1)
    detail = np.where(seen, profile - np.convolve(profile, np.ones(k) / k, mode="same"), 0.0)
    return detail, seen


def _demodulate(detail: np.ndarray, seen: np.ndarray, x: np.ndarray, period_px: float,
                win: int) -> tuple[np.ndarray, np.ndarray, float]:
    """The profile's local complex amplitude at ``period_px`` (box-averaged over ``win``
    columns), the averaging weights, and a contrast: 1 for a pure line pattern, ~0 for noise."""
    box = np.ones(win)
    z = np.convolve(detail * np.exp(-2j * np.pi * x / period_px), box, mode="same")
    norm = np.convolve(seen.astype(np.float64), box, mode="same")
    z = z / np.maximum(norm, 1.0)
    power = np.convolve(detail ** 2, box, mode="same") / np.maximum(norm, 1.0)
    contrast = float(np.median(np.abs(z) / np.sqrt(np.maximum(power, 1e-12)) * np.sqrt(2.0)))
    return z, norm, contrast


def row_ruler(grid: np.ndarray, weight: np.ndarray, y0: int, y1: int, px_per_mm: float,
              span: tuple[int, int] | None = None, degree: int = 2,
              keep_scale: bool = True) -> tuple[np.ndarray, float]:
    """Millimetres of paper at each column (up to a constant) for the band of rows ``y0:y1``.

    ``span`` limits the fit to the columns the traces cover; ``degree`` is the polynomial's.
    ``keep_scale`` False drops the fit's slope: on a flat scan the page's mean pitch, measured
    over the whole page, sets the scale better than one row's phase does.

    Returns:
        (mm per column, contrast): ``mm`` is x / px_per_mm plus the grid's local phase
        correction; contrast in [0, 1] says how clearly the grid showed (0: no correction).
    """
    h, w = grid.shape
    y0, y1 = max(0, y0), min(h, y1)
    x = np.arange(w, dtype=np.float64)
    plain = x / px_per_mm
    if y1 - y0 < 2:
        return plain, 0.0
    detail, seen = _line_detail(grid[y0:y1], weight[y0:y1], 0, px_per_mm)
    win = max(3, int(_WINDOW_MM * px_per_mm) | 1)
    # The 1 mm lines, or the 5 mm ones where those show more clearly (a blurred photo loses
    # the thin minor lines first).
    z, norm, contrast, period_mm = max(
        (_demodulate(detail, seen, x, px_per_mm * p, win) + (p,) for p in (1.0, 5.0)), key=lambda t: t[2])
    if not np.isfinite(contrast) or contrast < _MIN_CONTRAST:
        return plain, max(0.0, contrast if np.isfinite(contrast) else 0.0)
    phase = np.unwrap(np.angle(z))
    # Paper bends smoothly: a low-order polynomial in x, weighted by how clearly the grid showed, keeps the
    # bend and drops the phase's local noise (which alone would move a QRS by samples).
    strength = np.abs(z)
    good = (strength >= 0.25 * np.median(strength)) & (norm >= 0.5 * win)
    if span is not None:
        inside = np.zeros(w, bool)
        inside[max(0, span[0]):min(w, span[1] + 1)] = True
        good &= inside
    if good.sum() < 8:
        return plain, contrast
    u = (x - w / 2.0) / (w / 2.0)
    coef = np.polynomial.polynomial.polyfit(u[good], phase[good], degree, w=strength[good])
    coef[0] = 0.0
    if not keep_scale:
        coef[1] = 0.0
    smooth = np.polynomial.polynomial.polyval(u, coef)
    smooth -= np.median(smooth)
    return plain + period_mm * smooth / (2 * np.pi), contrast


def row_drift(grid: np.ndarray, weight: np.ndarray, y0: int, y1: int, px_per_mm: float,
              span: tuple[int, int], block_mm: float = 10.0) -> np.ndarray | None:
    """How far the paper under a row has moved up or down along x (a curled sheet), in pixels,
    from the horizontal grid lines: in blocks of ``block_mm`` along x, the phase of the rows'
    grid profile at the 1 mm pitch (or the 5 mm one where it shows more clearly); unwrapped
    along x and fitted with a quadratic.

    Returns:
        per column, the paper's vertical shift relative to its mean over ``span`` (positive
        down); None when the grid's horizontal lines do not show clearly enough.
    """
    h, w = grid.shape
    y0, y1 = max(0, y0), min(h, y1)
    if y1 - y0 < 3 * px_per_mm:
        return None
    block = max(4, int(block_mm * px_per_mm))
    ys = np.arange(y0, y1, dtype=np.float64)
    best = None
    for period_mm in (1.0, 5.0):
        period = px_per_mm * period_mm
        if y1 - y0 < 1.5 * period:
            continue
        carrier = np.exp(-2j * np.pi * ys / period)
        centres, phases, strengths = [], [], []
        for a in range(max(0, span[0]), min(w, span[1]) - block // 2, block):
            b = min(w, a + block)
            detail, seen = _line_detail(grid[y0:y1, a:b], weight[y0:y1, a:b], 1, px_per_mm)
            if seen.mean() < 0.5:
                continue
            z = np.sum(detail * carrier)
            power = np.sum(detail ** 2)
            if power <= 0:
                continue
            centres.append((a + b) / 2.0)
            phases.append(np.angle(z))
            strengths.append(abs(z) / np.sqrt(power * seen.sum()))
        if len(centres) >= 5 and (best is None or np.median(strengths) > np.median(best[3])):
            best = (period, centres, phases, strengths)
    if best is None or np.median(best[3]) < 0.2:
        return None
    period, centres, phases, strengths = best
    # A line at y = k p + d gives a phase of -2 pi d / p.
    shift = -np.unwrap(np.array(phases)) * period / (2 * np.pi)
    coef = np.polyfit(np.array(centres), shift, 2, w=np.array(strengths))
    drift = np.polyval(coef, np.arange(w, dtype=np.float64))
    return drift - float(np.mean(drift[max(0, span[0]):min(w, span[1])]))
