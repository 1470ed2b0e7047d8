"""Camera shake: find a straight motion blur in a photo and take it out (for the digitiser).

A phone moved during the exposure smears every point along a short line. The smear is the
same all over the frame, so the photo's spectrum is the sharp page's times the line's, whose
zeros repeat every 1 / length along the motion. In the cepstrum (the inverse transform of the
log spectrum) those zeros add up to a deep minimum at the blur's length and direction from the
origin, whatever the page shows. A Wiener filter with that line then restores the strokes' ends,
the lead-change marks and the QRS spikes that the digitiser times the signal by.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

# Cepstrum windows (px) and the blur lengths searched: shorter smears are no worse than the
# lens's own blur, and the digitiser reads them as they are.
_WINDOW = 512
_MIN_LENGTH_PX = 4.5
_MAX_LENGTH_PX = 13.0
_NEAR_ORIGIN_PX = 2.5  # the cepstrum's peak at the origin reaches this far
_WINDOW_RANK = 0.025
_MAX_ANISOTROPY = 0.35
# The Wiener filter's noise-to-signal ratio: enough to keep JPEG noise from being amplified
# where the line's spectrum is near zero. All-leads median SNR on the four tuning photo sets
# (seeds 6 / 10 / 20 / 30) for 0.005, 0.01, 0.02, 0.04: 9.82 / 9.16 / 9.51 / 10.11,
# 9.86 / 9.21 / 9.51 / 10.19, 9.51 / 9.05 / 9.21 / 10.11, 9.20 / 9.05 / 8.84 / 10.13.
_NOISE_RATIO = 0.01


@dataclass(frozen=True)
class MotionBlur:
    """A straight motion blur: ``length_px`` long along the image direction (dx, dy) (x to
    the right, y down, unit length); ``depth`` is how far the cepstrum's minimum stands below
    the rest of the search ring, in standard deviations."""

    length_px: float
    dx: float
    dy: float
    depth: float

    @property
    def angle_deg(self) -> float:
        """The direction's angle on screen, counter-clockwise from the x axis, in [0, 180)."""
        return math.degrees(math.atan2(-self.dy, self.dx)) % 180.0


def _window_centres(h: int, w: int, size: int) -> list[tuple[int, int]]:
    """The centre and the four quarter points, where a window of ``size`` fits."""
    half = size // 2
    out = []
    for fy, fx in ((0.5, 0.5), (1 / 3, 1 / 3), (1 / 3, 2 / 3), (2 / 3, 1 / 3), (2 / 3, 2 / 3)):
        cy, cx = int(h * fy), int(w * fx)
        if half <= cy <= h - half and half <= cx <= w - half:
            out.append((cy, cx))
    return out


def estimate_motion_blur(gray: np.ndarray) -> MotionBlur | None:
    """The photo's motion blur, or None where there is none worth removing.

    Args:
        gray: H x W grey image (any scale); at least 512 px on both sides to be measured.

    Returns:
        The blur where the cepstrum of five windows has its deepest minimum within 2.5-13 px
        of the origin at least 4.5 px out (the lens and JPEG put shallower minima nearer), not
        at JPEG's block spacing, among the deepest 2.5 % of every window on its own, and along
        a direction with little fine detail; None otherwise.
    """
    h, w = gray.shape[:2]
    centres = _window_centres(h, w, _WINDOW)
    if not centres:
        return None
    win = np.outer(np.hanning(_WINDOW), np.hanning(_WINDOW))
    half = _WINDOW // 2
    cepstra = []
    power = np.zeros((_WINDOW, _WINDOW))
    for cy, cx in centres:
        crop = gray[cy - half:cy + half, cx - half:cx + half].astype(np.float64)
        crop = crop / max(float(crop.max()), 1e-9)
        spectrum = np.abs(np.fft.fft2((crop - crop.mean()) * win))
        cepstra.append(np.fft.fftshift(np.real(np.fft.ifft2(np.log(spectrum + 1e-3)))))
        power += np.fft.fftshift(spectrum) ** 2
    cep = np.sum(cepstra, axis=0)
    yy, xx = np.mgrid[-half:half, -half:half]
    radius = np.hypot(xx, yy)
    ring = (radius >= _NEAR_ORIGIN_PX) & (radius <= _MAX_LENGTH_PX)
    # JPEG's 8 x 8 blocks leave a dip of their own 8 px along each axis; a shake of that
    # length along an axis is then read a pixel off, from the dip's neighbours.
    ring[half, half - 8] = ring[half, half + 8] = ring[half - 8, half] = ring[half + 8, half] = False
    values = np.where(ring, cep, np.inf)
    iy, ix = np.unravel_index(int(np.argmin(values)), values.shape)
    dx, dy = float(ix - half), float(iy - half)
    length = math.hypot(dx, dy)
    if length < _MIN_LENGTH_PX:
        return None
    # The same blur is everywhere in the frame: the minimum must be among the deepest of the
    # ring in every window on its own. A minimum made by what the page shows is not (on the
    # tuning photos the true blurs stood within the deepest 2 % of every window, the false
    # finds beyond 4 % in one window or more).
    for single in cepstra:
        if float(np.mean(single[ring] < single[iy, ix])) > _WINDOW_RANK:
            return None
    # A shake takes the fine detail out along its direction and leaves it across: the spectrum's
    # energy at fine scales is far lower along it (0.01-0.18 of the energy across on the tuning
    # photos with a shake) than on a steady photo (0.64 and more where the cepstrum alone had
    # found a shake); the limit is their geometric mean.
    if _anisotropy(power, dx / length, dy / length) > _MAX_ANISOTROPY:
        return None
    inside = cep[ring]
    depth = float((inside.mean() - cep[iy, ix]) / max(float(inside.std()), 1e-12))
    return MotionBlur(length, dx / length, dy / length, depth)


