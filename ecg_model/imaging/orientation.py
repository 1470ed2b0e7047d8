"""Which way up a page lies: scanned or photographed sideways or upside down, with no EXIF
orientation to say so (screenshots, messaging apps and scanners drop it).

Two cues, both read off the trace mask the pipeline makes anyway:

- Sideways: a trace lingers on its baseline, so the ink's profile across the rows of an
  upright page has sharp peaks (one per trace row) while its profile across the columns is
  spread out; a page turned a quarter has it the other way round. The grid is square and
  says nothing, which is why this comes after grid removal.
- Upside down: printers draw a calibration pulse (a 1 mV step, standing up) before each row.
  On a page turned half way round the pulses stand after the rows' ends, hanging down. A
  page without pulses is left as it lies: the waves' own polarity was measured as too weak
  a cue (wrong on 11 of 78 upright pages, real and synthetic).

``pipeline.run_pipeline`` decides what to try from these and keeps a turn only when the
turned page reads upright, passes the gate and shows a layout.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# A log ratio below minus this reads as sideways: upright pages measured 0.13 at the least
# (5th percentile 0.40) on real and synthetic printouts, sideways ones mostly the same negated.
SIDEWAYS_MARGIN = 0.1
# Rows this clear (and no pulses to say otherwise) need no quarter turn tried: 3x4 and 6x2
# pages read 0.8-1.4; a 12x1 page reads 0.3-0.6 upright and as much sideways.
CLEAR_ROWS = 0.6


@dataclass(frozen=True)
class OrientationEvidence:
    """What the cues read on one pass of the pipeline.

    Attributes:
        row_structure: log(sharpness of the ink profile across rows / across columns);
            positive when the traces run along x.
        pulses_upright: rows with a calibration pulse before their start.
        pulses_turned: rows with one as the page would be turned half way round.
    """

    row_structure: float
    pulses_upright: int = 0
    pulses_turned: int = 0

    @property
    def sideways(self) -> bool:
        return self.row_structure < -SIDEWAYS_MARGIN

    @property
    def pulses_stand(self) -> bool:
        """Pulses stand before the rows: the page is the right way up."""
        return self.pulses_upright >= 2 and self.pulses_upright >= 2 * self.pulses_turned + 1

    @property
    def upside_down(self) -> bool:
        # At least two rows' pulses, and clearly more than the other way up (a pulse-like
        # stroke can turn up at a row's end: a square wave, a lead separator's foot).
        return self.pulses_turned >= 2 and self.pulses_turned >= 2 * self.pulses_upright + 1


def reads_upright(after: OrientationEvidence, before: OrientationEvidence) -> bool:
    """Whether a page read after a quarter turn (``after``) lies the right way up, given how it
    read as it lay (``before``): no pulses hanging, and pulses standing before its rows, or else
    rows clearly more row-like than before.

    Pulses standing settle it alone: a 12x1 page's QRS complexes line up down the page (every
    lead beats at once), and kept whole they can make its column profile the sharper one, so
    upright it may read as sideways (-0.23 on a held-out PTB-XL page with 12 pulses standing).
    """
    if after.upside_down:
        return False
    return after.pulses_stand or (
        not after.sideways and after.row_structure > max(0.0, before.row_structure) + SIDEWAYS_MARGIN)


def _profile_sharpness(profile: np.ndarray) -> float:
    """Sum of squares of a profile relative to a flat one of the same ink (1.0 when flat)."""
    p = np.convolve(profile.astype(np.float64), np.ones(3) / 3.0, mode="same")
    total = float(p.sum())
    return float((p ** 2).sum() / (total * total) * p.size) if total > 0 else 1.0


def row_structure(mask: np.ndarray) -> float:
    """log of how much sharper the ink's profile is across rows than across columns.

    Args:
        mask: the page's ink with the grid removed (nonzero on ink), deskewed.
    """
    ink = (mask > 0).view(np.uint8)
    across_rows = _profile_sharpness(ink.sum(axis=1, dtype=np.int64))
    across_cols = _profile_sharpness(ink.sum(axis=0, dtype=np.int64))
    return float(np.log(across_rows / across_cols))


def _stands_pulse(mask: np.ndarray, x_left: int, x_right: int, baseline: float, px_per_mm: float,
                  room_above: float | None) -> bool:
    """Whether a calibration pulse stands on the row at ``baseline`` between columns
    ``x_left:x_right``: two vertical strokes rising from the baseline to the same height (3.5 to
    24 mm: the 5, 10 and 20 mm/mV pulses, with room for a page not quite to scale), 1.5 to 8 mm
    apart and joined at the top by a flat stroke. A QRS complex's two strokes meet in a point,
    never along a flat top; what is joined to the pulse's foot (the trace diving right after
    it, a label beside it) does not matter.
    """
    ppm = px_per_mm
    h, w = mask.shape[:2]
    x_left, x_right = max(0, x_left), min(w, x_right)
    reach = 26.0 * ppm if room_above is None else min(26.0 * ppm, room_above - 1.0 * ppm)
    y_top, y_bot = max(0, int(baseline - reach)), min(h, int(baseline + 3 * ppm) + 1)
    if x_right - x_left < 3 * ppm or y_bot - y_top < 3.5 * ppm:
        return False
    region = (mask[y_top:y_bot, x_left:x_right] > 0).astype(np.uint8)
    vertical = cv2.morphologyEx(region, cv2.MORPH_OPEN, np.ones((max(3, int(3 * ppm)), 1), np.uint8))
    cols = np.nonzero(vertical.any(axis=0))[0]
    if cols.size < 2:
        return False
    # Strokes: runs of columns with a vertical stroke (a one-column gap bridged).
    breaks = np.nonzero(np.diff(cols) > 2)[0]
    strokes = []
    base = baseline - y_top
    for a, b in zip(np.r_[cols[0], cols[breaks + 1]], np.r_[cols[breaks], cols[-1]]):
        rows = np.nonzero(vertical[:, a:b + 1].any(axis=1))[0]
        top, bottom = int(rows[0]), int(rows[-1])
        if abs(bottom - base) <= 3 * ppm and 3.5 * ppm <= base - top <= 24.5 * ppm:
            strokes.append((int(a), int(b), top))
    flat = max(2, int(round(0.6 * ppm)))
    for i, (a1, b1, t1) in enumerate(strokes):
        for a2, b2, t2 in strokes[i + 1:]:
            gap = (a2 + b2) / 2.0 - (a1 + b1) / 2.0
            if not (1.5 * ppm <= gap <= 8 * ppm) or abs(t1 - t2) > 0.8 * ppm:
                continue
            top = min(t1, t2)
            between = region[max(0, top - 1):top + flat + 1, b1 + 1:a2]
            if between.shape[1] > 0 and between.any(axis=0).mean() >= 0.8:
                return True
    return False


def rows_with_pulse(mask: np.ndarray, baselines: list[float], first: int, px_per_mm: float) -> list[bool]:
    """For each row, whether a calibration pulse stands at its start (the traces' first column
    is ``first``)."""
    found = []
    for r, b in enumerate(baselines):
        room = None if r == 0 else b - baselines[r - 1]
        # Up to 25 mm before the traces start, and 14 mm into them: the traces' first column
        # can be the pulse's own (joined to the trace) or its foot's, 2-3 mm before its rise.
        found.append(_stands_pulse(mask, int(first - 25 * px_per_mm), int(first + 14 * px_per_mm), b, px_per_mm,
                                   room))
    return found


def _count_pulses(mask: np.ndarray, baselines: list[float], first: int, px_per_mm: float) -> int:
    return sum(rows_with_pulse(mask, baselines, first, px_per_mm))


def pulse_counts(mask: np.ndarray, baselines: tuple[float, ...], span: tuple[int, int] | None,
                 px_per_mm: float) -> tuple[int, int]:
    """Rows with a calibration pulse before their start, as the page lies and turned half way
    round (the strip past the rows' end rotated by 180 degrees, baselines mirrored)."""
    if not baselines or span is None:
        return 0, 0
    h, w = mask.shape[:2]
    upright = _count_pulses(mask, list(baselines), span[0], px_per_mm)
    # Only the columns the search reads are turned (turning the whole page cost more).
    a = max(0, int(span[1] - 14 * px_per_mm) - 1)
    b = min(w, int(span[1] + 25 * px_per_mm) + 2)
    strip = np.ascontiguousarray(mask[:, a:b][::-1, ::-1])
    turned = _count_pulses(strip, sorted(h - 1 - y for y in baselines), b - 1 - span[1], px_per_mm)
    return upright, turned


def turn_matrix(k: int, width: int, height: int) -> np.ndarray:
    """3x3 map from the pixels of ``np.rot90(image, k)`` back to those of ``image`` (width x
    height): k quarter turns counter-clockwise, as numpy turns."""
    k %= 4
    w1, h1 = width - 1.0, height - 1.0
    return {0: np.eye(3),
            1: np.array([[0.0, -1.0, w1], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]),
            2: np.array([[-1.0, 0.0, w1], [0.0, -1.0, h1], [0.0, 0.0, 1.0]]),
            3: np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, h1], [0.0, 0.0, 1.0]])}[k]
