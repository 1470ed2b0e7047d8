"""From the cleaned, calibrated page to each lead's signal in millivolts at 500 Hz.

The page gives the scales: the grid's pitch (px per mm) turns 25 mm/s and 10 mm/mV (or the
gain the calibration pulse shows) into seconds and millivolts; the layout says which lead
sits in which part of which row, and each lead's samples cover its own time span.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ECGImageError
from ..imaging.pipeline import PipelineResult
from ..layouts import LAYOUTS, LEADS, box_name
from .pulse import Pulse, find_pulse
from .trace import follow_trace, pen_width

FS = 500
PAPER_SPEED_MM_S = 25.0
STANDARD_GAINS_MM_MV = (5.0, 10.0, 20.0)
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
        flags: quality flags: "missing", "gaps", "clipped", "crossing", "no_pulse", "gain_guess".
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
                "leads": {name: sig.to_json() for name, sig in self.leads.items()},
                "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()}}


def _snap_gain(pulse_gain_mm: float) -> tuple[float, bool]:
    """The standard gain nearest the pulse's height, when within 15 % of it; the grid's pitch
    is measured over the whole page and is more precise than one pulse's height."""
    best = min(STANDARD_GAINS_MM_MV, key=lambda g: abs(pulse_gain_mm / g - 1.0))
    if abs(pulse_gain_mm / best - 1.0) <= 0.15:
        return best, True
    return pulse_gain_mm, False


def _row_end(soft: np.ndarray, last: int, baselines: list[float], pitch: float, level: float) -> float | None:
    """Where the traces stop, to a fraction of a pixel: in each row, the last column where
    the darkness summed across the row is still half the pen's (``level``, the darkness of
    one column of line; a blur leaves the half-way point in place); the median over rows."""
    h, w = soft.shape
    a, b = max(0, last - 40), min(w, last + 6)
    if level <= 0 or b - a < 3:
        return None
    ends = []
    for base in baselines:
        band = soft[max(0, int(base - 0.45 * pitch)):min(h, int(base + 0.45 * pitch)), a:b]
        m = band.sum(axis=0)
        above = np.nonzero(m >= level / 2.0)[0]
        if above.size == 0 or above[-1] + 1 >= m.size:
            continue
        k = int(above[-1])
        frac = (m[k] - level / 2.0) / max(float(m[k] - m[k + 1]), 1e-6)
        ends.append(a + k + 0.5 + float(np.clip(frac, 0.0, 1.0)))
    return float(np.median(ends)) if ends else None


def _strip_span(result: PipelineResult, ppm_t: float, soft_px: float, fs: int,
                pitch: float) -> tuple[float, float, float]:
    """(x of time zero, x one sample past the last, duration in s).

    Every row ends at the same time. The pen's round end reaches past the last sample by a
    share of its width (``soft_px`` is the darkness-weighted width, see ``pen_width``; the
    factor was fitted on synthetic printouts of other seeds than the reported ones). A strip
    is a whole number of seconds long (10 s on the usual printouts), so a calibration pulse
    still joined to the traces does not move time zero.
    """
    assert result.trace_span is not None
    first, last = result.trace_span
    half = _row_end(result.ink_soft, last, list(result.baselines), pitch, soft_px) if result.ink_soft is not None else None
    if half is not None:
        x_last = half - max(0.0, 0.42 * soft_px - 0.93)
    else:
        x_last = float(last) + 0.5 - soft_px / 2.0
    x_end = x_last + PAPER_SPEED_MM_S * ppm_t / fs
    span_s = (x_end - first) / (PAPER_SPEED_MM_S * ppm_t)
    duration = float(round(span_s)) if span_s >= 2.0 and abs(span_s - round(span_s)) < 0.45 else span_s
    return x_end - duration * PAPER_SPEED_MM_S * ppm_t, x_end, duration


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


