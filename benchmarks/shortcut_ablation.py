"""Shortcut ablation: how much can the paper alone tell, and does our input carry it?

The Mendeley classes were recorded in separate batches, so paper, grid rendering and header
differ between them. Three measurements on the weights' own train/validation split of the
real printouts (Mendeley, CC BY 4.0):

1. ``raw page``: the same CNN-BiLSTM trained on the whole rectified page (paper, grid, text
   and traces, grey levels), as a naive model would see it.
2. ``paper only``: the same, with the traces blanked out (each trace pixel replaced by the
   lightest paper around it). If this scores well, the paper is a shortcut.
3. ``pipeline on paper only``: the blanked pages through this project's pipeline and the
   shipped model: what is left of them after grid and text removal, and what the model says.

    PYTHONPATH=. python benchmarks/shortcut_ablation.py [--epochs 12] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
MENDELEY = ROOT.parent / "shared" / "data" / "mendeley_ecg_images"


def blank_traces(page: np.ndarray, trace_mask: np.ndarray, ppm: float) -> np.ndarray:
    """The page with every trace pixel replaced by the lightest colour around it."""
    k = max(3, int(round(ppm * 1.2)) | 1)
    lightest = cv2.dilate(page, np.ones((k, k), np.uint8))
    mask = cv2.dilate(trace_mask, np.ones((5, 5), np.uint8)) > 0
    out = page.copy()
    out[mask] = lightest[mask]
    return out


def page_input(page: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    grey = cv2.cvtColor(page, cv2.COLOR_RGB2GRAY)
    small = cv2.resize(grey, (hw[1], hw[0]), interpolation=cv2.INTER_AREA)
    return (1.0 - small.astype(np.float32) / 255.0).astype(np.float32)


def train_and_score(train_x: list[np.ndarray], train_y: list[int], val_x: list[np.ndarray], val_y: list[int],
                    epochs: int, seed: int) -> float:
    from ecg_model.metrics import auroc
    from ecg_model.model import ECGNet, ModelConfig

    torch.manual_seed(seed)
    model = ECGNet(ModelConfig())
    x = torch.from_numpy(np.stack(train_x))[:, None]
    y = torch.tensor(train_y, dtype=torch.float32)
    pos = float(y.sum())
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.tensor((len(y) - pos) / max(pos, 1.0)))
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(seed)
    best = 0.0
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(y), generator=gen)
        for i in range(0, len(y), 32):
            idx = order[i:i + 32]
            opt.zero_grad()
            loss_fn(model(x[idx]).squeeze(1), y[idx]).backward()
            opt.step()
        model.eval()
        with torch.inference_mode():
            logits = model(torch.from_numpy(np.stack(val_x))[:, None]).squeeze(1).numpy()
        # The best epoch on validation: generous to the shortcut on purpose.
        best = max(best, auroc(val_y, logits))
    return best


def main(argv: list[str] | None = None) -> int:
    from ecg_model.data import scan_dataset
    from ecg_model.imaging import run_pipeline
    from ecg_model.io import load_image
    from ecg_model.metrics import auroc
    from ecg_model.io import from_array
    from ecg_model.predict import Predictor

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", default=str(ROOT / "weights" / "default.pt"))
    ap.add_argument("--data", default=str(MENDELEY))
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    t0 = time.time()
    predictor = Predictor(args.weights)
    training = predictor.ckpt["training"]
    scan = scan_dataset(args.data, training["class_to_idx"])
    held = predictor.metrics["split_files"]
    val_names = set(held["val"])
    test_names = set(held["test"])
    hw = (predictor.pipeline_config.input_height, predictor.pipeline_config.input_width)
    data: dict[str, dict[str, list]] = {s: {"raw": [], "paper": [], "y": []} for s in ("train", "val")}
    blank_scores, blank_labels, blank_rejected, n_val = [], [], 0, 0
    for rec in scan.records:
        name = Path(rec.path).name
        if name in test_names:
            continue  # the test split stays unseen here too
        part = "val" if name in val_names else "train"
        result = run_pipeline(load_image(rec.path), predictor.pipeline_config, keep_stages=True)
        if result.px_per_mm is None or "rectified" not in result.stages:
            continue
        page = result.stages["rectified"]
        paper = blank_traces(page, result.ink_mask, result.px_per_mm)
        data[part]["raw"].append(page_input(page, hw))
        data[part]["paper"].append(page_input(paper, hw))
        data[part]["y"].append(rec.label)
        if part == "val":
            n_val += 1
            a = predictor.analyse(from_array(paper), keep_stages=False)
            if a.status == "ok":
                blank_scores.append(a.risk)
                blank_labels.append(rec.label)
            else:
                blank_rejected += 1
    tr, va = data["train"], data["val"]
    report = {
        "n_train": len(tr["y"]), "n_val": len(va["y"]), "epochs": args.epochs,
        "raw_page_val_auroc": train_and_score(tr["raw"], tr["y"], va["raw"], va["y"], args.epochs, args.seed),
        "paper_only_val_auroc": train_and_score(tr["paper"], tr["y"], va["paper"], va["y"], args.epochs, args.seed),
        "pipeline_on_paper_only": {
            "rejected": blank_rejected, "of": n_val,
            "auroc_of_the_rest": auroc(blank_labels, blank_scores) if len(set(blank_labels)) == 2 else None,
            "mean_risk_of_the_rest": float(np.mean(blank_scores)) if blank_scores else None,
        },
        "seconds": round(time.time() - t0, 1),
    }
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(f"train {report['n_train']}, validation {report['n_val']} real printouts, {args.epochs} epochs")
        print(f"  raw page (paper+traces) validation AUROC: {report['raw_page_val_auroc']:.3f}")
        print(f"  paper only (traces blanked)  validation AUROC: {report['paper_only_val_auroc']:.3f}")
        p = report["pipeline_on_paper_only"]
        print(f"  blanked pages through the pipeline: {p['rejected']}/{p['of']} refused by the gate; "
              f"AUROC of the rest {p['auroc_of_the_rest']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
