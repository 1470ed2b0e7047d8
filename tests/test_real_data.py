"""Real printouts (Mendeley, CC BY 4.0) when ../shared/data is present; skipped otherwise."""

from __future__ import annotations

import numpy as np
import pytest

from ecg_model.data import MENDELEY_CLASS_MAP
from ecg_model.weights import DEFAULT_WEIGHTS

from .conftest import MENDELEY, needs_mendeley

pytestmark = needs_mendeley()


def _files(step: int) -> list:
    files = sorted(p for folder in MENDELEY_CLASS_MAP for p in (MENDELEY / folder).glob("*.jpg"))
    return files[::step]


def test_real_printouts_are_not_rejected():
    from ecg_model.imaging import run_pipeline
    from ecg_model.io import load_image

    for path in _files(12):
        result = run_pipeline(load_image(path), keep_stages=False)
        assert result.gate.ok, f"{path.name}: {result.gate.message}"
        # Header (ID, date) and footer (heart rate) stay out of the crop: the template's grid
        # starts near y=213 and ends near y=1135 at the working width of 1600 px.
        x0, y0, x1, y1 = result.crop_box
        assert y0 > 195 and y1 < 1140, (path.name, result.crop_box)
        assert result.px_per_mm == pytest.approx(5.74, rel=0.02)


@pytest.mark.slow
def test_default_weights_on_the_held_out_test_split():
    from ecg_model.metrics import auroc
    from ecg_model.predict import Predictor

    predictor = Predictor(DEFAULT_WEIGHTS)
    test_files = set(predictor.metrics["split_files"]["test"])
    labels, risks = [], []
    for folder, label in MENDELEY_CLASS_MAP.items():
        for path in sorted((MENDELEY / folder).glob("*.jpg")):
            if path.name in test_files:
                a = predictor.analyse(path, keep_stages=False)
                assert a.status == "ok", f"{path.name}: {a.message}"
                labels.append(label)
                risks.append(a.risk)
    assert len(labels) == len(test_files)
    value = auroc(labels, risks)
    # The figure stored at training time must be reproduced from the files themselves.
    assert value == pytest.approx(predictor.metrics["test"]["auroc"], abs=0.01)
    assert value > 0.9
    assert np.mean(np.array(risks)[np.array(labels) == 0]) < np.mean(np.array(risks)[np.array(labels) == 1])


def test_real_printouts_calibration_pulses_give_the_grids_scale():
    """The fallback for a page whose grid is lost, checked where the grid is there: the
    Mendeley printer's pulses are 0.1 s wide (a width-based gain would read 20 mm/mV) and
    stand 9.9 mm tall: 8.55 px per mm against the grid's 8.614 at 2400 px."""
    from ecg_model.digitize import read_page
    from ecg_model.digitize.signals import _scale_from_pulses
    from ecg_model.io import load_image

    for path in _files(60):
        page = read_page(load_image(path))
        scale = _scale_from_pulses(page)
        assert scale is not None, path.name
        assert scale[1] == 10.0 and scale[0] == pytest.approx(page.px_per_mm, rel=0.02), (path.name, scale)
