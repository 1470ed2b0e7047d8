"""Separate the traces from the grid, and measure the grid's pitch (pixels per millimetre)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .components import components_with_stats, keep_components
from .strokes import pen_width


@dataclass(frozen=True)
class InkResult:
    """The traces (and any dark text) with the grid removed.

    Attributes:
        ink: float32 H x W in [0, 1], 1 on a trace's core, soft at its edges.
        mask: uint8 H x W, 255 where ``ink`` is at least one half.
        threshold: the darkness (0..1) that split traces from grid.
        faint: the same soft ramp before it was limited to the kept strokes (faint strokes,
            such as a blurred photo's QRS spikes, are still in it), or None.
    """

    ink: np.ndarray
    mask: np.ndarray
    threshold: float
    faint: np.ndarray | None = None


def darkness(flat_rgb: np.ndarray) -> np.ndarray:
    """1 - brightest channel: black ink is dark in every channel, coloured grid lines are not."""
    r, g, b = cv2.split(flat_rgb)
    brightest = cv2.max(cv2.max(r, g), b)
    return cv2.convertScaleAbs(brightest, alpha=-1, beta=255).astype(np.float32) * (1.0 / 255.0)


def any_darkness(flat_rgb: np.ndarray) -> np.ndarray:
    """1 - dimmest channel: high on everything printed, grid included."""
    r, g, b = cv2.split(flat_rgb)
    dimmest = cv2.min(cv2.min(r, g), b)
    return cv2.convertScaleAbs(dimmest, alpha=-1, beta=255).astype(np.float32) * (1.0 / 255.0)


def _otsu(values: np.ndarray) -> float:
    hist, edges = np.histogram(values, bins=64, range=(0.0, 1.0))
    hist = hist.astype(np.float64)
    centres = (edges[:-1] + edges[1:]) / 2
    total = hist.sum()
    if total == 0:
        return 0.5
    w0 = np.cumsum(hist)
    w1 = total - w0
    m0 = np.cumsum(hist * centres)
    mean0 = m0 / np.maximum(w0, 1e-9)
    mean1 = (m0[-1] - m0) / np.maximum(w1, 1e-9)
    between = w0 * w1 * (mean0 - mean1) ** 2
    return float(edges[int(np.argmax(between)) + 1])


def _hysteresis(dark: np.ndarray, high: float) -> np.ndarray:
    """Strokes seeded where darkness >= ``high``, grown through connected pixels above a
    lower level; the lowest level that does not leak into the grid is used.

    A faint, blurred baseline is as light as the grid, but it is connected to the dark QRS
    complexes; grid lines are not (except where a trace crosses them, which is the leak
    this guards against: a leak multiplies the stroke area).
    """
    seeds = dark >= high
    seed_area = int(np.count_nonzero(seeds))
    if seed_area == 0:
        return np.zeros(dark.shape, np.uint8)
    limit = max(6 * seed_area, 1)
    for factor in (0.5, 0.6, 0.7, 0.8):
        low_mask = (dark >= factor * high).astype(np.uint8)
        n, labels = cv2.connectedComponents(low_mask, connectivity=8)
        keep = np.zeros(n, bool)
        keep[labels[seeds]] = True  # (a scatter: np.unique would sort every seed pixel)
        keep[0] = False
        grown = keep_components(labels, keep)
        if np.count_nonzero(grown) <= min(limit, 0.12 * dark.size):
            return grown
    return np.where(seeds, 255, 0).astype(np.uint8)  # every lower level leaked: the seeds alone


def _periodic_median(profile: np.ndarray, period: float, shifts: tuple[int, ...] = (-3, -2, -1, 0, 1, 2, 3)) -> np.ndarray:
    """Median of each row's value with the rows whole grid periods away (per column block).

    Grid lines repeat every period and survive the median; a trace's flat baseline lies on one
    row only and is voted out by its neighbours 5, 10 and 15 mm away.
    """
    n = profile.shape[0]
    idx = np.arange(n, dtype=np.float64)
    stack = []
    for k in shifts:
        pos = np.clip(idx + k * period, 0, n - 1)
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, n - 1)
        frac = (pos - lo)[:, None]
        stack.append(profile[lo] * (1 - frac) + profile[hi] * frac)
    return np.median(np.stack(stack), axis=0).astype(profile.dtype)


def line_background(dark: np.ndarray, px_per_mm: float | None, block: int = 128,
                    quantile: float = 0.15, printed: float = 0.04) -> np.ndarray:
    """Darkness explained by the grid's straight horizontal and vertical lines.

    Along a grid line the darkness is the same for its whole length, so a low quantile of the
    printed pixels of each row (over blocks of ``block`` columns, which tolerates a slight
    residual tilt) measures it; bare paper beyond the grid's edge does not count, so blocks
    that straddle the edge still see the line. A flat trace baseline also fills most of its
    row, so the row values are then compared with the rows 5, 10 and 15 mm away
    (``_periodic_median``): only what repeats with the grid's major period counts as grid.
    The work runs at half size after a 2x2 maximum (which keeps 1-pixel lines). Without a
    measured pitch there is no grid to subtract.
    """
    if not px_per_mm:
        return np.zeros_like(dark)
    h, w = dark.shape
    small = cv2.dilate(dark, np.ones((2, 2), np.uint8))[::2, ::2]
    period = 5.0 * px_per_mm / 2.0

    def per_row(img: np.ndarray) -> np.ndarray:
        rows, cols = img.shape
        nb = max(1, int(round(cols / (block / 2))))
        edges = np.linspace(0, cols, nb + 1).astype(int)
        prof = np.zeros((rows, nb), img.dtype)
        for b, (a, e) in enumerate(zip(edges[:-1], edges[1:])):
            seg = img[:, a:e]
            on = seg > printed
            count = on.sum(axis=1)
            ordered = np.sort(np.where(on, seg, np.inf), axis=1)
            pick = np.clip((quantile * (count - 1)).astype(int), 0, seg.shape[1] - 1)
            vals = ordered[np.arange(rows), pick]
            # Rows whose block is mostly bare paper hold no line worth subtracting.
            prof[:, b] = np.where(count >= 0.3 * (e - a), vals, 0.0)
        prof = _periodic_median(prof, period)
        return np.repeat(prof, np.diff(edges), axis=1)

    background = np.maximum(per_row(small), per_row(small.T).T)
    return cv2.resize(background, (w, h), interpolation=cv2.INTER_NEAREST)


def straight_rules(mask: np.ndarray, px_per_mm: float) -> np.ndarray:
    """Printed rules to erase: vertical strokes over 30 mm (lead separators, frames) and
    horizontal ones over 100 mm (header and footer rules).

    No QRS complex is 30 mm tall and straight, and no trace runs 100 mm without a wave lifting
    it off a straight line. The page is deskewed to a fraction of a degree by now, so an
    opening with a long line (after a one-pixel widening that absorbs what tilt is left)
    finds them; it costs a few milliseconds where a Hough transform cost a hundred.
    """
    h, w = mask.shape
    # Vertical rules at quarter size (a 4x4 maximum keeps every stroke; the opening costs
    # 1/64 as much).
    small = cv2.dilate(mask, np.ones((4, 4), np.uint8))[::4, ::4]
    n = max(4, int(30.0 * px_per_mm / 4))
    vertical = cv2.resize(_straight_only(cv2.morphologyEx(small, cv2.MORPH_OPEN, np.ones((n, 1), np.uint8)),
                                         mask, 4), (w, h), interpolation=cv2.INTER_NEAREST)
    # Horizontal ones at full height but a quarter of the width: the opening's cost grows with
    # the kernel's length. A 1x4 *minimum* first, so that a one-pixel gap still breaks a run
    # (a trace's baseline has gaps, a printed rule has none); the run found is then widened
    # by a block each side to cover the partial blocks at its ends.
    n = max(4, int(100.0 * px_per_mm / 4) - 1)
    widened = cv2.dilate(mask, np.ones((3, 1), np.uint8))
    solid = cv2.erode(widened, np.ones((1, 4), np.uint8), anchor=(0, 0), borderType=cv2.BORDER_CONSTANT,
                      borderValue=0)[:, ::4]
    runs = cv2.dilate(cv2.morphologyEx(solid, cv2.MORPH_OPEN, np.ones((1, n), np.uint8)), np.ones((1, 3), np.uint8))
    horizontal = cv2.bitwise_and(cv2.resize(runs, (solid.shape[1] * 4, h), interpolation=cv2.INTER_NEAREST)[:, :w],
                                 widened)
    found = cv2.bitwise_or(vertical, horizontal)
    return cv2.bitwise_and(cv2.dilate(found, np.ones((3, 3), np.uint8)), mask)


def _straight_only(candidates: np.ndarray, mask: np.ndarray, step: int) -> np.ndarray:
    """The tall candidates (found at 1/``step`` size) that are one straight, pen-wide line at
    full size.

    On a 12x1 page the QRS complexes of neighbouring rows fall in the same columns, and their
    steep up and down strokes chain into a vertical run over 30 mm long that the coarse opening
    took for a lead separator: every complex was erased. A printed rule keeps one column (its
    centre wanders by a pixel at most where no trace crosses it: under half a pixel on the
    Mendeley printouts' separators) and is not much wider than a level stroke of the pen (a
    bolder rule still goes); a chain of QRS strokes zigzags (1-4.5 px on the tuning pages).
    """
    n, labels, stats = components_with_stats(candidates)
    if n <= 1:
        return candidates
    pen = pen_width(mask, step=8)
    keep = np.zeros(n, bool)
    h, w = mask.shape
    for i in range(1, n):
        x, y, bw, bh = (int(v) for v in stats[i, :4])
        x0, x1 = max(0, x * step - 2), min(w, (x + bw) * step + 2)
        y0, y1 = y * step, min(h, (y + bh) * step)
        band = mask[y0:y1, x0:x1] > 0
        count = band.sum(axis=1)
        inked = count > 0
        if inked.mean() < 0.9:
            continue
        width = float(np.median(count[inked]))
        # Rows where a trace crosses the rule (wider ink there) do not count.
        alone = inked & (count <= width + 1)
        centres = (band * np.arange(x0, x1)[None, :]).sum(axis=1)[alone] / count[alone]
        straight = float(np.percentile(centres, 95) - np.percentile(centres, 5)) <= 1.0
        keep[i] = straight and width <= 1.5 * pen + 1
    return keep_components(labels, keep)


def remove_grid(flat_rgb: np.ndarray, px_per_mm: float | None = None,
                grid_pitch: float | None = None) -> InkResult:
    """Keep the dark traces, drop coloured or grey grid lines and specks.

    Coloured grids are mostly gone in the darkness map already (a red line is bright in the
    red channel); what remains of any grid is straight, axis-aligned and periodic with the
    measured ``grid_pitch`` (px per mm) and is subtracted (``line_background``). Strokes are then seeded where the residual is clearly dark (Otsu,
    clamped) and grown through connected fainter pixels, which keeps blurred baselines.
    """
    raw = darkness(flat_rgb)
    # A slight blur averages out sensor and JPEG noise, which is finer than any stroke.
    raw = cv2.GaussianBlur(raw, (0, 0), 0.8)
    dark = np.clip(raw - line_background(raw, grid_pitch), 0.0, 1.0)
    printed = dark[dark > 0.08]
    thr = _otsu(printed) if printed.size > 100 else 0.4
    thr = float(np.clip(thr, 0.2, 0.6))
    mask = _hysteresis(dark, thr)
    low = float(dark[mask > 0].min()) if mask.any() else thr
    # Soft ramp from the lowest accepted darkness keeps anti-aliased edges for the model
    # (in place: three page-sized float passes fewer).
    ink = dark - 0.8 * low
    np.divide(ink, max(thr - 0.8 * low, 1e-3), out=ink)
    np.clip(ink, 0.0, 1.0, out=ink)
    ppm = px_per_mm or max(flat_rgb.shape[:2]) / 280.0
    mask = cv2.bitwise_and(mask, cv2.bitwise_not(straight_rules(mask, ppm)))
    # Specks (grid dots, paper texture, JPEG noise) smaller than ~0.3 mm^2 go.
    min_area = max(4, int(0.3 * ppm * ppm))
    n, labels, stats = components_with_stats(mask)
    if n > 1:
        keep = np.zeros(n, bool)
        keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_area
        mask = keep_components(labels, keep)
    # The soft ink only where a kept stroke is near: the grid's faint ramp does not survive.
    faint = ink.astype(np.float32, copy=False)
    kept = cv2.copyTo(faint, cv2.dilate(mask, np.ones((3, 3), np.uint8)))
    return InkResult(ink=kept, mask=mask, threshold=thr, faint=faint)


def grid_signal(flat_rgb: np.ndarray, ink_mask: np.ndarray) -> np.ndarray:
    """Printed-but-not-trace darkness: the grid, as float32 H x W."""
    any_dark = any_darkness(flat_rgb)
    trace = cv2.dilate(ink_mask, np.ones((5, 5), np.uint8)) > 0
    return np.where(trace, 0.0, any_dark).astype(np.float32)


def _autocorr(profile: np.ndarray) -> np.ndarray:
    x = profile.astype(np.float64) - profile.mean()
    spec = np.fft.rfft(x, 2 * x.size)
    ac = np.fft.irfft(spec * np.conj(spec))[: x.size]
    return ac / max(float(ac[0]), 1e-12)


def _robust_contrast(ac: np.ndarray, periods: np.ndarray, max_k: int = 25) -> np.ndarray:
    """For each period p: the 20th percentile over k of ac(k p) - ac((k + 1/2) p).

    Every multiple of a true period lands on lines, so a period that hits lines only every
    other time (2.5 mm on a 5 mm major grid) scores low.
    """
    n = ac.size
    lags = np.arange(n, dtype=np.float64)
    ks = np.arange(1, max_k + 1, dtype=np.float64)
    on = ks[None, :] * periods[:, None]
    off = (ks[None, :] + 0.5) * periods[:, None]
    valid = off < 0.5 * n
    contrast = np.where(valid, np.interp(on, lags, ac) - np.interp(off, lags, ac), np.inf)
    counts = valid.sum(axis=1)
    ordered = np.sort(contrast, axis=1)  # invalid entries (inf) sort last
    pick = np.clip(np.floor(0.2 * (counts - 1)).astype(int), 0, max_k - 1)
    out = ordered[np.arange(periods.size), pick]
    return np.where(counts >= 3, out, -1.0)


def _period_from_profile(profile: np.ndarray, prior: float, low: float = 0.55,
                         high: float = 2.2) -> tuple[float, float]:
    """The 1 mm pitch of a grid profile near ``prior`` px/mm, and a confidence in [0, 1].

    Candidates p between ``low`` and ``high`` times the prior are scored by the evidence for
    minor lines at p plus major lines at 5p, so a grid whose minor lines vanished in printing
    is still measured by its majors. Of near-equal scores the smallest p wins (2 mm scores as
    well as 1 mm).
    """
    n = profile.size
    lo, hi = max(2.0, low * prior), high * prior
    if n < 12 * hi or not np.any(profile - profile.mean()):
        return 0.0, 0.0
    ac = _autocorr(profile)
    periods = np.arange(lo, hi, 0.02)
    score = np.maximum(_robust_contrast(ac, periods), 0) + np.maximum(_robust_contrast(ac, 5 * periods, 8), 0)
    top = float(score.max())
    if top <= 0.03:
        return 0.0, float(top)
    i = int(np.nonzero(score >= 0.8 * top)[0][0])
    while i + 1 < periods.size and score[i + 1] >= score[i]:
        i += 1
    best_p = float(periods[i])
    # Refine on a far multiple: the peak near k*p pins p to a small fraction of a pixel.
    k = int(min(50, max(1, (0.4 * n) // best_p)))
    a = int(max(1, np.floor((k - 0.3) * best_p)))
    b = int(min(n - 2, np.ceil((k + 0.3) * best_p)))
    if b > a + 2:
        j = a + int(np.argmax(ac[a:b + 1]))
        y0, y1, y2 = ac[j - 1], ac[j], ac[j + 1]
        denom = y0 - 2 * y1 + y2
        offset = 0.5 * (y0 - y2) / denom if abs(denom) > 1e-12 else 0.0
        refined = (j + float(np.clip(offset, -0.5, 0.5))) / k
        if abs(refined - best_p) < 0.03 * best_p:
            best_p = refined
    # Then finer: the far multiple brings p within the spectrum's narrow search window (without
    # it 3 of 40 tuning pages stayed up to 0.5 % off, at the window's edge), the spectrum takes
    # out the parabola's bias.
    best_p = refine_period(profile, best_p)
    return best_p, float(np.clip(score[i] / 0.3, 0.0, 1.0))


def refine_period(profile: np.ndarray, period: float, reach: float = 0.004, steps: int = 9) -> float:
    """``period`` (px) made precise to a few parts in 100,000: the peak of the profile's
    spectrum near the frequency 1 / ``period``, searched within +-``reach`` of it.

    The autocorrelation's peak near k periods, read with a parabola, was biased by up to
    5 parts in 10,000 (one sample of time over a 10 s strip): grid lines are narrower than
    the parabola assumes, and every page of the same size puts the peak at the same fraction
    of a pixel, so the error did not average out. The spectrum's main lobe is smooth and a
    whole profile wide, so its parabola is not biased. Returns ``period`` unchanged when the
    peak lies at the search's edge (the period was not near one of the profile's).
    """
    x = np.asarray(profile, np.float64)
    x = x - x.mean()
    if period <= 0 or not np.any(x):
        return period
    periods = period * (1.0 + np.linspace(-reach, reach, steps))
    cols = np.arange(x.size, dtype=np.float64)
    # A product and a sum rather than a matrix-vector product: at this size OpenBLAS wakes its
    # threads, which then spin for a while and took the cores from everything after them (the
    # model and Grad-CAM ran 2.5 times slower on 2 cores).
    mag = np.abs((np.exp(-2j * np.pi * np.outer(1.0 / periods, cols)) * x).sum(axis=1))
    i = int(np.argmax(mag))
    if i == 0 or i == steps - 1:
        return period
    y0, y1, y2 = mag[i - 1], mag[i], mag[i + 1]
    denom = y0 - 2 * y1 + y2
    offset = 0.5 * (y0 - y2) / denom if denom < 0 else 0.0
    return float(periods[i] + offset * (periods[1] - periods[0]))


def _minor_support(ac: np.ndarray, pitch: float) -> float:
    """Evidence for lines every ``pitch`` px (within 3 %) in a profile's autocorrelation
    ``ac``, without the 5 mm test."""
    if ac.size < 12 * pitch:
        return 0.0
    periods = np.arange(0.97 * pitch, 1.03 * pitch, 0.02)
    return float(_robust_contrast(ac, periods).max())


def estimate_pitch_xy(grid: np.ndarray, prior: float) -> tuple[float, float, float, float]:
    """Grid pitch along x (from the vertical lines) and along y (from the horizontal lines).

    Returns:
        (px per mm along x, confidence, px per mm along y, confidence); a pitch is 0.0 where
        that direction shows no grid.
    """
    along_x, along_y = grid.mean(axis=0), grid.mean(axis=1)
    px, cx = _period_from_profile(along_x, prior)
    py, cy = _period_from_profile(along_y, prior)
    if px > 0 and py > 0 and abs(px - py) > 0.04 * min(px, py):
        # The grid is square (the page was straightened and its aspect set before this), so
        # the two directions should agree. When they do not, trust the pitch whose 1 mm lines
        # show in both directions: the other one came from something else that repeats -- the
        # beats of a blue trace, whose ink is light enough to pass for grid, echo its 5 mm test.
        ac_x, ac_y = _autocorr(along_x), _autocorr(along_y)
        x_ok = _minor_support(ac_x, px) > 0.02 and _minor_support(ac_y, px) > 0.02
        y_ok = _minor_support(ac_x, py) > 0.02 and _minor_support(ac_y, py) > 0.02
        if y_ok and not x_ok:
            px, cx = _period_from_profile(along_x, py, 0.97, 1.03)
        elif x_ok and not y_ok:
            py, cy = _period_from_profile(along_y, px, 0.97, 1.03)
    return px, cx, py, cy


def combine_pitches(px: float, cx: float, py: float, cy: float) -> tuple[float | None, float]:
    """One pitch from the x and y pitches and their confidences (``estimate_pitch_xy``): their
    weighted mean when they agree within 3 %, else the clearer one (None below 0.2)."""
    results = [(p, c) for p, c in ((px, cx), (py, cy)) if p > 0]
    if not results:
        return None, 0.0
    if len(results) == 2 and abs(px - py) < 0.03 * px:
        return float((px * cx + py * cy) / max(cx + cy, 1e-9)), float(max(cx, cy))
    p, conf = max(results, key=lambda r: r[1])
    return (float(p), conf) if conf > 0.2 else (None, conf)
