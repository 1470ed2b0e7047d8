"""Shared fixtures: synthetic printouts and photos made by ecg_model.synth, tiny weights."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
MENDELEY = SHARED / "mendeley_ecg_images"


def encode(rgb: np.ndarray, ext: str = ".png", quality: int = 92) -> bytes:
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if ext == ".jpg" else []
    ok, buf = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    assert ok
    return buf.tobytes()


@pytest.fixture(scope="session")
def risky_printout():
    from ecg_model.synth import example_printout

    return example_printout(True, seed=11)


@pytest.fixture(scope="session")
def normal_printout():
    from ecg_model.synth import example_printout

    return example_printout(False, seed=12)


@pytest.fixture(scope="session")
def risky_png(tmp_path_factory, risky_printout) -> Path:
    path = tmp_path_factory.mktemp("img") / "risky.png"
    path.write_bytes(encode(risky_printout[0].rgb))
    return path


@pytest.fixture(scope="session")
def photo_sample(risky_printout):
    from ecg_model.synth import PhotoParams, photograph

    printout, signals, _ = risky_printout
    params = PhotoParams(rotation_deg=7.0, tilt_x_deg=12.0, tilt_y_deg=-8.0, page_fill=0.8, shading=0.3,
                         blur_sigma_px=0.6, noise_sigma=2.5, jpeg_quality=85, seed=5)
    truth = {**printout.truth(), "page_size": [printout.rgb.shape[1], printout.rgb.shape[0]]}
    return photograph(printout, signals, params, truth)


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory) -> Path:
    """An untrained model in a valid weights file (for tests that need no accuracy)."""
    import torch

    from ecg_model.imaging import PIPELINE_VERSION
    from ecg_model.model import ECGNet, ModelConfig
    from ecg_model.weights import atomic_torch_save, make_checkpoint

    torch.manual_seed(0)
    model = ECGNet(ModelConfig())
    ckpt = make_checkpoint(model, temperature=1.0, threshold=0.5,
                           pipeline={"version": PIPELINE_VERSION, "input_height": 256, "input_width": 512,
                                     "work_width": 1600}, metrics={}, training={})
    path = tmp_path_factory.mktemp("weights") / "tiny.pt"
    atomic_torch_save(ckpt, path)
    return path


@pytest.fixture(scope="session")
def synth_dataset(tmp_path_factory) -> Path:
    from ecg_model.synth import SynthOptions, generate_dataset

    out = tmp_path_factory.mktemp("synth")
    generate_dataset(out, 16, seed=3, options=SynthOptions(dpi_range=(110, 130)), workers=2)
    return out


def needs_mendeley():
    return pytest.mark.skipif(not MENDELEY.is_dir(),
                              reason="the real Mendeley printouts (../shared/data) are not on this machine")


def png_bytes_of(im) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()
