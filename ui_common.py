"""Helpers shared by the app's pages: cached model, session results, gauge, disclaimers.

Streamlit lives here and in pages/ only; the library (ecg_model) never imports it.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import plotly.graph_objects as go
import streamlit as st
from PIL import Image

from ecg_model.errors import WeightsError
from ecg_model.explain import overlay
from ecg_model.imaging import PipelineResult
from ecg_model.jobs import RUNS_DIR, list_runs
from ecg_model.predict import NOT_A_DEVICE, Analysis, Predictor
from ecg_model.weights import DEFAULT_WEIGHTS

ROOT = Path(__file__).resolve().parent
SAMPLES_DIR = ROOT / "assets" / "samples"
MAX_RESULTS = 6
IMAGE_TYPES = ["png", "jpg", "jpeg", "bmp", "tif", "tiff", "webp", "gif"]

MENDELEY_CREDIT = ("Real printouts: \"ECG Images dataset of Cardiac Patients\", A. H. Khan and M. Hussain, "
                   "Mendeley Data v2, doi:10.17632/gwbz3fsgp8.2, CC BY 4.0.")


def disclaimer() -> None:
    st.caption(f"⚠️ {NOT_A_DEVICE}")


@st.cache_resource(show_spinner="Loading the model and Grad-CAM…")
def _load_predictor(path: str, mtime: float) -> Predictor:  # noqa: ARG001 - mtime keys the cache
    predictor = Predictor(path)
    # Warm up before the uploader is offered, not behind it: a warm-up in a background thread
    # once left the first upload waiting 7-10 s (browser test). The libraries are normally
    # imported already (app.py starts that with the server); this adds the first passes.
    try:
        predictor.warm_up()
    except Exception:  # noqa: BLE001 - a failed warm-up only means a slower first analysis
        pass
    return predictor


def weights_options() -> dict[str, Path]:
    """Label -> weights file: the shipped default and every finished training run."""
    options: dict[str, Path] = {}
    if DEFAULT_WEIGHTS.exists():
        options["Default (shipped)"] = DEFAULT_WEIGHTS
    for run in list_runs(RUNS_DIR):
        if run.weights is not None:
            test = (run.last("done") or {}).get("test", {})
            auc = test.get("auroc")
            options[f"Run {run.run_id}" + (f" (test AUROC {auc:.3f})" if auc else "")] = run.weights
    return options


def get_predictor(options: dict[str, Path] | None = None) -> Predictor | None:
    """The predictor for the weights chosen in this session; falls back to the default.

    Args:
        options: label -> weights file (default: ``weights_options()``).
    """
    options = weights_options() if options is None else options
    if not options:
        st.error("No weights found: weights/default.pt is missing. Reinstall the app or train a model on the Train page.")
        return None
    choice = st.session_state.get("weights_choice")
    if choice not in options:
        choice = next(iter(options))
    path = options[choice]
    try:
        return _load_predictor(str(path), path.stat().st_mtime)
    except (WeightsError, OSError) as exc:
        if path == DEFAULT_WEIGHTS or not DEFAULT_WEIGHTS.exists():
            st.error(f"Could not use the weights '{choice}': {exc}")
            return None
        st.error(f"Could not use the weights '{choice}': {exc}. Using the default weights instead.")
        try:
            return _load_predictor(str(DEFAULT_WEIGHTS), DEFAULT_WEIGHTS.stat().st_mtime)
        except (WeightsError, OSError) as exc2:
            st.error(f"The default weights cannot be used either: {exc2}")
            return None


def weights_selector() -> None:
    options = list(weights_options())
    if not options:
        return
    current = st.session_state.get("weights_choice", options[0])
    st.selectbox("Model weights", options, index=options.index(current) if current in options else 0,
                 key="weights_choice", help="Finished training runs appear here.")


@dataclass
class SessionResult:
    name: str
    analysis: Analysis


def results() -> list[SessionResult]:
    return st.session_state.setdefault("results", [])


def current_result() -> SessionResult | None:
    items = results()
    idx = st.session_state.get("current_result", len(items) - 1)
    if not items:
        return None
    return items[min(max(idx, 0), len(items) - 1)]


def analyse_and_store(predictor: Predictor, data: bytes, name: str) -> SessionResult:
    """Score an upload (Grad-CAM included) and keep it for the session's other pages."""
    analysis = predictor.analyse(data, name=name, with_cam=True, keep_stages=True)
    result = SessionResult(name, analysis)
    items = results()
    items.append(result)
    del items[:-MAX_RESULTS]  # bound the memory one session holds
    st.session_state["current_result"] = len(items) - 1
    return result


def result_picker() -> SessionResult | None:
    """Choose among this session's analysed images (newest last)."""
    items = results()
    if not items:
        return None
    labels = [f"{i + 1}. {r.name}" for i, r in enumerate(items)]
    idx = min(st.session_state.get("current_result", len(items) - 1), len(items) - 1)
    chosen = st.selectbox("Image", labels, index=idx)
    st.session_state["current_result"] = labels.index(chosen)
    return items[labels.index(chosen)]


def chosen_pipeline(empty_hint: str) -> tuple[SessionResult, Analysis, PipelineResult]:
    """The session result picked, with its pipeline; the page stops with ``empty_hint`` when
    there is none yet, or with the reason when the image could not be read."""
    result = result_picker()
    if result is None:
        st.info(empty_hint)
        st.stop()
    analysis = result.analysis
    if analysis.pipeline is None:
        st.error(f"{result.name}: {analysis.message}")
        st.stop()
    return result, analysis, analysis.pipeline


