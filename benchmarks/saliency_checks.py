"""Saliency sanity checks with the shipped weights on synthetic risky printouts
(``ecg_model.saliency_checks``): randomisation, trace mass, territory, time per map.

    PYTHONPATH=. python benchmarks/saliency_checks.py [--n 30] [--dilate-mm 2] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str] | None = None) -> int:
    import torch

    from ecg_model.predict import Predictor
    from ecg_model.saliency_checks import run_checks

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights")
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--dilate-mm", type=float, default=2.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    summary = run_checks(Predictor(args.weights), n=args.n, dilate_mm=args.dilate_mm).summary()
    summary["dilate_mm"] = args.dilate_mm
    print(json.dumps(summary, indent=1) if args.json else "\n".join(f"{k}: {v}" for k, v in summary.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
