"""Pages turned 90, 180 and 270 degrees with no EXIF tag: are they stood upright?

Each page is scored upright and turned (``np.rot90``, the content turned counter-clockwise) by
``Predictor.analyse``; a turned page counts as read right when its label is the upright page's
(and, for scans, when ``turned_deg`` is the turn that undoes it). Upright pages must never be
turned. ``--off`` runs the same with the orientation check switched off (the "before").

    PYTHONPATH=. python benchmarks/bench_orientation.py --real ../shared/data/mendeley_ecg_images \
        --turned 60 --n 30 --seed 503 [--off] [--json OUT]

Synthetic pages: flat renders of seed SEED and phone photos of seed SEED + 1 (503/504 were held out
when the rules were set on 501/502), from PTB-XL records when the subset is there (Wagner et al.,
PhysioNet, CC BY 4.0). Real printouts: "ECG Images dataset of Cardiac Patients", Khan and Hussain,
Mendeley Data, CC BY 4.0.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import ecg_model.predict as predict_module  # noqa: E402
from ecg_model.io import load_image  # noqa: E402
from ecg_model.predict import Predictor  # noqa: E402
from ecg_model.synth import SynthOptions, generate_dataset  # noqa: E402

DEFAULT_PTBXL = ROOT.parent / "shared" / "data" / "ptbxl_subset" / "ptbxl_subset.npz"


def _score(predictor: Predictor, rgb: np.ndarray) -> tuple[str, str | None, int, float | None]:
    data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))[1].tobytes()
    a = predictor.analyse(data, keep_stages=False)
    return a.status, a.label, a.pipeline.turned_deg if a.pipeline is not None else 0, a.risk


def evaluate(predictor: Predictor, paths: list[Path], turned: set[Path], photos: bool) -> dict:
    upright_turned = 0
    per_turn = {k: {"n": 0, "same_label": 0, "undone": 0, "max_abs_risk_diff": 0.0} for k in (1, 2, 3)}
    for path in paths:
        rgb = load_image(str(path)).rgb
        status, label, turned_deg, risk = _score(predictor, rgb)
        upright_turned += turned_deg != 0
        if path not in turned:
            continue
        for k in (1, 2, 3):
            s, lab, deg, r = _score(predictor, np.ascontiguousarray(np.rot90(rgb, k)))
            row = per_turn[k]
            row["n"] += 1
            row["same_label"] += (s == status and lab == label)
            if risk is not None and r is not None:
                row["max_abs_risk_diff"] = round(max(row["max_abs_risk_diff"], abs(r - risk)), 6)
            # A photo's page outline already levels the page's long side, so only the half
            # turn left is asked of it.
            want = {90 * ((4 - k) % 4)} if not photos else {0, 180}
            row["undone"] += deg in want
    return {"pages": len(paths), "upright_pages_turned": upright_turned,
            "turned": {f"{90 * k}": v for k, v in per_turn.items()}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--real", help="folder of real printouts in class folders")
    ap.add_argument("--turned", type=int, default=60, help="real printouts also scored turned")
    ap.add_argument("--n", type=int, default=30, help="synthetic pages per kind (0: none)")
    ap.add_argument("--seed", type=int, default=503)
    ap.add_argument("--ptbxl", default=str(DEFAULT_PTBXL))
    ap.add_argument("--off", action="store_true", help="switch the orientation check off")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args(argv)
    if args.off:
        run = predict_module.run_pipeline
        predict_module.run_pipeline = lambda *a, **k: run(*a, find_orientation=False, **k)
    predictor = Predictor(None)
    report: dict = {"orientation_check": not args.off}
    if args.real:
        paths = sorted(p for p in Path(args.real).glob("*/*") if p.is_file())
        turned = set(random.Random(1).sample(paths, min(args.turned, len(paths))))
        report["real"] = evaluate(predictor, paths, turned, photos=False)
        print("real", json.dumps(report["real"]), flush=True)
    if args.n:
        source = "ptbxl" if Path(args.ptbxl).is_file() else "sim"
        with tempfile.TemporaryDirectory() as tmp:
            for kind, photo, seed in (("flat", False, args.seed), ("photo", True, args.seed + 1)):
                folder = Path(tmp) / kind
                options = SynthOptions(photo=photo, source=source,
                                       ptbxl_path=args.ptbxl if source == "ptbxl" else None)
                records = generate_dataset(folder, args.n, seed=seed, options=options)
                paths = [folder / r["path"] for r in records]
                report[f"synthetic_{kind}"] = evaluate(predictor, paths, set(paths), photos=photo)
                print(kind, json.dumps(report[f"synthetic_{kind}"]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
