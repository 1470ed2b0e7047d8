"""Explain: saliency on the cleaned page and on the original photo, per lead and along time."""

import cv2
import numpy as np
import plotly.graph_objects as go
import streamlit as st

from ecg_model.attribution import group_shares, lead_shares, time_profile
from ecg_model.explain import CAM_METHODS, cam_on_input, cam_on_page, compute_cam, overlay
from ecg_model.layouts import LEADS
from ecg_model.report import ReportData, render_report
from ui_common import disclaimer, get_predictor, png_bytes, result_picker

COLORMAPS = {"jet": cv2.COLORMAP_JET, "turbo": cv2.COLORMAP_TURBO, "inferno": cv2.COLORMAP_INFERNO,
             "viridis": cv2.COLORMAP_VIRIDIS, "hot": cv2.COLORMAP_HOT}
METHOD_HELP = {
    "gradcam": "Grad-CAM: last conv block's maps weighted by their mean gradient. Coarse (about 8 x 16 mm of "
               "paper per cell).",
    "gradcam++": "Grad-CAM++: weights that favour several separate regions of evidence.",
    "hirescam": "HiResCAM: gradients multiplied element-wise, faithful to what the block computes.",
    "eigencam": "EigenCAM: the first principal component of the maps; ignores the class, so it shows what "
                "the network attends to in general.",
    "guided-gradcam": "Guided Grad-CAM: Grad-CAM times guided backpropagation; the same evidence at pixel "
                      "resolution, on the strokes (slower).",
}


def _cam(key: tuple, method: str, label: int, x: np.ndarray) -> np.ndarray:
    """Maps are kept per result, weights and method in the session: opacity and colours are instant."""
    store = st.session_state.setdefault("saliency_maps", {})
    if key not in store:
        if len(store) > 24:
            store.pop(next(iter(store)))
        predictor = get_predictor()
        store[key] = compute_cam(predictor.model, x, label, method, predictor.lock)
    return store[key]


st.title("Explain: where did the model look?")
st.write("A saliency map shows which parts of the cleaned trace image raised the predicted class. It shows "
         "where the model looked, not why. The model only ever sees the cleaned traces (grid, paper and "
         "printed text are removed first), so evidence can only lie on the waveforms; a map concentrated in "
         "one lead group is worth comparing with that group's ST segments.")

result = result_picker()
predictor = get_predictor()
if result is None or predictor is None:
    st.info("Analyze an image first (Analyze page); its saliency appears here.")
    st.stop()
analysis = result.analysis
pipe = analysis.pipeline
if analysis.status != "ok" or pipe is None or pipe.model_input is None or pipe.crop_box is None:
    st.error(f"{result.name}: {analysis.message}")
    st.stop()

c1, c2, c3 = st.columns(3)
method = c1.selectbox("Method", list(CAM_METHODS), index=0, help="\n\n".join(METHOD_HELP.values()))
alpha = c2.slider("Overlay opacity", 0.0, 1.0, 0.5, 0.05)
cmap_name = c3.selectbox("Colour map", list(COLORMAPS), index=0)
cmap = COLORMAPS[cmap_name]
target = 1 if analysis.label == "risky" else 0
st.caption(METHOD_HELP[method] + f" Target: evidence for '{analysis.label}' (the predicted class).")

with st.spinner("Computing the saliency map…"):
    cam = analysis.cam if (method == "gradcam" and analysis.cam is not None) else \
        _cam((result.name, analysis.logit, str(predictor.weights_path), method), method, target, pipe.model_input)

flat = pipe.stages.get("flattened")
if flat is None:
    st.error("This result was computed without its stage images; analyse it again on the Analyze page.")
    st.stop()
page_cam = cam_on_page(cam, pipe.crop_box, flat.shape[:2])
left, right = st.columns(2)
on_page = overlay(flat, page_cam, alpha, cmap)
left.image(on_page, caption="On the cleaned, straightened page", width="stretch")
on_photo = None
if analysis.loaded is not None:
    rgb = analysis.loaded.rgb
    to_array = np.diag([1 / analysis.loaded.scale, 1 / analysis.loaded.scale, 1.0]) @ pipe.work_to_input
    on_photo = overlay(rgb, cam_on_input(page_cam, to_array, rgb.shape[:2]), alpha, cmap)
    right.image(on_photo, caption="Mapped back onto the original image (inverse of the rectification)",
                width="stretch")

shares = lead_shares(page_cam, pipe.lead_boxes)
st.subheader("Per lead")
if shares:
    leads = [lead for lead in LEADS if lead in shares]
    fig = go.Figure(go.Bar(x=leads, y=[shares[lead] * 100 for lead in leads], marker_color="#d6604d"))
    fig.update_layout(height=280, margin=dict(l=10, r=10, t=10, b=10), yaxis_title="% of saliency")
    st.plotly_chart(fig, width="stretch")
    groups = group_shares(shares)
    st.caption("Per lead group (mean share per lead): " + ", ".join(f"{g} {v:.0%}" for g, v in groups.items())
               + f". Layout detected: {pipe.layout or 'unknown'}.")
else:
    st.info("No lead boxes were found on this page (layout not recognised), so there is no per-lead split.")

st.subheader("Along time (the BiLSTM's axis)")
prof = time_profile(cam)
fig = go.Figure(go.Scatter(x=np.linspace(0, 100, prof.size), y=prof * 100, mode="lines", line_color="#b2182b",
                           fill="tozeroy"))
fig.update_layout(height=220, margin=dict(l=10, r=10, t=10, b=10), xaxis_title="% of the trace width (left to right)",
                  yaxis_title="% of saliency")
st.plotly_chart(fig, width="stretch")

st.subheader("Download")
d1, d2, d3 = st.columns(3)
d1.download_button("Overlay on the page (PNG)", lambda: png_bytes(on_page), file_name="saliency_page.png", mime="image/png")
if on_photo is not None:
    d2.download_button("Overlay on the photo (PNG)", lambda: png_bytes(on_photo), file_name="saliency_photo.png",
                       mime="image/png")
if analysis.loaded is not None:
    data = ReportData(
        name=result.name, image=analysis.loaded.rgb, overlay=on_page, risk=float(analysis.risk),
        threshold=predictor.threshold, label=str(analysis.label), band=analysis.risk_band, lead_shares=shares,
        method=method, weights=predictor.weights_path.name)
    # Drawn when the button is pressed, not on every rerun of the page.
    d3.download_button("One-page report (PNG)", lambda: render_report(data), file_name="ecg_report.png",
                       mime="image/png")
disclaimer()
