"""Find the trace area, so printed header and footer text (IDs, dates, heart rate) stay out."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .components import components_with_stats, keep_components


@dataclass(frozen=True)
class TraceRegion:
    """The traces found on a page.

    Attributes:
        box: (x0, y0, x1, y1) in page pixels, padded by 2 mm; None when no trace was found.
        n_traces: how many horizontal trace bands were found.
        width_coverage: share of the page width that the traces span.
        boxes: (x0, y0, x1, y1) of each trace band.
    """

    box: tuple[int, int, int, int] | None
    n_traces: int
    width_coverage: float
    boxes: tuple[tuple[int, int, int, int], ...]


def _is_anchor(bw: int, bh: int, area: int, ppm: float) -> bool:
    """A stroke that only an ECG draws: a long sparse wiggle, or a tall thin QRS spike."""
    sparse = area / float(bw * bh) <= 0.3
    long_trace = bw >= 12 * ppm and bh >= 4 * ppm and sparse
    # A QRS spike is an up and a down stroke: never as narrow as a grid line's fragment.
    spike = bh >= 5 * ppm and bh >= 2 * bw and bh <= 40 * ppm and bw >= 0.7 * ppm
    return long_trace or spike


def find_trace_region(mask: np.ndarray, px_per_mm: float) -> TraceRegion:
    """Locate the horizontal bands that hold traces.

    Anchors are strokes no text makes (long sparse wiggles, or tall thin QRS spikes); anchors
    that overlap vertically form a band, and a band counts when its anchors span at least a
    third of the page width (a lone tall letter does not). Every stroke centred in a kept
    band belongs to the traces, so a baseline broken into pieces in a poor photo is kept.
    """
    h, w = mask.shape
    ppm = px_per_mm
    closed = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    n, _, stats = components_with_stats(closed)
    comps = stats[1:]
    anchors = [c for c in comps if _is_anchor(int(c[2]), int(c[3]), int(c[4]), ppm)]
    if not anchors:
        return TraceRegion(None, 0, 0.0, ())
    anchors.sort(key=lambda c: int(c[1]))
    bands: list[list[np.ndarray]] = []
    for c in anchors:
        y0, y1 = int(c[1]), int(c[1] + c[3])
        if bands:
            by0 = min(int(a[1]) for a in bands[-1])
            by1 = max(int(a[1] + a[3]) for a in bands[-1])
            overlap = min(y1, by1) - max(y0, by0)
            if overlap > 0.3 * min(y1 - y0, by1 - by0):
                bands[-1].append(c)
                continue
        bands.append([c])
    kept: list[tuple[int, int, int, int]] = []
    for band in bands:
        x0 = min(int(a[0]) for a in band)
        x1 = max(int(a[0] + a[2]) for a in band)
        if x1 - x0 < w / 3.0:
            continue
        y0 = min(int(a[1]) for a in band)
        y1 = max(int(a[1] + a[3]) for a in band)
        kept.append((x0, y0, x1, y1))
    if not kept:
        return TraceRegion(None, 0, 0.0, ())
    # Grow each band to every stroke centred in it (baseline pieces, P and T waves).
    min_area = max(4, int(0.2 * ppm * ppm))
    grown = []
    for x0, y0, x1, y1 in kept:
        for c in comps:
            cx, cy = c[0] + c[2] / 2.0, c[1] + c[3] / 2.0
            if c[4] >= min_area and y0 <= cy <= y1 and c[3] <= 1.5 * (y1 - y0) + 2 * ppm:
                x0, x1 = min(x0, int(c[0])), max(x1, int(c[0] + c[2]))
                y0, y1 = min(y0, int(c[1])), max(y1, int(c[1] + c[3]))
        grown.append((x0, y0, x1, y1))
    arr = np.array(grown)
    pad = int(round(2 * ppm))
    box = (max(0, int(arr[:, 0].min()) - pad), max(0, int(arr[:, 1].min()) - pad),
           min(w, int(arr[:, 2].max()) + pad), min(h, int(arr[:, 3].max()) + pad))
    covered = np.zeros(w, bool)
    for x0, _, x1, _ in grown:
        covered[x0:x1] = True
    return TraceRegion(box, len(grown), float(covered.mean()), tuple(grown))


def clean_traces(mask: np.ndarray, box: tuple[int, int, int, int] | None, baselines: tuple[float, ...],
                 px_per_mm: float) -> tuple[np.ndarray, float]:
    """Keep only the traces: nothing outside the trace area, no free-standing text inside it.

    A component is text-like when it is letter-sized (1.2-8 mm tall, at most 12 mm wide) and
    dense in its box. Text-like components away from every baseline (lead labels above a
    trace) are dropped; near a baseline they may be pieces of a broken trace and stay.

    Returns:
        (cleaned uint8 mask, share of the trace area's ink that is text-like); the share is
        high on a page of text and low on an ECG.
    """
    out = np.zeros_like(mask)
    if box is None:
        return out, 0.0
    x0, y0, x1, y1 = box
    roi = mask[y0:y1, x0:x1]
    n, labels, stats = components_with_stats(roi)
    if n <= 1:
        return out, 0.0
    ppm = px_per_mm
    bw, bh, area = stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT], stats[1:, cv2.CC_STAT_AREA]
    fill = area / np.maximum(bw * bh, 1)
    text_like = (bh >= 1.2 * ppm) & (bh <= 8 * ppm) & (bw <= 12 * ppm) & (fill >= 0.12)
    centre_y = stats[1:, cv2.CC_STAT_TOP] + bh / 2.0 + y0
    if baselines:
        dist = np.min(np.abs(centre_y[:, None] - np.asarray(baselines)[None, :]), axis=1)
    else:
        dist = np.full(centre_y.shape, np.inf)
    drop = text_like & (dist > 2.0 * ppm)
    keep = np.r_[False, ~drop]
    out[y0:y1, x0:x1] = cv2.bitwise_and(roi, keep_components(labels, keep))
    total = float(area.sum())
    return out, float(area[text_like].sum() / total) if total else 0.0
