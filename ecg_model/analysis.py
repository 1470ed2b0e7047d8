"""One image's outcome, and the half of the work that needs no model: load, clean, gate.

This module does not import torch, so that the worker processes of a batch start in a fifth
of a second (with torch: 1.5 s) and the model stays in one process.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ECGImageError
from .imaging import PipelineConfig, PipelineResult, run_pipeline
from .io import ImageSource, LoadedImage, load_image

NOT_A_DEVICE = ("Teaching and research tool, not a medical device: this estimate must not be used "
                "to diagnose, treat or triage anyone.")


@dataclass
class Analysis:
    """The outcome for one image (DESIGN.md's ``predict --json`` fields, plus the details)."""

    path: str
    status: str  # ok | rejected | error
    message: str
    risk: float | None = None
    label: str | None = None
    risk_band: tuple[float, float] | None = None
    logit: float | None = None
    deskew_deg: float | None = None
    turned_deg: int = 0  # 0, 90, 180 or 270: the input's turn (counter-clockwise) that stood the page upright
    timings_ms: dict[str, float] = field(default_factory=dict)
    pipeline: PipelineResult | None = None
    loaded: LoadedImage | None = None
    cam: np.ndarray | None = None  # at model-input size

    @property
    def scorable(self) -> bool:
        """Cleaned, passed the gate, and not scored yet."""
        return self.status == "ok" and self.risk is None and self.pipeline is not None \
            and self.pipeline.model_input is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "status": self.status,
            "risk": None if self.risk is None else round(float(self.risk), 6),
            "label": self.label,
            "message": self.message,
            "deskew_deg": None if self.deskew_deg is None else round(float(self.deskew_deg), 3) + 0.0,
            "turned_deg": self.turned_deg,
            "risk_band": None if self.risk_band is None else [round(v, 6) for v in self.risk_band],
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
        }


def label_of_source(source: ImageSource | LoadedImage, name: str | None = None) -> str:
    return name or (str(source) if isinstance(source, (str, Path)) else "upload")


def clean(source: ImageSource | LoadedImage, config: PipelineConfig, name: str | None = None,
          keep_stages: bool = True) -> Analysis:
    """Load, clean and gate one image; never raises for a bad image.

    Returns:
        An ``Analysis`` whose status is "error" (file unreadable), "rejected" (read, but not an
        ECG that can be assessed) or "ok" with no risk yet (``scorable``).
    """
    label = label_of_source(source, name)
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    try:
        loaded = source if isinstance(source, LoadedImage) else load_image(source)
    except ECGImageError as exc:
        timings["total"] = (time.perf_counter() - t0) * 1000
        return Analysis(label, exc.kind, str(exc), timings_ms=timings)
    timings["load"] = (time.perf_counter() - t0) * 1000
    try:
        result = run_pipeline(loaded, config, keep_stages=keep_stages)
    except ECGImageError as exc:
        timings["total"] = (time.perf_counter() - t0) * 1000
        return Analysis(label, exc.kind, str(exc), timings_ms=timings, loaded=loaded)
    timings.update(result.timings_ms)
    analysis = Analysis(label, "ok", "", deskew_deg=result.deskew_deg, turned_deg=result.turned_deg,
                        pipeline=result, loaded=loaded, timings_ms=timings)
    if not result.gate.ok or result.model_input is None:
        analysis.status = "rejected"
        analysis.message = "cannot assess this image: " + result.gate.message
    timings["total"] = (time.perf_counter() - t0) * 1000
    return analysis
