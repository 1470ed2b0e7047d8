"""Safe image loading: any common file -> RGB uint8, with limits checked before decoding."""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ECGImageError

ImageSource = Union[str, Path, bytes, BinaryIO]

MAX_BYTES = 60 * 1024 * 1024
# A 108-megapixel phone sensor is the largest honest input; a 40000x40000 PNG bomb is 1600 MP.
MAX_PIXELS = 110_000_000
MIN_SIDE = 200
# JPEGs at least twice this long are decoded at 1/2, 1/4 or 1/8 scale inside the decoder,
# keeping at least this many pixels on the long side: the page is processed 1600 px wide, and
# full-size decoding of a 12-megapixel photo costs more than the whole pipeline.
DRAFT_LONG_SIDE = 1800

SUPPORTED = "PNG, JPEG, BMP, TIFF, WebP or GIF"


@dataclass(frozen=True)
class LoadedImage:
    """A decoded image and how it relates to the file.

    Attributes:
        rgb: H x W x 3 uint8, upright (EXIF orientation applied).
        original_size: (width, height) of the upright image as stored in the file.
        scale: file pixels per array pixel (> 1 when the decoder reduced the size).
        format: the decoder's name for the file format.
        notes: what was done to the image that a user may want to know.
    """

    rgb: np.ndarray
    original_size: tuple[int, int]
    scale: float
    format: str
    notes: tuple[str, ...] = ()


