"""GPU figures: inference and training-step throughput, Grad-CAM on CUDA against the CPU.

Run on a CUDA machine (``scripts/gpu_check.sh`` runs it with the GPU tests and a real
training job):

    python benchmarks/gpu_bench.py --out gpu_bench.json

Throughput is timed on the model alone with inputs already on the GPU (CUDA events after a
warm-up), so it is what the GPU gives, not what the data loader gives; the end-to-end figure
is the training job's own images/s in its metrics.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ecg_model.bench import model_flops  # noqa: E402
from ecg_model.explain import compute_cam  # noqa: E402
from ecg_model.imaging import run_pipeline  # noqa: E402
from ecg_model.predict import Predictor  # noqa: E402
from ecg_model.synth import example_printout  # noqa: E402
from ecg_model.weights import load_model  # noqa: E402


def _timed(fn, n: int) -> float:
    """Seconds per call of fn on the GPU, after three warm-up calls."""
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(n):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / 1000.0 / n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default=str(ROOT / "weights" / "default.pt"))
    ap.add_argument("--out", default="gpu_bench.json")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA GPU: nothing to measure", file=sys.stderr)
        return 2
    torch.backends.cudnn.benchmark = True
    dev = torch.device("cuda")
    model, ckpt = load_model(args.weights)
    h, w = model.config.input_height, model.config.input_width
    report: dict = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__, "cuda": torch.version.cuda,
                    "input": [h, w], "parameters": sum(p.numel() for p in model.parameters())}
    report.update(model_flops(model))

    model = model.to(dev).eval()  # channels-last already (weights.build_model)
    infer = {}
    for bs in (1, 64, 256):
        x = torch.rand(bs, 1, h, w, device=dev)
        for amp in (False, True):
            def fwd() -> None:
                with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16, enabled=amp):
                    model(x)
            s = _timed(fwd, 20 if bs > 1 else 50)
            infer[f"batch{bs}_{'amp' if amp else 'fp32'}"] = {"ms_per_batch": round(s * 1e3, 3),
                                                             "images_per_s": round(bs / s, 1)}
    report["inference"] = infer
    best = max(v["images_per_s"] for v in infer.values())
    report["inference_best_tflops"] = round(best * report["forward_gflop"] / 1e3, 2)

    # Training step: AMP + GradScaler + channels-last, as ecg_model.train does on CUDA.
    train_model = load_model(args.weights)[0].to(dev).train()
    opt = torch.optim.AdamW(train_model.parameters(), lr=1e-4)
    scaler = torch.amp.GradScaler("cuda")
    loss_fn = torch.nn.BCEWithLogitsLoss()
    steps = {}
    for bs in (32, 64, 128):
        x = torch.rand(bs, 1, h, w, device=dev)
        y = (torch.rand(bs, device=dev) > 0.5).float()

        def step() -> None:
            opt.zero_grad(set_to_none=True)
            with torch.autocast("cuda", dtype=torch.float16):
                loss = loss_fn(train_model(x).squeeze(1).float(), y)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        s = _timed(step, 15)
        steps[f"batch{bs}"] = {"ms_per_step": round(s * 1e3, 2), "images_per_s": round(bs / s, 1)}
    report["train_step"] = steps
    report["peak_gpu_memory_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)

    # Grad-CAM on CUDA: same maps as on the CPU, and how long one takes.
    cpu_model = load_model(args.weights)[0].eval()
    gpu_model = load_model(args.weights)[0].to(dev).eval()
    cams: dict = {}
    for method in ("gradcam", "guided-gradcam"):
        corrs, ms = [], []
        for seed in range(4):
            x = run_pipeline(example_printout(seed % 2 == 0, seed=40 + seed)[0].rgb, keep_stages=False).model_input
            a = compute_cam(cpu_model, x, 1, method)
            compute_cam(gpu_model, x, 1, method)  # warm
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            b = compute_cam(gpu_model, x, 1, method)
            torch.cuda.synchronize()
            ms.append((time.perf_counter() - t0) * 1e3)
            corrs.append(float(np.corrcoef(a.ravel(), b.ravel())[0, 1]))
        cams[method] = {"min_corr_cpu_vs_cuda": round(min(corrs), 5), "ms_per_map_median": round(float(np.median(ms)), 2)}
    report["cam"] = cams

    # The app's Predictor on CUDA gives the CPU's risk.
    p_cpu, p_gpu = Predictor(args.weights, device="cpu"), Predictor(args.weights, device="cuda")
    diffs = []
    for seed in range(4):
        x = run_pipeline(example_printout(seed % 2 == 1, seed=60 + seed)[0].rgb, keep_stages=False).model_input
        diffs.append(abs(p_cpu.risk_of(x)[0] - p_gpu.risk_of(x)[0]))
    report["predict_max_abs_risk_diff_cpu_vs_cuda"] = round(max(diffs), 6)

    text = json.dumps(report, indent=2)
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
