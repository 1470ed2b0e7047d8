"""Synthetic 12-lead ECG waveforms: normal beats, and infarction patterns in one territory.

Eight leads are independent (I, II, V1-V6); III, aVR, aVL and aVF follow from Einthoven's
and Goldberger's relations, so an ST shift put into I and II shows up, with the right
reciprocal sign, in every limb lead. Beats are sums of Gaussians (P, Q, R, S, T); the
infarction pattern adds an ST plateau from the J point, deeper Q waves and T inversion.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..layouts import LEADS
INDEPENDENT: tuple[str, ...] = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")

TERRITORIES: dict[str, tuple[str, ...]] = {
    "inferior": ("II", "III", "aVF"),
    "anterior": ("V1", "V2", "V3", "V4"),
    "lateral": ("I", "aVL", "V5", "V6"),
}

# Share of the territory's ST shift that each independent lead carries. The limb values are
# chosen so the derived leads land where they should: inferior gives III = 1.0, aVF = 0.9 and
# a reciprocal aVL = -0.6; lateral gives aVL = 0.9 and a reciprocal III = -0.8.
_TERRITORY_WEIGHTS: dict[str, dict[str, float]] = {
    "inferior": {"I": -0.2, "II": 0.8, "V5": 0.1, "V6": 0.15, "V1": -0.2, "V2": -0.3},
    "anterior": {"I": 0.05, "II": -0.2, "V1": 0.6, "V2": 1.0, "V3": 1.0, "V4": 0.8, "V5": 0.3},
    "lateral": {"I": 1.0, "II": 0.2, "V4": 0.3, "V5": 1.0, "V6": 1.0, "V1": -0.3, "V2": -0.2},
}

# Typical normal amplitudes in mV: P, Q, R, S, T (Q and S negative).
_NORMAL_MV: dict[str, tuple[float, float, float, float, float]] = {
    "I": (0.08, -0.04, 0.65, -0.10, 0.22),
    "II": (0.13, -0.06, 1.00, -0.18, 0.30),
    "V1": (0.06, 0.00, 0.22, -0.90, 0.05),
    "V2": (0.07, 0.00, 0.45, -1.25, 0.42),
    "V3": (0.08, -0.02, 0.75, -0.80, 0.45),
    "V4": (0.09, -0.05, 1.25, -0.45, 0.40),
    "V5": (0.09, -0.07, 1.30, -0.25, 0.34),
    "V6": (0.08, -0.06, 1.00, -0.12, 0.25),
}


@dataclass
class WaveformParams:
    """Everything that decides one synthetic recording (stored in the ground truth)."""

    heart_rate: float = 70.0
    duration_s: float = 10.0
    fs: int = 500
    territory: str | None = None  # None: normal
    st_elevation_mv: float = 0.0  # in the territory's index lead (1.0 weight)
    q_waves: bool = False
    t_inversion: bool = False
    amplitude_jitter: float = 0.2
    baseline_wander_mv: float = 0.0
    mains_hum_mv: float = 0.0
    mains_hz: float = 50.0
    muscle_noise_mv: float = 0.0
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def derive_limb_leads(lead_i: np.ndarray, lead_ii: np.ndarray) -> dict[str, np.ndarray]:
    """III, aVR, aVL and aVF from I and II (Einthoven and Goldberger)."""
    return {
        "III": lead_ii - lead_i,
        "aVR": -(lead_i + lead_ii) / 2.0,
        "aVL": lead_i - lead_ii / 2.0,
        "aVF": lead_ii - lead_i / 2.0,
    }


def lead_st_weights(territory: str) -> dict[str, float]:
    """ST shift per lead (all 12) for a unit elevation in the given territory."""
    if territory not in _TERRITORY_WEIGHTS:
        raise ValueError(f"unknown territory {territory!r}; choose one of {sorted(TERRITORIES)}")
    w = _TERRITORY_WEIGHTS[territory]
    indep = {name: np.array([w.get(name, 0.0)]) for name in INDEPENDENT}
    limbs = derive_limb_leads(indep["I"], indep["II"])
    out = {name: float(indep[name][0]) for name in INDEPENDENT}
    out.update({name: float(v[0]) for name, v in limbs.items()})
    return out


def _smoothstep(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _gauss(t: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    return np.exp(-0.5 * ((t - mu) / sigma) ** 2)


def beat_times(params: WaveformParams, rng: np.random.Generator) -> np.ndarray:
    """R-peak times in seconds, with a little heart-rate variability."""
    rr_mean = 60.0 / params.heart_rate
    times = []
    t = rng.uniform(0.15, 0.15 + rr_mean)
    while t < params.duration_s + rr_mean:
        times.append(t)
        t += rr_mean * (1.0 + 0.03 * rng.standard_normal())
    return np.asarray(times)


def synthesize(params: WaveformParams) -> np.ndarray:
    """Render a recording.

    Returns:
        float32 array (n_samples, 12) in mV, leads in ``LEADS`` order.
    """
    rng = np.random.default_rng(params.seed)
    n = int(round(params.duration_s * params.fs))
    t = np.arange(n) / params.fs
    rr = 60.0 / params.heart_rate
    qt_scale = float(np.sqrt(rr))  # Bazett: the T wave comes later at slower rates
    weights = lead_st_weights(params.territory) if params.territory else {}
    r_times = beat_times(params, rng)
    independent: dict[str, np.ndarray] = {}
    for name in INDEPENDENT:
        p_a, q_a, r_a, s_a, t_a = (
            a * (1.0 + params.amplitude_jitter * rng.uniform(-1, 1)) for a in _NORMAL_MV[name]
        )
        w = weights.get(name, 0.0)
        if params.q_waves and w > 0.3:
            # Pathological Q: deep (a third of R) and wide (>= 40 ms), R smaller.
            q_a = -0.35 * r_a * min(w, 1.0)
            r_a *= 1.0 - 0.4 * min(w, 1.0)
        if params.t_inversion and w > 0.3:
            t_a = -abs(t_a) * min(w, 1.0)
        st = params.st_elevation_mv * w
        sig = np.zeros(n)
        for r in r_times:
            local = t - r
            window = np.abs(local) < 1.2
            if not window.any():
                continue
            tl = local[window]
            t_peak = 0.26 * qt_scale + 0.02
            beat = (p_a * _gauss(tl, -0.165, 0.024)
                    + q_a * _gauss(tl, -0.028, 0.012 if params.q_waves and w > 0.3 else 0.008)
                    + r_a * _gauss(tl, 0.0, 0.0105)
                    + s_a * _gauss(tl, 0.026, 0.011)
                    + t_a * _gauss(tl, t_peak, 0.055 * qt_scale))
            if st != 0.0:
                # ST plateau from the J point (about 45 ms after R) to the end of T.
                plateau = _smoothstep((tl - 0.045) / 0.006) * (1.0 - _smoothstep((tl - (t_peak + 0.09)) / 0.025))
                beat = beat + st * plateau
            sig[window] += beat
        independent[name] = sig
    # Noise enters where the electrodes are: on the recorded leads, before the machine derives
    # III, aVR, aVL and aVF from I and II (noise added to all twelve broke Einthoven's law, which
    # no real recording does and which the digitiser relies on).
    noise = _noise(params, t, rng)
    for name in INDEPENDENT:
        independent[name] = independent[name] + noise[:, LEADS.index(name)]
    limbs = derive_limb_leads(independent["I"], independent["II"])
    leads = {**independent, **limbs}
    out = np.stack([leads[name] for name in LEADS], axis=1)
    return out.astype(np.float32)


def _noise(params: WaveformParams, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = t.size
    noise = np.zeros((n, len(LEADS)))
    if params.baseline_wander_mv > 0:
        f = rng.uniform(0.1, 0.4)
        phase = rng.uniform(0, 2 * np.pi, len(LEADS))
        noise += params.baseline_wander_mv * np.sin(2 * np.pi * f * t[:, None] + phase[None, :])
    if params.mains_hum_mv > 0:
        noise += params.mains_hum_mv * np.sin(2 * np.pi * params.mains_hz * t)[:, None]
    if params.muscle_noise_mv > 0:
        raw = rng.standard_normal((n, len(LEADS)))
        kernel = np.ones(5) / 5.0
        smooth = np.apply_along_axis(lambda c: np.convolve(c, kernel, mode="same"), 0, raw)
        noise += params.muscle_noise_mv * smooth / max(smooth.std(), 1e-9)
    return noise


def random_params(rng: np.random.Generator, risky: bool) -> WaveformParams:
    """Draw plausible parameters; risky recordings carry an infarction pattern."""
    params = WaveformParams(
        heart_rate=float(rng.uniform(50, 105)),
        seed=int(rng.integers(0, 2**31 - 1)),
        baseline_wander_mv=float(rng.choice([0.0, rng.uniform(0.02, 0.12)])),
        mains_hum_mv=float(rng.choice([0.0, 0.0, rng.uniform(0.005, 0.02)])),
        muscle_noise_mv=float(rng.choice([0.0, rng.uniform(0.005, 0.02)])),
        mains_hz=float(rng.choice([50.0, 60.0])),
    )
    if risky:
        params.territory = str(rng.choice(sorted(TERRITORIES)))
        params.st_elevation_mv = float(rng.uniform(0.1, 0.4))
        params.q_waves = bool(rng.random() < 0.6)
        params.t_inversion = bool(rng.random() < 0.3)
    return params
