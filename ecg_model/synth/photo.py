"""Turn a flat printout into a phone photo: page on a table, perspective, light, blur, JPEG.

Each effect is a separate parameter so a test or a benchmark can switch it on alone.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np


@dataclass
class PhotoParams:
    """Parameters of one simulated photo (all recorded in the ground truth)."""

    frame_wh: tuple[int, int] = (1600, 1200)
    rotation_deg: float = 0.0  # in-plane turn of the page, positive counter-clockwise
    tilt_x_deg: float = 0.0  # camera tilt about the page's horizontal axis
    tilt_y_deg: float = 0.0  # and about its vertical axis
    page_fill: float = 0.8  # page diagonal / frame diagonal, before tilt
    offset_xy: tuple[float, float] = (0.0, 0.0)  # page centre offset, fraction of the frame
    background_rgb: tuple[int, int, int] = (110, 85, 60)
    background_texture: float = 12.0
    shading: float = 0.0  # 0..1: strength of a smooth light gradient
    shadow: float = 0.0  # 0..1: darkness of a soft shadow across part of the page
    colour_temp: float = 0.0  # -1 (blue) .. +1 (warm)
    blur_sigma_px: float = 0.0
    motion_blur_px: float = 0.0
    noise_sigma: float = 0.0
    jpeg_quality: int = 90
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def random_photo_params(rng: np.random.Generator, frame_wh: tuple[int, int] = (1600, 1200)) -> PhotoParams:
    """Draw the kind of photo a student takes: mostly mild, sometimes harsh."""
    palette = [(110, 85, 60), (150, 120, 90), (60, 60, 65), (190, 190, 185), (40, 50, 70), (120, 130, 110)]
    return PhotoParams(
        frame_wh=frame_wh,
        rotation_deg=float(rng.normal(0, 8) if rng.random() < 0.8 else rng.uniform(-45, 45)),
        tilt_x_deg=float(rng.uniform(-20, 20)),
        tilt_y_deg=float(rng.uniform(-15, 15)),
        page_fill=float(rng.uniform(0.7, 0.92)),
        offset_xy=(float(rng.uniform(-0.04, 0.04)), float(rng.uniform(-0.04, 0.04))),
        background_rgb=tuple(int(c) for c in palette[int(rng.integers(len(palette)))]),  # type: ignore[arg-type]
        background_texture=float(rng.uniform(3, 20)),
        shading=float(rng.uniform(0, 0.45)),
        shadow=float(rng.choice([0.0, rng.uniform(0.1, 0.4)])),
        colour_temp=float(rng.uniform(-0.6, 0.6)),
        blur_sigma_px=float(rng.uniform(0, 1.2)),
        motion_blur_px=float(rng.choice([0.0, 0.0, rng.uniform(1, 4)])),
        noise_sigma=float(rng.uniform(1, 6)),
        jpeg_quality=int(rng.integers(40, 96)),
        seed=int(rng.integers(0, 2**31 - 1)),
    )


def _rotation(ax: float, ay: float, az: float) -> np.ndarray:
    cx, sx = math.cos(ax), math.sin(ax)
    cy, sy = math.cos(ay), math.sin(ay)
    cz, sz = math.cos(az), math.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def page_homography(page_wh: tuple[int, int], params: PhotoParams) -> np.ndarray:
    """Homography from page pixels to frame pixels, from a pinhole camera over a tilted page."""
    pw, ph = page_wh
    fw, fh = params.frame_wh
    half = np.array([[-pw / 2, -ph / 2], [pw / 2, -ph / 2], [pw / 2, ph / 2], [-pw / 2, ph / 2]])
    # Image y points down, so a counter-clockwise turn on screen is a negative angle here.
    rot = _rotation(math.radians(params.tilt_x_deg), math.radians(params.tilt_y_deg),
                    math.radians(-params.rotation_deg))
    pts3 = np.c_[half, np.zeros(4)] @ rot.T
    focal = 1.2 * max(pw, ph)
    depth = 1.2 * max(pw, ph)  # distance giving a phone-like field of view
    proj = focal * pts3[:, :2] / (depth + pts3[:, 2:3])
    # Scale the projected page to the requested share of the frame, then place it.
    diag_frame = math.hypot(fw, fh)
    diag_page = math.hypot(pw, ph) * focal / depth
    proj *= params.page_fill * diag_frame / diag_page
    # Keep the whole page inside the frame (with a 2 % margin): a cut-off page is a separate,
    # deliberate case, not something a random draw should produce.
    centre = np.array([fw / 2 + params.offset_xy[0] * fw, fh / 2 + params.offset_xy[1] * fh])
    half_extent = np.abs(proj).max(axis=0)
    room = np.minimum(centre, np.array([fw, fh]) - centre) * 0.98
    proj *= min(1.0, float(np.min(room / half_extent)))
    proj += centre
    src = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], np.float32)
    return cv2.getPerspectiveTransform(src, proj.astype(np.float32))


def rotation_at_centre(h: np.ndarray, page_wh: tuple[int, int]) -> float:
    """Angle of the page's horizontal axis at its centre in the frame (DESIGN.md convention).

    Positive when the page looks turned counter-clockwise.
    """
    cx, cy = page_wh[0] / 2, page_wh[1] / 2
    eps = 1.0
    pts = cv2.perspectiveTransform(np.array([[[cx - eps, cy], [cx + eps, cy]]], np.float64), h)[0]
    dx, dy = pts[1] - pts[0]
    return float(math.degrees(math.atan2(-dy, dx)))


def _background(rng: np.random.Generator, params: PhotoParams) -> np.ndarray:
    fw, fh = params.frame_wh
    small = rng.normal(0, 1, (fh // 16 + 2, fw // 16 + 2, 1)).astype(np.float32)
    grain = cv2.resize(small, (fw, fh), interpolation=cv2.INTER_CUBIC)
    streaks = cv2.resize(rng.normal(0, 1, (fh // 2, 8)).astype(np.float32), (fw, fh), interpolation=cv2.INTER_LINEAR)
    tex = params.background_texture * (0.6 * grain + 0.4 * streaks)[:, :, None]
    return np.asarray(params.background_rgb, np.float32)[None, None, :] + tex


@dataclass
class Photo:
    """A simulated photo.

    Attributes:
        rgb: the frame as decoded from ``jpeg`` (what a user's file holds).
        jpeg: the encoded file.
        homography: page pixels -> frame pixels.
        corners: 4x2 frame pixels of the page: top-left, top-right, bottom-right, bottom-left.
    """

    rgb: np.ndarray
    jpeg: bytes
    homography: np.ndarray
    corners: np.ndarray


def simulate_photo(page_rgb: np.ndarray, params: PhotoParams) -> Photo:
    """Photograph a page with the effects in ``params``."""
    rng = np.random.default_rng(params.seed)
    ph, pw = page_rgb.shape[:2]
    fw, fh = params.frame_wh
    h = page_homography((pw, ph), params)
    frame = _background(rng, params)
    warped = cv2.warpPerspective(page_rgb, h, (fw, fh), flags=cv2.INTER_AREA if params.page_fill < 0.6 else cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    cover = cv2.warpPerspective(np.full((ph, pw), 255, np.uint8), h, (fw, fh), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    a = cover.astype(np.float32)[:, :, None] / 255.0
    frame = frame * (1 - a) + warped.astype(np.float32) * a
    yy, xx = np.mgrid[0:fh, 0:fw].astype(np.float32)
    if params.shading > 0:
        ang = rng.uniform(0, 2 * np.pi)
        ramp = (np.cos(ang) * (xx / fw - 0.5) + np.sin(ang) * (yy / fh - 0.5))
        vignette = ((xx / fw - 0.5) ** 2 + (yy / fh - 0.5) ** 2)
        light = 1.0 - params.shading * (0.7 * (ramp + 0.5) + 0.6 * vignette)
        frame *= np.clip(light, 0.2, 1.2)[:, :, None]
    if params.shadow > 0:
        # A soft-edged shadow of a hand or phone over one side of the frame.
        ang = rng.uniform(0, 2 * np.pi)
        d = np.cos(ang) * (xx - fw / 2) + np.sin(ang) * (yy - fh / 2)
        edge = rng.uniform(0.1, 0.35) * min(fw, fh)
        soft = 1.0 / (1.0 + np.exp(-(d - edge) / (0.04 * min(fw, fh))))
        frame *= (1.0 - params.shadow * soft)[:, :, None]
    if params.colour_temp != 0:
        t = params.colour_temp
        frame *= np.array([1 + 0.12 * t, 1.0, 1 - 0.15 * t], np.float32)[None, None, :]
    if params.blur_sigma_px > 0:
        frame = cv2.GaussianBlur(frame, (0, 0), params.blur_sigma_px)
    if params.motion_blur_px >= 1:
        k = int(round(params.motion_blur_px)) * 2 + 1
        kernel = np.zeros((k, k), np.float32)
        kernel[k // 2, :] = 1.0 / k
        rot = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), float(rng.uniform(0, 180)), 1.0)
        kernel = cv2.warpAffine(kernel, rot, (k, k))
        frame = cv2.filter2D(frame, -1, kernel / max(kernel.sum(), 1e-6))
    if params.noise_sigma > 0:
        frame += rng.normal(0, params.noise_sigma, frame.shape).astype(np.float32)
    out = np.clip(frame + 0.5, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(out, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, int(params.jpeg_quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    decoded = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    corners = cv2.perspectiveTransform(
        np.array([[[0, 0], [pw, 0], [pw, ph], [0, ph]]], np.float64), h)[0]
    return Photo(rgb=decoded, jpeg=buf.tobytes(), homography=h, corners=corners)
