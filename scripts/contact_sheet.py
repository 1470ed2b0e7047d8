"""Write docs/synth_contact_sheet.jpg: a grid of synthetic printouts and photos.

    python scripts/contact_sheet.py [--ptbxl ../shared/data/ptbxl_subset/ptbxl_subset.npz]

Each tile is captioned with its label, waveform source, layout and grid (or photo effects).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from ecg_model.synth import SynthOptions, make_sample

OUT = Path(__file__).resolve().parent.parent / "docs" / "synth_contact_sheet.jpg"


def tile(image: np.ndarray, caption: str, width: int = 520) -> np.ndarray:
    h, w = image.shape[:2]
    small = cv2.resize(image, (width, int(h * width / w)), interpolation=cv2.INTER_AREA)
    canvas = np.full((small.shape[0] + 26, width, 3), 255, np.uint8)
    canvas[26:] = small
    cv2.putText(canvas, caption, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return canvas


def main() -> None:
    parser = argparse.ArgumentParser()
    default = Path(__file__).resolve().parents[2] / "shared" / "data" / "ptbxl_subset" / "ptbxl_subset.npz"
    parser.add_argument("--ptbxl", default=str(default) if default.is_file() else None)
    args = parser.parse_args()
    specs = [
        (False, SynthOptions(layouts=["3x4+1"], grids=["red"])),
        (True, SynthOptions(layouts=["3x4+1"], grids=["pink"])),
        (True, SynthOptions(layouts=["6x2"], grids=["green"])),
        (False, SynthOptions(layouts=["12x1"], grids=["bw"])),
        (True, SynthOptions(layouts=["3x4+1"], grids=["orange"], photo=True)),
        (False, SynthOptions(layouts=["6x2"], grids=["grey"], photo=True)),
    ]
    if args.ptbxl:
        specs += [
            (False, SynthOptions(layouts=["3x4+1"], grids=["red"], source="ptbxl", ptbxl_path=args.ptbxl)),
            (True, SynthOptions(layouts=["3x4+1"], grids=["pink"], source="ptbxl", ptbxl_path=args.ptbxl)),
            (True, SynthOptions(layouts=["6x2"], grids=["orange"], source="ptbxl", ptbxl_path=args.ptbxl)),
            (True, SynthOptions(layouts=["3x4+1"], grids=["red"], source="ptbxl", ptbxl_path=args.ptbxl, photo=True)),
            (False, SynthOptions(layouts=["12x1"], grids=["grey"], source="ptbxl", ptbxl_path=args.ptbxl, photo=True)),
            (True, SynthOptions(layouts=["3x4+1"], grids=["green"], source="ptbxl", ptbxl_path=args.ptbxl, photo=True)),
        ]
    tiles = []
    for i, (risky, options) in enumerate(specs):
        s = make_sample(2026, 2 * i + int(risky), risky, options)
        src = s.truth["source"]
        what = src["kind"] if src["kind"] != "ptbxl" else f"PTB-XL {src['ecg_id']}"
        inj = src.get("injected") or (src.get("params") if src["kind"] == "simulation" else None) or {}
        terr = inj.get("territory")
        st = inj.get("st_mv", inj.get("st_elevation_mv"))
        detail = f" {terr} STE {st:.2f} mV" if terr else (" real MI" if src.get("mi_statement") else "")
        kind = "photo" if s.truth.get("photo") else f"{s.truth['layout']} {s.truth['grid']}"
        tiles.append(tile(s.image, f"{s.truth['label']}: {what}{detail} | {kind}"))
    cols = 3
    h = max(t.shape[0] for t in tiles)
    rows = []
    for r in range(0, len(tiles), cols):
        row = [np.pad(t, ((0, h - t.shape[0]), (0, 0), (0, 0)), constant_values=255) for t in tiles[r:r + cols]]
        while len(row) < cols:
            row.append(np.full_like(row[0], 255))
        rows.append(np.hstack(row))
    sheet = np.vstack(rows)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(OUT), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 82])
    print(f"wrote {OUT} ({sheet.shape[1]}x{sheet.shape[0]})")


if __name__ == "__main__":
    main()
