"""Follow one lead's trace across its box in the cleaned trace mask, column by column.

A column of the mask holds a few runs of ink: this lead's trace, and sometimes a neighbour's
tall wave or a separator. The trace is the path through the runs that stays connected
(dynamic programming over the columns: the cost of a step is the gap between consecutive runs)
and keeps near the lead's baseline when in doubt. Each column then gives one value: on a flat
stretch the darkness-weighted centroid of its run (a fraction of a pixel); on steep strokes and
waves narrower than the pen, an estimate from the pen's envelope (``_narrow_waves``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..imaging.strokes import pen_width, side_width

__all__ = ["ColumnTrace", "column_runs", "column_values", "find_path", "follow_trace", "pen_width", "side_width"]

# Cost per millimetre of distance from the baseline: a tie-breaker, far smaller than the cost
# of a one-pixel gap in the trace, so it never pulls the path off a connected stroke.
_BASELINE_COST_PER_MM = 0.1
# Cost of a column without any ink (the path carries on from the last inked column).
_EMPTY_COST = 0.5


@dataclass(frozen=True)
class ColumnTrace:
    """The trace followed through a box.

    Attributes:
        y: per column, the trace's height in working pixels (NaN where no ink was taken).
        top, bottom: per column, the chosen run's first and last row (NaN where none).
        ambiguous: share of the inked columns that held more than one run.
    """

    y: np.ndarray
    top: np.ndarray
    bottom: np.ndarray
    ambiguous: float

    @property
    def coverage(self) -> float:
        return float(np.isfinite(self.y).mean()) if self.y.size else 0.0


def column_runs(band: np.ndarray, bridge: int = 0) -> list[list[list[int]]]:
    """Runs of ink in each column of a boolean band: a list of [top, bottom] rows per column.

    Runs separated by at most ``bridge`` empty pixels count as one: a stroke with a hole in
    it (a faint spot, JPEG noise, where a spike's two strokes part) is still one stroke.
    """
    if bridge > 0:
        import cv2

        band = cv2.morphologyEx(band.view(np.uint8), cv2.MORPH_CLOSE, np.ones((bridge + 1, 1), np.uint8)) > 0
    h, w = band.shape
    padded = np.zeros((h + 2, w), bool)
    padded[1:-1] = band
    diff = np.diff(padded.view(np.int8), axis=0)  # +1 where a run starts, -1 after it ends
    sc, sr = np.nonzero(diff.T == 1)
    ec, er = np.nonzero(diff.T == -1)
    # Both lists are in column-major order, so starts and ends pair up one to one.
    flat = np.stack([sr, er - 1], axis=1).tolist()
    bounds = np.searchsorted(sc, np.arange(w + 1)).tolist()
    return [flat[bounds[i]:bounds[i + 1]] for i in range(w)]


def _best_path(runs: list[list[list[int]]], baseline: float, px_per_mm: float) -> tuple[list[int], float]:
    """Index of the chosen run in each column (-1 for an empty column), by dynamic programming.

    A column holds one to a few runs, so the recursion runs on plain Python numbers: numpy's
    overhead per call would cost more than the arithmetic (this loop was 70 % of the time).
    """
    w = len(runs)
    back: list[list[int] | None] = [None] * w
    weight = _BASELINE_COST_PER_MM / px_per_mm
    prev: list[list[int]] = []
    prev_cost: list[float] = []
    prev_col = -1
    inked = multi = 0
    for i, col in enumerate(runs):
        if not col:
            continue
        inked += 1
        multi += len(col) > 1
        skip = _EMPTY_COST * (i - prev_col - 1)
        costs: list[float] = []
        args: list[int] = []
        for top, bot in col:
            prior = weight * abs((top + bot) / 2.0 - baseline)
            if not prev:
                costs.append(prior)
                args.append(-1)
                continue
            best, arg = float("inf"), 0
            for j, (ptop, pbot) in enumerate(prev):
                # Gap between the intervals: zero when they overlap or touch.
                gap = max(0, top - pbot - 1, ptop - bot - 1)
                c = gap + prev_cost[j]
                if c < best:
                    best, arg = c, j
            costs.append(best + prior + skip)
            args.append(arg)
        back[i] = args
        prev, prev_cost, prev_col = col, costs, i
    choice = [-1] * w
    if not prev:
        return choice, 0.0
    k = min(range(len(prev_cost)), key=prev_cost.__getitem__)
    i = prev_col
    while i >= 0 and k >= 0:
        choice[i] = k
        arg = back[i]
        assert arg is not None
        k = arg[k]
        i -= 1
        while i >= 0 and back[i] is None:
            i -= 1
    return choice, multi / max(inked, 1)


# How far the pen reaches sideways past the curve, in px: half of (the run's height on flat
# stretches less _PEN_SIDE_LESS_PX), or half of (the steep strokes' width across less
# _SIDE_LESS_PX) where that is less. A run counts whole pixels, one more than the distance
# between its end pixels' centres. The first was fitted at 1600 px on flat tuning set 5 (1.0
# and 1.5 were 0.4 and 0.5 dB worse), the second at 2400 px on that set and the simulator's set
# 5 (0.75 and 1.0 were up to 0.4 and 1.1 dB worse on one of them).
_PEN_SIDE_LESS_PX = 1.25
_SIDE_LESS_PX = 0.5
# Pen width (px) from which the pen is taken round (fully from 2 px more; see ``_narrow_waves``).
_ROUND_FROM_PX = 7.0


def _pen_filter(v: np.ndarray, reach: float, lift: float, erode: bool, roundness: float = 1.0) -> np.ndarray:
    """Erosion (``erode``) or dilation of ``v`` (read as a piecewise linear curve) by a pen
    ``reach`` columns wide on each side and ``lift`` high: round (an ellipse) for ``roundness``
    1, flat (``lift`` at every offset) for 0, in between for values between.

    The erosion is min over |u| <= reach of v(x + u) - g(u), the dilation the max of
    v(x + u) + g(u), with g(u) = lift * (roundness * sqrt(1 - (u / reach)^2) + 1 - roundness).
    With ``lift`` 0 this is the running min or max over [x - reach, x + reach]. A round pen's
    edge rises less far above the curve the further sideways it is: the flat model took the
    whole radius off at every offset and read thick pens' narrow R tips short by most of it.
    The offsets are taken every quarter column for a round pen (the ellipse's lowest point
    against the curve may lie between columns), every column for a flat one, and at the reach's
    ends: rounded to whole columns, the pen's reach
    was undone by up to half a column too much or too little, which moved every flank of a
    narrow QRS sideways by as much (-7 dB on some pages at 2400 px).
    """
    n = v.size
    x = np.arange(n, dtype=np.float64)
    pick = np.minimum if erode else np.maximum
    sign = -1.0 if erode else 1.0
    out = v + sign * lift
    if reach <= 0:
        return out
    # A flat pen's extreme over a piecewise linear curve lies on a column or at the reach's ends;
    # a round one's may lie between columns.
    step = 0.25 if roundness > 0 and lift > 0 else 1.0
    for u in np.append(np.arange(step, reach, step), reach):
        g = lift * (roundness * np.sqrt(max(0.0, 1.0 - (u / reach) ** 2)) + 1.0 - roundness)
        if u == int(u):  # a whole column: a shift, no interpolation
            k = min(int(u), n)
            left = np.concatenate([np.full(k, v[0]), v[:n - k]])
            right = np.concatenate([v[k:], np.full(k, v[-1])])
        else:
            left = np.interp(x - u, x, v)
            right = np.interp(x + u, x, v)
        out = pick(out, pick(left, right) + sign * g)
    return out


def _narrow_waves(top: np.ndarray, bottom: np.ndarray, line_px: float,
                  side_px: float | None = None) -> np.ndarray | None:
    """Heights of the waves narrower than the pen, where a column's run cannot be trusted.

    A round pen of radius r inks, in column x, everything within r of the curve: the run's
    top is the highest the pen reaches there, the curve dilated by a disc (in signal terms),
    and its bottom the lowest. A morphological closing by the same disc (``_pen_filter``)
    returns the curve except in narrow valleys, an opening except at narrow peaks; both are
    exact on straight strokes. Where they part, the wave is a peak (take the closing) when it rises
    further above its surroundings than it falls below them, else a valley.

    The pen's sideways reach comes from its width (``line_px``, the flat runs' height) or, where
    less, from how wide the steep strokes are across (``side_px``, see ``side_width``): a blurred
    render's mask draws flat strokes fatter than steep ones, and undoing the flat width at a QRS
    peak cut it down (1.35 mV read 1.01 on a simulator page).

    Returns:
        the row of the curve in steep columns (a run taller than the pen: the envelopes' mean)
        and where closing and opening part by more than a pixel; NaN elsewhere (the darkness
        centroid is better there); None when there are too few columns or the pen is thin.
    """
    ok = np.isfinite(top)
    if ok.sum() < 5:
        return None
    cols = np.arange(top.size)
    rr = max(0.0, (line_px - 1.0) / 2.0)  # from the curve to its run's end pixel's centre
    if rr < 0.5:  # a pen under 2 px: its run is the curve's own height
        return None
    # Signal-up coordinates (v = -row), gaps bridged for the filters: the run's top and bottom
    # pixel centres, rr beyond the curve straight above and below it.
    upper = -np.interp(cols, cols[ok], top[ok])
    lower = -np.interp(cols, cols[ok], bottom[ok])
    reach = max(0.0, (line_px - _PEN_SIDE_LESS_PX) / 2.0)
    if side_px is not None:
        reach = min(reach, max(0.0, (side_px - _SIDE_LESS_PX) / 2.0))
    # Thick pens (9 px and more: a blur widens them too) are taken round; thin ones keep the
    # flat model, which read them better: per page of three tuning sets (flat PTB-XL renders,
    # flat and photographed simulator pages), round minus flat, pens of 4-6 px lost a median
    # 0.4-1.4 dB, those of 10 px and more gained 0.3-1.9 (8-9 px: -0.1 to +1.2). The blend
    # from 7 to 9 px was the best of three tried (6-8, 5-9) on those and ten photo sets.
    roundness = float(np.clip((line_px - _ROUND_FROM_PX) / 2.0, 0.0, 1.0))
    closing = _pen_filter(upper, reach, rr, erode=True, roundness=roundness)
    opening = _pen_filter(lower, reach, rr, erode=False, roundness=roundness)
    apart = closing - opening > 1.0
    # Steep columns (a run taller than the pen) take the envelopes' mean; flat ones are left
    # to the darkness centroid.
    steep = (bottom - top + 1) > line_px + 1.0
    out = np.where(steep, -(closing + opening) / 2.0, np.nan)
    if not apart.any():
        out[~ok] = np.nan
        return out
    # Each stretch where they part is judged against the level at its two ends.
    edges = np.diff(np.r_[0, apart.view(np.int8), 0])
    for a, b in zip(np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]):
        ends = [(closing[k] + opening[k]) / 2.0 for k in (max(a - 1, 0), min(b, top.size - 1))]
        level = np.interp(np.arange(a, b), [a - 1, b], ends)
        up = closing[a:b] - level
        down = level - opening[a:b]
        out[a:b] = -np.where(up >= down, closing[a:b], opening[a:b])
    out[~ok] = np.nan
    return out


def find_path(mask: np.ndarray, x0: int, x1: int, y0: int, y1: int, baseline: float,
              px_per_mm: float, line_px: float) -> tuple[np.ndarray, np.ndarray, float]:
    """The run of ink the trace takes in each column ``x0:x1`` (rows searched ``y0:y1``).

    Returns:
        (top, bottom, ambiguous): the run's first and last row per column in ``mask``'s frame
        (NaN where the column is empty), and the share of inked columns with several runs.
    """
    h, w = mask.shape
    x0, x1 = max(0, x0), min(w, x1)
    y0, y1 = max(0, y0), min(h, y1)
    n = max(0, x1 - x0)
    top, bottom = np.full(n, np.nan), np.full(n, np.nan)
    if n == 0 or y1 <= y0:
        return top, bottom, 0.0
    runs = column_runs(mask[y0:y1, x0:x1] > 0, bridge=max(2, int(round(line_px / 2))))
    choice, ambiguous = _best_path(runs, baseline - y0, px_per_mm)
    picked = [(i, runs[i][k]) for i, k in enumerate(choice) if k >= 0]
    if picked:
        idx = np.fromiter((i for i, _ in picked), int, len(picked))
        ends = np.array([r for _, r in picked], dtype=np.float64)
        top[idx], bottom[idx] = ends[:, 0], ends[:, 1]
    return top + y0, bottom + y0, ambiguous


def column_values(top: np.ndarray, bottom: np.ndarray, x0: int, line_px: float,
                  soft: np.ndarray | None = None, side_px: float | None = None) -> np.ndarray:
    """The trace's row in each column from its run (``top``/``bottom`` in the page frame):
    the darkness centroid on flat stretches, the pen-envelope estimate on steep and narrow
    waves (``_narrow_waves``; ``side_px``: the steep strokes' width across, see ``side_width``)."""
    n = top.size
    y = (top + bottom) / 2.0
    cols = np.nonzero(np.isfinite(top))[0]
    if soft is not None and cols.size:
        t, b = top[cols].astype(int), bottom[cols].astype(int) + 1
        ya, yb = int(t.min()), int(b.max())
        x1 = min(soft.shape[1], x0 + n)
        weight = np.zeros((yb - ya, n))
        weight[:, :x1 - x0] = soft[ya:yb, x0:x1].astype(np.float64) ** 2
        rows = np.arange(ya, yb, dtype=np.float64)[:, None]
        cum_w = np.vstack([np.zeros((1, n)), np.cumsum(weight, axis=0)])
        cum_wy = np.vstack([np.zeros((1, n)), np.cumsum(weight * rows, axis=0)])
        mass = cum_w[b - ya, cols] - cum_w[t - ya, cols]
        ok = mass > 1e-6
        y[cols[ok]] = (cum_wy[b[ok] - ya, cols[ok]] - cum_wy[t[ok] - ya, cols[ok]]) / mass[ok]
    spikes = _narrow_waves(top, bottom, line_px, side_px)
    if spikes is not None:
        y = np.where(np.isfinite(spikes), spikes, y)
    return y


def follow_trace(mask: np.ndarray, x0: int, x1: int, y0: int, y1: int, baseline: float,
                 px_per_mm: float, line_px: float | None = None, soft: np.ndarray | None = None) -> ColumnTrace:
    """Follow the trace through columns ``x0:x1`` of ``mask`` between rows ``y0:y1``.

    Args:
        mask: uint8 trace mask (nonzero on ink), working frame.
        baseline: the row the trace rests on (working pixels), used to break ties.
        line_px: the pen's width in pixels; estimated from the flat runs when None.
        soft: the anti-aliased darkness in [0, 1] (same frame as ``mask``): a run's centre is
            then its darkness-weighted centroid, to a fraction of a pixel.
    """
    if line_px is None:
        line_px = pen_width(mask[max(0, y0):y1, max(0, x0):x1])
    top, bottom, ambiguous = find_path(mask, x0, x1, y0, y1, baseline, px_per_mm, line_px)
    side_px = side_width(mask[max(0, y0):y1, max(0, x0):x1], line_px)
    y = column_values(top, bottom, max(0, x0), line_px, soft, side_px)
    return ColumnTrace(y, top, bottom, ambiguous)
