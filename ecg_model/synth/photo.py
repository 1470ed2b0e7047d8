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
    crease: float = 0.0  # 0..1: a fold line across the page (darker side, thin ridge)
    curl: float = 0.0  # 0..1: the page edge lifts and bends (share of the page height)
    moire: float = 0.0  # 0..1: interference of a photographed screen

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def random_photo_params(rng: np.random.Generator, frame_wh: tuple[int, int] = (1600, 1200)) -> PhotoParams:
    """Draw the kind of photo a student takes: mostly mild, sometimes harsh."""
    palette = [(110, 85, 60), (150, 120, 90), (60, 60, 65), (190, 190, 185), (40, 50, 70), (120, 130, 110)]
    params = PhotoParams(
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
    # Drawn after the others so the earlier fields of a given seed never change.
    if rng.random() < 0.15:
        params.tilt_x_deg = float(rng.uniform(-30, 30))
    params.crease = float(rng.uniform(0.3, 1.0)) if rng.random() < 0.15 else 0.0
    params.curl = float(rng.uniform(0.01, 0.04)) if rng.random() < 0.1 else 0.0
    params.moire = float(rng.uniform(0.2, 0.6)) if rng.random() < 0.05 else 0.0
    return params


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
        homography: page pixels -> frame pixels (of the flat page, after any curl).
        corners: 4x2 frame pixels of the page: top-left, top-right, bottom-right, bottom-left.
        page_maps: the curl's remap of the page (map_x, map_y), or None: apply it to anything
            drawn on the page (the trace mask) before ``homography``.
    """

    rgb: np.ndarray
    jpeg: bytes
    homography: np.ndarray
    corners: np.ndarray
    page_maps: tuple[np.ndarray, np.ndarray] | None = None


def curl_maps(page_wh: tuple[int, int], curl: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Remap for a page whose right third bends away from the camera.

    Seen from above, the bent part is foreshortened: it shrinks towards the page's middle
    line, more the further out it is. Returns (map_x, map_y, the four page corners after it).
    """
    pw, ph = page_wh
    x1 = 0.65 * pw
    xs = np.arange(pw, dtype=np.float32)
    k = curl * 8.0 * np.clip((xs - x1) / (pw - x1), 0, 1) ** 2  # relative vertical shrink
    cy = ph / 2.0
    ys = np.arange(ph, dtype=np.float32)[:, None]
    map_y = (cy + (ys - cy) * (1.0 + k[None, :])).astype(np.float32)
    map_x = np.broadcast_to(xs[None, :], (ph, pw)).astype(np.float32)
    kk = float(k[-1])
    corners = np.array([[0, 0], [pw, cy - cy / (1 + kk)], [pw, cy + (ph - cy) / (1 + kk)], [0, ph]], np.float64)
    return map_x, map_y, corners


def add_crease(page: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """A fold across the page: one side a little darker, a thin ridge of shadow and light."""
    ph, pw = page.shape[:2]
    vertical = rng.random() < 0.7
    ang = math.radians(rng.uniform(-4, 4)) + (0.0 if vertical else math.pi / 2)
    cx, cy = pw * rng.uniform(0.3, 0.7), ph * rng.uniform(0.3, 0.7)
    yy, xx = np.mgrid[0:ph, 0:pw].astype(np.float32)
    d = (xx - cx) * math.cos(ang) + (yy - cy) * math.sin(ang)
    width = max(1.5, 0.0025 * pw)
    shade = 1.0 - 0.06 * strength * (d > 0) - 0.18 * strength * np.exp(-0.5 * (d / width) ** 2) \
        + 0.08 * strength * np.exp(-0.5 * ((d + 2.5 * width) / width) ** 2)
    out = page.astype(np.float32) * shade[:, :, None]
    return np.clip(out, 0, 255).astype(np.uint8)


def simulate_photo(page_rgb: np.ndarray, params: PhotoParams) -> Photo:
    """Photograph a page with the effects in ``params``."""
    rng = np.random.default_rng(params.seed)
    ph, pw = page_rgb.shape[:2]
    fw, fh = params.frame_wh
    h = page_homography((pw, ph), params)
    page = page_rgb
    cover_page = np.full((ph, pw), 255, np.uint8)
    page_corners = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], np.float64)
    maps = None
    if params.crease > 0:
        page = add_crease(page, params.crease, np.random.default_rng(params.seed + 1))
    if params.curl > 0:
        map_x, map_y, page_corners = curl_maps((pw, ph), params.curl)
        maps = (map_x, map_y)
        page = cv2.remap(page, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
        cover_page = cv2.remap(cover_page, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    frame = _background(rng, params)
    # A page far larger than its image in the frame is first averaged down (a bilinear warp
    # alone would skip thin lines, which a camera's optics never do).
    h_warp = h
    shrink = 1.25 * fw / pw
    if shrink < 0.8:
        page = cv2.resize(page, (max(1, int(pw * shrink)), max(1, int(ph * shrink))), interpolation=cv2.INTER_AREA)
        cover_page = cv2.resize(cover_page, (page.shape[1], page.shape[0]), interpolation=cv2.INTER_AREA)
        h_warp = h @ np.diag([pw / page.shape[1], ph / page.shape[0], 1.0])
    warped = cv2.warpPerspective(page, h_warp, (fw, fh), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    cover = cv2.warpPerspective(cover_page, h_warp, (fw, fh), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    a = cover.astype(np.float32) * (1.0 / 255.0)
    frame = cv2.blendLinear(warped.astype(np.float32), frame, a, 1.0 - a)
    # All slow light changes (gradient, shadow, colour temperature) are one smooth field,
    # computed on a 1/8 grid and multiplied in once.
    sh, sw = max(2, fh // 8), max(2, fw // 8)
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    yy *= fh / sh
    xx *= fw / sw
    light = np.ones((sh, sw), np.float32)
    if params.shading > 0:
        ang = rng.uniform(0, 2 * np.pi)
        ramp = (np.cos(ang) * (xx / fw - 0.5) + np.sin(ang) * (yy / fh - 0.5))
        vignette = ((xx / fw - 0.5) ** 2 + (yy / fh - 0.5) ** 2)
        light *= np.clip(1.0 - params.shading * (0.7 * (ramp + 0.5) + 0.6 * vignette), 0.2, 1.2)
    if params.shadow > 0:
        # A soft-edged shadow of a hand or phone over one side of the frame.
        ang = rng.uniform(0, 2 * np.pi)
        d = np.cos(ang) * (xx - fw / 2) + np.sin(ang) * (yy - fh / 2)
        edge = rng.uniform(0.1, 0.35) * min(fw, fh)
        soft = 1.0 / (1.0 + np.exp(-(d - edge) / (0.04 * min(fw, fh))))
        light *= 1.0 - params.shadow * soft
    t = params.colour_temp
    light3 = cv2.merge([light * (1 + 0.12 * t), light, light * (1 - 0.15 * t)])
    frame = cv2.multiply(frame, cv2.resize(light3, (fw, fh), interpolation=cv2.INTER_LINEAR))
    if params.moire > 0:
        # A photographed screen: the screen's pixel grid beats against the sensor's into slow,
        # curving, coloured bands (drawn directly, at the beat frequency).
        f = rng.uniform(0.01, 0.035)
        ang = rng.uniform(0, np.pi)
        wobble, g = rng.uniform(5, 25), rng.uniform(0.002, 0.006)
        fy_, fx_ = np.mgrid[0:fh, 0:fw].astype(np.float32)
        u = np.cos(ang) * fx_ + np.sin(ang) * fy_
        v = -np.sin(ang) * fx_ + np.cos(ang) * fy_
        phase = (2 * np.pi * f * (u + wobble * np.sin(2 * np.pi * g * v))).astype(np.float32)
        pattern = cv2.merge([np.cos(phase + o).astype(np.float32) for o in (0.0, 0.9, 1.8)])
        frame = frame * (1.0 - 0.15 * params.moire * (1.0 + pattern))
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
        frame += rng.standard_normal(frame.shape, dtype=np.float32) * np.float32(params.noise_sigma)
    out = cv2.convertScaleAbs(frame)  # rounds and saturates to uint8
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(out, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, int(params.jpeg_quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    decoded = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    corners = cv2.perspectiveTransform(page_corners[None], h)[0]
    return Photo(rgb=decoded, jpeg=buf.tobytes(), homography=h, corners=corners, page_maps=maps)
