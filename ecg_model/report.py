"""A one-page PNG report: the image, the risk gauge, the saliency overlay, per-lead bars,
and the not-a-medical-device line. Drawn with Pillow alone (no browser, no plotting stack)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .layouts import LEADS
from .predict import NOT_A_DEVICE

PAGE_W, PAGE_H = 1600, 1240
MARGIN = 50


@dataclass
class ReportData:
    name: str
    image: np.ndarray  # RGB uint8: the original upload
    overlay: np.ndarray  # RGB uint8: saliency on the cleaned page
    risk: float
    threshold: float
    label: str
    band: tuple[float, float] | None = None
    lead_shares: dict[str, float] = field(default_factory=dict)
    method: str = "gradcam"
    weights: str = ""


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: fixed-size bitmap font
        return ImageFont.load_default()


def _paste_fit(page: Image.Image, rgb: np.ndarray, box: tuple[int, int, int, int]) -> None:
    x0, y0, x1, y1 = box
    im = Image.fromarray(rgb)
    im.thumbnail((x1 - x0, y1 - y0), Image.Resampling.LANCZOS)
    page.paste(im, (x0 + (x1 - x0 - im.width) // 2, y0 + (y1 - y0 - im.height) // 2))


def _gauge(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], d: ReportData) -> None:
    """A horizontal gauge: green below the threshold, red above, the risk as a black marker."""
    x0, y0, x1, y1 = box
    w = x1 - x0
    tx = x0 + int(w * d.threshold)
    draw.rectangle((x0, y0, tx, y1), fill=(200, 235, 200))
    draw.rectangle((tx, y0, x1, y1), fill=(245, 200, 200))
    if d.band:
        draw.rectangle((x0 + int(w * d.band[0]), y0 + 8, x0 + int(w * d.band[1]), y1 - 8), fill=(120, 120, 120))
    rx = x0 + int(w * d.risk)
    draw.rectangle((rx - 4, y0 - 10, rx + 4, y1 + 10), fill=(0, 0, 0))
    draw.line((tx, y0 - 16, tx, y1 + 16), fill=(180, 0, 0), width=3)
    small = _font(20)
    for v in (0.0, 0.25, 0.5, 0.75, 1.0):
        x = x0 + int(w * v)
        draw.text((x, y1 + 14), f"{v:.0%}", fill=(60, 60, 60), font=small, anchor="ma")
    draw.text((tx, y0 - 20), f"threshold {d.threshold:.0%}", fill=(180, 0, 0), font=small, anchor="md")


def _lead_bars(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], shares: dict[str, float]) -> None:
    x0, y0, x1, y1 = box
    small = _font(20)
    leads = [lead for lead in LEADS if lead in shares]
    if not leads:
        draw.text((x0, y0), "no lead boxes found on this page", fill=(90, 90, 90), font=small)
        return
    top = max(shares.values()) or 1.0
    slot = (x1 - x0) / len(leads)
    base = y1 - 30
    for i, lead in enumerate(leads):
        h = int((base - y0) * shares[lead] / top)
        bx = x0 + int(i * slot)
        draw.rectangle((bx + 6, base - h, bx + int(slot) - 6, base), fill=(214, 96, 77))
        draw.text((bx + slot / 2, base + 6), lead, fill=(30, 30, 30), font=small, anchor="ma")
        draw.text((bx + slot / 2, base - h - 4), f"{shares[lead]:.0%}", fill=(60, 60, 60), font=small, anchor="md")


def render_report(d: ReportData) -> bytes:
    """The report as PNG bytes."""
    page = Image.new("RGB", (PAGE_W, PAGE_H), (255, 255, 255))
    draw = ImageDraw.Draw(page)
    big, mid, small = _font(40), _font(26), _font(20)
    draw.text((MARGIN, 30), "ECG image: estimated heart-attack risk", fill=(0, 0, 0), font=big)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    draw.text((MARGIN, 84), f"{d.name}  -  {stamp}  -  weights {d.weights}", fill=(70, 70, 70), font=small)
    # The disclaimer sits at the top, in red, where nobody can miss it.
    draw.rectangle((MARGIN, 116, PAGE_W - MARGIN, 160), fill=(255, 236, 236))
    draw.text((MARGIN + 12, 138), NOT_A_DEVICE, fill=(170, 0, 0), font=small, anchor="lm")
    half = (PAGE_W - 3 * MARGIN) // 2
    _paste_fit(page, d.image, (MARGIN, 180, MARGIN + half, 640))
    _paste_fit(page, d.overlay, (2 * MARGIN + half, 180, PAGE_W - MARGIN, 640))
    draw.text((MARGIN, 650), "the image as uploaded", fill=(70, 70, 70), font=small)
    draw.text((2 * MARGIN + half, 650), f"where the model looked ({d.method}, cleaned page)", fill=(70, 70, 70),
              font=small)
    band = f" (band {d.band[0]:.0%}-{d.band[1]:.0%})" if d.band else ""
    draw.text((MARGIN, 700), f"Risk {d.risk:.0%}{band}: {d.label}", fill=(0, 0, 0), font=mid)
    _gauge(draw, (MARGIN, 770, PAGE_W - MARGIN, 810), d)
    draw.text((MARGIN, 880), "Share of the saliency in each lead", fill=(0, 0, 0), font=mid)
    _lead_bars(draw, (MARGIN, 930, PAGE_W - MARGIN, 1160), d.lead_shares)
    draw.text((MARGIN, PAGE_H - 40), "Teaching and research tool. The probability is calibrated on held-out "
              "printouts of one dataset; other printers and populations may differ.", fill=(90, 90, 90), font=small)
    buf = io.BytesIO()
    page.save(buf, format="PNG", optimize=True)
    return buf.getvalue()
