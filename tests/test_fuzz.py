"""Fuzzing with hypothesis: whatever bytes or pixels arrive, the loader and the pipeline either
work or raise the project's documented ``ECGImageError``; never anything else.

Case counts (2,100 in all): random bytes 900, damaged real files 700, pixel arrays through the
whole pipeline 500.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from ecg_model.errors import ECGImageError
from ecg_model.imaging import PipelineConfig, run_pipeline
from ecg_model.io import load_image

FAST = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
                derandomize=True)
CONFIG = PipelineConfig(256, 512)


def _seed_files() -> list[bytes]:
    """Small valid files of every format the loader reads, to be damaged by the fuzzer."""
    rng = np.random.default_rng(0)
    rgb = (rng.random((48, 64, 3)) * 255).astype(np.uint8)
    rgb[20:24] = 0  # a dark line, so decoders have structure to chew on
    im = Image.fromarray(rgb)
    out = []
    for fmt, kw in (("PNG", {}), ("JPEG", {"quality": 80}), ("GIF", {}), ("BMP", {}), ("TIFF", {}),
                    ("WEBP", {"quality": 80}), ("PNG", {"bits": 4})):
        buf = io.BytesIO()
        (im.convert("P") if fmt == "GIF" or "bits" in kw else im).save(buf, format=fmt, **kw)
        out.append(buf.getvalue())
    return out


SEEDS = _seed_files()


def _load_or_documented_error(data: bytes) -> None:
    try:
        loaded = load_image(data)
    except ECGImageError as exc:
        assert str(exc) and exc.kind in ("error", "rejected")
        return
    assert loaded.rgb.ndim == 3 and loaded.rgb.shape[2] == 3 and loaded.rgb.dtype == np.uint8


@settings(FAST, max_examples=900)
@given(st.binary(min_size=0, max_size=4096))
def test_random_bytes_never_crash_the_loader(data):
    _load_or_documented_error(data)


@settings(FAST, max_examples=700)
@given(st.integers(0, len(SEEDS) - 1), st.data())
def test_damaged_real_files_never_crash_the_loader(which, data):
    raw = bytearray(SEEDS[which])
    kind = data.draw(st.sampled_from(["truncate", "flip", "splice"]))
    if kind == "truncate":
        raw = raw[:data.draw(st.integers(0, len(raw)))]
    elif kind == "flip":
        for _ in range(data.draw(st.integers(1, 12))):
            i = data.draw(st.integers(0, len(raw) - 1))
            raw[i] = data.draw(st.integers(0, 255))
    else:
        i = data.draw(st.integers(0, len(raw)))
        raw[i:i] = data.draw(st.binary(min_size=1, max_size=64))
    _load_or_documented_error(bytes(raw))


@st.composite
def pixel_arrays(draw: st.DrawFn) -> np.ndarray:
    # Mostly just above the 200-pixel minimum (the whole pipeline runs), some far below it or
    # absurdly elongated (refused at once).
    h = draw(st.one_of(st.integers(200, 420), st.integers(1, 2000)))
    w = draw(st.one_of(st.integers(200, 420), st.integers(1, 2000)))
    kind = draw(st.sampled_from(["noise", "flat", "stripes", "lines"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "noise":
        return (rng.random((h, w, 3)) * 255).astype(np.uint8)
    if kind == "flat":
        return np.full((h, w, 3), draw(st.integers(0, 255)), np.uint8)
    img = np.full((h, w, 3), 245, np.uint8)
    if kind == "stripes":
        step = draw(st.integers(1, 12))
        img[::step] = (230, 120, 120)
        img[:, ::step] = (230, 120, 120)
    else:
        for _ in range(draw(st.integers(1, 6))):
            y = int(rng.integers(0, h))
            img[y:y + 2] = 20
    return img


@settings(FAST, max_examples=500)
@given(pixel_arrays(), st.sampled_from(["PNG", "JPEG", "raw"]))
def test_any_pixels_through_the_whole_pipeline(arr, fmt):
    if fmt == "raw":
        rgb = arr
    else:
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format=fmt)
        try:
            rgb = load_image(buf.getvalue()).rgb
        except ECGImageError:
            return
    try:
        result = run_pipeline(rgb, CONFIG, keep_stages=False)
    except ECGImageError:
        return
    # Not an ECG: refused with a reason, never a risk on nothing.
    if not result.gate.ok:
        assert result.gate.message
    if result.model_input is not None:
        assert result.model_input.shape == (256, 512) and np.isfinite(result.model_input).all()


pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
