"""Refit a weights file's calibration with the current training code, without retraining.

It rebuilds the run's own split (the file names stored in the weights), recomputes the same
held-out inputs training uses (validation printouts, one simulated photo of each, and the test
printouts; cached under .cache/inputs), and calls the same ``calibrate_and_summarise`` that
``python -m ecg_model train`` ends with. The network is untouched; temperature, bias,
threshold and the validation and test figures are replaced, and the file is written atomically.

    PYTHONPATH=. python scripts/recalibrate.py weights/default.pt ../shared/data/mendeley_ecg_images
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent


def heldout_logits(weights: str, data_root: str, cache_dir: str | None = None
                   ) -> tuple[dict, dict, dict, Any, dict, Any, dict]:
    """The run's own held-out inputs through its network: logits, labels and folders for
    "val" (printouts), "photo" (one simulated photo of each, as training made it) and "test".

    Returns:
        (logits, labels, folders, model, checkpoint, TrainConfig, kept): ``kept[part]`` lists the
        positions in the split of the images the gate kept (a photo may be refused).

    Raises:
        SystemExit: when files of the run's split are missing under ``data_root``.
    """
    from ecg_model.data import scan_dataset
    from ecg_model.train import Progress, TrainConfig, photo_key, predict_logits, prepare_inputs
    from ecg_model.weights import load_model

    model, ckpt = load_model(weights)
    training = ckpt["training"]
    conf = training["config"]
    cfg = TrainConfig(ecg_root=data_root, class_to_idx=training["class_to_idx"],
                      img_size=(ckpt["pipeline"]["input_height"], ckpt["pipeline"]["input_width"]),
                      cache_dir=cache_dir or conf.get("cache_dir", ".cache/inputs"),
                      sensitivity_target=conf.get("sensitivity_target", 0.95))
    scan = scan_dataset(data_root, cfg.class_to_idx)
    by_name = {Path(r.path).name: r for r in scan.records}
    split = ckpt["metrics"]["split_files"]
    missing = [n for n in split["val"] + split["test"] if n not in by_name]
    if missing:
        raise SystemExit(f"{len(missing)} files of the run's split are not under {data_root}: {missing[:5]}")
    val = [by_name[n] for n in split["val"]]
    test = [by_name[n] for n in split["test"]]
    jobs = ([("print", r.path, r.sha1) for r in val] + [("photo", r.path, photo_key(r.sha1, 0)) for r in val]
            + [("print", r.path, r.sha1) for r in test])
    res = prepare_inputs(jobs, cfg, Progress(None), "held-out inputs")
    nv = len(val)
    parts = {"val": (res[:nv], val), "photo": (res[nv:2 * nv], val), "test": (res[2 * nv:], test)}
    logits, labels, folders, kept = {}, {}, {}, {}
    for k, (rs, recs) in parts.items():
        keep = kept[k] = [i for i, r in enumerate(rs) if r["x"].size]
        logits[k] = predict_logits(model, [rs[i]["x"].astype(np.float32) for i in keep], torch.device("cpu"))
        labels[k] = [recs[i].label for i in keep]
        folders[k] = [recs[i].folder for i in keep]
    return logits, labels, folders, model, ckpt, cfg, kept


def main(argv: list[str] | None = None) -> int:
    from ecg_model.train import _jsonable, calibrate_and_summarise
    from ecg_model.weights import atomic_torch_save

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights")
    ap.add_argument("data_root")
    ap.add_argument("--out", help="where to write (default: replace the weights file)")
    args = ap.parse_args(argv)
    logits, labels, folders, _, ckpt, cfg, _ = heldout_logits(args.weights, args.data_root)
    training = ckpt["training"]
    cal = calibrate_and_summarise(logits["val"], labels["val"], logits["photo"], labels["photo"], logits["test"],
                                  labels["test"], folders["val"], folders["test"], cfg.sensitivity_target)
    before = {k: ckpt["metrics"][k]["ece"] for k in ("validation", "test")}
    ckpt["temperature"], ckpt["bias"], ckpt["threshold"] = cal["temperature"], cal["bias"], cal["threshold"]
    for k in ("validation", "test", "validation_photos"):
        ckpt["metrics"][k] = _jsonable(cal[k])
    training["calibration"] = {"n": len(labels["val"]) + len(labels["photo"]), "photos": len(labels["photo"]),
                               "method": "sigmoid(logit / T + b), fitted by scripts/recalibrate.py"}
    atomic_torch_save(ckpt, args.out or args.weights)
    print(f"T {cal['temperature']:.3f}, b {cal['bias']:+.3f}, threshold {cal['threshold']:.3f}; ECE validation "
          f"{before['validation']:.3f} -> {cal['validation']['ece']:.3f}, test {before['test']:.3f} -> "
          f"{cal['test']['ece']:.3f}; test AUROC {cal['test']['auroc']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
