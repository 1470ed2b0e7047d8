"""Where a synthetic printout's waveform comes from: the built-in simulator, real PTB-XL
records (with an infarction pattern injected when asked), or neurokit2 when installed.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from .waveform import LEADS, TERRITORIES, WaveformParams, lead_st_weights, random_params, synthesize

SOURCES = ("sim", "ptbxl", "mix", "neurokit")


@dataclass
class Recording:
    """A 12-lead recording ready to print, and what is known about it."""

    signals_mv: np.ndarray  # (n_samples, 12) in mV, LEADS order
    fs: int
    label: str  # normal | risky
    source: dict[str, Any] = field(default_factory=dict)
    heart_rate: float = 70.0


@dataclass(frozen=True)
class PtbxlSet:
    signals_uv: np.ndarray  # (n, 5000, 12) int16
    ecg_ids: np.ndarray
    fs: int
    mi: dict[int, bool]  # ecg_id -> has an MI statement (labelled records only)
    normal: dict[int, bool]  # ecg_id -> NORM100 (labelled records only)

    def normal_ids(self) -> list[int]:
        return [i for i, v in self.normal.items() if v and not self.mi.get(i, False)]

    def mi_ids(self) -> list[int]:
        return [i for i, v in self.mi.items() if v]


@lru_cache(maxsize=2)
def load_ptbxl(npz_path: str) -> PtbxlSet:
    """The PTB-XL subset (``ptbxl_subset.npz`` with ``labels.csv`` beside it).

    Raises:
        ValueError: when the files are missing or do not hold 12-lead records.
    """
    path = Path(npz_path)
    if not path.is_file():
        raise ValueError(f"PTB-XL file not found: {path}")
    with np.load(path, allow_pickle=False) as data:
        signals = np.asarray(data["signals_uv"])
        ids = np.asarray(data["ecg_id"]).astype(int)
        fs = int(data["fs"])
        leads = [str(v) for v in data["leads"]]
    if leads != list(LEADS) or signals.ndim != 3 or signals.shape[2] != 12:
        raise ValueError(f"{path.name} does not hold 12-lead records in the order {LEADS}")
    mi: dict[int, bool] = {}
    normal: dict[int, bool] = {}
    labels = path.with_name("labels.csv")
    if labels.is_file():
        with open(labels, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                if row.get("MI", "") not in ("", "nan"):
                    key = int(float(row["ecg_id"]))
                    mi[key] = float(row["MI"]) > 0.5
                    normal[key] = float(row.get("NORM100") or 0) > 0.5
    return PtbxlSet(signals, ids, fs, mi, normal)


def detect_r_peaks(signals_mv: np.ndarray, fs: int) -> np.ndarray:
    """R-peak sample indices from the slope energy summed over leads (no scipy needed)."""
    slope = np.abs(np.diff(signals_mv, axis=0)).sum(axis=1)
    win = max(1, int(0.04 * fs))
    energy = np.convolve(slope, np.ones(win) / win, mode="same")
    threshold = 0.35 * float(np.percentile(energy, 99.5))
    refractory = int(0.3 * fs)
    peaks: list[int] = []
    order = np.argsort(energy)[::-1]
    taken = np.zeros(energy.size, bool)
    for idx in order:
        if energy[idx] < threshold:
            break
        if taken[idx]:
            continue
        peaks.append(int(idx))
        taken[max(0, idx - refractory):idx + refractory] = True
    peaks.sort()
    # The energy peaks mid-QRS; move each to the largest absolute deflection nearby.
    lead_sum = np.abs(signals_mv - np.median(signals_mv, axis=0)).sum(axis=1)
    half = int(0.05 * fs)
    return np.array([max(0, p - half) + int(np.argmax(lead_sum[max(0, p - half):p + half])) for p in peaks], int)


def inject_infarction(signals_mv: np.ndarray, fs: int, territory: str, st_mv: float, q_waves: bool,
                      t_inversion: bool) -> tuple[np.ndarray, np.ndarray]:
    """Add an infarction pattern to a real recording, beat by beat.

    The ST shift of each lead follows ``lead_st_weights`` (which obey Einthoven's relations, so
    a consistent recording stays consistent): a plateau from 50 ms after R (the J point) to the
    end of T, with smooth edges. Pathological Q waves are deepened before R, and the T wave
    is pulled negative, in the territory's leads.

    Returns:
        (new signals, R-peak sample indices).
    """
    if territory not in TERRITORIES:
        raise ValueError(f"unknown territory {territory!r}; choose one of {sorted(TERRITORIES)}")
    out = signals_mv.astype(np.float64).copy()
    peaks = detect_r_peaks(signals_mv, fs)
    weights = lead_st_weights(territory)
    w = np.array([weights[name] for name in LEADS])
    n = out.shape[0]
    t = np.arange(n) / fs
    rr = float(np.median(np.diff(peaks))) / fs if peaks.size > 1 else 0.8
    end = 0.09 + 0.30 * math.sqrt(rr)  # end of T after R, Bazett-scaled
    qrs_amp = np.percentile(np.abs(out), 99, axis=0)
    for p in peaks:
        r = p / fs
        local = t - r
        sel = (local > -0.2) & (local < end + 0.2)
        tl = local[sel]
        plateau = 1.0 / (1.0 + np.exp(-(tl - 0.05) / 0.006)) * (1.0 - 1.0 / (1.0 + np.exp(-(tl - end) / 0.025)))
        out[sel] += st_mv * plateau[:, None] * w[None, :]
        if q_waves:
            q = -0.3 * qrs_amp[None, :] * np.clip(w, 0, 1)[None, :] * np.exp(-0.5 * ((tl - (-0.03)) / 0.014) ** 2)[:, None]
            out[sel] += q
        if t_inversion:
            t_peak = 0.06 + 0.22 * math.sqrt(rr)
            bump = np.exp(-0.5 * ((tl - t_peak) / (0.05 * math.sqrt(rr))) ** 2)[:, None]
            out[sel] -= 0.4 * np.clip(w, 0, 1)[None, :] * bump
    return out.astype(np.float32), peaks


def ptbxl_recording(npz_path: str, rng: np.random.Generator, risky: bool) -> Recording:
    """A real record: normal ones from NORM100 records; risky ones are a real MI record or a
    record with an injected infarction pattern (half each when both are possible)."""
    ds = load_ptbxl(npz_path)
    index = {int(v): i for i, v in enumerate(ds.ecg_ids)}
    normal_ids = [i for i in ds.normal_ids() if i in index]
    mi_ids = [i for i in ds.mi_ids() if i in index]
    injected: dict[str, Any] | None = None
    if not risky:
        if not normal_ids:
            raise ValueError("the PTB-XL labels name no clean normal (NORM100) record")
        ecg_id = int(rng.choice(normal_ids))
    elif mi_ids and rng.random() < 0.5:
        ecg_id = int(rng.choice(mi_ids))
    else:
        base = normal_ids or [int(v) for v in ds.ecg_ids]
        ecg_id = int(rng.choice(base))
        injected = {"territory": str(rng.choice(sorted(TERRITORIES))), "st_mv": float(rng.uniform(0.1, 0.4)),
                    "q_waves": bool(rng.random() < 0.6), "t_inversion": bool(rng.random() < 0.3)}
    signals = ds.signals_uv[index[ecg_id]].astype(np.float32) / 1000.0
    signals = signals - np.median(signals, axis=0, keepdims=True)
    source: dict[str, Any] = {"kind": "ptbxl", "ecg_id": ecg_id, "mi_statement": ds.mi.get(ecg_id),
                              "norm100": ds.normal.get(ecg_id), "injected": injected}
    if injected:
        signals, _ = inject_infarction(signals, ds.fs, injected["territory"], injected["st_mv"],
                                       injected["q_waves"], injected["t_inversion"])
    peaks = detect_r_peaks(signals, ds.fs)
    hr = 60.0 * ds.fs / float(np.median(np.diff(peaks))) if peaks.size > 1 else 70.0
    return Recording(signals, ds.fs, "risky" if risky else "normal", source, hr)


def sim_recording(rng: np.random.Generator, risky: bool) -> Recording:
    params: WaveformParams = random_params(rng, risky)
    return Recording(synthesize(params), params.fs, "risky" if risky else "normal",
                     {"kind": "simulation", "params": params.to_dict()}, params.heart_rate)


def neurokit_recording(rng: np.random.Generator, risky: bool) -> Recording:
    """neurokit2's multi-lead simulator (optional dependency). Its leads come min-max scaled,
    so amplitudes are rescaled to a typical 1.2 mV QRS; an infarction pattern is injected for
    risky samples as for real records."""
    try:
        import neurokit2 as nk
    except ImportError as exc:
        raise ValueError("the neurokit source needs the neurokit2 package: pip install neurokit2") from exc
    hr = float(rng.uniform(50, 105))
    seed = int(rng.integers(0, 2**31 - 1))
    df = nk.ecg_simulate(duration=10, sampling_rate=500, heart_rate=hr, method="multileads",
                         noise=float(rng.uniform(0.0, 0.02)), random_state=seed)
    signals = df[list(LEADS)].to_numpy(dtype=np.float32)
    signals = signals - np.median(signals, axis=0, keepdims=True)
    signals *= 1.2 / max(float(np.abs(signals).max()), 1e-6)
    source: dict[str, Any] = {"kind": "neurokit2", "heart_rate": hr, "seed": seed, "injected": None}
    if risky:
        inj = {"territory": str(rng.choice(sorted(TERRITORIES))), "st_mv": float(rng.uniform(0.1, 0.4)),
               "q_waves": bool(rng.random() < 0.6), "t_inversion": False}
        signals, _ = inject_infarction(signals, 500, inj["territory"], inj["st_mv"], inj["q_waves"], False)
        source["injected"] = inj
    return Recording(signals, 500, "risky" if risky else "normal", source, hr)


def draw_recording(source: str, rng: np.random.Generator, risky: bool, ptbxl_path: str | None) -> Recording:
    if source not in SOURCES:
        raise ValueError(f"unknown waveform source {source!r}; choose one of {SOURCES}")
    if source in ("ptbxl", "mix") and not ptbxl_path:
        raise ValueError(f"the {source} source needs a PTB-XL file (--ptbxl PATH to ptbxl_subset.npz)")
    if source == "ptbxl" or (source == "mix" and rng.random() < 0.5):
        assert ptbxl_path is not None
        return ptbxl_recording(ptbxl_path, rng, risky)
    if source == "neurokit":
        return neurokit_recording(rng, risky)
    return sim_recording(rng, risky)