def from_array(rgb: np.ndarray, name: str = "array") -> LoadedImage:
    """An in-memory uint8 RGB image (generated or edited pages) as a ``LoadedImage``."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an H x W x 3 uint8 array, got {rgb.shape} {rgb.dtype}")
    return LoadedImage(np.ascontiguousarray(rgb), (rgb.shape[1], rgb.shape[0]), 1.0, name)


def _read_bytes(source: ImageSource, max_bytes: int) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise ECGImageError(f"file not found: {path}")
        if path.is_dir():
            raise ECGImageError(f"{path} is a folder, not an image file")
        size = path.stat().st_size
        if size > max_bytes:
            raise ECGImageError(
                f"file is {size / 1e6:.1f} MB, more than the {max_bytes / 1e6:.0f} MB limit"
            )
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ECGImageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    else:
        data = source.read(max_bytes + 1)
    if len(data) == 0:
        raise ECGImageError("the file is empty (0 bytes)")
    if len(data) > max_bytes:
        raise ECGImageError(f"file is larger than the {max_bytes / 1e6:.0f} MB limit")
    return data


def _to_rgb(im: Image.Image) -> tuple[np.ndarray, list[str]]:
    """Any PIL mode -> RGB uint8; transparency is composited on white paper."""
    notes: list[str] = []
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        hi = float(arr.max()) if arr.size else 0.0
        lo = float(arr.min()) if arr.size else 0.0
        if mode == "F" or lo < 0:
            arr = (arr - lo) / max(hi - lo, 1e-9) * 255.0
        elif hi > 255:
            # 16-bit data: keep the full-range meaning (65535 is white).
            arr = arr / (65535.0 if hi > 4095 else 4095.0) * 255.0
        gray = np.clip(arr + 0.5, 0, 255).astype(np.uint8)
        notes.append(f"converted {mode} samples to 8 bits")
        return np.repeat(gray[:, :, None], 3, axis=2), notes
    if mode in ("P", "PA") or (mode in ("RGB", "L") and "transparency" in im.info):
        im = im.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A"), dtype=np.float32)[:, :, None] / 255.0
        rgb = np.asarray(rgba.convert("RGB"), dtype=np.float32)
        if float(alpha.min()) < 1.0:
            notes.append("transparent areas shown on white")
        out = rgb * alpha + 255.0 * (1.0 - alpha)
        return np.clip(out + 0.5, 0, 255).astype(np.uint8), notes
    if mode == "CMYK":
        notes.append("converted CMYK to RGB")
    if mode != "RGB":
        im = im.convert("RGB")
    return np.ascontiguousarray(np.asarray(im, dtype=np.uint8)), notes


def load_image(
    source: ImageSource,
    max_pixels: int = MAX_PIXELS,
    max_bytes: int = MAX_BYTES,
    draft_long_side: int | None = DRAFT_LONG_SIDE,
) -> LoadedImage:
    """Decode an image file safely.

    The pixel count is read from the header and checked before any pixel is decoded, so a
    decompression bomb is refused cheaply. Animated and multi-page files give their first frame.

    Args:
        source: a path, the file's bytes, or a binary file object.
        max_pixels: refuse images with more pixels than this.
        max_bytes: refuse files larger than this.
        draft_long_side: let the JPEG decoder reduce the image while its long side stays at
            least this many pixels; None decodes at full size.

    Raises:
        ECGImageError: with a message a person understands; ``kind`` is "error" when the
            file cannot be decoded and "rejected" when it decodes but is far too small.
    """
    data = _read_bytes(source, max_bytes)
    with warnings.catch_warnings():
        # Our own limit is checked below; PIL's bomb warning would only be noise.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            im = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            raise ECGImageError(f"not an image file, or not a format this app reads ({SUPPORTED})")
        except Image.DecompressionBombError as exc:
            raise ECGImageError(_bomb_message(max_pixels)) from exc
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            raise ECGImageError(f"the image file is damaged: {exc}") from exc
        try:
            return _decode(im, max_pixels, draft_long_side, data)
        except ECGImageError:
            raise
        except Image.DecompressionBombError as exc:
            raise ECGImageError(_bomb_message(max_pixels)) from exc
        except (OSError, ValueError, SyntaxError, EOFError, IndexError, KeyError,
                TypeError, ZeroDivisionError, MemoryError, struct.error) as exc:
            # PIL signals damaged data with a range of exception types; all mean the same here.
            msg = str(exc) or type(exc).__name__
            if "truncated" in msg:
                raise ECGImageError("the image file is truncated (incomplete upload or copy?)") from exc
            raise ECGImageError(f"the image file is damaged and cannot be decoded: {msg}") from exc
        finally:
            im.close()


def _bomb_message(max_pixels: int) -> str:
    return (f"the image claims far more than the {max_pixels / 1e6:.0f} megapixel limit "
            "(a decompression bomb?); refused before decoding")


# EXIF orientation -> the numpy operation that makes the stored pixels upright (as PIL's
# exif_transpose does: 6 is a quarter turn clockwise, 8 counter-clockwise).
_ORIENT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: np.transpose(a, (1, 0, 2)),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.transpose(a[::-1, ::-1], (1, 0, 2)),
    8: lambda a: np.rot90(a, 1),
}


def _orientation(im: Image.Image) -> int:
    try:
        value = im.getexif().get(0x0112, 1)
        return int(value) if int(value) in range(1, 9) else 1
    except (ValueError, TypeError, OSError, SyntaxError, struct.error):
        return 1  # damaged EXIF: the pixels are still fine


def _fast_jpeg(data: bytes, width: int, height: int, draft_long_side: int | None) -> tuple[np.ndarray, float] | None:
    """Decode an RGB or grey JPEG with OpenCV's libjpeg-turbo at 1/2, 1/4 or 1/8 scale.

    Two to four times quicker than PIL for phone photos: the reduction happens inside the
    DCT, and the array comes out without a copy through bytes. EXIF is ignored here and
    applied by the caller.
    """
    import cv2

    factor = 1
    if draft_long_side:
        for k in (8, 4, 2):
            if max(width, height) / k >= draft_long_side and max(width, height) > 2 * draft_long_side:
                factor = k
                break
    flags = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
             8: cv2.IMREAD_REDUCED_COLOR_8}[factor] | cv2.IMREAD_IGNORE_ORIENTATION
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if bgr is None or bgr.ndim != 3:
        return None
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), width / bgr.shape[1]


def _decode(im: Image.Image, max_pixels: int, draft_long_side: int | None, data: bytes = b"") -> LoadedImage:
    fmt = im.format or "unknown"
    width, height = im.size
    if width <= 0 or height <= 0:
        raise ECGImageError("the image has no pixels")
    if width * height > max_pixels:
        raise ECGImageError(
            f"image is {width} x {height} pixels ({width * height / 1e6:.0f} megapixels), "
            f"more than the {max_pixels / 1e6:.0f} megapixel limit; refused before decoding"
        )
    notes: list[str] = []
    n_frames = getattr(im, "n_frames", 1)
    if n_frames > 1:
        im.seek(0)
        notes.append(f"first of {n_frames} frames used")
    scale = 1.0
    orientation = _orientation(im)
    if fmt == "JPEG" and im.mode in ("RGB", "L") and data:
        fast = _fast_jpeg(data, width, height, draft_long_side)
        if fast is not None:
            rgb, scale = fast
            if orientation != 1:
                rgb = np.ascontiguousarray(_ORIENT[orientation](rgb))
                notes.append(f"EXIF orientation {orientation} applied")
            return _finish(rgb, scale, fmt, notes)
    if fmt == "JPEG" and draft_long_side and max(width, height) > 2 * draft_long_side:
        factor = max(width, height) / draft_long_side
        im.draft("RGB", (int(width / factor), int(height / factor)))
        scale = width / im.size[0]
    im.load()
    upright = im
    if orientation != 1:
        upright = ImageOps.exif_transpose(im) or im
        notes.append(f"EXIF orientation {orientation} applied")
    rgb, mode_notes = _to_rgb(upright)
    notes.extend(mode_notes)
    return _finish(rgb, scale, fmt, notes)


def _finish(rgb: np.ndarray, scale: float, fmt: str, notes: list[str]) -> LoadedImage:
    h, w = rgb.shape[:2]
    # The original size in the upright frame: the decoder may have reduced it by `scale`.
    original = (int(round(w * scale)), int(round(h * scale)))
    if min(original) < MIN_SIDE:
        raise ECGImageError(
            f"image is only {original[0]} x {original[1]} pixels; an ECG printout needs at "
            f"least {MIN_SIDE} pixels on its short side to be read",
            kind="rejected",
        )
    return LoadedImage(rgb=rgb, original_size=original, scale=scale, format=fmt, notes=tuple(notes))