def risk_gauge(risk: float, threshold: float, band: tuple[float, float] | None) -> go.Figure:
    """A 0-100 % gauge with the decision threshold marked and the uncertainty band shaded."""
    steps = [
        {"range": [0, threshold * 100], "color": "#e8f5e9"},
        {"range": [threshold * 100, 100], "color": "#fdecea"},
    ]
    if band is not None:
        steps.append({"range": [band[0] * 100, band[1] * 100], "color": "rgba(80, 80, 80, 0.35)"})
    fig = go.Figure(go.Indicator(
        mode="gauge+number",
        value=risk * 100,
        number={"suffix": " %", "valueformat": ".0f"},
        title={"text": "Estimated risk<br><span style='font-size:0.75em'>risky vs normal</span>",
               "font": {"size": 17}},
        gauge={
            "axis": {"range": [0, 100], "ticksuffix": "%"},
            "bar": {"color": "#c62828" if risk >= threshold else "#2e7d32", "thickness": 0.3},
            "steps": steps,
            "threshold": {"line": {"color": "black", "width": 3}, "thickness": 0.9, "value": threshold * 100},
        },
    ))
    fig.update_layout(height=280, margin={"l": 30, "r": 30, "t": 60, "b": 10})
    return fig


def scale_legend(threshold: float) -> go.Figure:
    """The gauge's scale before any image: where "normal" ends and "risky" begins.

    Shown in the empty state; it also makes the browser load the charting code before the first
    result, which otherwise added ~2 s to the first upload (measured in the browser test).
    """
    fig = risk_gauge(threshold, threshold, None)
    fig.update_traces(mode="gauge", gauge_bar={"color": "rgba(0, 0, 0, 0)"},
                      title={"text": "How to read the result<br><span style='font-size:0.75em'>green normal, "
                                     "red risky, line: threshold</span>"})
    fig.update_layout(height=230, margin={"l": 40, "r": 40, "t": 60, "b": 10})
    return fig


def show_risk(analysis: Analysis, threshold: float) -> None:
    """Gauge, verdict and the disclaimer, or the reason an image could not be assessed."""
    if analysis.status != "ok" or analysis.risk is None:
        st.error(f"{analysis.path}: {analysis.message}")
        return
    st.plotly_chart(risk_gauge(analysis.risk, threshold, analysis.risk_band), key=f"gauge-{id(analysis)}")
    band = analysis.risk_band or (analysis.risk, analysis.risk)
    verdict = "**risky**" if analysis.label == "risky" else "**normal**"
    st.markdown(f"Model output: {verdict} — risk {analysis.risk:.0%} (band {band[0]:.0%}–{band[1]:.0%} "
                f"over small shifts of the image; decision threshold {threshold:.0%}).")
    disclaimer()


def trace_overlay(analysis: Analysis, alpha: float = 0.5) -> np.ndarray | None:
    """The Grad-CAM map over the cleaned trace area (the model's field of view), or None."""
    pipe = analysis.pipeline
    if analysis.cam is None or pipe is None or pipe.crop_box is None:
        return None
    x0, y0, x1, y1 = pipe.crop_box
    # The map covers exactly the crop: resized to it, no page-sized canvas is needed.
    cam = cv2.resize(analysis.cam, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    return overlay(pipe.stages["flattened"][y0:y1, x0:x1], cam, alpha)


def png_bytes(rgb: np.ndarray) -> bytes:
    """PNG with light compression: level 1 is ~10x quicker than the default and ~20 % larger."""
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def sample_files() -> list[Path]:
    if not SAMPLES_DIR.is_dir():
        return []
    return sorted(p for p in SAMPLES_DIR.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))


@st.cache_data(show_spinner=False)
def thumbnail(path: str, mtime: float, width: int = 480) -> bytes:  # noqa: ARG001 - mtime keys the cache
    """A small JPEG of a bundled sample: handing Streamlit the full-size files made it check and
    re-encode each one on every rerun (~0.14 s apiece)."""
    with Image.open(path) as im:
        im = im.convert("RGB")
        im.thumbnail((width, width * 4))
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def sample_caption(path: Path) -> str:
    """Where a bundled sample comes from (assets/samples/CREDITS.md has the full credits)."""
    if path.name.startswith("mendeley_"):
        folder = path.stem.split("_", 1)[1].rsplit("_", 1)[0]
        return f"Real printout, folder {folder} (Mendeley ECG images, Khan & Hussain, CC BY 4.0)"
    kind = "phone photo" if "photo" in path.name else "printout"
    label = "risky" if "risky" in path.name else "normal"
    return f"Synthetic {kind}, {label} (made by ecg_model.synth)"


def data_roots() -> list[Path]:
    """Folders the Train page may read datasets from (nothing outside them is listed)."""
    raw = os.environ.get("ECG_DATA_ROOTS")
    if raw is None:
        try:
            raw = st.secrets.get("data_roots")  # type: ignore[assignment]
        except Exception:  # no secrets.toml: Streamlit raises its own error type
            raw = None
    if isinstance(raw, (list, tuple)):
        items = [str(r) for r in raw]
    elif raw:
        items = [r for r in str(raw).split(os.pathsep) if r]
    else:
        items = [str(ROOT / "data")]
    return [Path(r).expanduser().resolve() for r in items]
