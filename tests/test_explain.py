"""Grad-CAM: right size, not constant, thread-safe on a shared model."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from ecg_model.explain import cam_on_input, cam_on_page, compute_cam, overlay
from ecg_model.imaging import run_pipeline
from ecg_model.weights import DEFAULT_WEIGHTS, load_model


@pytest.fixture(scope="module")
def model_and_input(tiny_weights, risky_printout):
    model, _ = load_model(tiny_weights)
    x = run_pipeline(risky_printout[0].rgb, keep_stages=False).model_input
    return model, x


@pytest.mark.parametrize("method", ["gradcam", "gradcam++", "hirescam", "eigencam", "guided-gradcam"])
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


def test_lead_shares_follow_the_map_and_sum_to_one():
    from ecg_model.attribution import group_shares, lead_shares, time_profile

    boxes = {"I": (0, 0, 50, 20), "II": (50, 0, 100, 20), "III": (0, 20, 50, 40), "II (rhythm)": (0, 40, 100, 60)}
    cam = np.zeros((60, 100), np.float32)
    cam[5:15, 10:40] = 1.0  # all in lead I
    cam[45:55, 60:70] = 0.5  # some in the rhythm strip, which counts for II
    shares = lead_shares(cam, boxes)
    assert sum(shares.values()) == pytest.approx(1.0)
    assert shares["I"] == pytest.approx(300 / 350) and shares["II"] == pytest.approx(50 / 350)
    assert shares["III"] == 0.0
    groups = group_shares(shares)
    assert max(groups, key=groups.get) == "lateral"  # lead I is lateral
    assert lead_shares(np.zeros((60, 100), np.float32), boxes) == {}
    prof = time_profile(cam, bins=10)
    assert prof.sum() == pytest.approx(1.0) and int(np.argmax(prof)) in (1, 2, 3)


def test_trace_mass_counts_saliency_near_the_traces():
    from ecg_model.attribution import trace_mass_share

    mask = np.zeros((100, 200), np.uint8)
    mask[50, 20:180] = 255  # one horizontal trace
    cam = np.zeros((100, 200), np.float32)
    cam[48:53, 20:180] = 1.0  # on it
    cam[5:10, 20:180] = 1.0  # far off it, as much again
    share = trace_mass_share(cam, mask, (0, 0, 200, 100), dilate_mm=1.0, px_per_mm=4.0)
    assert share == pytest.approx(0.5, abs=0.02)


def test_report_is_a_png_page_with_the_disclaimer_band(risky_printout):
    import io

    from PIL import Image

    from ecg_model.report import PAGE_H, PAGE_W, ReportData, render_report

    rgb = risky_printout[0].rgb
    png = render_report(ReportData("x.png", rgb, rgb, 0.72, 0.45, "risky", (0.6, 0.8), {"I": 0.2, "II": 0.8}))
    im = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    assert im.shape == (PAGE_H, PAGE_W, 3)
    band = im[120:158, 60:PAGE_W - 60]
    red_text = (band[..., 0] > 140) & (band[..., 1] < 80) & (band[..., 2] < 80)
    assert red_text.sum() > 500  # the not-a-medical-device line is drawn in red


@pytest.mark.skipif(not Path(DEFAULT_WEIGHTS).exists(), reason="no default weights")
def test_saliency_sanity_checks_with_the_default_weights():
    """Randomisation changes the maps; guided Grad-CAM lies on the traces; the top lead group is the
    territory where ST elevation was injected in a clear majority of printouts."""
    from ecg_model.predict import Predictor
    from ecg_model.saliency_checks import run_checks

    s = run_checks(Predictor(), n=12).summary()
    assert s["n"] == 12
    assert s["trace_mass_mean"]["guided-gradcam"] >= 0.70
    assert s["trace_mass_mean"]["guided-gradcam"] > s["trace_area_share_mean"] + 0.25
    for method in ("gradcam", "guided-gradcam"):
        assert s["territory_hit_rate"][method] > 0.5, (method, s["territory_hit_rate"])
        assert s["randomisation_rank_corr_median"][method] < 0.5


def test_one_pass_scores_and_explains_as_the_two_separate_calls_do(tiny_weights, risky_printout):
    """``Predictor.risk_and_cam`` takes the risk from Grad-CAM's own forward pass: the same risk,
    band and map as ``risk_of`` followed by ``compute_cam`` for the class that risk gives."""
    from ecg_model.imaging import run_pipeline
    from ecg_model.predict import Predictor

    predictor = Predictor(tiny_weights)
    x = run_pipeline(risky_printout[0].rgb, predictor.pipeline_config, keep_stages=False).model_input
    risk, logit, band = predictor.risk_of(x)
    cam = compute_cam(predictor.model, x, int(risk >= predictor.threshold), lock=predictor.lock)
    risk2, logit2, band2, cam2 = predictor.risk_and_cam(x)
    assert risk2 == pytest.approx(risk, abs=1e-5)
    assert logit2 == pytest.approx(logit, abs=1e-4)
    assert band2 == pytest.approx(band, abs=1e-5)
    assert np.allclose(cam2, cam, atol=1e-4)
    assert predictor.label_of(logit2) == int(risk2 >= predictor.threshold)


@pytest.mark.parametrize("method", ["gradcam", "gradcam++", "hirescam"])
def test_backward_pass_stops_at_the_target_layer_with_the_same_map(model_and_input, monkeypatch, method):
    """The CAM's backward pass does not go through the convolutions before ``last_conv`` (their
    parameters are frozen for the call), yet the map equals the one from a full backward pass,
    and every parameter's ``requires_grad`` is as it was afterwards."""
    import contextlib

    import ecg_model.explain as explain

    model, x = model_and_input
    flags = [p.requires_grad for p in model.parameters()]
    upstream_needs_grad: list[bool] = []
    hook = model.features.register_forward_hook(lambda _m, _i, out: upstream_needs_grad.append(out.requires_grad))
    try:
        fast = compute_cam(model, x, 1, method)
        monkeypatch.setattr(explain, "_gradients_from", lambda layer, model: contextlib.nullcontext())
        full = compute_cam(model, x, 1, method)
    finally:
        hook.remove()
    assert upstream_needs_grad == [False, True]  # frozen during the first call only
    assert np.array_equal(fast, full)
    assert [p.requires_grad for p in model.parameters()] == flags
