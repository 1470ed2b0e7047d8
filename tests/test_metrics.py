"""Metrics and calibration against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from ecg_model.calibrate import calibrated_probability, fit_temperature
from ecg_model.evaluation import summarise
from ecg_model.metrics import (auroc, bootstrap_auroc_ci, expected_calibration_error, sensitivity_specificity,
                               threshold_for_sensitivity, wilson_interval)


def test_auroc_known_values():
    assert auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert auroc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)
    assert auroc([0, 0, 1], [0.1, 0.2, 0.9]) == pytest.approx(1.0)
    assert np.isnan(auroc([1, 1], [0.2, 0.3]))


def test_auroc_matches_pairwise_definition():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = np.round(rng.normal(y * 0.8, 1.0), 1)  # rounding makes ties
    pos, neg = s[y == 1], s[y == 0]
    pairs = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    assert auroc(y, s) == pytest.approx(pairs)


def test_bootstrap_interval_brackets_the_estimate():
    rng = np.random.default_rng(1)
    y = np.r_[np.zeros(80), np.ones(20)].astype(int)
    s = rng.normal(y * 1.5, 1.0)
    lo, hi = bootstrap_auroc_ci(y, s, n_boot=500)
    assert lo < auroc(y, s) < hi
    assert 0.05 < hi - lo < 0.4


def test_ece_and_wilson():
    assert expected_calibration_error([0, 1], [0.0, 1.0]) == pytest.approx(0.0)
    # Everything predicted 0.8 but only half positive: ECE 0.3.
    assert expected_calibration_error([0, 1, 0, 1], [0.8] * 4) == pytest.approx(0.3)
    lo, hi = wilson_interval(19, 19)
    assert hi == pytest.approx(1.0) and 0.8 < lo < 0.85
    assert wilson_interval(0, 10)[0] == pytest.approx(0.0, abs=1e-12)


def test_sensitivity_threshold():
    y = [0, 0, 0, 1, 1, 1, 1]
    p = [0.1, 0.5, 0.7, 0.4, 0.6, 0.8, 0.9]
    t = threshold_for_sensitivity(y, p, 0.75)
    sens, spec = sensitivity_specificity(y, p, t)
    assert t == pytest.approx(0.6) and sens == pytest.approx(0.75) and spec == pytest.approx(2 / 3)


def test_temperature_recovers_the_true_one():
    rng = np.random.default_rng(2)
    true_logits = rng.normal(0, 2.0, 4000)
    y = (rng.random(4000) < 1 / (1 + np.exp(-true_logits))).astype(int)
    t = fit_temperature(true_logits * 3.0, y)  # an over-confident model: 3x the true logits
    assert t == pytest.approx(3.0, rel=0.1)
    probs = calibrated_probability(true_logits * 3.0, t)
    assert expected_calibration_error(y, probs) < 0.03


def test_separable_validation_does_not_sharpen():
    assert fit_temperature([-5, -3, 4, 6], [0, 0, 1, 1]) >= 1.0


def test_summary_has_the_design_fields():
    s = summarise([0, 0, 1, 1, 1], [0.1, 0.6, 0.7, 0.8, 0.2], 0.5, ["Normal", "Normal", "MI", "HB", "HB"], n_rejected=2)
    for key in ("n", "n_rejected", "auroc", "auroc_ci95", "accuracy", "sensitivity", "specificity", "ece",
                "threshold", "per_folder"):
        assert key in s
    assert s["n"] == 7 and s["n_rejected"] == 2
    assert s["per_folder"]["HB"] == {"n": 2, "label": 1, "recall": 0.5, "recall_ci95": s["per_folder"]["HB"]["recall_ci95"],
                                     "auroc_vs_normal": 0.75}  # 0.8 and 0.2 against 0.1 and 0.6: 3 of 4 pairs
    assert s["per_folder"]["Normal"]["recall"] == pytest.approx(0.5)


def test_platt_scaling_recovers_slope_and_shift():
    from ecg_model.calibrate import fit_platt

    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 2.0, 4000)
    y = (rng.random(4000) < 1 / (1 + np.exp(-true_logits))).astype(int)
    # A model that is over-confident (x2.5) and shifted (-1.5), as class weighting does.
    t, b = fit_platt(true_logits * 2.5 - 1.5, y)
    assert abs(t - 2.5) < 0.25 and abs(b - 0.6) < 0.15  # sigmoid((2.5 z - 1.5) / 2.5 + 0.6) = sigmoid(z)
    probs = calibrated_probability(true_logits * 2.5 - 1.5, t, b)
    from ecg_model.metrics import expected_calibration_error

    assert expected_calibration_error(y, probs) < 0.03
    # Perfectly separated data never sharpens.
    t, b = fit_platt([-5, -3, 4, 6], [0, 0, 1, 1])
    assert t == 1.0 and np.isfinite(b)
    assert fit_platt([1.0, 2.0], [1, 1]) == (1.0, 0.0)
