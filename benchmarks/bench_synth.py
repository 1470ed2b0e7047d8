"""Synthetic data generation rate at 1600x1200, all cores (issue 3's target: >= 5 printouts/s
and >= 2 photos/s on 2 cores).

    python benchmarks/bench_synth.py [--n 40] [--json]

Printouts are drawn at 137 dpi, which makes an A4 page 1602 x 1133 px; photos are
1600 x 1200 frames. Files, masks, waveforms and truth.jsonl are written as by `synth`.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

from ecg_model.synth import SynthOptions, generate_dataset


def rate(n: int, photo: bool, workers: int) -> float:
    options = SynthOptions(photo=photo, dpi_range=(137.0, 137.0), frame_wh=(1600, 1200))
    with tempfile.TemporaryDirectory() as out:
        generate_dataset(out, 2, seed=99, options=options, workers=1)  # warm imports
        t0 = time.perf_counter()
        generate_dataset(out, n, seed=1, options=options, workers=workers)
        return n / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    workers = os.cpu_count() or 1
    result = {"cpus": workers, "n": args.n, "printouts_per_s": rate(args.n, False, workers),
              "photos_per_s": rate(args.n, True, workers)}
    print(json.dumps(result) if args.json else
          f"{result['printouts_per_s']:.1f} printouts/s, {result['photos_per_s']:.1f} photos/s on {workers} cores")


if __name__ == "__main__":
    main()
