"""Synthetic data sets with ground truth: ``OUT/normal``, ``OUT/risky``, ``OUT/truth.jsonl``.

Sample ``i`` of seed ``s`` depends only on ``(s, i)``, so files are identical whatever the
number of worker processes, and the same seed gives the same bytes.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np

from ..layouts import LAYOUTS, SYNTH_LAYOUTS
from .paper import GRID_COLOURS, PaperStyle, Printout, default_header, render_printout
from .photo import PhotoParams, random_photo_params, rotation_at_centre, simulate_photo
from .sources import draw_recording
from .waveform import LEADS, WaveformParams, synthesize

_FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX,
          cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_PLAIN)


@dataclass
class SynthOptions:
    """What kinds of images to draw; None means drawn at random for each sample."""

    photo: bool = False
    layouts: Sequence[str] | None = None
    grids: Sequence[str] | None = None
    dpi_range: tuple[float, float] = (100.0, 300.0)
    frame_wh: tuple[int, int] = (1600, 1200)
    header: bool = True
    source: str = "sim"  # sim | ptbxl | mix | neurokit (see sources.py)
    ptbxl_path: str | None = None


@dataclass
class Sample:
    """One generated image with everything known about it."""

    image: np.ndarray  # RGB uint8 as a user's file holds it
    encoded: bytes
    ext: str
    trace_mask: np.ndarray  # in the image's own frame
    signals_mv: np.ndarray
    truth: dict[str, Any] = field(default_factory=dict)


def random_style(rng: np.random.Generator, options: SynthOptions, heart_rate: float) -> PaperStyle:
    layouts = list(options.layouts or SYNTH_LAYOUTS)
    grids = list(options.grids or GRID_COLOURS)
    for name in layouts:
        if name not in LAYOUTS:
            raise ValueError(f"unknown layout {name!r}; choose from {sorted(LAYOUTS)}")
    for name in grids:
        if name not in GRID_COLOURS:
            raise ValueError(f"unknown grid colour {name!r}; choose from {sorted(GRID_COLOURS)}")
    grid = str(rng.choice(grids))
    return PaperStyle(
        layout=str(rng.choice(layouts)),
        grid=grid,
        dpi=float(rng.uniform(*options.dpi_range)),
        line_width_mm=float(rng.uniform(0.2, 0.45)),
        trace_rgb=(0, 0, 0) if rng.random() < 0.5 else tuple(int(v) for v in rng.integers(10, 60, 3)),  # type: ignore[arg-type]
        paper_rgb=tuple(int(v) for v in rng.integers(240, 256, 3)),  # type: ignore[arg-type]
        header=options.header,
        dotted_minor=bool(rng.random() < 0.25),
        font=int(_FONTS[int(rng.integers(len(_FONTS)))]),
        margins_mm=(float(rng.uniform(6, 14)), float(rng.uniform(28, 40)),
                    float(rng.uniform(6, 14)), float(rng.uniform(12, 20))),
        header_text=default_header(rng, heart_rate),
    )


def make_sample(seed: int, index: int, risky: bool, options: SynthOptions) -> Sample:
    """Draw sample ``index`` of the data set with ``seed``."""
    rng = np.random.default_rng([seed, index])
    recording = draw_recording(options.source, rng, risky, options.ptbxl_path)
    signals = recording.signals_mv
    style = random_style(rng, options, recording.heart_rate)
    printout = render_printout(signals, recording.fs, style)
    truth: dict[str, Any] = {
        "label": recording.label,
        "source": recording.source,
        **printout.truth(),
        "page_size": [printout.rgb.shape[1], printout.rgb.shape[0]],
    }
    if not options.photo:
        truth.update({"rotation_deg": 0.0, "paper_corners": None, "photo": None})
        return Sample(printout.rgb, _png(printout.rgb), "png", printout.trace_mask, signals, truth)
    photo_params = random_photo_params(rng, options.frame_wh)
    return photograph(printout, signals, photo_params, truth)


def photograph(printout: Printout, signals: np.ndarray, params: PhotoParams,
               truth: dict[str, Any]) -> Sample:
    """A photo of ``printout``, with the truth updated to the frame's geometry."""
    photo = simulate_photo(printout.rgb, params)
    page_wh = (printout.rgb.shape[1], printout.rgb.shape[0])
    page_mask = printout.trace_mask
    if photo.page_maps is not None:
        page_mask = cv2.remap(page_mask, *photo.page_maps, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    mask = cv2.warpPerspective(page_mask, photo.homography, params.frame_wh, flags=cv2.INTER_LINEAR)
    truth = dict(truth)
    truth.update({
        "rotation_deg": rotation_at_centre(photo.homography, page_wh),
        "paper_corners": photo.corners.round(2).tolist(),
        "homography": photo.homography.tolist(),
        "photo": params.to_dict(),
    })
    return Sample(photo.rgb, photo.jpeg, "jpg", np.where(mask >= 128, 255, 0).astype(np.uint8), signals, truth)


def _png(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def _write_one(args: tuple[str, int, int, SynthOptions]) -> dict[str, Any]:
    out, seed, index, options = args
    out_dir = Path(out)
    risky = index % 2 == 1
    sample = make_sample(seed, index, risky, options)
    label = sample.truth["label"]
    stem = f"synth_{seed}_{index:05d}"
    image_rel = f"{label}/{stem}.{sample.ext}"
    mask_rel = f"masks/{stem}.png"
    wave_rel = f"waveforms/{stem}.npy"
    (out_dir / image_rel).write_bytes(sample.encoded)
    cv2.imwrite(str(out_dir / mask_rel), sample.trace_mask)
    np.save(out_dir / wave_rel, np.round(sample.signals_mv * 1000).astype(np.int16))
    record = {"index": index, "path": image_rel, "trace_mask": mask_rel,
              "waveform_uv": wave_rel, "leads": list(LEADS), "fs": 500, **sample.truth}
    return record


def generate_dataset(out_dir: str | Path, n: int, seed: int = 0, options: SynthOptions | None = None,
                     workers: int | None = None) -> list[dict[str, Any]]:
    """Write ``n`` images (half normal, half risky) with their truth; returns the records."""
    if n < 1:
        raise ValueError("n must be at least 1")
    options = options or SynthOptions()
    out = Path(out_dir)
    for sub in ("normal", "risky", "masks", "waveforms"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    jobs = [(str(out), seed, i, options) for i in range(n)]
    workers = workers or min(os.cpu_count() or 1, n)
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            records = list(pool.map(_write_one, jobs, chunksize=max(1, n // (4 * workers))))
    else:
        records = [_write_one(job) for job in jobs]
    with open(out / "truth.jsonl", "w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec) + "\n")
    return records


def example_printout(risky: bool, seed: int = 0, layout: str = "3x4+1", grid: str = "red",
                     dpi: float = 150.0, territory: str = "inferior",
                     st_elevation_mv: float = 0.3) -> tuple[Printout, np.ndarray, WaveformParams]:
    """A fixed, readable printout for tests and the app's sample gallery."""
    wave = WaveformParams(heart_rate=72.0, seed=seed)
    if risky:
        wave.territory = territory
        wave.st_elevation_mv = st_elevation_mv
        wave.q_waves = True
    signals = synthesize(wave)
    rng = np.random.default_rng(seed)
    style = PaperStyle(layout=layout, grid=grid, dpi=dpi, header_text=default_header(rng, wave.heart_rate))
    return render_printout(signals, wave.fs, style), signals, wave
