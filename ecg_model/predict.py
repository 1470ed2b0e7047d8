"""Predictor: weights loaded once; an image in, a calibrated risk (or a clear refusal) out."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from .analysis import NOT_A_DEVICE, Analysis, clean
from .batch import clean_crashed, clean_task, maybe_in_processes
from .calibrate import calibrated_probability
from .errors import WeightsError
from .explain import explain_decided
from .imaging import PIPELINE_VERSION, PipelineConfig
from .io import ImageSource, LoadedImage
from .model import fuse_for_inference
from .weights import DEFAULT_WEIGHTS, load_model

__all__ = ["NOT_A_DEVICE", "Analysis", "Predictor"]  # Analysis lives in analysis.py (no torch there)


def _tta_variants(x: np.ndarray) -> np.ndarray:
    """The input and four slightly shifted or scaled copies, for an uncertainty band."""
    import cv2

    h, w = x.shape
    out = [x]
    for sx, sy, tx, ty in ((1.04, 1.0, 0.0, 0.0), (0.96, 1.0, 0.0, 0.0), (1.0, 1.05, 0.0, 0.0), (1.0, 1.0, 0.02, 0.02)):
        m = np.array([[sx, 0, (1 - sx) * w / 2 + tx * w], [0, sy, (1 - sy) * h / 2 + ty * h]], np.float32)
        out.append(cv2.warpAffine(x, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0))
    return np.stack(out)


class Predictor:
    """Holds one model; safe to share between threads (one lock guards every model call).

    Args:
        weights: a weights file; the shipped default when None.
        device: "cpu", "cuda" or "auto".
    """

    def __init__(self, weights: str | Path | None = None, device: str = "cpu") -> None:
        path = Path(weights) if weights else DEFAULT_WEIGHTS
        self.weights_path = path
        model, self.ckpt = load_model(path)
        # Scoring and saliency only: batch norms folded into their convolutions (a fifth of
        # a forward pass less on the CPU, the same outputs).
        self.model = fuse_for_inference(model)
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.model.to(self.device)
        pipe = self.ckpt["pipeline"]
        if int(pipe.get("version", 0)) != PIPELINE_VERSION:
            raise WeightsError(f"these weights were trained with image pipeline version {pipe.get('version')}, "
                               f"this program runs version {PIPELINE_VERSION}; retrain them")
        self.pipeline_config = PipelineConfig(int(pipe["input_height"]), int(pipe["input_width"]),
                                              int(pipe.get("work_width", 1600)),
                                              # Weights from before the key: a scan narrower than
                                              # work_width is no longer enlarged (PipelineConfig).
                                              bool(pipe.get("enlarge", False)))
        self.temperature = float(self.ckpt["temperature"])
        self.bias = float(self.ckpt.get("bias", 0.0))
        self.threshold = float(self.ckpt["threshold"])
        self.lock = threading.Lock()

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.ckpt.get("metrics", {}))

    def _logits(self, views: np.ndarray) -> np.ndarray:
        """The model's logit for each (H, W) input of ``views``, in one batch."""
        batch = torch.from_numpy(np.ascontiguousarray(views, np.float32))[:, None].to(self.device)
        with self.lock, torch.inference_mode():
            self.model.eval()
            return self.model(batch).float().squeeze(1).cpu().numpy()

    def _risk_and_band(self, logits: np.ndarray) -> tuple[float, float, tuple[float, float]]:
        """(risk, logit, band) from the logits of the input (first) and its TTA copies."""
        probs = calibrated_probability(np.asarray(logits, np.float32), self.temperature, self.bias)
        return float(probs[0]), float(logits[0]), (float(probs.min()), float(probs.max()))

    def risk_of(self, x: np.ndarray) -> tuple[float, float, tuple[float, float]]:
        """(risk, logit, band) for one model input; the band spans the TTA copies."""
        return self._risk_and_band(self._logits(_tta_variants(x.astype(np.float32))))

    def label_of(self, logit: float) -> int:
        """1 (risky) when the calibrated probability of ``logit`` reaches the threshold."""
        return int(calibrated_probability(np.array([logit], np.float32), self.temperature, self.bias)[0]
                   >= self.threshold)

    def risk_and_cam(self, x: np.ndarray, method: str = "gradcam") -> tuple[float, float, tuple[float, float], np.ndarray]:
        """(risk, logit, band, saliency) for one model input, as ``risk_of`` and ``compute_cam``
        give them, with one forward pass fewer: Grad-CAM's own pass scores the input itself
        (its class is decided from that logit), and only the four shifted copies run beside it."""
        cam, logit, _ = explain_decided(self.model, x, self.label_of, method, self.lock)
        others = self._logits(_tta_variants(x.astype(np.float32))[1:])
        risk, logit, band = self._risk_and_band(np.concatenate([[logit], others]))
        return risk, logit, band, cam

    def warm_up(self) -> None:
        """Do once what the first analysis would otherwise wait for: import grad-cam and run the
        model and Grad-CAM once (oneDNN prepares its kernels on the first pass)."""
        blank = np.zeros((self.pipeline_config.input_height, self.pipeline_config.input_width), np.float32)
        self.risk_of(blank)
        self.risk_and_cam(blank)

    def analyse_many(self, sources: Sequence[ImageSource], jobs: int = 0, **options: Any) -> Iterator[Analysis]:
        """``analyse`` each source, several at once, yielding results in input order.

        From ``batch.MIN_IMAGES`` files or byte strings up, worker processes load and clean the
        images (``batch.maybe_in_processes``) while this process scores them with one torch
        thread (the workers hold the cores); fewer images, or open file objects, go through
        threads, whose start costs nothing.

        Args:
            jobs: images in flight at once; 0 means the CPU cores, at most 4.
            options: passed to ``analyse`` (with_cam, keep_stages, cam_method).
        """
        jobs = jobs or min(4, os.cpu_count() or 1)
        if len(sources) <= 1 or jobs <= 1:
            for src in sources:
                yield self.analyse(src, **options)
            return
        keep_stages = bool(options.get("keep_stages", True))
        cleaned = maybe_in_processes(sources, sources, jobs, clean_task(self.pipeline_config, keep_stages),
                                     clean_crashed)
        if cleaned is not None:
            with _torch_threads(1):
                for analysis in cleaned:
                    yield self.score(analysis, bool(options.get("with_cam", False)),
                                     str(options.get("cam_method", "gradcam")))
            return
        # Few images, open file objects, or workers that would not start: threads, here.
        with ThreadPoolExecutor(min(jobs, len(sources))) as pool:
            yield from pool.map(lambda src: self.analyse(src, **options), sources)

    def analyse(self, source: ImageSource | LoadedImage, name: str | None = None, with_cam: bool = False,
                keep_stages: bool = True, cam_method: str = "gradcam") -> Analysis:
        """Load, clean, gate and score one image; never raises for a bad image.

        Returns:
            An ``Analysis`` whose status is "error" (file unreadable), "rejected" (read, but
            not an ECG that can be assessed) or "ok".
        """
        return self.score(clean(source, self.pipeline_config, name, keep_stages), with_cam, cam_method)

    def score(self, analysis: Analysis, with_cam: bool = False, cam_method: str = "gradcam") -> Analysis:
        """The risk (and Grad-CAM) of a cleaned image that passed the gate; others pass through."""
        if not analysis.scorable:
            return analysis
        assert analysis.pipeline is not None and analysis.pipeline.model_input is not None
        x = analysis.pipeline.model_input
        timings = analysis.timings_ms
        t1 = time.perf_counter()
        if with_cam:
            risk, logit, band, analysis.cam = self.risk_and_cam(x, cam_method)
            timings["model_and_gradcam"] = (time.perf_counter() - t1) * 1000
        else:
            risk, logit, band = self.risk_of(x)
            timings["model"] = (time.perf_counter() - t1) * 1000
        analysis.risk, analysis.logit, analysis.risk_band = risk, logit, band
        analysis.label = "risky" if risk >= self.threshold else "normal"
        analysis.message = NOT_A_DEVICE
        # The whole: cleaning (in whichever process did it) and scoring.
        timings["total"] = timings.get("total", 0.0) + (time.perf_counter() - t1) * 1000
        return analysis


@contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    """torch's intra-op threads set to ``n`` for a while (the workers of a batch hold the other
    cores, and OpenMP threads that spin for a busy core slow everyone)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
