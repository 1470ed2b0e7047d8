"""The synthetic generator: determinism, every layout and grid, geometry truth, ST truth."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from ecg_model.synth import (GRID_COLOURS, LAYOUTS, LEADS, PaperStyle, PhotoParams, WaveformParams,
                             generate_dataset, lead_st_weights, photograph, render_printout, synthesize)
from ecg_model.synth.paper import GAIN_MM_MV, PAPER_SPEED_MM_S
from ecg_model.synth.waveform import beat_times

from .conftest import ROOT


def test_same_seed_same_bytes(tmp_path):
    a = generate_dataset(tmp_path / "a", 4, seed=9, workers=1)
    b = generate_dataset(tmp_path / "b", 4, seed=9, workers=2)
    assert [r["path"] for r in a] == [r["path"] for r in b]
    for rec in a:
        assert (tmp_path / "a" / rec["path"]).read_bytes() == (tmp_path / "b" / rec["path"]).read_bytes()
    assert (tmp_path / "a" / "truth.jsonl").read_text() == (tmp_path / "b" / "truth.jsonl").read_text()
    c = generate_dataset(tmp_path / "c", 4, seed=10, workers=1)
    assert (tmp_path / "c" / c[0]["path"]).read_bytes() != (tmp_path / "a" / a[0]["path"]).read_bytes()


def test_dataset_layout_and_truth(tmp_path):
    records = generate_dataset(tmp_path, 6, seed=1, workers=1)
    lines = [json.loads(line) for line in (tmp_path / "truth.jsonl").read_text().splitlines()]
    assert len(lines) == 6
    assert sorted({r["label"] for r in lines}) == ["normal", "risky"]
    for rec in records:
        assert (tmp_path / rec["path"]).is_file() and rec["path"].startswith(rec["label"] + "/")
        mask = cv2.imread(str(tmp_path / rec["trace_mask"]), cv2.IMREAD_GRAYSCALE)
        assert mask is not None and mask.max() == 255
        wave = np.load(tmp_path / rec["waveform_uv"])
        assert wave.shape == (5000, 12) and wave.dtype == np.int16
        assert rec["layout"] in LAYOUTS and rec["px_per_mm"] > 3
        risky = rec["source"]["params"]["territory"] is not None
        assert risky == (rec["label"] == "risky")


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("grid", sorted(GRID_COLOURS))
def test_every_layout_and_grid_colour(layout, grid):
    signals = synthesize(WaveformParams(seed=4))
    p = render_printout(signals, 500, PaperStyle(layout=layout, grid=grid, dpi=100))
    expected_boxes = sum(len(row) for row in LAYOUTS[layout])
    assert len(p.lead_boxes) == expected_boxes
    assert np.count_nonzero(p.trace_mask) > 2000
    # The grid's colour is on the page: the most common non-paper colour is near the minor line colour.
    gx0, gy0, gx1, gy1 = (int(v) for v in p.grid_box)
    region = p.rgb[gy0:gy1, gx0:gx1].reshape(-1, 3).astype(int)
    non_paper = region[(region.min(axis=1) < 245) & (p.trace_mask[gy0:gy1, gx0:gx1].ravel() == 0)]
    minor = np.array(GRID_COLOURS[grid][0])
    assert np.linalg.norm(np.median(non_paper, axis=0) - minor) < 60


@pytest.mark.parametrize("noisy", [False, True])
def test_einthoven_relations_hold(noisy):
    # Noise too (baseline wander, mains hum, muscle) enters where the electrodes are, before
    # the machine derives the other limb leads: added to all twelve it broke the laws.
    noise = dict(baseline_wander_mv=0.1, mains_hum_mv=0.02, muscle_noise_mv=0.02) if noisy else {}
    sig = synthesize(WaveformParams(seed=2, territory="inferior", st_elevation_mv=0.3, q_waves=True, **noise))
    i, ii, iii, avr, avl, avf = (sig[:, LEADS.index(n)] for n in ("I", "II", "III", "aVR", "aVL", "aVF"))
    assert np.allclose(iii, ii - i, atol=1e-5)
    assert np.allclose(avr, -(i + ii) / 2, atol=1e-5)
    assert np.allclose(avl, i - ii / 2, atol=1e-5) and np.allclose(avf, ii - i / 2, atol=1e-5)
    if noisy:
        assert np.std(i - synthesize(WaveformParams(seed=2, territory="inferior", st_elevation_mv=0.3,
                                                    q_waves=True))[:, 0]) > 0.01


def _trace_y(mask: np.ndarray, x: float, box: list[float]) -> float:
    col = mask[int(box[1]):int(box[3]), int(round(x))]
    rows = np.nonzero(col)[0]
    assert rows.size, "no trace pixel in this column"
    return float(rows.mean() + int(box[1]))


@pytest.mark.parametrize("lead,weight_lead", [("III", "III"), ("aVF", "aVF"), ("aVL", "aVL"), ("II", "II")])
def test_st_elevation_measured_back_from_trace_mask(lead, weight_lead):
    params = WaveformParams(heart_rate=60, seed=21, territory="inferior", st_elevation_mv=0.2,
                            amplitude_jitter=0.0)
    signals = synthesize(params)
    style = PaperStyle(layout="3x4+1", grid="red", dpi=200, line_width_mm=0.2)
    p = render_printout(signals, 500, style)
    ppm = p.px_per_mm
    box = p.lead_boxes[lead]
    r_times = beat_times(params, np.random.default_rng(params.seed))
    col = [row for row in LAYOUTS["3x4+1"] if lead in row][0].index(lead)
    t0, t1 = 2.5 * col, 2.5 * (col + 1)
    x_start = box[0] - (t0 * PAPER_SPEED_MM_S * ppm)
    measured = []
    for r in r_times:
        if not (t0 + 0.2 < r < t1 - 0.2):
            continue
        y_pr = np.mean([_trace_y(p.trace_mask, x_start + (r + dt) * PAPER_SPEED_MM_S * ppm, box)
                        for dt in (-0.095, -0.085, -0.075)])
        y_st = _trace_y(p.trace_mask, x_start + (r + 0.105) * PAPER_SPEED_MM_S * ppm, box)
        measured.append(-(y_st - y_pr) / (GAIN_MM_MV * ppm))
    assert measured, "no complete beat in the segment"
    expected = 0.2 * lead_st_weights("inferior")[weight_lead]
    assert abs(float(np.median(measured)) - expected) < 0.03


def test_photo_corners_match_the_page(risky_printout):
    printout, signals, _ = risky_printout
    params = PhotoParams(rotation_deg=12.0, tilt_x_deg=15.0, tilt_y_deg=10.0, page_fill=0.75,
                         background_rgb=(40, 40, 45), seed=1)
    sample = photograph(printout, signals, params, {})
    corners = np.array(sample.truth["paper_corners"])
    h = np.array(sample.truth["homography"])
    ph, pw = printout.rgb.shape[:2]
    projected = cv2.perspectiveTransform(np.array([[[0, 0], [pw, 0], [pw, ph], [0, ph]]], np.float64), h)[0]
    assert np.abs(projected - corners).max() < 0.01
    # Inside the quad is paper (bright), just outside it is the dark table.
    gray = cv2.cvtColor(sample.image, cv2.COLOR_RGB2GRAY)
    centre = corners.mean(axis=0)
    for c in corners:
        inside = c + 0.05 * (centre - c)
        outside = c - 0.05 * (centre - c)
        assert gray[int(inside[1]), int(inside[0])] > 150
        ox, oy = np.clip(outside, 0, [gray.shape[1] - 1, gray.shape[0] - 1]).astype(int)
        assert gray[oy, ox] < 110
    # The rotation truth follows DESIGN.md: a page turned counter-clockwise reads positive.
    assert 5.0 < sample.truth["rotation_deg"] < 20.0


# ----------------------------------------------------------------------------- sources and effects

def _st_by_lead(p, signals_fs: int, r_times: np.ndarray, layout: str = "3x4+1") -> dict[str, float]:
    """Median ST deviation (J+60 ms against the PR segment) per lead, read from the trace mask."""
    ppm = p.px_per_mm
    out = {}
    for row in LAYOUTS[layout]:
        if len(row) == 1:
            continue
        for col, lead in enumerate(row):
            box = p.lead_boxes[lead]
            t0, t1 = 2.5 * col, 2.5 * (col + 1)
            x_start = box[0] - t0 * PAPER_SPEED_MM_S * ppm
            vals = []
            for r in r_times:
                if not (t0 + 0.2 < r < t1 - 0.2):
                    continue
                try:
                    y_pr = np.mean([_trace_y(p.trace_mask, x_start + (r + dt) * PAPER_SPEED_MM_S * ppm, box)
                                    for dt in (-0.095, -0.085, -0.075)])
                    y_st = _trace_y(p.trace_mask, x_start + (r + 0.11) * PAPER_SPEED_MM_S * ppm, box)
                except AssertionError:
                    continue
                vals.append(-(y_st - y_pr) / (GAIN_MM_MV * ppm))
            out[lead] = float(np.median(vals))
    return out


def test_injected_st_elevation_on_any_recording_measured_from_the_mask():
    from ecg_model.synth.sources import detect_r_peaks, inject_infarction

    base = synthesize(WaveformParams(heart_rate=62, seed=5, amplitude_jitter=0.0))
    injected, peaks = inject_infarction(base, 500, "inferior", 0.2, q_waves=False, t_inversion=False)
    r_times = peaks / 500.0
    style = PaperStyle(layout="3x4+1", grid="red", dpi=200, line_width_mm=0.2)
    before = _st_by_lead(render_printout(base, 500, style), 500, r_times)
    after = _st_by_lead(render_printout(injected, 500, style), 500, r_times)
    weights = lead_st_weights("inferior")
    for lead in ("II", "III", "aVF", "aVL", "I"):
        assert abs((after[lead] - before[lead]) - 0.2 * weights[lead]) < 0.03, lead
    # The detector finds the simulator's beats.
    true_r = beat_times(WaveformParams(heart_rate=62, seed=5), np.random.default_rng(5))
    true_r = true_r[true_r < 10.0]
    found = detect_r_peaks(base, 500) / 500.0
    assert len(found) == len(true_r[(true_r > 0.02) & (true_r < 9.98)])
    assert np.abs(found[:, None] - true_r[None, :]).min(axis=1).max() < 0.012


@pytest.mark.parametrize("effect", ["crease", "curl", "moire"])
def test_photo_effects_are_seeded_and_keep_the_mask_on_the_traces(risky_printout, effect):
    printout, signals, _ = risky_printout
    params = PhotoParams(rotation_deg=4.0, tilt_x_deg=10.0, page_fill=0.85, background_rgb=(40, 40, 45), seed=3,
                         **{effect: 0.6 if effect != "curl" else 0.03})
    a = photograph(printout, signals, params, {})
    b = photograph(printout, signals, params, {})
    assert a.encoded == b.encoded
    plain = photograph(printout, signals, PhotoParams(rotation_deg=4.0, tilt_x_deg=10.0, page_fill=0.85,
                                                      background_rgb=(40, 40, 45), seed=3), {})
    assert np.abs(a.image.astype(int) - plain.image.astype(int)).mean() > 0.5
    gray = cv2.cvtColor(a.image, cv2.COLOR_RGB2GRAY).astype(float)
    on_trace = gray[a.trace_mask > 0].mean()
    corners = np.array(a.truth["paper_corners"], np.int32)
    page = np.zeros_like(a.trace_mask)
    cv2.fillPoly(page, [corners], 255)
    paper = gray[(page > 0) & (cv2.dilate(a.trace_mask, np.ones((9, 9), np.uint8)) == 0)].mean()
    assert on_trace < paper - 60  # the mask sits on dark ink, wherever the effect moved it


def test_tilt_up_to_30_degrees_keeps_the_page_in_frame(risky_printout):
    printout, signals, _ = risky_printout
    for tilt in (-30.0, 30.0):
        s = photograph(printout, signals, PhotoParams(rotation_deg=45.0, tilt_x_deg=tilt, tilt_y_deg=10.0, seed=1), {})
        c = np.array(s.truth["paper_corners"])
        assert (c >= 0).all() and (c[:, 0] <= 1600).all() and (c[:, 1] <= 1200).all()
        assert 40.0 < s.truth["rotation_deg"] < 50.0


ptbxl = pytest.mark.skipif(not (ROOT.parent / "shared" / "data" / "ptbxl_subset" / "ptbxl_subset.npz").is_file(),
                           reason="the PTB-XL subset (../shared/data) is not on this machine")


@ptbxl
def test_ptbxl_source_labels_and_truth(tmp_path):
    path = str(ROOT.parent / "shared" / "data" / "ptbxl_subset" / "ptbxl_subset.npz")
    from ecg_model.synth import SynthOptions

    records = generate_dataset(tmp_path, 12, seed=4, options=SynthOptions(source="ptbxl", ptbxl_path=path), workers=2)
    for rec in records:
        src = rec["source"]
        assert src["kind"] == "ptbxl" and isinstance(src["ecg_id"], int)
        if rec["label"] == "normal":
            assert src["norm100"] and not src["mi_statement"] and src["injected"] is None
        else:
            assert src["mi_statement"] or src["injected"]


@ptbxl
def test_st_injected_into_a_real_record_is_measured_back():
    from ecg_model.synth.sources import inject_infarction, load_ptbxl

    ds = load_ptbxl(str(ROOT.parent / "shared" / "data" / "ptbxl_subset" / "ptbxl_subset.npz"))
    ecg_id = ds.normal_ids()[0]
    base = ds.signals_uv[list(ds.ecg_ids).index(ecg_id)].astype(np.float32) / 1000.0
    base -= np.median(base, axis=0)
    injected, peaks = inject_infarction(base, 500, "anterior", 0.2, q_waves=False, t_inversion=False)
    style = PaperStyle(layout="3x4+1", grid="pink", dpi=200, line_width_mm=0.2)
    before = _st_by_lead(render_printout(base, 500, style), 500, peaks / 500.0)
    after = _st_by_lead(render_printout(injected, 500, style), 500, peaks / 500.0)
    weights = lead_st_weights("anterior")
    for lead in ("V1", "V2", "V3", "V4"):
        assert abs((after[lead] - before[lead]) - 0.2 * weights[lead]) < 0.03, lead
