"""Per-stage timings and peak memory on standard inputs made by ``synth`` (no data needed).

Cases: a 1-megapixel flat scan and a 12-megapixel phone photo (JPEG), each through loading,
the image pipeline, the model and Grad-CAM. Each case runs in a fresh process so its peak
memory is its own; the peak is read from the kernel's high-water mark after a warm-up.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np


def _proc_status_mb(*keys: str) -> dict[str, float]:
    """Fields of /proc/self/status in MB (VmHWM: peak resident; RssAnon: heap, arrays and
    tensors; RssFile: mapped library code such as libtorch, shared and droppable)."""
    out: dict[str, float] = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            key = line.split(":")[0]
            if key in keys:
                out[key] = float(line.split()[1]) / 1024.0
    except OSError:
        pass
    return out


def _read_hwm_mb() -> float:
    hwm = _proc_status_mb("VmHWM").get("VmHWM")
    if hwm is not None:
        return hwm
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def model_flops(model: Any) -> dict[str, float]:
    """GFLOP per image of the forward pass, and of forward plus backward (what Grad-CAM runs)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.rand(1, 1, model.config.input_height, model.config.input_width, device=next(model.parameters()).device)
    with FlopCounterMode(display=False) as fc:
        model(x)
    fwd = fc.get_total_flops()
    with FlopCounterMode(display=False) as fc:
        model(x).sum().backward()
    model.zero_grad(set_to_none=True)
    return {"forward_gflop": fwd / 1e9, "forward_backward_gflop": fc.get_total_flops() / 1e9}


def _reset_hwm() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def make_case(name: str) -> bytes:
    """The encoded file of a standard input."""
    import cv2

    from .synth import PhotoParams, example_printout, photograph

    if name == "scan_1mp":
        printout, _, _ = example_printout(True, seed=1, dpi=102.0)
        ok, buf = cv2.imencode(".png", cv2.cvtColor(printout.rgb, cv2.COLOR_RGB2BGR))
        return buf.tobytes()
    if name == "photo_12mp":
        printout, signals, _ = example_printout(True, seed=2, dpi=300.0)
        params = PhotoParams(frame_wh=(4000, 3000), rotation_deg=6.0, tilt_x_deg=12.0, tilt_y_deg=-6.0,
                             page_fill=0.8, shading=0.3, blur_sigma_px=1.0, noise_sigma=3.0, jpeg_quality=88, seed=3)
        return photograph(printout, signals, params, {}).encoded
    raise ValueError(f"unknown bench case {name!r}")


def _measure_batch(n: int, weights: str | None) -> dict[str, Any]:
    """Images per second scoring a folder of ``n`` different 1-megapixel scans (PNG files), one
    at a time and as ``predict`` over a folder does (``Predictor.analyse_many``: worker
    processes clean, this process scores), the workers' start included; and the same on a
    folder three times larger, where their start weighs less."""
    import tempfile

    import cv2

    from .batch import MIN_IMAGES
    from .predict import Predictor
    from .synth import example_printout

    out: dict[str, Any] = {"images": n}
    with tempfile.TemporaryDirectory(prefix="ecg_bench_") as tmp:
        files = []
        for i in range(3 * n):
            printout, _, _ = example_printout(i % 2 == 0, seed=100 + i, dpi=102.0)
            path = str(Path(tmp) / f"scan_{i:03d}.png")
            cv2.imwrite(path, cv2.cvtColor(printout.rgb, cv2.COLOR_RGB2BGR))
            files.append(path)
        predictor = Predictor(weights)
        predictor.analyse(files[0], keep_stages=False)  # warm-up
        jobs = min(4, os.cpu_count() or 1)
        for key, folder, j in (("images_per_s_1_thread", files[:n], 1), ("images_per_s_parallel", files[:n], 0),
                               ("images_per_s_parallel_large_folder", files, 0)):
            t0 = time.perf_counter()
            statuses = [a.status for a in predictor.analyse_many(folder, jobs=j, keep_stages=False)]
            out[key] = len(folder) / (time.perf_counter() - t0)
            out["ok" if folder is not files else "ok_large_folder"] = statuses.count("ok")
    out["large_folder_images"] = 3 * n
    out["jobs"] = jobs
    out["parallel"] = "processes" if jobs > 1 and n >= MIN_IMAGES else "threads" if jobs > 1 else "none"
    return {"case": "batch_scan_1mp", "stats": out}


