"""Scores for a binary risk model: AUROC with a bootstrap interval, sensitivity, ECE."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def _ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks with ties given their average rank."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(values.size, np.float64)
    sorted_vals = values[order]
    i = 0
    while i < values.size:
        j = i
        while j + 1 < values.size and sorted_vals[j + 1] == sorted_vals[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


def auroc(labels: Sequence[int], scores: Sequence[float]) -> float:
    """Area under the ROC curve (Mann-Whitney U); NaN when one class is absent."""
    y = np.asarray(labels, dtype=np.int64)
    s = np.asarray(scores, dtype=np.float64)
    n_pos = int(y.sum())
    n_neg = int(y.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = _ranks(s)
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def bootstrap_auroc_ci(labels: Sequence[int], scores: Sequence[float], n_boot: int = 2000,
                       seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of AUROC, resampling positives and negatives separately.

    Stratified resampling keeps both classes in every replicate, which matters when one
    class has a handful of images.
    """
    y = np.asarray(labels, dtype=np.int64)
    s = np.asarray(scores, dtype=np.float64)
    pos, neg = s[y == 1], s[y == 0]
    if pos.size == 0 or neg.size == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    stats = np.empty(n_boot)
    for b in range(n_boot):
        p = pos[rng.integers(0, pos.size, pos.size)]
        n = neg[rng.integers(0, neg.size, neg.size)]
        # Probability a random positive outranks a random negative, ties counted half.
        diff = p[:, None] - n[None, :]
        stats[b] = (np.count_nonzero(diff > 0) + 0.5 * np.count_nonzero(diff == 0)) / diff.size
    alpha = (1.0 - level) / 2.0
    return float(np.quantile(stats, alpha)), float(np.quantile(stats, 1.0 - alpha))


def wilson_interval(successes: int, total: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion (good with small counts)."""
    if total == 0:
        return (float("nan"), float("nan"))
    z = 1.959963984540054 if abs(level - 0.95) < 1e-9 else _z(level)
    p = successes / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def _z(level: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + level / 2.0)


def expected_calibration_error(labels: Sequence[int], probs: Sequence[float], n_bins: int = 10) -> float:
    """ECE with equal-width bins: sum over bins of |accuracy - confidence| weighted by count.

    Computed on the probability of the positive class (reliability of "risky" itself).
    """
    y = np.asarray(labels, dtype=np.float64)
    p = np.asarray(probs, dtype=np.float64)
    if y.size == 0:
        return float("nan")
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        sel = bins == b
        if sel.any():
            ece += sel.mean() * abs(y[sel].mean() - p[sel].mean())
    return float(ece)


def reliability_table(labels: Sequence[int], probs: Sequence[float], n_bins: int = 10) -> list[dict[str, float]]:
    """Per bin: mean predicted probability, observed frequency, count (for the diagram)."""
    y = np.asarray(labels, dtype=np.float64)
    p = np.asarray(probs, dtype=np.float64)
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    rows = []
    for b in range(n_bins):
        sel = bins == b
        rows.append({"bin_low": b / n_bins, "bin_high": (b + 1) / n_bins, "count": int(sel.sum()),
                     "mean_prob": float(p[sel].mean()) if sel.any() else float("nan"),
                     "observed": float(y[sel].mean()) if sel.any() else float("nan")})
    return rows


def sensitivity_specificity(labels: Sequence[int], probs: Sequence[float], threshold: float) -> tuple[float, float]:
    y = np.asarray(labels, dtype=np.int64)
    pred = np.asarray(probs, dtype=np.float64) >= threshold
    pos, neg = y == 1, y == 0
    sens = float(pred[pos].mean()) if pos.any() else float("nan")
    spec = float((~pred[neg]).mean()) if neg.any() else float("nan")
    return sens, spec


def threshold_for_sensitivity(labels: Sequence[int], probs: Sequence[float], target: float) -> float:
    """The highest threshold whose sensitivity is at least ``target`` (0.5 without positives)."""
    y = np.asarray(labels, dtype=np.int64)
    p = np.asarray(probs, dtype=np.float64)
    pos = np.sort(p[y == 1])
    if pos.size == 0:
        return 0.5
    # Keep at least ceil(target * n) positives at or above the threshold.
    k = int(math.ceil(target * pos.size))
    return float(pos[pos.size - k]) if k > 0 else float(pos[-1]) + 1e-6
