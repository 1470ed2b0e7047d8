"""The six limb leads are two signals: Einthoven's and Goldberger's laws.

An electrocardiograph records I and II and derives the other four (III = II - I, aVR = -(I + II)/2,
aVL = I - II/2, aVF = II - I/2), so wherever three or more limb-lead prints cover the same
moment (I, II and III in the first column of a 3x4 page, all six on a 12x1 or 6x2 page, a lead
printed twice as a rhythm strip), the values read off the paper over-determine the two signals.
The least-squares fit of the two to every print, read back through the same laws, averages out
the independent errors of reading each print (a QRS tip cut by the pen, a row's clock a sample
off) instead of keeping the worst. On eleven tuning photo sets this raised the all-leads
median SNR of each by 0.2 to 0.6 dB (``signals.digitize`` does it on photographed pages). Prints
that disagree with the others beyond what reading errors explain are flagged (``MISMATCH_FLAG``).
"""

from __future__ import annotations

import numpy as np

# Each limb lead in terms of (I, II).
LIMB_LEADS: dict[str, tuple[float, float]] = {
    "I": (1.0, 0.0), "II": (0.0, 1.0), "III": (-1.0, 1.0),
    "aVR": (-0.5, -0.5), "aVL": (1.0, -0.5), "aVF": (-0.5, 1.0),
}
MISMATCH_FLAG = "limb_mismatch"
# A print whose values differ from the fit by more than this share of its own RMS (and by more
# than _MISMATCH_MV) is flagged. On 744 limb-lead prints of tuning photos (seeds 10, 20, 40) the
# median difference was 0.17 of the print's RMS; the 7 % over 0.5 had read a median SNR of 2 dB
# (against 13 dB for those under 0.2). Leaving the flagged prints out of the fit was tried and
# changed nothing (+0.02 dB pooled over ten tuning sets).
_MISMATCH_SHARE = 0.5
_MISMATCH_MV = 0.05


def reconcile(values: list[np.ndarray], starts: list[int], leads: list[str],
              n_samples: int) -> tuple[list[np.ndarray], list[bool]]:
    """Fit (I, II) to the limb-lead prints and read every print back from the fit.

    Args:
        values: each print's samples in mV (NaN where not read), starting at ``starts``.
        leads: each print's lead (keys of ``LIMB_LEADS``).
        n_samples: the strip's length in samples.

    Returns:
        (the prints' new samples, NaN kept where a print was not read; per print, whether it
        disagreed with the others, see ``MISMATCH_FLAG``). A moment covered by prints that do
        not over-determine the two signals (two different leads, or one) keeps its values.
    """
    k = len(values)
    y = np.full((n_samples, k), np.nan)
    for j, (v, a) in enumerate(zip(values, starts)):
        b = min(n_samples, a + v.size)
        if b > a >= 0:
            y[a:b, j] = v[:b - a]
    seen = np.isfinite(y)
    coef = np.array([LIMB_LEADS[lead] for lead in leads], np.float64)
    fitted = y.copy()
    codes = seen.astype(np.int64) @ (1 << np.arange(k, dtype=np.int64))
    for code in np.unique(codes):
        cols = [j for j in range(k) if code >> j & 1]
        c = coef[cols]
        if len(cols) <= np.linalg.matrix_rank(c):
            continue  # nothing over-determined here: the prints stand as read
        rows = codes == code
        # The projection onto what the two signals can explain (pinv: a lead printed twice
        # alone is a rank-one case, and its two prints are averaged).
        fitted[np.ix_(rows, cols)] = y[np.ix_(rows, cols)] @ (c @ np.linalg.pinv(c)).T
    out, mismatch = [], []
    for j, (v, a) in enumerate(zip(values, starts)):
        b = min(n_samples, a + v.size)
        new = v.astype(np.float64, copy=True)
        if b > a >= 0:
            new[:b - a] = np.where(np.isfinite(v[:b - a]), fitted[a:b, j], np.nan)
        read = v[np.isfinite(v)]
        diff = (new - v)[np.isfinite(v)]
        rms = float(np.sqrt(np.mean(read ** 2))) if read.size else 0.0
        gap = float(np.sqrt(np.mean(diff ** 2))) if diff.size else 0.0
        mismatch.append(gap > _MISMATCH_SHARE * rms and gap > _MISMATCH_MV)
        out.append(new)
    return out, mismatch
