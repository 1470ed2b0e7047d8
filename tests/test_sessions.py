"""Heavy use of the app: eight sessions at once, damaged weights, and nothing written to disk."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from .conftest import ROOT

pytest.importorskip("streamlit.testing.v1")
from streamlit.testing.v1 import AppTest  # noqa: E402

SAMPLES = sorted(p for p in (ROOT / "assets" / "samples").iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return float(line.split()[1]) / 1024
    return 0.0


def test_eight_threads_share_one_model_and_get_the_results_computed_alone():
    """The app's sessions share one cached Predictor; eight analyses at once (Grad-CAM included)
    must each equal the one computed alone. (The app itself under eight browser sessions is
    tests/test_browser.py; AppTest cannot run sessions in parallel: each run swaps a global.)"""
    from ecg_model.predict import Predictor
    from ecg_model.weights import DEFAULT_WEIGHTS

    predictor = Predictor(DEFAULT_WEIGHTS)
    data = {p.name: p.read_bytes() for p in SAMPLES}
    alone = {name: predictor.analyse(b, name=name, with_cam=True) for name, b in data.items()}
    names = [SAMPLES[i % len(SAMPLES)].name for i in range(8)]
    start = threading.Barrier(8)

    def session(name: str):
        start.wait(timeout=120)
        return predictor.analyse(data[name], name=name, with_cam=True, keep_stages=True)

    rss_before = _rss_mb()
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(session, names))
    grown = _rss_mb() - rss_before
    for name, analysis in zip(names, outcomes):
        ref = alone[name]
        assert analysis.status == ref.status == "ok", name
        assert analysis.risk == pytest.approx(ref.risk, abs=1e-6), name
        assert analysis.risk_band == pytest.approx(ref.risk_band, abs=1e-6), name
        assert float(np.abs(analysis.cam - ref.cam).max()) < 1e-4, name
    assert grown < 1500, f"memory grew by {grown:.0f} MB"


def _fallback_script(broken: str, root: str) -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, root)
    import streamlit as st

    import ui_common

    st.session_state["weights_choice"] = "Broken run"
    predictor = ui_common.get_predictor({"Broken run": Path(broken), "Default (shipped)": ui_common.DEFAULT_WEIGHTS})
    st.write(f"using: {predictor.weights_path if predictor else None}")


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_damaged_run_weights_fall_back_to_the_default(tmp_path, damage):
    from ecg_model.weights import DEFAULT_WEIGHTS

    good = DEFAULT_WEIGHTS.read_bytes()
    broken = tmp_path / "model.pt"
    broken.write_bytes({"truncated": good[: len(good) // 2], "garbage": b"\x00junk" * 999, "empty": b""}[damage])
    at = AppTest.from_function(_fallback_script, args=(str(broken), str(ROOT)), default_timeout=120)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    messages = [e.value for e in at.error]
    assert len(messages) == 1 and "Could not use the weights 'Broken run'" in messages[0]
    assert "Using the default weights instead" in messages[0]
    assert any(str(DEFAULT_WEIGHTS) in m.value for m in at.markdown)


def _tree(root: Path) -> set[str]:
    skip = {"__pycache__", ".pytest_cache", ".hypothesis", ".git", "runs", ".cache"}
    out = set()
    for p in root.rglob("*"):
        if not skip.intersection(p.relative_to(root).parts):
            out.add(str(p.relative_to(root)))
    return out


def test_analysing_an_image_writes_no_file(tmp_path, monkeypatch):
    """Uploads and results stay in memory (bounded by the upload limit and six results a
    session): nothing is written to the project or the temporary folder."""
    import tempfile

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    tempfile.tempdir = None  # re-read TMPDIR
    try:
        before = _tree(ROOT)
        at = AppTest.from_file(str(ROOT / "router.py"), default_timeout=300)
        at.run()
        at.button(key=f"sample-{SAMPLES[0].name}").click()
        at.run()
        assert not at.exception and not at.error
        assert _tree(ROOT) == before
        assert list(tmp_path.iterdir()) == []
    finally:
        tempfile.tempdir = None
