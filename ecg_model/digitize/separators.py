"""Lead-change marks as clocks: where one lead hands over to the next, printers draw a short
vertical line, and it stands at a known time (c x duration / leads in the row).

Without them the strip's end is the only mark of time on a page, and a poor one: it is read on
the soft, blurred end of a stroke (a fraction of a pixel off on a scan, up to a pixel in a
phone photo, where a pixel is 3-4 samples). A separator is a straight line: its centre does not
move with a blur and is read to a tenth of a pixel. On the real printouts the marks also show
what the grid cannot: their traces are drawn about 1 % narrower than their grid (the three
marks of every row lie about 69, 45 and 20 ms before where the grid puts them, and the strip's
start 95 ms), so lead boxes placed by the grid alone began up to 1.7 mm inside the previous lead.

A wave's steep stroke can pass for a mark; it leans, and it does not fall in line with the page's
other marks (one offset and one stretch for the whole page), which is how it is told apart.
"""

from __future__ import annotations

import numpy as np

# Where to look for a separator around its expected place, and which parts of it to read:
# two bands clear of the baseline (where the trace itself runs), above and below it (the
# synthetic printouts' marks reach 3 mm each way, the real ones' the whole row).
_SEARCH_MM = 3.0
_BAND_MM = (1.0, 2.6)
# Most slant (px across per px down) a mark may have: the marks read on the tuning renders lean
# 0.004 px per row at the 90th percentile, on the tuning photos 0.015 (the page is straightened
# by one homography); a QRS complex's steep stroke leans 0.05 and more.
_MAX_SLANT = 0.04
# Anchors that would stretch the time axis by more than this against the grid are not trusted.
_MAX_STRETCH = 0.03


def find_separator(ink: np.ndarray, x_expected: float, baseline: float, px_per_mm: float,
                   pen_px: float) -> float | None:
    """x of the lead-change mark near ``x_expected`` on the row resting on ``baseline``, in
    working pixels (centres on whole numbers); None when there is no clear one.

    ``ink`` is the grid-free soft ink (1 on a stroke's core), searched within 3 mm of the
    expected place. The mark's columns are inked on nearly every pixel row of two bands, 1 to
    2.6 mm above and below the baseline (where the trace itself runs flat); a wave crosses a
    band on a slant and fills a column over part of it only. They must form one line no wider
    than a pen and a half that stands straight, is not repeated 5 mm away and is clear of other
    ink on at least a third of those rows.
    """
    h, w = ink.shape
    a = int(np.floor(x_expected - _SEARCH_MM * px_per_mm))
    b = int(np.ceil(x_expected + _SEARCH_MM * px_per_mm)) + 1
    lo_mm, hi_mm = _BAND_MM
    ya0, ya1 = int(round(baseline - hi_mm * px_per_mm)), int(round(baseline - lo_mm * px_per_mm))
    yb0, yb1 = int(round(baseline + lo_mm * px_per_mm)), int(round(baseline + hi_mm * px_per_mm))
    if a < 0 or b > w or ya0 < 0 or yb1 > h or ya1 - ya0 < 3 or yb1 - yb0 < 3:
        return None
    up, down = ink[ya0:ya1, a:b] >= 0.5, ink[yb0:yb1, a:b] >= 0.5
    # The line's columns: inked on (nearly) every pixel row of both bands. A wave of the trace
    # crosses a band along a slant and fills a column over part of it only.
    solid = (up.mean(axis=0) >= 0.9) & (down.mean(axis=0) >= 0.9)
    cols = np.nonzero(solid)[0]
    if cols.size == 0 or cols[-1] - cols[0] + 1 > 1.5 * pen_px + 1 or cols.size != cols[-1] - cols[0] + 1:
        return None  # none, or more than one line, or a blot wider than a pen
    # A grid line that survived grid removal is solid too, but it repeats 5 mm away.
    centre = a + (cols[0] + cols[-1]) / 2.0
    for step in (-5.0 * px_per_mm, 5.0 * px_per_mm):
        c0, c1 = int(round(centre + step)) - 1, int(round(centre + step)) + 2
        if 0 <= c0 and c1 <= w and np.any((ink[ya0:ya1, c0:c1] >= 0.5).mean(axis=0) >= 0.9) \
                and np.any((ink[yb0:yb1, c0:c1] >= 0.5).mean(axis=0) >= 0.9):
            return None
    bands = np.vstack([ink[ya0:ya1, a:b], ink[yb0:yb1, a:b]])
    ys = np.r_[np.arange(ya0, ya1), np.arange(yb0, yb1)].astype(np.float64)
    # Straight up and down: a steep stroke of a QRS complex is inked through both bands too, but
    # on a slant. Measured on the rows where the ink within 3 px of the line is one run clear of
    # that window's edges (the whole cross-section, whichever way it leans).
    wlo, whi = max(0, cols[0] - 3), min(b - a, cols[-1] + 4)
    window = bands[:, wlo:whi]
    inked = window >= 0.2
    runs = np.count_nonzero(np.diff(np.pad(inked.view(np.int8), ((0, 0), (1, 0))), axis=1) == 1, axis=1)
    single = (runs == 1) & ~inked[:, 0] & ~inked[:, -1]
    if single.sum() < 3:
        return None
    lean = (window[single] * np.arange(window.shape[1])).sum(axis=1) / window[single].sum(axis=1)
    upper = single[:ya1 - ya0].sum()
    if upper >= 2 and single.sum() - upper >= 2:
        # The medians of the two bands, so that a row or two a stroke touches do not tilt it.
        slope = (np.median(lean[upper:]) - np.median(lean[:upper])) / \
            (np.mean(ys[single][upper:]) - np.mean(ys[single][:upper]))
    else:
        slope = np.polyfit(ys[single], lean, 1)[0]
    if abs(slope) > _MAX_SLANT:
        return None
    # Its centre on every pixel row where it stands alone (nothing within two pixels either side
    # of its columns): the darkness-weighted centroid, the median over those rows.
    lo, hi = max(0, cols[0] - 1), min(b - a, cols[-1] + 2)
    part = bands[:, lo:hi]
    alone = (bands[:, max(0, lo - 2):lo].max(axis=1, initial=0.0) < 0.2) & \
        (bands[:, hi:hi + 2].max(axis=1, initial=0.0) < 0.2)
    if alone.sum() < max(3, 0.3 * bands.shape[0]):
        return None
    centres = (part[alone] * np.arange(lo, hi)).sum(axis=1) / part[alone].sum(axis=1)
    return float(a + np.median(centres))


