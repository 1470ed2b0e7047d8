"""Temperature scaling: one scalar T so that sigmoid(logit / T) is a calibrated probability."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def sigmoid(x: np.ndarray | float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def _nll(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    z = logits / temperature
    # log(1 + exp(-|z|)) form keeps large logits finite.
    return float(np.mean(np.maximum(z, 0) - z * labels + np.log1p(np.exp(-np.abs(z)))))


def fit_temperature(logits: Sequence[float], labels: Sequence[int],
                    bounds: tuple[float, float] = (0.05, 20.0)) -> float:
    """The temperature minimising the negative log-likelihood, by golden-section search on log T.

    On data the model separates perfectly the likelihood keeps improving as T shrinks, so the
    search would only sharpen; the result is then capped at 1.0 (no sharpening), and
    calibration should be fitted on harder held-out data instead.
    """
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if z.size == 0 or y.min() == y.max():
        return 1.0
    lo, hi = math.log(bounds[0]), math.log(bounds[1])
    g = (math.sqrt(5) - 1) / 2
    a, b = lo, hi
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = _nll(z, y, math.exp(c)), _nll(z, y, math.exp(d))
    for _ in range(80):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = _nll(z, y, math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = _nll(z, y, math.exp(d))
    t = math.exp((a + b) / 2)
    separable = z[y == 1].min() > z[y == 0].max()
    if separable:
        t = max(t, 1.0)
    return float(t)


def calibrated_probability(logit: float | np.ndarray, temperature: float) -> np.ndarray:
    return sigmoid(np.asarray(logit, dtype=np.float64) / temperature)
