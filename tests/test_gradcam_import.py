"""grad-cam is imported without the libraries it loads only for features this project never uses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = r"""
import json, sys, time
import numpy as np
import torch
from ecg_model.gradcam_import import DEFERRED, import_grad_cam
t0 = time.perf_counter()
gc = import_grad_cam()
seconds = time.perf_counter() - t0
loaded = [m for m in DEFERRED if m in sys.modules]
from ecg_model.explain import compute_cam
from ecg_model.model import ECGNet, ModelConfig
model = ECGNet(ModelConfig()).eval()
x = np.zeros((model.config.input_height, model.config.input_width), np.float32)
x[100:104, :] = 1.0
cam = compute_cam(model, x, 1)
loaded_after_cam = [m for m in DEFERRED if m in sys.modules]
# A deferred name works when used: SciPy's zoom, imported on this call.
zoomed = gc.utils.image.zoom(np.ones((2, 3)), 2)
import scipy
print(json.dumps({"seconds": seconds, "loaded": loaded, "after_cam": loaded_after_cam,
                  "cam_shape": list(cam.shape), "zoomed": list(zoomed.shape),
                  "scipy_is_real": hasattr(scipy, "__version__"), "gradcam": gc.GradCAM.__module__}))
"""


def test_grad_cam_imports_without_its_unused_dependencies_and_still_works():
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-2000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["loaded"] == [] and r["after_cam"] == [], r
    assert r["gradcam"] == "pytorch_grad_cam.grad_cam"
    assert r["cam_shape"] == [256, 512]
    assert r["zoomed"] == [4, 6]
    assert r["scipy_is_real"]
    # After torch, importing the whole of grad-cam took about 4 s on 2 cores; deferred, 0.2 s.
    assert r["seconds"] < 1.5, r


def test_names_from_libraries_already_imported_are_the_real_ones():
    probe = ("import json, scipy.ndimage; from ecg_model.gradcam_import import import_grad_cam; "
             "gc = import_grad_cam(); print(json.dumps(gc.utils.image.zoom is scipy.ndimage.zoom))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "true"
