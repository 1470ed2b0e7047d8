"""Analyze: upload, photograph or pick an ECG image; see the risk gauge and where the model looked."""

import streamlit as st

from ui_common import (IMAGE_TYPES, analyse_and_store, current_result, disclaimer, get_predictor, png_bytes, results,
                       risk_gauge, sample_caption, sample_files, scale_legend, show_risk, thumbnail, trace_overlay,
                       weights_selector)

st.title("Analyze an ECG image")
st.write("Upload a scan, a screenshot or a phone photo of a 12-lead ECG printout. The app finds the page, "
         "straightens and cleans it, and a CNN-BiLSTM estimates the risk of myocardial infarction.")
disclaimer()

with st.sidebar:
    weights_selector()

predictor = get_predictor()
if predictor is None:
    st.stop()

upload_tab, camera_tab, sample_tab = st.tabs(["Upload", "Camera", "Samples"])
new_input: tuple[bytes, str] | None = None
with upload_tab:
    file = st.file_uploader("ECG image", type=IMAGE_TYPES,
                            help="PNG, JPEG, BMP, TIFF, WebP or GIF")
    if file is not None and st.session_state.get("last_upload") != (file.name, file.size):
        st.session_state["last_upload"] = (file.name, file.size)
        new_input = (file.getvalue(), file.name)
with camera_tab:
    shot = st.camera_input("Photograph a printout (hold the phone flat above the page, good light)")
    if shot is not None and st.session_state.get("last_shot") != shot.file_id:
        st.session_state["last_shot"] = shot.file_id
        new_input = (shot.getvalue(), "camera photo")
with sample_tab:
    samples = sample_files()
    if not samples:
        st.info("No sample images are bundled.")
    cols = st.columns(max(1, min(4, len(samples))))
    for i, path in enumerate(samples):
        with cols[i % len(cols)]:
            st.image(thumbnail(str(path), path.stat().st_mtime), caption=sample_caption(path), width="stretch")
            if st.button("Analyze this sample", key=f"sample-{path.name}"):
                new_input = (path.read_bytes(), path.name)

if new_input is not None:
    with st.spinner("Finding the page, cleaning it and scoring…"):
        analyse_and_store(predictor, *new_input)

result = current_result()
if result is None:
    st.info("Choose an image above to see its risk estimate.")
    legend, _ = st.columns([1, 2])
    with legend:
        st.plotly_chart(scale_legend(predictor.threshold), key="scale-legend")
        st.caption(f"The estimate is a probability of the \"risky\" class; at or above {predictor.threshold:.0%} "
                   "the image is called risky. A grey band will show how much the estimate moves over small "
                   "shifts of the image. Teaching and research tool, not a medical device.")
    st.stop()

analysis = result.analysis
st.subheader(result.name)
if analysis.status != "ok":
    st.error(f"{result.name}: {analysis.message}")
    if analysis.pipeline is not None and "input" in analysis.pipeline.stages:
        st.image(analysis.pipeline.stages["input"], caption="What the app received", width=500)
    st.stop()

left, right = st.columns([1, 2])
with left:
    show_risk(analysis, predictor.threshold)
    turned = (" The page lay " + ("upside down" if analysis.turned_deg == 180 else "sideways") +
              f"; it was turned {analysis.turned_deg}° counter-clockwise to be read.") if analysis.turned_deg else ""
    st.caption(f"Processed in {analysis.timings_ms.get('total', 0):.0f} ms; page rotation found "
               f"{analysis.deskew_deg:.1f}°.{turned}")
with right:
    shown = trace_overlay(analysis)
    if shown is not None:
        st.image(shown, caption="Grad-CAM: where the model looked (red = most weight) on the cleaned trace area",
                 width="stretch", output_format="JPEG")
        # The PNG is made only when the button is pressed (encoding it cost ~0.4 s every rerun).
        st.download_button("Download overlay (PNG)", lambda: png_bytes(shown), file_name="gradcam_overlay.png",
                           mime="image/png")
        disclaimer()

# Two of this session's images side by side (for example a scan and a photo of the same page).
items = results()
if len(items) >= 2:
    st.subheader("Compare two images")
    labels = [f"{i + 1}. {r.name}" for i, r in enumerate(items)]
    for col, default, key in zip(st.columns(2), (len(items) - 2, len(items) - 1), ("compare-a", "compare-b")):
        with col:
            chosen = items[labels.index(st.selectbox("Image", labels, index=default, key=key))]
            other = chosen.analysis
            if other.status != "ok" or other.risk is None:
                st.error(f"{chosen.name}: {other.message}")
                continue
            st.plotly_chart(risk_gauge(other.risk, predictor.threshold, other.risk_band), key=f"{key}-gauge")
            band = other.risk_band or (other.risk, other.risk)
            st.caption(f"{chosen.name}: {other.label}, risk {other.risk:.0%} (band {band[0]:.0%}–{band[1]:.0%}). "
                       "Teaching and research tool, not a medical device.")
            shown_other = trace_overlay(other)
            if shown_other is not None:
                st.image(shown_other, caption="Grad-CAM", width="stretch", output_format="JPEG")
