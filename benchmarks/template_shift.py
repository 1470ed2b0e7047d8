"""Does the risk follow the traces or the paper? Re-templated printouts against the originals.

Each held-out test printout of the weights (real Mendeley pages, CC BY 4.0) is cleaned by the
pipeline; its traces are drawn again on four other templates (grid colour, margins, header
and footer text, ink and paper colour: ``ecg_model.synth.retemplate``) and scored again. The
strokes keep their own darkness and weight, so only the paper changes; ``--solid-strokes``
redraws them solid from the trace mask instead (about 25 % more ink: a bolder pen as well as
other paper).

    PYTHONPATH=. python benchmarks/template_shift.py [--weights weights/default.pt] [--split val|test]
        [--solid-strokes] [--limit N] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MENDELEY = ROOT.parent / "shared" / "data" / "mendeley_ecg_images"


def find_files(names: list[str], root: Path) -> list[Path]:
    by_name = {p.name: p for p in root.rglob("*") if p.is_file()}
    return [by_name[n] for n in names if n in by_name]


def main(argv: list[str] | None = None) -> int:
    from ecg_model.data import parse_class_map
    from ecg_model.metrics import auroc
    from ecg_model.io import from_array
    from ecg_model.predict import Predictor
    from ecg_model.synth.retemplate import TEMPLATES, retemplate

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", default=str(ROOT / "weights" / "default.pt"))
    ap.add_argument("--data", default=str(MENDELEY))
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--split", default="test", choices=["val", "test"],
                    help="which held-out split of the weights (val for choosing between models)")
    ap.add_argument("--solid-strokes", action="store_true",
                    help="redraw the strokes solid from the trace mask (a bolder pen as well as other paper)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    predictor = Predictor(args.weights)
    names = predictor.metrics.get("split_files", {}).get(args.split, [])
    files = find_files(names, Path(args.data))
    if args.limit:
        files = files[:args.limit]
    if not files:
        print(f"no test-split files of these weights under {args.data}", file=sys.stderr)
        return 2
    class_map = {k.lower(): v for k, v in predictor.ckpt["training"].get("class_to_idx", {}).items()} or \
        parse_class_map("normal=0,risky=1")
    t0 = time.time()
    labels, base = [], []
    shifted: dict[str, list[float]] = {t.name: [] for t in TEMPLATES}
    rejected = {t.name: 0 for t in TEMPLATES}
    for path in files:
        a = predictor.analyse(path, keep_stages=not args.solid_strokes)  # the stroke darkness map with the stages
        if a.status != "ok" or a.pipeline is None or a.pipeline.px_per_mm is None:
            continue
        labels.append(class_map[path.parent.name.lower()])
        base.append(a.risk)
        for t in TEMPLATES:
            page = retemplate(a.pipeline.ink_mask, a.pipeline.crop_box, a.pipeline.px_per_mm, t,
                              ink=None if args.solid_strokes else a.pipeline.ink_soft)
            b = predictor.analyse(from_array(page), name=t.name, keep_stages=False)
            if b.status != "ok":
                rejected[t.name] += 1
                shifted[t.name].append(float("nan"))
            else:
                shifted[t.name].append(b.risk)
    base_arr = np.asarray(base)
    thr = predictor.threshold
    report: dict[str, object] = {"n": len(base), "weights": args.weights, "threshold": thr, "split": args.split,
                                 "strokes": "solid from the mask" if args.solid_strokes else "as printed",
                                 "auroc_original": auroc(labels, base_arr), "templates": {}}
    for t in TEMPLATES:
        s = np.asarray(shifted[t.name])
        ok = ~np.isnan(s)
        d = np.abs(s[ok] - base_arr[ok])
        report["templates"][t.name] = {
            "rejected": rejected[t.name],
            "mean_abs_change": float(d.mean()) if d.size else None,
            "median_abs_change": float(np.median(d)) if d.size else None,
            "p95_abs_change": float(np.percentile(d, 95)) if d.size else None,
            "max_abs_change": float(d.max()) if d.size else None,
            "label_flips": int(((s[ok] >= thr) != (base_arr[ok] >= thr)).sum()),
            "auroc": auroc(np.asarray(labels)[ok], s[ok]),
        }
    report["seconds"] = round(time.time() - t0, 1)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(f"{report['n']} {args.split} printouts (strokes {report['strokes']}), AUROC as printed "
              f"{report['auroc_original']:.3f}")
        for name, r in report["templates"].items():
            print(f"  {name}: mean |change| {r['mean_abs_change']:.3f}, p95 {r['p95_abs_change']:.3f}, "
                  f"max {r['max_abs_change']:.3f}, flips {r['label_flips']}, AUROC {r['auroc']:.3f}, "
                  f"rejected {r['rejected']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
