"""The same traces on another hospital's paper: re-templated printouts for shortcut tests.

A model that reads traces gives the same risk whatever the grid colour, margins, header text
or ink colour around them; a model that learned the paper does not. ``retemplate`` takes the
trace mask the pipeline found on a real printout and draws it on a different template at the
same scale (the grid pitch is kept, so millimetres stay millimetres).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .paper import GRID_COLOURS, PaperStyle, grid_image


@dataclass(frozen=True)
class Template:
    name: str
    grid: str = "red"
    margins_mm: tuple[float, float, float, float] = (10.0, 30.0, 10.0, 12.0)  # left, top, right, bottom
    header: tuple[str, ...] = ()
    footer: str = ""
    ink_rgb: tuple[int, int, int] = (20, 20, 20)
    paper_rgb: tuple[int, int, int] = (255, 255, 255)
    dotted_minor: bool = False


TEMPLATES: tuple[Template, ...] = (
    Template("green, wide margins, long header", grid="green", margins_mm=(25.0, 48.0, 20.0, 25.0),
             header=("ST. ELSEWHERE GENERAL HOSPITAL - CARDIOLOGY", "ID 0000000  Age 00  Sex -",
                     "Vent rate 00 bpm  PR 000 ms  QRS 00 ms  QT/QTc 000/000 ms", "Unconfirmed report"),
             footer="25 mm/s  10 mm/mV  0.05-150 Hz  ~  50 Hz"),
    Template("black-and-white, narrow margins, no text", grid="bw", margins_mm=(5.0, 7.0, 5.0, 7.0)),
    Template("pink, blue ink, cream paper", grid="pink", margins_mm=(15.0, 22.0, 12.0, 18.0),
             header=("Clinic ECG  12-lead rest",), footer="Speed 25 mm/s  Gain 10 mm/mV",
             ink_rgb=(35, 45, 140), paper_rgb=(252, 248, 236)),
    Template("orange dotted grid", grid="orange", margins_mm=(12.0, 30.0, 12.0, 14.0), dotted_minor=True,
             header=("Ward 7   bed 12", "Interpretation: see physician")),
)


def retemplate(trace_mask: np.ndarray, box: tuple[int, int, int, int], px_per_mm: float,
               template: Template, ink: np.ndarray | None = None) -> np.ndarray:
    """Draw the traces inside ``box`` of ``trace_mask`` on ``template``; returns uint8 RGB.

    Args:
        trace_mask: uint8 mask, >0 on trace pixels (the pipeline's ``ink_mask``).
        box: (x0, y0, x1, y1) of the trace area in ``trace_mask``.
        px_per_mm: the grid pitch found on the original, kept on the new page.
        ink: the original's stroke darkness in [0, 1] on the same frame (the pipeline's
            ``ink_soft``). With it the strokes keep their weight and shading, so only the paper
            changes; without it they are drawn solid from the mask, which makes them about
            25 % heavier (measured on the real validation printouts) -- a change of pen, not
            of paper.
    """
    if px_per_mm <= 0:
        raise ValueError("px_per_mm must be positive")
    x0, y0, x1, y1 = (int(v) for v in box)
    traces = trace_mask[y0:y1, x0:x1]
    if traces.size == 0:
        raise ValueError("the trace box is empty")
    th, tw = traces.shape
    ml, mt, mr, mb = (int(round(m * px_per_mm)) for m in template.margins_mm)
    h, w = th + mt + mb, tw + ml + mr
    style = PaperStyle(grid=template.grid, dpi=px_per_mm * 25.4, paper_rgb=template.paper_rgb,
                       dotted_minor=template.dotted_minor)
    # The grid reaches 4 mm beyond the traces (or to the page edge), as on real paper.
    pad = 4.0 * px_per_mm
    grid_box = (max(0.0, ml - pad), max(0.0, mt - pad), min(w - 1.0, ml + tw + pad), min(h - 1.0, mt + th + pad))
    page = grid_image(h, w, grid_box, style).astype(np.float32)
    if ink is not None:
        # The original strokes, darkness for darkness, only where the mask keeps a trace.
        alpha = np.where(traces > 0, np.clip(ink[y0:y1, x0:x1], 0.0, 1.0), 0.0).astype(np.float32)[..., None]
    else:
        # A soft pen: anti-aliased edges like a printer's.
        alpha = cv2.GaussianBlur((traces > 0).astype(np.float32), (3, 3), 0.6)[..., None]
    ink_rgb = np.asarray(template.ink_rgb, np.float32)
    region = page[mt:mt + th, ml:ml + tw]
    page[mt:mt + th, ml:ml + tw] = region * (1 - alpha) + ink_rgb * alpha
    out = np.clip(page + 0.5, 0, 255).astype(np.uint8)
    text_h = 3.0 * px_per_mm
    scale = cv2.getFontScaleFromHeight(cv2.FONT_HERSHEY_SIMPLEX, max(1, int(text_h)), 1)
    thick = max(1, int(round(px_per_mm * 0.3)))
    for i, line in enumerate(template.header):
        y = int(round((i + 1) * 1.6 * text_h))
        if y < mt - pad:
            cv2.putText(out, line, (ml, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (30, 30, 30), thick, cv2.LINE_AA)
    if template.footer and mb > 2 * text_h:
        cv2.putText(out, template.footer, (ml, h - int(mb / 3)), cv2.FONT_HERSHEY_SIMPLEX, scale, (30, 30, 30),
                    thick, cv2.LINE_AA)
    return out


_INKS = ((20, 20, 20), (45, 45, 45), (10, 10, 70), (35, 45, 140), (20, 60, 30), (60, 25, 25))
_PAPERS = ((255, 255, 255), (252, 248, 236), (246, 246, 242), (255, 250, 245))
_WORDS = ("ECG", "12-lead", "rest", "Ward", "Clinic", "Hospital", "Cardiology", "ID", "Age", "Sex", "Vent rate",
          "PR", "QRS", "QT/QTc", "bpm", "ms", "Unconfirmed", "Sinus rhythm", "25 mm/s", "10 mm/mV", "Filter",
          "0.05-150 Hz", "Room", "Bed", "Dr.", "Report", "Normal ECG", "Technician", "Device")


def random_template(rng: np.random.Generator) -> Template:
    """A template drawn at random (for training; the benchmark's fixed ``TEMPLATES`` are not
    among them): grid colour and dots, margins, 0-4 header lines and a footer of made-up text,
    ink and paper colour."""

    def line() -> str:
        n = int(rng.integers(2, 7))
        return "  ".join(str(w) + (f" {int(rng.integers(0, 999))}" if rng.random() < 0.4 else "")
                         for w in rng.choice(_WORDS, n))

    grid = str(rng.choice(list(GRID_COLOURS)))
    margins = (float(rng.uniform(4, 28)), float(rng.uniform(6, 50)), float(rng.uniform(4, 25)), float(rng.uniform(6, 28)))
    return Template(
        name="random", grid=grid, margins_mm=margins,
        header=tuple(line() for _ in range(int(rng.integers(0, 5)))),
        footer=line() if rng.random() < 0.6 else "",
        ink_rgb=tuple(int(v) for v in _INKS[int(rng.integers(len(_INKS)))]),
        paper_rgb=tuple(int(v) for v in _PAPERS[int(rng.integers(len(_PAPERS)))]),
        dotted_minor=bool(rng.random() < 0.25),
    )
