"""Quality gate: can this image be assessed at all? Every refusal carries a reason."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from .crop import TraceRegion
from .layout import baseline_concentration, row_concentration


@dataclass(frozen=True)
class GateResult:
    """The verdict and the measurements behind it."""

    ok: bool
    reasons: tuple[str, ...]
    measures: dict[str, float] = field(default_factory=dict)

    @property
    def message(self) -> str:
        return "; ".join(self.reasons) if self.reasons else "ok"


def brightness_stats(rgb: np.ndarray) -> tuple[float, float]:
    """(mean luminance 0..255, share of clipped-white pixels) on a small copy."""
    step = max(1, max(rgb.shape[:2]) // 256)
    gray = cv2.cvtColor(np.ascontiguousarray(rgb[::step, ::step]), cv2.COLOR_RGB2GRAY)
    return float(gray.mean()), float(np.mean(gray >= 252))


def sharpness(flat_rgb: np.ndarray, mask: np.ndarray, px_per_mm: float) -> float:
    """Edge steepness across strokes, in darkness units per mm (high = sharp).

    The 90th percentile of the gradient on stroke borders, scaled by the pixel pitch so the
    measure does not depend on resolution.
    """
    if not mask.any():
        return 0.0
    gray = cv2.cvtColor(flat_rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    mag = cv2.magnitude(gx, gy)
    border = cv2.dilate(mask, np.ones((3, 3), np.uint8)) > 0
    return float(np.percentile(mag[border], 90)) * px_per_mm


def stroke_width_mm(mask: np.ndarray, px_per_mm: float) -> float:
    """Median stroke width: twice the distance from a stroke's core to its edge."""
    if not mask.any():
        return 0.0
    dist = cv2.distanceTransform((mask > 0).astype(np.uint8), cv2.DIST_L2, 3)
    core = dist[(mask > 0)]
    return float(2.0 * np.percentile(core, 75)) / px_per_mm


def assess(input_rgb: np.ndarray, flat_rgb: np.ndarray, mask: np.ndarray, region: TraceRegion,
           px_per_mm: float, grid_found: bool, text_share: float = 0.0,
           baselines: tuple[float, ...] = ()) -> GateResult:
    """Decide whether the cleaned page holds a readable ECG.

    The thresholds were set on synthetic photos with known blur and exposure and on the real
    printouts, which must all pass; see tests/test_gate.py.
    """
    reasons: list[str] = []
    mean_lum, clipped = brightness_stats(input_rgb)
    measures = {"mean_luminance": mean_lum, "clipped_white": clipped}
    if mean_lum < 45:
        reasons.append(f"the photo is too dark (mean brightness {mean_lum:.0f} of 255); use more light")
    if clipped > 0.9 and region.box is None:
        reasons.append("the photo is overexposed or blank: almost every pixel is pure white")
    ink_share = float(np.count_nonzero(mask)) / mask.size
    measures["ink_share"] = ink_share
    measures["trace_count"] = float(region.n_traces)
    measures["trace_width_coverage"] = region.width_coverage
    if region.box is None:
        if not reasons:
            reasons.append("no ECG trace found: this does not look like an ECG printout")
        return GateResult(False, tuple(reasons), measures)
    x0, y0, x1, y1 = region.box
    crop = mask[y0:y1, x0:x1]
    crop_ink = float(np.count_nonzero(crop)) / max(crop.size, 1)
    width_mm = stroke_width_mm(crop, px_per_mm)
    sharp = sharpness(flat_rgb[y0:y1, x0:x1], crop, px_per_mm)
    measures.update({"crop_ink_share": crop_ink, "stroke_width_mm": width_mm, "sharpness": sharp})
    measures["text_share"] = text_share
    share, concentration = baseline_concentration(mask, region.box, baselines, px_per_mm)
    rows_conc = row_concentration(mask, region.box, px_per_mm)
    measures.update({"baseline_share": share, "baseline_concentration": concentration, "rows": float(len(baselines)),
                     "row_concentration": rows_conc})
    if text_share > 0.5:
        reasons.append(f"this looks like a page of text ({text_share:.0%} of the marks are letter-shaped), "
                       "not an ECG printout")
    elif crop_ink > 0.25:
        reasons.append(f"large dark areas ({crop_ink:.0%} of the trace area): not an ECG printout, or a very dark photo")
    elif width_mm > 1.7:
        reasons.append(f"the lines are {width_mm:.1f} mm thick: not ECG traces, or the photo is badly out of focus")
    n_rows = len(baselines)
    # Many rows (12x1) spread the ink over more of the page, so they need less concentration.
    if not reasons and (rows_conc < (2.1 if n_rows <= 6 else 1.6) or share < 0.25):
        reasons.append("the marks do not line up along trace baselines: this does not look like an ECG printout")
    elif not reasons and n_rows > 16:
        reasons.append(f"{n_rows} rows of marks: more than any 12-lead layout has; not an ECG printout?")
    elif not reasons and n_rows < 2:
        reasons.append("only one row of trace found: a 12-lead ECG printout has three or more")
    if region.width_coverage < 0.45:
        reasons.append(f"traces span only {region.width_coverage:.0%} of the page width: page cut off, or not an ECG")
    if sharp < 0.3 and not reasons:
        reasons.append("the photo is too blurry to read the traces; hold the phone still and focus")
    measures["grid_found"] = float(grid_found)
    return GateResult(not reasons, tuple(reasons), measures)