def digitize(result: PipelineResult, fs: int = FS) -> Digitization:
    """Read every lead's signal off the cleaned page.

    Raises:
        ECGImageError: kind "rejected" when the page cannot be read: refused by the quality
            gate, no grid to measure millimetres, or no known layout.
    """
    t0 = time.perf_counter()
    if not result.gate.ok:
        raise ECGImageError("cannot digitise this image: " + result.gate.message, kind="rejected")
    if result.px_per_mm is None:
        raise ECGImageError("cannot digitise this image: no ECG grid was found to measure millimetres "
                            "and seconds by", kind="rejected")
    if result.layout is None or result.trace_span is None or not result.baselines:
        raise ECGImageError("cannot digitise this image: the arrangement of the leads was not recognised "
                            f"(found {len(result.baselines)} trace rows; known layouts have 3, 4, 6 or 12)",
                            kind="rejected")
    ppm = float(result.px_per_mm)
    mask = result.ink_mask
    h, w = mask.shape
    rows = LAYOUTS[result.layout]
    baselines = list(result.baselines)
    box = result.crop_box or (0, 0, w, h)
    line_px = pen_width(mask[box[1]:box[3], box[0]:box[2]])
    soft_px = line_px if result.ink_soft is None else \
        pen_width(mask[box[1]:box[3], box[0]:box[2]], result.ink_soft[box[1]:box[3], box[0]:box[2]])
    # Time runs along x: its own pitch is more precise there than the page's mean of x and y.
    ppm_t = float(result.px_per_mm_x) if result.px_per_mm_x and abs(result.px_per_mm_x / ppm - 1) < 0.02 else ppm
    pitch = float(np.median(np.diff(baselines))) if len(baselines) > 1 else 40.0 * ppm
    x_start, x_end, duration = _strip_span(result, ppm_t, soft_px, fs, pitch)
    px_per_s = PAPER_SPEED_MM_S * ppm_t
    flags: list[str] = []
    if duration != round(duration):
        flags.append(f"strip of {duration:.2f} s is not a whole number of seconds; time zero may be off")

    # Zero line and gain per row, from its calibration pulse when there is one.
    pulses: list[Pulse | None] = [
        find_pulse(mask, int(x_start - 25 * ppm), int(x_start - 0.2 * ppm), b, ppm,
                   room_above=None if r == 0 else b - baselines[r - 1])
        for r, b in enumerate(baselines)]
    gains = [p.gain_mm_per_mv(ppm) for p in pulses if p is not None]
    if gains:
        gain, snapped = _snap_gain(float(np.median(gains)))
        if not snapped:
            flags.append(f"calibration pulse is {gain:.1f} mm tall, not a standard gain; used as found")
    else:
        gain = 10.0
        flags.append("no calibration pulse found: 10 mm/mV assumed, zero taken from each row's baseline")
    gain_px = gain * ppm

    traces: dict[str, tuple[Any, int, int, int]] = {}
    for r, row in enumerate(rows):
        base = baselines[r]
        ya, yb = int(base - 0.9 * pitch), int(base + 0.9 * pitch) + 1
        seg_px = (x_end - x_start) / len(row)
        for c, lead in enumerate(row):
            bx0 = int(np.ceil(x_start + c * seg_px))
            bx1 = int(np.floor(x_start + (c + 1) * seg_px))
            tr = follow_trace(mask, bx0, bx1, ya, yb, base, ppm, line_px, soft=result.ink_soft)
            traces[box_name(result.layout, r, lead)] = (tr, bx0, r, c)
    row_info: list[dict[str, Any]] = []
    zeros: list[float] = []
    for r, row in enumerate(rows):
        p = pulses[r]
        if p is not None:
            zeros.append(p.zero_y)
            row_info.append({"row": r, "zero": "pulse", "zero_y": round(p.zero_y, 2),
                             "pulse_mm": round(p.gain_mm_per_mv(ppm), 2)})
            continue
        ys = np.concatenate([traces[box_name(result.layout, r, lead)][0].y for lead in row])
        mode = _row_mode(ys)
        zeros.append(mode if mode is not None else baselines[r])
        row_info.append({"row": r, "zero": "baseline", "zero_y": round(zeros[-1], 2), "pulse_mm": None})

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
            t_cols = (bx0 + np.arange(n_cols) + 0.5 - x_start) / px_per_s
            mv = (zeros[r] - y[valid]) / gain_px
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
    return Digitization(fs=fs, duration_s=duration, layout=result.layout, px_per_mm=ppm, gain_mm_per_mv=gain,
                        leads=leads, rows=row_info, flags=flags,
                        timings_ms={"digitize": (time.perf_counter() - t0) * 1000.0})