def separator_offsets(row_time: np.ndarray, found: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """(x, time the separator marks minus the time the row's clock reads there) per separator."""
    xs = np.arange(row_time.size, dtype=np.float64)
    return [(x, t - float(np.interp(x, xs, row_time))) for x, t in found]


def _consistent(readings: list[tuple[float, float]], tolerance_s: float) -> np.ndarray:
    """Which of a page's (x, offset) readings agree with one straight line through them all
    (the grid's clock is off by an offset and a stretch, the same along the page): a line fitted
    by least squares, then again without the readings further than ``tolerance_s`` from it."""
    x = np.array([r[0] for r in readings])
    d = np.array([r[1] for r in readings])
    keep = np.ones(x.size, bool)
    if x.size < 3:
        return keep
    for _ in range(3):
        if keep.sum() < 2 or np.ptp(x[keep]) <= 0:
            break
        coef = np.polyfit(x[keep], d[keep], 1)
        new = np.abs(d - np.polyval(coef, x)) <= tolerance_s
        if new.sum() < 2 or np.array_equal(new, keep):
            keep = new if new.sum() >= 2 else keep
            break
        keep = new
    return keep


def pool_offsets(offsets: list[list[tuple[float, float]]], n_cols: list[int], row_times: list[np.ndarray],
                 duration: float, tolerance_px: float) -> list[tuple[float, float]]:
    """One set of offsets for a page whose rows share a clock: for each lead change (a time
    at which some row switches leads), the median position and offset over the rows showing
    it. ``tolerance_px`` says how near a row's expected place for that change a reading must
    be to count for it."""
    changes = sorted({round(duration * c / n, 6) for n in n_cols for c in range(1, n)})
    pooled = []
    for t_c in changes:
        at = []
        for r, n in enumerate(n_cols):
            if not any(abs(duration * c / n - t_c) < 1e-6 for c in range(1, n)):
                continue
            xs = np.arange(row_times[r].size, dtype=np.float64)
            expected = float(np.interp(t_c, row_times[r], xs))
            at += [o for o in offsets[r] if abs(o[0] - expected) < tolerance_px]
        if at:
            pooled.append((float(np.median([x for x, _ in at])), float(np.median([d for _, d in at]))))
    return pooled


def anchored_time(row_time: np.ndarray, offsets: list[tuple[float, float]], x_end: float,
                  px_per_s: float, grid_scale: bool = True) -> np.ndarray:
    """The row's time per column corrected by the separators' ``offsets`` ((x, seconds), from
    ``separator_offsets``).

    The strip's end (``x_end``, where ``row_time`` already reads the strip's duration) is the
    last anchor, with no offset. Between anchors the correction is linear; before the first it
    carries on with the slope of the straight line through all the anchors where there are three
    or more (a trace drawn a little narrower than its grid, as on the real printouts, is
    stretched evenly), and holds the first anchor's offset where there are two and the grid set
    the scale (``grid_scale``): one mark cannot tell a stretch from its own reading error
    (carrying on with the one stretch's slope doubled that error at the strip's start; holding
    it raised the median SNR of each of fourteen tuning sets, flat and photographed, by 0.02-0.5
    dB). Where the calibration pulses set the scale (no grid found), that slope is kept: it
    corrects their coarser scale. Returns ``row_time`` itself (unchanged) when an anchor would
    stretch time by more than 3 % against the grid (a separator misread, or none printed where
    one was looked for).
    """
    if not offsets:
        return row_time
    xs = np.arange(row_time.size, dtype=np.float64)
    ax = np.array([x for x, _ in offsets] + [x_end])
    delta = np.array([d for _, d in offsets] + [0.0])
    order = np.argsort(ax)
    ax, delta = ax[order], delta[order]
    if np.any(np.diff(ax) <= 0):
        return row_time
    slopes = np.diff(delta) / np.diff(ax)
    if np.any(np.abs(slopes) * px_per_s > _MAX_STRETCH):
        return row_time
    correction = np.interp(xs, ax, delta)
    before = xs < ax[0]
    if ax.size >= 3:
        slope = float(np.polyfit(ax, delta, 1)[0])
    else:
        slope = 0.0 if grid_scale else float(slopes[0])
    correction[before] = delta[0] + slope * (xs[before] - ax[0])
    return np.maximum.accumulate(row_time + correction)


def set_clocks(row_times: list[np.ndarray], n_cols: list[int], baselines: list[float], ink: np.ndarray,
               px_per_mm: float, pen_px: float, duration: float, x_ends: list[float], px_per_s: float,
               shared: bool, grid_scale: bool = True) -> tuple[list[np.ndarray], list[int], list[float | None]]:
    """Every row's clock (time per column) set by the lead-change marks read on the page.

    With ``shared`` (a flat page: one clock for all rows) each mark's offset is the median of
    the rows' readings (a wave touching the mark misleads one row only) and a row without
    marks (a rhythm strip) runs on it too. Otherwise (a photo, whose rows' ends and scales
    differ; pooling them lost 0.2 dB on the tuning photos) a row with marks keeps its own and
    the others take the pooled ones. ``grid_scale``: the grid set the page's scale (see
    ``anchored_time``).

    Returns:
        (the rows' clocks, marks read (and kept) on each row, how far each row's strip start moved in ms,
        None where no mark set the clock).
    """
    xs = np.arange(row_times[0].size, dtype=np.float64) if row_times else np.zeros(0)
    own: list[list[tuple[float, float]]] = []
    for r, n in enumerate(n_cols):
        found = []
        for c in range(1, n):
            t_c = duration * c / n
            x = find_separator(ink, float(np.interp(t_c, row_times[r], xs)), baselines[r], px_per_mm, pen_px)
            if x is not None:
                found.append((x, t_c))
        own.append(separator_offsets(row_times[r], found))
    # A page's readings agree with one line (its clock is off by an offset and a stretch) to a
    # fraction of a pixel on a flat page (0.5 px allowed), to about a pixel in a photo (1.5 px);
    # one that does not is a wave's stroke taken for a mark, and is dropped.
    flat = [o for row in own for o in row]
    keep = iter(_consistent(flat, (0.5 if shared else 1.5) / px_per_s).tolist())
    own = [[o for o in row if next(keep)] for row in own]
    pooled = pool_offsets(own, n_cols, row_times, duration, 3 * px_per_mm)
    clocks: list[np.ndarray] = []
    moved: list[float | None] = []
    for r, row_time in enumerate(row_times):
        fixed = anchored_time(row_time, own[r] if own[r] and not shared else pooled, x_ends[r], px_per_s, grid_scale)
        start = int(np.clip(np.searchsorted(row_time, 0.0), 0, row_time.size - 1))
        moved.append(None if fixed is row_time else round(float(fixed[start] - row_time[start]) * 1000.0, 1))
        clocks.append(fixed)
    return clocks, [len(o) for o in own], moved
