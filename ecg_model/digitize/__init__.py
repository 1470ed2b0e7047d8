"""Digitise: from the cleaned, calibrated page back to each lead's signal in mV at 500 Hz,
with ST measurements and CSV / WFDB export."""

from __future__ import annotations

from .signals import FS, Digitization, LeadSignal, digitize
from .st import STReport, measure_st

__all__ = ["FS", "Digitization", "LeadSignal", "STReport", "digitize", "digitize_file", "measure_st"]


def digitize_file(path: str) -> tuple[Digitization, STReport]:
    """Load an image, run the pipeline and digitise it.

    Raises:
        ECGImageError: the file cannot be read, or the page cannot be digitised (the reason
            says why).
    """
    from ..imaging import run_pipeline
    from ..io import load_image

    result = run_pipeline(load_image(path), keep_stages=False, keep_maps=True)
    dig = digitize(result)
    return dig, measure_st(dig.matrix(), dig.fs)
