"""Out-of-sample calibration error on the validation split, by cross-fitting.

The shipped calibration (sigmoid(logit / T + b)) is fitted on the validation printouts and a
simulated photo of each, so the validation ECE stored in the weights is in-sample. Here the same
fit is made K times, each time on K-1 folds (a printout and its photo stay in one fold), and each
held-out fold is scored with the fit it did not see; the pooled ECE of those out-of-fold
probabilities is what the calibration is worth on new images of the same kind. Repeated over
several fold assignments; the test split is not read.

    PYTHONPATH=. python benchmarks/crossfit_calibration.py ../shared/data/mendeley_ecg_images
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from ecg_model.calibrate import calibrated_probability, fit_platt  # noqa: E402
from ecg_model.metrics import expected_calibration_error  # noqa: E402


def crossfit_probabilities(val_logits: np.ndarray, val_y: np.ndarray, photo_logits: np.ndarray, photo_y: np.ndarray,
                           k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold calibrated probabilities for the printouts and their photos (stratified folds)."""
    rng = np.random.default_rng(seed)
    fold = np.empty(val_y.size, int)
    for label in (0, 1):
        idx = rng.permutation(np.flatnonzero(val_y == label))
        fold[idx] = np.arange(idx.size) % k
    p_val, p_photo = np.empty(val_y.size), np.empty(photo_y.size)
    for f in range(k):
        train = fold != f
        t, b = fit_platt(np.concatenate([val_logits[train], photo_logits[train]]),
                         list(val_y[train]) + list(photo_y[train]))
        p_val[~train] = calibrated_probability(val_logits[~train], t, b)
        p_photo[~train] = calibrated_probability(photo_logits[~train], t, b)
    return p_val, p_photo


def main() -> int:
    from recalibrate import heldout_logits

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_root")
    ap.add_argument("--weights", default=str(ROOT / "weights" / "default.pt"))
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--cache-dir", help="cleaned-input cache (default: the run's); a new folder recomputes the "
                    "inputs with the current pipeline")
    args = ap.parse_args()
    logits, labels, _, _, ckpt, _, kept = heldout_logits(args.weights, args.data_root, args.cache_dir)
    # A printout and its photo stay in one fold: keep the pairs where the gate kept both.
    pairs = sorted(set(kept["val"]) & set(kept["photo"]))
    at_val = {j: i for i, j in enumerate(kept["val"])}
    at_photo = {j: i for i, j in enumerate(kept["photo"])}
    n = len(pairs)
    val_l = np.asarray(logits["val"])[[at_val[j] for j in pairs]]
    val_y = np.asarray(labels["val"])[[at_val[j] for j in pairs]]
    ph_l = np.asarray(logits["photo"])[[at_photo[j] for j in pairs]]
    ph_y = np.asarray(labels["photo"])[[at_photo[j] for j in pairs]]
    eces, eces_photo = [], []
    for r in range(args.repeats):
        p_val, p_photo = crossfit_probabilities(val_l, val_y, ph_l, ph_y, args.k, seed=r)
        eces.append(expected_calibration_error(val_y, p_val))
        eces_photo.append(expected_calibration_error(ph_y, p_photo))
    in_sample = calibrated_probability(val_l, ckpt["temperature"], ckpt.get("bias", 0.0))
    out = {"n_validation": int(n), "k": args.k, "repeats": args.repeats,
           "ece_in_sample_validation": expected_calibration_error(val_y, in_sample),
           "ece_crossfit_validation_mean": float(np.mean(eces)),
           "ece_crossfit_validation_range": [float(np.min(eces)), float(np.max(eces))],
           "ece_crossfit_validation_photos_mean": float(np.mean(eces_photo)),
           "test_ece_stored": ckpt["metrics"]["test"]["ece"]}
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
