"""Evaluation summaries in the shape of DESIGN.md's ``evaluate`` output."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, Sequence

import numpy as np

from .metrics import (auroc, bootstrap_auroc_ci, expected_calibration_error, reliability_table,
                      sensitivity_specificity, wilson_interval)


def _clean(v: float) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def summarise(labels: Sequence[int], probs: Sequence[float], threshold: float,
              folders: Sequence[str] | None = None, n_rejected: int = 0) -> dict[str, Any]:
    """AUROC with a bootstrap 95 % interval, sensitivity and specificity (with Wilson
    intervals), accuracy, ECE (10 bins), and the recall of each source folder at the threshold.

    ``recall`` of a normal folder is the share called normal; of a risky folder, the share
    called risky.
    """
    y = np.asarray(labels, dtype=np.int64)
    p = np.asarray(probs, dtype=np.float64)
    n = int(y.size)
    pred = p >= threshold
    sens, spec = sensitivity_specificity(y, p, threshold)
    n_pos, n_neg = int((y == 1).sum()), int((y == 0).sum())
    out: dict[str, Any] = {
        "n": n + n_rejected,
        "n_scored": n,
        "n_rejected": n_rejected,
        "auroc": _clean(auroc(y, p)) if n else None,
        "auroc_ci95": [_clean(v) for v in bootstrap_auroc_ci(y, p)] if n else [None, None],
        "accuracy": _clean(float((pred == (y == 1)).mean())) if n else None,
        "sensitivity": _clean(sens),
        "sensitivity_ci95": [_clean(v) for v in wilson_interval(int((pred & (y == 1)).sum()), n_pos)],
        "specificity": _clean(spec),
        "specificity_ci95": [_clean(v) for v in wilson_interval(int((~pred & (y == 0)).sum()), n_neg)],
        "ece": _clean(expected_calibration_error(y, p)) if n else None,
        "threshold": float(threshold),
        "reliability": reliability_table(y, p) if n else [],
    }
    per_folder: dict[str, dict[str, Any]] = {}
    if folders is not None:
        by_folder: dict[str, list[int]] = defaultdict(list)
        for i, f in enumerate(folders):
            by_folder[f].append(i)
        for f, idx in sorted(by_folder.items()):
            idx_arr = np.asarray(idx)
            correct = int((pred[idx_arr] == (y[idx_arr] == 1)).sum())
            lo, hi = wilson_interval(correct, len(idx))
            per_folder[f] = {"n": len(idx), "label": int(y[idx_arr[0]]), "recall": correct / len(idx),
                             "recall_ci95": [_clean(lo), _clean(hi)]}
            if y[idx_arr[0]] == 1 and n_neg:
                # This folder alone against every normal image: is each kind of risk separated?
                both = np.concatenate([idx_arr, np.flatnonzero(y == 0)])
                per_folder[f]["auroc_vs_normal"] = _clean(auroc(y[both], p[both]))
    out["per_folder"] = per_folder
    for row in out["reliability"]:
        for k in ("mean_prob", "observed"):
            row[k] = _clean(row[k])
    return out
