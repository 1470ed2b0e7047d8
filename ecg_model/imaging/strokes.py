"""The width of the pen that drew a page's traces, from its ink mask: used by grid removal
(is a tall straight stroke a printed rule, as wide as the pen?) and by the digitiser."""

from __future__ import annotations

import numpy as np


def pen_width(mask: np.ndarray, soft: np.ndarray | None = None, step: int = 3) -> float:
    """The pen's width in pixels: the median height of the ink runs in every ``step``-th column
    (traces are flat most of the time, where a run's height is the pen's width).

    With ``soft`` (the anti-aliased darkness), the width is the run's darkness summed, which
    is the printed line's width rather than the thresholded mask's (often twice as wide).
    """
    band = mask[:, ::step] > 0
    if not band.any():
        return 2.0
    padded = np.zeros((band.shape[0] + 2, band.shape[1]), bool)
    padded[1:-1] = band
    diff = np.diff(padded.view(np.int8), axis=0)
    starts = np.nonzero(diff.T.ravel() == 1)[0]
    ends = np.nonzero(diff.T.ravel() == -1)[0]
    if soft is None:
        return float(np.median(ends - starts))
    # Cumulative darkness down each column (transposed so the runs' flat indices apply).
    cols = soft[:, ::step].astype(np.float64).T
    # h + 1 entries per column, as the transitions have: a run starting at transition row a
    # and ending at b covers rows a to b - 1.
    cum = np.concatenate([np.zeros((cols.shape[0], 1)), np.cumsum(cols, axis=1)], axis=1).ravel()
    mass = cum[ends] - cum[starts]
    return float(np.median(mass))


def side_width(mask: np.ndarray, line_px: float) -> float:
    """How wide the traces' steep strokes are across, in pixels: the commonest length of the
    short runs of ink along each row (a QRS flank crosses a row in about the pen's width; flat
    stretches make runs many times longer and are left out).

    On a blurred render the faint halo of a flat stroke is darker than a steep one's, so the
    mask draws steep strokes thinner than ``pen_width`` says (9 px tall flat runs against 6 px
    wide steep ones on a simulator page at 2400 px). Returns ``line_px`` where fewer than 50
    short runs are found.
    """
    band = mask > 0
    padded = np.zeros((band.shape[0], band.shape[1] + 2), bool)
    padded[:, 1:-1] = band
    diff = np.diff(padded.view(np.int8), axis=1).ravel()
    lengths = np.nonzero(diff == -1)[0] - np.nonzero(diff == 1)[0]
    lengths = lengths[lengths <= 2 * line_px]
    if lengths.size < 50:
        return float(line_px)
    return float(np.bincount(lengths).argmax())
