"""Which printed layout a page uses, and where each lead's box is."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from ..layouts import LAYOUTS, box_name

# Number of trace rows -> layout. Six rows are read as 6x2; 3x4 with three rhythm strips
# (also six rows) is not told apart yet.
ROWS_TO_LAYOUT = {3: "3x4", 4: "3x4+1", 6: "6x2", 12: "12x1"}


@dataclass(frozen=True)
class LayoutResult:
    """The layout found (None when the rows match no known layout) and the lead boxes.

    Attributes:
        name: "3x4+1", "3x4", "3x4+3", "6x2", "12x1" or None.
        baselines: y of each trace row's baseline, top to bottom (working pixels).
        lead_boxes: box name -> (x0, y0, x1, y1) in working pixels.
        span: (first, last) inked column of the traces proper (calibration pulse left out).
    """

    name: str | None
    baselines: tuple[float, ...]
    lead_boxes: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)
    span: tuple[int, int] | None = None


def find_baselines(mask: np.ndarray, box: tuple[int, int, int, int], px_per_mm: float) -> list[float]:
    """Rows where the ink lingers: a trace spends most of its time on its baseline.

    Printed rows are evenly spaced, so the row pitch is the strongest repeat (autocorrelation)
    of the smoothed row profile, at least 7 mm; the rows are the comb at that pitch whose teeth
    collect the most ink, each tooth moved to the nearest local peak. A weak row (a lead whose
    baseline wanders) is still found where it must be, and the secondary peaks of tall waves,
    which do not repeat at the pitch, are not taken for rows.
    """
    x0, y0, x1, y1 = box
    profile = (mask[y0:y1, x0:x1] > 0).sum(axis=1).astype(np.float32)
    n = profile.size
    if n < 3 or profile.max() <= 0:
        return []
    sigma = max(1.0, 0.6 * px_per_mm)
    smooth = cv2.GaussianBlur(profile.reshape(-1, 1), (1, 0), sigmaX=0, sigmaY=sigma).ravel().astype(np.float64)
    top = float(smooth.max())
    lo = int(7 * px_per_mm)
    if n < 2 * lo:
        return [float(int(np.argmax(smooth)) + y0)]
    x = smooth - smooth.mean()
    spec = np.fft.rfft(x, 2 * n)
    ac = np.fft.irfft(spec * np.conj(spec))[:n]
    hi = min(n - 1, int(0.55 * n) + 1)
    if hi <= lo or ac[lo:hi].max() <= 0:
        return [float(int(np.argmax(smooth)) + y0)]
    # The smallest strong repeat is the row pitch (12 rows also repeat every two rows).
    seg = ac[lo:hi]
    peaks = [i for i in range(1, seg.size - 1) if seg[i] >= seg[i - 1] and seg[i] >= seg[i + 1]]
    strong = [i for i in peaks if seg[i] >= 0.6 * seg.max()]
    pitch = float(lo + (strong[0] if strong else int(np.argmax(seg))))
    phases = np.arange(0, int(pitch))
    teeth = np.arange(0, n / pitch + 1)
    pos = phases[:, None] + teeth[None, :] * pitch
    score = np.where(pos < n, np.interp(np.minimum(pos, n - 1), np.arange(n), smooth), 0.0).sum(axis=1)
    phase = int(phases[int(np.argmax(score))])
    rows = []
    for k in teeth:
        guess = phase + k * pitch
        if guess >= n:
            break
        a, b = max(0, int(guess - 0.2 * pitch)), min(n, int(guess + 0.2 * pitch) + 1)
        best = a + int(np.argmax(smooth[a:b]))
        if smooth[best] >= 0.08 * top and (not rows or best - rows[-1] >= lo):
            rows.append(best)
    rows = _trim_weak_ends(rows, smooth)
    return [float(r + y0) for r in rows]


def _trim_weak_ends(rows: list[int], smooth: np.ndarray) -> list[int]:
    """A row count no layout has, with a faint row at one end (a line of header or footer
    text inside the trace area), loses that row: trace rows carry similar amounts of ink."""
    rows = list(rows)
    while len(rows) > 3 and len(rows) not in ROWS_TO_LAYOUT:
        peaks = smooth[rows]
        median = float(np.median(peaks))
        end = 0 if peaks[0] <= peaks[-1] else -1
        if peaks[end] >= 0.5 * median:
            break
        rows.pop(end)
    return rows


def _trace_span(mask: np.ndarray, box: tuple[int, int, int, int], px_per_mm: float) -> tuple[int, int]:
    """Left and right end of the traces proper: the calibration pulse (a narrow block at the
    left) is skipped by ignoring ink columns before the first long run of inked columns."""
    x0, y0, x1, y1 = box
    cols = (mask[y0:y1, x0:x1] > 0).any(axis=0)
    xs = np.nonzero(cols)[0]
    if xs.size == 0:
        return x0, x1
    gap = int(1.0 * px_per_mm)
    runs = np.split(xs, np.nonzero(np.diff(xs) > gap)[0] + 1)
    long_runs = [r for r in runs if r[-1] - r[0] >= 20 * px_per_mm]
    if not long_runs:
        return x0 + int(xs[0]), x0 + int(xs[-1])
    return x0 + int(long_runs[0][0]), x0 + int(long_runs[-1][-1])


def _drop_end_rows_without_pulse(mask: np.ndarray, box: tuple[int, int, int, int], baselines: list[float],
                                 px_per_mm: float) -> list[float]:
    """A row count no layout has, where the other rows stand on calibration pulses but a row
    at an end has none: that row is a line of header or footer text inside the trace area
    (one as inked as a trace row passes ``_trim_weak_ends``), and goes."""
    from .orientation import rows_with_pulse

    first = _trace_span(mask, box, px_per_mm)[0]
    pulses = rows_with_pulse(mask, baselines, first, px_per_mm)
    rows = list(zip(baselines, pulses))
    # The rows between the ends must mostly stand on pulses, or a missing pulse says nothing.
    if sum(pulses) < 3 or sum(pulses) < 0.75 * len(pulses) - 1:
        return baselines
    while len(rows) > 3 and len(rows) not in ROWS_TO_LAYOUT:
        if not rows[-1][1]:
            rows.pop()
        elif not rows[0][1]:
            rows.pop(0)
        else:
            break
    return [b for b, _ in rows] if len(rows) in ROWS_TO_LAYOUT else baselines


def detect_layout(mask: np.ndarray, box: tuple[int, int, int, int] | None, px_per_mm: float) -> LayoutResult:
    """Count the trace rows, name the layout, and cut the trace area into lead boxes."""
    if box is None:
        return LayoutResult(None, ())
    baselines = find_baselines(mask, box, px_per_mm)
    if len(baselines) > 3 and len(baselines) not in ROWS_TO_LAYOUT:
        baselines = _drop_end_rows_without_pulse(mask, box, baselines, px_per_mm)
    name = ROWS_TO_LAYOUT.get(len(baselines))
    if name is None:
        return LayoutResult(None, tuple(baselines))
    x_start, x_end = _trace_span(mask, box, px_per_mm)
    rows = LAYOUTS[name]
    edges = [box[1]] + [int((a + b) / 2) for a, b in zip(baselines[:-1], baselines[1:])] + [box[3]]
    boxes: dict[str, tuple[int, int, int, int]] = {}
    for r, row in enumerate(rows):
        seg = (x_end - x_start) / len(row)
        for c, lead in enumerate(row):
            boxes[box_name(name, r, lead)] = (int(x_start + c * seg), edges[r], int(x_start + (c + 1) * seg), edges[r + 1])
    return LayoutResult(name, tuple(baselines), boxes, (x_start, x_end))


def baseline_concentration(mask: np.ndarray, box: tuple[int, int, int, int] | None, baselines: tuple[float, ...],
                           px_per_mm: float) -> tuple[float, float]:
    """How tightly the ink hugs the baselines: an ECG trace spends most of its time there.

    Returns:
        (share of the ink within 2 mm of a baseline, that share divided by the share of the
        area within 2 mm of a baseline); textures and pictures score about 1 on the second.
    """
    if box is None or not baselines:
        return 0.0, 0.0
    x0, y0, x1, y1 = box
    ink_rows = (mask[y0:y1, x0:x1] > 0).sum(axis=1).astype(np.float64)
    if ink_rows.sum() == 0:
        return 0.0, 0.0
    rows = np.arange(y0, y1, dtype=np.float64)
    near = np.min(np.abs(rows[:, None] - np.asarray(baselines)[None, :]), axis=1) < 2.0 * px_per_mm
    share = float(ink_rows[near].sum() / ink_rows.sum())
    return share, share / max(float(near.mean()), 1e-3)


def row_concentration(mask: np.ndarray, box: tuple[int, int, int, int] | None, px_per_mm: float) -> float:
    """Share of the ink in the densest fifth of the rows, over one fifth.

    ECG traces hug their baselines, so a few rows hold most of the ink (about 3 on printouts,
    2.3 or more on poor photos); pictures and textures spread it (about 1.3 to 2). Unlike the
    baseline share it needs no rows found, so a missed row cannot fail an ECG.
    """
    if box is None:
        return 0.0
    x0, y0, x1, y1 = box
    profile = (mask[y0:y1, x0:x1] > 0).sum(axis=1).astype(np.float32)
    if profile.size < 5 or profile.sum() == 0:
        return 0.0
    profile = cv2.GaussianBlur(profile.reshape(-1, 1), (1, 0), sigmaX=0, sigmaY=max(0.5, 0.3 * px_per_mm)).ravel()
    ordered = np.sort(profile)[::-1]
    k = max(1, int(0.2 * ordered.size))
    return float(ordered[:k].sum() / ordered.sum() / 0.2)
