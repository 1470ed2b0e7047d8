"""How close a digitised signal is to the truth: the PhysioNet Challenge 2024 signal-to-noise
ratio, on the samples that were printed."""

from __future__ import annotations

import numpy as np

from ..layouts import LAYOUTS, LEADS


def snr_db(truth: np.ndarray, estimate: np.ndarray) -> float:
    """10 log10(signal power / noise power) over the samples where the truth is finite.

    As in the Challenge's scoring: an unread sample (NaN) counts as 0 mV, no shift in time
    or level is forgiven. Returns inf for an exact copy, NaN for an all-zero truth.
    """
    truth = np.asarray(truth, np.float64)
    estimate = np.asarray(estimate, np.float64)
    if truth.shape != estimate.shape:
        raise ValueError(f"truth {truth.shape} and estimate {estimate.shape} differ in shape")
    keep = np.isfinite(truth)
    x = truth[keep]
    y = np.nan_to_num(estimate[keep], nan=0.0)
    signal = float(np.sum(x ** 2))
    noise = float(np.sum((y - x) ** 2))
    if signal <= 0:
        return float("nan")
    return float("inf") if noise == 0 else 10.0 * np.log10(signal / noise)


def printed_truth(signals_mv: np.ndarray, layout: str) -> np.ndarray:
    """The truth as the page shows it: each lead only on the time span it is printed for
    (a lead with a rhythm strip is printed for the whole strip), NaN elsewhere."""
    n = signals_mv.shape[0]
    out = np.full(signals_mv.shape, np.nan)
    for row in LAYOUTS[layout]:
        for c, lead in enumerate(row):
            j = LEADS.index(lead)
            a, b = int(round(n * c / len(row))), int(round(n * (c + 1) / len(row)))
            out[a:b, j] = signals_mv[a:b, j]
    return out


def snr_per_lead(truth_mv: np.ndarray, estimate_mv: np.ndarray, layout: str) -> dict[str, float]:
    """SNR of each lead on its printed span (both arrays (n, 12) in LEADS order)."""
    shown = printed_truth(truth_mv, layout)
    if estimate_mv.shape != shown.shape:
        raise ValueError(f"estimate {estimate_mv.shape} and truth {shown.shape} differ in shape")
    return {lead: snr_db(shown[:, j], estimate_mv[:, j]) for j, lead in enumerate(LEADS)}
