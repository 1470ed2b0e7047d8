"""Training: DistributedDataParallel under torchrun, and training throughput."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent


def test_torchrun_two_processes_on_the_cpu_use_gloo(synth_dataset, tmp_path):
    out = tmp_path / "ddp" / "model.pt"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "ecg_model", "train", str(synth_dataset), "--epochs", "2", "--batch-size", "4", "--out", str(out),
           "--photo-aug", "0", "--val-fraction", "0.25", "--test-fraction", "0.25", "--device", "cpu",
           "--cache-dir", str(tmp_path / "cache"), "--workers", "1", "--quiet"]
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    from ecg_model.weights import load_model

    model, ckpt = load_model(out)
    events = [json.loads(line) for line in (out.parent / "progress.jsonl").read_text().splitlines()]
    start = events[0]
    assert start["event"] == "start" and start["world_size"] == 2 and "gloo" in start["device"]
    # One writer: a single start, one epoch line per epoch, one done.
    assert [e["event"] for e in events].count("done") == 1
    epochs = [e for e in events if e["event"] == "epoch"]
    assert [e["epoch"] for e in epochs] == [1, 2]
    # Both processes' shares are counted: one process alone sees only half the training images.
    n_train = ckpt["metrics"]["split_sizes"]["train"]
    assert n_train / 2 < epochs[0]["images"] <= n_train + 1
    assert ckpt["metrics"]["test"]["n"] >= 3


def test_synthetic_printouts_join_the_training_split_only(synth_dataset, tmp_path):
    from ecg_model.train import Progress, TrainConfig, run_training

    out = tmp_path / "run" / "model.pt"
    cfg = TrainConfig(ecg_root=str(synth_dataset), class_to_idx={"normal": 0, "risky": 1}, num_epochs=1,
                      batch_size=4, photo_aug=1, val_fraction=0.25, test_fraction=0.25, device="cpu",
                      out=str(out), cache_dir=str(tmp_path / "cache"), workers=1, synth=6, max_train_batches=2)
    metrics = run_training(cfg, Progress(out.parent / "progress.jsonl", quiet=True))
    events = [json.loads(line) for line in (out.parent / "progress.jsonl").read_text().splitlines()]
    added = [e for e in events if e["event"] == "synthetic"][0]["n"]
    assert 5 <= added <= 6  # at most one refused by the gate
    sizes = metrics["split_sizes"]
    # Real training printouts + synthetic ones, each with one photo (a few photos may be refused).
    expected = 2 * (sizes["train"] + added)
    assert expected - 3 <= metrics["n_train_inputs"] <= expected
    # Validation and test are the dataset's own images, untouched by the synthetic ones.
    assert sizes["val"] + sizes["test"] + sizes["train"] == 16
    assert metrics["test"]["n"] == sizes["test"]
    # The generated set is kept in the cache for the next run with the same settings.
    cached = [p for d in ("normal", "risky") for p in (tmp_path / "cache" / "synth_sim_6_s0" / d).iterdir()]
    assert len(cached) == 6


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_training_with_amp(synth_dataset, tmp_path):
    import numpy as np

    from ecg_model.imaging import run_pipeline
    from ecg_model.synth import example_printout
    from ecg_model.train import Progress, TrainConfig, run_training
    from ecg_model.weights import load_model

    out = tmp_path / "gpu" / "model.pt"
    cfg = TrainConfig(ecg_root=str(synth_dataset), class_to_idx={"normal": 0, "risky": 1}, num_epochs=2,
                      batch_size=4, photo_aug=0, val_fraction=0.25, test_fraction=0.25, device="cuda",
                      out=str(out), cache_dir=str(tmp_path / "cache"), workers=1)
    metrics = run_training(cfg, Progress(None, quiet=True))
    assert "CUDA" in metrics["device"] or "GPU" in metrics["device"] or "NVIDIA" in metrics["device"]
    assert all(r["images_per_s"] > 0 for r in metrics["history"])
    # Weights trained under AMP load anywhere and give the same logits on the CPU and the GPU.
    model, _ = load_model(out)
    x = run_pipeline(example_printout(True, seed=1)[0].rgb, keep_stages=False).model_input
    batch = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None, None]
    with torch.inference_mode():
        on_cpu = model.eval()(batch).item()
        on_gpu = model.cuda().eval()(batch.cuda()).item()
    assert np.isfinite(on_cpu) and abs(on_cpu - on_gpu) < 1e-3


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gradcam_on_cuda_matches_the_cpu():
    # The shipped weights: a model trained for two epochs can have an all-zero Grad-CAM
    # (every weighted activation negative), which says nothing about CUDA.
    import numpy as np

    from ecg_model.explain import compute_cam
    from ecg_model.imaging import run_pipeline
    from ecg_model.synth import example_printout
    from ecg_model.weights import load_model

    weights = Path(__file__).resolve().parent.parent / "weights" / "default.pt"
    cpu_model = load_model(weights)[0].eval()
    gpu_model = load_model(weights)[0].cuda().eval()
    x = run_pipeline(example_printout(True, seed=1)[0].rgb, keep_stages=False).model_input
    for method in ("gradcam", "guided-gradcam"):
        a, b = compute_cam(cpu_model, x, 1, method), compute_cam(gpu_model, x, 1, method)
        assert b.shape == x.shape and b.std() > 0.01, method
        assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.99, method


def test_augmented_copies_of_one_printout_differ(risky_png):
    """Each simulated photo and each re-templated copy of a printout is its own draw (the seed
    once came from the image hash alone, so "two photos of each" were one photo twice)."""
    import numpy as np

    from ecg_model.train import _photo_input, _retemplated_input
    from ecg_model.imaging import PipelineConfig, run_pipeline
    from ecg_model.io import load_image

    sha = "0123456789abcdef"
    original = run_pipeline(load_image(str(risky_png)), PipelineConfig(256, 512), keep_stages=False).model_input
    for make, tag in ((_photo_input, "photo"), (_retemplated_input, "rt")):
        a = make(str(risky_png), f"{sha}{tag}0", (256, 512))["x"].astype(np.float32)
        b = make(str(risky_png), f"{sha}{tag}1", (256, 512))["x"].astype(np.float32)
        again = make(str(risky_png), f"{sha}{tag}0", (256, 512))["x"].astype(np.float32)
        assert a.shape == b.shape == (256, 512), tag
        assert np.array_equal(a, again), tag  # the same key gives the same copy
        assert float(np.abs(a - b).mean()) > 0.003, tag
        # Still the same traces: a copy is much closer to its printout than to an empty page.
        assert float(np.abs(a - original).mean()) < 0.5 * float(original.mean()) + 0.02, tag