def _measure_floor(weights: str | None) -> dict[str, Any]:
    """The model's FLOPs per image and the share of this machine's float32 matrix-multiply
    rate that its forward pass reaches (issue: how near the floor is inference)."""
    import torch

    from .model import fuse_for_inference
    from .weights import DEFAULT_WEIGHTS, load_model

    model, _ = load_model(weights or DEFAULT_WEIGHTS)
    h, w = model.config.input_height, model.config.input_width
    flops = model_flops(model)
    # Timed as the Predictor runs it: batch norms folded into the convolutions.
    model = fuse_for_inference(model)
    a = torch.rand(1024, 1024)
    mm: list[float] = []

    def time_matmul() -> None:
        for i in range(12):
            t0 = time.perf_counter()
            a @ a
            if i >= 2:
                mm.append(time.perf_counter() - t0)

    # Timed before and after the model, best of both: this machine's speed wanders within a
    # run, and a slow spell during the matmul alone gave shares above 1.
    time_matmul()
    out: dict[str, Any] = dict(flops)
    with torch.inference_mode():
        for bs in (1, 5):
            xb = torch.rand(bs, 1, h, w)
            ts = []
            for _ in range(15):
                t0 = time.perf_counter()
                model(xb)
                ts.append(time.perf_counter() - t0)
            out[f"forward_ms_per_image_batch{bs}"] = statistics.median(ts[3:]) / bs * 1e3
    time_matmul()
    peak = 2 * 1024**3 / min(mm)
    out["matmul_gflops"] = peak / 1e9
    for bs in (1, 5):
        per_image = out[f"forward_ms_per_image_batch{bs}"] / 1e3
        out[f"share_of_matmul_rate_batch{bs}"] = flops["forward_gflop"] * 1e9 / per_image / peak
    return {"case": "model_floor", "stats": out}


def _measure_train(weights: str | None, batch: int = 32, steps: int = 6) -> dict[str, Any]:
    """Training images per second on this machine: optimiser steps on ready model inputs, as
    ``train`` runs them (channels-last, AdamW; augmentation included, data loading excluded)."""
    import numpy as np
    import torch

    from .augment import augment_input
    from .weights import DEFAULT_WEIGHTS, load_model

    model, _ = load_model(weights or DEFAULT_WEIGHTS)
    model.train()
    h, w = model.config.input_height, model.config.input_width
    rng = np.random.default_rng(0)
    inputs = (rng.random((batch, h, w)) > 0.93).astype(np.float32)
    y = torch.from_numpy((np.arange(batch) % 2).astype(np.float32))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    times = []
    for _ in range(steps + 1):
        t0 = time.perf_counter()
        x = torch.from_numpy(np.stack([augment_input(a, rng) for a in inputs]))[:, None]
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x).squeeze(1), y)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    per_step = statistics.median(times[1:])
    return {"case": "train_cpu", "stats": {"batch": batch, "ms_per_step": per_step * 1e3,
                                           "images_per_s": batch / per_step}}


def _run_case(name: str, repeats: int, weights: str | None, queue: Any, pipeline_only: bool = False,
              data: bytes = b"") -> None:
    try:
        if not pipeline_only:
            import torch

            torch.set_num_threads(max(1, os.cpu_count() or 1))
        if name == "batch_scan_1mp":
            queue.put(_measure_batch(max(12, 4 * repeats), weights))
        elif name == "model_floor":
            queue.put(_measure_floor(weights))
        elif name == "train_cpu":
            queue.put(_measure_train(weights))
        else:
            queue.put(_measure_case(name, repeats, weights, pipeline_only, data))
    except Exception as exc:  # reported to the parent as one line, not a hang
        queue.put({"case": name, "error": f"{type(exc).__name__}: {exc}"})


