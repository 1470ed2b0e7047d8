"""Sanity checks for the saliency maps, on synthetic printouts whose truth is known.

1. Model randomisation (Adebayo et al. 2018): re-initialise the top of the network (head,
   attention, BiLSTM, last conv block) and the map must change; a map that survives it shows
   the input's edges, not what the model learned. Measured as the rank correlation of the
   two maps (near 0: changed; near 1: the same).
2. Trace mass: the share of saliency within ``dilate_mm`` of a trace pixel, against the share
   of the trace area those pixels cover (what a map blind to the traces would give).
3. Territory: on printouts with ST elevation injected in one territory (inferior, anterior,
   lateral), the lead group with the most saliency per lead should be that territory.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import torch

from .attribution import group_shares, lead_shares, trace_mass_share
from .explain import cam_on_page, compute_cam
from .model import ECGNet

TERRITORIES = ("inferior", "anterior", "lateral")


def randomised_copy(model: ECGNet, seed: int = 0) -> ECGNet:
    """The model with its top layers re-initialised (cascading randomisation down to the last conv)."""
    other = copy.deepcopy(model)
    torch.manual_seed(seed)
    for module in [other.head, other.attn, other.lstm, other.to_steps, other.last_conv]:
        for m in module.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
    return other.eval()


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman correlation of two maps (on a 4x-downsampled grid: the maps are smooth)."""
    a = cv2.resize(a, (a.shape[1] // 4, a.shape[0] // 4), interpolation=cv2.INTER_AREA).ravel()
    b = cv2.resize(b, (b.shape[1] // 4, b.shape[0] // 4), interpolation=cv2.INTER_AREA).ravel()
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    if ra.std() == 0 or rb.std() == 0:
        return 0.0
    return float(np.corrcoef(ra, rb)[0, 1])


@dataclass
class SaliencyReport:
    n: int = 0
    risky_called_risky: int = 0
    territory_hits: dict[str, int] = field(default_factory=dict)
    trace_mass: dict[str, list[float]] = field(default_factory=dict)
    trace_area: list[float] = field(default_factory=list)
    randomisation_corr: dict[str, list[float]] = field(default_factory=dict)
    ms_per_map: dict[str, list[float]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        def med(v: list[float]) -> float | None:
            return float(np.median(v)) if v else None

        return {
            "n": self.n,
            "risky_called_risky": self.risky_called_risky,
            "territory_hit_rate": {m: h / self.n for m, h in self.territory_hits.items()} if self.n else {},
            "trace_mass_mean": {m: float(np.mean(v)) for m, v in self.trace_mass.items()},
            "trace_area_share_mean": float(np.mean(self.trace_area)) if self.trace_area else None,
            "randomisation_rank_corr_median": {m: med(v) for m, v in self.randomisation_corr.items()},
            "ms_per_map_median": {m: med(v) for m, v in self.ms_per_map.items()},
        }


def run_checks(predictor: Any, n: int = 24, methods: tuple[str, ...] = ("gradcam", "guided-gradcam"),
               dilate_mm: float = 2.0, seed: int = 100, st_elevation_mv: float = 0.3) -> SaliencyReport:
    """Run the three checks on ``n`` synthetic risky printouts (territories in turn)."""
    from .io import from_array
    from .synth.generate import example_printout

    layouts, grids = ("3x4+1", "6x2", "12x1"), ("red", "pink", "green", "bw")
    report = SaliencyReport()
    random_model = randomised_copy(predictor.model, seed)
    for i in range(n):
        territory = TERRITORIES[i % 3]
        printout = example_printout(True, seed=seed + i, layout=layouts[(i // 3) % 3], grid=grids[i % 4],
                                    dpi=150.0, territory=territory, st_elevation_mv=st_elevation_mv)[0]
        a = predictor.analyse(from_array(printout.rgb), keep_stages=False)
        pipe = a.pipeline
        if a.status != "ok" or pipe is None or pipe.crop_box is None or pipe.px_per_mm is None:
            continue
        report.n += 1
        report.risky_called_risky += int(a.label == "risky")
        x0, y0, x1, y1 = pipe.crop_box
        k = max(1, int(round(2 * dilate_mm * pipe.px_per_mm)) | 1)
        near = cv2.dilate((pipe.ink_mask[y0:y1, x0:x1] > 0).astype(np.uint8), np.ones((k, k), np.uint8))
        report.trace_area.append(float(near.mean()))
        for method in methods:
            t = time.perf_counter()
            cam = compute_cam(predictor.model, pipe.model_input, 1, method, predictor.lock)
            report.ms_per_map.setdefault(method, []).append((time.perf_counter() - t) * 1000)
            page = cam_on_page(cam, pipe.crop_box, pipe.ink_mask.shape)
            report.trace_mass.setdefault(method, []).append(
                trace_mass_share(page, pipe.ink_mask, pipe.crop_box, dilate_mm, pipe.px_per_mm))
            groups = group_shares(lead_shares(page, pipe.lead_boxes))
            hit = bool(groups) and max(groups, key=groups.get) == territory
            report.territory_hits[method] = report.territory_hits.get(method, 0) + int(hit)
            rand = compute_cam(random_model, pipe.model_input, 1, method)
            report.randomisation_corr.setdefault(method, []).append(rank_correlation(cam, rand))
    return report
