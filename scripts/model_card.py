"""Write weights/model_card.json for the shipped weights: data, test figures, photo figures.

Usage: python scripts/model_card.py [--data ../shared/data/mendeley_ecg_images]

The photo figures turn each held-out test printout into one simulated phone photo (seeded)
and score it through the same pipeline the app uses.
"""

from __future__ import annotations

import argparse
import json
import time
import zlib
from pathlib import Path

import numpy as np

from ecg_model.data import MENDELEY_CLASS_MAP
from ecg_model.evaluation import summarise
from ecg_model.io import load_image
from ecg_model.predict import Predictor
from ecg_model.synth.photo import random_photo_params, simulate_photo
from ecg_model.weights import DEFAULT_WEIGHTS

DATA_TEXT = ("355 distinct real 12-lead printouts from the Mendeley \"ECG Images dataset of Cardiac Patients\" "
             "(Khan and Hussain, doi:10.17632/gwbz3fsgp8.2, CC BY 4.0), one ECG machine and print template; "
             "normal = Normal (99), risky = MI (19), History_MI (64) and Abnormal_HB (173). Added to the "
             "training split only: {synth} synthetic printouts (ecg_model.synth; source: {source}; PTB-XL records, "
             "Wagner et al., PhysioNet, CC BY 4.0), {retemplate} copies of each real training printout redrawn on "
             "random other templates, and {photos} simulated phone photo(s) of each printout, all cleaned by the "
             "app's own pipeline.")


def infarction_figures(predictor: Predictor, data: Path, names: set[str]) -> dict:
    """AUROC of infarction (MI, History_MI) against Normal, the printouts as they are."""
    from ecg_model.metrics import auroc, bootstrap_auroc_ci

    y, p = [], []
    for folder in ("Normal", "MI", "History_MI"):
        for path in sorted((data / folder).glob("*.jpg")):
            if path.name in names:
                a = predictor.analyse(path, keep_stages=False)
                if a.status == "ok":
                    y.append(int(folder != "Normal"))
                    p.append(a.risk)
    lo, hi = bootstrap_auroc_ci(y, p)
    return {"n": len(y), "auroc": auroc(y, p), "auroc_ci95": [lo, hi]}


def run_seconds(progress: Path) -> float | None:
    """From the first start to the last done in a run's progress file (a resumed run has two starts)."""
    if not progress.exists():
        return None
    events = [json.loads(line) for line in progress.read_text().splitlines() if line.strip()]
    starts = [e["time"] for e in events if e["event"] == "start"]
    done = [e["time"] for e in events if e["event"] == "done"]
    return done[-1] - starts[0] if starts and done else None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "mendeley_ecg_images"))
    parser.add_argument("--weights", default=str(DEFAULT_WEIGHTS))
    parser.add_argument("--command", default="")
    parser.add_argument("--progress", help="the run's progress.jsonl, for the wall-clock training time")
    args = parser.parse_args()
    predictor = Predictor(args.weights)
    metrics = predictor.metrics
    test_files = set(metrics["split_files"]["test"])
    data = Path(args.data)
    labels, probs, folders, times = [], [], [], []
    rejected = 0
    for folder, label in MENDELEY_CLASS_MAP.items():
        for path in sorted((data / folder).glob("*.jpg")):
            if path.name not in test_files:
                continue
            page = load_image(path).rgb
            h, w = page.shape[:2]
            rng = np.random.default_rng(zlib.crc32(path.name.encode()))
            photo = simulate_photo(page, random_photo_params(rng, (int(w * 1.15) // 2 * 2, int(h * 1.3) // 2 * 2)))
            t0 = time.perf_counter()
            a = predictor.analyse(photo.jpeg, name=path.name, keep_stages=False)
            times.append((time.perf_counter() - t0) * 1000)
            if a.status != "ok":
                rejected += 1
                continue
            labels.append(label)
            probs.append(a.risk)
            folders.append(folder)
    photo_summary = summarise(labels, probs, predictor.threshold, folders, n_rejected=rejected)
    photo_summary.pop("reliability", None)
    train_cfg = predictor.ckpt["training"].get("config", {})
    card = {
        "weights": Path(args.weights).name,
        "data": DATA_TEXT.format(photos=train_cfg.get("photo_aug", 1), synth=train_cfg.get("synth", 0),
                                 source=train_cfg.get("synth_source", "sim"), retemplate=train_cfg.get("retemplate_aug", 0)),
        "command": args.command,
        "split": metrics.get("split_sizes"),
        "test": {k: v for k, v in metrics["test"].items() if k != "reliability"},
        "validation": {k: v for k, v in metrics["validation"].items() if k != "reliability"},
        "validation_photos": {k: v for k, v in metrics.get("validation_photos", {}).items() if k != "reliability"},
        "infarction_vs_normal": {part: infarction_figures(predictor, data, set(metrics["split_files"][part]))
                                 for part in ("val", "test")},
        "photo_test": photo_summary,
        "photo_ms_median": float(np.median(times)) if times else None,
        "temperature": predictor.temperature,
        "bias": predictor.bias,
        "calibration": predictor.ckpt["training"].get("calibration"),
        "threshold": predictor.threshold,
        "parameters": metrics.get("parameters"),
        "training_seconds": (run_seconds(Path(args.progress)) if args.progress else None) or metrics.get("seconds"),
        "best_epoch": metrics.get("best_epoch"),
    }
    out = Path(args.weights).with_name("model_card.json")
    out.write_text(json.dumps(card, indent=1))
    print(json.dumps({"test_auroc": card["test"]["auroc"], "test_ci": card["test"]["auroc_ci95"],
                      "photo_auroc": photo_summary["auroc"], "photo_rejected": rejected}, indent=1))


if __name__ == "__main__":
    main()
