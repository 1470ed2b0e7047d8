"""Write digitised signals: CSV (one column per lead) and WFDB (the PhysioNet format, via the
wfdb package: a .hea header and a .dat file in format 16)."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import numpy as np

from ..layouts import LEADS
from .signals import Digitization

# WFDB stores 16-bit integers: 1 uV steps cover +-32 mV, far beyond any ECG.
_ADC_GAIN_PER_MV = 1000.0


def record_name(stem: str) -> str:
    """A WFDB record name: letters, digits, hyphens and underscores only."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_")
    return name or "ecg"


def csv_text(dig: Digitization) -> str:
    """time_s and the 12 leads in mV, one row per sample; an empty cell where a lead was not
    printed at that time or could not be read."""
    data = dig.matrix()
    out = io.StringIO()
    out.write("time_s," + ",".join(LEADS) + "\n")
    t = np.arange(data.shape[0]) / dig.fs
    for i in range(data.shape[0]):
        cells = ["" if not np.isfinite(v) else f"{v:.4f}" for v in data[i]]
        out.write(f"{t[i]:.4f}," + ",".join(cells) + "\n")
    return out.getvalue()


def write_csv(dig: Digitization, path: str | Path) -> Path:
    path = Path(path)
    path.write_text(csv_text(dig), encoding="utf-8")
    return path


def write_wfdb(dig: Digitization, out_dir: str | Path, name: str) -> list[Path]:
    """``name``.hea and ``name``.dat in ``out_dir``; samples not printed are stored as WFDB's
    missing value. Returns the files written."""
    import wfdb  # imported here: it pulls in pandas and takes a second to load

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = record_name(name)
    data = dig.matrix()
    # wfdb refuses a column of nothing but NaN when it picks gains itself; the gain is fixed
    # here, so NaN simply becomes the missing-sample code.
    wfdb.wrsamp(name, fs=dig.fs, units=["mV"] * len(LEADS), sig_name=list(LEADS), p_signal=data,
                fmt=["16"] * len(LEADS), adc_gain=[_ADC_GAIN_PER_MV] * len(LEADS), baseline=[0] * len(LEADS),
                comments=["digitised from an ECG image by ecg_model (teaching and research tool, "
                          "not a medical device)", f"layout {dig.layout}; gain {dig.gain_mm_per_mv} mm/mV"],
                write_dir=str(out))
    return [out / f"{name}.hea", out / f"{name}.dat"]


def wfdb_zip(dig: Digitization, name: str) -> bytes:
    """The WFDB record's two files in one zip, for a download button."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        files = write_wfdb(dig, tmp, name)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for f in files:
                zf.write(f, f.name)
    return buf.getvalue()