def _anisotropy(power: np.ndarray, dx: float, dy: float) -> float:
    """Mean spectral power at fine scales (0.12-0.3 cycles per px) within 12 degrees of the
    direction (dx, dy), over that across it; ``power`` is centred (fftshift)."""
    n = power.shape[0]
    yy, xx = np.mgrid[-(n // 2):n - n // 2, -(n // 2):n - n // 2]
    freq = np.hypot(xx, yy) / n
    angle = np.arctan2(-yy, xx)
    along = math.atan2(-dy, dx)
    fine = (freq > 0.12) & (freq < 0.3)

    def band(direction: float) -> float:
        off = np.abs((angle - direction + np.pi / 2) % np.pi - np.pi / 2)
        return float(power[fine & (off < np.radians(12))].mean())

    return band(along) / max(band(along + np.pi / 2), 1e-12)


def motion_kernel(blur: MotionBlur) -> np.ndarray:
    """The blur as a normalised float32 kernel: a segment ``length_px`` long centred on the
    middle pixel, each pixel weighted by the length of segment over it (drawn 16 times finer
    and reduced). Along an axis it is a box of ``length_px`` pixels, at a slant it has the same
    length, so its spectrum's zeros lie 1 / ``length_px`` apart whichever way it points (the
    cepstrum measures that spacing)."""
    size = (int(math.ceil(blur.length_px)) | 1) + 2
    fine = 16
    canvas = np.zeros((size * fine, size * fine), np.float32)
    centre = size * fine / 2.0
    t = (np.arange(64 * size) + 0.5) / (64 * size) - 0.5  # along the segment, -1/2 .. 1/2
    x = np.floor(centre + t * blur.length_px * blur.dx * fine).astype(int)
    y = np.floor(centre + t * blur.length_px * blur.dy * fine).astype(int)
    np.add.at(canvas, (y, x), 1.0)
    kernel = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA)
    return kernel / kernel.sum()


def remove_motion_blur(rgb: np.ndarray, blur: MotionBlur, noise_ratio: float = _NOISE_RATIO) -> np.ndarray:
    """``rgb`` (uint8 H x W x 3) with ``blur`` taken out by a Wiener filter.

    The image is mirrored at its edges first, so the filter's wrap-around does not ring
    along the border.
    """
    kernel = motion_kernel(blur)
    k = kernel.shape[0]
    pad = 2 * k
    h, w = rgb.shape[:2]
    # Sizes the FFT handles quickly (a large prime factor made it several times slower).
    ph, pw = cv2.getOptimalDFTSize(h + 2 * pad), cv2.getOptimalDFTSize(w + 2 * pad)
    padded = cv2.copyMakeBorder(rgb, pad, ph - h - pad, pad, pw - w - pad, cv2.BORDER_REFLECT)
    psf = np.zeros((ph, pw), np.float32)
    psf[:k, :k] = kernel
    psf = np.roll(psf, (-(k // 2), -(k // 2)), axis=(0, 1))
    otf = np.fft.rfft2(psf)
    gain = np.conj(otf) / (otf.real ** 2 + otf.imag ** 2 + np.float32(noise_ratio))
    out = np.empty_like(rgb)
    for ch in range(3):
        sharp = np.fft.irfft2(np.fft.rfft2(padded[:, :, ch].astype(np.float32)) * gain, s=(ph, pw))
        out[:, :, ch] = np.clip(np.rint(sharp[pad:pad + h, pad:pad + w]), 0, 255).astype(np.uint8)
    return out
