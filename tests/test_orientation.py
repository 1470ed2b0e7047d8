"""Pages that lie sideways or upside down (no EXIF tag to say so) are stood upright."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ecg_model.imaging import run_pipeline
from ecg_model.imaging.orientation import OrientationEvidence, reads_upright, row_structure, turn_matrix
from ecg_model.io import load_image

from .conftest import encode


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_turn_matrix_maps_numpy_turns_back(k):
    a = np.arange(5 * 7).reshape(5, 7)
    b = np.rot90(a, k)
    back = turn_matrix(k, a.shape[1], a.shape[0])
    for y2 in range(b.shape[0]):
        for x2 in range(b.shape[1]):
            x, y, _ = back @ np.array([x2, y2, 1.0])
            assert a[int(round(y)), int(round(x))] == b[y2, x2]


def test_the_rule_turns_only_on_clear_evidence():
    assert OrientationEvidence(-0.5).sideways and not OrientationEvidence(-0.05).sideways
    assert not OrientationEvidence(0.8).sideways
    assert OrientationEvidence(0.8, pulses_upright=0, pulses_turned=3).upside_down
    assert OrientationEvidence(0.8, pulses_upright=1, pulses_turned=3).upside_down
    # Too few pulses, or nearly as many the right way up: left as it lies.
    assert not OrientationEvidence(0.8, pulses_upright=0, pulses_turned=1).upside_down
    assert not OrientationEvidence(0.8, pulses_upright=2, pulses_turned=4).upside_down
    assert OrientationEvidence(0.3, pulses_upright=12, pulses_turned=1).pulses_stand
    assert not OrientationEvidence(0.3, pulses_upright=1, pulses_turned=0).pulses_stand


def test_a_quarter_turn_is_kept_on_standing_pulses_even_where_the_rows_read_sideways():
    # Measured on a held-out PTB-XL 12x1 page (seed 503, page 15) lying sideways: as it lay,
    # rows 0.27 and no pulses; turned upright, rows -0.23 (its QRS complexes line up down the
    # page) with 12 pulses standing. It used to be left sideways.
    as_it_lay = OrientationEvidence(0.27)
    assert reads_upright(OrientationEvidence(-0.23, pulses_upright=12), as_it_lay)
    # Without pulses the rows must read clearly better than before; pulses hanging never do.
    assert not reads_upright(OrientationEvidence(-0.23), as_it_lay)
    assert not reads_upright(OrientationEvidence(0.30), as_it_lay)
    assert reads_upright(OrientationEvidence(0.45), as_it_lay)
    assert not reads_upright(OrientationEvidence(0.9, pulses_turned=5), as_it_lay)


def test_row_structure_tells_rows_from_columns():
    page = np.zeros((400, 600), np.uint8)
    for y in (80, 180, 280):  # three flat traces with a spike each 100 px
        page[y:y + 2, 20:580] = 255
        page[y - 30:y, 50:580:100] = 255
    assert row_structure(page) > 1.0
    assert row_structure(page.T) < -1.0


@pytest.mark.parametrize("k", [1, 2, 3])
def test_a_turned_printout_is_read_as_upright(risky_printout, k):
    printout, _, _ = risky_printout
    upright = run_pipeline(printout.rgb, keep_stages=False)
    assert upright.turned_deg == 0
    turned_input = np.ascontiguousarray(np.rot90(printout.rgb, k))
    result = run_pipeline(turned_input, keep_stages=True)
    # np.rot90(.., k) turns the content k quarters counter-clockwise; standing it up takes
    # the rest of the way round, and then the pixels read are exactly the upright page's.
    assert result.turned_deg == 90 * ((4 - k) % 4)
    assert result.layout == upright.layout == "3x4+1"
    np.testing.assert_array_equal(result.model_input, upright.model_input)
    # The deskew angle is the page's rotation as it appears in the input (DESIGN.md).
    assert abs((result.deskew_deg - 90 * k + 180) % 360 - 180) < 0.5
    # Working pixels map into the turned input: the trace area's centre lands where that
    # point of the page is in the input given.
    x0, y0, x1, y1 = result.crop_box
    cx, cy, w = result.work_to_input @ np.array([(x0 + x1) / 2, (y0 + y1) / 2, 1.0])
    ux, uy, uw = upright.work_to_input @ np.array([(x0 + x1) / 2, (y0 + y1) / 2, 1.0])
    back = turn_matrix(k, printout.rgb.shape[1], printout.rgb.shape[0])  # turned input -> upright page
    bx, by, _ = back @ np.array([cx / w, cy / w, 1.0])
    assert abs(bx - ux / uw) < 2 and abs(by - uy / uw) < 2
    assert result.stages["input"].shape == turned_input.shape


@pytest.mark.parametrize("k", [1, 2, 3])
def test_a_photo_taken_in_portrait_or_upside_down_is_read_upright(photo_sample, k):
    # Before the fix a page photographed in portrait, turned just past 90 degrees, was read
    # mirrored (its corners ordered by x); now it is read upright or turned half way round.
    upright = run_pipeline(load_image(photo_sample.encoded), keep_stages=False)
    rgb = load_image(photo_sample.encoded).rgb
    turned = run_pipeline(load_image(encode(np.ascontiguousarray(np.rot90(rgb, k)))), keep_stages=False)
    # The page outline already brings a photographed page's long side level, either way up;
    # the calibration pulses decide which (a half turn, or none).
    assert upright.turned_deg == 0 and turned.turned_deg in (0, 180)
    assert turned.layout == "3x4+1"
    assert abs((turned.deskew_deg - (7.0 + 90 * k) + 180) % 360 - 180) < 1.0
    a, b = turned.model_input, upright.model_input
    same = float(np.abs(a - b).mean())
    assert same < 0.3 * float(np.abs(a - b[::-1, ::-1]).mean())  # not upside down
    assert same < 0.3 * float(np.abs(a - b[::-1, :]).mean())  # not mirrored
    # The paper's corners are reported in the file as given.
    corners = np.asarray(turned.paper_corners)
    h, w = np.rot90(rgb, k).shape[:2]
    assert corners[:, 0].max() <= w + 1 and corners[:, 1].max() <= h + 1
    assert corners[:, 0].max() - corners[:, 0].min() > (0.5 if k % 2 == 0 else 0.3) * w


@pytest.mark.parametrize("k", [1, 3])
def test_a_turned_12x1_page_is_read_as_upright(k):
    # Sideways, a 12x1 page's twelve pulses side by side make a peaked profile of their own,
    # so its rows do not read as columns: the quarter turn is found by trying it.
    from ecg_model.synth import example_printout

    printout, _, _ = example_printout(True, seed=7, layout="12x1", grid="green", dpi=190.0)
    upright = run_pipeline(printout.rgb, keep_stages=False)
    result = run_pipeline(np.ascontiguousarray(np.rot90(printout.rgb, k)), keep_stages=False)
    assert upright.layout == result.layout == "12x1"
    assert result.turned_deg == 90 * (4 - k)
    np.testing.assert_array_equal(result.model_input, upright.model_input)


@pytest.mark.parametrize("layout", ["3x4+1", "6x2", "12x1"])
def test_upright_pages_are_not_turned(layout):
    from ecg_model.synth import example_printout

    printout, _, _ = example_printout(layout == "12x1", seed=5, layout=layout, grid="grey", dpi=120.0)
    assert run_pipeline(printout.rgb, keep_stages=False).turned_deg == 0


def test_the_check_can_be_switched_off(risky_printout):
    printout, _, _ = risky_printout
    result = run_pipeline(np.ascontiguousarray(np.rot90(printout.rgb, 2)), keep_stages=False,
                          find_orientation=False)
    assert result.turned_deg == 0


def test_a_page_photographed_just_past_a_quarter_turn_is_not_mirrored(risky_printout):
    from ecg_model.synth import PhotoParams, photograph

    printout, signals, _ = risky_printout
    params = PhotoParams(rotation_deg=1.5, tilt_x_deg=5.0, tilt_y_deg=-3.0, page_fill=0.75, shading=0.2,
                         blur_sigma_px=0.5, noise_sigma=2.0, jpeg_quality=90, seed=9)
    truth = {**printout.truth(), "page_size": [printout.rgb.shape[1], printout.rgb.shape[0]]}
    rgb = load_image(photograph(printout, signals, params, truth).encoded).rgb
    upright = run_pipeline(rgb, keep_stages=False)
    turned = run_pipeline(np.ascontiguousarray(np.rot90(rgb, 1)), keep_stages=False)  # 91.5 degrees
    assert abs((turned.deskew_deg - 91.5 + 180) % 360 - 180) < 1.0
    a, b = turned.model_input, upright.model_input
    assert float(np.abs(a - b).mean()) < 0.3 * float(np.abs(a - b[::-1, :]).mean())


def test_an_upside_down_page_digitises_as_the_upright_one(risky_printout):
    from ecg_model.digitize import digitize

    printout, _, _ = risky_printout
    upright = digitize(run_pipeline(printout.rgb, keep_stages=False, keep_maps=True)).matrix()
    turned = digitize(run_pipeline(np.ascontiguousarray(np.rot90(printout.rgb, 2)), keep_stages=False,
                                   keep_maps=True)).matrix()
    assert np.isfinite(upright).mean() > 0.3  # 3x4+1: each lead is printed for a quarter of the strip
    np.testing.assert_allclose(turned, upright, equal_nan=True)


def _page_with(strokes: list[tuple[int, int, int, int]]) -> np.ndarray:
    mask = np.zeros((300, 400), np.uint8)
    for x0, y0, x1, y1 in strokes:
        cv2.line(mask, (x0, y0), (x1, y1), 255, 2)
    return mask


def test_a_pulse_is_told_from_a_qrs_complex():
    from ecg_model.imaging.orientation import _stands_pulse

    ppm, base = 5.0, 200
    # A 10 mm pulse, 5 mm wide, with its foot, then a trace that dives at once.
    pulse = _page_with([(20, base, 40, base), (40, base, 40, base - 50), (40, base - 50, 65, base - 50),
                        (65, base - 50, 65, base), (65, base, 75, base + 10), (75, base + 10, 300, base)])
    assert _stands_pulse(pulse, 0, 300, base, ppm, None)
    # A QRS complex as tall: its two strokes meet at a point, there is no flat top.
    qrs = _page_with([(20, base, 60, base), (60, base, 66, base - 50), (66, base - 50, 72, base),
                      (72, base, 300, base)])
    assert not _stands_pulse(qrs, 0, 300, base, ppm, None)
    # The pulse hanging below the row (the page upside down) does not stand on it.
    assert not _stands_pulse(np.ascontiguousarray(pulse[::-1]), 0, 300, 299 - base, ppm, None)
