"""Grad-CAM: right size, not constant, thread-safe on a shared model."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from ecg_model.explain import cam_on_input, cam_on_page, compute_cam, overlay
from ecg_model.imaging import run_pipeline
from ecg_model.weights import load_model


@pytest.fixture(scope="module")
def model_and_input(tiny_weights, risky_printout):
    model, _ = load_model(tiny_weights)
    x = run_pipeline(risky_printout[0].rgb, keep_stages=False).model_input
    return model, x


@pytest.mark.parametrize("method", ["gradcam", "gradcam++", "hirescam", "eigencam"])
def test_cam_has_the_input_size_and_varies(model_and_input, method):
    model, x = model_and_input
    cam = compute_cam(model, x, 1, method)
    assert cam.shape == x.shape
    assert cam.min() >= 0 and cam.max() <= 1
    assert cam.std() > 0.01


def test_cam_for_each_class_differs(model_and_input):
    model, x = model_and_input
    assert not np.allclose(compute_cam(model, x, 1), compute_cam(model, x, 0))


def test_model_randomisation_changes_the_map(model_and_input, tiny_weights):
    model, x = model_and_input
    other, _ = load_model(tiny_weights)
    torch.manual_seed(123)
    for module in list(other.last_conv) + list(other.head) + [other.lstm]:
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    a, b = compute_cam(model, x, 1), compute_cam(other, x, 1)
    assert np.abs(a - b).mean() > 0.05


def test_concurrent_maps_equal_sequential(model_and_input):
    model, x = model_and_input
    lock = threading.Lock()
    xs = [x, np.roll(x, 40, axis=1), np.roll(x, -25, axis=0), x[:, ::-1].copy()]
    sequential = [compute_cam(model, xi, 1, lock=lock) for xi in xs]
    results: list = [None] * (2 * len(xs))

    def work(i: int) -> None:
        results[i] = compute_cam(model, xs[i % len(xs)], 1, lock=lock)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(results))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, r in enumerate(results):
        assert np.allclose(r, sequential[i % len(xs)], atol=1e-5)


def test_overlay_and_back_projection(risky_printout, model_and_input):
    model, _ = model_and_input
    result = run_pipeline(risky_printout[0].rgb)
    cam = compute_cam(model, result.model_input, 1)
    flat = result.stages["flattened"]
    page = cam_on_page(cam, result.crop_box, flat.shape[:2])
    x0, y0, x1, y1 = result.crop_box
    assert page[:y0].max() == 0 and page[y0:y1, x0:x1].max() > 0.5
    shown = overlay(flat, page, 0.5)
    assert shown.shape == flat.shape and shown.dtype == np.uint8
    on_input = cam_on_input(page, result.work_to_input, risky_printout[0].rgb.shape[:2])
    assert on_input.shape == risky_printout[0].rgb.shape[:2] and on_input.max() > 0.5
