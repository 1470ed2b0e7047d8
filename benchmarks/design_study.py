"""Model design study: input size, width, and what follows the BiLSTM.

Each variant is trained the same way (same split of the real Mendeley printouts, CC BY 4.0,
same seed, simulated photos of the training printouts) for a short budget, and compared on
the validation split (printouts, and their simulated photos) only; the test split is never
looked at here. CPU time per image is the forward pass alone, batch of one, on this machine.

The model input is a one-channel ink map by design: grid and paper colour are removed before
the network sees the page, so "colour versus grey" is decided upstream, not here.

    PYTHONPATH=. python benchmarks/design_study.py [--epochs 12] [--only NAME,...] [--out docs/design_study.md]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
MENDELEY = ROOT.parent / "shared" / "data" / "mendeley_ecg_images"
CLASS_MAP = "Normal=0,MI=1,History_MI=1,Abnormal_HB=1"

VARIANTS: dict[str, dict] = {
    "128x256 attention": {"img_size": (128, 256), "model": {}},
    "256x512 attention (default)": {"img_size": (256, 512), "model": {}},
    "256x512 mean pool": {"img_size": (256, 512), "model": {"pooling": "mean"}},
    "256x512 last state": {"img_size": (256, 512), "model": {"pooling": "last"}},
    "256x512 narrow": {"img_size": (256, 512), "model": {"stem_channels": 12, "channels": [16, 24, 32, 48]}},
    "256x512 wide": {"img_size": (256, 512), "model": {"stem_channels": 24, "channels": [32, 48, 64, 96]}},
}


def forward_ms(model: torch.nn.Module, hw: tuple[int, int], repeats: int = 30) -> float:
    model.eval()
    x = torch.rand(1, 1, *hw)
    with torch.inference_mode():
        for _ in range(3):
            model(x)
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            model(x)
            times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return times[len(times) // 2]


def main(argv: list[str] | None = None) -> int:
    from ecg_model.data import parse_class_map
    from ecg_model.model import count_parameters
    from ecg_model.train import Progress, TrainConfig, run_training
    from ecg_model.weights import load_model

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(MENDELEY))
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--photo-aug", type=int, default=1)
    ap.add_argument("--only", help="comma-separated variant names")
    ap.add_argument("--runs", default=str(ROOT / "runs" / "design_study"))
    ap.add_argument("--out", default=str(ROOT / "docs" / "design_study.md"))
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    names = [n.strip() for n in args.only.split(",")] if args.only else list(VARIANTS)
    rows = []
    results_path = Path(args.runs) / "results.json"
    done = json.loads(results_path.read_text()) if results_path.exists() else {}
    for name in names:
        v = VARIANTS[name]
        run_dir = Path(args.runs) / name.split(" (")[0].replace(" ", "_")
        if name not in done:
            cfg = TrainConfig(ecg_root=args.data, class_to_idx=parse_class_map(CLASS_MAP), img_size=v["img_size"],
                              num_epochs=args.epochs, photo_aug=args.photo_aug, seed=0, device="cpu",
                              out=str(run_dir / "model.pt"), model=v["model"], patience=args.epochs)
            t0 = time.time()
            metrics = run_training(cfg, Progress(run_dir / "progress.jsonl", quiet=True))
            model, _ = load_model(run_dir / "model.pt")
            hist = metrics["history"]
            best = max(hist, key=lambda r: r["selection_score"] or 0)
            done[name] = {
                "val_auroc": best["val_auroc"], "val_photo_auroc": best["val_photo_auroc"],
                "best_epoch": best["epoch"], "parameters": count_parameters(model),
                "forward_ms": forward_ms(model, v["img_size"]),
                "train_images_per_s": sum(r["images_per_s"] for r in hist) / len(hist),
                "minutes": (time.time() - t0) / 60,
            }
            results_path.parent.mkdir(parents=True, exist_ok=True)
            results_path.write_text(json.dumps(done, indent=1))
            print(name, json.dumps(done[name]), file=sys.stderr, flush=True)
        rows.append((name, done[name]))
    lines = [
        "# Model design study",
        "",
        f"`PYTHONPATH=. python benchmarks/design_study.py --epochs {args.epochs}` on 2 CPU cores; "
        f"{args.epochs} epochs each, seed 0, {args.photo_aug} simulated photo per training printout; "
        "validation split only (best epoch shown), the test split is not used.",
        "",
        "| variant | val AUROC printouts | val AUROC photos | parameters | forward ms/image (CPU, batch 1) "
        "| train images/s (CPU) |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in rows:
        lines.append(f"| {name} | {r['val_auroc']:.3f} | {r['val_photo_auroc']:.3f} | {r['parameters']:,} "
                     f"| {r['forward_ms']:.1f} | {r['train_images_per_s']:.1f} |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
