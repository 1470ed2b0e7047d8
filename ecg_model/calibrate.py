"""Calibration: sigmoid(logit / T + b) as the probability of "risky".

Temperature alone (b = 0) fixes over- or under-confidence but not a shift: the model is
trained with the classes re-weighted, which moves every logit towards the minority side, so
the shipped weights also carry a bias ``b`` (Platt scaling with the slope written as 1/T).
Both are fitted on held-out data, never on the data the model trained on.
"""

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


def fit_platt(logits: Sequence[float], labels: Sequence[int], ridge: float = 1e-3) -> tuple[float, float]:
    """(temperature, bias) minimising the negative log-likelihood of sigmoid(logit / T + b).

    Newton's method on the slope w = 1/T and the bias, with a small ridge towards (1, 0) so
    that it always converges. When the positives and negatives do not overlap the slope is
    capped at 1 (no sharpening), as in ``fit_temperature``, and only the bias is fitted.
    """
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if z.size == 0 or y.min() == y.max():
        return 1.0, 0.0
    separable = z[y == 1].min() > z[y == 0].max()

    def loss(w: float, b: float) -> float:
        u = w * z + b
        return float(np.mean(np.maximum(u, 0) - u * y + np.log1p(np.exp(-np.abs(u))))
                     + ridge / 2 * ((w - 1) ** 2 + b ** 2))

    w, b = 1.0, 0.0
    current = loss(w, b)
    for _ in range(100):
        p = sigmoid(w * z + b)
        r = p * (1 - p)
        grad = np.array([np.mean((p - y) * z) + ridge * (w - 1), np.mean(p - y) + ridge * b])
        hess = np.array([[np.mean(r * z * z) + ridge, np.mean(r * z)], [np.mean(r * z), np.mean(r) + ridge]])
        if separable:
            grad[0], hess[0, 0], hess[0, 1], hess[1, 0] = 0.0, 1.0, 0.0, 0.0
        step = np.linalg.solve(hess, grad)
        # Damped Newton: halve the step until the loss goes down (plain Newton can overshoot).
        scale = 1.0
        while scale > 1e-6 and loss(w - scale * step[0], b - scale * step[1]) > current:
            scale /= 2
        if scale <= 1e-6:
            break
        w, b = w - scale * step[0], b - scale * step[1]
        current = loss(w, b)
        if np.abs(scale * step).max() < 1e-9:
            break
    w = float(np.clip(w, 0.05, 20.0))
    return 1.0 / w, float(np.clip(b, -10.0, 10.0))


def calibrated_probability(logit: float | np.ndarray, temperature: float, bias: float = 0.0) -> np.ndarray:
    return sigmoid(np.asarray(logit, dtype=np.float64) / temperature + bias)
