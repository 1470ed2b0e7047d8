"""Draw a 12-lead recording on ECG paper at true scale (25 mm/s, 10 mm/mV)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from ..layouts import LAYOUTS, SYNTH_LAYOUTS, box_name
from .waveform import LEADS

PAPER_SPEED_MM_S = 25.0
GAIN_MM_MV = 10.0

# (minor line colour, major line colour) in RGB.
GRID_COLOURS: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    "red": ((246, 180, 180), (226, 90, 90)),
    "pink": ((250, 215, 222), (238, 150, 170)),
    "orange": ((250, 214, 170), (238, 150, 70)),
    "green": ((190, 230, 190), (110, 190, 110)),
    "grey": ((215, 215, 215), (160, 160, 160)),
    "bw": ((225, 225, 225), (120, 120, 120)),  # black-and-white print of a grid
}

@dataclass
class PaperStyle:
    """How the printout looks; every field is recorded in the ground truth."""

    layout: str = "3x4+1"
    grid: str = "red"
    dpi: float = 150.0
    page_mm: tuple[float, float] = (297.0, 210.0)  # A4 landscape
    line_width_mm: float = 0.3
    trace_rgb: tuple[int, int, int] = (20, 20, 20)
    paper_rgb: tuple[int, int, int] = (255, 255, 255)
    header: bool = True
    dotted_minor: bool = False
    font: int = cv2.FONT_HERSHEY_SIMPLEX
    margins_mm: tuple[float, float, float, float] = (10.0, 36.0, 10.0, 16.0)  # left, top, right, bottom
    header_text: list[str] = field(default_factory=list)

    @property
    def px_per_mm(self) -> float:
        return self.dpi / 25.4


@dataclass
class Printout:
    """A rendered page and the facts about it.

    Attributes:
        rgb: H x W x 3 uint8 page.
        trace_mask: H x W uint8, 255 where a waveform was drawn (no grid, text or pulses).
        px_per_mm: pixels per millimetre of the page.
        lead_boxes: lead -> [x0, y0, x1, y1] in page pixels (a lead may appear twice: the
            rhythm strip is stored as "II (rhythm)").
        baselines: lead box name -> y of its zero-mV line in page pixels.
        grid_box: [x0, y0, x1, y1] of the gridded area.
    """

    rgb: np.ndarray
    trace_mask: np.ndarray
    px_per_mm: float
    lead_boxes: dict[str, list[float]]
    baselines: dict[str, float]
    grid_box: list[float]
    style: PaperStyle
    pen_boxes: list[list[float]] = field(default_factory=list)  # calibration pulses and lead separators

    def truth(self) -> dict[str, Any]:
        return {
            "layout": self.style.layout,
            "grid": self.style.grid,
            "dpi": self.style.dpi,
            "px_per_mm": self.px_per_mm,
            "lead_boxes": self.lead_boxes,
            "baselines": self.baselines,
            "grid_box": self.grid_box,
            "pen_boxes": self.pen_boxes,
            "style": {"line_width_mm": self.style.line_width_mm, "trace_rgb": list(self.style.trace_rgb),
                      "paper_rgb": list(self.style.paper_rgb), "dotted_minor": self.style.dotted_minor,
                      "font": self.style.font, "page_mm": list(self.style.page_mm),
                      "margins_mm": list(self.style.margins_mm), "header_text": list(self.style.header_text)},
        }


def _line_coverage(n: int, start: float, pitch: float, count: int, width: float) -> np.ndarray:
    """Fraction of each pixel (along one axis) covered by evenly spaced lines."""
    cov = np.zeros(n, dtype=np.float32)
    centres = start + pitch * np.arange(count)
    lo = np.clip(np.floor(centres - width / 2).astype(int), 0, n - 1)
    hi = np.clip(np.ceil(centres + width / 2).astype(int), 0, n - 1)
    for c, a, b in zip(centres, lo, hi):
        px = np.arange(a, b + 1)
        overlap = np.minimum(px + 1, c + width / 2) - np.maximum(px, c - width / 2)
        cov[px] = np.maximum(cov[px], np.clip(overlap, 0, 1))
    return cov


def grid_image(h: int, w: int, box: tuple[float, float, float, float], style: PaperStyle) -> np.ndarray:
    """The paper with its 1 mm minor and 5 mm major lines inside ``box``, as uint8 RGB.

    Line coverage is computed per axis with sub-pixel accuracy (so the pitch is exact). The
    grid is separable: a pixel's colour depends only on its column's and its row's coverage,
    so each distinct kind of row is coloured once and the rows are copied into place.
    """
    ppm = style.px_per_mm
    x0, y0, x1, y1 = box
    nx = int((x1 - x0) / ppm + 1e-6) + 1
    ny = int((y1 - y0) / ppm + 1e-6) + 1
    minor_rgb, major_rgb = (np.asarray(c, np.float32) for c in GRID_COLOURS[style.grid])
    paper = np.asarray(style.paper_rgb, np.float32)
    minor_w = max(0.6, 0.08 * ppm)
    major_w = max(1.0, 0.16 * ppm)
    inside_x = np.zeros(w, np.float32)
    inside_y = np.zeros(h, np.float32)
    inside_x[int(np.floor(x0)):int(np.ceil(x1)) + 1] = 1
    inside_y[int(np.floor(y0)):int(np.ceil(y1)) + 1] = 1
    mx = _line_coverage(w, x0, ppm, nx, minor_w) * inside_x
    my = _line_coverage(h, y0, ppm, ny, minor_w) * inside_y
    big_x = _line_coverage(w, x0, 5 * ppm, (nx - 1) // 5 + 1, major_w) * inside_x
    big_y = _line_coverage(h, y0, 5 * ppm, (ny - 1) // 5 + 1, major_w) * inside_y
    row_keys = np.stack([my, big_y, inside_y], axis=1)
    kinds, row_kind = np.unique(row_keys, axis=0, return_inverse=True)
    patterns = np.empty((len(kinds), w, 3), np.uint8)
    for k, (cy, cby, iny) in enumerate(kinds):
        if iny == 0:
            patterns[k] = np.clip(paper + 0.5, 0, 255).astype(np.uint8)
            continue
        # Dotted minor grids (as on many thermal printers) have dots where minor lines cross.
        minor = mx * cy if style.dotted_minor else np.maximum(mx, cy)
        major = np.maximum(big_x, cby)
        colour = paper[None, :] * (1 - minor)[:, None] + minor_rgb[None, :] * minor[:, None]
        colour = colour * (1 - major)[:, None] + major_rgb[None, :] * major[:, None]
        patterns[k] = np.clip(colour + 0.5, 0, 255).astype(np.uint8)
    return patterns[row_kind.ravel()]


def _polyline(mask: np.ndarray, xs: np.ndarray, ys: np.ndarray, thickness: int) -> None:
    shift = 4  # sub-pixel precision: coordinates in 1/16 px
    pts = np.stack([xs, ys], axis=1) * (1 << shift)
    cv2.polylines(mask, [np.round(pts).astype(np.int32)], False, 255, thickness, cv2.LINE_AA, shift)


def _text(mask: np.ndarray, text: str, org: tuple[float, float], height_px: float,
          style: PaperStyle) -> None:
    scale = height_px / 22.0
    thickness = max(1, int(round(height_px / 12)))
    cv2.putText(mask, text, (int(org[0]), int(org[1])), style.font, scale, 255, thickness, cv2.LINE_AA)


def default_header(rng: np.random.Generator, heart_rate: float) -> list[str]:
    """Made-up patient and machine text, of the kind a model must not rely on."""
    pid = int(rng.integers(100000, 999999))
    day = f"20{int(rng.integers(18, 27)):02d}-{int(rng.integers(1, 13)):02d}-{int(rng.integers(1, 29)):02d}"
    clock = f"{int(rng.integers(0, 24)):02d}:{int(rng.integers(0, 60)):02d}"
    sex = str(rng.choice(["Male", "Female"]))
    age = int(rng.integers(25, 90))
    return [f"ID: {pid}   {sex}   {age} yrs   {day} {clock}",
            f"HR {heart_rate:.0f} bpm   PR 160 ms   QRS 92 ms   QT/QTc 380/410 ms"]


def render_printout(signals_mv: np.ndarray, fs: float, style: PaperStyle,
                    footer: str | None = None) -> Printout:
    """Draw the leads of ``signals_mv`` (n_samples x 12, mV) on a page.

    Raises:
        ValueError: for an unknown layout or grid colour, or a signal of the wrong shape.
    """
    if style.layout not in LAYOUTS:
        raise ValueError(f"unknown layout {style.layout!r}; choose one of {sorted(LAYOUTS)}")
    if style.grid not in GRID_COLOURS:
        raise ValueError(f"unknown grid colour {style.grid!r}; choose one of {sorted(GRID_COLOURS)}")
    if signals_mv.ndim != 2 or signals_mv.shape[1] != len(LEADS):
        raise ValueError(f"signals must be (n_samples, 12), got {signals_mv.shape}")
    ppm = style.px_per_mm
    page_w = int(round(style.page_mm[0] * ppm))
    page_h = int(round(style.page_mm[1] * ppm))
    ml, mt, mr, mb = (m * ppm for m in style.margins_mm)
    grid_box = (ml, mt, page_w - mr, page_h - mb)
    canvas = grid_image(page_h, page_w, grid_box, style)

    rows = LAYOUTS[style.layout]
    n_rows = len(rows)
    grid_h = grid_box[3] - grid_box[1]
    row_pitch = grid_h / n_rows
    duration = signals_mv.shape[0] / fs
    pulse_w = 5.0 * ppm  # calibration pulse: 0.2 s wide
    x_start = grid_box[0] + 3.0 * ppm + pulse_w + 2.0 * ppm
    strip_w = duration * PAPER_SPEED_MM_S * ppm
    thickness = max(1, int(round(style.line_width_mm * ppm)))
    trace_mask = np.zeros((page_h, page_w), np.uint8)
    other_ink = np.zeros((page_h, page_w), np.uint8)  # pulses, separators, text
    lead_boxes: dict[str, list[float]] = {}
    baselines: dict[str, float] = {}
    label_h = 2.6 * ppm
    labels: list[tuple[str, tuple[float, float]]] = []
    pen_boxes: list[list[float]] = []
    for r, row in enumerate(rows):
        baseline = grid_box[1] + row_pitch * (r + 0.6)
        # Calibration pulse: 1 mV (10 mm) high, 0.2 s wide.
        px0 = grid_box[0] + 3.0 * ppm
        pulse_x = np.array([px0 - 1.5 * ppm, px0, px0, px0 + pulse_w, px0 + pulse_w, px0 + pulse_w + 1.5 * ppm])
        pulse_y = np.array([baseline, baseline, baseline - 10 * ppm, baseline - 10 * ppm, baseline, baseline])
        _polyline(other_ink, pulse_x, pulse_y, thickness)
        pen_boxes.append([float(pulse_x[0]), float(baseline - 10 * ppm - thickness), float(pulse_x[-1]),
                          float(baseline + thickness)])
        seg_w = strip_w / len(row)
        for c, lead in enumerate(row):
            lead_index = LEADS.index(lead)
            t0 = duration * c / len(row)
            t1 = duration * (c + 1) / len(row)
            i0, i1 = int(round(t0 * fs)), int(round(t1 * fs))
            seg = signals_mv[i0:i1, lead_index]
            xs = x_start + (np.arange(i0, i0 + seg.size) / fs) * PAPER_SPEED_MM_S * ppm
            ys = baseline - seg * GAIN_MM_MV * ppm
            _polyline(trace_mask, xs, ys, thickness)
            name = box_name(style.layout, r, lead)
            lead_boxes[name] = [float(x_start + c * seg_w), float(baseline - row_pitch * 0.6),
                                float(x_start + (c + 1) * seg_w), float(baseline + row_pitch * 0.4)]
            baselines[name] = float(baseline)
            if c > 0:
                # A short separator marks where one lead hands over to the next.
                sx = x_start + c * seg_w
                _polyline(other_ink, np.array([sx, sx]),
                          np.array([baseline - 3 * ppm, baseline + 3 * ppm]), thickness)
                pen_boxes.append([float(sx - thickness), float(baseline - 3 * ppm - thickness),
                                  float(sx + thickness), float(baseline + 3 * ppm + thickness)])
            labels.append((lead, (x_start + c * seg_w + 1.0 * ppm, baseline - 5.0 * ppm)))
    for lead, org in labels:
        _text(other_ink, lead, org, label_h, style)
    if style.header:
        lines = style.header_text or ["ECG"]
        for k, line in enumerate(lines):
            _text(other_ink, line, (ml, (10.0 + 8.0 * k) * ppm), 3.2 * ppm, style)
    foot = footer if footer is not None else "25 mm/s   10 mm/mV   0.05-150 Hz"
    if foot:
        _text(other_ink, foot, (ml, page_h - mb + 9.0 * ppm), 2.6 * ppm, style)
    # Ink covers a few per cent of the page: blend only where there is some.
    ink = np.maximum(trace_mask, other_ink)
    ys, xs = np.nonzero(ink)
    a = ink[ys, xs].astype(np.float32)[:, None] / 255.0
    blended = canvas[ys, xs].astype(np.float32) * (1.0 - a) + a * np.asarray(style.trace_rgb, np.float32)
    canvas[ys, xs] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    rgb = canvas
    return Printout(rgb=rgb, trace_mask=np.where(trace_mask >= 128, 255, 0).astype(np.uint8),
                    px_per_mm=ppm, lead_boxes=lead_boxes, baselines=baselines,
                    grid_box=[float(v) for v in grid_box], style=style, pen_boxes=pen_boxes)
