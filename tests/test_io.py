"""Safe loading: every format decodes to RGB uint8; every broken file gives ECGImageError."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from ecg_model.errors import ECGImageError
from ecg_model.io import load_image


def _save(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


@pytest.fixture(scope="module")
def page(risky_printout) -> Image.Image:
    return Image.fromarray(risky_printout[0].rgb[::2, ::2].copy())


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "TIFF", "WEBP"])
def test_formats_decode_to_rgb(page, fmt):
    loaded = load_image(_save(page, fmt))
    assert loaded.rgb.dtype == np.uint8 and loaded.rgb.ndim == 3 and loaded.rgb.shape[2] == 3
    assert loaded.rgb.shape[:2] == (page.height, page.width)
    # Lossy formats stay close to the original.
    assert np.abs(loaded.rgb.astype(int) - np.asarray(page).astype(int)).mean() < 6


def test_zero_byte_file(tmp_path):
    p = tmp_path / "empty.png"
    p.write_bytes(b"")
    with pytest.raises(ECGImageError, match="empty"):
        load_image(p)


def test_text_renamed_png(tmp_path):
    p = tmp_path / "notes.png"
    p.write_text("this is not an image\n" * 20)
    with pytest.raises(ECGImageError, match="not an image"):
        load_image(p)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_file(page, fmt):
    data = _save(page, fmt)
    with pytest.raises(ECGImageError) as err:
        load_image(data[: len(data) // 2])
    assert err.value.kind == "error"
    assert "truncated" in str(err.value) or "damaged" in str(err.value)


def test_wrong_extension_still_decodes(tmp_path, page):
    p = tmp_path / "scan.png"
    p.write_bytes(_save(page, "JPEG"))
    assert load_image(p).format == "JPEG"


def test_one_pixel_image_is_rejected_not_crashed():
    with pytest.raises(ECGImageError) as err:
        load_image(_save(Image.new("RGB", (1, 1)), "PNG"))
    assert err.value.kind == "rejected"
    assert "1 x 1" in str(err.value)


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width x height but carries almost no data: a decompression bomb's header."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def test_decompression_bomb_refused_before_decoding():
    data = _png_header_only(40000, 40000)
    assert len(data) < 200
    with pytest.raises(ECGImageError, match="megapixel limit"):
        load_image(data)


def test_16_bit_png(page):
    gray16 = (np.asarray(page.convert("L")).astype(np.uint16) * 257)
    im = Image.fromarray(gray16)
    assert im.mode.startswith("I;16")
    loaded = load_image(_save(im, "PNG"))
    expected = np.asarray(page.convert("L"))
    assert np.abs(loaded.rgb[:, :, 0].astype(int) - expected.astype(int)).max() <= 1


def test_cmyk_jpeg(page):
    loaded = load_image(_save(page.convert("CMYK"), "JPEG", quality=95))
    assert loaded.rgb.shape[2] == 3
    assert np.abs(loaded.rgb.astype(int) - np.asarray(page).astype(int)).mean() < 10


def test_palette_png(page):
    loaded = load_image(_save(page.convert("P", palette=Image.Palette.ADAPTIVE), "PNG"))
    assert loaded.rgb.shape == (page.height, page.width, 3)


def test_transparency_composited_on_white():
    rgba = np.zeros((300, 400, 4), np.uint8)
    rgba[:, :200] = (0, 0, 0, 255)  # opaque black on the left, fully transparent on the right
    loaded = load_image(_save(Image.fromarray(rgba), "PNG"))
    assert loaded.rgb[:, :200].max() == 0
    assert loaded.rgb[:, 200:].min() == 255
    assert any("white" in n for n in loaded.notes)


def test_animated_gif_first_frame():
    frames = [Image.new("RGB", (300, 220), c) for c in ((250, 250, 250), (10, 10, 10))]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    loaded = load_image(buf.getvalue())
    assert loaded.rgb.mean() > 200
    assert any("2 frames" in n for n in loaded.notes)


def test_multipage_tiff_first_page():
    pages = [Image.new("RGB", (320, 240), c) for c in ((240, 240, 240), (0, 0, 0), (0, 0, 0))]
    buf = io.BytesIO()
    pages[0].save(buf, format="TIFF", save_all=True, append_images=pages[1:])
    loaded = load_image(buf.getvalue())
    assert loaded.rgb.mean() > 200


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_applied(orientation):
    # An asymmetric image: a dark block in the top-left corner of the upright picture.
    upright = np.full((240, 320, 3), 255, np.uint8)
    upright[:60, :80] = 0
    ops = {1: lambda a: a, 2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
           5: lambda a: np.transpose(a, (1, 0, 2)), 6: lambda a: np.rot90(a, 1),
           7: lambda a: np.transpose(a[::-1, ::-1], (1, 0, 2)), 8: lambda a: np.rot90(a, -1)}
    # The stored pixels are the upright image transformed so that applying the tag restores it.
    stored = np.ascontiguousarray(ops[orientation](upright))
    im = Image.fromarray(stored)
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = _save(im, "JPEG", exif=exif.tobytes(), quality=95)
    loaded = load_image(data)
    assert loaded.rgb.shape[:2] == (240, 320)
    assert loaded.rgb[:60, :80].mean() < 40 and loaded.rgb[-60:, -80:].mean() > 215


def test_large_jpeg_draft_decoding_reports_scale():
    big = Image.new("RGB", (6000, 4000), (255, 255, 255))
    loaded = load_image(_save(big, "JPEG", quality=80))
    assert loaded.scale in (2.0, 4.0)
    assert loaded.original_size == (6000, 4000)
    assert max(loaded.rgb.shape[:2]) >= 1500


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ECGImageError, match="not found"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(ECGImageError, match="folder"):
        load_image(tmp_path)


EXIF_OPS = {1: lambda a: a, 2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
            5: lambda a: np.transpose(a, (1, 0, 2)), 6: lambda a: np.rot90(a, 1),
            7: lambda a: np.transpose(a[::-1, ::-1], (1, 0, 2)), 8: lambda a: np.rot90(a, -1)}


def test_every_exif_orientation_gives_the_upright_risk(risky_printout):
    """A phone stores pixels sideways and says so in EXIF: the risk must not depend on it."""
    from ecg_model.predict import Predictor
    from ecg_model.weights import DEFAULT_WEIGHTS

    if not DEFAULT_WEIGHTS.exists():
        pytest.skip("no default weights")
    predictor = Predictor()
    upright = risky_printout[0].rgb
    risks = {}
    for orientation, op in EXIF_OPS.items():
        exif = Image.Exif()
        exif[0x0112] = orientation
        data = _save(Image.fromarray(np.ascontiguousarray(op(upright))), "JPEG", exif=exif.tobytes(), quality=92)
        a = predictor.analyse(data, keep_stages=False)
        assert a.status == "ok", (orientation, a.message)
        risks[orientation] = a.risk
    assert max(abs(r - risks[1]) for r in risks.values()) <= 0.02, risks
