"""ST measurements from digitised leads: the level 60 ms after the J point against the PR
baseline, in mV, per lead, with the usual ST-elevation criteria marked.

Beats are found on all leads printed at the same moment together (on a 3x4 page three
leads and the rhythm strip share each stretch of time), so a lead whose QRS is small is
still measured where its neighbours show the beat clearly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..layouts import LEADS

# Timings in seconds.
_J_OFFSET_S = 0.060  # ST is read at J + 60 ms
_ST_WINDOW_S = 0.010  # averaged over +-10 ms around it
_PR_WINDOW_S = (0.060, 0.016)  # PR baseline: from 60 ms to 16 ms before QRS onset
_REFRACTORY_S = 0.25
_SMOOTH_S = 0.012

# ST-elevation thresholds at two contiguous leads (Fourth Universal Definition of MI; it
# reads them at the J point, computerised reports often at J + 60 ms as here). V2-V3 depend
# on sex and age: 0.2 mV for men of 40 and over, 0.25 mV under 40, 0.15 mV for women.
ELEVATION_MV = 0.1
ELEVATION_V2_V3_MV = 0.2
DEPRESSION_MV = -0.05

# Anatomically contiguous groups for the two-lead rule.
CONTIGUOUS: dict[str, tuple[str, ...]] = {
    "inferior": ("II", "III", "aVF"),
    "septal-anterior": ("V1", "V2", "V3", "V4"),
    "lateral": ("I", "aVL", "V5", "V6"),
}


@dataclass
class LeadST:
    """ST of one lead.

    Attributes:
        st_mv: median over its beats of (level at J + 60 ms) - (PR baseline); None when no
            complete beat was found.
        beats: how many beats were measured.
        threshold_mv: the elevation threshold that applies to this lead.
        elevated, depressed: the lead alone passes the threshold.
    """

    lead: str
    st_mv: float | None
    beats: int
    threshold_mv: float
    elevated: bool = False
    depressed: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"lead": self.lead, "st_mv": None if self.st_mv is None else round(self.st_mv, 4),
                "beats": self.beats, "threshold_mv": self.threshold_mv,
                "elevated": self.elevated, "depressed": self.depressed}


@dataclass
class STReport:
    leads: dict[str, LeadST]
    criteria: list[str] = field(default_factory=list)  # e.g. "ST elevation in inferior leads (II, III, aVF)"
    qrs_onsets_s: list[float] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"method": "ST at J+60 ms minus PR baseline (median over beats), mV",
                "leads": {k: v.to_json() for k, v in self.leads.items()}, "criteria": list(self.criteria)}


def _smooth(x: np.ndarray, n: int) -> np.ndarray:
    if n <= 1:
        return x
    return np.convolve(x, np.ones(n) / n, mode="same")


def qrs_fiducials(signals: np.ndarray, fs: int) -> list[tuple[int, int, int]]:
    """(onset, peak, J point) sample indices of each QRS complex.

    ``signals`` is (n, 12) with NaN where a lead is not printed. Each lead's slope is scaled
    by its own typical slope, so every printed lead votes alike; the energy is their mean.
    """
    n = signals.shape[0]
    filled = np.where(np.isfinite(signals), signals, np.nan)
    slope = np.abs(np.diff(filled, axis=0, prepend=filled[:1]))
    scale = np.nanpercentile(slope, 90, axis=0)
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, np.nan)
    norm = slope / scale[None, :]
    counts = np.isfinite(norm).sum(axis=1)
    energy = np.where(counts > 0, np.nansum(norm, axis=1) / np.maximum(counts, 1), 0.0)
    energy = _smooth(energy, max(1, int(_SMOOTH_S * fs)))
    if not np.any(energy > 0):
        return []
    thr = 0.35 * float(np.percentile(energy, 99.5))
    refractory = int(_REFRACTORY_S * fs)
    peaks: list[int] = []
    order = np.argsort(energy)[::-1]
    taken = np.zeros(n, bool)
    for i in order:
        if energy[i] < thr:
            break
        if taken[max(0, i - refractory):i + refractory].any():
            continue
        taken[i] = True
        peaks.append(int(i))
    peaks.sort()
    out = []
    edge = 0.2 * thr
    max_half = int(0.12 * fs)
    for p in peaks:
        a = p
        while a > 0 and p - a < max_half and energy[a] > edge:
            a -= 1
        b = p
        while b < n - 1 and b - p < max_half and energy[b] > edge:
            b += 1
        out.append((a, p, b))
    return out


def measure_st(signals: np.ndarray, fs: int) -> STReport:
    """ST at J + 60 ms against the PR baseline for every lead of an (n, 12) matrix (mV, NaN
    where not printed), and the ST-elevation criteria met."""
    beats = qrs_fiducials(signals, fs)
    j_off = int(round(_J_OFFSET_S * fs))
    half = max(1, int(round(_ST_WINDOW_S * fs)))
    pr_a, pr_b = int(round(_PR_WINDOW_S[0] * fs)), int(round(_PR_WINDOW_S[1] * fs))
    leads: dict[str, LeadST] = {}
    for j, lead in enumerate(LEADS):
        x = signals[:, j]
        values = []
        for onset, _, jpt in beats:
            s0, s1 = jpt + j_off - half, jpt + j_off + half + 1
            b0, b1 = onset - pr_a, onset - pr_b
            if b0 < 0 or s1 > x.size:
                continue
            st_seg, pr_seg = x[s0:s1], x[b0:b1]
            if not (np.isfinite(st_seg).all() and np.isfinite(pr_seg).all()):
                continue
            values.append(float(np.mean(st_seg) - np.median(pr_seg)))
        thr = ELEVATION_V2_V3_MV if lead in ("V2", "V3") else ELEVATION_MV
        st = float(np.median(values)) if values else None
        leads[lead] = LeadST(lead, st, len(values), thr,
                             elevated=st is not None and st >= thr,
                             depressed=st is not None and st <= DEPRESSION_MV)
    criteria = []
    for group, members in CONTIGUOUS.items():
        up = [m for m in members if leads[m].elevated]
        if len(up) >= 2:
            criteria.append(f"ST elevation in two or more contiguous {group} leads ({', '.join(up)})")
        down = [m for m in members if leads[m].depressed]
        if len(down) >= 2:
            criteria.append(f"ST depression in two or more contiguous {group} leads ({', '.join(down)})")
    return STReport(leads, criteria, [b[0] / fs for b in beats])
