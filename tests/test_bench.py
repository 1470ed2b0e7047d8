"""The benchmark runs on its standard inputs and reports every stage."""

from __future__ import annotations

import pytest

from ecg_model.weights import DEFAULT_WEIGHTS


@pytest.mark.slow
def test_bench_scan_case(tiny_weights):
    from ecg_model.bench import run_bench

    result = run_bench(repeats=1, weights=str(tiny_weights), cases=("scan_1mp",))
    stats = result["cases"]["scan_1mp"]
    for key in ("load_ms", "pipeline_ms", "model_ms", "gradcam_ms", "total_ms", "peak_rss_mb"):
        assert stats[key] > 0, key
    assert 0.8 < stats["input_megapixels"] < 1.3
    assert stats["total_ms"] >= stats["pipeline_ms"] + stats["model_ms"]
    assert DEFAULT_WEIGHTS.name == "default.pt"
