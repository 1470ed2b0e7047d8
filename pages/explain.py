"""Explain: Grad-CAM overlays on the cleaned page and on the original photo."""

import streamlit as st

from ecg_model.explain import CAM_METHODS, cam_on_input, cam_on_page, compute_cam, overlay
from ui_common import disclaimer, get_predictor, png_bytes, result_picker

st.title("Explain: where did the model look?")
st.write("Grad-CAM weighs the last convolutional block's feature maps by how much they raise the predicted "
         "class, giving a coarse map of the evidence. It shows where the model looked, not why, and a map "
         "on the grid or on printed text would mean the model learned a shortcut.")

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

c1, c2 = st.columns(2)
alpha = c1.slider("Overlay opacity", 0.0, 1.0, 0.5, 0.05)
method = c2.selectbox("Method", list(CAM_METHODS), index=0)
cam = analysis.cam
if method != "gradcam" or cam is None:
    with st.spinner("Computing the saliency map…"):
        cam = compute_cam(predictor.model, pipe.model_input, 1 if analysis.label == "risky" else 0, method,
                          predictor.lock)

flat = pipe.stages["flattened"]
page_cam = cam_on_page(cam, pipe.crop_box, flat.shape[:2])
left, right = st.columns(2)
on_page = overlay(flat, page_cam, alpha)
left.image(on_page, caption="On the cleaned, straightened page", width="stretch")
if analysis.loaded is not None:
    import numpy as np

    rgb = analysis.loaded.rgb
    to_array = np.diag([1 / analysis.loaded.scale, 1 / analysis.loaded.scale, 1.0]) @ pipe.work_to_input
    on_photo = overlay(rgb, cam_on_input(page_cam, to_array, rgb.shape[:2]), alpha)
    right.image(on_photo, caption="Mapped back onto the original image", width="stretch")
st.caption(f"Target: evidence for '{analysis.label}' (the predicted class).")
st.download_button("Download overlay (PNG)", png_bytes(on_page), file_name="gradcam_page.png", mime="image/png")
disclaimer()