def _measure_case(name: str, repeats: int, weights: str | None, pipeline_only: bool,
                  data: bytes = b"") -> dict[str, Any]:
    """One case, warmed up once, then ``repeats`` timed runs; without a model when ``pipeline_only``."""
    from .imaging import PipelineConfig, run_pipeline
    from .io import load_image

    # The file is made by the parent: drawing a 12-megapixel photo leaves hundreds of MB in
    # this process's allocator, which would count as the app's memory.
    data = data or make_case(name)
    predictor = None
    config = PipelineConfig()
    if not pipeline_only:
        from .predict import Predictor

        predictor = Predictor(weights)
        config = predictor.pipeline_config

    def once() -> dict[str, float]:
        t0 = time.perf_counter()
        loaded = load_image(data)
        t1 = time.perf_counter()
        result = run_pipeline(loaded, config, keep_stages=False)
        t2 = time.perf_counter()
        row = {"load_ms": (t1 - t0) * 1e3, "pipeline_ms": (t2 - t1) * 1e3}
        if predictor is not None:
            from .explain import compute_cam

            if result.model_input is None:
                raise RuntimeError("the pipeline refused the standard input: " + result.gate.message)
            # The app's path: the risk, its band and Grad-CAM, sharing one forward pass.
            predictor.risk_and_cam(result.model_input)
            t3 = time.perf_counter()
            row.update(model_and_gradcam_ms=(t3 - t2) * 1e3, total_ms=(t3 - t0) * 1e3)
            # The parts on their own: scoring alone (batch scoring) and a Grad-CAM of a given class.
            predictor.risk_of(result.model_input)
            t4 = time.perf_counter()
            compute_cam(predictor.model, result.model_input, 1, lock=predictor.lock)
            t5 = time.perf_counter()
            row.update(model_ms=(t4 - t3) * 1e3, gradcam_ms=(t5 - t4) * 1e3)
        row.update({f"stage_{k}_ms": v for k, v in result.timings_ms.items()})
        row["input_megapixels"] = loaded.original_size[0] * loaded.original_size[1] / 1e6
        return row

    once()  # warm-up: lazy imports, allocator, model
    base_mb = _read_hwm_mb()
    reset = _reset_hwm()
    timings: dict[str, list[float]] = {}
    for _ in range(repeats):
        for k, v in once().items():
            timings.setdefault(k, []).append(v)
    out: dict[str, Any] = {k: statistics.median(v) for k, v in timings.items()}
    out.update(file_kb=len(data) / 1024.0, peak_rss_mb=_read_hwm_mb(), peak_rss_before_case_mb=base_mb,
               peak_reset=reset, **{k.lower() + "_mb": v for k, v in _proc_status_mb("RssAnon", "RssFile").items()})
    return {"case": name, "stats": out}


def run_bench(repeats: int = 5, weights: str | None = None,
              cases: tuple[str, ...] = ("scan_1mp", "photo_12mp", "batch_scan_1mp", "model_floor", "train_cpu"),
              pipeline_only: bool = False) -> dict[str, Any]:
    """Median timings (ms) per stage and peak resident memory (MB) per case.

    With ``pipeline_only`` no model is loaded (loading and the image pipeline alone).
    """
    import queue as queue_mod

    ctx = mp.get_context("spawn")
    results: dict[str, Any] = {}
    for name in cases:
        queue = ctx.Queue()
        data = make_case(name) if name in ("scan_1mp", "photo_12mp") else b""
        proc = ctx.Process(target=_run_case, args=(name, repeats, weights, queue, pipeline_only, data))
        proc.start()
        msg = None
        while msg is None:
            try:
                msg = queue.get(timeout=1.0)
            except queue_mod.Empty:
                if not proc.is_alive():
                    raise RuntimeError(f"the benchmark process for {name} died (exit code {proc.exitcode})") from None
        proc.join()
        if "error" in msg:
            raise RuntimeError(msg["error"])
        results[name] = msg["stats"]
    return {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "repeats": repeats,
        "cases": results,
    }


if __name__ == "__main__":
    print(json.dumps(run_bench(), indent=1))
