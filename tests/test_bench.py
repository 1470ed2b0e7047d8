"""The benchmark runs on its standard inputs and reports every stage."""

from __future__ import annotations

import pytest

from ecg_model.weights import DEFAULT_WEIGHTS


@pytest.mark.slow
def test_bench_scan_case(tiny_weights):
    from ecg_model.bench import run_bench

    result = run_bench(repeats=1, weights=str(tiny_weights), cases=("scan_1mp",))
    stats = result["cases"]["scan_1mp"]
    for key in ("load_ms", "pipeline_ms", "model_and_gradcam_ms", "model_ms", "gradcam_ms", "total_ms", "peak_rss_mb"):
        assert stats[key] > 0, key
    assert 0.8 < stats["input_megapixels"] < 1.3
    assert stats["total_ms"] >= stats["pipeline_ms"] + stats["model_and_gradcam_ms"]
    assert DEFAULT_WEIGHTS.name == "default.pt"


@pytest.mark.slow
def test_bench_batch_and_floor_cases(tiny_weights):
    from ecg_model.bench import run_bench

    result = run_bench(repeats=1, weights=str(tiny_weights), cases=("batch_scan_1mp", "model_floor", "train_cpu"))
    batch = result["cases"]["batch_scan_1mp"]
    assert batch["images"] == 12 and batch["images_per_s_1_thread"] > 0.5 and batch["images_per_s_parallel"] > 0.5
    assert batch["ok"] == 12 and batch["ok_large_folder"] == 36 and batch["large_folder_images"] == 36
    assert batch["parallel"] == ("processes" if batch["jobs"] > 1 else "none")
    floor = result["cases"]["model_floor"]
    # The default model: ~0.46 GFLOP a forward pass, ~1.3 with the backward pass Grad-CAM needs.
    assert 0.3 < floor["forward_gflop"] < 0.7
    assert 2.0 < floor["forward_backward_gflop"] / floor["forward_gflop"] < 4.0
    # Counted FLOPs over the measured matmul rate: a share far above 1 would mean a wrong count
    # (a little above 1 is possible: oneDNN may run a 3x3 convolution with fewer operations).
    assert 0.0 < floor["share_of_matmul_rate_batch5"] < 1.5
    train = result["cases"]["train_cpu"]
    assert train["batch"] == 32 and 1.0 < train["images_per_s"] < 10_000
