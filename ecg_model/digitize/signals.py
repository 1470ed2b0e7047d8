"""From the cleaned, calibrated page to each lead's signal in millivolts at 500 Hz.

The page gives the scales: the grid's pitch (px per mm) turns 25 mm/s and 10 mm/mV (or the
gain the calibration pulse shows) into seconds and millivolts; the layout says which lead
sits in which part of which row, and each lead's samples cover its own time span.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ECGImageError
from ..imaging.grid import darkness
from ..imaging.pipeline import PipelineResult
from ..layouts import LAYOUTS, LEADS, box_name
from .limb import LIMB_LEADS, MISMATCH_FLAG, reconcile
from .pulse import Pulse, find_pulse
from .ruler import grid_map, row_drift, row_ruler
from .separators import set_clocks
from .trace import ColumnTrace, column_values, find_path, pen_width, side_width

FS = 500
PAPER_SPEED_MM_S = 25.0
# Soft-ink level down to which faint strokes touching the traces are taken in.
FAINT_LEVEL = 0.4
# Degree of the polynomial the grid ruler fits along each row.
RULER_DEGREE = 2
# Gaps (columns without ink) longer than this are flagged; shorter ones are interpolated
# without comment (a faint stretch of a photo, a separator).
_GAP_FLAG_MM = 2.0


@dataclass
class LeadSignal:
    """One printed lead box, digitised.

    Attributes:
        name: box name ("II" or "II (rhythm)").
        lead: the lead it shows.
        start_s: time of its first sample from the start of the strip.
        values_mv: the signal at ``FS`` Hz over the box's time span (NaN where unreadable).
        coverage: share of the box's columns where the trace was found.
        flags: quality flags: "missing", "gaps", "clipped", "crossing", "no_pulse", "limb_mismatch".
        pixel_y: per column of the box, the trace's row in working pixels (for display).
        x0: the box's first column in working pixels.
    """

    name: str
    lead: str
    start_s: float
    values_mv: np.ndarray
    coverage: float
    flags: list[str] = field(default_factory=list)
    pixel_y: np.ndarray | None = None
    x0: int = 0

    @property
    def start_index(self) -> int:
        return int(round(self.start_s * FS))

    def to_json(self) -> dict[str, Any]:
        finite = np.isfinite(self.values_mv)
        return {"name": self.name, "lead": self.lead, "start_s": round(self.start_s, 4),
                "n_samples": int(self.values_mv.size), "coverage": round(self.coverage, 4),
                "readable_share": round(float(finite.mean()) if finite.size else 0.0, 4),
                "flags": list(self.flags)}


@dataclass
class Digitization:
    """The 12 leads read from one page.

    Attributes:
        fs: samples per second.
        duration_s: length of the full strip.
        layout: the page's layout.
        px_per_mm: the grid pitch in working pixels.
        gain_mm_per_mv: the printed gain.
        leads: box name -> its signal.
        rows: per trace row, how its zero line was found ("pulse" or "baseline") and where.
        flags: page-level notes.
        timings_ms: time spent digitising.
        limb_leads_reconciled: whether the limb leads' values are the least-squares fit of
            Einthoven's and Goldberger's laws to their prints (``limb.reconcile``) rather than
            each print as read.
    """

    fs: int
    duration_s: float
    layout: str
    px_per_mm: float
    gain_mm_per_mv: float
    leads: dict[str, LeadSignal]
    rows: list[dict[str, Any]]
    flags: list[str] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    limb_leads_reconciled: bool = False

    @property
    def n_samples(self) -> int:
        return int(round(self.duration_s * self.fs))

    def matrix(self) -> np.ndarray:
        """(n_samples, 12) in mV, LEADS order, NaN where a lead was not printed or not read.

        A lead printed twice (a rhythm strip) takes the longer print where they overlap.
        """
        out = np.full((self.n_samples, len(LEADS)), np.nan, np.float64)
        for sig in sorted(self.leads.values(), key=lambda s: s.values_mv.size):
            j = LEADS.index(sig.lead)
            a = sig.start_index
            b = min(self.n_samples, a + sig.values_mv.size)
            if b <= a:
                continue
            seg = sig.values_mv[:b - a]
            keep = np.isfinite(seg)
            out[a:b, j][keep] = seg[keep]
        return out

    def to_json(self) -> dict[str, Any]:
        return {"fs": self.fs, "duration_s": round(self.duration_s, 4), "layout": self.layout,
                "px_per_mm": round(self.px_per_mm, 4), "gain_mm_per_mv": self.gain_mm_per_mv,
                "rows": self.rows, "flags": list(self.flags),
                "limb_leads_reconciled": self.limb_leads_reconciled,
                "leads": {name: sig.to_json() for name, sig in self.leads.items()},
                "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()}}


def _snap_gain(pulse_gain_mm: float) -> float | None:
    """The standard gain the pulses show, or None when they show none clearly.

    10 mm/mV is by far the most common and is taken within 15 %; half and double gain need
    the pulses within 8 % of 5 or 20 mm, since a pulse misread in a photo would otherwise
    halve or double every lead. The grid's pitch is measured over the whole page and is more
    precise than one pulse's height, so the standard value is used rather than the pulse's.
    """
    if abs(pulse_gain_mm / 10.0 - 1.0) <= 0.15:
        return 10.0
    for g in (5.0, 20.0):
        if abs(pulse_gain_mm / g - 1.0) <= 0.08:
            return g
    return None


def _row_pulses(mask: np.ndarray, baselines: list[float], x_left: float, x_right: float,
                ppm: float) -> list[Pulse | None]:
    """Each row's calibration pulse between columns ``x_left:x_right`` (None where none), each
    looked for below the row above."""
    return [find_pulse(mask, int(x_left), int(x_right), b, ppm, room_above=None if r == 0 else b - baselines[r - 1])
            for r, b in enumerate(baselines)]


# A printed page is A4 (297 mm) or US Letter (279 mm) across: a prior for the millimetre on a
# page whose grid was not found, good to about 6 % on a page seen whole.
_PAGE_MM = 288.0


def _scale_from_pulses(result: PipelineResult) -> tuple[float, float, int] | None:
    """(px per mm, gain in mm/mV, the pulses' right edge) from the calibration pulses, for a
    page whose grid was not found (a blurred photo's faint grid).

    A pulse is 1 mV tall: 10 mm at the usual gain, 5 or 20 mm at half or double. Which of the
    three is the one that puts the page's width near a printed page's (A4 or US Letter), taken
    within 25 %: the three lie a factor of two apart. The pulse's width cannot tell them apart
    (0.2 s on `synth`'s pages, 0.1 s on the Mendeley printer's). Needs three pulses or more
    within 3 % of their median height; None otherwise.
    """
    if result.trace_span is None or len(result.baselines) < 3:
        return None
    guess = result.work_width / _PAGE_MM
    baselines = list(result.baselines)
    first = result.trace_span[0]
    found: list[Pulse] = []
    # Before the traces start, as where the grid gave the scale; failing that, 8 mm into them
    # as well: a pulse joined to its trace (a bold pen) counts as the trace's start. Not both
    # at once: the trace's own baseline can then pass for the pulse's foot (a Mendeley page's
    # pulses read 8.4 instead of 9.9 mm).
    for reach in (-0.2, 8.0):
        pulses = _row_pulses(result.ink_mask, baselines, first - 25 * guess, first + reach * guess, guess)
        found = [p for p in pulses if p is not None]
        if len(found) >= 3:
            break
    if len(found) < 3:
        return None
    height = float(np.median([p.height_px for p in found]))
    agree = [p for p in found if abs(p.height_px / height - 1.0) <= 0.03]
    if len(agree) < 3:
        return None
    for gain in (10.0, 5.0, 20.0):
        if 0.8 <= (height / gain) / guess <= 1.25:
            return height / gain, gain, int(np.median([p.x1 for p in agree]))
    return None


def _row_ends(soft: np.ndarray, last: int, baselines: list[float], pitch: float,
              level: float) -> list[float | None]:
    """Where each row's trace stops, to a fraction of a pixel: the last column where the
    darkness summed across the row is still half the pen's (``level``, the darkness of one
    column of line; a blur leaves the half-way point in place). None where not found."""
    h, w = soft.shape
    a, b = max(0, last - 60), min(w, last + 6)
    ends: list[float | None] = []
    for base in baselines:
        band = soft[max(0, int(base - 0.45 * pitch)):min(h, int(base + 0.45 * pitch)), a:b]
        m = band.sum(axis=0)
        above = np.nonzero(m >= level / 2.0)[0] if level > 0 else np.array([], int)
        if above.size == 0 or above[-1] + 1 >= m.size:
            ends.append(None)
            continue
        k = int(above[-1])
        frac = (m[k] - level / 2.0) / max(float(m[k] - m[k + 1]), 1e-6)
        ends.append(a + k + 0.5 + float(np.clip(frac, 0.0, 1.0)))
    return ends


def _linear_row_ends(flat: np.ndarray, mask: np.ndarray, last: int, baselines: list[float],
                     pitch: float) -> list[tuple[float, float] | None]:
    """Where each row's trace stops, and how wide its pen is, from the page's own darkness.

    Summed down a column, the darkness of a stroke adds up linearly (unlike the clipped ink
    ramp of ``_row_ends``), so a blur does not move the point where the sum is half way down
    past the stroke's end, and the sum along a flat stretch over the ink's darkness is the
    pen's true width. The paper and grid are the darkness just above and below the stroke in
    the same column. The half-way point lies past the last sample by a share of the pen's
    width (its round end), which ``_strip_span`` takes off.

    Returns:
        per row, (x of the half-way point in working pixels, pixel centres on whole numbers;
        pen width in px), or None where the end is not clear (no contrast, ink beyond it).
    """
    h, w = mask.shape
    a, b = max(0, last - 20), min(w, last + 14)
    if b - a < 24 or last - a < 8:  # no room for the full stroke before the end, or the paper after
        return [None] * len(baselines)
    dark = darkness(np.ascontiguousarray(flat[:, a:b]))
    ends: list[tuple[float, float] | None] = []
    for base in baselines:
        y0, y1 = max(0, int(base - 0.45 * pitch)), min(h, int(base + 0.45 * pitch))
        near = mask[y0:y1, max(a, last - 14):min(b, last + 2)] > 0
        rows = np.nonzero(near.any(axis=1))[0]
        if rows.size == 0:
            ends.append(None)
            continue
        top, bot = y0 + int(rows[0]) - 3, y0 + int(rows[-1]) + 4
        if top - 5 < 0 or bot + 5 > h:
            ends.append(None)
            continue
        bg = np.median(np.vstack([dark[top - 5:top], dark[bot:bot + 5]]), axis=0)
        m = (dark[top:bot] - bg[None, :]).sum(axis=0)
        k_last = last - a
        full = float(np.median(m[max(0, k_last - 12):k_last - 3]))
        floor = float(np.median(m[k_last + 5:k_last + 12])) if k_last + 12 <= m.size else 0.0
        if full - floor < 0.5:
            ends.append(None)
            continue
        half = floor + 0.5 * (full - floor)
        window = np.arange(max(0, k_last - 6), min(m.size - 1, k_last + 5))
        above = window[m[window] >= half]
        if above.size == 0 or m[above[-1] + 1] >= half:
            ends.append(None)
            continue
        k = int(above[-1])
        frac = (m[k] - half) / max(float(m[k] - m[k + 1]), 1e-6)
        core = dark[top:bot, max(0, k_last - 12):k_last - 3]
        ink = float(np.percentile(core, 99)) - float(np.median(bg))
        ends.append((a + k + float(np.clip(frac, 0.0, 1.0)), (full - floor) / max(ink, 0.05)))
    return ends


# The pen's end reaches past the last sample drawn (its round cap, the blur): the two measures
# of where a row stops (``_row_ends`` on the clipped ink ramp, ``_linear_row_ends`` on the
# page's darkness) are corrected by these linear models of the pen's width, fitted to the true
# last sample on synthetic printouts of tuning seeds (5 and 9 flat, 5 from the simulator; none
# reported), in working pixels with pixel centres on whole numbers.
_SOFT_CAP = (0.334, -0.855)  # x_last = crossing - (a * darkness-weighted pen width + b)
_LINEAR_CAP = (0.194, -0.038)  # x_last = crossing - (a * linear pen width + b)
# In a photo the blur and the JPEG widen the pen's mask (``line_px``) and its darkness-weighted
# width (``soft_px``) by different amounts, and the ramp's half-way point past a row's end moves
# with the two: crossing - (one past the last sample) = a * soft_px + b * line_px + c, in working
# pixels, fitted (robustly) on the rows of four tuning photo sets, two of PTB-XL records (seeds 6
# and 10) and two of simulated ones (8 and 13), and kept within the values seen there. Rows' ends
# against the truth, in samples, the flat pages' model (``_SOFT_CAP``, less half a pixel) -> this
# one: median -1.20 -> -0.55, median |error| 1.45 -> 1.14, 90th percentile 4.4 -> 3.3 on eight
# PTB-XL photo sets it was not fitted on (seeds 20 to 90); -0.50 -> +0.50, 1.50 -> 1.43, 4.2 ->
# 4.0 on a simulated one (14). A model fitted on the PTB-XL photos alone read the simulated
# photos' ends worse than the old one (median SNR -0.2 to -0.7 dB per set).
_PHOTO_END = (0.981, -0.72, -0.122)
_PHOTO_END_RANGE = (-1.0, 2.0)


def _photo_end_reach(soft_px: float, line_px: float) -> float:
    """How far the ramp's half-way point lies past one sample beyond a photographed row's last."""
    a, b, c = _PHOTO_END
    return float(np.clip(a * soft_px + b * line_px + c, *_PHOTO_END_RANGE))


def _settle(ends: list[float | None], tolerance: float) -> list[float] | None:
    """Each row's end, or the rows' median for a row that found none or strays beyond
    ``tolerance`` from it (a row that stops early, a mark after its end); None if no row has one."""
    known = [e for e in ends if e is not None]
    if not known:
        return None
    median = float(np.median(known))
    return [e if e is not None and abs(e - median) <= tolerance else median for e in ends]


def _strip_span(result: PipelineResult, ppm_t: float, soft_px: float, fs: int,
                pitch: float, photo: bool, line_px: float) -> tuple[float, list[float], float]:
    """(x of time zero, x one sample past the last for each row, duration in s).

    Every row ends at the same time; in a photo the rows' ends need not line up, so each row
    keeps its own end unless it strays more than 3 mm from the others' median. Where each row's
    last sample lies is read twice: on the clipped ink ramp, whose half-way point past a
    stroke's end moves with the pen (``soft_px`` is the darkness-weighted width, see
    ``pen_width``), and on the page's darkness, whose half-way point moves with the pen's true
    width only. Each is corrected by its fitted model (``_SOFT_CAP``, ``_LINEAR_CAP``) and, on
    flat pages, the two are averaged: alone, each was the worse one on some of the tuning sets
    (the ramp by 2.6 dB median SNR on a pen and paper it was not fitted on), the mean never.
    In a photo the ramp alone is read, and how far its half-way point lies past the strip's end
    is told by the pen's darkness-weighted width beside its mask width (``_photo_end_reach``).
    A strip is a whole number of seconds long (10 s on the usual printouts), so a calibration
    pulse still joined to the traces does not move time zero.
    """
    assert result.trace_span is not None
    first, last = result.trace_span
    n_rows = len(result.baselines)
    tolerance = 3 * ppm_t
    soft_ends = _row_ends(result.ink_soft, last, list(result.baselines), pitch, soft_px)
    step = PAPER_SPEED_MM_S * ppm_t / fs
    if photo:
        reach = _photo_end_reach(soft_px, line_px)
        soft_last = _settle([None if e is None else e - reach - step for e in soft_ends], tolerance)
    else:
        # ``_row_ends`` puts column k's centre at k + 1/2, hence the half pixel taken off.
        cap = _SOFT_CAP[0] * soft_px + _SOFT_CAP[1]
        soft_last = _settle([None if e is None else e - 0.5 - cap for e in soft_ends], tolerance)
    # The page's darkness is read on flat pages only: in a photo the paper's shading and noise
    # beside the stroke made the pen's width vary by half from row to row.
    linear = _linear_row_ends(result.flat, result.ink_mask, last, list(result.baselines), pitch) \
        if result.flat is not None and not photo else [None] * n_rows
    # A row's reading counts where its pen width is plausible beside the ramp's (0.57-1.33 times
    # it on the tuning printouts) and near the other rows' (a band holding other ink is not).
    linear = [e if e is not None and 0.5 * soft_px <= e[1] <= 1.5 * soft_px else None for e in linear]
    widths = [e[1] for e in linear if e is not None]
    if widths:
        typical = float(np.median(widths))
        linear = [e if e is not None and abs(e[1] / typical - 1.0) <= 0.3 else None for e in linear]
        widths = [e[1] for e in linear if e is not None]
    linear_last = None
    if 2 * len(widths) >= n_rows:  # a pen width read on half the rows at least
        cap = _LINEAR_CAP[0] * float(np.median(widths)) + _LINEAR_CAP[1]
        linear_last = _settle([None if e is None else e[0] - cap for e in linear], tolerance)
    if soft_last is not None and linear_last is not None:
        x_lasts = [(u + v) / 2.0 for u, v in zip(soft_last, linear_last)]
    else:
        x_lasts = soft_last or linear_last or [float(last) - soft_px / 2.0] * n_rows
    x_ends = [x + step for x in x_lasts]
    x_end = float(np.median(x_ends))
    span_s = (x_end - first) / (PAPER_SPEED_MM_S * ppm_t)
    duration = float(round(span_s)) if span_s >= 2.0 and abs(span_s - round(span_s)) < 0.45 else span_s
    return x_end - duration * PAPER_SPEED_MM_S * ppm_t, x_ends, duration


def _with_faint_strokes(mask: np.ndarray, faint: np.ndarray,
                        box: tuple[int, int, int, int] | None) -> tuple[np.ndarray, np.ndarray]:
    """The trace mask grown by the faint strokes that touch it (a blurred photo's QRS spikes are
    thin and pale, and the thresholds that keep the grid out drop them), and the soft ink on
    that mask."""
    import cv2

    x0, y0, x1, y1 = box or (0, 0, mask.shape[1], mask.shape[0])
    cand = (faint[y0:y1, x0:x1] >= FAINT_LEVEL).astype(np.uint8) | (mask[y0:y1, x0:x1] > 0)
    n, labels = cv2.connectedComponents(cand, connectivity=8)
    touching = np.zeros(n, bool)
    touching[np.unique(labels[mask[y0:y1, x0:x1] > 0])] = True
    touching[0] = False
    grown = mask.copy()
    grown[y0:y1, x0:x1] = np.where(touching[labels], 255, 0).astype(np.uint8)
    soft = np.where(grown > 0, faint, 0.0).astype(np.float32)
    return grown, soft


def _split_merged_runs(paths: dict[str, tuple[np.ndarray, np.ndarray, float, int, int, int]],
                       baselines: list[float], hidden: dict | None = None) -> dict[str, float]:
    """Where the traces of two neighbouring rows touch, give each its own side of the midline.

    A tall wave of one row reaching the next row's trace makes one run of ink in those
    columns, which both rows' paths take; read whole, each would show the other's wave. In
    such columns each row keeps the part of the run on its side of the line half-way between
    the two baselines (a wave of its own beyond that line is cut there: a smaller error than
    a neighbour's wave), and a run lying wholly on the other side is left out (interpolated).
    The cut columns are noted in ``hidden`` (box name -> (columns, the run's edge before the
    cut, direction past the cut, the cut's row)) for ``_beyond_cut`` to carry the wave on.

    Returns:
        box name -> share of its columns that touched a neighbour (edited in place in ``paths``).
    """
    share: dict[str, float] = {}
    by_row: dict[int, list[str]] = {}
    for name, (*_, r, _c) in paths.items():
        by_row.setdefault(r, []).append(name)
    for r in sorted(by_row):
        for upper in by_row[r]:
            for lower in by_row.get(r + 1, []):
                ut, ub, _, ux0, *_ = paths[upper]
                lt, lb, _, lx0, *_ = paths[lower]
                a, b = max(ux0, lx0), min(ux0 + ut.size, lx0 + lt.size)
                if b <= a:
                    continue
                mid = (baselines[r] + baselines[r + 1]) / 2.0
                us, ls = slice(a - ux0, b - ux0), slice(a - lx0, b - lx0)
                touch = np.isfinite(ub[us]) & np.isfinite(lt[ls]) & (ub[us] >= lt[ls] - 1)
                if not touch.any():
                    continue
                idx_u = np.nonzero(touch)[0] + (a - ux0)
                idx_l = np.nonzero(touch)[0] + (a - lx0)
                if hidden is not None:
                    cut_u = idx_u[ub[idx_u] > np.floor(mid)]
                    cut_l = idx_l[lt[idx_l] < np.ceil(mid)]
                    hidden.setdefault(upper, []).append((cut_u, ub[cut_u].copy(), 1.0, float(np.floor(mid))))
                    hidden.setdefault(lower, []).append((cut_l, lt[cut_l].copy(), -1.0, float(np.ceil(mid))))
                # The upper row keeps rows up to the midline, the lower row from it.
                ub[idx_u] = np.minimum(ub[idx_u], np.floor(mid))
                lt[idx_l] = np.maximum(lt[idx_l], np.ceil(mid))
                gone_u = idx_u[ut[idx_u] > ub[idx_u]]
                ut[gone_u] = ub[gone_u] = np.nan
                gone_l = idx_l[lt[idx_l] > lb[idx_l]]
                lt[gone_l] = lb[gone_l] = np.nan
                for name, n in ((upper, ut.size), (lower, lt.size)):
                    share[name] = share.get(name, 0.0) + float(touch.sum()) / max(n, 1)
    return share


def _ink_reach(mask: np.ndarray, xs: np.ndarray, edge: np.ndarray, direction: float, limit: int) -> np.ndarray:
    """How far the ink runs on from each ``edge`` (a row, per column ``xs``) in ``direction``
    (+1 down, -1 up), up to ``limit`` rows or the image's edge: the search band may have cut a
    run short. All columns at once (a loop over them was 2 % of a page's digitising)."""
    h, w = mask.shape
    out = edge.astype(np.float64).copy()
    ok = (xs >= 0) & (xs < w) & np.isfinite(edge)
    if not ok.any():
        return out
    start = edge[ok].astype(int)
    rows = start[:, None] + int(direction) * np.arange(1, limit + 1)[None, :]
    inside = (rows >= 0) & (rows < h)
    ink = inside & (mask[np.clip(rows, 0, h - 1), xs[ok].astype(int)[:, None]] > 0)
    # Steps taken before the first one off the ink (all of them where the ink never stops).
    k = np.where(ink.all(axis=1), limit, np.argmin(ink, axis=1))
    out[ok] = edge[ok] + direction * k
    return out


def _beyond_cut(y: np.ndarray, idx: np.ndarray, edge: np.ndarray, direction: float, radius: float,
                cut: float) -> np.ndarray:
    """Where a wave ran into the neighbouring row's trace and was cut at the midline (``cut``,
    the row past which ``direction`` points), its tip is hidden in the other trace's ink: carry
    on the strokes that lead into and out of the cut (a wave's two flanks, extended to where
    they meet), no further than the ink went (``edge`` per cut column of ``idx``)."""
    if idx.size == 0:
        return y
    y = y.copy()
    n = y.size
    # Columns whose reading sits on the cut: the wave went on past it there.
    near = np.zeros(n, bool)
    near[idx] = True
    # A column or two between cut ones (where the runs parted for a moment) belongs with them.
    near = np.convolve(near, np.ones(5), mode="same") > 0
    pinned = near & (direction * (np.nan_to_num(y, nan=cut) - cut) > -2.0 * radius)
    reach = np.interp(np.arange(n), idx, edge - direction * radius)
    edges = np.diff(np.r_[0, pinned.view(np.int8), 0])
    for a, b in zip(np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]):
        if a < 2 or b + 2 > n or not np.all(np.isfinite(y[[a - 2, a - 1, b, b + 1]])):
            continue
        into, out = y[a - 1] - y[a - 2], y[b] - y[b + 1]
        # The flanks must head into the cut from both sides to meet beyond it.
        if direction * into <= 0 or direction * out <= 0:
            continue
        c = np.arange(a, b, dtype=np.float64)
        before = y[a - 1] + into * (c - (a - 1))
        after = y[b] + out * (b - c)
        tip = direction * np.minimum(direction * before, direction * after)
        tip = direction * np.minimum(direction * tip, direction * reach[a:b])
        cur = y[a:b]
        y[a:b] = np.where(direction * (tip - cur) > 0, tip, cur)
    return y


def _calibration(mask: np.ndarray, baselines: list[float], x_start: float, ppm: float,
                 flags: list[str]) -> tuple[list[Pulse | None], float]:
    """Each row's calibration pulse (None where not found or not trusted) and the gain in
    mm/mV; what was assumed is added to ``flags``."""
    pulses = _row_pulses(mask, baselines, x_start - 25 * ppm, x_start - 0.2 * ppm, ppm)
    gains = [p.gain_mm_per_mv(ppm) for p in pulses if p is not None]
    gain = _snap_gain(float(np.median(gains))) if gains else None
    if gain is None:
        if gains:
            flags.append(f"calibration pulses {float(np.median(gains)):.1f} mm tall match no standard gain: "
                         "ignored; 10 mm/mV assumed, zero taken from each row's baseline")
        else:
            flags.append("no calibration pulse found: 10 mm/mV assumed, zero taken from each row's baseline")
        return [None] * len(pulses), 10.0
    # A pulse far from the others' height is a misreading: its row falls back to its baseline.
    return [p if p is not None and abs(p.gain_mm_per_mv(ppm) / gain - 1.0) <= 0.15 else None
            for p in pulses], gain


def _row_mode(ys: np.ndarray) -> float | None:
    """The row where a trace lingers most: its isoelectric line."""
    ys = ys[np.isfinite(ys)]
    if ys.size < 10:
        return None
    lo = np.floor(ys.min())
    hist = np.bincount(np.round(ys - lo).astype(int))
    smooth = np.convolve(hist, np.ones(3) / 3.0, mode="same")
    k = int(np.argmax(smooth))
    near = ys[np.abs(ys - lo - k) <= 1.5]
    return float(near.mean()) if near.size else float(lo + k)


def digitize(result: PipelineResult, fs: int = FS, reconcile_limb_leads: bool | None = None) -> Digitization:
    """Read every lead's signal off the cleaned page.

    ``reconcile_limb_leads``: fit the limb leads' prints together by Einthoven's and Goldberger's
    laws (``limb.reconcile``); False keeps each print as read; None (the default) does it on
    photographed pages, where each print's reading errors are large and independent enough for
    the fit to average them out (eleven tuning photo sets: +0.2 to +0.6 dB median SNR each; four flat
    sets, read within a few hundredths of a millivolt: -0.3 to +0.1).

    Raises:
        ECGImageError: kind "rejected" when the page cannot be read: refused by the quality
            gate, no grid to measure millimetres, or no known layout.
    """
    t0 = time.perf_counter()
    if not result.gate.ok:
        raise ECGImageError("cannot digitise this image: " + result.gate.message, kind="rejected")
    scale_note = None
    if result.px_per_mm is None:
        scale = _scale_from_pulses(result) if result.layout is not None else None
        if scale is None:
            raise ECGImageError("cannot digitise this image: no ECG grid was found to measure millimetres "
                                "and seconds by", kind="rejected")
        scale_note = (f"no ECG grid found: millimetres and seconds measured on the calibration pulses "
                      f"(taken as {scale[1]:g} mm/mV, the gain that fits a printed page's width); less "
                      f"precise than a grid")
        # The traces start after the pulses (the span found without a scale may hold them).
        first, last = result.trace_span or (0, 0)
        result = dataclasses.replace(result, px_per_mm=scale[0], px_per_mm_x=None,
                                     trace_span=(max(first, scale[2] + 1), last))
    if result.layout is None or result.trace_span is None or not result.baselines:
        raise ECGImageError("cannot digitise this image: the arrangement of the leads was not recognised "
                            f"(found {len(result.baselines)} trace rows; known layouts have 3, 4, 6 or 12)",
                            kind="rejected")
    if result.flat is None or result.ink_soft is None or result.ink_faint is None:
        raise ValueError("digitize needs the pipeline's maps: run_pipeline(..., keep_maps=True)")
    ppm = float(result.px_per_mm)
    # A page read after a quarter or half turn (``turned_deg``) is no photo for that alone.
    residual = (result.deskew_deg + 45.0) % 90.0 - 45.0
    photo = result.paper_corners is not None or abs(residual) > 0.5
    mask, soft_map = _with_faint_strokes(result.ink_mask, result.ink_faint, result.crop_box)
    h, w = mask.shape
    rows = LAYOUTS[result.layout]
    baselines = list(result.baselines)
    x0, y0, x1, y1 = result.crop_box or (0, 0, w, h)
    line_px = pen_width(mask[y0:y1, x0:x1])
    side_px = side_width(mask[y0:y1, x0:x1], line_px)
    # The darkness-weighted pen width of the strokes kept by the pipeline (the end-of-strip
    # correction was fitted on it).
    soft_px = pen_width(result.ink_mask[y0:y1, x0:x1], result.ink_soft[y0:y1, x0:x1])
    # Time runs along x: its own pitch is more precise there than the page's mean of x and y.
    ppm_t = float(result.px_per_mm_x) if result.px_per_mm_x and abs(result.px_per_mm_x / ppm - 1) < 0.02 else ppm
    pitch = float(np.median(np.diff(baselines))) if len(baselines) > 1 else 40.0 * ppm
    x_start, x_ends, duration = _strip_span(result, ppm_t, soft_px, fs, pitch, photo, line_px)
    # Time along each row, from the grid's local phase where the grid shows (see ruler.py):
    # t(x) = duration - (mm(x_end) - mm(x)) / 25 mm/s.
    xs = np.arange(w, dtype=np.float64)
    grid, weight = grid_map(result.flat, mask)
    row_time: list[np.ndarray] = []
    for base, x_end in zip(baselines, x_ends):
        mm, _ = row_ruler(grid, weight, int(base - 0.5 * pitch), int(base + 0.5 * pitch), ppm_t,
                          span=result.trace_span, degree=RULER_DEGREE, keep_scale=photo)
        t = duration - (np.interp(x_end, xs, mm) - mm) / PAPER_SPEED_MM_S
        row_time.append(np.maximum.accumulate(t))
    # The lead-change marks, where printed, set each row's clock (see separators.py).
    row_time, marks_read, clock_ms = set_clocks(
        row_time, [len(row) for row in rows], baselines, result.ink_faint, ppm, line_px, duration, x_ends,
        PAPER_SPEED_MM_S * ppm_t, shared=not photo, grid_scale=scale_note is None)
    flags: list[str] = list(result.notes) + ([scale_note] if scale_note else [])
    if duration != round(duration):
        flags.append(f"strip of {duration:.2f} s is not a whole number of seconds; time zero may be off")

    pulses, gain = _calibration(mask, baselines, x_start, ppm, flags)
    gain_px = gain * ppm

    paths: dict[str, tuple[np.ndarray, np.ndarray, float, int, int, int]] = {}
    for r, row in enumerate(rows):
        base = baselines[r]
        ya, yb = int(base - 0.9 * pitch), int(base + 0.9 * pitch) + 1
        # Column boundaries where this row's time reaches each lead's start.
        edges = np.interp(duration * np.arange(len(row) + 1) / len(row), row_time[r], xs)
        for c, lead in enumerate(row):
            bx0 = int(np.ceil(edges[c]))
            bx1 = int(np.floor(edges[c + 1]))
            top, bottom, amb = find_path(mask, bx0, bx1, ya, yb, base, ppm, line_px)
            paths[box_name(result.layout, r, lead)] = (top, bottom, amb, bx0, r, c)
    hidden: dict[str, list[tuple[np.ndarray, np.ndarray, float, float]]] = {}
    merged = _split_merged_runs(paths, baselines, hidden)
    traces: dict[str, tuple[ColumnTrace, int, int, int]] = {}
    for name, (top, bottom, amb, bx0, r, c) in paths.items():
        y = column_values(top, bottom, bx0, line_px, soft_map, side_px)
        for idx, edge, direction, cut in hidden.get(name, []):
            edge = _ink_reach(mask, bx0 + idx, edge, direction, int(pitch))
            y = _beyond_cut(y, idx, edge, direction, line_px / 2.0, cut)
        traces[name] = (ColumnTrace(y, top, bottom, max(amb, merged.get(name, 0.0))), bx0, r, c)
    row_info: list[dict[str, Any]] = []
    zeros: list[np.ndarray] = []  # per row, the 0 mV line at every column
    for r, row in enumerate(rows):
        # On a photographed page the sheet may bow: the horizontal grid lines say by how much
        # the paper under this row moves up or down along x.
        drift = None
        if photo:
            drift = row_drift(grid, weight, int(baselines[r] - 0.5 * pitch), int(baselines[r] + 0.5 * pitch),
                              ppm, result.trace_span)
        if drift is None:
            drift = np.zeros(w)
        p = pulses[r]
        if p is not None:
            ref = p.zero_y - drift[int(np.clip((p.x0 + p.x1) // 2, 0, w - 1))]
            row_info.append({"row": r, "zero": "pulse", "zero_y": round(p.zero_y, 2),
                             "pulse_mm": round(p.gain_mm_per_mv(ppm), 2)})
        else:
            parts = []
            for lead in row:
                tr, bx0, *_ = traces[box_name(result.layout, r, lead)]
                parts.append(tr.y - drift[np.clip(bx0 + np.arange(tr.y.size), 0, w - 1)])
            ys = np.concatenate(parts)
            mode = _row_mode(ys)
            ref = mode if mode is not None else baselines[r]
            row_info.append({"row": r, "zero": "baseline", "zero_y": round(ref, 2), "pulse_mm": None})
        row_info[-1]["separators"] = marks_read[r]
        row_info[-1]["clock_shift_ms"] = clock_ms[r]
        row_info[-1]["bow_px"] = round(float(np.ptp(drift[max(0, int(x_start)):min(w, int(max(x_ends)) + 1)])), 2)
        zeros.append(ref + drift)

    leads: dict[str, LeadSignal] = {}
    for name, (tr, bx0, r, c) in traces.items():
        row = rows[r]
        n_cols = tr.y.size
        lead_flags: list[str] = []
        y = tr.y.copy()
        # Columns next to a lead boundary may hold the printed separator: read through them.
        sep = int(np.ceil(line_px / 2.0)) + 1
        if c > 0:
            y[:sep] = np.nan
        if c < len(row) - 1:
            y[-sep:] = np.nan
        t_start = duration * c / len(row)
        t_end = duration * (c + 1) / len(row)
        i0, i1 = int(round(t_start * fs)), int(round(t_end * fs))
        values = np.full(i1 - i0, np.nan)
        valid = np.nonzero(np.isfinite(y))[0]
        if valid.size >= 2:
            # Column c is read at x = c: OpenCV's warps put pixel centres on whole numbers, and
            # the strip's end and the grid's pitch are measured in that frame (reading it at
            # c + 0.5 made every flat page's signal a sample late).
            t_cols = np.interp(bx0 + np.arange(n_cols), xs, row_time[r])
            mv = (zeros[r][np.clip(bx0 + valid, 0, w - 1)] - y[valid]) / gain_px
            t_samples = np.arange(i0, i1) / fs
            values = np.interp(t_samples, t_cols[valid], mv, left=np.nan, right=np.nan)
            # The ends of the box: hold the nearest value for up to 2 mm.
            reach = _GAP_FLAG_MM / PAPER_SPEED_MM_S
            first_t, last_t = t_cols[valid[0]], t_cols[valid[-1]]
            values[(t_samples < first_t) & (t_samples >= first_t - reach)] = mv[0]
            values[(t_samples > last_t) & (t_samples <= last_t + reach)] = mv[-1]
            longest_gap = int(np.diff(valid).max()) if valid.size > 1 else 0
            if longest_gap > _GAP_FLAG_MM * ppm or valid[0] > _GAP_FLAG_MM * ppm \
                    or n_cols - 1 - valid[-1] > _GAP_FLAG_MM * ppm:
                lead_flags.append("gaps")
            if np.nanmin(tr.top) <= max(0, int(baselines[r] - 0.9 * pitch)) or \
                    np.nanmax(tr.bottom) >= min(h, int(baselines[r] + 0.9 * pitch) + 1) - 1:
                lead_flags.append("clipped")
            if tr.ambiguous > 0.2:
                lead_flags.append("crossing")
        else:
            lead_flags.append("missing")
        if pulses[r] is None:
            lead_flags.append("no_pulse")
        leads[name] = LeadSignal(name=name, lead=name.split(" (")[0], start_s=t_start, values_mv=values,
                                 coverage=tr.coverage, flags=lead_flags, pixel_y=y, x0=bx0)
    if reconcile_limb_leads is None:
        reconcile_limb_leads = photo
    if reconcile_limb_leads:
        limb = [name for name, sig in leads.items() if sig.lead in LIMB_LEADS]
        fitted, mismatch = reconcile([leads[n].values_mv for n in limb], [leads[n].start_index for n in limb],
                                     [leads[n].lead for n in limb], int(round(duration * fs)))
        for name, values, bad in zip(limb, fitted, mismatch):
            sig = leads[name]
            leads[name] = dataclasses.replace(sig, values_mv=values,
                                              flags=sig.flags + ([MISMATCH_FLAG] if bad else []))
    return Digitization(fs=fs, duration_s=duration, layout=result.layout, px_per_mm=ppm, gain_mm_per_mv=gain,
                        leads=leads, rows=row_info, flags=flags,
                        timings_ms={"digitize": (time.perf_counter() - t0) * 1000.0},
                        limb_leads_reconciled=reconcile_limb_leads)
