"""The calibration pulse at the start of a row: where 0 mV is, and how tall 1 mV is printed.

Printers draw a 1 mV step (a rectangle 0.2 s wide) before each row; its foot lies on the
row's zero line and its height is the gain (10 mm at the standard 10 mm/mV, 5 or 20 mm at
half or double gain). Without it, zero falls back to the baseline the trace rests on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Pulse heights accepted, in mm: the three gains printers offer (5, 10, 20 mm/mV) with room
# for a page that is not quite to scale.
_MIN_HEIGHT_MM, _MAX_HEIGHT_MM = 3.5, 24.0


@dataclass(frozen=True)
class Pulse:
    """A calibration pulse found left of a row's traces.

    Attributes:
        zero_y: row of the pulse's foot (the row's 0 mV line), working pixels.
        height_px: from foot to top: the printed height of 1 mV.
        x0, x1: its left and right edges.
    """

    zero_y: float
    height_px: float
    x0: int
    x1: int

    def gain_mm_per_mv(self, px_per_mm: float) -> float:
        return self.height_px / px_per_mm


def _row_clusters(rows: np.ndarray) -> list[tuple[int, int]]:
    """Consecutive row indices grouped into (first, last) clusters."""
    if rows.size == 0:
        return []
    breaks = np.nonzero(np.diff(rows) > 1)[0]
    starts = np.r_[rows[0], rows[breaks + 1]]
    ends = np.r_[rows[breaks], rows[-1]]
    return list(zip(starts.tolist(), ends.tolist()))


def find_pulse(mask: np.ndarray, x_left: int, x_right: int, baseline: float, px_per_mm: float,
               room_above: float | None = None) -> Pulse | None:
    """Look for a pulse between columns ``x_left:x_right`` around the row at ``baseline``.

    ``room_above`` (pixels) keeps the search below the row above (the pulse of a 12x1 page's
    neighbour row lies only 12 mm higher).

    The pulse is a plateau (a horizontal stroke at least 2.5 mm long) above a foot (one at
    the same columns or beside them, near the baseline), joined by vertical strokes: the
    columns between the two rows are inked on at least 80 % of the height somewhere.
    """
    ppm = px_per_mm
    h, w = mask.shape
    x_left, x_right = max(0, x_left), min(w, x_right)
    reach = _MAX_HEIGHT_MM * ppm + 2 * ppm
    if room_above is not None:
        reach = min(reach, room_above - 1.5 * ppm)
    y_top = max(0, int(baseline - reach))
    y_bot = min(h, int(baseline + 3 * ppm))
    if x_right - x_left < 3 * ppm or y_bot - y_top < _MIN_HEIGHT_MM * ppm:
        return None
    region = mask[y_top:y_bot, x_left:x_right] > 0
    per_row = region.sum(axis=1)
    strong = np.nonzero(per_row >= 2.5 * ppm)[0]
    clusters = _row_clusters(strong)
    if len(clusters) < 2:
        return None
    # The foot is the strong row nearest the baseline; the plateau the highest strong row
    # at a plausible height above it.
    centres = [((a + b) / 2.0 + y_top) for a, b in clusters]
    foot = min(range(len(clusters)), key=lambda k: abs(centres[k] - baseline))
    if abs(centres[foot] - baseline) > 3 * ppm:
        return None
    # Plateaus nearest a standard gain first (10 mm/mV, then 5 and 20).
    order = sorted(range(len(clusters)), key=lambda k: min(abs((centres[foot] - centres[k]) / ppm - g) / g
                                                           for g in (10.0, 5.0, 20.0)))
    for k in order:
        height = centres[foot] - centres[k]
        if not (_MIN_HEIGHT_MM * ppm <= height <= _MAX_HEIGHT_MM * ppm):
            continue
        a, b = clusters[k]
        cols = np.nonzero(region[a:b + 1].any(axis=0))[0]
        if cols.size == 0:
            continue
        # The plateau is the longest run of inked columns at its height (a QRS stroke of the
        # trace joined to the pulse can cross that height further right).
        runs = np.split(cols, np.nonzero(np.diff(cols) > 2)[0] + 1)
        cols = max(runs, key=len)
        # The sides: columns inked over most of the way from plateau to foot.
        lo, hi = int(clusters[k][1]) + 1, int(clusters[foot][0])
        if hi <= lo:
            continue
        fill = region[lo:hi, max(0, cols[0] - 2):cols[-1] + 3].mean(axis=0)
        if fill.size and fill.max() >= 0.8:
            return Pulse(zero_y=centres[foot], height_px=height, x0=int(cols[0]) + x_left,
                         x1=int(cols[-1]) + x_left)
    return None
