"""Camera shake: found with its length and direction, taken out, and the digitiser reads better."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import ecg_model.digitize as digitize_pkg
from ecg_model.digitize.accuracy import snr_per_lead
from ecg_model.imaging.deblur import MotionBlur, estimate_motion_blur, motion_kernel, remove_motion_blur
from ecg_model.io import load_image


def _gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def _shake(rgb: np.ndarray, blur: MotionBlur, seed: int = 0) -> np.ndarray:
    """``rgb`` smeared by ``blur``, with sensor noise and a JPEG round trip, as a phone gives it."""
    smeared = cv2.filter2D(rgb.astype(np.float32), -1, motion_kernel(blur), borderType=cv2.BORDER_REFLECT)
    noisy = smeared + np.random.default_rng(seed).normal(0, 2.0, smeared.shape).astype(np.float32)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(np.clip(noisy, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def steady_photo(risky_printout) -> np.ndarray:
    """A phone photo without shake, saved at a high JPEG quality (the shake is added before
    the JPEG that ``_shake`` makes, as in a camera)."""
    from ecg_model.synth import PhotoParams, photograph

    printout, signals, _ = risky_printout
    truth = {**printout.truth(), "page_size": [printout.rgb.shape[1], printout.rgb.shape[0]]}
    params = PhotoParams(rotation_deg=7.0, tilt_x_deg=12.0, tilt_y_deg=-8.0, page_fill=0.8, shading=0.3,
                         blur_sigma_px=0.6, noise_sigma=2.5, jpeg_quality=97, seed=5)
    return photograph(printout, signals, params, truth).image


def _blur_at(length: float, angle_deg: float) -> MotionBlur:
    a = np.radians(angle_deg)
    return MotionBlur(length, float(np.cos(a)), float(-np.sin(a)), 0.0)


def test_kernel_is_a_normalised_line_of_the_length_asked():
    k = motion_kernel(_blur_at(7.0, 0.0))
    assert k.sum() == pytest.approx(1.0, abs=1e-5)
    assert np.allclose(k, k[::-1, ::-1], atol=1e-6)  # symmetric: the blur does not move the page
    row = k[k.shape[0] // 2]
    assert np.count_nonzero(row > 0.05) == 7
    assert k.sum(axis=1).max() == pytest.approx(row.sum(), abs=1e-6)  # all on the middle row
    slant = motion_kernel(_blur_at(7.0, 30.0))
    ys, xs = np.nonzero(slant > 0.01)
    c = slant.shape[0] // 2
    # As long at a slant: its ends lie 3.5 px from the centre (to the pixels' centres, 3 px).
    reach = np.hypot(xs - c, ys - c).max()
    assert 2.5 <= reach <= 3.7


@pytest.mark.parametrize("length,angle", [(7.0, 30.0), (9.0, 120.0), (5.0, 90.0)])
def test_shake_is_found_with_its_length_and_direction(steady_photo, length, angle):
    shaken = _shake(steady_photo, _blur_at(length, angle))
    found = estimate_motion_blur(_gray(shaken))
    assert found is not None
    assert found.length_px == pytest.approx(length, abs=1.0)
    # Directions are read on whole-pixel steps of the cepstrum: within about 15 degrees.
    assert min(abs(found.angle_deg - angle), 180 - abs(found.angle_deg - angle)) <= 16.0


def test_a_steady_photo_and_a_scan_show_no_shake(photo_sample, risky_printout):
    assert estimate_motion_blur(_gray(photo_sample.image)) is None
    # A sharp render's fine grid can mimic a shake in the cepstrum; the digitiser does not
    # look for one where no page outline was found (a scan or a screenshot).
    image, note = digitize_pkg.without_motion_blur(risky_printout[0].rgb)
    assert note is None and image is risky_printout[0].rgb
    # Too small to measure, or no RGB image: left to the pipeline, which says what is wrong.
    for odd in (np.zeros((100, 100, 3), np.uint8), np.zeros((600, 800), np.uint8), np.zeros((600, 800, 3), np.float32)):
        assert digitize_pkg.without_motion_blur(odd) == (odd, None)


def test_removal_brings_the_strokes_back(steady_photo):
    blur = _blur_at(7.0, 30.0)
    sharp = steady_photo
    shaken = _shake(sharp, blur)
    restored = remove_motion_blur(shaken, estimate_motion_blur(_gray(shaken)))
    assert restored.shape == sharp.shape and restored.dtype == np.uint8
    # Compared on and around the printed strokes (the filter also lifts the paper's noise).
    near_ink = cv2.dilate((_gray(sharp) < 150).astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    near_ink[:40], near_ink[-40:], near_ink[:, :40], near_ink[:, -40:] = False, False, False, False

    def error(img: np.ndarray) -> float:
        return float(np.abs(_gray(img).astype(np.float32) - _gray(sharp).astype(np.float32))[near_ink].mean())

    assert error(restored) < 0.9 * error(shaken), (error(restored), error(shaken))  # 5.97 against 7.24


def test_digitiser_reads_a_shaken_photo_better(risky_printout, monkeypatch):
    """A phone photo with a 7 px shake (``synth``'s own): with the shake taken out the median SNR
    rose from 8.0 to 16.0 dB when this test was written; the page says what was done."""
    from ecg_model.synth import PhotoParams, photograph

    printout, signals, _ = risky_printout
    truth = {**printout.truth(), "page_size": [printout.rgb.shape[1], printout.rgb.shape[0]]}
    params = PhotoParams(rotation_deg=7.0, tilt_x_deg=12.0, tilt_y_deg=-8.0, page_fill=0.8, shading=0.3,
                         blur_sigma_px=0.6, noise_sigma=2.5, jpeg_quality=85, motion_blur_px=3.0, seed=5)
    loaded = load_image(photograph(printout, signals, params, truth).encoded)
    dig, _ = digitize_pkg.digitize_image(loaded)
    with_removal = float(np.median(list(snr_per_lead(signals, dig.matrix(), "3x4+1").values())))
    assert any("motion blur 7" in f for f in dig.flags), dig.flags
    monkeypatch.setattr(digitize_pkg, "without_motion_blur", lambda image, page=None: (image, None))
    plain, _ = digitize_pkg.digitize_image(loaded)
    without = float(np.median(list(snr_per_lead(signals, plain.matrix(), "3x4+1").values())))
    assert not any("motion blur" in f for f in plain.flags)
    assert with_removal >= 13.0 and with_removal >= without + 3.0, (with_removal, without)
